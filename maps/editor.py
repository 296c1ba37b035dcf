"""The plan editor (``/app/planner``): an app page (``maps/app_shell.py``) of the selected
community and ``maps/editor.js``, which asks the plans API for everything else — the
community's drafts, the draft's grids and buildings — and sends every edit to it (paint
buildings into a grid, redraw, split, merge, lock, re-partition, undo and redo, validate,
diff, publish, discard), each answer redrawn on the map and in the side panel.

The page holds no plan data itself: a draft changes under the page (another tab, a GIS client)
and the page follows its revision (``ETag``)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from geo.runtime.auth import Principal
from maps.app_shell import AppPage
from maps.build import Rendered
from maps.styles import BAND_COLOUR

__all__ = ["EDITOR_CSS", "editor_page"]

EDITOR_CSS = """
#wg-stale { padding: 6px; margin: 6px 0; background: #fff3cd; border-radius: 4px; }
#wg-grid-list { list-style: none; margin: 0; padding: 0; max-height: 40vh; overflow-y: auto; }
#wg-grid-list li { padding: 3px 4px; cursor: pointer; border-bottom: 1px solid #eee;
  display: flex; gap: 6px; align-items: center; }
#wg-grid-list li.sel { background: #dbe9fb; }
#wg-grid-list i { width: 12px; height: 12px; border-radius: 2px; display: inline-block; }
#wg-findings li, #wg-diff li { cursor: pointer; margin: 2px 0; }
#wg-findings .error { color: #a51d2d; } #wg-findings .warning { color: #9a6700; }
.wg-grid-label { background: none; border: none; font-size: 11px; color: #222;
  text-shadow: 0 0 2px #fff, 0 0 2px #fff; white-space: nowrap; pointer-events: none; }
.wg-box-select { border: 2px dashed #1a5fb4; background: rgba(26,95,180,.1); }
"""


def editor_page(
    session: Session, principal: Principal, *, community: str | None, plan: int | None
) -> Rendered:
    """The editor page for ``community`` (default: the user's, else the first), opening on
    draft ``plan`` if given."""
    page = AppPage(
        session,
        principal,
        community=community,
        title="网格规划编辑器 (plan editor)",
        groups=("draw",),
        css=EDITOR_CSS,
    )
    page.m.options["boxZoom"] = False  # shift-drag selects buildings instead
    return page.render("editor", "editor.js", plan=plan, band_colour=BAND_COLOUR)
