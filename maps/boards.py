"""网格公示牌 (grid notice boards): one printable A4 page per micro-grid, as compounds post them
at building entrances — the grid among its neighbours, its code, its household count, and the
names and public phones of the people who serve it (micro-grid worker, building heads,
compound grid worker, community secretary), on the base layer every map has (the roads
around with their names, the community outline).

Only what a worker made public is printed: a phone the worker did not make public shows as
"—". Household names and phones never appear. Drawn with matplotlib (PNG or PDF) in a CJK
font installed with the system packages (``fonts-noto-cjk``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import shapely
from sqlalchemy.orm import Session

from geo.core.crs import to_metric
from geo.errors import InputError, NotFoundError, SetupError
from geo.store.models import WORKER_ROLES
from geo.store.versions import floor_units
from maps import queries
from maps.styles import short

__all__ = ["Board", "board_data", "cjk_font", "write_boards"]

A4 = (8.27, 11.69)  # inches


@dataclass
class Board:
    code: str
    community: str
    compound: str
    households: int
    buildings: list[str]
    workers: list[dict[str, str]]  # role name, name, public phone or "—"
    geometry: Any  # metric
    neighbours: list[tuple[str, Any]]  # (code, metric geometry)
    footprints: list[tuple[str, Any]]  # (label, metric geometry)
    # the floors it holds of units split by floors, and who holds the others (same cell)
    floors: list[str] = field(default_factory=list)
    neighbour_floors: dict[str, str] = field(default_factory=dict)  # code → 1–12层
    # the base layer of every map: the roads around (name, metric line), the community outline
    roads: list[tuple[str, Any]] = field(default_factory=list)
    outline: Any = None


def cjk_font() -> str:
    """The family name of an installed font with Chinese glyphs."""
    from matplotlib import font_manager

    names = {f.name for f in font_manager.fontManager.ttflist}
    for want in (
        "Noto Sans CJK SC",
        "Noto Sans SC",
        "WenQuanYi Micro Hei",
        "Noto Sans CJK JP",
        "Noto Serif CJK SC",
        "Source Han Sans SC",
        "SimHei",
        "Microsoft YaHei",
    ):
        if want in names:
            return want
    raise SetupError(
        "没有中文字体，无法生成公示牌 (no CJK font for the notice boards): "
        "sudo apt-get install -y fonts-noto-cjk"
    )


def _people(rows: list[dict[str, Any]], building_names: dict[str, str]) -> list[dict[str, str]]:
    """Role (with the building a building head serves), name, public phone or "—"."""
    people = []
    for w in rows:
        what = WORKER_ROLES.get(w["role"], (w["role"],))[0]
        if w["building_code"]:
            what += f"（{building_names.get(w['building_code'], w['building_code'])}）"
        people.append({"role": what, "name": w["name"], "phone": w["phone"] or "—"})
    return people


def _floors(session: Session, code: str, community: str) -> tuple[list[str], dict[str, str]]:
    """The floors the grid holds of units split by floors (with who holds the others of the
    same cell), and the floor label of every other grid holding floors of such a unit."""
    floors: list[str] = []
    neighbour_floors: dict[str, str] = {}
    for u in floor_units(session=session, community=community):
        neighbour_floors |= {g.grid: g.label for g in u.groups if g.grid != code}
        mine = [g for g in u.groups if g.grid == code]
        others = " / ".join(f"{g.label} {short(g.grid)}" for g in u.groups if g.grid != code)
        if mine:
            floors.append(
                f"{u.building_name}{u.unit_no}单元 {' / '.join(g.label for g in mine)}"
                + (f"（同一位置其他楼层 other floors here: {others}）" if others else "")
            )
    return floors, neighbour_floors


def _metric(rows: list[dict[str, Any]]) -> list[Any]:
    """The rows' geometries (WKB under ``geom``), metric."""
    return list(to_metric(shapely.from_wkb([bytes(r["geom"]) for r in rows]))) if rows else []


