"""``wangge partition``, ``validate`` and ``assign``: micro-grids made, checked, and every
household or incident put in its grid."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from api.cli.console import err, friendly, out, progress_bar
from api.cli.db import database
from api.cli.reports import print_partition, print_validation
from geo.errors import InputError, NotFoundError, WanggeError
from geo.settings import Settings, band

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from geo.core.validate import ValidationReport
    from geo.partition import PartitionResult

    Outcome = tuple[PartitionResult, ValidationReport, int | None]

__all__ = ["assign", "partition", "validate"]

# the band's built-in defaults, for --help (the values in use come from geo.settings.band)
_MIN_HELP = f"(default: WANGGE_MIN_HOUSEHOLDS, {Settings.model_fields['min_households'].default})"
_MAX_HELP = f"(default: WANGGE_MAX_HOUSEHOLDS, {Settings.model_fields['max_households'].default})"


@friendly
def partition(
    community: Annotated[
        str | None, typer.Option(help="community code (default: every community)")
    ] = None,
    min_households: Annotated[
        int | None, typer.Option("--min", help=f"fewest households per micro-grid {_MIN_HELP}")
    ] = None,
    max_households: Annotated[
        int | None, typer.Option("--max", help=f"most households per micro-grid {_MAX_HELP}")
    ] = None,
    seed: Annotated[int, typer.Option(help="seed of the search (results are deterministic)")] = 0,
    allow_cross_compound: Annotated[
        bool,
        typer.Option(help="merge a compound that cannot fill the band with its neighbour"),
    ] = False,
    dry_run: Annotated[bool, typer.Option(help="partition and validate, write nothing")] = False,
    report: Annotated[Path | None, typer.Option(help="write the JSON report here")] = None,
    engine_name: Annotated[
        str,
        typer.Option("--engine", help="local (here) | dask (a cluster): where the batches run"),
    ] = "local",
    scheduler: Annotated[
        str | None,
        typer.Option(help="Dask scheduler, e.g. tcp://10.0.0.5:8786 (default: a LocalCluster)"),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(help="processes: local 1 (in this one), dask's LocalCluster 2"),
    ] = None,
    batch: Annotated[
        int | None,
        typer.Option(
            help="communities a transaction (local 1: each reported in full; dask 50); "
            "a batch is read, written and assigned in bulk"
        ),
    ] = None,
) -> None:
    """划分网格 (partition): community → compound grids → micro-grids of --min to --max households.

    Whole building units are grouped (a unit is split by floors only when it alone exceeds
    --max); every micro-grid is one connected polygon and they tile their compound grid. The
    result is validated and written to PostGIS as a new version (the previous one is kept as
    history). Compounds that cannot fill the band are reported with the reason and the rule
    applied.
    """
    from geo.store.db import session_scope
    from geo.store.versions import community_codes

    lo, hi = _band(min_households, max_households)
    engine = database()
    with session_scope(engine) as session:
        codes = [community] if community else community_codes(session)
    dask = engine_name == "dask" or scheduler is not None
    if engine_name not in ("local", "dask"):
        raise InputError(f"--engine 应为 local 或 dask (must be local or dask): {engine_name!r}")
    if dask or (batch or 1) > 1 or (workers or 1) > 1:
        if dry_run or allow_cross_compound:
            raise WanggeError(
                "--engine dask / --batch / --workers 不支持 --dry-run / --allow-cross-compound"
            )
        where = "dask" if dask else "local"
        return _partition_many(
            engine, codes, where, scheduler, workers, batch, lo, hi, seed, report
        )
    results, failures = _partition_each(
        engine, codes, lo, hi, seed=seed, allow_cross_compound=allow_cross_compound, dry_run=dry_run
    )
    for res, rep, version in results.values():
        print_partition(res, rep, version, dry_run)
    if report:
        _write_report(report, results, failures)
    _print_failures(len(codes), failures)


def _band(min_households: int | None, max_households: int | None) -> tuple[int, int]:
    """``--min`` / ``--max``, each missing one from the settings; a bad band is an error."""
    try:
        return band(min_households, max_households)
    except ValueError as exc:
        raise InputError(str(exc)) from None


def _partition_each(
    engine: Engine,
    codes: list[str],
    lo: int,
    hi: int,
    *,
    seed: int,
    allow_cross_compound: bool,
    dry_run: bool,
) -> tuple[dict[str, Outcome], dict[str, str]]:
    """Partition the communities one by one, each in its own transaction: the outcome of each
    that ran, and why each that failed (raised or did not validate) was skipped."""
    from geo.store.db import session_scope
    from geo.store.versions import partition_and_store

    results: dict[str, Outcome] = {}
    failures: dict[str, str] = {}  # community → why it was skipped
    with progress_bar() as bar:
        task = bar.add_task("划分 (partitioning)", total=len(codes))
        for code in codes:
            bar.update(task, description=f"划分 (partitioning) {code}")
            try:  # one community's bad data must not stop the others
                with session_scope(engine) as session:
                    results[code] = partition_and_store(
                        session,
                        code,
                        min_households=lo,
                        max_households=hi,
                        seed=seed,
                        allow_cross_compound=allow_cross_compound,
                        write=not dry_run,
                    )
            except Exception as exc:  # reported per community, then skipped
                failures[code] = _reason(exc)
            else:
                rep = results[code][1]
                if not rep.ok:
                    failures[code] = _validation_failed(rep)
            bar.advance(task)
    return results, failures


def _validation_failed(rep: ValidationReport) -> str:
    """The first three errors of a report, in one line."""
    return (
        "校验失败 (validation failed): "
        + "; ".join(f"{f.grid or '-'}: {f.message}" for f in rep.errors[:3])
        + (f" (+{len(rep.errors) - 3})" if len(rep.errors) > 3 else "")
    )


def _write_report(report: Path, results: dict[str, Outcome], failures: dict[str, str]) -> None:
    """``--report``: per community its summary, validation and version, or its error."""
    done: dict[str, Any] = {
        code: {"summary": res.summary(), "validation": rep.as_dict(), "version": v}
        for code, (res, rep, v) in results.items()
    }
    for code, why in failures.items():
        done.setdefault(code, {})["error"] = why
    report.write_text(json.dumps(done, ensure_ascii=False, indent=2, default=str))
    out.print(f"报告 (report): {report}")


def _print_failures(communities: int, failures: dict[str, str]) -> None:
    """The count of done and failed communities, each failure, and exit 1 when any failed."""
    if communities > 1 or failures:
        ok = communities - len(failures)
        out.print(
            f"社区 (communities): {ok} 完成 (done), {len(failures)} 失败并跳过 (failed, "
            "skipped; nothing written for them)",
            highlight=False,
        )
    for code, why in failures.items():
        err.print(f"[red]✗ {code}[/]: {why}", highlight=False)
    if failures:
        raise typer.Exit(1)


def _reason(exc: BaseException) -> str:
    """Why a community's partition raised, in one line (a WanggeError's own message)."""
    if isinstance(exc, WanggeError):
        return exc.message
    text = " ".join(str(exc).split())[:300]
    return f"划分出错 (partitioning raised) {type(exc).__name__}: {text}"


def _partition_many(
    engine: Engine,
    codes: list[str],
    where: str,
    scheduler: str | None,
    workers: int | None,
    batch: int | None,
    lo: int,
    hi: int,
    seed: int,
    report: Path | None,
) -> None:
    from geo.runtime.batch import partition_many

    url = engine.url.render_as_string(hide_password=False)
    with progress_bar() as bar:
        task = bar.add_task(f"划分 (partitioning, {where}) {len(codes)} 个社区", total=len(codes))
        done = partition_many(
            url,
            codes,
            engine=where,
            scheduler=scheduler,
            workers=workers,
            batch=batch or 50,
            min_households=lo,
            max_households=hi,
            seed=seed,
            progress=lambda i, n, r: bar.update(
                task, completed=i, description=f"划分 (partitioning) {r['community']}"
            ),
        )
    failed = [d for d in done if "error" in d]
    grids = sum(d.get("micro_grids", 0) for d in done)
    out.print(
        f"社区 (communities): {len(done) - len(failed)} 完成 (done), {len(failed)} 失败 (failed); "
        f"微网格 (micro-grids): {grids}"
    )
    for d in failed:
        err.print(f"[red]{d['community']}[/]: {d['error']}")
    if report:
        report.write_text(json.dumps(done, ensure_ascii=False, indent=2))
    if failed:
        raise typer.Exit(1)


@friendly
def validate(
    community: Annotated[str | None, typer.Option(help="community code (default: all)")] = None,
    version: Annotated[int | None, typer.Option(help="version number (default: current)")] = None,
    min_households: Annotated[int | None, typer.Option("--min", help=_MIN_HELP)] = None,
    max_households: Annotated[int | None, typer.Option("--max", help=_MAX_HELP)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the JSON report")] = False,
) -> None:
    """校验网格 (validate stored grids): nesting, coverage (no gaps or overlaps), contiguity,
    size band, every household in exactly one micro-grid. Exit 1 on errors."""
    from geo.core.validate import validate_grids
    from geo.store.db import session_scope
    from geo.store.versions import community_codes, load_community, load_version

    lo, hi = _band(min_households, max_households)
    engine = database()
    failed = False
    with session_scope(engine) as session:
        for code in [community] if community else community_codes(session):
            try:
                records, ver = load_version(session, code, version)
            except NotFoundError as exc:
                if community:  # the one asked for: an error
                    raise
                # every community: one without grids yet (or without that version) is said
                # and skipped, not the end of the run
                err.print(f"- {code}: {exc}; 跳过 (skipped)", highlight=False)
                continue
            inp = load_community(session, code)
            rep = validate_grids(
                records,
                units=inp.units,
                households=inp.households,
                min_households=lo,
                max_households=hi,
            )
            failed |= not rep.ok
            if as_json:
                print(
                    json.dumps(
                        {"community": code, "version": ver["number"], **rep.as_dict()},
                        ensure_ascii=False,
                        indent=2,
                        default=str,
                    )
                )
            else:
                out.print(f"{code} 版本 (version) {ver['number']} ({ver['status']})")
                print_validation(rep)
    if failed:
        raise typer.Exit(1)


@friendly
def assign(
    kind: Annotated[str, typer.Argument(help="households | incidents")],
    community: Annotated[str | None, typer.Option(help="community code (default: all)")] = None,
    show: Annotated[int, typer.Option(help="disagreements to list")] = 20,
) -> None:
    """分配到网格 (assign) every household or incident to its micro-grid, compound grid and
    community grid: households by the membership of their unit (and floor) when known, by
    position otherwise, reporting every disagreement; incidents by position. A point in no grid
    gets the nearest within WANGGE_LOCATE_TOLERANCE_M (flagged), else stays unassigned."""
    from geo.locate import Locator, assign_households, assign_incidents
    from geo.store.db import session_scope

    if kind not in ("households", "incidents"):
        raise typer.BadParameter(f"households | incidents, not {kind!r}")
    engine = database()
    with session_scope(engine) as session, progress_bar() as bar:
        task = bar.add_task("分配 (assigning)", total=4)

        def progress(step: str, done: int, total: int) -> None:
            bar.update(task, description=step, completed=done, total=total)

        locator = Locator.load(session)
        fn = assign_households if kind == "households" else assign_incidents
        report = fn(session, locator, community=community, progress=progress)
        bar.update(task, completed=4, total=4)
    table = Table(title=f"分配 (assignment): {kind}")
    table.add_column("")
    table.add_column("", justify="right")
    for label, value in (
        ("总数 (total)", report.total),
        ("按单元归属 (by unit membership)", report.by_membership),
        ("按位置 (by position)", report.by_position),
        ("最近网格，已标记 (nearest, flagged)", report.nearest),
        ("服务范围外 (outside the served area)", report.outside),
        ("网格有变化 (grid changed)", report.changed),
        ("分层单元，位置与楼层不同 (split by floors)", report.floor_split),
        ("不一致 (disagreements)", len(report.disagreements)),
        ("用时 (seconds)", report.seconds),
    ):
        table.add_row(label, str(value))
    out.print(table)
    for d in report.disagreements[:show]:
        out.print(
            f"  {d['household']} {d['building']}: 归属 (membership) {d['by_membership']} ≠ "
            f"位置 (position) {d['by_position']}"
        )
