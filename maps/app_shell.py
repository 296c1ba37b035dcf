"""What the staff's app pages (``/app/...``) share: a folium map of one community on the
offline base layer, a side panel's stylesheet, ``window.WANGGE`` and the page's own script
(``maps/<name>.js``), after ``maps/wangge.js``. The page holds no records itself: its script
asks the API for them, as the signed-in user may see them.

Coordinates are the storage CRS (CGCS2000 ≈ WGS84) as the API answers them: a tile base map
in GCJ-02 (Amap, Tencent) would not line up with them, so an app page uses none then, and draws
on the project's own base layer alone."""

from __future__ import annotations

from typing import Any

from branca.element import Element
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import NotFoundError
from geo.runtime.auth import Principal
from geo.settings import get_settings, public_path
from maps import queries
from maps.assets import own_js
from maps.basemap_layer import base_layer
from maps.basemaps import Basemap, basemap
from maps.build import Rendered
from maps.page import MapContext, config, figure, map_center, new_map
from maps.policy import tile_source

__all__ = ["PANEL_CSS", "AppPage", "app_basemap", "app_page", "communities"]

PANEL_CSS = """
.folium-map { position: absolute !important; left: 0; top: 0; bottom: 0;
  width: calc(100% - 360px) !important; height: 100% !important; }
.wg-panel { position: fixed; right: 0; top: 0; bottom: 0; width: 360px; overflow-y: auto;
  box-sizing: border-box; padding: 8px 10px; background: #fafafa; border-left: 1px solid #ccc;
  font-size: 13px; z-index: 1000; }
.wg-panel h3 { margin: 4px 0; font-size: 16px; }
.wg-panel h4 { margin: 10px 0 4px; font-size: 13px; border-bottom: 1px solid #ddd; }
.wg-panel select, .wg-panel button, .wg-panel input, .wg-panel textarea { font-size: 13px;
  margin: 2px 2px 2px 0; max-width: 100%; box-sizing: border-box; }
.wg-panel button { min-height: 28px; }
.wg-panel button.on { background: #1a5fb4; color: #fff; }
.wg-panel .row { display: flex; flex-wrap: wrap; align-items: center; gap: 2px; }
.wg-message { padding: 6px; margin: 6px 0; border-radius: 4px; background: #eef4fb;
  min-height: 1.2em; white-space: pre-wrap; }
.wg-message.error { background: #fdecea; color: #a51d2d; }
"""


def app_basemap() -> Basemap:
    """The configured tile base map, or none when it is in GCJ-02 (the API's coordinates would
    not line up with it): the base map of every app page."""
    base = basemap(get_settings().basemap)
    return basemap("none") if base.gcj02 else base


def communities(session: Session) -> list[dict[str, str]]:
    """Every community, code and name (as stored: the page's script escapes what it shows),
    by code: an app page's community list."""
    rows = session.execute(text("SELECT code, name FROM community ORDER BY code")).all()
    return [{"code": r[0], "name": r[1]} for r in rows]


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


class AppPage:
    """One app page being built: its map (``m``), its context, and the community chosen."""

    def __init__(
        self,
        session: Session,
        principal: Principal,
        *,
        community: str | None,
        title: str,
        groups: tuple[str, ...] = (),
        css: str = "",
    ) -> None:
        self.communities = communities(session)
        codes = [c["code"] for c in self.communities]
        self.community = _default_community(session, principal, codes, community)
        self.principal = principal
        self.ctx = MapContext(
            session, self.community, app_basemap(), public_path(), 20_000, principal
        )
        self.m = new_map(self.ctx, title, map_center(self.ctx), groups)
        figure(self.m).header.add_child(
            Element(f"<style>{PANEL_CSS}{css}</style>"), name="wangge_app_css"
        )

    def render(self, kind: str, script: str, **data: Any) -> Rendered:
        """The page: ``window.WANGGE`` (kind, base layer, communities, user, ``data``), then
        ``maps/wangge.js`` and the page's own ``script``."""
        cfg: dict[str, Any] = {
            "app": True,  # maps/wangge.js leaves WG.ready to the page's own script
            "base": base_layer(self.ctx, footprints=False) if self.community else None,
            "communities": self.communities,
            "community": self.community,
            "user": {"name": self.principal.name, "role": self.principal.role},
            **data,
        }
        config(self.m, self.ctx, kind, **cfg)
        figure(self.m).html.add_child(
            Element(
                "<script>"
                + own_js("app_util.js")
                + "</script><script>"
                + own_js(script)
                + "</script>"
            ),
            name="wangge_app_js",
        )
        return Rendered(self.m.get_root().render(), self.ctx.stats, tile_source(self.ctx.base.url))


def app_page(
    session: Session,
    principal: Principal,
    *,
    community: str | None,
    title: str,
    kind: str,
    script: str,
    groups: tuple[str, ...] = (),
    css: str = "",
    **data: Any,
) -> Rendered:
    """An app page in one call (see :class:`AppPage`)."""
    page = AppPage(session, principal, community=community, title=title, groups=groups, css=css)
    return page.render(kind, script, **data)
