"""GET /grids: the grids of the current version (or a given one) as GeoJSON."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request

from api.deps import SessionDep
from api.routes.layers import GEOJSON, BBox, Limit, Offset, page_links
from api.schemas import FeatureCollection
from geo.store.features import parse_bbox
from geo.store.versions import grid_features

router = APIRouter(tags=["grids"])


@router.get("/grids", response_model=FeatureCollection, responses={200: {"content": {GEOJSON: {}}}})
def grids(
    request: Request,
    session: SessionDep,
    level: Annotated[Literal["community", "compound", "micro"] | None, Query()] = None,
    bbox: BBox = None,
    community_code: str | None = None,
    version: Annotated[
        int | None, Query(ge=1, description="version number (with community_code)")
    ] = None,
    limit: Limit = 1000,
    offset: Offset = 0,
) -> dict[str, Any]:
    """网格 (grids) with `code`, `parent_code`, `households`, `level`, `version`."""
    fc = grid_features(
        session=session,
        level=level,
        bbox=parse_bbox(bbox),
        community=community_code,
        version=version,
        limit=limit,
        offset=offset,
    )
    fc["links"] = page_links(request, fc, limit, offset)
    return fc
