"""Checks of a file's geometries, row by row: present, of the layer's type, plausible
coordinates for the CRS given, valid (before and after the transformation to the storage CRS).
"""

from __future__ import annotations

from collections.abc import Sequence, Set
from typing import Any

import numpy as np
import shapely

from geo.core.crs import CrsSpec, check_lonlat, transform_geometries
from geo.errors import CRSError, RowProblem
from geo.store.layers import LayerSpec

__all__ = ["check_geometry"]


def check_geometry(
    geoms: np.ndarray | None,
    src: CrsSpec | None,
    spec: LayerSpec,
    rows: Sequence[dict[str, Any]],
    problems: list[RowProblem],
    *,
    skip: Set[int] = frozenset(),
) -> np.ndarray:
    """Check raw geometries and return them in the storage CRS (areas as MultiPolygon, lines
    as MultiLineString); rows with a problem get None. Rows in ``skip`` are left out (their
    coordinates could not be read, which is reported already)."""
    out = np.full(len(rows), None, dtype=object)
    if spec.geom == "none":
        return out
    if geoms is None:
        if not spec.geom_optional:
            problems.append(
                RowProblem(
                    -1,
                    None,
                    "geometry",
                    "文件没有几何 (the file has no geometry)",
                    reason="no_geometry",
                )
            )
        return out
    key = [r.get(spec.key) for r in rows]
    ok = _present(geoms, spec, key, problems, skip)
    if src is None:
        if ok.any():
            raise CRSError("未指定坐标系 (no CRS given for the geometries)")
        return out
    idx = _plausible(geoms, np.flatnonzero(ok), src, key, problems)
    idx = _valid(geoms, idx, key, problems)
    if idx.size == 0:
        return out
    transformed = _as_multi(transform_geometries(geoms[idx], src), spec)
    # a transformation can make a valid ring invalid (rare, near-degenerate rings)
    still = shapely.is_valid(transformed)
    for i, g in zip(idx[~still], transformed[~still], strict=True):
        problems.append(
            RowProblem(
                int(i),
                key[i],
                "geometry",
                f"转换坐标后几何无效 (invalid after transformation): {shapely.is_valid_reason(g)}",
                reason="invalid_geometry",
            )
        )
    out[idx[still]] = transformed[still]
    return out


def _present(
    geoms: np.ndarray, spec: LayerSpec, key: list[Any], problems: list[RowProblem], skip: Set[int]
) -> np.ndarray:
    """Which rows have a geometry of the layer's type (Z dropped, in place)."""
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    ok = np.zeros(len(key), dtype=bool)
    for i in range(len(key)):
        if i in skip:
            continue
        if missing[i]:
            if not spec.geom_optional:
                problems.append(
                    RowProblem(
                        i, key[i], "geometry", "几何为空 (empty geometry)", reason="empty_geometry"
                    )
                )
            continue
        name = geoms[i].geom_type
        if name not in spec.geometry_types:
            problems.append(
                RowProblem(
                    i,
                    key[i],
                    "geometry",
                    f"几何类型错误 (wrong geometry type) {name}; "
                    f"应为 (expected) {' / '.join(spec.geometry_types)}",
                    reason="geometry_type",
                )
            )
            continue
        if shapely.has_z(geoms[i]):
            geoms[i] = shapely.force_2d(geoms[i])
        ok[i] = True
    return ok


def _plausible(
    geoms: np.ndarray, idx: np.ndarray, src: CrsSpec, key: list[Any], problems: list[RowProblem]
) -> np.ndarray:
    """The rows of ``idx`` whose every vertex makes sense in the CRS given (raw coordinates);
    each other row is reported once."""
    if idx.size == 0:
        return idx
    coords, owner = shapely.get_coordinates(geoms[idx], return_index=True)
    bad_rows: set[int] = set()
    for j, problem in check_lonlat(coords[:, 0], coords[:, 1], src):
        row = int(idx[owner[j]])
        if row not in bad_rows:
            bad_rows.add(row)
            problems.append(RowProblem(row, key[row], "geometry", problem, reason="coordinates"))
    return np.array([i for i in idx if i not in bad_rows], dtype=int)


def _valid(
    geoms: np.ndarray, idx: np.ndarray, key: list[Any], problems: list[RowProblem]
) -> np.ndarray:
    """The rows of ``idx`` whose geometry is valid; the others are reported with the reason."""
    if idx.size == 0:
        return idx
    valid = shapely.is_valid(geoms[idx])
    for i in idx[~valid]:
        reason = shapely.is_valid_reason(geoms[i])
        problems.append(
            RowProblem(
                int(i),
                key[i],
                "geometry",
                f"几何无效 (invalid geometry): {reason}",
                reason="invalid_geometry",
            )
        )
    return np.asarray(idx[valid])


def _as_multi(geoms: np.ndarray, spec: LayerSpec) -> np.ndarray:
    """Areas as MultiPolygon and lines as MultiLineString, as the tables store them."""
    if spec.geom == "area":
        multi, wrap = "MultiPolygon", shapely.MultiPolygon
    elif spec.geom == "line":
        multi, wrap = "MultiLineString", shapely.MultiLineString
    else:
        return geoms
    return np.array([g if g.geom_type == multi else wrap([g]) for g in geoms], dtype=object)
