"""The ``wangge`` command: database, import/export, demo, API server and users.

Every subcommand that needs the database uses ``WANGGE_DATABASE_URL`` when it is set, and
otherwise starts the project's own local PostGIS (``wangge db up``) and brings the schema up to
date first. Errors print a message naming the bad value or row and exit with status 1.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from pydantic import ValidationError
from rich import box
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from geo.errors import NotFoundError, WanggeError
from geo.settings import get_settings
from geo.store.layers import LAYERS

app = typer.Typer(
    name="wangge",
    help="网格 Wangge: 社区网格治理空间服务 (community grid governance: grids, households, "
    "service places, incidents). Run `wangge demo` to see it working on the sample community.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
)
db_app = typer.Typer(
    help="项目自带的 PostGIS (the project's own PostGIS): up, down, status, migrate.",
    no_args_is_help=True,
)
users_app = typer.Typer(help="API 用户与令牌 (API users and tokens).", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")

out = Console()
err = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])


def friendly(fn: F) -> F:
    """Turn a WanggeError into a message on stderr and exit status 1."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except WanggeError as exc:
            err.print(f"[bold red]错误 (error):[/] {exc.message}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None
        except ValidationError as exc:
            if exc.title != "Settings":
                raise
            for e in exc.errors():
                name = "WANGGE_" + "_".join(str(p) for p in e["loc"]).upper()
                err.print(
                    f"[bold red]设置无效 (invalid setting):[/] {name}={e['input']!r}: {e['msg']}",
                    highlight=False,
                    soft_wrap=True,
                )
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def _engine():
    """The engine of the database to use, started and migrated (as the schema's owner); the
    engine connects as the application role."""
    from geo.store.db import get_engine, prepare_database

    return get_engine(prepare_database(start=True))


# --- db -------------------------------------------------------------------------------------
@db_app.command("up")
@friendly
def db_up() -> None:
    """启动本地 PostGIS (start the local PostGIS cluster; create it on first use) and print the
    application role's URL.

    The cluster lives in WANGGE_PG_DIR (default .wangge/pg) on a free loopback port. Running it
    twice is harmless; a stale pid file after a crash is recovered. As root, the cluster runs as
    WANGGE_PG_OS_USER (default postgres). Each run also checks the roles (wangge_owner migrates,
    wangge_app is what everything else uses: no superuser, no DDL) and synchronous_commit = on,
    and fixes a cluster made by an older version. Does nothing when WANGGE_DATABASE_URL is set.
    """
    settings = get_settings()
    if settings.database_url:
        out.print("WANGGE_DATABASE_URL 已设置，不启动本地数据库 (is set; nothing started)")
        return
    from geo.store.db import upgrade_schema
    from geo.store.pgcluster import APP, OWNER, LocalCluster

    cluster = LocalCluster()
    st = cluster.up(log=lambda m: err.print(f"[dim]{m}[/]", highlight=False))
    upgrade_schema(cluster.url(role="owner"), cluster.url())
    err.print(f"PostgreSQL {st.server_version} + PostGIS {st.postgis_version} in {st.data_dir}")
    err.print(
        f"角色 (roles): {APP} (应用 the API and commands), {OWNER} (迁移 migrations); "
        f"synchronous_commit = {st.synchronous_commit}",
        highlight=False,
    )
    print(cluster.url())


@db_app.command("down")
@friendly
def db_down() -> None:
    """停止本地 PostGIS (stop the local cluster; harmless when it is not running)."""
    from geo.store.pgcluster import LocalCluster

    stopped = LocalCluster().down()
    out.print("已停止 (stopped)" if stopped else "未在运行 (was not running)")


@db_app.command("status")
@friendly
def db_status(
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """本地 PostGIS 状态 (status of the local cluster: running, port, versions). Exit 3 when
    it is not running."""
    from geo.store.pgcluster import LocalCluster

    settings = get_settings()
    if settings.database_url:
        out.print("使用 (using) WANGGE_DATABASE_URL")
        return
    st = LocalCluster().status()
    if as_json:
        print(json.dumps(st.as_dict()))
    else:
        for k, v in st.as_dict().items():
            out.print(f"{k:16} {v}")
    if not st.running:
        raise typer.Exit(3)


@db_app.command("migrate")
@friendly
def db_migrate() -> None:
    """把表结构升级到最新 (bring the schema up to date: Alembic upgrade head)."""
    _engine()
    out.print("表结构已是最新 (schema is up to date)")


# --- import / export ------------------------------------------------------------------------
KINDS = " | ".join(LAYERS)


@app.command("import")
@friendly
def import_cmd(
    file: Annotated[Path, typer.Argument(help="GeoJSON, GeoPackage, Shapefile or CSV")],
    kind: Annotated[str, typer.Option("--kind", "-k", help=KINDS)],
    crs: Annotated[
        str | None,
        typer.Option(
            help="坐标系 (CRS of the coordinates): EPSG:NNNN | wgs84 | cgcs2000 | gcj02 | bd09. "
            "Required when the file has none."
        ),
    ] = None,
    layer: Annotated[str | None, typer.Option(help="layer name in a GeoPackage")] = None,
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="只检查，不写入 (check only, write nothing): list every problem and write the "
            "rows at fault to FILE.problems.gpkg; exit 1 when there are problems",
        ),
    ] = False,
) -> None:
    """导入图层 (import a layer): validate every row, then write all rows in one transaction.

    A bad file stores nothing and the command exits 1 naming each bad row and the problem;
    --check lists every problem and writes the rows at fault, with a reason column, to
    FILE.problems.gpkg (open it in QGIS). Import parents first: communities, compounds,
    buildings, then households.
    """
    from geo.errors import ImportValidationError
    from geo.io import import_file
    from geo.store.db import session_scope

    engine = _engine()
    if check:
        _check_file(engine, file, kind, crs, layer)
        return
    try:
        with (
            _spinner(f"导入 (importing) {file.name} as {kind}"),
            session_scope(engine) as session,
        ):
            report = import_file(file, kind, session=session, crs=crs, layer=layer)
    except ImportValidationError as exc:
        err.print(f"[bold red]错误 (error):[/] {exc.message}", highlight=False, soft_wrap=True)
        err.print(
            f"完整列表与问题文件 (the full list, and the rows at fault in a file for QGIS): "
            f"wangge import {file} --kind {kind} --check",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(1) from None
    out.print(
        f"已导入 (imported) {report.rows} {kind} from {file} (CRS {report.crs}); "
        + ", ".join(f"{k}={v}" for k, v in report.extra.items())
    )


def _check_file(engine: Any, file: Path, kind: str, crs: str | None, layer: str | None) -> None:
    """`wangge import --check`: the whole report, the problems file, exit 1 on problems."""
    from sqlalchemy.orm import Session

    from geo.io.checks import check_file, problems_path, write_problems

    old = problems_path(file)
    had_old = old.exists()
    with _spinner(f"检查 (checking) {file.name} as {kind}"), Session(engine) as session:
        try:
            report = check_file(file, kind, session=session, crs=crs, layer=layer)
        finally:
            session.rollback()
    written = write_problems(report)
    bad = len(report.bad_rows)
    out.print(
        f"检查 (check) {file} as {kind}, CRS {report.crs or '-'}: {report.rows} 行 (rows), "
        f"{bad} 行有问题 (rows with problems), {len(report.problems)} 处问题 (problems); "
        "未写入数据库 (nothing written to the database)",
        highlight=False,
    )
    if report.ok:
        out.print("[green]没有问题，可以导入 (no problems: ready to import)[/]")
        if had_old:
            out.print(f"已删除旧的问题文件 (removed the old problems file) {old}", highlight=False)
        return
    out.print("按原因 (by reason):")
    for r in report.by_reason():
        out.print(f"  {r.label}: {r.rows} 行 (rows)", highlight=False)
    table = Table(title="问题 (problems)", title_justify="left", expand=False)
    table.add_column("行 (row)", justify="right", no_wrap=True)
    table.add_column("编码 / 字段 (code / field)", overflow="fold", max_width=26)
    table.add_column("问题 (problem)", overflow="fold", ratio=1)
    for p in report.problems:
        where = "\n".join(x for x in (p.key, p.field) if x)
        table.add_row(str(p.row + 1) if p.row >= 0 else "-", where, p.problem)
    out.print(table)
    if written is not None:
        out.print(
            f"问题行已写入 (the rows at fault, with a reason column, are in) {written} "
            f"({bad} 行 rows, CRS {report.crs}); 在 QGIS 中打开，修正源文件后再检查 (open it in "
            "QGIS, fix the source file and check again)",
            highlight=False,
        )
    elif had_old:
        out.print(f"已删除旧的问题文件 (removed the old problems file) {old}", highlight=False)
    raise typer.Exit(1)


@app.command("export")
@friendly
def export_cmd(
    file: Annotated[Path, typer.Argument(help=".geojson, .gpkg, .shp, .fgb or .csv")],
    kind: Annotated[str, typer.Option("--kind", "-k", help=KINDS)],
    crs: Annotated[
        str | None, typer.Option(help="output CRS (default: CRS84 for GeoJSON, else EPSG:4490)")
    ] = None,
    community: Annotated[str | None, typer.Option(help="only this community (code)")] = None,
    include_personal: Annotated[
        bool, typer.Option(help="include residents' names and phones (personal data)")
    ] = False,
) -> None:
    """导出图层 (export a layer) to a file; the attributes match the import format.

    A point layer in CSV gets lon/lat columns (import it back with --crs); text cells a
    spreadsheet would run as formulas (=, +, -, @) are quoted. With --include-personal
    (households, incidents) the file is readable by you only (0600) and the export is
    written to the audit log; incidents (residents' descriptions) are always 0600."""
    import getpass

    from geo.io import export_layer, is_private_export
    from geo.store.db import session_scope

    engine = _engine()
    with session_scope(engine) as session:
        n = export_layer(
            kind,
            file,
            session=session,
            crs=crs,
            community=community,
            personal=include_personal,
            actor=f"cli:{getpass.getuser()}",
        )
    out.print(f"已导出 (exported) {n} {kind} to {file}", highlight=False)
    if is_private_export(kind, include_personal):
        out.print("仅你可读 (readable by you only: mode 0600)", highlight=False)
    if include_personal:
        out.print("含个人信息，已记入审计日志 (personal data: written to the audit log)")


# --- delete ---------------------------------------------------------------------------------
TABLE_LABELS = {
    "community": "社区",
    "compound": "小区/院落",
    "grid_version": "网格版本",
    "building": "楼栋",
    "grid": "网格",
    "plan": "规划方案",
    "building_unit": "单元",
    "plan_edit": "方案修改",
    "household": "户",
    "grid_member": "网格归属",
    "household_person": "户主信息",
    "incident": "事件",
    "facility": "服务设施",
    "open_resource": "开放资源",
    "worker": "网格员",
    "app_user": "用户",
}


@app.command("delete")
@friendly
def delete_cmd(
    community: Annotated[str, typer.Option("--community", help="code of the community")],
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="do not ask (needed without a terminal)")
    ] = False,
    author: Annotated[str, typer.Option("--author", help="who (written to the audit log)")] = "cli",
) -> None:
    """删除社区 (delete a community) in one transaction, after showing what goes and asking.

    Deleted: its compounds, buildings, units, households and their personal data, grid
    versions, grids and memberships, plans and their edits. Kept, with their links cleared and
    listed: incidents, facilities and open resources in it, and the workers and API users of
    its grids. One audit_log row records it. Re-importing corrected data is then a plain import.
    """
    from sqlalchemy.orm import Session

    from geo.communities import delete_community, deletion_preview
    from geo.store.db import session_scope

    engine = _engine()
    with Session(engine) as session:
        preview = deletion_preview(session=session, code=community)
        session.rollback()
    _print_deletion(preview)
    if not yes:
        if not sys.stdin.isatty():
            raise WanggeError(
                "需要确认：请在终端中运行，或加 --yes (confirmation needed: run it in a terminal, "
                "or pass --yes); 未删除 (nothing deleted)"
            )
        if not typer.confirm(f"确认删除社区 {community}？(delete community {community}?)"):
            err.print("已取消，未删除 (cancelled; nothing deleted)")
            raise typer.Exit(1)
    with session_scope(engine) as session:
        done = delete_community(
            session=session, code=community, actor=f"cli:{author}", expected=preview
        )
    rows = sum(done.deleted.values())
    out.print(
        f"[green]已删除 (deleted)[/] 社区 (community) {done.code} {done.name}: {rows:,} 行 "
        f"(rows) in {sum(1 for n in done.deleted.values() if n)} 表 (tables); "
        f"解除关联 (links cleared): {sum(len(v) for v in done.kept.values())} 行 (rows); "
        "已记入审计日志 (audit-logged)",
        highlight=False,
    )