def board_data(session: Session, code: str) -> Board:
    """What one micro-grid's board shows (current version)."""
    grid = queries.board_grid(session, code)
    if grid is None:
        raise NotFoundError(f"没有该微网格 (no such micro-grid in the current version): {code!r}")
    gid, ccode = grid["id"], grid["community_code"]
    near = queries.neighbour_grids(session, gid)
    buildings = queries.grid_buildings(session, gid)
    around = queries.buildings_near_grid(session, gid)
    workers = queries.grid_workers(
        session, [code, grid["parent_code"], ccode], [b["code"] for b in buildings]
    )
    floors, neighbour_floors = _floors(session, code, ccode)
    roads = queries.roads_near_grid(session, gid)
    outline = _metric(queries.communities(session, ccode))
    return Board(
        code,
        grid["community_name"],
        grid["parent_name"] or grid["parent_code"],
        int(grid["households"]),
        [b["name"] for b in buildings],
        _people(workers, {b["code"]: b["name"] for b in buildings}),
        _metric([grid])[0],
        [(n["code"], g) for n, g in zip(near, _metric(near), strict=True)],
        [(a["name"], g) for a, g in zip(around, _metric(around), strict=True)],
        floors,
        neighbour_floors,
        [(r["name"] or "", g) for r, g in zip(roads, _metric(roads), strict=True)],
        outline[0] if outline else None,
    )


def _heading(fig: Any, b: Board) -> None:
    """Title, community and compound, code, households, buildings, floors."""
    fig.text(0.5, 0.955, "网格公示牌", ha="center", fontsize=30, weight="bold")
    fig.text(0.5, 0.93, "Grid notice board", ha="center", fontsize=12, color="#555")
    fig.text(0.5, 0.895, f"{b.community} · {b.compound}", ha="center", fontsize=16)
    fig.text(0.08, 0.855, f"网格编码 (code)：{b.code}", fontsize=14)
    fig.text(0.08, 0.83, f"服务户数 (households)：{b.households} 户", fontsize=14)
    fig.text(0.08, 0.805, "楼栋 (buildings)：" + "、".join(b.buildings[:12]), fontsize=11)
    if b.floors:  # floors are not places: the grids of a unit's other floors share its cell
        fig.text(0.08, 0.786, "楼层 (floors)：" + "；".join(b.floors[:3]), fontsize=9)


def _fill(ax: Any, geom: Any, **style: Any) -> None:
    for p in shapely.get_parts(geom):
        x, y = p.exterior.xy
        ax.fill(x, y, **style)


def _base(ax: Any, b: Board, view: tuple[float, float, float, float]) -> None:
    """The base layer, as on the web maps: light roads with their names along them (once per
    road, on its part in view) and the community outline, over the grids' fills."""
    from matplotlib import patheffects

    halo = [patheffects.withStroke(linewidth=2.5, foreground="white")]
    for name, g in b.roads:
        seen = shapely.clip_by_rect(g, *view)
        for part in shapely.get_parts(seen):
            if part.geom_type == "LineString":
                x, y = part.xy
                ax.plot(x, y, color="#d8d2c4", linewidth=4, solid_capstyle="round", zorder=1.5)
        longest = max(shapely.get_parts(seen), key=lambda p: p.length, default=None)
        if not name or longest is None or longest.geom_type != "LineString":
            continue
        if longest.length < 40:
            continue
        a, mid, c = (longest.interpolate(f, normalized=True) for f in (0.45, 0.5, 0.55))
        angle = math.degrees(math.atan2(c.y - a.y, c.x - a.x))
        angle = angle - 180 if angle > 90 else angle + 180 if angle < -90 else angle
        ax.text(
            mid.x,
            mid.y,
            name,
            rotation=angle,
            rotation_mode="anchor",
            ha="center",
            va="center",
            fontsize=7,
            color="#7a705c",
            path_effects=halo,
            zorder=5,
        )
    if b.outline is not None:
        for p in shapely.get_parts(b.outline):
            x, y = p.exterior.xy
            ax.plot(x, y, color="#a39a88", linewidth=1.5, linestyle=(0, (6, 4)), zorder=4)


def _neighbours(ax: Any, b: Board, pad: float) -> None:
    """The neighbouring grids, each labelled once on its part outside this grid."""
    minx, miny, maxx, maxy = b.geometry.bounds
    spots: dict[tuple[float, float], list[str]] = {}
    for code, g in b.neighbours:
        _fill(ax, g, facecolor="#f2f2f2", edgecolor="#888", linewidth=0.8)
        # labelled on its part outside this grid: a grid of the same unit's other floors
        # covers the same cell, and its label would sit on this one (named above instead)
        rest = shapely.difference(g, b.geometry)
        if shapely.area(rest) <= 1e-3 * shapely.area(g):
            continue
        c = shapely.point_on_surface(rest)
        if minx - pad < c.x < maxx + pad and miny - pad < c.y < maxy + pad:
            spots.setdefault((round(c.x, 1), round(c.y, 1)), []).append(code)
    for (x, y), codes in spots.items():  # grids sharing a cell (floor groups): one label
        ax.text(
            x,
            y,
            "\n".join(
                f"{b.neighbour_floors[c]} {short(c)}" if c in b.neighbour_floors else short(c)
                for c in codes
            ),
            ha="center",
            va="center",
            fontsize=7,
            color="#666",
        )


