"""The residents' page (``/app/resident``): public — no sign-in, no personal data in the page;
everything it shows it asks the public API for (``/nearby``, ``/incidents``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, Response

from api.deps import SessionDep
from maps.policy import new_nonce
from maps.resident_app import resident_page

router = APIRouter(prefix="/app", tags=["app"])


@router.get("/resident", response_class=HTMLResponse)
def resident(
    session: SessionDep,
    community: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    """居民服务 (the residents' page), for anyone: nearby places, search by service, report an
    incident with a receipt and a tracking link. An unknown community: 404 naming it."""
    body, csp = resident_page(session, community=community).served(new_nonce())
    return HTMLResponse(body, headers={"Content-Security-Policy": csp, "Cache-Control": "no-store"})
