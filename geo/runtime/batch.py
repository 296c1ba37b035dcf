"""Partitioning and assignment of many communities, in batches, locally or on a Dask
cluster (``dask.distributed``).

A batch (:func:`partition_batch`) is a few dozen communities done together in one
transaction: their inputs read with one query per table, each partitioned and validated on
its own, the valid ones written as new versions with one COPY per table, their households
assigned in process all at once and written with one UPDATE, then one commit. A community
whose partition fails, or does not validate, is reported with its error and writes nothing;
should the batch's writing fail, every community is written again alone, each in its own
savepoint, so one bad community cannot take the others down, nor be half-written. A failed
batch is retried as a whole (the others, already committed, are not redone); the result is
the same whichever engine ran it, whatever the batch size: the partitioner is deterministic
for a given input and seed, and one community alone goes through the same code
(:func:`partition_one`, a batch of one).

A task names its database by a URL without the password: tasks travel through the scheduler
(and its logs, dashboards, spilled state), a secret should not. Each worker fills the password
in from its own configuration (:func:`geo.store.db.with_password`: its ``WANGGE_DATABASE_URL``, the
local cluster's ``cluster.json``, or libpq's ``PGPASSWORD`` / ``~/.pgpass``); the workers of
the Dask cluster :func:`partition_many` starts itself get it in their environment.
"""

from __future__ import annotations

import copy
import gc
import logging
import os
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["partition_batch", "partition_many", "partition_one"]


def partition_one(
    url: str,
    code: str,
    *,
    min_households: int | None = None,
    max_households: int | None = None,
    seed: int = 0,
    threads: int | None = None,
    fail_once: str | None = None,
) -> dict[str, Any]:
    """Partition and assign one community in its own transaction; a short summary back.
    ``url`` may come without its password (see the module's docstring); the band's missing
    bounds come from the settings (:func:`geo.settings.band`, in the worker); ``threads``: how
    many threads the kernels may use here (:func:`_use_threads`; None: numba's default).

    ``fail_once`` (a file path; tests only) makes the first attempt fail after the work is
    done but before it is committed, as a crashed worker would."""
    from geo.core.stages import timing
    from geo.store.db import get_engine, session_scope, with_password
    from geo.store.versions import partition_and_store

    _use_threads(threads)
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
    return _summary(code, result, report, version) | {
        "seconds": round(time.perf_counter() - t0, 3),
        "stages": {k: round(v, 4) for k, v in stages.items()},
        "pid": os.getpid(),
        "threads": _threads_now(),
    }


def partition_batch(
    url: str,
    codes: Sequence[str],
    *,
    min_households: int | None = None,
    max_households: int | None = None,
    seed: int = 0,
    threads: int | None = None,
    fail_once: str | None = None,
) -> list[dict[str, Any]]:
    """Partition and assign the communities of ``codes`` together in one transaction (see
    the module's docstring); a summary of each back, in the order of ``codes``, as
    :func:`partition_one` gives it — its ``stages`` and ``seconds`` the batch's shared evenly
    among its communities (``batch_seconds``: the whole batch's) — or with an ``error``.

    The batch's commit waits for the disk like every other (``synchronous_commit`` stays
    on): one commit a batch costs 0.1 ms a community, nothing to gain by relaxing it.
    ``threads`` as for :func:`partition_one`. ``fail_once`` (a file path; tests only) makes
    the first attempt fail after the work is done but before it is committed, as a crashed
    worker would."""

    from geo.core.stages import timing
    from geo.store.db import get_engine, session_scope, with_password

    if not codes:
        return []
    _use_threads(threads)
    t0 = time.perf_counter()
    engine = get_engine(with_password(url))
    out: dict[str, dict[str, Any]] = {}
    collected: dict[str, float] = {}
    with _no_cycle_collection(collected):
        with timing() as stages, session_scope(engine) as session:
            _partition_and_store(session, codes, out, (min_households, max_households), seed)
            if fail_once and not Path(fail_once).exists():
                Path(fail_once).write_text(",".join(codes))
                raise RuntimeError(f"injected failure for {codes[0]}… (worker pid {os.getpid()})")
            done = time.perf_counter()
        stages["commit"] = time.perf_counter() - done
    stages["gc"] = collected["seconds"]  # the batch's one collection, after the commit
    seconds = time.perf_counter() - t0
    share = {k: round(v / len(codes), 4) for k, v in stages.items()}
    for r in out.values():
        r |= {
            "seconds": round(seconds / len(codes), 3),
            "batch_seconds": round(seconds, 3),
            "stages": share,
            "pid": os.getpid(),
            "threads": _threads_now(),
        }
    return [out[c] for c in codes]


