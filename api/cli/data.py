"""``wangge import``, ``export`` and ``delete``: layers in and out of the database, and a
community out of it (after showing what goes)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from api.cli.console import err, friendly, out, spinner
from api.cli.db import database
from geo.errors import WanggeError
from geo.store.layers import LAYERS

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from geo.communities import CommunityDeletion

__all__ = ["delete_cmd", "export_cmd", "import_cmd"]

KINDS = " | ".join(LAYERS)


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

    engine = database()
    if check:
        _check_file(engine, file, kind, crs, layer)
        return
    try:
        with (
            spinner(f"导入 (importing) {file.name} as {kind}"),
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


def _check_file(engine: Engine, file: Path, kind: str, crs: str | None, layer: str | None) -> None:
    """`wangge import --check`: the whole report, the problems file, exit 1 on problems."""
    from sqlalchemy.orm import Session

    from geo.io.checks import check_file, problems_path, write_problems

    old = problems_path(file)
    had_old = old.exists()
    with spinner(f"检查 (checking) {file.name} as {kind}"), Session(engine) as session:
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

    engine = database()
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

    engine = database()
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


def _print_deletion(d: CommunityDeletion) -> None:
    """What deleting the community removes (rows per table) and keeps (links cleared)."""
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
    """One kept row, named for the reader (a user, a worker, else its code)."""
    if table == "app_user":
        grid = f", grid {r['grid_code']}" if r.get("grid_code") else ""
        return f"#{r['id']} {r['name']} ({r['role']}{grid})"
    if table == "worker":
        return f"{r['code']} {r['name']}" + (f" ({r['grid_code']})" if r.get("grid_code") else "")
    return str(r.get("code", r.get("id")))
