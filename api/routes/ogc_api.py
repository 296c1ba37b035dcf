"""The OpenAPI 3.0 description of the OGC API under /ogc (``GET /ogc/api``, the landing page's
``service-desc``), with paths relative to /ogc as OGC clients read them.

GDAL's OAPIF driver sends a server-side filter only when this document's
``/collections/{id}/items`` lists a ``filter-lang`` parameter whose values include ``cql-text``
(the draft name it still sends), and only on the properties listed there as query parameters:
so each collection's items path lists its queryables (equality filters) and the filter
parameters; QGIS reads the CQL2 conformance classes instead (``/ogc/conformance``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from api.urls import public_base
from geo import ogc, ogcfilter
from geo.settings import get_settings

router = APIRouter(tags=["ogc"])
OPENAPI = "application/vnd.oai.openapi+json;version=3.0"


class OpenAPIResponse(JSONResponse):
    media_type = OPENAPI


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
        "style": "form",
        "explode": False,
    }


def _items_parameters() -> list[dict[str, Any]]:
    crs = {"type": "string", "enum": list(ogc.SUPPORTED_CRS)}
    return [
        {"name": "collectionId", "in": "path", "required": True, "schema": {"type": "string"}},
        _query("bbox", {"type": "array", "items": {"type": "number"}}, "minx,miny,maxx,maxy"),
        _query("bbox-crs", crs, "bbox 的坐标系 (CRS of bbox)"),
        _query("crs", crs, "输出坐标系 (CRS of the answer)"),
        _query(
            "limit",
            {
                "type": "integer",
                "minimum": 1,
                "maximum": get_settings().max_page_size,
                "default": 100,
            },
            "每页要素数 (features per page)",
        ),
        _query("offset", {"type": "integer", "minimum": 0, "default": 0}, "跳过 (skip)"),
        _query("filter", {"type": "string"}, "CQL2 筛选 (a CQL2 filter on the queryables)"),
        _query(
            "filter-lang",
            {"type": "string", "enum": list(ogcfilter.LANGS), "default": "cql2-text"},
            "筛选语言 (filter language)",
        ),
        _query("filter-crs", crs, "筛选中几何的坐标系 (CRS of the filter's geometries)"),
    ]


def _items_path(params: list[dict[str, Any]], summary: str) -> dict[str, Any]:
    return {
        "get": {
            "summary": summary,
            "parameters": params,
            "responses": {
                "200": {"description": "要素 (features)", "content": {"application/geo+json": {}}},
                "400": {"description": "参数错误 (a bad parameter, named in the message)"},
            },
        }
    }


def _collection_items(c: ogc.Collection) -> dict[str, Any]:
    """A collection's items path: the common parameters and one per queryable that an
    equality parameter filters by (``households=40``)."""
    params = [p for p in _items_parameters() if p["name"] != "collectionId"]
    for name, f in ogc.filter_fields(c).items():
        if "(" not in f.sql:  # computed properties filter through ``filter`` only
            params.append(_query(name, ogcfilter.json_schema(f.type), f"{name} = 值 (equals)"))
    return _items_path(params, f"{c.title}: 要素 (features)")


def _simple(
    summary: str, media: str = "application/json", parameters: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    get: dict[str, Any] = {
        "summary": summary,
        "responses": {"200": {"description": summary, "content": {media: {}}}},
    }
    if parameters:
        get["parameters"] = parameters
    return {"get": get}


def document(base: str) -> dict[str, Any]:
    """The OpenAPI document of the OGC API under ``base`` (its public URL)."""
    cid = [{"name": "collectionId", "in": "path", "required": True, "schema": {"type": "string"}}]
    one = {
        "get": {
            "summary": "一个要素 (one feature)",
            "parameters": [
                *cid,
                {"name": "featureId", "in": "path", "required": True, "schema": {"type": "string"}},
            ],
            "responses": {
                "200": {"description": "feature", "content": {"application/geo+json": {}}}
            },
        }
    }
    paths: dict[str, Any] = {
        "/": _simple("OGC API landing page"),
        "/conformance": _simple("conformance classes"),
        "/collections": _simple("collections"),
        "/collections/{collectionId}": _simple("one collection", parameters=cid),
        "/collections/{collectionId}/queryables": _simple(
            "queryables", "application/schema+json", parameters=cid
        ),
        "/collections/{collectionId}/items": _items_path(_items_parameters(), "要素 (features)"),
        "/collections/{collectionId}/items/{featureId}": one,
    }
    for c in ogc.COLLECTIONS.values():
        paths[f"/collections/{c.id}/items"] = _collection_items(c)
    return {
        "openapi": "3.0.3",
        "info": {"title": "网格 Wangge — OGC API Features", "version": "1.0.0"},
        "servers": [{"url": base}],
        "paths": paths,
    }


@router.get(
    "/ogc/api", summary="OGC API 的 OpenAPI 描述 (OpenAPI of /ogc)", response_class=OpenAPIResponse
)
def api_document(request: Request) -> OpenAPIResponse:
    """Public, like the rest of /ogc."""
    return OpenAPIResponse(document(public_base(request) + "/ogc"))