def _map(fig: Any, b: Board) -> None:
    """The grid among its neighbours and the buildings around, a scale bar, a north arrow."""
    ax = fig.add_axes((0.08, 0.36, 0.84, 0.42))
    minx, miny, maxx, maxy = b.geometry.bounds
    pad = max(maxx - minx, maxy - miny) * 0.6 + 20
    _base(ax, b, (minx - pad, miny - pad, maxx + pad, maxy + pad))
    _neighbours(ax, b, pad)
    _fill(ax, b.geometry, facecolor="#f9d9a8", edgecolor="#c0392b", linewidth=2.5)
    for label, g in b.footprints:
        _fill(ax, g, facecolor="#9aa5b1", edgecolor="#444", linewidth=0.5)
        if shapely.intersects(g, b.geometry) and label:
            c = shapely.point_on_surface(g)
            ax.text(c.x, c.y, label, ha="center", va="center", fontsize=8, weight="bold")
    ax.set_xlim(minx - pad, maxx + pad)
    ax.set_ylim(miny - pad, maxy + pad)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    # a 50 m scale bar and a north arrow
    sx, sy = minx - pad * 0.9, miny - pad * 0.85
    ax.plot([sx, sx + 50], [sy, sy], color="k", linewidth=3)
    ax.text(sx + 25, sy + pad * 0.05, "50 米 (m)", ha="center", fontsize=8)
    ax.annotate(
        "北 N",
        xy=(maxx + pad * 0.85, maxy + pad * 0.85),
        xytext=(maxx + pad * 0.85, maxy + pad * 0.55),
        arrowprops={"arrowstyle": "->", "lw": 1.5},
        ha="center",
        fontsize=9,
    )


def _people_table(fig: Any, b: Board) -> None:
    """Who serves the grid (role, name, public phone), and the date printed."""
    fig.text(0.08, 0.325, "服务人员 (who serves this grid)", fontsize=14, weight="bold")
    rows = [[w["role"], w["name"], w["phone"]] for w in b.workers[:14]] or [["—", "—", "—"]]
    table_ax = fig.add_axes((0.08, 0.07, 0.84, 0.24))
    table_ax.axis("off")
    t = table_ax.table(
        cellText=rows,
        colLabels=["职责 (role)", "姓名 (name)", "电话 (phone)"],
        loc="upper center",
        cellLoc="left",
        colWidths=[0.45, 0.2, 0.35],
    )
    t.auto_set_font_size(False)
    t.set_fontsize(10)
    t.scale(1, 1.35)
    fig.text(
        0.5,
        0.035,
        f"如有问题请联系网格员 (questions? call your grid worker) · {date.today():%Y-%m-%d}",
        ha="center",
        fontsize=9,
        color="#555",
    )


def render_board(b: Board, path: Path, *, dpi: int = 150) -> Path:
    """Draw one board (PNG or PDF by the suffix of ``path``), A4 portrait."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    font = cjk_font()
    plt.rcParams["font.family"] = [font]
    plt.rcParams["pdf.fonttype"] = 42
    fig = plt.figure(figsize=A4, dpi=dpi)
    _heading(fig, b)
    _map(fig, b)
    _people_table(fig, b)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


def write_boards(
    session: Session,
    out: Path,
    *,
    community: str | None = None,
    grids: list[str] | None = None,
    fmt: str = "png",
    dpi: int = 150,
    progress: Callable[[int, int], None] | None = None,
) -> list[Path]:
    """A board per micro-grid of the current version (or the given grids)."""
    if fmt not in ("png", "pdf"):
        raise InputError(f"格式应为 png 或 pdf (format must be png or pdf): {fmt!r}")
    cjk_font()
    if grids is None:
        grids = queries.published_micro_grids(session, community)
    done = []
    for i, code in enumerate(grids, 1):
        done.append(render_board(board_data(session, code), out / f"{code}.{fmt}", dpi=dpi))
        if progress:
            progress(i, len(grids))
    return done
