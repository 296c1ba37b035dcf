"""Drawn geometry input: a GeoJSON geometry from the planner map, checked and brought into the
storage CRS."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import shapely
from shapely import Geometry

from geo.core.crs import check_lonlat, parse_crs, transform_geometries
from geo.errors import GeometryError


def parse_drawn(geojson: Any, crs: str | None, *, kinds: tuple[str, ...]) -> Geometry:
    """A drawn GeoJSON geometry (or Feature) in ``crs`` (default CRS84, or the ``crs`` member)
    → a valid geometry in the storage CRS. Refuses empty, invalid, wrong-type geometry and
    coordinates that are out of range, swapped or outside the served area."""
    if isinstance(geojson, str):
        try:
            geojson = json.loads(geojson)
        except ValueError as exc:
            raise GeometryError(f"不是有效的 GeoJSON (not valid GeoJSON): {exc}") from exc
    if not isinstance(geojson, dict):
        raise GeometryError("几何应为 GeoJSON 对象 (geometry must be a GeoJSON object)")
    if geojson.get("type") == "Feature":
        geojson = geojson.get("geometry") or {}
    named = (
        geojson.get("crs", {}).get("properties", {}).get("name")
        if isinstance(geojson.get("crs"), dict)
        else None
    )
    spec = parse_crs(crs or named or "OGC:CRS84")
    try:
        geom = shapely.geometry.shape(geojson)
    except Exception as exc:  # shapely raises several kinds for malformed input
        raise GeometryError(f"无法读取几何 (cannot read the geometry): {exc}") from exc
    if geom.is_empty:
        raise GeometryError("几何为空 (empty geometry)")
    if geom.geom_type not in kinds:
        raise GeometryError(
            f"几何类型应为 {'/'.join(kinds)} (expected {'/'.join(kinds)}), 收到 (got) "
            f"{geom.geom_type}"
        )
    xy = shapely.get_coordinates(geom)
    if not np.isfinite(xy).all():
        raise GeometryError("坐标含 NaN 或无穷大 (coordinates contain NaN or infinity)")
    problems = check_lonlat(xy[:, 0], xy[:, 1], spec)
    if problems:
        i, why = problems[0]
        raise GeometryError(
            f"坐标 {xy[i].tolist()} ({spec}) 有误 (bad coordinate): {why}"
            + (
                f"；另有 {len(problems) - 1} 处 (and {len(problems) - 1} more)"
                if len(problems) > 1
                else ""
            )
        )
    if not shapely.is_valid(geom):
        raise GeometryError(f"几何无效 (invalid geometry): {shapely.is_valid_reason(geom)}")
    out = transform_geometries([geom], spec)[0]
    if not shapely.is_valid(out):
        out = shapely.make_valid(out)
    return out
