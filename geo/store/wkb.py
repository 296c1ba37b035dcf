"""Geometry to and from the database: WKB rows to the metric CRS; geometries as hex EWKB with
the storage SRID (as COPY and bound parameters take them); metric polygons to storage-CRS
multipolygons (repaired when the transform made one invalid)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import shapely
from shapely import Geometry

from geo.core.crs import from_metric, to_metric
from geo.settings import get_settings

__all__ = ["ewkb", "storage_wkb", "wkb_metric"]


def wkb_metric(rows: Sequence[Any], col: int) -> np.ndarray:
    """The WKB geometries of column ``col`` of ``rows``, in the metric CRS."""
    if not rows:
        return np.empty(0, dtype=object)
    geoms = shapely.from_wkb([bytes(r[col]) for r in rows])
    return to_metric(geoms)


def ewkb(geoms: Sequence[Geometry] | np.ndarray) -> list[str]:
    """Geometries (storage CRS) as hex EWKB with the storage SRID."""
    arr = shapely.set_srid(np.array(geoms, dtype=object), get_settings().storage_srid)
    return list(shapely.to_wkb(arr, hex=True, include_srid=True))


def storage_wkb(geoms: list[Geometry]) -> list[str]:
    """Metric polygons as hex EWKB multipolygons in the storage CRS."""
    back = from_metric(np.asarray(geoms, dtype=object))
    multi = [g if g.geom_type == "MultiPolygon" else shapely.MultiPolygon([g]) for g in back]
    arr = shapely.set_srid(np.asarray(multi, dtype=object), get_settings().storage_srid)
    bad = ~shapely.is_valid(arr)
    if bad.any():  # a transform can make a near-degenerate ring invalid: repair, keep polygons
        for i in np.flatnonzero(bad):
            fixed = shapely.make_valid(arr[i], method="structure", keep_collapsed=False)
            parts = [p for p in shapely.get_parts(fixed) if p.geom_type == "Polygon"]
            arr[i] = shapely.set_srid(shapely.MultiPolygon(parts), get_settings().storage_srid)
    return list(shapely.to_wkb(arr, hex=True, include_srid=True))
