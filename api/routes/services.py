"""Residents' nearby service places; planners' coverage and new site suggestions."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from api.deps import SessionDep, require_role
from api.routes.locate import get_locator
from api.schemas.services import Coverage, SiteSuggestion
from geo.errors import InputError
from geo.locate import locate_address, parse_point
from geo.places import coverage, nearby, suggest_sites
from geo.runtime.auth import Principal

router = APIRouter(tags=["services"])


@router.get("/nearby", response_class=JSONResponse)
def nearby_route(
    request: Request,
    session: SessionDep,
    lon: Annotated[str | None, Query()] = None,
    lat: Annotated[str | None, Query()] = None,
    crs: Annotated[str, Query(description="wgs84 | cgcs2000 | gcj02 | bd09 | EPSG:NNNN")] = "wgs84",
    address: Annotated[str | None, Query(max_length=200)] = None,
    kinds: Annotated[
        str | None, Query(description="comma-separated facility/resource kinds")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
    within_m: Annotated[
        float | None,
        Query(gt=0, description="metres, at most WANGGE_NEARBY_MAX_M (5000); 400 above"),
    ] = None,
    service: Annotated[
        str | None,
        Query(description="a service as a resident types it (居住证, 长者食堂 …), 1–50 characters"),
    ] = None,
    open_now: Annotated[
        bool, Query(description="only places open now (Asia/Shanghai), by their hours")
    ] = False,
) -> JSONResponse:
    """附近的服务场所 (nearby service places), nearest first: straight-line distance in metres,
    walking distance along the streets when the network is loaded, open now, services;
    `service=` keeps the places offering it (by substring and synonyms; none: `suggestions`),
    `open_now=true` those open now."""
    if address:
        p = locate_address(session, get_locator(request), address)
        x, y = p.lon, p.lat
    elif lon is not None and lat is not None:
        x, y = parse_point(lon, lat, crs)
    else:
        raise InputError("需要 lon 和 lat，或 address (give lon and lat, or address)")
    return JSONResponse(
        nearby(
            session,
            x,
            y,
            kinds=kinds,
            limit=limit,
            within_m=within_m,
            service=service,
            open_now=open_now,
        ),
        media_type="application/geo+json",
    )


Planner = Annotated[Principal, Depends(require_role("planner"))]


@router.get("/coverage", response_model=Coverage)
def coverage_route(
    session: SessionDep,
    _: Planner,
    kind: Annotated[str, Query(description="facility or resource kind")],
    community_code: str | None = None,
    limit_m: Annotated[float | None, Query(gt=0, le=10_000)] = None,
) -> dict[str, Any]:
    """覆盖率 (coverage): households within a walk of `kind`, per micro-grid (planners)."""
    return coverage(session, kind, community=community_code, limit_m=limit_m)


@router.get("/coverage/suggest", response_model=SiteSuggestion, response_model_exclude_unset=True)
def suggest_route(
    session: SessionDep,
    _: Planner,
    kind: str,
    k: Annotated[int, Query(ge=1, le=20)] = 3,
    community_code: str | None = None,
    limit_m: Annotated[float | None, Query(gt=0, le=10_000)] = None,
) -> dict[str, Any]:
    """新站点建议 (suggested sites): up to k new sites covering the most uncovered households."""
    return suggest_sites(session, kind, k, community=community_code, limit_m=limit_m)