def _print_deletion(d: Any) -> None:
    out.print(
        f"将删除社区 (will delete community) {d.code} {d.name}, 一个事务 (in one transaction):",
        highlight=False,
    )
    table = Table("表 (table)", "删除行数 (rows)", title_justify="left")
    table.columns[1].justify = "right"
    for name, n in d.deleted.items():
        table.add_row(f"{name} {TABLE_LABELS.get(name, '')}", f"{n:,}")
    out.print(table)
    if not d.kept:
        out.print("没有需要保留并解除关联的数据 (nothing to keep and detach)")
        return
    out.print("保留，解除与该社区的关联 (kept, their links to it cleared):")
    for name, rows in d.kept.items():
        items = [_kept_item(name, r) for r in rows]
        out.print(
            f"  {name} {TABLE_LABELS.get(name, '')} ({len(rows)}): " + ", ".join(items),
            highlight=False,
        )


def _kept_item(table: str, r: dict[str, Any]) -> str:
    if table == "app_user":
        grid = f", grid {r['grid_code']}" if r.get("grid_code") else ""
        return f"#{r['id']} {r['name']} ({r['role']}{grid})"
    if table == "worker":
        return f"{r['code']} {r['name']}" + (f" ({r['grid_code']})" if r.get("grid_code") else "")
    return str(r.get("code", r.get("id")))


