"""The edits that hand buildings and areas between grids: move, split, merge, lock."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import shapely
import shapely.ops
from shapely import Geometry
from sqlalchemy.orm import Session

from geo.core.crs import to_metric
from geo.errors import GeometryError, InputError
from geo.plans.drawn import parse_drawn
from geo.plans.engine import _edit, _micro, _new_code
from geo.plans.geometry import _metric_area, _refuse_cutting_floor_cells, _unit_region
from geo.plans.state import TOL_M2, EditRefused, G, Member, _clean, _Context


def move(
    session: Session, plan_id: int, *, buildings: Sequence[str], to: str, actor: str
) -> dict[str, Any]:
    """Move buildings or building units (``<building>-U<n>``) into micro-grid ``to``; the
    area they stand on (their cells of the tessellation) goes with them."""
    if not buildings:
        raise InputError("请给出要移动的楼栋或单元 (name the buildings or units to move)")

    def fn(ctx: _Context, state: dict[str, G]) -> dict[str, Any]:
        target = _micro(state, to)
        uids = ctx.units_of(buildings)
        sources = [
            g for g in state.values() if g.level == "micro" and any(m[0] in uids for m in g.members)
        ]
        if not sources:
            raise InputError(
                f"这些楼栋不在任何微网格 (none of {list(buildings)} is in a micro-grid)"
            )
        for s in sources:
            if s.locked:
                raise EditRefused(f"网格 {s.code} 已锁定 (grid {s.code} is locked)")
            if s.parent != target.parent:
                raise EditRefused(
                    f"{s.code} 与 {to} 不在同一网格 {target.parent} 内：跨网格移动会改变上级网格边界 "
                    f"(moving from {s.code} to {to} crosses compound grids; compound grids follow "
                    "the compounds)"
                )
        region = _unit_region(ctx, sources, uids)
        moved_hh = 0
        for s in sources:
            if s is target:
                continue
            # every member of a named unit goes: the floor groups of a unit split by floors
            # move together, with the unit's cell
            go = [m for m in s.members if m[0] in uids]
            s.members = [m for m in s.members if m[0] not in uids]
            target.members += go
            for u in {m[0] for m in go} & set(s.cells):
                target.cells[u] = s.cells.pop(u)
            moved_hh += sum(m[3] for m in go)
            piece = shapely.intersection(s.geom, region)
            s.touch(shapely.difference(s.geom, piece))
            target.geom = shapely.union_all([target.geom, piece])
        target.members.sort(key=lambda m: (m[0], m[1] or 0))
        target.touch(target.geom)
        removed = [s.code for s in sources if s is not target and not s.members]
        for code in removed:  # a grid left with no building is absorbed by the target
            target.geom = shapely.union_all([target.geom, state[code].geom])
            del state[code]
        target.touch(target.geom)
        return {
            "moved_households": moved_hh,
            "from": sorted(s.code for s in sources if s is not target),
            "to": to,
            "removed": removed,
            "changed": sorted({to} | {s.code for s in sources} - set(removed)),
        }

    return _edit(session, plan_id, "move", {"buildings": list(buildings), "to": to}, actor, fn)


def split(
    session: Session,
    plan_id: int,
    *,
    grid: str,
    line: Any = None,
    buildings: Sequence[str] | None = None,
    crs: str | None = None,
    actor: str,
) -> dict[str, Any]:
    """Split a micro-grid in two, by a drawn line across it or by a list of its buildings
    (they form the new grid, with their share of the area)."""
    if (line is None) == (not buildings):
        raise InputError("请给出分割线或楼栋清单之一 (give either a line or a building list)")
    cut = parse_drawn(line, crs, kinds=("LineString", "MultiLineString")) if line else None

    def fn(ctx: _Context, state: dict[str, G]) -> dict[str, Any]:
        g = _micro(state, grid)
        code = _new_code(session, ctx.plan, state, g.parent or "")
        new = G(code, "micro", g.parent, None, g.compound_id, 0, False, shapely.MultiPolygon())
        if cut is not None:
            _split_by_line(ctx, state, g, new, cut)
        else:
            _split_by_units(ctx, g, new, buildings or [])
        state[code] = new
        g.touch(g.geom)
        new.touch(new.geom)
        if not new.members or not g.members:
            raise EditRefused(
                f"分割后有一块没有楼栋 (one side of the split holds no building: "
                f"{grid} {g.households} / {code} {new.households} households)"
            )
        return {
            "grid": grid,
            "new": code,
            "households": {grid: g.households, code: new.households},
            "changed": [grid, code],
        }

    return _edit(
        session,
        plan_id,
        "split",
        {"grid": grid, "buildings": list(buildings or []), "line": bool(line), "crs": crs},
        actor,
        fn,
    )


def _split_by_line(ctx: _Context, state: dict[str, G], g: G, new: G, cut: Geometry) -> None:
    """Cut ``g`` in two along ``cut``: each unit goes to the side holding most of its share
    of the area; ``g`` keeps the side with more households, ``new`` takes the other."""
    halves = [
        p
        for p in shapely.get_parts(shapely.ops.split(shapely.union_all([g.geom]), cut))
        if _metric_area(p) > TOL_M2
    ]
    if len(halves) != 2:
        raise GeometryError(
            f"分割线应把网格 {g.code} 分成两块，实际 {len(halves)} 块 (the line must cut "
            f"{g.code} into two pieces, it makes {len(halves)})"
        )
    _refuse_cutting_floor_cells(ctx, state, [g], cut, ("分割线", "the line"))
    cells = ctx.cells | g.cells
    mine: list[Member] = []
    theirs: list[Member] = []
    for m in g.members:
        cell = cells.get(m[0], shapely.MultiPolygon())
        a = [float(shapely.area(shapely.intersection(cell, h))) for h in halves]
        (mine if a[0] >= a[1] else theirs).append(m)
    if sum(m[3] for m in theirs) > sum(m[3] for m in mine):
        mine, theirs, halves = theirs, mine, halves[::-1]
    g.members, new.members = mine, theirs
    g.geom, new.geom = _clean(halves[0]), _clean(halves[1])
    for u in {m[0] for m in theirs} & set(g.cells):
        new.cells[u] = g.cells.pop(u)


def _split_by_units(ctx: _Context, g: G, new: G, buildings: Sequence[str]) -> None:
    """Move the named buildings or units of ``g``, with the area they stand on, to ``new``."""
    uids = ctx.units_of(buildings)
    held = {m[0] for m in g.members}
    stray = sorted({ctx.unit_building[u] for u in uids - held})
    if stray:
        raise InputError(f"这些楼栋不在网格 {g.code} 内 (not in {g.code}): {', '.join(stray)}")
    region = shapely.intersection(g.geom, _unit_region(ctx, [g], uids))
    new.members = [m for m in g.members if m[0] in uids]
    g.members = [m for m in g.members if m[0] not in uids]
    for u in uids & set(g.cells):
        new.cells[u] = g.cells.pop(u)
    if not g.members:
        raise EditRefused(
            f"清单包含网格 {g.code} 的全部楼栋 (the list holds every building of {g.code})"
        )
    g.geom = _clean(shapely.difference(g.geom, region))
    new.geom = _clean(region)


def merge_grids(
    session: Session, plan_id: int, *, grids: Sequence[str], actor: str
) -> dict[str, Any]:
    """Merge two adjacent micro-grids of the same parent; the smaller code is kept."""
    if len(set(grids)) != 2:
        raise InputError(f"合并需要两个不同的网格 (merge needs two different grids): {list(grids)}")

    def fn(ctx: _Context, state: dict[str, G]) -> dict[str, Any]:
        a, b = sorted((_micro(state, c) for c in grids), key=lambda g: g.code)
        if a.parent != b.parent:
            raise EditRefused(
                f"{a.code} 与 {b.code} 上级网格不同 (they belong to different parents: "
                f"{a.parent}, {b.parent})"
            )
        shared = to_metric(
            [shapely.intersection(shapely.boundary(a.geom), shapely.boundary(b.geom))]
        )[0]
        if float(shapely.length(shared)) < 0.5:
            raise EditRefused(f"{a.code} 与 {b.code} 不相邻 (the grids are not adjacent)")
        a.members = sorted(a.members + b.members, key=lambda m: (m[0], m[1] or 0))
        a.cells.update(b.cells)
        a.touch(shapely.union_all([a.geom, b.geom]))
        del state[b.code]
        return {
            "kept": a.code,
            "removed": [b.code],
            "households": a.households,
            "changed": [a.code],
        }

    return _edit(session, plan_id, "merge", {"grids": list(grids)}, actor, fn)


def lock(
    session: Session, plan_id: int, *, grids: Sequence[str], locked: bool = True, actor: str
) -> dict[str, Any]:
    """Lock (or unlock) micro-grids: other edits and re-partitioning leave them as they are."""

    def fn(ctx: _Context, state: dict[str, G]) -> dict[str, Any]:
        for c in grids:
            g = _micro(state, c, unlocked=False)
            g.locked = locked
            g.dirty = True
        return {"locked" if locked else "unlocked": sorted(grids), "changed": sorted(grids)}

    return _edit(
        session, plan_id, "lock" if locked else "unlock", {"grids": list(grids)}, actor, fn
    )
