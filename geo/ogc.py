"""OGC API – Features (Part 1 core + GeoJSON + OpenAPI 3.0, Part 2 CRS) over Wangge's layers,
so that GIS clients (QGIS, GDAL's OAPIF driver, ArcGIS) read them directly; and Mapbox vector
tiles of the same collections from PostGIS (``ST_AsMVT``).

Collections: communities, compounds, buildings, the current grids by level (micro-grids with
the floor ranges they hold of units split by floors), the units split by floors (分层单元: each
unit's cell once, labelled with its floor groups), facilities, open resources, and incidents
with public fields only (no description, address or reporter) at their public position
(snapped to a 50 m grid: :data:`geo.store.models.PUBLIC_CELL_M`), which is also what a bounding box
and the vector tiles select by — the exact point is never read.
Coordinates are CRS84 by default; ``crs`` may ask for EPSG:4490 (CGCS2000, latitude first, as
that CRS defines its axes) or EPSG:4544 (CGCS2000 Gauss-Krüger, northing first). A ``bbox`` in
one of them must lie in that CRS's domain (a 400 names it otherwise, before PostGIS is asked to
transform it). A collection's extent is computed once per data version of its table
(:mod:`geo.store.dataversion`; the caller keeps it, see ``extent_versions``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from pyproj import CRS, Transformer
from pyproj.exceptions import ProjError
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo import ogcfilter
from geo.errors import InputError, NotFoundError
from geo.incidents.categories import category_key
from geo.settings import get_settings
from geo.store.dataversion import data_versions
from geo.store.features import feature_collection
from geo.store.features import parse_bbox as parse_lonlat_bbox
from geo.store.layers import LayerSpec, get_layer
from geo.store.versions import FLOOR_UNITS, GRIDS

__all__ = [
    "COLLECTIONS",
    "CONFORMANCE",
    "CRS84",
    "CqlFilter",
    "collection_info",
    "extent",
    "extent_versions",
    "filter_condition",
    "filter_fields",
    "items",
    "parse_bbox",
    "parse_crs_uri",
    "queryables",
    "tile",
    "tile_fields",
]

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
SUPPORTED_CRS = {
    CRS84: (4326, False),
    "http://www.opengis.net/def/crs/EPSG/0/4490": (4490, True),  # latitude, longitude
    "http://www.opengis.net/def/crs/EPSG/0/4544": (4544, True),  # northing, easting
}
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
    # Part 4 (create, replace, update, delete) on the draft plans' collections: geo.plans.ogc
    "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/create-replace-delete",
    "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/update",
    "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/features",
    "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/optimistic-locking-etags",
    # Part 3 (filtering) and CQL2: the classes QGIS checks before it sends a CQL2 filter
    # (filter, features-filter, basic-cql2, cql2-text), and those it then uses
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
    "http://www.opengis.net/spec/cql2/1.0/conf/advanced-comparison-operators",
    "http://www.opengis.net/spec/cql2/1.0/conf/case-insensitive-comparison",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions-plus",
    # S_INTERSECTS under its draft name: QGIS's OAPIF provider sends spatial filters when it
    # sees this or basic-spatial-functions (releases before the final name check this only)
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-operators",
]
# integer properties of the collections whose spec declares no attributes (grids, floor units);
# the others' types come from their attributes (a building's floors is a number, a
# micro-grid's floors the text 1–12层)
INTEGER = {"households", "unit_no", "version", "buildings"}
BOOLEAN = {"locked"}  # a draft micro-grid's (geo.plans.ogc)

INCIDENTS_PUBLIC = LayerSpec(
    kind="incidents",
    label=("事件", "incidents"),
    table="incident",
    geom="point",
    geom_column="public_position",  # never "position": see geo.incidents.public_view
    attrs=(),
    select=(
        "t.code",
        "t.category",
        "t.status",
        "to_char(t.reported_at AT TIME ZONE 'Asia/Shanghai', "
        "'YYYY-MM-DD\"T\"HH24:MI:SS+08:00') AS reported_at",
        "c.code AS community_code",
        "g.code AS micro_grid",
    ),
    joins="LEFT JOIN community c ON c.id = t.community_id LEFT JOIN grid g ON g.id = t.grid_id",
)


@dataclass(frozen=True)
class Collection:
    id: str
    title: str
    spec: LayerSpec
    where: str | None = None


def _grids(level: str, zh: str, en: str) -> Collection:
    return Collection(
        f"grids-{level}",
        f"{zh} ({en})",
        GRIDS,
        f"v.status = 'published' AND t.level = '{level}'",
    )


COLLECTIONS: dict[str, Collection] = {
    c.id: c
    for c in (
        Collection("communities", "社区 (communities)", get_layer("communities")),
        Collection("compounds", "小区/院落 (compounds)", get_layer("compounds")),
        Collection("buildings", "楼栋 (buildings)", get_layer("buildings")),
        _grids("community", "社区网格", "community grids"),
        _grids("compound", "小区网格", "compound grids"),
        _grids("micro", "微网格", "micro-grids"),
        Collection(
            "floor-units", "分层单元 (units split by floors)", FLOOR_UNITS, "v.status = 'published'"
        ),
        Collection("facilities", "服务场所 (service places)", get_layer("facilities")),
        Collection("resources", "开放资源 (open resources)", get_layer("resources")),
        Collection("incidents", "事件 (incidents, public fields)", INCIDENTS_PUBLIC),
    )
}


def collection(cid: str) -> Collection:
    c = COLLECTIONS.get(cid)
    if c is None:
        raise NotFoundError(
            f"没有该集合 (no such collection): {cid!r}; 可用 (known): {', '.join(COLLECTIONS)}"
        )
    return c


def parse_crs_uri(value: str | None, what: str = "crs") -> tuple[str, int, bool]:
    """(URI, SRID, latitude/northing first) of a supported CRS URI (or ``[EPSG:n]``)."""
    if value is None or value == "":
        return CRS84, 4326, False
    v = value.strip()
    if v.startswith("[") and v.endswith("]"):  # safe CURIE
        auth, _, code = v[1:-1].partition(":")
        v = (
            CRS84
            if (auth.upper(), code) == ("OGC", "CRS84")
            else f"http://www.opengis.net/def/crs/{auth.upper()}/0/{code}"
        )
    if v not in SUPPORTED_CRS:
        raise InputError(
            f"{what} 不支持 (unsupported {what}) {value!r}; 可用 (supported): {', '.join(SUPPORTED_CRS)}"
        )
    srid, flip = SUPPORTED_CRS[v]
    return v, srid, flip


def _integer(spec: LayerSpec, name: str) -> bool:
    for a in spec.attrs:
        if a.name == name:
            return a.type is int
    return name in INTEGER


def _props(c: Collection) -> list[str]:
    return [e.rsplit(" AS ", 1)[-1].split(".")[-1] for e in c.spec.select]


# literals a filter compares with a property by =, <> or IN, as people write them (by table)
FILTER_VALUES = {"incident": {"category": category_key}}
# properties published as text but compared as what they are (CQL2 TIMESTAMP / DATE literals)
TIMESTAMPS = {"incident": {"reported_at": "t.reported_at"}}


def filter_fields(c: Collection) -> dict[str, ogcfilter.Field]:
    """The queryables a CQL2 filter may name: each property's SQL expression from the
    collection's own select list, and its type."""
    values = FILTER_VALUES.get(c.spec.table, {})
    lists = {a.name for a in c.spec.attrs if a.type is list}
    out = {}
    for expr in c.spec.select:
        sql, sep, alias = expr.rpartition(" AS ")
        if not sep:
            sql, alias = expr, expr.split(".")[-1]
        if alias in lists:  # text[] (services): compared as its items joined by 、
            sql = f"array_to_string({sql}, '、')"
        kind = "integer" if _integer(c.spec, alias) else "string"
        kind = "boolean" if alias in BOOLEAN else kind
        if alias in TIMESTAMPS.get(c.spec.table, {}):
            sql, kind = TIMESTAMPS[c.spec.table][alias], "timestamp"
        out[alias] = ogcfilter.Field(sql, kind, values.get(alias))
    return out


