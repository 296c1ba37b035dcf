"""网格公示牌 (grid notice boards): one printable A4 page per micro-grid, as compounds post them
at building entrances — the grid among its neighbours, its code, its household count, and the
names and public phones of the people who serve it (micro-grid worker, building heads,
compound grid worker, community secretary).

Only what a worker made public is printed: a phone the worker did not make public shows as
"—". Household names and phones never appear. Drawn with matplotlib (PNG or PDF) in a CJK
font installed with the system packages (``fonts-noto-cjk``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.core.crs import to_metric
from geo.errors import NotFoundError, SetupError
from geo.store.models import WORKER_ROLES
from geo.store.versions import floor_units

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


def board_data(session: Session, code: str) -> Board:
    """What one micro-grid's board shows (current version)."""
    row = session.execute(
        text(
            "SELECT g.id, g.households, ST_AsBinary(g.boundary), p.id, p.code, p.name, c.code, "
            "c.name FROM grid g JOIN grid_version v ON v.id = g.version_id AND v.status = "
            "'published' JOIN grid p ON p.id = g.parent_id JOIN community c ON "
            "c.id = v.community_id WHERE g.code = :c AND g.level = 'micro'"
        ),
        {"c": code},
    ).first()
    if row is None:
        raise NotFoundError(f"没有该微网格 (no such micro-grid in the current version): {code!r}")
    gid, households, wkb, _, pcode, pname, ccode, cname = row
    geom = to_metric([shapely.from_wkb(bytes(wkb))])[0]
    near = session.execute(
        text(
            "SELECT n.code, ST_AsBinary(n.boundary) FROM grid n JOIN grid g ON g.id = :g WHERE "
            "n.version_id = g.version_id AND n.level = 'micro' AND n.id <> g.id AND "
            "ST_DWithin(n.boundary, g.boundary, 0.0005) ORDER BY n.code"
        ),
        {"g": gid},
    ).all()
    buildings = session.execute(
        text(
            "SELECT DISTINCT b.code, b.name, ST_AsBinary(b.footprint) FROM grid_member m JOIN "
            "building_unit u ON u.id = m.unit_id JOIN building b ON b.id = u.building_id "
            "WHERE m.grid_id = :g ORDER BY b.code"
        ),
        {"g": gid},
    ).all()
    around = session.execute(
        text(
            "SELECT b.name, ST_AsBinary(b.footprint) FROM building b JOIN grid g ON g.id = :g "
            "WHERE ST_DWithin(b.footprint, g.boundary, 0.0006) ORDER BY b.code"
        ),
        {"g": gid},
    ).all()
    codes = [b[0] for b in buildings]
    workers = session.execute(
        text(
            "SELECT role, name, CASE WHEN public_phone THEN phone END, grid_code, building_code "
            "FROM worker WHERE grid_code = ANY(:grids) OR building_code = ANY(:bs) ORDER BY "
            "CASE role WHEN 'micro_grid_worker' THEN 0 WHEN 'building_head' THEN 1 WHEN "
            "'grid_worker' THEN 2 WHEN 'community_secretary' THEN 3 ELSE 4 END, building_code, code"
        ),
        {"grids": [code, pcode, ccode], "bs": codes},
    ).all()
    by_code = {b[0]: b[1] for b in buildings}
    people = []
    for role, name, phone, _grid, building in workers:
        what = WORKER_ROLES.get(role, (role,))[0]
        if building:
            what += f"（{by_code.get(building, building)}）"
        people.append({"role": what, "name": name, "phone": phone or "—"})
    fps = to_metric(shapely.from_wkb([bytes(a[1]) for a in around])) if around else []
    floors, neighbour_floors = [], {}
    for u in floor_units(session=session, community=ccode):
        neighbour_floors |= {g.grid: g.label for g in u.groups if g.grid != code}
        mine = [g for g in u.groups if g.grid == code]
        others = " / ".join(f"{g.label} {_short(g.grid)}" for g in u.groups if g.grid != code)
        if mine:
            floors.append(
                f"{u.building_name}{u.unit_no}单元 {' / '.join(g.label for g in mine)}"
                + (f"（同一位置其他楼层 other floors here: {others}）" if others else "")
            )
    return Board(
        code,
        cname,
        pname or pcode,
        int(households),
        [b[1] for b in buildings],
        people,
        geom,
        [
            (n[0], g)
            for n, g in zip(
                near,
                to_metric(shapely.from_wkb([bytes(n[1]) for n in near])) if near else [],
                strict=True,
            )
        ],
        [(a[0], g) for a, g in zip(around, fps, strict=True)],
        floors,
        neighbour_floors,
    )