# --- partition and validate -----------------------------------------------------------------
@app.command()
@friendly
def partition(
    community: Annotated[
        str | None, typer.Option(help="community code (default: every community)")
    ] = None,
    min_households: Annotated[
        int, typer.Option("--min", help="fewest households per micro-grid")
    ] = 30,
    max_households: Annotated[
        int, typer.Option("--max", help="most households per micro-grid")
    ] = 50,
    seed: Annotated[int, typer.Option(help="seed of the search (results are deterministic)")] = 0,
    allow_cross_compound: Annotated[
        bool,
        typer.Option(help="merge a compound that cannot fill the band with its neighbour"),
    ] = False,
    dry_run: Annotated[bool, typer.Option(help="partition and validate, write nothing")] = False,
    report: Annotated[Path | None, typer.Option(help="write the JSON report here")] = None,
    engine_name: Annotated[
        str,
        typer.Option(
            "--engine", help="local | dask: one task per community (each partitioned and assigned)"
        ),
    ] = "local",
    scheduler: Annotated[
        str | None,
        typer.Option(help="Dask scheduler, e.g. tcp://10.0.0.5:8786 (default: a LocalCluster)"),
    ] = None,
    workers: Annotated[int, typer.Option(help="LocalCluster worker processes")] = 2,
) -> None:
    """划分网格 (partition): community → compound grids → micro-grids of --min to --max households.

    Whole building units are grouped (a unit is split by floors only when it alone exceeds
    --max); every micro-grid is one connected polygon and they tile their compound grid. The
    result is validated and written to PostGIS as a new version (the previous one is kept as
    history). Compounds that cannot fill the band are reported with the reason and the rule
    applied.
    """
    from geo.store.db import session_scope
    from geo.store.versions import community_codes, partition_and_store

    engine = _engine()
    with session_scope(engine) as session:
        codes = [community] if community else community_codes(session)
    if engine_name == "dask" or scheduler:
        if dry_run or allow_cross_compound:
            raise WanggeError("--engine dask 不支持 --dry-run / --allow-cross-compound")
        _partition_many(
            engine, codes, scheduler, workers, min_households, max_households, seed, report
        )
        return
    results = {}
    failures: dict[str, str] = {}  # community → why it was skipped
    with _bar() as bar:
        task = bar.add_task("划分 (partitioning)", total=len(codes))
        for code in codes:
            bar.update(task, description=f"划分 (partitioning) {code}")
            try:  # one community's bad data must not stop the others
                with session_scope(engine) as session:
                    res, rep, version = partition_and_store(
                        session,
                        code,
                        min_households=min_households,
                        max_households=max_households,
                        seed=seed,
                        allow_cross_compound=allow_cross_compound,
                        write=not dry_run,
                    )
            except Exception as exc:  # reported per community, then skipped
                failures[code] = _reason(exc)
            else:
                results[code] = (res, rep, version)
                if not rep.ok:
                    failures[code] = (
                        "校验失败 (validation failed): "
                        + "; ".join(f"{f.grid or '-'}: {f.message}" for f in rep.errors[:3])
                        + (f" (+{len(rep.errors) - 3})" if len(rep.errors) > 3 else "")
                    )
            bar.advance(task)
    for res, rep, version in results.values():
        _print_partition(res, rep, version, dry_run)
    if report:
        done: dict[str, Any] = {
            code: {"summary": res.summary(), "validation": rep.as_dict(), "version": v}
            for code, (res, rep, v) in results.items()
        }
        for code, why in failures.items():
            done.setdefault(code, {})["error"] = why
        report.write_text(json.dumps(done, ensure_ascii=False, indent=2, default=str))
        out.print(f"报告 (report): {report}")
    if len(codes) > 1 or failures:
        ok = len(codes) - len(failures)
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
    engine: Any,
    codes: list[str],
    scheduler: str | None,
    workers: int,
    lo: int,
    hi: int,
    seed: int,
    report: Path | None,
) -> None:
    from geo.runtime.batch import partition_many

    url = engine.url.render_as_string(hide_password=False)
    with _bar() as bar:
        task = bar.add_task(f"划分 (partitioning, dask) {len(codes)} 个社区", total=len(codes))
        done = partition_many(
            url,
            codes,
            engine="dask",
            scheduler=scheduler,
            workers=workers,
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


def _print_partition(res: Any, rep: Any, version: int | None, dry_run: bool) -> None:
    s = res.summary()
    table = Table(
        title=f"{res.community} 网格划分 (partition), {res.params['min']}–{res.params['max']} 户"
    )
    for col in (
        "小区网格 (compound grid)",
        "户 (households)",
        "微网格 (micro)",
        "户数 (sizes)",
        "拆分楼栋 (split)",
        "状态 (status)",
    ):
        table.add_column(col)
    for c in res.compound_grids:
        sizes = sorted(m.households for m in c.micro)
        span = f"{sizes[0]}–{sizes[-1]}" if sizes else "-"
        status = c.status if c.status == "ok" else f"[yellow]{c.status}[/]: {c.reason}"
        if not c.proven:  # the search reached a limit: the best grouping found, not proven
            status = f"[red]未证明 (not proven)[/] {status}"
        if c.note:
            status = f"{status}; [cyan]{c.note}[/]"
        table.add_row(
            f"{c.code} {c.name}",
            str(c.households),
            str(len(c.micro)),
            span,
            str(c.split_buildings),
            status,
        )
    out.print(table)
    out.print(
        f"微网格 (micro-grids) {s['micro_grids']}, 在区间内 (in band) {s['in_band']} "
        f"({s['in_band_share']:.0%}), 连通 (contiguous) {s['contiguous_share']:.0%}, "
        f"拆分楼栋 (split buildings) {s['split_buildings']}, Polsby–Popper 中位数 (median) "
        f"{s['polsby_popper_median']:.2f}, 最大直线跨度 (largest straight-line spread) "
        f"{s['spread_m_max']:.0f} m"
    )
    _print_validation(rep)
    if rep.ok and not dry_run:
        out.print(f"[green]已写入新版本 (written as version id {version})[/]")
        if res.assignment:
            out.print(
                "重新分配 (re-assigned): "
                + ", ".join(f"{k}={v}" for k, v in res.assignment.items())
            )
    elif not rep.ok:
        out.print("[red]校验失败，未写入 (validation failed; nothing written)[/]")


def _print_validation(rep: Any) -> None:
    if rep.findings:
        t = Table("级别 (severity)", "检查 (check)", "网格 (grid)", "说明 (finding)")
        for row in rep.rows():
            t.add_row(*row)
        out.print(t)
    out.print(
        f"校验 (validation): {len(rep.errors)} 错误 (errors), {len(rep.warnings)} 警告 (warnings)"
    )


@app.command()
@friendly
def validate(
    community: Annotated[str | None, typer.Option(help="community code (default: all)")] = None,
    version: Annotated[int | None, typer.Option(help="version number (default: current)")] = None,
    min_households: Annotated[int, typer.Option("--min")] = 30,
    max_households: Annotated[int, typer.Option("--max")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="print the JSON report")] = False,
) -> None:
    """校验网格 (validate stored grids): nesting, coverage (no gaps or overlaps), contiguity,
    size band, every household in exactly one micro-grid. Exit 1 on errors."""
    from geo.core.validate import validate_grids
    from geo.store.db import session_scope
    from geo.store.versions import community_codes, load_community, load_version

    engine = _engine()
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
                min_households=min_households,
                max_households=max_households,
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
                _print_validation(rep)
    if failed:
        raise typer.Exit(1)


