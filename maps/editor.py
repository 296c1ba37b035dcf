"""The plan editor (``/app/planner``): a folium map of the selected community on its offline
base layer, and ``maps/editor.js``, which asks the plans API for everything else — the
community's drafts, the draft's grids and buildings — and sends every edit to it (paint
buildings into a grid, redraw, split, merge, lock, re-partition, undo and redo, validate,
diff, publish, discard), each answer redrawn on the map and in the side panel.

The page holds no plan data itself: a draft changes under the page (another tab, a GIS client)
and the page follows its revision (``ETag``). Coordinates are the storage CRS (CGCS2000 ≈
WGS84) as the API answers them: a tile base map in GCJ-02 (Amap, Tencent) would not line up
with them, so the editor draws on the project's own base layer only when one is configured."""

from __future__ import annotations

from typing import Any

from branca.element import Element
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import NotFoundError
from geo.runtime.auth import Principal
from geo.settings import get_settings
from maps import queries
from maps.assets import own_js
from maps.basemap_layer import base_layer
from maps.basemaps import basemap
from maps.build import Rendered
from maps.page import MapContext, config, figure, map_center, new_map
from maps.page import text as esc
from maps.policy import tile_source
from maps.styles import BAND_COLOUR

__all__ = ["EDITOR_CSS", "editor_page"]

EDITOR_CSS = """
.folium-map { position: absolute !important; left: 0; top: 0; bottom: 0;
  width: calc(100% - 360px) !important; height: 100% !important; }
#wg-editor { position: fixed; right: 0; top: 0; bottom: 0; width: 360px; overflow-y: auto;
  box-sizing: border-box; padding: 8px 10px; background: #fafafa; border-left: 1px solid #ccc;
  font-size: 13px; z-index: 1000; }
#wg-editor h3 { margin: 4px 0; font-size: 16px; }
#wg-editor h4 { margin: 10px 0 4px; font-size: 13px; border-bottom: 1px solid #ddd; }
#wg-editor select, #wg-editor button { font-size: 13px; margin: 2px 2px 2px 0; max-width: 100%; }
#wg-editor button { min-height: 28px; }
#wg-editor button.on { background: #1a5fb4; color: #fff; }
#wg-editor .row { display: flex; flex-wrap: wrap; align-items: center; gap: 2px; }
#wg-message { padding: 6px; margin: 6px 0; border-radius: 4px; background: #eef4fb;
  min-height: 1.2em; white-space: pre-wrap; }
#wg-message.error { background: #fdecea; color: #a51d2d; }
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


def _communities(session: Session) -> list[dict[str, str]]:
    rows = session.execute(text("SELECT code, name FROM community ORDER BY code")).all()
    return [{"code": r[0], "name": esc(r[1])} for r in rows]


def _default_community(
    session: Session, principal: Principal, codes: list[str], asked: str | None
) -> str | None:
    """The asked community (404 naming an unknown one), else the user's (a street's first,
    a grid's), else the first there is."""
    if asked is not None:
        if asked not in codes:
            raise NotFoundError(f"社区不存在 (no such community): {asked!r}")
        return asked
    if principal.street_code or principal.grid_code:
        mine = queries.scope_communities(session, principal.street_code, principal.grid_code)
        if mine:
            return mine[0]
    return codes[0] if codes else None


def editor_page(
    session: Session, principal: Principal, *, community: str | None, plan: int | None
) -> Rendered:
    """The editor page for ``community`` (default: the user's, else the first), opening on
    draft ``plan`` if given."""
    communities = _communities(session)
    chosen = _default_community(session, principal, [c["code"] for c in communities], community)
    base = basemap(get_settings().basemap)
    if base.gcj02:  # the API's coordinates would not line up with GCJ-02 tiles
        base = basemap("none")
    ctx = MapContext(session, chosen, base, "", 20_000, principal)
    m = new_map(ctx, "网格规划编辑器 (plan editor)", map_center(ctx), ("draw",))
    m.options["boxZoom"] = False  # shift-drag selects buildings instead
    figure(m).header.add_child(_style(), name="wangge_editor_css")
    cfg: dict[str, Any] = {
        "base": base_layer(ctx, footprints=False) if chosen else None,
        "communities": communities,
        "community": chosen,
        "plan": plan,
        "user": {"name": esc(principal.name), "role": principal.role},
        "band_colour": BAND_COLOUR,
    }
    config(m, ctx, "editor", **cfg)
    figure(m).html.add_child(_script(), name="wangge_editor_js")
    return Rendered(m.get_root().render(), ctx.stats, tile_source(ctx.base.url))


def _style() -> Element:
    return Element(f"<style>{EDITOR_CSS}</style>")


def _script() -> Element:
    return Element("<script>" + own_js("editor.js") + "</script>")
