"""The invariants on a draft: the partition validator run on its grids (in the metric CRS).

:func:`_check` runs it on the whole draft (validate, publish). An edit changes the micro-grids
of one parent and the units they hold, so the edit engine checks only those
(:func:`_check_parents`, with the validator's own checks), before and after the edit: every
other finding is the same before and after, and only new errors refuse an edit."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import shapely
from shapely import Geometry

from geo.core.crs import to_metric
from geo.core.validate import (
    Finding,
    GridRecord,
    ValidationReport,
    check_band,
    check_contiguity,
    check_coverage,
    check_households,
    check_structure,
    validate_grids,
)
from geo.plans.state import TOL_M2, G, _clean, _Context


def _records(state: dict[str, G]) -> list[GridRecord]:
    geoms = to_metric([g.geom for g in state.values()])
    # a geometry valid where it is stored (checked by PostGIS) can come out of the projection
    # with a vertex a hair across an edge: repair that here, where it is only measured
    # (slivers of less than the tolerance it leaves behind are measurement noise)
    bad = ~shapely.is_valid(geoms)
    for i in np.flatnonzero(bad):
        parts = [p for p in shapely.get_parts(_clean(geoms[i])) if p.area >= TOL_M2]
        geoms[i] = shapely.MultiPolygon(parts) if parts else _clean(geoms[i])
    cells = [_metric_cells(g) for g in state.values()]
    return [
        GridRecord(g.code, g.level, g.parent, m, g.households, list(g.members), cells=c)
        for g, m, c in zip(state.values(), geoms, cells, strict=True)
    ]


def _metric_cells(g: G) -> dict[int, Geometry]:
    """The grid's floor-split units' cells in the metric CRS (for the validator)."""
    held = {m[0] for m in g.members if m[1] is not None}
    uids = [u for u in g.cells if u in held]
    if not uids:
        return {}
    return dict(zip(uids, to_metric([g.cells[u] for u in uids]), strict=True))


def _check(ctx: _Context, state: dict[str, G]) -> ValidationReport:
    return validate_grids(
        _records(state),
        units=ctx.inp.units,
        households=ctx.inp.households,
        min_households=ctx.lo,
        max_households=ctx.hi,
        tolerance_m2=TOL_M2,
    )


def _key(f: Finding) -> tuple[str, str | None]:
    return (f.check, f.grid)


def _touched(before: dict[str, G], after: dict[str, G]) -> set[str] | None:
    """The codes of the parents whose micro-grids an edit changed, added or removed; None
    when it changed a grid that is not a micro-grid (then only the full check will do)."""
    parents: set[str] = set()
    for code in set(before) | set(after):
        a, b = before.get(code), after.get(code)
        if a is not None and b is not None and not _changed(a, b):
            continue
        for g in (a, b):
            if g is None:
                continue
            if g.level != "micro":
                return None
            parents.add(g.parent or "")
    return parents


def _changed(a: G, b: G) -> bool:
    return (
        b.dirty
        or a.geom is not b.geom
        or a.members != b.members
        or a.households != b.households
        or a.parent != b.parent
        or a.level != b.level
        or a.cells.keys() != b.cells.keys()
        or any(a.cells[u] is not b.cells[u] for u in a.cells)
    )


def _check_parents(
    ctx: _Context, state: dict[str, G], parents: set[str], units: set[int]
) -> list[Finding]:
    """The errors :func:`_check` finds on the micro-grids of ``parents`` (nesting, coverage,
    contiguity, their household counts) and on ``units`` (each in exactly one micro-grid,
    every household of theirs once) — the same findings, from the same code, on fewer
    grids. Grids above the micro-grids are not checked: the edits never change them."""
    sub = {
        c: g
        for c, g in state.items()
        if c in parents or (g.level == "micro" and g.parent in parents) or g.level == "community"
    }
    records = _records(sub)
    by_code = {r.code: r for r in records}
    findings, children = check_structure(records, by_code)
    for r in records:
        if r.level == "micro":
            findings += check_contiguity(r)
    for p in sorted(parents):
        if p in by_code and children.get(p):
            findings += check_coverage(by_code[p], children[p], TOL_M2)
    findings += check_band([r for r in records if r.level == "micro"], ctx.lo, ctx.hi)
    # the units' holders: these micro-grids, and any other holding one of the units
    holders = _light(
        g
        for g in state.values()
        if g.level == "micro" and (g.parent in parents or any(m[0] in units for m in g.members))
    )
    held = {u: ctx.inp.units[u] for u in units if u in ctx.inp.units}
    findings += check_households(holders, held, ctx.data.households_in(units))
    return [f for f in findings if f.severity == "error"]


def _light(grids: Iterable[G]) -> list[GridRecord]:
    """Micro-grids as records without geometry (for the household checks)."""
    empty = shapely.MultiPolygon()
    return [GridRecord(g.code, g.level, g.parent, empty, g.households, g.members) for g in grids]


def _warnings(ctx: _Context, state: dict[str, G]) -> int:
    """How many warnings :func:`_check` gives on the draft: those of the band (micro-grids
    outside it) and of floors in no micro-grid (units split by floors); the other checks
    give errors only."""
    lo, hi = ctx.lo, ctx.hi
    micro = [g for g in state.values() if g.level == "micro"]
    band = sum(1 for g in micro if not lo <= g.households <= hi)
    split = {m[0] for g in micro for m in g.members if m[1] is not None}
    if not split:
        return band
    holders = _light(g for g in micro if any(m[0] in split for m in g.members))
    units = {u: ctx.inp.units[u] for u in split if u in ctx.inp.units}
    return band + sum(1 for f in check_households(holders, units, ()) if f.severity == "warning")


def _units_of(state: dict[str, G], parents: set[str]) -> set[int]:
    return {
        m[0]
        for g in state.values()
        if g.level == "micro" and g.parent in parents
        for m in g.members
    }