# --- network and incidents ------------------------------------------------------------------
network_app = typer.Typer(
    help="步行网络 (the walking network of roads and footways).", no_args_is_help=True
)
incidents_app = typer.Typer(help="事件 (incidents).", no_args_is_help=True)
app.add_typer(network_app, name="network")
app.add_typer(incidents_app, name="incidents")


@network_app.command("build")
@friendly
def network_build() -> None:
    """把道路连成步行网络 (build the walking network from the roads, for walking distances)."""
    from geo.network import build_network, pgrouting_available
    from geo.store.db import session_scope

    with session_scope(_engine()) as session:
        counts = build_network(session)
        routing = pgrouting_available(session)
    out.print(
        f"网络 (network): {counts['vertices']} 节点 (nodes), {counts['edges']} 边 (edges); "
        f"pgRouting: {'可用 (available)' if routing else '不可用，用直线距离 (absent: straight lines)'}"
    )


@incidents_app.command("escalate")
@friendly
def incidents_escalate() -> None:
    """超时升级 (move overdue incidents to the next tier; run it from cron every few minutes)."""
    from geo.incidents import escalate_overdue
    from geo.store.db import session_scope

    with session_scope(_engine()) as session:
        done = escalate_overdue(session)  # every street, signed "system", audited
    for d in done["escalated"]:
        out.print(f"{d['code']}: {d['from']} → {d['to']}")
    out.print(f"升级 (escalated): {done['count']} ({done['at']})")


