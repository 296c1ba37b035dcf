"""Tile metadata: TileJSON 3.0.0 per tile collection (``/tiles/{cid}/tilejson.json``) and the
MapLibre style of them all (``/tiles/style.json``). Public, as the tiles are.

Links are built from the public URL (``WANGGE_PUBLIC_URL``, ``api/urls.py``); each bounds is
the collection's extent, from the app's ``ogc-extents`` cache (computed once per data version,
shared with ``/ogc/collections``)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from api.deps import SessionDep
from api.routes.ogc import cached_extents
from api.urls import public_base
from geo import ogc
from maps.tilestyle import style, tilejson

router = APIRouter(tags=["tiles"])
CACHE = {"Cache-Control": "public, max-age=300"}


@router.get("/tiles/style.json", summary="MapLibre style of the vector tiles")
def tile_style(request: Request) -> JSONResponse:
    """MapLibre 样式 (a MapLibre style, version 8: one vector source per collection by its
    TileJSON URL, ``promoteId`` the feature's code; fills, lines and circles, no text)."""
    return JSONResponse(style(public_base(request)), headers=CACHE)


@router.get("/tiles/{cid}/tilejson.json", summary="TileJSON 3.0.0 of a tile collection")
def tile_json(cid: str, request: Request, session: SessionDep) -> JSONResponse:
    """瓦片描述 (TileJSON 3.0.0: the tile URL template, bounds, zooms, the layer's fields)."""
    c = ogc.collection(cid)
    (bounds,) = cached_extents(request, session, [c])
    return JSONResponse(tilejson(c, public_base(request), bounds), headers=CACHE)
