"""The staff's working pages (``/app/...``), served with a fresh CSP nonce like the maps: the
plan editor for planners. A browser without a session is sent to the sign-in form, which
brings it back; a signed-in user of another role gets 403."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.deps import PrincipalDep, SessionDep
from api.routes.login import login_path, site_path
from maps.build import Rendered
from maps.dispatch_app import dispatch_page
from maps.editor import editor_page
from maps.policy import new_nonce

router = APIRouter(prefix="/app", tags=["app"])
__all__ = ["router", "served", "signed_in"]


def signed_in(request: Request, principal: PrincipalDep, *roles: str) -> Response | None:
    """None when the caller may open the page; a 303 to the sign-in form without a session;
    403 for another role."""
    if principal.id is None:
        here = site_path(request.url.path) + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(
            login_path() + "?next=" + quote(here, safe="/"),
            status_code=303,
            headers={"Cache-Control": "no-store"},
        )
    if not principal.has_role(*roles):
        raise HTTPException(
            status_code=403,
            detail=f"角色 {principal.role} 无权使用此页面 (role {principal.role} may not use "
            f"this page; roles: {', '.join(roles)}, admin)",
        )
    return None


@router.get("/planner", response_class=HTMLResponse, responses={303: {"description": "sign in"}})
def planner(
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    community: Annotated[str | None, Query(max_length=64)] = None,
    plan: Annotated[int | None, Query(ge=1, description="a draft to open")] = None,
) -> Response:
    """网格规划编辑器 (the plan editor): planners and admins. Without a session: 303 to
    ``/login?next=…``; another role: 403; an unknown community: 404 naming it."""
    away = signed_in(request, principal, "planner")
    if away is not None:
        return away
    return served(editor_page(session, principal, community=community, plan=plan))


def served(page: Rendered) -> HTMLResponse:
    """A staff page with a fresh nonce on its scripts; never cached (it is the user's)."""
    body, csp = page.served(new_nonce())
    return HTMLResponse(
        body, headers={"Content-Security-Policy": csp, "Cache-Control": "private, no-store"}
    )


@router.get("/dispatcher", response_class=HTMLResponse, responses={303: {"description": "sign in"}})
def dispatcher(
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    community: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    """事件调度台 (the incident console): dispatchers, grid workers and admins, each with the
    incidents ``GET /incidents`` gives it. Without a session: 303 to ``/login?next=…``;
    another role: 403."""
    away = signed_in(request, principal, "dispatcher", "worker")
    if away is not None:
        return away
    return served(dispatch_page(session, principal, community=community))
