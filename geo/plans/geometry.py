"""Geometry the edits share: areas in metres, the pieces of a grid, the neighbour a piece
borders most, the cells of units split by floors, and handing buildings to the grid that
holds most of their footprint."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import shapely
from shapely import Geometry

from geo.core.crs import from_metric, to_metric
from geo.plans.state import TOL_M2, EditRefused, G, Member, _clean, _Context


def _metric_area(g: Geometry) -> float:
    return float(shapely.area(to_metric([g])[0]))


def _parent(state: dict[str, G], g: G) -> G:
    return state[g.parent or ""]


def _minor_lobes(geom: Geometry) -> list[Geometry]:
    """All but the largest piece of a grid, in the storage CRS — pieces as measured in
    metres, so that two lobes joined by a neck thinner than a hair count as two."""
    m = to_metric([geom])[0]
    if not shapely.is_valid(m):
        m = _clean(m)
    parts = sorted(
        (p for p in shapely.get_parts(m) if p.area >= TOL_M2), key=lambda p: p.area, reverse=True
    )
    if len(parts) <= 1:
        return []
    out = []
    for p in parts[1:]:
        near = from_metric([shapely.buffer(p, 0.01)])[0]
        piece = _clean(shapely.intersection(geom, near))
        if not piece.is_empty:
            out.append(piece)
    return out


def _siblings(state: dict[str, G], parent: str) -> list[G]:
    return [x for x in state.values() if x.level == "micro" and x.parent == parent]


def _most_bordered(piece: Geometry, grids: Sequence[G]) -> G | None:
    """The grid sharing the longest border with ``piece`` (None when it touches none)."""
    border = [
        float(shapely.length(shapely.intersection(shapely.boundary(piece), g.geom))) for g in grids
    ]
    if not border or max(border) <= 0:
        return None
    return grids[int(np.argmax(border))]


def _coalesce_floors(ctx: _Context, g: G) -> None:
    """Floor ranges of one unit that an edit brought into one grid become one range; all of
    them, the whole unit again (the unit is no longer split by floors: its cell is just the
    grid's). So a grid never holds two ranges of a unit side by side, and locating never
    lists a grid as its own co-owner."""
    ranges: dict[int, list[Member]] = defaultdict(list)
    for m in g.members:
        if m[1] is not None:
            ranges[m[0]].append(m)
    if not any(len(ms) > 1 for ms in ranges.values()):
        return
    out = [m for m in g.members if m[1] is None]
    for uid, ms in ranges.items():
        ms.sort(key=lambda m: m[1] or 0)
        joined = [ms[0]]
        for m in ms[1:]:
            last = joined[-1]
            if last[2] is not None and m[1] == last[2] + 1:
                joined[-1] = (uid, last[1], m[2], last[3] + m[3])
            else:
                joined.append(m)
        unit = ctx.inp.units.get(uid)
        top = joined[0][2]
        whole = (
            unit is not None
            and len(joined) == 1
            and joined[0][1] == 1
            and top is not None
            and top >= unit.floors
            and joined[0][3] == unit.households
        )
        if whole:
            out.append((uid, None, None, joined[0][3]))
            g.cells.pop(uid, None)
        else:
            out += joined
    g.members = sorted(out, key=lambda m: (m[0], m[1] or 0))
    g.touch()


def _unit_region(ctx: _Context, grids: Sequence[G], uids: Iterable[int]) -> Geometry:
    """The area the units stand on (storage CRS): the stored cell of a unit split by floors,
    else its cell of the partitioner's tessellation."""
    stored = {u: c for g in grids for u, c in g.cells.items()}
    cells = ctx.cells
    parts = [stored.get(u, cells.get(u)) for u in uids]
    return shapely.union_all([p for p in parts if p is not None])


def _refuse_cutting_floor_cells(
    ctx: _Context,
    state: dict[str, G],
    grids: Sequence[G],
    shape: Geometry,
    what: tuple[str, str],
) -> None:
    """Refuse an edit whose line or changed area passes through the cell of a unit split by
    floors: its floor groups share that cell whole (floors are not places); the unit is
    moved whole instead (``move``)."""
    ub = ctx.unit_building
    inside_m = to_metric([shape])[0]
    for g in grids:
        for uid, cell in sorted(g.cells.items()):
            core = shapely.buffer(to_metric([cell])[0], -0.05)
            hit = shapely.intersection(inside_m, core)
            if float(shapely.area(hit)) > TOL_M2 or float(shapely.length(hit)) > 0.05:
                unit = ctx.inp.units.get(uid)
                name = f"{ub.get(uid, '?')}-U{unit.unit_no if unit else '?'}"
                holders = sorted(
                    f"{x.code} {m[1]}–{m[2]}层"
                    for x in state.values()
                    if x.level == "micro" and uid in x.cells
                    for m in x.members
                    if m[0] == uid
                )
                raise EditRefused(
                    f"{what[0]}穿过按楼层划分的单元 {name} ({', '.join(holders)})：楼层不是地块，"
                    f"请整体移动该单元 ({what[1]} passes through unit {name}, split by floors; its "
                    "floor groups share one cell — move the unit whole instead)",
                    detail=[{"check": "floors", "grid": g.code, "unit": name}],
                )


def _owner_by_footprint(fp: Geometry, grids: Sequence[G]) -> G | None:
    shares = [float(shapely.area(shapely.intersection(fp, g.geom))) for g in grids]
    if not shares or max(shares) <= 0:
        return None
    return grids[int(np.argmax(shares))]


def _reassign_members(
    ctx: _Context, changed: Sequence[G], grids: Sequence[G], moved_area: Geometry
) -> dict[str, Any]:
    """Atoms of buildings whose footprint meets ``moved_area`` go to the grid (among
    ``grids``) that holds most of the footprint; the others stay where they are."""
    ub = ctx.unit_building
    fps = ctx.footprints
    moves: dict[str, list[str]] = defaultdict(list)
    for g in changed:
        keep = []
        for m in g.members:
            b = ub[m[0]]
            fp = fps[b]
            target = g
            if shapely.intersects(fp, moved_area):
                target = _owner_by_footprint(fp, grids) or g
            if target is g:
                keep.append(m)
            else:
                target.members.append(m)
                target.dirty = True
                moves[target.code].append(b)
        g.members = keep
    for g in grids:
        g.members.sort(key=lambda m: (m[0], m[1] or 0))
        g.touch()
    return {code: sorted(set(bs)) for code, bs in moves.items()}