def _partition_and_store(
    session: Any,
    codes: Sequence[str],
    out: dict[str, dict[str, Any]],
    band: tuple[int | None, int | None],
    seed: int,
) -> None:
    """The work of :func:`partition_batch` in its transaction: read, partition and validate
    each, store the valid ones; each community's summary (or error) in ``out``. (A function
    of its own: the batch's inputs and results are gone when it returns, before the batch's
    one cycle collection.)"""
    from geo.core.stages import stage
    from geo.partition import pipeline
    from geo.store.versions import load_communities

    with stage("read"):
        inputs = load_communities(session, codes, skip_missing=True)
    valid = []
    for code in codes:
        if code not in inputs:
            out[code] = {"community": code, "error": f"社区不存在 (no such community): {code!r}"}
            continue
        try:
            result, report = pipeline.run(inputs[code], band=band, seed=seed)
        except Exception as exc:
            out[code] = {"community": code, "error": repr(exc)}
            continue
        out[code] = _summary(code, result, report, None)
        if report.ok:
            valid.append((inputs[code], result))
    for inp, result, version in _store(session, valid, out):
        out[inp.code] = _summary(inp.code, result, None, version) | {
            "errors": out[inp.code]["errors"]
        }


@contextmanager
def _no_cycle_collection(collected: dict[str, float]) -> Iterator[None]:
    """Python's cycle collector off for the length of a batch, then the batch's young objects
    collected once: a batch holds tens of thousands of rows and geometries, and the collector
    walked them over and over (2,050 collections, 1.0 s of 12 s for 100 communities in one
    process, measured; reference counting still frees everything not in a cycle)."""
    was = gc.isenabled()
    gc.disable()
    collected["seconds"] = 0.0
    try:
        yield
    finally:
        if was:
            t0 = time.perf_counter()
            gc.enable()
            gc.collect(1)
            collected["seconds"] = time.perf_counter() - t0


def _use_threads(threads: int | None) -> None:
    """At most ``threads`` threads for the kernels' parallel loops in this thread (numba's
    ``set_num_threads``; None: leave them be). A process of a pool of several on as many
    cores gets one: two each on a 2-core machine left four threads spinning for two cores
    (the assignment stage twice as slow, the whole run 20 % slower, measured)."""
    if threads is None:
        return
    import numba

    numba.set_num_threads(max(1, min(threads, _threads_most())))


def _threads_now() -> int:
    """The threads the kernels' parallel loops may use here, now."""
    import numba

    return int(numba.get_num_threads())


def _threads_most() -> int:
    """numba's own count: the CPUs this process may run on, or ``NUMBA_NUM_THREADS``."""
    import numba

    return int(numba.config.NUMBA_NUM_THREADS)  # type: ignore[attr-defined]


