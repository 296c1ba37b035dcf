"""Read endpoints for the base layers, as GeoJSON FeatureCollections with bbox and paging."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from sqlalchemy.orm import Session

from api.deps import SessionDep
from api.schemas import FeatureCollection
from api.urls import public_url
from geo.store.features import feature_collection, parse_bbox
from geo.store.models import FACILITY_KINDS, RESOURCE_KINDS

router = APIRouter(tags=["layers"])

BBox = Annotated[
    str | None,
    Query(
        description="minlon,minlat,maxlon,maxlat (CRS84), e.g. 104.019,30.624,104.030,30.633",
        examples=["104.019,30.624,104.030,30.633"],
    ),
]
Limit = Annotated[int, Query(ge=1, le=10_000, description="page size")]
Offset = Annotated[int, Query(ge=0, description="features to skip")]
GEOJSON = "application/geo+json"


def _page(
    request: Request,
    session: Session,
    kind: str,
    bbox: str | None,
    limit: int,
    offset: int,
    filters: dict[str, str | None],
) -> dict[str, Any]:
    fc = feature_collection(
        session=session,
        kind=kind,
        bbox=parse_bbox(bbox),
        limit=limit,
        offset=offset,
        filters={k: v for k, v in filters.items() if v is not None},
    )
    fc["links"] = page_links(request, fc, limit, offset)
    return fc


def page_links(
    request: Request, fc: dict[str, Any], limit: int, offset: int
) -> list[dict[str, str]]:
    """self / next / prev links of a page, under the public URL (never the Host header)."""
    params = dict(request.query_params)
    links = [{"rel": "self", "type": GEOJSON, "href": public_url(request)}]
    if offset + fc["numberReturned"] < fc["numberMatched"]:
        nxt = params | {"offset": str(offset + limit), "limit": str(limit)}
        links.append({"rel": "next", "type": GEOJSON, "href": public_url(request, nxt)})
    if offset > 0:
        prev = params | {"offset": str(max(0, offset - limit)), "limit": str(limit)}
        links.append({"rel": "prev", "type": GEOJSON, "href": public_url(request, prev)})
    return links


def _route(kind: str, summary: str, **extra: Any) -> Callable[[Any], Any]:
    """A GET route for a layer's FeatureCollection (``application/geo+json``)."""
    return router.get(
        f"/{kind}",
        response_model=FeatureCollection,
        summary=summary,
        responses={200: {"content": {GEOJSON: {}}}},
        **extra,
    )


@_route("communities", "社区 (communities)")
def communities(
    request: Request,
    session: SessionDep,
    bbox: BBox = None,
    limit: Limit = 100,
    offset: Offset = 0,
    street_code: str | None = None,
) -> dict[str, Any]:
    return _page(request, session, "communities", bbox, limit, offset, {"street_code": street_code})


@_route("compounds", "小区/院落 (compounds)")
def compounds(
    request: Request,
    session: SessionDep,
    bbox: BBox = None,
    limit: Limit = 100,
    offset: Offset = 0,
    community_code: str | None = None,
) -> dict[str, Any]:
    return _page(
        request, session, "compounds", bbox, limit, offset, {"community_code": community_code}
    )


@_route("buildings", "楼栋 (buildings)")
def buildings(
    request: Request,
    session: SessionDep,
    bbox: BBox = None,
    limit: Limit = 100,
    offset: Offset = 0,
    community_code: str | None = None,
    compound_code: str | None = None,
) -> dict[str, Any]:
    return _page(
        request,
        session,
        "buildings",
        bbox,
        limit,
        offset,
        {"community_code": community_code, "compound_code": compound_code},
    )


FacilityKind = Annotated[str | None, Query(description=" | ".join(FACILITY_KINDS))]
ResourceKind = Annotated[str | None, Query(description=" | ".join(RESOURCE_KINDS))]


@_route("facilities", "服务场所 (service facilities)")
def facilities(
    request: Request,
    session: SessionDep,
    bbox: BBox = None,
    limit: Limit = 100,
    offset: Offset = 0,
    kind: FacilityKind = None,
    community_code: str | None = None,
) -> dict[str, Any]:
    return _page(
        request,
        session,
        "facilities",
        bbox,
        limit,
        offset,
        {"kind": kind, "community_code": community_code},
    )


@_route("resources", "开放资源 (open resources)")
def resources(
    request: Request,
    session: SessionDep,
    bbox: BBox = None,
    limit: Limit = 100,
    offset: Offset = 0,
    kind: ResourceKind = None,
    community_code: str | None = None,
) -> dict[str, Any]:
    return _page(
        request,
        session,
        "resources",
        bbox,
        limit,
        offset,
        {"kind": kind, "community_code": community_code},
    )
