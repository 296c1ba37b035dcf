"""What every map page is made of: the context a map is built in (session, scope, base map,
display coordinates), features as escaped GeoJSON, the folium map with Leaflet inlined, the
legend, and the configuration ``maps/wangge.js`` reads."""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import folium
import numpy as np
import shapely
from branca.element import Element, Figure, MacroElement
from folium.elements import JSCSSMixin
from sqlalchemy.orm import Session

from geo.core.crs import wgs84_to_gcj02
from geo.runtime.auth import Principal
from maps import queries
from maps.assets import inline_css, inline_js, own_js
from maps.basemaps import Basemap
from maps.styles import CSS

__all__ = [
    "MapContext",
    "config",
    "figure",
    "geojson",
    "legend",
    "map_bounds",
    "map_center",
    "new_map",
    "offline",
    "text",
    "tooltip",
]


@dataclass
class MapContext:
    session: Session
    community: str | None
    base: Basemap
    api: str | None  # "" when served by the API (same origin), None for a standalone file
    embed_limit: int
    principal: Principal | None = None  # whose dispatcher map (None: everything, as an admin)
    stats: dict[str, int] = field(default_factory=dict)
    bounds: list[list[float]] | None = None  # where the map opens (set by new_map)

    def shift(self, geoms: Any) -> Any:
        """Storage (CGCS2000 ≈ WGS84) → display coordinates, rounded to ~0.1 m."""
        arr = np.asarray(geoms, dtype=object)
        if self.base.gcj02:
            arr = shapely.transform(
                arr, lambda c: np.column_stack(wgs84_to_gcj02(c[:, 0], c[:, 1]))
            )
        return shapely.set_precision(arr, 1e-6)

    def point(self, lon: float, lat: float) -> tuple[float, float]:
        if self.base.gcj02:
            x, y = wgs84_to_gcj02(lon, lat)
            return round(float(y), 7), round(float(x), 7)
        return round(lat, 7), round(lon, 7)

    @property
    def remote(self) -> bool:
        """Served by the API, so a layer too large to embed can be loaded by bounding box."""
        return self.api is not None


def text(value: Any) -> str:
    """An imported string as inert text: HTML-escaped, and safe inside the JavaScript template
    literals folium writes tooltips into (no backtick, ``${`` or backslash escape survives)."""
    return (
        html.escape(str(value), quote=True)
        .replace("`", "&#96;")
        .replace("$", "&#36;")
        .replace("\\", "&#92;")
    )


def geojson(ctx: MapContext, rows: Sequence[Mapping[str, Any]], props: list[str]) -> dict[str, Any]:
    """A FeatureCollection of the rows (WKB under ``geom``) in display coordinates, with the
    named columns as properties (strings escaped)."""
    geoms = ctx.shift(shapely.from_wkb([bytes(r["geom"]) for r in rows])) if rows else []
    feats = []
    for r, g in zip(rows, geoms, strict=True):
        # folium's tooltips and popups show properties as HTML: imported strings as text
        p = {k: text(r[k]) if isinstance(r[k], str) else r[k] for k in props}
        feats.append({"type": "Feature", "properties": p, "geometry": shapely.geometry.mapping(g)})
    return {"type": "FeatureCollection", "features": feats}


def figure(m: folium.Map) -> Figure:
    """The page a map is drawn on."""
    root = m.get_root()
    if not isinstance(root, Figure):
        raise TypeError(f"a map's root is a Figure, not {type(root).__name__}")
    return root


class _Assets(MacroElement):
    """Puts the inlined Leaflet (and plugins) into the page head, before anything uses them."""

    def __init__(self, groups: tuple[str, ...]) -> None:
        super().__init__()
        self._name = "WanggeAssets"
        self.groups = groups

    def render(self, **kwargs: Any) -> str:
        root = self.get_root()
        if isinstance(root, Figure):  # always, once the map is in its page
            root.header.add_child(Element(inline_css(*self.groups)), name="wangge_css", index=0)
            root.header.add_child(Element(inline_js(*self.groups)), name="wangge_js", index=1)
        super().render(**kwargs)
        return ""


_E = TypeVar("_E", bound=JSCSSMixin)