def _threads_each(workers: int) -> int:
    """The kernels' threads for each of ``workers`` processes sharing this machine's cores:
    numba's own count shared out — not ``os.cpu_count()``, which a container limited to
    fewer CPUs overstates."""
    return max(1, _threads_most() // max(1, workers))


def _store(session: Any, valid: list[Any], out: dict[str, dict[str, Any]]) -> list[Any]:
    """Write the valid partitions of a batch (:func:`geo.store.versions.store_partitions`):
    all at once, or, should that fail, each alone in its own savepoint, a community that still
    fails reported in ``out`` with its error. (input, result, version id) of each written."""
    from geo.store.versions import store_partitions

    try:
        with session.begin_nested():
            written = store_partitions(session, valid, actor="engine")
        return [(i, r, w.version) for (i, r), w in zip(valid, written, strict=True)]
    except Exception as exc:
        logging.getLogger(__name__).warning(
            "批量写入失败，逐个社区重写 (the batch's write failed; each community alone): %r", exc
        )
    stored = []
    for inp, result in valid:
        try:
            with session.begin_nested():
                (w,) = store_partitions(session, [(inp, result)], actor="engine")
            stored.append((inp, result, w.version))
        except Exception as exc:
            out[inp.code] = {"community": inp.code, "error": repr(exc)}
    return stored


def _summary(code: str, result: Any, report: Any, version: int | None) -> dict[str, Any]:
    """What :func:`partition_one` and :func:`partition_batch` tell of one community."""
    s = result.summary()
    return {
        "community": code,
        "version": version,
        "micro_grids": s["micro_grids"],
        "in_band": s["in_band"],
        "households": s["households"],
        "errors": len(report.errors) if report is not None else 0,
        "assigned": (result.assignment or {}).get("households_assigned"),
    }


def partition_many(
    url: str,
    codes: Sequence[str],
    *,
    engine: str = "local",
    scheduler: str | None = None,
    workers: int | None = None,
    retries: int = 2,
    batch: int = 50,
    progress: Callable[[int, int, dict[str, Any]], None] | None = None,
    **kw: Any,
) -> list[dict[str, Any]]:
    """Every community of ``codes``, in batches of ``batch`` (:func:`partition_batch`; 1:
    one community a task, :func:`partition_one`): ``engine="local"`` here — one after the
    other in this process, or on ``workers`` processes of a pool —, ``"dask"`` as tasks on the
    cluster at ``scheduler`` (a LocalCluster of ``workers`` processes, 2 by default, when none
    is given); a failed batch retried up to ``retries`` times. Results in the order of
    ``codes``; a community that still fails is reported with its error, never silently
    dropped. Several processes on this machine (a pool, or the LocalCluster) share its cores
    out among their kernels (``threads``, :func:`partition_one`), unless told otherwise.

    The tasks get ``url`` without its password; the workers of the LocalCluster started here
    get it as ``PGPASSWORD`` in their environment (set by their nanny, never sent to the
    scheduler); the workers of a given ``scheduler`` must have it in their own configuration.
    The band's missing bounds are filled in here, once, from this process's settings
    (:func:`geo.settings.band`): every task uses the same band."""
    from geo.errors import InputError
    from geo.settings import band

    kw["min_households"], kw["max_households"] = band(
        kw.pop("min_households", None), kw.pop("max_households", None)
    )
    if batch < 1:
        raise InputError(f"batch 应为正整数 (batch must be a positive integer): {batch!r}")
    chunks = [list(codes[i : i + batch]) for i in range(0, len(codes), batch)]
    task: Callable[..., Any] = partition_batch if batch > 1 else _one_as_batch
    if scheduler is None and (engine == "dask" or (workers or 1) > 1):
        # processes of this machine sharing its cores: the kernels' threads shared out
        kw.setdefault("threads", _threads_each(workers or 2))
    if engine == "local":
        return _run_local(url, codes, chunks, task, workers or 1, retries, progress, kw)
    if engine != "dask":
        raise InputError(f"engine 应为 local 或 dask (engine must be local or dask): {engine!r}")
    return _run_dask(url, codes, chunks, task, scheduler, workers or 2, retries, progress, kw)


def _one_as_batch(url: str, codes: Sequence[str], **kw: Any) -> list[dict[str, Any]]:
    """:func:`partition_one` of the one community of ``codes``, as a batch's answer."""
    (code,) = codes
    return [partition_one(url, code, **kw)]


_Progress = Callable[[int, int, dict[str, Any]], None] | None


def _failed(chunk: Sequence[str], exc: BaseException, attempts: int) -> list[dict[str, Any]]:
    return [{"community": c, "error": repr(exc), "attempts": attempts} for c in chunk]


def _run_local(
    url: str,
    codes: Sequence[str],
    chunks: list[list[str]],
    task: Callable[..., list[dict[str, Any]]],
    workers: int,
    retries: int,
    progress: _Progress,
    kw: dict[str, Any],
) -> list[dict[str, Any]]:
    """The batches one after the other in this process (``workers`` 1) or on a pool of
    ``workers`` processes (started fresh: no connection of this one is inherited), each
    retried on its own."""
    done: dict[str, dict[str, Any]] = {}

    def finished(results: list[dict[str, Any]]) -> None:
        for r in results:
            done[r["community"]] = r
            if progress:
                progress(len(done), len(codes), r)

    if workers <= 1:
        for chunk in chunks:
            for attempt in range(retries + 1):
                try:
                    results = [r | {"attempts": attempt + 1} for r in task(url, chunk, **kw)]
                    break
                except Exception as exc:
                    results = _failed(chunk, exc, attempt + 1)
            finished(results)
        return [done[c] for c in codes]
    _run_pool(url, chunks, task, workers, retries, kw, finished)
    return [done[c] for c in codes]


def _run_pool(
    url: str,
    chunks: list[list[str]],
    task: Callable[..., list[dict[str, Any]]],
    workers: int,
    retries: int,
    kw: dict[str, Any],
    finished: Callable[[list[dict[str, Any]]], None],
) -> None:
    """The batches on a pool of ``workers`` fresh processes, each retried on its own;
    ``finished`` told the results of each batch as it ends. A worker that dies (killed for
    its memory, say) breaks the pool: the batches it left undone go to a new pool, each
    charged an attempt."""
    import multiprocessing
    from concurrent.futures import Future, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    todo = [(chunk, 1) for chunk in chunks]
    while todo:
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            pending: dict[Future[Any], tuple[list[str], int]] = {
                pool.submit(task, url, chunk, **kw): (chunk, attempt) for chunk, attempt in todo
            }
            todo = []
            while pending:
                ready, _ = wait(pending, return_when="FIRST_COMPLETED")
                for fut in ready:
                    chunk, attempt = pending.pop(fut)
                    try:
                        results = fut.result()
                    except Exception as exc:
                        if attempt > retries:
                            finished(_failed(chunk, exc, attempt))
                        elif isinstance(exc, BrokenProcessPool):
                            todo.append((chunk, attempt + 1))
                        else:
                            try:
                                pending[pool.submit(task, url, chunk, **kw)] = (chunk, attempt + 1)
                            except BrokenProcessPool:
                                todo.append((chunk, attempt + 1))
                        continue
                    # outside the try: a batch done is never run again, whatever its report does
                    finished([r | {"attempts": attempt} for r in results])


# the workers of the LocalCluster started here (and, but for the memory check, its scheduler
# and nannies in this process: _QUIET_HERE), on this machine's cores
# with the partitioner: no statistical profiler (a stack sample every 10 ms), the memory and
# system monitors every second or two rather than ten times a second: 400 communities on 2
# workers 32.9 s → 26.1 s (measured; the pool of processes took 27.1 s); the event loops'
# health check (a tick) every second rather than every 20 ms, in each worker and in the
# scheduler (in this process: 3 s of its CPU for 2 × 400 communities, now 0.1): 29.1 and
# 28.4 s → 26.9 and 27.1 s (the pool, same quarter hour, 22.8–27.2 s)
_QUIET_WORKERS = {
    "distributed.worker.profile.enabled": False,
    "distributed.worker.memory.monitor-interval": "1s",
    "distributed.admin.system-monitor.interval": "2s",
    "distributed.admin.system-monitor.gil.enabled": False,
    "distributed.admin.tick.interval": "1s",
}
_QUIET_HERE = {k: v for k, v in _QUIET_WORKERS.items() if ".memory." not in k}


def _run_dask(
    url: str,
    codes: Sequence[str],
    chunks: list[list[str]],
    task: Callable[..., list[dict[str, Any]]],
    scheduler: str | None,
    workers: int,
    retries: int,
    progress: _Progress,
    kw: dict[str, Any],
) -> list[dict[str, Any]]:
    """The batches as tasks on the Dask cluster at ``scheduler`` (a LocalCluster of
    ``workers`` processes, given the password in their environment, when none is given)."""
    import dask
    from dask.distributed import Client, LocalCluster, as_completed

    from geo.store.db import strip_password

    public_url, password = strip_password(url)
    cluster = None
    if scheduler is None:
        with dask.config.set(_QUIET_WORKERS):
            # a copy of its own for the nannies: theirs shares its nested parts with the
            # global configuration, which the end of this block restores, and a worker a
            # nanny restarts (one that died) would start from that, profiler and all
            quiet = copy.deepcopy(dask.config.config)
        # the scheduler and the nannies, in this process, tick as seldom; the nannies keep
        # their memory check (the one that restarts a worker past its limit) as often as ever
        with dask.config.set(_QUIET_HERE):
            cluster = LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                env={"PGPASSWORD": password} if password else None,
                config=quiet,
            )
    client = Client(scheduler or cluster)
    run = uuid.uuid4().hex[:12]  # another run's tasks on the same scheduler are not these
    done: dict[str, dict[str, Any]] = {}
    try:
        futures = {
            client.submit(
                task,
                public_url,
                chunk,
                retries=retries,
                pure=False,
                key=f"partition-{chunk[0]}-{len(chunk)}-{run}",  # unique to this run
                **kw,
            ): chunk
            for chunk in chunks
        }
        for fut in as_completed(futures):
            chunk = futures[fut]
            try:
                results = fut.result()
            except Exception as exc:
                results = _failed(chunk, exc, retries + 1)
            for r in results:
                done[r["community"]] = r
                if progress:
                    progress(len(done), len(codes), r)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return [done[c] for c in codes]