# --- plans ------------------------------------------------------------------------------------
plan_app = typer.Typer(
    help="规划方案 (plans): draft, edit, validate, diff and publish grid boundaries.",
    no_args_is_help=True,
)
app.add_typer(plan_app, name="plan")
Author = Annotated[str, typer.Option("--author", help="who (written to the audit log)")]


def _show(obj: Any) -> None:
    print(json.dumps(obj, ensure_ascii=False, indent=2, default=str))


def _plan_call(fn_name: str, *args: Any, **kwargs: Any) -> Any:
    from geo import plans
    from geo.store.db import session_scope

    with session_scope(_engine()) as session:
        return getattr(plans, fn_name)(session, *args, **kwargs)


def _geojson_arg(path: str) -> dict[str, Any]:
    """A GeoJSON geometry or Feature from a file (``-`` for stdin)."""
    raw = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise WanggeError(f"不是有效的 GeoJSON (not valid GeoJSON): {path}: {exc}") from exc


@plan_app.command("create")
@friendly
def plan_create(
    community: Annotated[str, typer.Argument(help="community code")],
    name: Annotated[str | None, typer.Option(help="plan name")] = None,
    author: Author = "cli",
) -> None:
    """起草 (create a draft from the current version)."""
    _show(_plan_call("create_plan", community, author=f"cli:{author}", name=name))


@plan_app.command("list")
@friendly
def plan_list(community: Annotated[str | None, typer.Option()] = None) -> None:
    """方案列表 (list plans)."""
    rows = _plan_call("list_plans", community=community)
    t = Table(
        "id",
        "名称 (name)",
        "社区 (community)",
        "作者 (author)",
        "状态 (status)",
        "基础 (base)",
        "草稿 (draft)",
    )
    for r in rows:
        t.add_row(
            str(r["id"]),
            r["name"],
            r["community"],
            r["author"],
            r["status"],
            str(r["base_version"]),
            str(r["draft_version"]),
        )
    out.print(t)


@plan_app.command("show")
@friendly
def plan_show(plan_id: int) -> None:
    """方案详情与修改记录 (a plan and its edits)."""
    _show(_plan_call("get_plan", plan_id))


@plan_app.command("move")
@friendly
def plan_move(
    plan_id: int,
    buildings: Annotated[
        list[str], typer.Argument(help="building or unit codes (<building>-U<n>)")
    ],
    to: Annotated[str, typer.Option("--to", help="target micro-grid code")],
    author: Author = "cli",
) -> None:
    """移动楼栋/单元 (move buildings or units to another micro-grid)."""
    _show(_plan_call("move", plan_id, buildings=buildings, to=to, actor=f"cli:{author}"))


@plan_app.command("redraw")
@friendly
def plan_redraw(
    plan_id: int,
    grid: str,
    geojson: Annotated[str, typer.Option("--geojson", help="file with the polygon, - for stdin")],
    crs: Annotated[str | None, typer.Option(help="CRS of the polygon (default CRS84)")] = None,
    author: Author = "cli",
) -> None:
    """重画边界 (replace a micro-grid's boundary with a drawn polygon)."""
    _show(
        _plan_call(
            "redraw",
            plan_id,
            grid=grid,
            geometry=_geojson_arg(geojson),
            crs=crs,
            actor=f"cli:{author}",
        )
    )


@plan_app.command("split")
@friendly
def plan_split(
    plan_id: int,
    grid: str,
    line: Annotated[str | None, typer.Option("--line", help="file with a GeoJSON line")] = None,
    buildings: Annotated[
        str | None, typer.Option(help="comma-separated building/unit codes")
    ] = None,
    crs: Annotated[str | None, typer.Option()] = None,
    author: Author = "cli",
) -> None:
    """拆分网格 (split a micro-grid by a line or by a building list)."""
    _show(
        _plan_call(
            "split",
            plan_id,
            grid=grid,
            line=_geojson_arg(line) if line else None,
            buildings=[b for b in (buildings or "").split(",") if b],
            crs=crs,
            actor=f"cli:{author}",
        )
    )


@plan_app.command("merge")
@friendly
def plan_merge(plan_id: int, grid_a: str, grid_b: str, author: Author = "cli") -> None:
    """合并两个相邻网格 (merge two adjacent micro-grids)."""
    _show(_plan_call("merge_grids", plan_id, grids=[grid_a, grid_b], actor=f"cli:{author}"))


@plan_app.command("repartition")
@friendly
def plan_repartition(
    plan_id: int, compound: str, seed: Annotated[int, typer.Option()] = 0, author: Author = "cli"
) -> None:
    """重新划分小区，保留锁定网格 (re-partition a compound, keeping locked grids)."""
    _show(_plan_call("repartition", plan_id, compound=compound, seed=seed, actor=f"cli:{author}"))


