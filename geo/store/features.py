"""Reading stored layers as GeoJSON FeatureCollections, with a bbox filter and paging.

The GeoJSON is built by PostGIS (``ST_AsGeoJSON``) from the layer's select list
(:mod:`geo.store.layers`), so the API, exports and import files share attribute names. Coordinates
are served as stored (CGCS2000, EPSG:4490), which coincides with WGS84/CRS84 to well under a
metre, as RFC 7946 expects.
"""

from __future__ import annotations

import json
import math
import re
from functools import lru_cache
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import InputError
from geo.settings import get_settings
from geo.store.layers import LayerSpec, get_layer

__all__ = ["PUBLIC_LAYERS", "feature_collection", "parse_bbox"]

PUBLIC_LAYERS = ("communities", "compounds", "buildings", "facilities", "resources")
_NUM = re.compile(r"^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$")


def parse_bbox(value: str | None) -> tuple[float, float, float, float] | None:
    """Parse ``minlon,minlat,maxlon,maxlat`` (CRS84); errors name the bad value.

    >>> parse_bbox("104.01,30.62,104.03,30.64")
    (104.01, 30.62, 104.03, 30.64)
    """
    if value is None or value == "":
        return None
    parts = value.split(",")
    if len(parts) != 4:
        raise InputError(
            f"bbox 格式错误 (invalid bbox) {value!r}: 应为 (expected) minlon,minlat,maxlon,maxlat"
        )
    nums = []
    for p in parts:
        if not _NUM.match(p):
            raise InputError(f"bbox 含非数字 (invalid bbox) {value!r}: {p.strip()!r} 不是数字")
        nums.append(float(p))
    x0, y0, x1, y1 = nums
    if not all(math.isfinite(v) for v in nums):
        raise InputError(f"bbox 含非有限数 (invalid bbox) {value!r}")
    if abs(y0) > 90 or abs(y1) > 90 or abs(x0) > 180 or abs(x1) > 180:
        hint = ""
        if abs(x0) <= 90 and abs(x1) <= 90 and abs(y0) <= 180 and abs(y1) <= 180:
            hint = "；经纬度是否颠倒？(lat/lon swapped? use lon first)"
        raise InputError(f"bbox 超出经纬度范围 (invalid bbox, out of range) {value!r}{hint}")
    box = get_settings().served_bounds
    if (
        box[1] <= x0 <= box[3]
        and box[1] <= x1 <= box[3]
        and box[0] <= y0 <= box[2]
        and box[0] <= y1 <= box[2]
        and not (box[0] <= x0 <= box[2])
    ):
        raise InputError(
            f"bbox 经纬度疑似颠倒 (invalid bbox, lat/lon look swapped) {value!r}: "
            "应为 (expected) minlon,minlat,maxlon,maxlat"
        )
    if x0 > x1 or y0 > y1:
        raise InputError(
            f"bbox 最小值大于最大值 (invalid bbox, min > max) {value!r}: "
            "应为 (expected) minlon,minlat,maxlon,maxlat"
        )
    return x0, y0, x1, y1


def feature_collection(
    *,
    session: Session,
    kind: str | LayerSpec,
    bbox: tuple[float, float, float, float] | None = None,
    limit: int = 100,
    offset: int = 0,
    filters: dict[str, str] | None = None,
    where: str | None = None,
    params: dict[str, Any] | None = None,
    out_srid: int | None = None,
    flip: bool = False,
    bbox_srid: int | None = None,
    feature_id: str | None = None,
) -> dict[str, Any]:
    """One page of a layer as a GeoJSON FeatureCollection (with numberMatched/Returned).

    ``where`` and ``params`` add a fixed SQL condition (e.g. the current grid version).
    ``out_srid`` transforms the coordinates (``flip`` puts them in latitude/northing-first
    order, as such a CRS defines); ``bbox_srid`` is the CRS of ``bbox`` (default: stored);
    ``feature_id`` selects one feature by its code."""
    spec = kind if isinstance(kind, LayerSpec) else get_layer(kind)
    if spec.geom_column is None:
        raise InputError(f"{kind} 没有几何 (has no geometry)")
    settings = get_settings()
    if limit < 1 or limit > settings.max_page_size:
        raise InputError(
            f"limit 应在 1–{settings.max_page_size} 之间 (limit out of range): {limit}"
        )
    if offset < 0:
        raise InputError(f"offset 不能为负 (offset must be ≥ 0): {offset}")
    conds = ["TRUE" if where is None else f"({where})"]
    params = {"limit": limit, "offset": offset, **(params or {})}
    if bbox is not None:
        env = f"ST_MakeEnvelope(:x0, :y0, :x1, :y1, {settings.storage_srid})"
        if bbox_srid is not None and bbox_srid != settings.storage_srid:
            env = (
                f"ST_Transform(ST_MakeEnvelope(:x0, :y0, :x1, :y1, {int(bbox_srid)}), "
                f"{settings.storage_srid})"
            )
        conds.append(
            f"t.{spec.geom_column} && {env} AND ST_Intersects(t.{spec.geom_column}, {env})"
        )
        params.update(zip(("x0", "y0", "x1", "y1"), bbox, strict=True))
    if feature_id is not None:
        conds.append(f"t.{spec.key} = :feature_id")
        params["feature_id"] = feature_id
    lists = {a.name for a in spec.attrs if a.type is list}
    for i, (name, value) in enumerate((filters or {}).items()):
        column = _filter_column(spec, name)
        # a list attribute (services) is matched by one of its items: ?services=党员活动
        conds.append(f":f{i} = ANY({column})" if name in lists else f"{column} = :f{i}")
        params[f"f{i}"] = value
    cond = " AND ".join(conds)
    base = f"FROM {spec.table} t {spec.joins} WHERE {cond}"
    matched = int(session.execute(text(f"SELECT count(*) {base}"), params).scalar_one())
    geom, digits = "page.geom__", 7
    if out_srid is not None and out_srid != settings.storage_srid:
        geom = f"ST_Transform({geom}, {int(out_srid)})"
        digits = 7 if _geographic(out_srid) else 3
    if flip:
        geom = f"ST_FlipCoordinates({geom})"
    sql = (
        f"WITH page AS (SELECT {', '.join(spec.select)}, t.{spec.geom_column} AS geom__ {base} "
        f"ORDER BY t.id LIMIT :limit OFFSET :offset) "
        "SELECT coalesce(json_agg(json_build_object('type', 'Feature', 'id', page.code, "
        f"'geometry', ST_AsGeoJSON({geom}, {digits}, 0)::json, "
        "'properties', to_jsonb(page) - 'geom__')), '[]'::json)::text FROM page"
    )
    features = json.loads(session.execute(text(sql), params).scalar_one())
    return {
        "type": "FeatureCollection",
        "numberMatched": matched,
        "numberReturned": len(features),
        "features": features,
    }


@lru_cache(maxsize=32)
def _geographic(srid: int) -> bool:
    import pyproj

    return bool(pyproj.CRS.from_epsg(srid).is_geographic)


def _filter_column(spec: LayerSpec, name: str) -> str:
    """The SQL expression behind a filterable attribute name."""
    for expr in spec.select:
        alias = expr.rsplit(" AS ", 1)[-1].split(".")[-1]
        if alias == name and "(" not in expr:
            return expr.rsplit(" AS ", 1)[0]
    raise InputError(f"不能按 {name!r} 筛选 (cannot filter by {name!r})")
