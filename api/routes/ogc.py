"""OGC API – Features under /ogc (Part 1 core, GeoJSON, OpenAPI 3.0; Part 2 CRS), and vector
tiles under /tiles. Public: only public fields are published.

Links are built from the public URL (``WANGGE_PUBLIC_URL``, ``api/urls.py``), never from the
request's Host header. Collection extents are computed once per data version (the app's
``ogc-extents`` cache)."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import time
from collections import OrderedDict
from datetime import UTC, datetime
from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse

from api.caches import app_cache
from api.deps import SessionDep
from api.routes.ogc_edit import draft_infos, etag_headers, resolve_collection
from api.routes.ogc_edit import queryables as collection_queryables
from api.schemas.ogc import (
    OgcCollection,
    OgcCollections,
    OgcConformance,
    OgcLanding,
    OgcQueryables,
)
from api.urls import public_base, public_url
from geo import ogc
from geo.errors import WanggeError
from geo.settings import get_settings

router = APIRouter(tags=["ogc"])
GEOJSON = "application/geo+json"
RESERVED = {
    "bbox",
    "bbox-crs",
    "crs",
    "limit",
    "offset",
    "f",
    "filter",
    "filter-lang",
    "filter-crs",
}


def _base(request: Request) -> str:
    return public_base(request) + "/ogc"


def cached_extents(
    request: Request, session: Any, cs: list[ogc.Collection]
) -> list[list[float] | None]:
    """Each collection's extent, from the app's ``ogc-extents`` cache while its data is
    unchanged (also the bounds of its TileJSON)."""
    versions = ogc.extent_versions(session, cs)
    cache = app_cache(request, "ogc-extents")
    return [cache.get(c.id, versions[c.id], functools.partial(ogc.extent, session, c)) for c in cs]


def _infos(request: Request, session: Any, cs: list[ogc.Collection]) -> list[dict[str, Any]]:
    """The collections' descriptions, each extent from the cache while its data is unchanged."""
    base = _base(request)
    return [
        ogc.collection_info(c, base, bbox)
        for c, bbox in zip(cs, cached_extents(request, session, cs), strict=True)
    ]


@router.get("/ogc", summary="OGC API landing page", response_model=OgcLanding)
def landing(request: Request) -> dict[str, Any]:
    base = _base(request)
    root = public_base(request)
    return {
        "title": "网格 Wangge — OGC API Features",
        "description": "社区网格、楼栋、服务场所与事件 (community grids, buildings, service places, "
        "incidents)",
        "links": [
            {"rel": "self", "type": "application/json", "href": base, "title": "this document"},
            {
                "rel": "service-desc",
                "type": "application/vnd.oai.openapi+json;version=3.0",
                "href": f"{base}/api",  # api/routes/ogc_api.py
                "title": "OpenAPI",
            },
            {"rel": "service-doc", "type": "text/html", "href": f"{root}/docs", "title": "docs"},
            {
                "rel": "conformance",
                "type": "application/json",
                "href": f"{base}/conformance",
                "title": "conformance",
            },
            {
                "rel": "data",
                "type": "application/json",
                "href": f"{base}/collections",
                "title": "collections",
            },
        ],
    }


@router.get("/ogc/conformance", response_model=OgcConformance)
def conformance() -> dict[str, Any]:
    return {"conformsTo": ogc.CONFORMANCE}


@router.get("/ogc/collections", response_model=OgcCollections, response_model_exclude_none=True)
def collections(request: Request, session: SessionDep) -> dict[str, Any]:
    base = _base(request)
    return {
        "links": [{"rel": "self", "type": "application/json", "href": f"{base}/collections"}],
        "collections": _infos(request, session, list(ogc.COLLECTIONS.values()))
        + draft_infos(request, session),
        "crs": list(ogc.SUPPORTED_CRS),
    }