def _short(code: str) -> str:
    return code.rsplit("-", 2)[-2] + "-" + code.rsplit("-", 1)[-1]


def render_board(b: Board, path: Path, *, dpi: int = 150) -> Path:
    """Draw one board (PNG or PDF by the suffix of ``path``), A4 portrait."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    font = cjk_font()
    plt.rcParams["font.family"] = [font]
    plt.rcParams["pdf.fonttype"] = 42
    fig = plt.figure(figsize=A4, dpi=dpi)
    fig.text(0.5, 0.955, "网格公示牌", ha="center", fontsize=30, weight="bold")
    fig.text(0.5, 0.93, "Grid notice board", ha="center", fontsize=12, color="#555")
    fig.text(0.5, 0.895, f"{b.community} · {b.compound}", ha="center", fontsize=16)
    fig.text(0.08, 0.855, f"网格编码 (code)：{b.code}", fontsize=14)
    fig.text(0.08, 0.83, f"服务户数 (households)：{b.households} 户", fontsize=14)
    fig.text(0.08, 0.805, "楼栋 (buildings)：" + "、".join(b.buildings[:12]), fontsize=11)
    if b.floors:  # floors are not places: the grids of a unit's other floors share its cell
        fig.text(0.08, 0.786, "楼层 (floors)：" + "；".join(b.floors[:3]), fontsize=9)
    ax = fig.add_axes((0.08, 0.36, 0.84, 0.42))
    minx, miny, maxx, maxy = b.geometry.bounds
    pad = max(maxx - minx, maxy - miny) * 0.6 + 20
    spots: dict[tuple[float, float], list[str]] = {}
    for code, g in b.neighbours:
        for p in shapely.get_parts(g):
            x, y = p.exterior.xy
            ax.fill(x, y, facecolor="#f2f2f2", edgecolor="#888", linewidth=0.8)
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
                f"{b.neighbour_floors[c]} {_short(c)}" if c in b.neighbour_floors else _short(c)
                for c in codes
            ),
            ha="center",
            va="center",
            fontsize=7,
            color="#666",
        )
    for p in shapely.get_parts(b.geometry):
        x, y = p.exterior.xy
        ax.fill(x, y, facecolor="#f9d9a8", edgecolor="#c0392b", linewidth=2.5)
    for label, g in b.footprints:
        for p in shapely.get_parts(g):
            x, y = p.exterior.xy
            ax.fill(x, y, facecolor="#9aa5b1", edgecolor="#444", linewidth=0.5)
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
        from geo.errors import InputError

        raise InputError(f"格式应为 png 或 pdf (format must be png or pdf): {fmt!r}")
    cjk_font()
    if grids is None:
        grids = list(
            session.execute(
                text(
                    "SELECT g.code FROM grid g JOIN grid_version v ON v.id = g.version_id AND "
                    "v.status = 'published' JOIN community c ON c.id = v.community_id WHERE "
                    "g.level = 'micro' AND (CAST(:c AS text) IS NULL OR c.code = :c) ORDER BY g.code"
                ),
                {"c": community},
            ).scalars()
        )
    done = []
    for i, code in enumerate(grids, 1):
        done.append(render_board(board_data(session, code), out / f"{code}.{fmt}", dpi=dpi))
        if progress:
            progress(i, len(grids))
    return done
