"""The grid worker's page (``/app/worker``, phone first) and the dispatcher's notices page
(``/app/notices``): folium maps on the offline base layer with the pages' own scripts
(``maps/worker_app.js``, ``maps/notices_app.js``), which ask the API for everything personal
— households (``GET /households``), incidents, notices — so the page carries only the grids
of the caller's scope (codes, household counts, outlines)."""

from __future__ import annotations

from typing import Any

from branca.element import Element
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import NotFoundError, PermissionDenied
from geo.incidents import own_grid_codes
from geo.runtime.auth import Principal
from geo.settings import public_path
from geo.store.models import INCIDENT_CATEGORIES, OPINIONS
from geo.store.versions.read import household_count, micro_grids_under
from maps import queries
from maps.app_shell import app_basemap
from maps.assets import own_js
from maps.basemap_layer import base_layer
from maps.build import Rendered
from maps.page import MapContext, config, figure, geojson, map_center, new_map
from maps.policy import tile_source

__all__ = ["APP_CSS", "notices_page", "worker_page"]

# phone first: the map on top, the panel under it; from 900 px wide the panel at the right
APP_CSS = """
html, body { height: auto !important; overflow-x: hidden; }
body { margin: 0; }
.folium-map { position: relative !important; width: 100% !important; height: 38vh !important; }
#wg-app { box-sizing: border-box; width: 100%; padding: 8px 10px 40px; font-size: 15px;
  background: #fafafa; }
#wg-app h3 { margin: 4px 0; font-size: 17px; }
#wg-app h4 { margin: 14px 0 6px; font-size: 15px; border-bottom: 1px solid #ddd; }
#wg-app ul { list-style: none; margin: 0; padding: 0; }
#wg-app li { padding: 8px 6px; border-bottom: 1px solid #eee; overflow-wrap: anywhere; }
#wg-app li.sel { background: #dbe9fb; }
#wg-app [data-testid="worker-grid"] { cursor: pointer; min-height: 28px; }
#wg-app label { display: block; margin: 6px 0 2px; }
#wg-app input, #wg-app select, #wg-app textarea, #wg-app button { font-size: 16px;
  box-sizing: border-box; max-width: 100%; }
#wg-app input, #wg-app select, #wg-app textarea { width: 100%; min-height: 44px; padding: 6px; }
#wg-app button { min-height: 44px; min-width: 44px; padding: 6px 14px; margin: 6px 4px 0 0; }
#wg-app .row { display: flex; gap: 6px; align-items: center; flex-wrap: wrap; }
#wg-app .row input { flex: 1 1 6em; width: auto; }
#wg-app .muted { color: #666; font-size: 13px; }
#wg-app .share { font-size: 28px; font-weight: bold; }
#wg-message { padding: 8px; margin: 6px 0; border-radius: 4px; background: #eef4fb;
  min-height: 1.2em; white-space: pre-wrap; overflow-wrap: anywhere; }
#wg-message.error { background: #fdecea; color: #a51d2d; }
@media (min-width: 900px) {
  .folium-map { position: fixed !important; left: 0; top: 0; bottom: 0;
    width: calc(100% - 420px) !important; height: 100% !important; }
  #wg-app { position: fixed; right: 0; top: 0; bottom: 0; width: 420px; overflow-y: auto;
    border-left: 1px solid #ccc; }
}
"""


def _grid_rows(session: Session, codes: list[str]) -> list[dict[str, Any]]:
    rows = session.execute(
        text(
            f"SELECT g.code, g.name, {household_count()} AS households, "
            "ST_AsBinary(g.boundary) AS geom FROM grid g JOIN grid_version v "
            "ON v.id = g.version_id AND v.status = 'published' WHERE g.code = ANY(:c) "
            "ORDER BY g.code"
        ),
        {"c": codes},
    ).mappings()
    return [dict(r) for r in rows]


def _micro_under(session: Session, grid: str) -> list[str]:
    codes = micro_grids_under(session, grid)
    if not codes:
        raise NotFoundError(f"网格不存在 (no such grid): {grid!r}")
    return codes


def _context(session: Session, principal: Principal, community: str | None) -> MapContext:
    return MapContext(session, community, app_basemap(), public_path(), 20_000, principal)


def _render(ctx: MapContext, title: str, kind: str, script: str, **cfg: Any) -> Rendered:
    m = new_map(ctx, title, map_center(ctx), ())
    figure(m).header.add_child(Element(f"<style>{APP_CSS}</style>"), name="wangge_app_css")
    config(m, ctx, kind, base=base_layer(ctx, footprints=False) if ctx.community else None, **cfg)
    figure(m).html.add_child(
        Element(
            "<script>" + own_js("app_util.js") + "</script><script>" + own_js(script) + "</script>"
        ),
        name=kind,
    )
    return Rendered(m.get_root().render(), ctx.stats, tile_source(ctx.base.url))


def worker_page(session: Session, principal: Principal, *, grid: str | None) -> Rendered:
    """The worker's page: its micro-grids (an admin: those under ``grid``, default the first
    community grid's) on the map and in the list; the rest comes from the API."""
    if principal.role == "worker" and grid is None:
        codes = own_grid_codes(session, principal)
    else:
        first = session.execute(
            text(
                "SELECT g.code FROM grid g JOIN grid_version v ON v.id = g.version_id AND "
                "v.status = 'published' WHERE g.level = 'community' ORDER BY g.code LIMIT 1"
            )
        ).scalar()
        codes = _micro_under(session, grid or first or "")
        if principal.role == "worker" and not set(codes) <= set(own_grid_codes(session, principal)):
            raise PermissionDenied(
                f"网格 {grid} 不归你负责 (grid {grid} is not yours; yours: {principal.grid_code})"
            )
    scope = queries.scope_communities(session, None, codes[0]) if codes else []
    ctx = _context(session, principal, scope[0] if scope else None)
    return _render(
        ctx,
        "网格员工作台 (grid worker)",
        "worker",
        "worker_app.js",
        grids=geojson(ctx, _grid_rows(session, codes), ["code", "name", "households"]),
        user={"name": principal.name, "role": principal.role},
        opinions={k: v[0] for k, v in OPINIONS.items()},
        categories={k: v[0] for k, v in INCIDENT_CATEGORIES.items()},
    )


def notices_page(session: Session, principal: Principal) -> Rendered:
    """The dispatcher's notices page: the grids of its street to choose from (an admin:
    every community grid's micro-grids … by community), the send form and the live view."""
    communities = queries.scope_communities(session, principal.street_code, None)
    if principal.role == "admin" and not communities:
        communities = list(
            session.execute(text("SELECT code FROM community ORDER BY code")).scalars()
        )
    codes = sorted(
        set(
            session.execute(
                text(
                    "SELECT g.code FROM grid g JOIN grid_version v ON v.id = g.version_id AND "
                    "v.status = 'published' JOIN community c ON c.id = v.community_id "
                    "WHERE c.code = ANY(:c) AND g.level = 'micro'"
                ),
                {"c": communities},
            ).scalars()
        )
    )
    ctx = _context(session, principal, communities[0] if communities else None)
    return _render(
        ctx,
        "应急通知 (emergency notices)",
        "notices",
        "notices_app.js",
        grids=geojson(ctx, _grid_rows(session, codes), ["code", "name", "households"]),
        street=principal.street_code,
        user={"name": principal.name, "role": principal.role},
    )