@router.get(
    "/ogc/collections/{cid}", response_model=OgcCollection, response_model_exclude_none=True
)
def collection(cid: str, request: Request, session: SessionDep) -> dict[str, Any]:
    c = resolve_collection(cid, request, session)
    if c.id not in ogc.COLLECTIONS:  # a draft's: its extent is not cached
        return ogc.collection_info(c, _base(request), ogc.extent(session, c))
    return _infos(request, session, [c])[0]


class SchemaJSONResponse(JSONResponse):
    media_type = "application/schema+json"


@router.get(
    "/ogc/collections/{cid}/queryables",
    response_model=OgcQueryables,
    response_model_exclude_none=True,
    response_class=SchemaJSONResponse,
)
def queryables(cid: str, request: Request, session: SessionDep) -> dict[str, Any]:
    return collection_queryables(resolve_collection(cid, request, session), request)


def _page_links(
    request: Request, fc: dict[str, Any], limit: int, offset: int
) -> list[dict[str, Any]]:
    params = dict(request.query_params)
    links = [{"rel": "self", "type": GEOJSON, "href": public_url(request)}]
    if offset + fc["numberReturned"] < fc["numberMatched"]:
        nxt = params | {"offset": str(offset + limit), "limit": str(limit)}
        links.append({"rel": "next", "type": GEOJSON, "href": public_url(request, nxt)})
    if offset > 0:
        prv = params | {"offset": str(max(0, offset - limit)), "limit": str(limit)}
        links.append({"rel": "prev", "type": GEOJSON, "href": public_url(request, prv)})
    return links


@router.get("/ogc/collections/{cid}/items", response_class=JSONResponse)
def items(
    cid: str,
    request: Request,
    session: SessionDep,
    bbox: Annotated[str | None, Query(description="minx,miny,maxx,maxy (in bbox-crs)")] = None,
    bbox_crs: Annotated[str | None, Query(alias="bbox-crs", max_length=200)] = None,
    crs: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
    filter_: Annotated[
        str | None,
        Query(
            alias="filter",
            max_length=8000,
            description="CQL2 筛选 (a CQL2 filter, OGC API Features Part 3)",
        ),
    ] = None,
    filter_lang: Annotated[
        str | None, Query(alias="filter-lang", max_length=40, description="cql2-text | cql2-json")
    ] = None,
    filter_crs: Annotated[
        str | None, Query(alias="filter-crs", max_length=200, description="CRS of geometries")
    ] = None,
) -> Response:
    """要素 (features); any other parameter named like a queryable filters by equality, and
    ``filter`` (CQL2 text or JSON) by any condition on the queryables; all by AND."""
    c = resolve_collection(cid, request, session)
    limit = min(limit, get_settings().max_page_size)
    filters = {k: v for k, v in request.query_params.items() if k not in RESERVED}
    fc, uri = ogc.items(
        session,
        c,
        bbox=ogc.parse_bbox(bbox, bbox_crs),
        crs=crs,
        limit=limit,
        offset=offset,
        filters=filters,
        cql=ogc.CqlFilter(filter_, filter_lang, filter_crs),
    )
    fc["timeStamp"] = datetime.now(UTC).isoformat(timespec="seconds")
    fc["links"] = _page_links(request, fc, limit, offset)
    headers = {"Content-Crs": f"<{uri}>", **etag_headers(request)}
    return JSONResponse(fc, media_type=GEOJSON, headers=headers)


