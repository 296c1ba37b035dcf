"""Home visits (入户走访): recorded by grid workers; a problem becomes an incident."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from api.deps import SessionDep, require_role
from api.routes.locate import get_locator
from api.schemas.visits import Visit, VisitCreate, VisitList
from geo.runtime.auth import Principal
from geo.visits import list_visits, record_visit

router = APIRouter(tags=["visits"])


@router.post("/visits", status_code=201, response_model=Visit, response_model_exclude_none=True)
def create(
    body: VisitCreate,
    request: Request,
    session: SessionDep,
    principal: Annotated[Principal, Depends(require_role("worker"))],
) -> dict[str, Any]:
    """登记走访 (record a visit): a grid worker, for a household of its grids (an admin: any).
    An opinion 问题 (problem) files an incident at the household's building in the same
    transaction (``problem_category`` required); the visit names it."""
    return record_visit(
        session,
        principal,
        get_locator(request),
        household=body.household,
        visit_date=body.date,
        note=body.note,
        opinion=body.opinion,
        problem_category=body.problem_category,
    )


@router.get("/visits", response_model=VisitList, response_model_exclude_none=True)
def visits(
    session: SessionDep,
    principal: Annotated[Principal, Depends(require_role("worker", "dispatcher"))],
    grid: Annotated[str | None, Query(max_length=64)] = None,
    household: Annotated[str | None, Query(max_length=64)] = None,
    since: Annotated[str | None, Query(max_length=10, description="YYYY-MM-DD")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> dict[str, Any]:
    """走访记录 (visits): a worker its grids', a dispatcher its street's (no names), an admin
    all; household heads' names as ``GET /households`` gives them, audited."""
    return list_visits(session, principal, grid=grid, household=household, since=since, limit=limit)