@plan_app.command("lock")
@friendly
def plan_lock(plan_id: int, grids: list[str], author: Author = "cli") -> None:
    """锁定网格 (lock micro-grids)."""
    _show(_plan_call("lock", plan_id, grids=grids, locked=True, actor=f"cli:{author}"))


@plan_app.command("unlock")
@friendly
def plan_unlock(plan_id: int, grids: list[str], author: Author = "cli") -> None:
    """解锁网格 (unlock micro-grids)."""
    _show(_plan_call("lock", plan_id, grids=grids, locked=False, actor=f"cli:{author}"))


@plan_app.command("undo")
@friendly
def plan_undo(plan_id: int, author: Author = "cli") -> None:
    """撤销上一步 (undo the last edit)."""
    _show(_plan_call("undo", plan_id, actor=f"cli:{author}"))


@plan_app.command("validate")
@friendly
def plan_validate(
    plan_id: int,
    as_json: Annotated[bool, typer.Option("--json", help="print the JSON report")] = False,
    author: Author = "cli",
) -> None:
    """校验方案 (validate a draft). Exit 1 on errors."""
    rep = _plan_call("validate_plan", plan_id, actor=f"cli:{author}")
    if as_json:
        _show(rep.as_dict())
    else:
        _print_validation(rep)
    if not rep.ok:
        raise typer.Exit(1)


@plan_app.command("diff")
@friendly
def plan_diff(
    plan_id: Annotated[
        int | None, typer.Argument(help="plan id (or --community/--from/--to)")
    ] = None,
    community: Annotated[str | None, typer.Option()] = None,
    from_version: Annotated[int | None, typer.Option("--from")] = None,
    to_version: Annotated[int | None, typer.Option("--to")] = None,
    fmt: Annotated[str, typer.Option("--format", help="json|csv|geojson|gpkg")] = "json",
    output: Annotated[Path | None, typer.Option("--out", help="file to write")] = None,
) -> None:
    """差异 (diff a draft against its base, or any two versions), per grid, household and building."""
    from geo import plans
    from geo.store.db import session_scope

    with session_scope(_engine()) as session:
        if plan_id is not None:
            p = plans.get_plan(session, plan_id)
            community, from_version, to_version = (
                p["community"],
                p["base_version"],
                p["draft_version"],
            )
        if not (community and from_version and to_version):
            raise WanggeError(
                "请给出方案 id，或 --community --from --to (give a plan id or two versions)"
            )
        d = plans.diff_versions(session, community, from_version, to_version)
    if fmt == "json" and output is None:
        _show(d.as_dict())
        return
    data = (
        json.dumps(d.as_dict(), ensure_ascii=False, indent=2).encode()
        if fmt == "json"
        else plans.export_diff(d, fmt)[0]
    )
    if output is None:
        raise WanggeError(f"{fmt} 需要 --out 文件 (the {fmt} format needs --out FILE)")
    output.write_bytes(data)
    s = d.summary
    out.print(
        f"{output}: {s['households_moved']} 户变更 (households moved), "
        f"{s['grids_changed']} 改 / {s['grids_added']} 增 / {s['grids_removed']} 删 (grids changed/added/removed)"
    )


@plan_app.command("publish")
@friendly
def plan_publish(plan_id: int, author: Author = "cli") -> None:
    """发布 (publish: the draft becomes the current version)."""
    _show(_plan_call("publish", plan_id, actor=f"cli:{author}"))


@plan_app.command("discard")
@friendly
def plan_discard(plan_id: int, author: Author = "cli") -> None:
    """放弃方案 (discard a draft)."""
    _show(_plan_call("discard", plan_id, actor=f"cli:{author}"))


@plan_app.command("history")
@friendly
def plan_history(community: str) -> None:
    """版本历史 (a community's versions)."""
    rows = _plan_call("versions", community)
    t = Table(
        "版本 (version)",
        "状态 (status)",
        "来源 (source)",
        "作者 (by)",
        "发布 (published)",
        "微网格 (micro-grids)",
        "方案 (plan)",
    )
    for r in rows:
        t.add_row(
            str(r["version"]),
            r["status"],
            r["source"],
            r["created_by"] or "",
            r["published_at"] or "",
            str(r["micro_grids"]),
            str(r["plan"] or ""),
        )
    out.print(t)


@plan_app.command("merge-departments")
@friendly
def plan_merge_departments(
    community: str,
    layers: Annotated[list[str], typer.Argument(help="DEPARTMENT=FILE (GeoJSON, GPKG, SHP)")],
    code_field: Annotated[str, typer.Option(help="the grid code attribute")] = "code",
    crs: Annotated[str | None, typer.Option(help="CRS when a file does not say")] = None,
    propose: Annotated[bool, typer.Option(help="write a proposed unified layer as a draft")] = True,
    seed: Annotated[int, typer.Option()] = 0,
    author: Author = "cli",
) -> None:
    """多格合一 (merge departmental grid layers): crosswalk, conflicts, proposed unified layer."""
    import pyogrio

    from geo import departments
    from geo.store.db import session_scope

    given = []
    for item in layers:
        dept, sep, path = item.partition("=")
        if not sep or not dept or not path:
            raise WanggeError(f"应为 部门=文件 (expected DEPARTMENT=FILE): {item!r}")
        frame = pyogrio.read_dataframe(path)
        file_crs = frame.crs.to_string() if frame.crs is not None else None
        given.append(
            {
                "department": dept,
                "code_field": code_field,
                "crs": file_crs or crs,
                "features": json.loads(frame.to_json(drop_id=True)),
            }
        )
    with session_scope(_engine()) as session:
        res = departments.merge_departments(
            session, community, given, propose=propose, seed=seed, actor=f"cli:{author}"
        )
    _show(res["summary"] | {"proposal": res.get("proposal")})


