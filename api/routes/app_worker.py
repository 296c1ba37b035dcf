"""The grid worker's page (``/app/worker``) and the dispatcher's notices page
(``/app/notices``), served like the plan editor: a fresh CSP nonce, a browser without a
session sent to the sign-in form, another role a 403."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from api.deps import PrincipalDep, SessionDep
from api.routes.app import served, signed_in
from maps.worker_app import notices_page, worker_page

router = APIRouter(prefix="/app", tags=["app"])


@router.get("/worker", response_class=HTMLResponse, responses={303: {"description": "sign in"}})
def worker(
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    grid: Annotated[str | None, Query(max_length=64, description="an admin: whose grids")] = None,
) -> Response:
    """网格员工作台 (the grid worker's page, phone first): its grids, their incidents and
    households, visits, notices to acknowledge. Grid workers and admins."""
    away = signed_in(request, principal, "worker")
    if away is not None:
        return away
    return served(worker_page(session, principal, grid=grid))


@router.get("/notices", response_class=HTMLResponse, responses={303: {"description": "sign in"}})
def notices(request: Request, session: SessionDep, principal: PrincipalDep) -> Response:
    """应急通知 (send a notice and watch it live): dispatchers and admins."""
    away = signed_in(request, principal, "dispatcher")
    if away is not None:
        return away
    return served(notices_page(session, principal))