def queryables(c: Collection, base: str) -> dict[str, Any]:
    props: dict[str, Any] = {
        name: ogcfilter.json_schema(f.type) | {"title": name}
        for name, f in filter_fields(c).items()
    }
    props["geometry"] = {
        "$ref": "https://geojson.org/schema/Point.json"
        if c.spec.geom == "point"
        else "https://geojson.org/schema/MultiPolygon.json",
        "x-ogc-role": "primary-geometry",
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{base}/collections/{c.id}/queryables",
        "type": "object",
        "title": c.title,
        "properties": props,
        "additionalProperties": False,
    }


# the data version (geo.store.dataversion) a collection's extent follows, by table; else the table's
DATA_OF_TABLE = {"grid": "grids", "floor_unit": "grids"}


def extent_versions(session: Session, cs: list[Collection]) -> dict[str, tuple[int, ...]]:
    """The data version each collection's extent was computed for, in one statement."""
    names = {c.id: DATA_OF_TABLE.get(c.spec.table, c.spec.table) for c in cs}
    versions = data_versions(session, set(names.values()))
    return {cid: versions[name] for cid, name in names.items()}


def extent(session: Session, c: Collection) -> list[float] | None:
    """The collection's bounding box in CRS84 (a scan of its table: keep it per version)."""
    where = f"WHERE {c.where}" if c.where else ""
    row = session.execute(
        text(
            f"SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT "
            f"ST_Extent(t.{c.spec.geom_column}) AS e FROM {c.spec.table} t {c.spec.joins} {where}) q"
        )
    ).one()
    if row[0] is None:
        return None
    return [round(float(v), 7) for v in row]


