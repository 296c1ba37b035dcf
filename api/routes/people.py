"""Households by role (personal data audit-logged) and emergency reach."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from api.deps import SessionDep, require_role
from api.schemas.people import HouseholdPage, HouseholdPagePersonal, Reach
from geo.errors import InputError
from geo.people import emergency_reach, list_households
from geo.runtime.auth import Principal

router = APIRouter(tags=["people"])


@router.get("/households", response_model=HouseholdPagePersonal | HouseholdPage)
def households(
    session: SessionDep,
    principal: Annotated[Principal, Depends(require_role("worker", "planner"))],
    grid: Annotated[str, Query(description="grid code (any level)")],
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    """住户 (households of a grid): a grid worker, of its own grids, with names and phones
    (each read audit-logged); a planner without them."""
    return list_households(session, principal, grid=grid, limit=limit, offset=offset)


@router.get("/emergency/reach", response_model=Reach)
def reach(
    session: SessionDep,
    principal: Annotated[Principal, Depends(require_role("dispatcher"))],
    grids: Annotated[
        str | None, Query(description="comma-separated grid codes (in your street)")
    ] = None,
    street: Annotated[str | None, Query(description="street code: yours (an admin: any)")] = None,
    hop_minutes: Annotated[str, Query(description="4 comma-separated minutes")] = "1,1,1,1",
    households_per_minute: Annotated[float, Query(gt=0, le=10_000)] = 30.0,
) -> dict[str, Any]:
    """应急触达 (emergency reach): the fan-out tree, unreachable households, the share within
    5 minutes. A dispatcher of its own street only (403 naming the street); an admin of any."""
    try:
        hops = tuple(float(x) for x in hop_minutes.split(","))
    except ValueError:
        raise InputError(f"hop_minutes 应为数字 (must be numbers): {hop_minutes!r}") from None
    return emergency_reach(
        session,
        principal,
        grids=[g for g in (grids or "").split(",") if g] or None,
        street=street,
        hop_minutes=hops,
        households_per_minute=households_per_minute,
    )
