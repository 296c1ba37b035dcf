"""``wangge plan``: draft, edit, validate, diff and publish grid boundaries, and merge
departmental grid layers."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from api.cli.console import friendly, out, show_json
from api.cli.db import database
from api.cli.reports import print_validation
from geo.errors import WanggeError

__all__ = ["app"]

app = typer.Typer(
    help="规划方案 (plans): draft, edit, validate, diff and publish grid boundaries.",
    no_args_is_help=True,
)


Author = Annotated[str, typer.Option("--author", help="who (written to the audit log)")]


def _plan_call(fn_name: str, *args: Any, **kwargs: Any) -> Any:
    """``geo.plans.<fn_name>(session, *args, **kwargs)`` in one transaction."""
    from geo import plans
    from geo.store.db import session_scope

    with session_scope(database()) as session:
        return getattr(plans, fn_name)(session, *args, **kwargs)


def _geojson_arg(path: str) -> dict[str, Any]:
    """A GeoJSON geometry or Feature from a file (``-`` for stdin)."""
    raw = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise WanggeError(f"不是有效的 GeoJSON (not valid GeoJSON): {path}: {exc}") from exc


@app.command("create")
@friendly
def plan_create(
    community: Annotated[str, typer.Argument(help="community code")],
    name: Annotated[str | None, typer.Option(help="plan name")] = None,
    author: Author = "cli",
) -> None:
    """起草 (create a draft from the current version)."""
    show_json(_plan_call("create_plan", community, author=f"cli:{author}", name=name))


@app.command("list")
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


@app.command("show")
@friendly
def plan_show(plan_id: int) -> None:
    """方案详情与修改记录 (a plan and its edits)."""
    show_json(_plan_call("get_plan", plan_id))


@app.command("move")
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
    show_json(_plan_call("move", plan_id, buildings=buildings, to=to, actor=f"cli:{author}"))


@app.command("redraw")
@friendly
def plan_redraw(
    plan_id: int,
    grid: str,
    geojson: Annotated[str, typer.Option("--geojson", help="file with the polygon, - for stdin")],
    crs: Annotated[str | None, typer.Option(help="CRS of the polygon (default CRS84)")] = None,
    author: Author = "cli",
) -> None:
    """重画边界 (replace a micro-grid's boundary with a drawn polygon)."""
    show_json(
        _plan_call(
            "redraw",
            plan_id,
            grid=grid,
            geometry=_geojson_arg(geojson),
            crs=crs,
            actor=f"cli:{author}",
        )
    )


@app.command("split")
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
    show_json(
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


@app.command("merge")
@friendly
def plan_merge(plan_id: int, grid_a: str, grid_b: str, author: Author = "cli") -> None:
    """合并两个相邻网格 (merge two adjacent micro-grids)."""
    show_json(_plan_call("merge_grids", plan_id, grids=[grid_a, grid_b], actor=f"cli:{author}"))


@app.command("repartition")
@friendly
def plan_repartition(
    plan_id: int, compound: str, seed: Annotated[int, typer.Option()] = 0, author: Author = "cli"
) -> None:
    """重新划分小区，保留锁定网格 (re-partition a compound, keeping locked grids)."""
    show_json(
        _plan_call("repartition", plan_id, compound=compound, seed=seed, actor=f"cli:{author}")
    )


@app.command("lock")
@friendly
def plan_lock(plan_id: int, grids: list[str], author: Author = "cli") -> None:
    """锁定网格 (lock micro-grids)."""
    show_json(_plan_call("lock", plan_id, grids=grids, locked=True, actor=f"cli:{author}"))


@app.command("unlock")
@friendly
def plan_unlock(plan_id: int, grids: list[str], author: Author = "cli") -> None:
    """解锁网格 (unlock micro-grids)."""
    show_json(_plan_call("lock", plan_id, grids=grids, locked=False, actor=f"cli:{author}"))


@app.command("undo")
@friendly
def plan_undo(plan_id: int, author: Author = "cli") -> None:
    """撤销上一步 (undo the last edit)."""
    show_json(_plan_call("undo", plan_id, actor=f"cli:{author}"))


@app.command("redo")
@friendly
def plan_redo(plan_id: int, author: Author = "cli") -> None:
    """重做 (redo the last undone edit)."""
    show_json(_plan_call("redo", plan_id, actor=f"cli:{author}"))


@app.command("validate")
@friendly
def plan_validate(
    plan_id: int,
    as_json: Annotated[bool, typer.Option("--json", help="print the JSON report")] = False,
    author: Author = "cli",
) -> None:
    """校验方案 (validate a draft). Exit 1 on errors."""
    rep, _revision = _plan_call("validate_revised", plan_id, actor=f"cli:{author}")
    if as_json:
        show_json(rep.as_dict())
    else:
        print_validation(rep)
    if not rep.ok:
        raise typer.Exit(1)


@app.command("diff")
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

    with session_scope(database()) as session:
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
        show_json(d.as_dict())
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


@app.command("publish")
@friendly
def plan_publish(plan_id: int, author: Author = "cli") -> None:
    """发布 (publish: the draft becomes the current version)."""
    show_json(_plan_call("publish", plan_id, actor=f"cli:{author}"))


@app.command("discard")
@friendly
def plan_discard(plan_id: int, author: Author = "cli") -> None:
    """放弃方案 (discard a draft)."""
    show_json(_plan_call("discard", plan_id, actor=f"cli:{author}"))


@app.command("history")
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


@app.command("merge-departments")
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
    with session_scope(database()) as session:
        res = departments.merge_departments(
            session, community, given, propose=propose, seed=seed, actor=f"cli:{author}"
        )
    show_json(res["summary"] | {"proposal": res.get("proposal")})