def offline(obj: _E) -> _E:
    """Drop an element's CDN links (its assets are inlined instead)."""
    obj.default_js = []
    obj.default_css = []
    return obj


def map_center(ctx: MapContext) -> tuple[float, float]:
    """The centre of its communities (display coordinates): where a map is first placed,
    before it fits their bounds (:func:`map_bounds`)."""
    at = queries.center(ctx.session, ctx.community)
    if at is None:
        return (30.66, 104.06)
    return ctx.point(*at)


def map_bounds(ctx: MapContext) -> list[list[float]] | None:
    """``[[south, west], [north, east]]`` (display coordinates) a map opens on: the map's
    community, else the caller's scope (a dispatcher's street, a grid worker's grid), else
    all data; None without any community."""
    codes: list[str] | None = None
    if ctx.community is not None:
        codes = [ctx.community]
    elif ctx.principal is not None and (ctx.principal.street_code or ctx.principal.grid_code):
        codes = queries.scope_communities(
            ctx.session, ctx.principal.street_code, ctx.principal.grid_code
        )
    box = queries.extent(ctx.session, codes or None)
    if box is None:
        return None
    x0, y0, x1, y1 = box
    return [list(ctx.point(x0, y0)), list(ctx.point(x1, y1))]


def new_map(
    ctx: MapContext, title: str, center: tuple[float, float], groups: tuple[str, ...]
) -> folium.Map:
    """An empty map page: Leaflet and the plugin ``groups`` inlined, the base map if any, the
    page's title and stylesheet."""
    m = offline(
        folium.Map(
            location=center,
            zoom_start=16,
            tiles=None,
            control_scale=True,
            max_zoom=20,
        )
    )
    m.options["maxZoom"] = 20  # the marker clusters need it on the map itself
    m.add_child(_Assets(("leaflet", *groups)))
    bounds = map_bounds(ctx)
    if bounds is not None:  # the whole of its communities, not a centre point
        m.fit_bounds(bounds, padding=(8, 8), max_zoom=18)
    ctx.bounds = bounds
    if ctx.base.url:
        folium.TileLayer(
            ctx.base.url,
            attr=ctx.base.attribution or "tiles",
            name=f"底图 (base map: {ctx.base.name})",
            subdomains=ctx.base.subdomains,
            max_zoom=20,
        ).add_to(m)
    root = figure(m)
    root.title = title
    root.header.add_child(
        Element(
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            '<link rel="icon" href="data:,">'  # no /favicon.ico to ask for
            f"<title>{html.escape(title)}</title><style>{CSS}</style>"
        ),
        name="wangge_meta",
    )
    return m


def legend(m: folium.Map, title: str, rows: list[tuple[str, str, bool]]) -> None:
    """The map's legend: (colour, text, square) rows, bottom left."""
    items = "".join(
        f'<div><i class="{"sq" if sq else ""}" style="background:{c}"></i>{html.escape(t)}</div>'
        for c, t, sq in rows
    )
    figure(m).html.add_child(
        Element(
            f'<div id="wg-legend" class="wg-box wg-legend" style="position:fixed;bottom:56px;'
            f'left:10px;z-index:1000"><h4>{html.escape(title)}</h4>{items}</div>'
        )
    )


def config(m: folium.Map, ctx: MapContext, kind: str, **data: Any) -> None:
    """``window.WANGGE`` (what the page is, its layers and data) and Wangge's own script."""
    cfg = {
        "kind": kind,
        "api": ctx.api,
        "gcj02": ctx.base.gcj02,
        "map": m.get_name(),
        "bounds": ctx.bounds,
        **data,
    }
    # no "<", ">" or "&" from data inside the script element (as folium writes its own JSON)
    payload = (
        json.dumps(cfg, ensure_ascii=False, separators=(",", ":"))
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
    )
    figure(m).html.add_child(
        Element(
            "<script>window.WANGGE = " + payload + ";</script><script>" + own_js() + "</script>"
        ),
        name="wangge_config",
    )


def tooltip(fc: dict[str, Any], fields: list[str], **kw: Any) -> folium.GeoJsonTooltip | None:
    """A GeoJSON tooltip, or none for a layer without features (folium refuses those)."""
    return folium.GeoJsonTooltip(fields, **kw) if fc["features"] else None
