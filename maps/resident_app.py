"""The residents' page (``/app/resident``, public): a folium map of a community on its offline
base layer and ``maps/resident_app.js``, which asks the API for everything — nearby places
(``GET /nearby``, by the browser's position or a typed address), search by service
(``GET /nearby?service=``, the closest services suggested on no match, "open now"), and
reporting an incident (``POST /incidents``, then its photo) with a receipt and a tracking link.

Phone first: the map fills the screen and the panel is a bottom sheet over it (a side panel
on a desktop). Coordinates are the storage CRS (CGCS2000 ≈ WGS84) as the API answers them,
so the page draws on the project's own base layer only (a GCJ-02 tile base would not line up
with the positions reported)."""

from __future__ import annotations

from typing import Any

from branca.element import Element
from sqlalchemy.orm import Session

from geo.errors import NotFoundError
from geo.settings import public_path
from geo.store.models import INCIDENT_CATEGORIES
from maps.app_shell import app_basemap
from maps.app_shell import communities as community_list
from maps.assets import own_js
from maps.basemap_layer import base_layer
from maps.build import Rendered
from maps.page import MapContext, config, figure, map_center, new_map
from maps.policy import tile_source

__all__ = ["MAX_PHOTO_BYTES", "RESIDENT_CSS", "resident_page"]

MAX_PHOTO_BYTES = 5 * 1024 * 1024  # checked in the page before sending (the server checks too)

RESIDENT_CSS = """
html, body { margin: 0; padding: 0; height: 100%; overflow: hidden; }
.folium-map { position: absolute !important; left: 0; top: 0; right: 0; bottom: 0;
  width: 100% !important; height: 100% !important; }
#wg-sheet { position: fixed; left: 0; right: 0; bottom: 0; max-height: 58vh; overflow-y: auto;
  overflow-x: hidden; box-sizing: border-box; z-index: 1000; background: #fff;
  border-radius: 14px 14px 0 0; box-shadow: 0 -2px 12px rgba(0,0,0,.25);
  padding: 6px 12px calc(10px + env(safe-area-inset-bottom)); font: 16px/1.4 sans-serif;
  overflow-wrap: anywhere; }
#wg-sheet.picking { max-height: 40vh; }
#wg-sheet.collapsed .wg-body { display: none; }
#wg-sheet h3 { margin: 6px 0; font-size: 17px; }
#wg-sheet h4 { margin: 12px 0 4px; font-size: 15px; }
#wg-sheet .row { display: flex; gap: 6px; align-items: stretch; }
#wg-sheet .row > * { flex: 1 1 auto; min-width: 0; }
#wg-sheet button { min-height: 44px; font-size: 16px; padding: 0 12px; border-radius: 8px;
  border: 1px solid #888; background: #f4f4f4; }
#wg-sheet button.primary { background: #1a5fb4; color: #fff; border-color: #1a5fb4; }
#wg-sheet input[type=text], #wg-sheet input[type=search], #wg-sheet input[type=tel],
#wg-sheet select, #wg-sheet textarea { width: 100%; box-sizing: border-box; min-height: 44px;
  font-size: 16px; padding: 6px 8px; border: 1px solid #999; border-radius: 8px; }
#wg-sheet input[type=file] { width: 100%; min-height: 44px; font-size: 15px; }
#wg-sheet label.check { display: flex; align-items: center; gap: 8px; min-height: 44px; }
#wg-sheet label.check input { width: 22px; height: 22px; }
#wg-sheet textarea { min-height: 88px; }
#wg-sheet ul { list-style: none; margin: 4px 0; padding: 0; }
#wg-sheet li.wg-item { border-bottom: 1px solid #eee; padding: 8px 2px; cursor: pointer;
  min-height: 44px; box-sizing: border-box; }
#wg-sheet li.wg-item small { color: #555; display: block; }
.wg-open { color: #26a269; } .wg-closed { color: #a51d2d; } .wg-unknown { color: #666; }
#wg-suggestions button { margin: 4px 6px 0 0; }
#wg-message { padding: 6px 8px; margin: 6px 0; border-radius: 6px; background: #eef4fb;
  white-space: pre-wrap; }
#wg-message:empty { display: none; }
#wg-message.error { background: #fdecea; color: #a51d2d; }
.wg-privacy { font-size: 13px; color: #333; background: #f6f5f4; padding: 6px 8px;
  border-radius: 6px; }
.wg-receipt { background: #e8f5e9; padding: 8px; border-radius: 8px; }
.wg-hidden { display: none !important; }
@media (min-width: 800px) {
  .folium-map { left: 400px !important; width: calc(100% - 400px) !important; }
  #wg-sheet, #wg-sheet.picking { top: 0; right: auto; width: 400px; max-height: none;
    border-radius: 0; box-shadow: 1px 0 6px rgba(0,0,0,.2); }
}
"""

# what the page says of who sees a report (README "Incidents and personal data")
PRIVACY = (
    "谁能看到什么：描述、照片和准确位置只有负责此网格的网格员、街道调度员和管理员能看到；"
    "您留的电话只在负责处理的工作人员打开这条事件时显示，每次查看都会记录。"
    "公开地图上只有类别、状态和所属网格，位置取整到 50 米网格（与实际位置相差不超过约 35 米）。"
    "凭回执里的跟踪链接，您能看到自己的描述和处理进度。"
    " (Who sees what: the description, photo and exact position only the grid workers of this "
    "grid, the street's dispatchers and admins; your phone only the staff handling it, when "
    "they open it — every such read is logged. The public map shows only category, status "
    "and grid, the position rounded to a 50 m grid (at most ~35 m off). With the tracking "
    "link in your receipt you see your own description and the progress.)"
)


def categories() -> list[dict[str, str]]:
    """The incident categories from the vocabulary (the page's fallback when the server has
    no ``GET /incidents/categories``)."""
    return [
        {"key": k, "name": zh, "name_en": en, "group": "事件类别 (categories)"}
        for k, (zh, en) in INCIDENT_CATEGORIES.items()
    ]


def resident_page(session: Session, *, community: str | None) -> Rendered:
    """The residents' page for ``community`` (default: the first); 404 naming an unknown one."""
    communities = community_list(session)
    codes = [c["code"] for c in communities]
    if community is not None and community not in codes:
        raise NotFoundError(f"社区不存在 (no such community): {community!r}")
    chosen = community or (codes[0] if codes else None)
    ctx = MapContext(session, chosen, app_basemap(), public_path(), 20_000, None)
    m = new_map(ctx, "社区服务与事件上报 (services and reports)", map_center(ctx), ())
    figure(m).header.add_child(Element(f"<style>{RESIDENT_CSS}</style>"), name="wangge_res_css")
    cfg: dict[str, Any] = {
        "base": base_layer(ctx) if chosen else None,
        "communities": communities,
        "community": chosen,
        "categories": categories(),
        "max_photo_bytes": MAX_PHOTO_BYTES,
        "privacy": PRIVACY,
    }
    config(m, ctx, "resident_app", **cfg)
    figure(m).html.add_child(
        Element(
            "<script>"
            + own_js("app_util.js")
            + "</script><script>"
            + own_js("resident_app.js")
            + "</script>"
        ),
        name="wangge_res_js",
    )
    return Rendered(m.get_root().render(), ctx.stats, tile_source(ctx.base.url))