# --- assignment -------------------------------------------------------------------------------
@app.command()
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
    engine = _engine()
    with session_scope(engine) as session, _bar() as bar:
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


# --- demo and serve -------------------------------------------------------------------------
@app.command()
@friendly
def demo(
    serve_api: Annotated[
        bool, typer.Option("--serve/--no-serve", help="serve the API after the summary")
    ] = True,
    host: Annotated[str | None, typer.Option(help="API host (default 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(help="API port (default 8000)")] = None,
) -> None:
    """演示 (demo): start the local PostGIS, load the sample community 吉福社区, print a summary,
    then serve the API on http://127.0.0.1:8000 until interrupted."""
    from geo.io.fixture import fixture_loaded, load_fixture, summary
    from geo.store.db import session_scope

    engine = _engine()
    with session_scope(engine) as session:
        if fixture_loaded(session):
            out.print("示例社区已载入 (the sample community is already loaded)")
        else:
            with _bar() as bar:
                task = bar.add_task("载入示例社区 (loading the fixture)", total=1)

                def progress(kind: str, i: int, n: int) -> None:
                    bar.update(task, total=n, completed=i, description=f"载入 (loading) {kind}")

                load_fixture(session=session, progress=progress)
    with session_scope(engine) as session:  # the fixture only, never the others at start-up
        from geo.io.fixture import fixture_communities, partition_fixture
        from geo.store.versions import community_codes

        with _spinner("划分网格 (partitioning) the sample community"):
            done = partition_fixture(session, actor="demo")
        for _code, res, rep, version in done:
            _print_partition(res, rep, version, dry_run=False)
        mine = set(fixture_communities(session))
        others = [c for c in community_codes(session, unpartitioned=True) if c not in mine]
    if others:
        out.print(
            f"另有 {len(others)} 个社区尚未划分，启动时不处理 ({len(others)} other communities "
            f"have no grids; start-up leaves them alone, run `wangge partition`): "
            + ", ".join(others[:20])
            + (" …" if len(others) > 20 else ""),
            highlight=False,
        )
    with session_scope(engine) as session:
        _print_summary(summary(session))
        _write_maps(session, Path(get_settings().pg_dir).parent / "maps", None, None, None)
    if serve_api:
        s = get_settings()
        base = f"http://{host or s.api_host}:{port or s.api_port}"
        out.print(f"地图也由 API 提供 (the maps are served too): {base}/maps/resident")
        serve(host=host, port=port)


# written maps that hold residents' words or staff names (every incident's description and
# exact position, the workers of each grid): created readable by their owner only. The
# resident map (public places) and the planner map (grids, buildings, counts) hold neither.
PRIVATE_MAPS = ("dispatcher.html",)


def _private_files(where: Path, names: tuple[str, ...]) -> list[Path]:
    """Create (or make) ``names`` in ``where`` mode 0600 before anything is written to them:
    the map writer then writes into a file that was never readable by others. Returns the
    files this created (empty until written)."""
    where.mkdir(parents=True, exist_ok=True)
    created = []
    for name in names:
        path = where / name
        existed = path.exists()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        try:
            os.fchmod(fd, 0o600)
        finally:
            os.close(fd)
        if not existed:
            created.append(path)
    return created


def _write_maps(
    session: Any, where: Path, community: str | None, plan: int | None, basemap: str | None
) -> None:
    from maps.build import write_maps

    created = _private_files(where, PRIVATE_MAPS)
    try:
        with _spinner("生成地图 (writing the maps)"):
            done = write_maps(session, where, community=community, base=basemap, plan=plan)
    except BaseException:
        for path in created:  # no empty map left behind
            if path.exists() and path.stat().st_size == 0:
                path.unlink()
        raise
    for name in PRIVATE_MAPS:  # in case the writer replaced a file instead of writing into it
        (where / name).chmod(0o600)
    t = Table(title="地图 (maps)")
    for col in ("地图 (map)", "文件 (file)", "大小 (size)", "用时 (time)"):
        t.add_column(col)
    for d in done:
        t.add_row(d["map"], d["path"], f"{d['bytes'] / 1e6:.2f} MB", f"{d['seconds']:.2f} s")
    out.print(t)
    out.print("离线可用，用浏览器打开即可 (they work offline: open them in a browser)")
    out.print(
        f"{', '.join(PRIVATE_MAPS)} 含事件描述，仅你可读 (holds incident descriptions: "
        "readable by you only, mode 0600)",
        highlight=False,
    )


@app.command("maps")
@friendly
def maps_cmd(
    out_dir: Annotated[Path, typer.Option("--out", help="folder for the HTML maps")] = Path(
        "maps-out"
    ),
    community: Annotated[str | None, typer.Option(help="community code (default all)")] = None,
    plan: Annotated[
        int | None, typer.Option(help="show this draft plan on the planner map")
    ] = None,
    basemap: Annotated[
        str | None, typer.Option(help="none | amap | tencent | a tile URL (default: settings)")
    ] = None,
    boards: Annotated[
        Path | None, typer.Option("--boards", help="also write a notice board per micro-grid here")
    ] = None,
    boards_format: Annotated[str, typer.Option(help="png | pdf (A4)")] = "png",
    grid: Annotated[
        list[str] | None, typer.Option("--grid", help="boards for these micro-grids only")
    ] = None,
) -> None:
    """地图 (maps): write the resident, planner and dispatcher maps as standalone HTML files, and
    (with --boards) the grid notice boards (网格公示牌), one A4 page per micro-grid."""
    from geo.store.db import session_scope

    with session_scope(_engine()) as session:
        _write_maps(session, out_dir, community, plan, basemap)
        if boards is not None:
            from maps.boards import write_boards

            with _bar() as bar:
                task = bar.add_task("公示牌 (notice boards)", total=1)
                done = write_boards(
                    session,
                    boards,
                    community=community,
                    grids=grid or None,
                    fmt=boards_format,
                    progress=lambda i, n: bar.update(task, total=n, completed=i),
                )
            out.print(f"公示牌 (notice boards): {len(done)} → {boards}")


def _print_summary(s: dict[str, Any]) -> None:
    table = Table(title="数据库概况 (database summary)")
    table.add_column("表 (table)")
    table.add_column("行数 (rows)", justify="right")
    for name, n in s["counts"].items():
        table.add_row(name, f"{n:,}")
    out.print(table)
    out.print(f"社区范围 (community bounds, lon/lat): {s['bounds']}")
    out.print(f"登记户数 (households declared by buildings): {s['declared_households']:,}")


@app.command()
@friendly
def serve(
    host: Annotated[
        str | None, typer.Option(help="host (default WANGGE_API_HOST, 127.0.0.1)")
    ] = None,
    port: Annotated[int | None, typer.Option(help="port (default WANGGE_API_PORT, 8000)")] = None,
    workers: Annotated[
        int, typer.Option(min=1, max=64, help="uvicorn worker processes (e.g. one per core)")
    ] = 1,
) -> None:
    """启动 API 服务 (serve the API with uvicorn; OpenAPI at /openapi.json, docs at /docs).
    Several workers share the database: jobs, the report rate limit and idempotency keys are
    kept there; each worker keeps its own locator and tile cache."""
    import uvicorn

    from api.app import create_app
    from geo.store.db import database_url

    settings = get_settings()
    _engine()
    url = database_url(start=True)
    host = host or settings.api_host
    port = port or settings.api_port
    out.print(f"API: http://{host}:{port}  (docs: http://{host}:{port}/docs; Ctrl-C 停止 to stop)")
    # forwarded headers are the app's to judge (WANGGE_TRUSTED_PROXIES, default none):
    # uvicorn's own default believes X-Forwarded-For from loopback, where any local client
    # (or a proxy passing the header on) could name itself anything
    if workers == 1:
        uvicorn.run(create_app(url), host=host, port=port, log_level="info", proxy_headers=False)
        return
    os.environ["WANGGE_DATABASE_URL"] = url  # each worker process builds its own app
    uvicorn.run(
        "api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        proxy_headers=False,
    )


# --- users ------------------------------------------------------------------------------------
@users_app.command("add")
@friendly
def users_add(
    role: Annotated[str, typer.Option(help="public | worker | dispatcher | planner | admin")],
    name: Annotated[str, typer.Option(help="the user's name")] = "",
    grid: Annotated[str | None, typer.Option(help="grid code the user works in")] = None,
    street: Annotated[str | None, typer.Option(help="street (街道) code the user works in")] = None,
) -> None:
    """新建用户并打印令牌 (create a user and print its bearer token once; only its hash is
    stored). The token is valid for WANGGE_TOKEN_DAYS days (default 90)."""
    from geo.runtime.auth import create_user, local_time
    from geo.store.db import session_scope

    engine = _engine()
    with session_scope(engine) as session:
        user, token = create_user(
            session=session, name=name or role, role=role, grid_code=grid, street_code=street
        )
        uid, expires = user.id, local_time(user.expires_at)
    err.print(
        f"用户 (user) #{uid} {name or role} ({role}); 有效期至 (valid until) {expires}; "
        "令牌只显示一次 (the token is shown once):",
        highlight=False,
    )
    print(token)


@users_app.command("list")
@friendly
def users_list() -> None:
    """列出用户 (list users: scope, token expiry, last use; tokens are never shown). The last
    use is recorded at most once a minute."""
    from geo.runtime.auth import list_users, local_time, token_state
    from geo.store.db import session_scope

    with session_scope(_engine()) as session:
        users = list_users(session=session)
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, title="用户 (users)")
    for col in ("id", "name", "role", "scope", "token", "expires", "last used"):
        table.add_column(col, no_wrap=col in ("id", "token"))
    for u in users:
        state = token_state(u)
        table.add_row(
            str(u.id),
            u.name,
            u.role,
            " ".join(c for c in (u.grid_code, u.street_code) if c),
            u.token_prefix + "…",
            {"revoked": "已撤销 revoked", "expired": "已过期 expired"}.get(state, "")
            or local_time(u.expires_at)[:10],
            local_time(u.last_used_at)[:16] or "从未 never",
        )
    out.print(table)


@users_app.command("revoke")
@friendly
def users_revoke(user_id: Annotated[int, typer.Argument(help="user id")]) -> None:
    """撤销用户令牌 (revoke a user's token)."""
    from geo.runtime.auth import revoke_user
    from geo.store.db import session_scope

    with session_scope(_engine()) as session:
        revoke_user(session=session, user_id=user_id)
    out.print(f"已撤销 (revoked) #{user_id}")


# --- helpers --------------------------------------------------------------------------------
def _bar() -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=err,
        transient=False,
    )


def _spinner(text: str) -> Progress:
    class _Spin(Progress):
        def __enter__(self) -> Progress:
            super().__enter__()
            self.add_task(text, total=None)
            return self

    return _Spin(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    )


def main() -> None:
    app()


if __name__ == "__main__":
    sys.exit(main())
