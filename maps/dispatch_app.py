"""The incident console (``/app/dispatcher``): an app page (``maps/app_shell.py``) and
``maps/dispatch_app.js``, which lists the caller's incidents from ``GET /incidents`` (exactly the
scope that route gives: a grid worker its grids', a dispatcher its street's, an admin all),
sorted by deadline and polled every few seconds, on the map and in a list with filters; opens
one (``GET /incidents/{code}``: history, grid chain, workers, reporter contact as the role
allows — that read is audited), moves it through the lifecycle with a note (closing records an
outcome), reassigns it to a co-owner grid, and locates an address or a clicked point."""

from __future__ import annotations

from sqlalchemy.orm import Session

from geo.runtime.auth import Principal
from geo.store.models.vocabularies import INCIDENT_CATEGORIES, INCIDENT_STATUSES
from maps.app_shell import AppPage
from maps.build import Rendered
from maps.styles import STATUS_COLOUR

__all__ = ["POLL_MS", "dispatch_page"]

POLL_MS = 3000  # a new report shows within this (the issue: within 5 s)

CONSOLE_CSS = """
#wg-incident-list { list-style: none; margin: 0; padding: 0; max-height: 34vh; overflow-y: auto; }
#wg-incident-list li { padding: 4px; border-bottom: 1px solid #eee; cursor: pointer; }
#wg-incident-list li.sel { background: #dbe9fb; }
#wg-incident-list li.new { animation: wg-flash 1.5s 2; }
@keyframes wg-flash { 50% { background: #fff3cd; } }
#wg-incident-list .overdue { color: #a51d2d; font-weight: bold; }
.wg-dot { display: inline-block; width: 10px; height: 10px; border-radius: 50%;
  margin-right: 4px; vertical-align: middle; }
#wg-detail dl { margin: 0; } #wg-detail dt { font-weight: bold; margin-top: 4px; }
#wg-detail dd { margin: 0 0 2px 0; }
#wg-detail textarea, #wg-locate-input { width: 100%; }
#wg-detail img { max-width: 100px; max-height: 100px; margin: 2px; }
"""


def dispatch_page(session: Session, principal: Principal, *, community: str | None) -> Rendered:
    """The console of ``principal`` (its scope's incidents; the map opens on its community)."""
    page = AppPage(
        session,
        principal,
        community=community,
        title="事件调度台 (incident console)",
        css=CONSOLE_CSS,
    )
    return page.render(
        "console",
        "dispatch_app.js",
        statuses={k: v[0] for k, v in INCIDENT_STATUSES.items()},
        categories={k: v[0] for k, v in INCIDENT_CATEGORIES.items()},
        status_colour=STATUS_COLOUR,
        poll_ms=POLL_MS,
        outcomes={
            "solved": "已解决 (solved)",
            "not_solved": "未解决 (not solved)",
            "referred": "已转交 (referred elsewhere)",
        },
    )
