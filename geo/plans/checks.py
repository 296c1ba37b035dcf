"""The invariants on a draft: the partition validator run on its grids (in the metric CRS)."""

from __future__ import annotations

import numpy as np
import shapely
from shapely import Geometry

from geo.core.crs import to_metric
from geo.core.validate import Finding, GridRecord, ValidationReport, validate_grids
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
