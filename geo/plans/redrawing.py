"""Redrawing a micro-grid's boundary: the drawn polygon, clipped to the parent grid, and what
the neighbours give up and take."""

from __future__ import annotations

from typing import Any

import shapely
from shapely import Geometry
from sqlalchemy.orm import Session

from geo.errors import GeometryError
from geo.plans.drawn import parse_drawn
from geo.plans.engine import _edit, _micro
from geo.plans.geometry import (
    _metric_area,
    _minor_lobes,
    _most_bordered,
    _parent,
    _reassign_members,
    _refuse_cutting_floor_cells,
    _siblings,
)
from geo.plans.state import TOL_M2, EditRefused, G, _clean, _Context


def redraw(
    session: Session, plan_id: int, *, grid: str, geometry: Any, crs: str | None, actor: str
) -> dict[str, Any]:
    """Replace a micro-grid's boundary with a drawn polygon (clipped to its parent grid);
    the neighbours give up what it now covers and take what it left; buildings go to the
    grid holding most of their footprint."""
    drawn = parse_drawn(geometry, crs, kinds=("Polygon", "MultiPolygon"))

    def fn(ctx: _Context, state: dict[str, G]) -> dict[str, Any]:
        g = _micro(state, grid)
        parent, new, total = _clip_to_parent(state, g, drawn)
        sibs = [s for s in _siblings(state, parent.code) if s is not g]
        old = g.geom
        changed = _take_covered(sibs, new)
        g.geom = new
        changed |= _hand_over_left(g, sibs, shapely.difference(old, new))
        changed |= _hand_over_lobes(g, sibs, changed)
        changed.discard(grid)
        moved_area = shapely.symmetric_difference(old, g.geom)
        involved = [g] + [s for s in sibs if s.code in changed]
        _refuse_cutting_floor_cells(
            ctx, state, involved, moved_area, ("所画边界", "the drawn boundary")
        )
        moves = _reassign_members(
            ctx, involved, [x for x in involved if not x.geom.is_empty], moved_area
        )
        for x in involved:
            x.touch(x.geom)
        removed = [x.code for x in involved if x.geom.is_empty or (not x.members and x is not g)]
        changed |= _absorb_removed(state, g, sibs, removed)
        return {
            "grid": grid,
            "area_m2": round(_metric_area(g.geom), 1),
            "clipped_m2": round(total - _metric_area(new), 1),
            "moved_buildings": moves,
            "changed": sorted({grid} | changed - set(removed)),
            "removed": removed,
        }

    return _edit(session, plan_id, "redraw", {"grid": grid, "crs": crs}, actor, fn)


def _clip_to_parent(state: dict[str, G], g: G, drawn: Geometry) -> tuple[G, Geometry, float]:
    """The drawn boundary clipped to the grid's parent: (parent, clipped boundary, drawn
    area in m²). Refused when it lies mostly outside the community or misses the parent."""
    parent = _parent(state, g)
    community = next(x for x in state.values() if x.level == "community")
    inside = _metric_area(shapely.intersection(drawn, community.geom))
    total = _metric_area(drawn)
    if inside < 0.5 * total:
        raise GeometryError(
            f"所画边界大部分在社区之外 (the drawn boundary lies mostly outside the community "
            f"{community.code}: {inside:.0f} of {total:.0f} m² inside)"
        )
    new = _clean(shapely.intersection(drawn, parent.geom))
    if _metric_area(new) < 1.0 or not shapely.intersects(new, parent.geom):
        raise GeometryError(
            f"所画边界与上级网格 {parent.code} 不相交 (the drawn boundary does not overlap "
            f"its parent grid {parent.code})"
        )
    return parent, new, total


def _take_covered(sibs: list[G], new: Geometry) -> set[str]:
    """The neighbours give up what the new boundary covers (refused when one of them is
    locked); their codes."""
    taken = []
    for s in sibs:
        cut = _metric_area(shapely.intersection(s.geom, new))
        if cut > TOL_M2:
            if s.locked:
                raise EditRefused(
                    f"所画边界覆盖了已锁定网格 {s.code} 的 {cut:.0f} m² (the drawn boundary "
                    f"takes {cut:.0f} m² of locked grid {s.code})"
                )
            taken.append(s)
    for s in taken:
        s.geom = _clean(shapely.difference(s.geom, new))
    return {s.code for s in taken}


def _hand_over_left(g: G, sibs: list[G], left: Geometry) -> set[str]:
    """What the grid gave up goes, piece by piece, to the neighbour it borders most (a piece
    no neighbour borders is enclosed: it stays with the grid); the neighbours' codes."""
    changed = set()
    pieces = [p for p in shapely.get_parts(_clean(left)) if _metric_area(p) > TOL_M2]
    alive = [s for s in sibs if not s.geom.is_empty]
    for p in pieces:
        best = _most_bordered(p, alive)
        if best is None:
            g.geom = shapely.union_all([g.geom, p])
            continue
        if best.locked:
            raise EditRefused(
                f"让出的区域只能并入已锁定网格 {best.code} (the area given up would go to "
                f"locked grid {best.code})"
            )
        best.geom = shapely.union_all([best.geom, p])
        changed.add(best.code)
    return changed


def _hand_over_lobes(g: G, sibs: list[G], cut: set[str]) -> set[str]:
    """A neighbour (among ``cut``) the new boundary cut in pieces keeps its largest; the
    others go to the grid they border most (usually the redrawn one); the receivers' codes."""
    changed = set()
    for s in [x for x in sibs if x.code in cut]:
        for p in _minor_lobes(s.geom):
            s.geom = _clean(shapely.difference(s.geom, p))
            others = [g] + [x for x in sibs if x is not s and not x.geom.is_empty]
            best = _most_bordered(p, others) or others[0]
            if best.locked:
                raise EditRefused(
                    f"网格 {s.code} 被切下的部分只能并入已锁定网格 {best.code} (a piece cut "
                    f"off {s.code} would go to locked grid {best.code})"
                )
            best.geom = _clean(shapely.union_all([best.geom, p]))
            changed.add(best.code)
    return changed


def _absorb_removed(state: dict[str, G], g: G, sibs: list[G], removed: list[str]) -> set[str]:
    """Drop the grids the redraw left without area or buildings (refused when one still holds
    buildings); the area left of each goes, piece by piece, to the grid it borders most: the
    redrawn one, or another neighbour when it does not touch that one. The receivers' codes."""
    changed = set()
    for code in removed:
        leftover = state[code]
        if leftover.members:
            raise EditRefused(
                f"网格 {code} 会失去全部面积但仍有楼栋 (grid {code} would lose all its area "
                "but still hold buildings)"
            )
        del state[code]
        others = [g] + [x for x in sibs if x.code in state and not x.geom.is_empty]
        for p in shapely.get_parts(_clean(leftover.geom)):
            if _metric_area(p) <= TOL_M2:
                continue
            best = _most_bordered(p, others) or g
            if best.locked:
                raise EditRefused(
                    f"网格 {code} 剩下的区域只能并入已锁定网格 {best.code} (what is left of "
                    f"{code} would go to locked grid {best.code})"
                )
            best.geom = _clean(shapely.union_all([best.geom, p]))
            best.touch(best.geom)
            changed.add(best.code)
    return changed