@router.get("/ogc/collections/{cid}/items/{fid}", response_class=JSONResponse)
def item(
    cid: str,
    fid: str,
    request: Request,
    session: SessionDep,
    crs: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    c = resolve_collection(cid, request, session)
    fc, uri = ogc.items(
        session, c, bbox=None, crs=crs, limit=1, offset=0, filters={}, feature_id=fid
    )
    if not fc["features"]:
        from geo.errors import NotFoundError

        raise NotFoundError(f"{cid} 中没有要素 (no feature) {fid!r}")
    f = fc["features"][0]
    base = _base(request)
    f["links"] = [
        {"rel": "self", "type": GEOJSON, "href": public_url(request)},
        {"rel": "collection", "type": "application/json", "href": f"{base}/collections/{cid}"},
    ]
    headers = {"Content-Crs": f"<{uri}>", **etag_headers(request)}
    return JSONResponse(f, media_type=GEOJSON, headers=headers)


log = logging.getLogger("wangge.api")
TILE_TTL_S = 30.0  # a tile is rebuilt at most every 30 s (maps of a busy street stay cheap)
TILE_CACHE_SIZE = 4096
TILE_BUILDERS = 4  # tiles built at once
TILE_STALE_S = 300.0  # an older tile is rebuilt before it is served, not after


def _build_tile(request: Request, cid: str, z: int, x: int, y: int) -> bytes:
    with request.app.state.sessionmaker() as session, session.begin():
        return ogc.tile(session, ogc.collection(cid), z, x, y)


async def _cached_tile(request: Request, cid: str, z: int, x: int, y: int) -> bytes:
    """The app's tile cache (one per app, i.e. per database; least recently used first out).

    A missing tile is built once (in a worker thread), however many clients ask for it
    meanwhile: they all wait for that one build, without holding a thread. An expired tile
    (under ``TILE_STALE_S``) is answered at once from the cache while one rebuild runs in the
    background (stale while revalidate); an older one is rebuilt first, so that tiles expiring together, or a start under load, do not send every
    client to PostGIS at once. Runs on the event loop only."""
    state = request.app.state
    if not hasattr(state, "tiles"):
        state.tiles = OrderedDict()
        state.tiles_building = {}
        # tiles are built in threads of their own, not queued behind other requests
        state.tile_builders = anyio.CapacityLimiter(TILE_BUILDERS)
    tiles: OrderedDict[tuple[str, int, int, int], tuple[float, bytes]] = state.tiles
    building: dict[tuple[str, int, int, int], asyncio.Task[bytes]] = state.tiles_building
    key = (cid, z, x, y)

    async def build() -> bytes:
        try:
            data = await anyio.to_thread.run_sync(
                _build_tile, request, cid, z, x, y, limiter=state.tile_builders
            )
        finally:
            building.pop(key, None)
        tiles[key] = (time.monotonic(), data)
        tiles.move_to_end(key)
        while len(tiles) > TILE_CACHE_SIZE:
            tiles.popitem(last=False)
        return data

    def start() -> asyncio.Task[bytes]:
        task = building[key] = asyncio.get_running_loop().create_task(build())
        task.add_done_callback(_log_failed_refresh)
        return task

    hit = tiles.get(key)
    if hit:
        tiles.move_to_end(key)
        age = time.monotonic() - hit[0]
        if age < TILE_TTL_S:
            return hit[1]
        if age < TILE_STALE_S:  # old but recent enough: now, and rebuilt in the background
            if key not in building:
                start()
            return hit[1]
    return await asyncio.shield(building.get(key) or start())


def _log_failed_refresh(task: asyncio.Task[bytes]) -> None:
    exc = None if task.cancelled() else task.exception()
    if exc is not None and not isinstance(exc, WanggeError):
        log.warning("tile build failed: %s", exc)


@router.get("/tiles/{cid}/{z}/{x}/{y}.mvt", summary="Mapbox vector tile")
async def vector_tile(cid: str, z: int, x: int, y: int, request: Request) -> Response:
    """矢量瓦片 (a vector tile of a collection, EPSG:3857 tiling, layer named after it; built
    from PostGIS, kept up to 30 s)."""
    ogc.collection(cid)
    ogc.check_tile(z, x, y)  # before the cache: a bad number is answered, not built
    data = await _cached_tile(request, cid, z, x, y)
    etag = '"' + hashlib.sha256(data).hexdigest()[:32] + '"'
    headers = {"Cache-Control": "public, max-age=300", "ETag": etag}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(data, media_type="application/vnd.mapbox-vector-tile", headers=headers)
