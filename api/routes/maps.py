"""The web maps, served: the resident map to everyone, the planner and dispatcher maps behind
their roles. Served pages ask the API for "near me" and for layers too large to embed.

Each answer carries a Content-Security-Policy with a fresh nonce (only the page's own scripts
run), and may not be framed. The resident map is public and built once per data version
(its communities, compounds, buildings, roads, service places), then served from the app's cache;
the dispatcher map holds the caller's incidents only."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from api.caches import app_cache
from api.deps import SessionDep, require_role
from geo.runtime.auth import Principal
from geo.settings import get_settings, public_path
from geo.store.dataversion import data_versions
from maps.build import Rendered, render_map
from maps.policy import new_nonce

router = APIRouter(prefix="/maps", tags=["maps"])
Community = Annotated[str | None, Query(max_length=64, description="community code (default all)")]
RESIDENT_DATA = ("community", "compound", "building", "facility", "open_resource", "road")


def _page(r: Rendered, *, private: bool) -> HTMLResponse:
    body, csp = r.served(new_nonce())
    return HTMLResponse(
        body,
        headers={
            "Content-Security-Policy": csp,
            "Cache-Control": "private, no-store" if private else "no-cache",
        },
    )


@router.get("/resident", response_class=HTMLResponse)
def resident(request: Request, session: SessionDep, community: Community = None) -> HTMLResponse:
    """居民服务地图 (resident service map): public. 404 naming an unknown community."""
    version = (
        tuple(data_versions(session, RESIDENT_DATA).items()),
        get_settings().basemap,
        public_path(),  # the page's links and requests start with it
    )
    r = app_cache(request, "pages").get(
        ("resident", community),
        version,
        lambda: render_map(session, "resident", community=community, api=public_path()),
    )
    return _page(r, private=False)


@router.get("/planner", response_class=HTMLResponse)
def planner(
    session: SessionDep,
    who: Annotated[Principal, Depends(require_role("planner"))],
    community: Community = None,
    plan: Annotated[int | None, Query(description="a draft plan to show with its findings")] = None,
    embed_limit: Annotated[
        int, Query(ge=0, le=1_000_000, description="above this many buildings, load by bbox")
    ] = 20_000,
) -> HTMLResponse:
    """网格规划地图 (grid planning map): planners. 404 naming an unknown community or plan, 400
    for a plan of another community."""
    r = render_map(
        session,
        "planner",
        community=community,
        api=public_path(),
        plan=plan,
        embed_limit=embed_limit,
        principal=who,  # opens on the planner's scope, if it has one
    )
    return _page(r, private=True)


@router.get("/dispatcher", response_class=HTMLResponse)
def dispatcher(
    session: SessionDep,
    who: Annotated[Principal, Depends(require_role("dispatcher", "worker"))],
    community: Community = None,
) -> HTMLResponse:
    """事件调度地图 (incident dispatch map): dispatchers and grid workers, each with the
    incidents of its own scope (a grid worker its grids, a dispatcher its street, an admin
    all). 404 naming an unknown community."""
    r = render_map(session, "dispatcher", community=community, api=public_path(), principal=who)
    return _page(r, private=True)
