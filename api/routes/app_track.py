"""The reporter's tracking page (``/app/track``), public: the incident's code and reporter
token travel in the URL fragment (``/app/track#<code>.<token>``), which no browser sends, so
the page route never sees them and they stay out of access logs and ``Referer`` headers; the
page's script asks the incidents API with the token as a header (``maps/track.py``)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from api.routes.login import site_path
from geo.store.models import INCIDENT_STATUSES
from maps.policy import new_nonce
from maps.track import track_page

router = APIRouter(prefix="/app", tags=["app"])


@router.get("/track", response_class=HTMLResponse)
def track() -> HTMLResponse:
    """事件跟踪 (track a report): public; open the link given at reporting,
    ``/app/track#<code>.<reporter_token>``. Served with a fresh nonce, no referrer, not
    cached."""
    body, csp = track_page(
        api=site_path(""),
        statuses={k: v[0] for k, v in INCIDENT_STATUSES.items()},
        home=site_path("/app/resident"),
        nonce=new_nonce(),
    )
    return HTMLResponse(
        body,
        headers={
            "Content-Security-Policy": csp,
            "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer",
        },
    )