def collection_info(c: Collection, base: str, bbox: list[float] | None) -> dict[str, Any]:
    """The collection's description, links under ``base``, with its extent ``bbox``."""
    url = f"{base}/collections/{c.id}"
    return {
        "id": c.id,
        "title": c.title,
        "itemType": "feature",
        "extent": {"spatial": {"bbox": [bbox] if bbox else [], "crs": CRS84}},
        "crs": list(SUPPORTED_CRS),
        "storageCrs": f"http://www.opengis.net/def/crs/EPSG/0/{get_settings().storage_srid}",
        "links": [
            {"rel": "self", "type": "application/json", "href": url, "title": c.title},
            {
                "rel": "items",
                "type": "application/geo+json",
                "href": f"{url}/items",
                "title": c.title,
            },
            {
                "rel": "http://www.opengis.net/def/rel/ogc/1.0/queryables",
                "type": "application/schema+json",
                "href": f"{url}/queryables",
            },
        ],
    }


def parse_bbox(
    value: str | None, bbox_crs: str | None
) -> tuple[tuple[float, float, float, float], int] | None:
    """A ``bbox`` in ``bbox-crs`` (in that CRS's axis order) as (x, y) order — lon/lat or
    easting/northing — and its SRID; None without one. 400 naming the value when it is not
    four finite numbers, min > max, or outside the CRS's domain (beyond ±180°/±90°, or where
    the projection cannot be inverted: PROJ is asked, as PostGIS would be)."""
    if value is None or value == "":
        return None
    uri, srid, flip = parse_crs_uri(bbox_crs, "bbox-crs")
    if srid == 4326:
        box = parse_lonlat_bbox(value)
        assert box is not None
        return box, srid
    parts = value.split(",")
    if len(parts) != 4:
        raise InputError(f"bbox 应为四个数 (bbox needs four numbers) {value!r} in {uri}")
    try:
        nums = [float(p) for p in parts]
    except ValueError as exc:
        raise InputError(f"bbox 格式错误 (invalid bbox, not numbers) {value!r} in {uri}") from exc
    if not all(math.isfinite(v) for v in nums):
        raise InputError(f"bbox 含非有限数 (invalid bbox, not finite) {value!r} in {uri}")
    x0, y0, x1, y1 = (nums[1], nums[0], nums[3], nums[2]) if flip else nums
    if x0 > x1 or y0 > y1:
        raise InputError(f"bbox 最小值大于最大值 (invalid bbox, min > max) {value!r} in {uri}")
    if not _in_domain(srid, (x0, y0, x1, y1)):
        raise InputError(
            f"bbox 超出坐标系的范围 (bbox outside the domain of {uri}): {value!r}; "
            "坐标轴顺序 (axis order): "
            + ("纬度/北坐标在前 (latitude/northing first)" if flip else "x, y")
        )
    return (x0, y0, x1, y1), srid


def _in_domain(srid: int, box: tuple[float, float, float, float]) -> bool:
    x0, y0, x1, y1 = box
    crs = CRS.from_epsg(srid)
    if crs.is_geographic:
        return -180 <= x0 <= x1 <= 180 and -90 <= y0 <= y1 <= 90
    to_lonlat = Transformer.from_crs(crs, CRS.from_epsg(4326), always_xy=True)
    try:  # the corners, as PostGIS transforms the envelope
        lon, lat = to_lonlat.transform([x0, x1, x0, x1], [y0, y0, y1, y1], errcheck=True)
    except ProjError:
        return False
    return all(math.isfinite(v) and abs(v) <= 180 for v in (*lon, *lat))


def items(
    session: Session,
    c: Collection,
    *,
    bbox: tuple[tuple[float, float, float, float], int] | None,
    crs: str | None,
    limit: int,
    offset: int,
    filters: dict[str, str],
    feature_id: str | None = None,
    cql: CqlFilter | None = None,
) -> tuple[dict[str, Any], str]:
    """A page of items (or one, by ``feature_id``), and the Content-Crs URI. ``bbox``: as
    :func:`parse_bbox` gives it; ``cql``: a CQL2 filter (with ``filters`` and ``bbox``, by
    AND)."""
    uri, srid, flip = parse_crs_uri(crs)
    box, bbox_srid = bbox if bbox is not None else (None, None)
    if bbox_srid == 4326:
        bbox_srid = None
    known = set(_props(c))
    for name in filters:
        if name not in known:
            raise InputError(
                f"不能按 {name!r} 筛选 (not a queryable of {c.id}): 可用 (use) {sorted(known)}"
            )
    where, params = filter_condition(c, cql)
    fc = feature_collection(
        session=session,
        kind=c.spec,
        bbox=box,
        limit=limit,
        offset=offset,
        filters=filters,
        where=where,
        params=params,
        out_srid=None if srid == 4326 else srid,
        flip=flip,
        bbox_srid=bbox_srid,
        feature_id=feature_id,
    )
    return fc, uri


