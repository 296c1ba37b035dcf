"""Checks of areas against their neighbours: no two overlap, in the file or against the
stored ones."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.core.crs import to_metric
from geo.errors import RowProblem
from geo.io.checks.parents import Found
from geo.settings import get_settings
from geo.store.layers import LayerSpec

__all__ = ["check_overlaps", "stored_areas"]


def stored_areas(session: Session, table: str, col: str, geoms: np.ndarray) -> Found:
    """Stored areas of ``table`` that intersect the bounding box of ``geoms``."""
    present = [g for g in geoms if g is not None]
    if not present:
        return {}
    x0, y0, x1, y1 = shapely.total_bounds(np.array(present, dtype=object))
    res = session.execute(
        text(
            f"SELECT code, id, ST_AsBinary({col}) FROM {table} "
            f"WHERE {col} && ST_MakeEnvelope(:x0, :y0, :x1, :y1, :srid)"
        ),
        {"x0": x0, "y0": y0, "x1": x1, "y1": y1, "srid": get_settings().storage_srid},
    ).all()
    return {c: (i, shapely.from_wkb(bytes(w))) for c, i, w in res}


def check_overlaps(
    geoms: np.ndarray,
    rows: Sequence[dict[str, Any]],
    spec: LayerSpec,
    stored: Found,
    problems: list[RowProblem],
    *,
    what: str,
) -> None:
    """No two areas (in the file, or the file against stored ones) may overlap by more than
    ``overlap_tolerance_m2``. Both rows of an overlapping pair in the file are named, each
    with the other's key and the area of the overlap (m², in the metric CRS)."""
    idx = [i for i, g in enumerate(geoms) if g is not None]
    if not idx:
        return
    found = _overlapping(geoms, idx, [rows[i].get(spec.key) for i in idx], stored)
    for row, other, area, is_stored in sorted(found, key=lambda f: (f[0], str(f[1]))):
        where = ("已存储的", "stored ") if is_stored else ("本文件中的", "")
        tail = "" if is_stored else " in this file"
        problems.append(
            RowProblem(
                row,
                rows[row].get(spec.key),
                "geometry",
                f"与{where[0]}{what} {other!r} 重叠 {area:.1f} m² "
                f"(overlaps {where[1]}{what} {other!r}{tail} by {area:.1f} m²)",
                reason="overlap",
            )
        )


def _overlapping(
    geoms: np.ndarray, idx: list[int], names: list[Any], stored: Found
) -> list[tuple[int, Any, float, bool]]:
    """(row, the other's key, m², whether the other is stored) for each overlap over the
    tolerance; a pair in the file is listed from both sides."""
    tol = get_settings().overlap_tolerance_m2
    mine = to_metric(geoms[idx])
    others = list(stored.items())
    pool = np.concatenate([mine, to_metric(np.array([g for _, (_, g) in others], dtype=object))])
    pool_names = names + [c for c, _ in others]
    tree = shapely.STRtree(pool)
    left, right = tree.query(mine, predicate="intersects")
    keep = (right >= len(mine)) | (right > left)  # each pair in the file once
    left, right = left[keep], right[keep]
    areas = shapely.area(shapely.intersection(mine[left], pool[right]))
    found: list[tuple[int, Any, float, bool]] = []
    for a, b, area in zip(left, right, areas, strict=True):
        if area <= tol:
            continue
        if b < len(mine):
            found.append((idx[a], names[b], area, False))
            found.append((idx[b], names[a], area, False))
        elif pool_names[b] != names[a]:  # the same key stored is reported as such
            found.append((idx[a], pool_names[b], area, True))
    return found
