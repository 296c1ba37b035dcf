"""Partitioning and assignment of many communities, one task per community, locally or on a
Dask cluster (``dask.distributed``).

Each task opens its own connection and does one community in one transaction (partition,
validate, write the version, assign its households and incidents), so a failed community is
retried on its own — the others, already committed, are not redone — and the result is the
same whichever engine ran it: the partitioner is deterministic for a given input and seed.

A task names its database by a URL without the password: tasks travel through the scheduler
(and its logs, dashboards, spilled state), a secret should not. Each worker fills the password
in from its own configuration (:func:`geo.store.db.with_password`: its ``WANGGE_DATABASE_URL``, the
local cluster's ``cluster.json``, or libpq's ``PGPASSWORD`` / ``~/.pgpass``); the workers of
the Dask cluster :func:`partition_many` starts itself get it in their environment.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["partition_many", "partition_one"]


def partition_one(
    url: str,
    code: str,
    *,
    min_households: int | None = None,
    max_households: int | None = None,
    seed: int = 0,
    fail_once: str | None = None,
) -> dict[str, Any]:
    """Partition and assign one community in its own transaction; a short summary back.
    ``url`` may come without its password (see the module's docstring); the band's missing
    bounds come from the settings (:func:`geo.settings.band`, in the worker).

    ``fail_once`` (a file path; tests only) makes the first attempt fail after the work is
    done but before it is committed, as a crashed worker would."""
    from geo.core.stages import timing
    from geo.store.db import get_engine, session_scope, with_password
    from geo.store.versions import partition_and_store

    t0 = time.perf_counter()
    engine = get_engine(with_password(url))
    with timing() as stages, session_scope(engine) as session:
        result, report, version = partition_and_store(
            session,
            code,
            min_households=min_households,
            max_households=max_households,
            seed=seed,
            actor="engine",
        )
        if fail_once and not Path(fail_once).exists():
            Path(fail_once).write_text(code)
            raise RuntimeError(f"injected failure for {code} (worker pid {os.getpid()})")
        done = time.perf_counter()
    stages["commit"] = time.perf_counter() - done
    s = result.summary()
    return {
        "community": code,
        "version": version,
        "micro_grids": s["micro_grids"],
        "in_band": s["in_band"],
        "households": s["households"],
        "errors": len(report.errors),
        "assigned": (result.assignment or {}).get("households_assigned"),
        "seconds": round(time.perf_counter() - t0, 3),
        "stages": {k: round(v, 4) for k, v in stages.items()},
        "pid": os.getpid(),
    }


def partition_many(
    url: str,
    codes: Sequence[str],
    *,
    engine: str = "local",
    scheduler: str | None = None,
    workers: int = 2,
    retries: int = 2,
    progress: Callable[[int, int, dict[str, Any]], None] | None = None,
    **kw: Any,
) -> list[dict[str, Any]]:
    """Every community of ``codes``: ``engine="local"`` one after the other here, ``"dask"``
    as tasks on the cluster at ``scheduler`` (a LocalCluster of ``workers`` processes when
    none is given), each retried up to ``retries`` times. Results in the order of ``codes``;
    a community that still fails is reported with its error, never silently dropped.

    The tasks get ``url`` without its password; the workers of the LocalCluster started here
    get it as ``PGPASSWORD`` in their environment (set by their nanny, never sent to the
    scheduler); the workers of a given ``scheduler`` must have it in their own configuration.
    The band's missing bounds are filled in here, once, from this process's settings
    (:func:`geo.settings.band`): every task uses the same band."""
    from geo.settings import band

    kw["min_households"], kw["max_households"] = band(
        kw.pop("min_households", None), kw.pop("max_households", None)
    )
    if engine == "local":
        return _run_local(url, codes, retries, progress, kw)
    if engine != "dask":
        from geo.errors import InputError

        raise InputError(f"engine 应为 local 或 dask (engine must be local or dask): {engine!r}")
    return _run_dask(url, codes, scheduler, workers, retries, progress, kw)


_Progress = Callable[[int, int, dict[str, Any]], None] | None


def _run_local(
    url: str, codes: Sequence[str], retries: int, progress: _Progress, kw: dict[str, Any]
) -> list[dict[str, Any]]:
    """The communities one after the other in this process, each retried on its own."""
    done: dict[str, dict[str, Any]] = {}
    for i, code in enumerate(codes, 1):
        for attempt in range(retries + 1):
            try:
                done[code] = partition_one(url, code, **kw) | {"attempts": attempt + 1}
                break
            except Exception as exc:
                if attempt == retries:
                    done[code] = {"community": code, "error": repr(exc), "attempts": attempt + 1}
        if progress:
            progress(i, len(codes), done[code])
    return [done[c] for c in codes]


def _run_dask(
    url: str,
    codes: Sequence[str],
    scheduler: str | None,
    workers: int,
    retries: int,
    progress: _Progress,
    kw: dict[str, Any],
) -> list[dict[str, Any]]:
    """The communities as tasks on the Dask cluster at ``scheduler`` (a LocalCluster of
    ``workers`` processes, given the password in their environment, when none is given)."""
    from dask.distributed import Client, LocalCluster, as_completed

    from geo.store.db import strip_password

    public_url, password = strip_password(url)
    cluster = None
    if scheduler is None:
        cluster = LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            env={"PGPASSWORD": password} if password else None,
        )
    client = Client(scheduler or cluster)
    done: dict[str, dict[str, Any]] = {}
    try:
        futures = {
            client.submit(
                partition_one,
                public_url,
                code,
                retries=retries,
                pure=False,
                key=f"partition-{code}",
                **kw,
            ): code
            for code in codes
        }
        for i, fut in enumerate(as_completed(futures), 1):
            code = futures[fut]
            try:
                done[code] = fut.result()
            except Exception as exc:
                done[code] = {"community": code, "error": repr(exc)}
            if progress:
                progress(i, len(codes), done[code])
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return [done[c] for c in codes]