@dataclass(frozen=True)
class CqlFilter:
    """A ``filter`` as the request gives it: the text, ``filter-lang`` and ``filter-crs``."""

    text: str | None
    lang: str | None = None
    crs: str | None = None


def filter_condition(c: Collection, cql: CqlFilter | None) -> tuple[str | None, dict[str, Any]]:
    """The collection's fixed condition AND the CQL2 filter's (400 naming what is wrong in
    it), and the filter's bound parameters."""
    if cql is None:
        return c.where, {}
    _uri, srid, flip = parse_crs_uri(cql.crs, "filter-crs")
    if cql.text is None:  # filter-lang and filter-crs are checked all the same
        ogcfilter.check_lang(cql.lang)
        return c.where, {}
    storage = get_settings().storage_srid
    f = ogcfilter.FilterSQL(
        geometry=f"t.{c.spec.geom_column}",
        fields=filter_fields(c),
        storage_srid=storage,
        srid=storage if srid == 4326 else srid,  # CRS84 coincides with CGCS2000
        flip=flip,
        in_domain=_in_domain,
    )
    sql = ogcfilter.to_sql(ogcfilter.parse(cql.text, cql.lang), f)
    return (sql if c.where is None else f"({c.where}) AND {sql}"), f.params


def check_tile(z: int, x: int, y: int) -> None:
    """400 for a zoom out of 0–22, 404 for a tile number outside the zoom's grid."""
    if not 0 <= z <= 22:
        raise InputError(f"缩放级别应在 0–22 (zoom out of range): {z}")
    n = 1 << z
    if not (0 <= x < n and 0 <= y < n):
        raise NotFoundError(f"瓦片不存在 (no such tile) {z}/{x}/{y}")


def tile(session: Session, c: Collection, z: int, x: int, y: int) -> bytes:
    """A Mapbox vector tile (EPSG:3857 tiling) of a collection: layer name = collection id,
    each feature with an integer id (:func:`_feature_id`) besides its properties."""
    check_tile(z, x, y)
    cols = ", ".join([_feature_id(c), *(_mvt_column(c.spec, e) for e in c.spec.select)])
    where = f"AND {c.where}" if c.where else ""
    g = f"t.{c.spec.geom_column}"
    sql = (
        "WITH b AS (SELECT ST_TileEnvelope(:z, :x, :y) AS env), "
        "q AS (SELECT " + cols + f", ST_AsMVTGeom(ST_Transform({g}, 3857), b.env, 4096, 64, true) "
        f"AS geom FROM {c.spec.table} t {c.spec.joins} CROSS JOIN b WHERE "
        f"{g} && ST_Transform(ST_Expand(b.env, (ST_XMax(b.env) - ST_XMin(b.env)) / 64), "
        f"{get_settings().storage_srid}) {where}) "
        "SELECT ST_AsMVT(q, :layer, 4096, 'geom', '" + FEATURE_ID + "') FROM q "
        "WHERE geom IS NOT NULL"
    )
    data = session.execute(text(sql), {"z": z, "x": x, "y": y, "layer": c.id}).scalar()
    return bytes(data or b"")


def _mvt_column(spec: LayerSpec, expr: str) -> str:
    """A select expression as a type vector tiles hold (integers stay, the rest is text)."""
    sql, _, alias = expr.rpartition(" AS ")
    if not sql:
        sql, alias = expr, expr.split(".")[-1]
    return f"{sql} AS {alias}" if _integer(spec, alias) else f"CAST({sql} AS text) AS {alias}"


# the column ST_AsMVT takes each feature's id from (not written as a property)
FEATURE_ID = "wg_feature_id"


def _feature_id(c: Collection) -> str:
    """Each tile feature's integer id, stable while the row lives (for MapLibre's
    feature-state): the row's id — but for incidents, whose numeric ids are for staff only
    (the public finds them by their random code), 52 bits of the code's MD5 (a JavaScript
    number holds them exactly)."""
    if c.spec.table == "incident":
        return f"('x' || left(md5(t.code), 13))::bit(52)::bigint AS {FEATURE_ID}"
    return f"t.id AS {FEATURE_ID}"


def tile_fields(c: Collection) -> dict[str, str]:
    """The properties a collection's tile features carry, as TileJSON describes them
    (``Number`` or ``String``: :func:`_mvt_column` makes every other type text)."""
    return {name: "Number" if _integer(c.spec, name) else "String" for name in _props(c)}
