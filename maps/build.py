"""The three maps (resident, planner, dispatcher), built with folium from what ``geo/`` holds.

Every map is one standalone HTML file that works with no network: Leaflet and its plugins are
inlined from their npm packages (``maps/assets.py``), markers are drawn with CSS (no icon fonts
or images to fetch), and no base map is used unless one is configured
(``WANGGE_BASEMAP``: ``none``, ``amap``, ``tencent`` or a tile URL template). Amap and Tencent
tiles are in GCJ-02: with them every overlay is shifted to GCJ-02 for display, and a drawn
geometry is handed back labelled ``"crs": "gcj02"`` so the plans API shifts it back.

Served by the API (``/maps/...``), the pages also ask the API: "near me" by the browser's
position or an address (``/nearby``), and layers too large to embed (more features than
``embed_limit``) are loaded by bounding box as the map moves. Standalone, "near me" uses an
embedded address index and straight-line distances.

Personal data never enters a map: no household names or phones, no reporters; a worker's phone
only when the worker made it public. Every imported string (names, codes, addresses) is
escaped before it reaches a page, and each page carries a Content-Security-Policy under which
only its own scripts run (``maps/policy.py``). The dispatcher map holds the incidents of its
caller's scope only (a grid worker's grids, a dispatcher's street; all for an admin and for
the written file).
"""

from __future__ import annotations

import html
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import folium
import numpy as np
import shapely
from branca.element import Element, MacroElement
from folium.plugins import Draw, HeatMap, MarkerCluster
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.core.crs import wgs84_to_gcj02
from geo.errors import InputError, NotFoundError
from geo.runtime.auth import Principal
from geo.settings import get_settings
from geo.store.models import FACILITY_KINDS, INCIDENT_CATEGORIES, INCIDENT_STATUSES, RESOURCE_KINDS
from geo.store.versions import FloorUnit, floor_units
from maps.assets import inline_css, inline_js, own_js
from maps.policy import tile_source, with_meta, with_nonce

__all__ = ["BASEMAPS", "Basemap", "Rendered", "build_map", "render_map", "write_maps"]

KIND_STYLE = {  # kind → (colour, glyph)
    "party_service_complex": ("#c0392b", "综"),
    "party_service_centre": ("#e74c3c", "党"),
    "party_service_station": ("#f1948a", "站"),
    "convenience_centre": ("#1f618d", "便"),
    "convenience_station": ("#5dade2", "民"),
    "open_resource": ("#229954", "享"),
}
STATUS_COLOUR = {
    "reported": "#e67e22",
    "reopened": "#d35400",
    "accepted": "#f1c40f",
    "street_handling": "#8e44ad",
    "department_handling": "#2980b9",
    "resolved": "#27ae60",
    "closed": "#7f8c8d",
    "rejected": "#95a5a6",
    "duplicate": "#bdc3c7",
}
BAND_COLOUR = {"under": "#f39c12", "in": "#27ae60", "over": "#c0392b"}


@dataclass(frozen=True)
class Basemap:
    name: str
    url: str | None
    attribution: str = ""
    gcj02: bool = False
    subdomains: str = "abc"


BASEMAPS = {
    "none": Basemap("none", None),
    "amap": Basemap(
        "amap",
        "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8"
        "&x={x}&y={y}&z={z}",
        "© 高德地图 AutoNavi",
        True,
        "1234",
    ),
    "tencent": Basemap(
        "tencent",
        "https://rt{s}.map.gtimg.com/tile?z={z}&x={x}&y={-y}&styleid=1000&scene=0",
        "© 腾讯地图 Tencent",
        True,
        "0123",
    ),
}


def basemap(spec: str | None = None) -> Basemap:
    """``none`` (default), ``amap``, ``tencent``, or a tile URL template (WGS84 tiles; add
    ``#gcj02`` at the end for GCJ-02 tiles)."""
    spec = (spec if spec is not None else get_settings().basemap).strip()
    if spec in BASEMAPS:
        return BASEMAPS[spec]
    if spec.startswith(("http://", "https://")) and "{z}" in spec:
        gcj = spec.endswith("#gcj02")
        return Basemap("custom", spec.removesuffix("#gcj02"), "", gcj)
    raise InputError(
        f"底图设置无效 (invalid base map) {spec!r}: none | amap | tencent | 瓦片地址 (a tile URL "
        "template with {z}/{x}/{y})"
    )


# --- data -------------------------------------------------------------------------------------
@dataclass
class _Ctx:
    session: Session
    community: str | None
    base: Basemap
    api: str | None  # "" when served by the API (same origin), None for a standalone file
    embed_limit: int
    principal: Principal | None = None  # whose dispatcher map (None: everything, as an admin)
    stats: dict[str, int] = field(default_factory=dict)

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


def _text(value: Any) -> str:
    """An imported string as inert text: HTML-escaped, and safe inside the JavaScript template
    literals folium writes tooltips into (no backtick, ``${`` or backslash escape survives)."""
    return (
        html.escape(str(value), quote=True)
        .replace("`", "&#96;")
        .replace("$", "&#36;")
        .replace("\\", "&#92;")
    )


def _community_filter(ctx: _Ctx, alias: str) -> tuple[str, dict[str, Any]]:
    if ctx.community is None:
        return "TRUE", {}
    return f"{alias}.code = :community", {"community": ctx.community}


def _geojson(ctx: _Ctx, rows: list[Any], geom_col: int, props: list[str]) -> dict[str, Any]:
    geoms = ctx.shift(shapely.from_wkb([bytes(r[geom_col]) for r in rows])) if rows else []
    feats = []
    for r, g in zip(rows, geoms, strict=True):
        # folium's tooltips and popups show properties as HTML: imported strings as text
        p = {
            k: _text(r[i]) if isinstance(r[i], str) else r[i]
            for i, k in enumerate(props)
            if i != geom_col
        }
        feats.append({"type": "Feature", "properties": p, "geometry": shapely.geometry.mapping(g)})
    return {"type": "FeatureCollection", "features": feats}


def _outlines(ctx: _Ctx) -> tuple[dict[str, Any], dict[str, Any]]:
    cond, params = _community_filter(ctx, "c")
    com = ctx.session.execute(
        text(f"SELECT c.code, c.name, ST_AsBinary(c.boundary) FROM community c WHERE {cond}"),
        params,
    ).all()
    comp = ctx.session.execute(
        text(
            "SELECT p.code, p.name, ST_AsBinary(p.boundary) FROM compound p JOIN community c ON "
            f"c.id = p.community_id WHERE {cond} ORDER BY p.code"
        ),
        params,
    ).all()
    return (
        _geojson(ctx, com, 2, ["code", "name", "geom"]),
        _geojson(ctx, comp, 2, ["code", "name", "geom"]),
    )


def _places(ctx: _Ctx) -> list[dict[str, Any]]:
    cond, params = _community_filter(ctx, "c")
    rows = ctx.session.execute(
        text(
            "SELECT f.code, f.name, f.kind, f.address, f.phone, f.opening_hours, "
            "array_to_string(f.services, '、'), NULL, ST_X(f.position), ST_Y(f.position) "
            "FROM facility f LEFT JOIN community c ON c.id = f.community_id "
            f"WHERE {cond} ORDER BY f.code"
        ),
        params,
    ).all()
    rows += ctx.session.execute(
        text(
            "SELECT r.code, r.name, 'open_resource', r.address, r.phone, r.opening_hours, "
            "r.owner_org || ' · ' || coalesce(r.kind, ''), r.booking, ST_X(r.position), "
            "ST_Y(r.position) FROM open_resource r LEFT JOIN community c ON "
            f"c.id = r.community_id WHERE {cond} ORDER BY r.code"
        ),
        params,
    ).all()
    out = []
    for code, name, kind, address, phone, hours, services, booking, lon, lat in rows:
        lat_d, lon_d = ctx.point(lon, lat)
        label = FACILITY_KINDS.get(kind, ("开放资源", "open resource"))
        out.append(
            {
                "code": code,
                "name": name,
                "kind": kind,
                "kind_name": label[0],
                "kind_en": label[1],
                "address": address or "",
                "phone": phone or "",
                "hours": hours or "",
                "services": _resource_services(services)
                if kind == "open_resource"
                else services or "",
                "booking": booking or "",
                "lat": lat_d,
                "lon": lon_d,
                "lat0": lat,  # storage coordinates, for distances
                "lon0": lon,
            }
        )
    return out


def _resource_services(s: str | None) -> str:
    if not s:
        return ""
    org, _, kind = s.partition(" · ")
    return f"{org} · {RESOURCE_KINDS.get(kind, (kind,))[0]}"


def _address_index(ctx: _Ctx) -> dict[str, dict[str, list[float]]]:
    """Compound name → building number → the point an address of that building locates to
    (the same point as ``/locate``: the footprint's point on surface)."""
    cond, params = _community_filter(ctx, "c")
    rows = ctx.session.execute(
        text(
            "SELECT p.name, b.name, ST_AsBinary(b.footprint) FROM building b JOIN compound p ON "
            f"p.id = b.compound_id JOIN community c ON c.id = b.community_id WHERE {cond}"
        ),
        params,
    ).all()
    out: dict[str, dict[str, list[float]]] = {}
    for comp, bname, wkb in rows:
        num = bname.removesuffix("栋")
        if not num.isdigit():
            continue
        p = shapely.point_on_surface(shapely.from_wkb(bytes(wkb)))
        out.setdefault(comp, {})[num] = [round(p.x, 8), round(p.y, 8)]
    return out


# --- folium scaffolding -----------------------------------------------------------------------
class _Assets(MacroElement):
    """Puts the inlined Leaflet (and plugins) into the page head, before anything uses them."""

    def __init__(self, groups: tuple[str, ...]) -> None:
        super().__init__()
        self._name = "WanggeAssets"
        self.groups = groups

    def render(self, **kwargs: Any) -> None:
        figure = self.get_root()
        figure.header.add_child(Element(inline_css(*self.groups)), name="wangge_css", index=0)
        figure.header.add_child(Element(inline_js(*self.groups)), name="wangge_js", index=1)
        super().render(**kwargs)


def _offline(obj: Any) -> Any:
    """Drop an element's CDN links (its assets are inlined instead)."""
    obj.default_js = []
    obj.default_css = []
    return obj


def _new_map(
    ctx: _Ctx, title: str, center: tuple[float, float], groups: tuple[str, ...]
) -> folium.Map:
    m = _offline(
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
    if ctx.base.url:
        folium.TileLayer(
            ctx.base.url,
            attr=ctx.base.attribution or "tiles",
            name=f"底图 (base map: {ctx.base.name})",
            subdomains=ctx.base.subdomains,
            max_zoom=20,
        ).add_to(m)
    root = m.get_root()
    root.title = title
    root.header.add_child(
        Element(
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{html.escape(title)}</title><style>{_CSS}</style>"
        ),
        name="wangge_meta",
    )
    return m


_CSS = """
html, body { font-family: "Noto Sans CJK SC", "Microsoft YaHei", "PingFang SC", sans-serif; }
.leaflet-container { background: #f4f1ea; }
.wg-pin { width: 26px; height: 26px; border-radius: 50%; color: #fff; font-size: 14px;
  line-height: 26px; text-align: center; border: 2px solid #fff; box-shadow: 0 0 3px #333; }
.wg-inc { width: 14px; height: 14px; border-radius: 50%; border: 2px solid #fff;
  box-shadow: 0 0 2px #333; }
.wg-inc.overdue { width: 18px; height: 18px; border: 3px solid #c0392b;
  animation: wg-pulse 1.2s infinite; }
@keyframes wg-pulse { 50% { box-shadow: 0 0 10px 4px rgba(192,57,43,.7); } }
.wg-box { background: rgba(255,255,255,.95); padding: 6px 8px; border-radius: 4px;
  box-shadow: 0 1px 4px rgba(0,0,0,.3); font-size: 13px; max-width: 320px; }
.wg-box h4 { margin: 0 0 4px; font-size: 14px; }
.wg-box input, .wg-box select, .wg-box button { font-size: 13px; margin: 2px 0; }
.wg-legend i { display: inline-block; width: 14px; height: 14px; border-radius: 50%;
  vertical-align: middle; margin-right: 4px; }
.wg-legend i.sq { border-radius: 2px; }
.wg-label { background: none; border: none; box-shadow: none; font-size: 11px; color: #222;
  text-shadow: 0 0 2px #fff, 0 0 2px #fff; white-space: nowrap; }
.wg-floor-label { color: #4a235a; font-weight: bold; }
.wg-popup dt { font-weight: bold; } .wg-popup dd { margin: 0 0 3px 0; }
.wg-near li { margin: 2px 0; }
"""


def _legend(title: str, rows: list[tuple[str, str, bool]]) -> Element:
    items = "".join(
        f'<div><i class="{"sq" if sq else ""}" style="background:{c}"></i>{html.escape(t)}</div>'
        for c, t, sq in rows
    )
    return Element(
        f'<div id="wg-legend" class="wg-box wg-legend" style="position:fixed;bottom:56px;'
        f'left:10px;z-index:1000"><h4>{html.escape(title)}</h4>{items}</div>'
    )


def _config(m: folium.Map, ctx: _Ctx, kind: str, **data: Any) -> None:
    cfg = {"kind": kind, "api": ctx.api, "gcj02": ctx.base.gcj02, "map": m.get_name(), **data}
    # no "<", ">" or "&" from data inside the script element (as folium writes its own JSON)
    config = (
        json.dumps(cfg, ensure_ascii=False, separators=(",", ":"))
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
    )
    m.get_root().html.add_child(
        Element(
            "<script>window.WANGGE = " + config + ";</script><script>" + own_js() + "</script>"
        ),
        name="wangge_config",
    )


def _center(ctx: _Ctx) -> tuple[float, float]:
    cond, params = _community_filter(ctx, "c")
    row = ctx.session.execute(
        text(
            "SELECT ST_X(ST_Centroid(ST_Collect(c.boundary))), ST_Y(ST_Centroid(ST_Collect("
            f"c.boundary))) FROM community c WHERE {cond}"
        ),
        params,
    ).one()
    if row[0] is None:
        return (30.66, 104.06)
    return ctx.point(row[0], row[1])


def _tooltip(fc: dict[str, Any], fields: list[str], **kw: Any) -> folium.GeoJsonTooltip | None:
    """A GeoJSON tooltip, or none for a layer without features (folium refuses those)."""
    return folium.GeoJsonTooltip(fields, **kw) if fc["features"] else None


def _outline_layers(m: folium.Map, ctx: _Ctx, show_compounds: bool = True) -> None:
    com, comp = _outlines(ctx)
    folium.GeoJson(
        com,
        name="社区边界 (community)",
        style_function=lambda f: {"color": "#555", "weight": 3, "fill": False, "dashArray": "6 4"},
        tooltip=_tooltip(com, ["name"], labels=False),
    ).add_to(m)
    folium.GeoJson(
        comp,
        name="小区边界 (compounds)",
        show=show_compounds,
        style_function=lambda f: {"color": "#888", "weight": 1.5, "fillOpacity": 0.03},
        tooltip=_tooltip(comp, ["name"], labels=False),
    ).add_to(m)
    ctx.stats["compounds"] = len(comp["features"])


# --- the resident map -------------------------------------------------------------------------
def _place_popup(p: dict[str, Any]) -> str:
    e = html.escape
    rows = [("地址 (address)", p["address"]), ("开放时间 (opening hours)", p["hours"])]
    rows.append(
        ("服务 (services)" if p["kind"] != "open_resource" else "提供方 (provider)", p["services"])
    )
    if p["booking"]:
        rows.append(("预约 (booking)", p["booking"]))
    rows.append(("电话 (phone)", p["phone"]))
    body = "".join(f"<dt>{e(k)}</dt><dd>{e(v or '—')}</dd>" for k, v in rows)
    return (
        f'<div class="wg-popup" data-code="{e(p["code"])}"><h4>{e(p["name"])}</h4>'
        f"<div>{e(p['kind_name'])} ({e(p['kind_en'])})</div><dl>{body}</dl></div>"
    )


def resident_map(ctx: _Ctx) -> folium.Map:
    m = _new_map(ctx, "居民服务地图 (resident service map)", _center(ctx), ("markercluster",))
    _outline_layers(m, ctx)
    places = _places(ctx)
    clusters: dict[str, str] = {}
    for kind, (colour, glyph) in KIND_STYLE.items():
        mine = [p for p in places if p["kind"] == kind]
        if not mine:
            continue  # absent data is absent, never faked
        zh, en = FACILITY_KINDS.get(kind, ("开放资源", "open resources"))
        cluster = _offline(
            MarkerCluster(
                name=f'<span style="color:{colour}">●</span> {zh} ({en})',
                options={"disableClusteringAtZoom": 18, "maxClusterRadius": 40},
            )
        ).add_to(m)
        clusters[kind] = cluster.get_name()
        for p in mine:
            folium.Marker(
                (p["lat"], p["lon"]),
                icon=folium.DivIcon(
                    html=f'<div class="wg-pin wg-place" data-code="{html.escape(p["code"])}" '
                    f'style="background:{colour}" title="{html.escape(p["name"])}">{glyph}</div>',
                    icon_size=(26, 26),
                    icon_anchor=(13, 13),
                    class_name="wg-icon",
                ),
                tooltip=_text(p["name"]),
                wg_code=p["code"],
                wg_popup=_place_popup(p),  # bound by wangge.js (folium's popups need jQuery)
            ).add_to(cluster)
    ctx.stats["places"] = len(places)
    folium.LayerControl(collapsed=False).add_to(m)
    m.get_root().html.add_child(
        _legend(
            "图例 (legend)",
            [
                (c, f"{FACILITY_KINDS.get(k, ('开放资源', 'open resource'))[0]}", False)
                for k, (c, _) in KIND_STYLE.items()
            ],
        )
    )
    public = [
        {
            k: p[k]
            for k in (
                "code",
                "name",
                "kind",
                "kind_name",
                "address",
                "hours",
                "lat",
                "lon",
                "lat0",
                "lon0",
            )
        }
        for p in places
    ]
    _config(
        m,
        ctx,
        "resident",
        places=public,
        clusters=clusters,
        addresses=_address_index(ctx),
        facility_kinds=list(FACILITY_KINDS),
    )
    return m


# --- the planner map --------------------------------------------------------------------------
def _grids(ctx: _Ctx, plan: int | None) -> tuple[list[Any], str, int | None]:
    """The grids shown (current, or the plan's draft), the layers' version label, and the
    draft's version id (None for the current versions)."""
    cond, params = _community_filter(ctx, "c")
    if plan is None:
        vcond = "v.status = 'published'"
    else:
        vcond = "v.id = (SELECT draft_version_id FROM plan WHERE id = :plan)"
        params = params | {"plan": plan}
    rows = ctx.session.execute(
        text(
            "SELECT g.code, g.level, pg.code, g.households, g.locked, ST_AsBinary(g.boundary), "
            "ST_X(ST_PointOnSurface(g.boundary)), ST_Y(ST_PointOnSurface(g.boundary)), v.number, "
            "v.id "
            "FROM grid g JOIN grid_version v ON v.id = g.version_id JOIN community c ON "
            f"c.id = v.community_id LEFT JOIN grid pg ON pg.id = g.parent_id WHERE {vcond} AND "
            f"{cond} ORDER BY g.level, g.code"
        ),
        params,
    ).all()
    version = rows[0][8] if rows else None
    draft = rows[0][9] if rows and plan is not None else None
    return rows, ("草稿" if plan else "现行") + (f" v{version}" if version else ""), draft


# --- units split by floors: one footprint, labelled with its floor groups --------------------
FLOOR_LAYER = "分层单元 (units split by floors)"
FLOOR_COLOUR = "#6c3483"


def _short(code: str) -> str:
    """``510107013001-C01-M01`` → ``C01-M01``, as the labels show a grid."""
    return code.rsplit("-", 2)[-2] + "-" + code.rsplit("-", 1)[-1]


def _floor_units(ctx: _Ctx, draft: int | None) -> list[FloorUnit]:
    """The floor-split units of the shown version: the draft's, or the current ones."""
    if draft is not None:
        return floor_units(session=ctx.session, community=ctx.community, version_id=draft)
    return floor_units(session=ctx.session, community=ctx.community)


def _floor_label(u: FloorUnit) -> str:
    """``1–12层 C01-M01`` / ``13–24层 C01-M02``, one line per floor group."""
    lines = "<br>".join(html.escape(f"{g.label} {_short(g.grid)}") for g in u.groups)
    return f'<div class="wg-floor-label" data-unit="{html.escape(u.code)}">{lines}</div>'


def _floor_features(ctx: _Ctx, units: list[FloorUnit]) -> dict[str, Any]:
    e = html.escape
    fc = _geojson(
        ctx,
        [(u.code, shapely.to_wkb(u.cell)) for u in units],
        1,
        ["code", "geom"],
    )
    for f, u in zip(fc["features"], units, strict=True):
        f["properties"] |= {
            "building": e(f"{u.building_name} ({u.building_code})"),
            "unit": f"{u.unit_no}单元 (unit {u.unit_no})",
            "label": e(u.label),
            "households": u.households,
            "groups": "<br>".join(
                f"{e(g.grid)}：{e(g.label)}，{g.households}户 (households)" for g in u.groups
            ),
        }
    return fc


def _floor_layer(
    m: folium.Map, ctx: _Ctx, units: list[FloorUnit], label: str, layers: dict[str, str]
) -> None:
    """Each unit split by floors drawn once (dashed), with one label naming its floor groups
    and a popup with building, unit and each micro-grid's floors and households. A layer of
    its own; above ``embed_limit`` units a served map loads them by bbox from the OGC API."""
    ctx.stats["floor_units"] = len(units)
    if not units:
        return
    if len(units) > ctx.embed_limit and ctx.api is not None:
        path = "/ogc/collections/floor-units/items"
        if ctx.community is not None:
            path += "?" + urlencode({"community_code": ctx.community})
        layers["floor_units_remote"] = path
        ctx.stats["floor_units_embedded"] = 0
        return
    group = folium.FeatureGroup(name=f"{FLOOR_LAYER} · {label}").add_to(m)
    cells = folium.GeoJson(
        _floor_features(ctx, units),
        name=FLOOR_LAYER,
        style_function=lambda f: {
            "color": FLOOR_COLOUR,
            "weight": 2,
            "dashArray": "6 4",
            "fillColor": FLOOR_COLOUR,
            "fillOpacity": 0.08,
        },
        tooltip=folium.GeoJsonTooltip(["label"], labels=False),
        popup=folium.GeoJsonPopup(
            ["building", "unit", "groups"],
            aliases=["楼栋 (building)", "单元 (unit)", "微网格按楼层 (micro-grids by floors)"],
        ),
    ).add_to(group)
    for u in units:
        p = shapely.point_on_surface(u.cell)
        height = 14 * len(u.groups)
        folium.Marker(
            ctx.point(p.x, p.y),
            icon=folium.DivIcon(
                html=_floor_label(u),
                icon_size=(110, height),
                icon_anchor=(55, height // 2),
                class_name="wg-label",
            ),
        ).add_to(group)
    layers["floor_units"] = group.get_name()
    layers["floor_units_cells"] = cells.get_name()
    ctx.stats["floor_units_embedded"] = len(units)


def _micro_label_points(
    rows: list[Any], units: list[FloorUnit]
) -> dict[str, tuple[float, float] | None]:
    """Where each micro-grid's label goes (storage lon, lat): its point on surface, or None
    for a micro-grid that is exactly the cell of a unit split by floors (the unit's label
    names it there: labels of grids sharing a cell would stack); a micro-grid that holds
    such a cell and more is labelled on the rest."""
    cells: dict[str, list[Any]] = {}
    for u in units:
        for g in u.groups:
            cells.setdefault(g.grid, []).append(u.cell)
    out: dict[str, tuple[float, float] | None] = {}
    for r in rows:
        code = r[0]
        if code not in cells:
            out[code] = (r[6], r[7])
            continue
        boundary = shapely.from_wkb(bytes(r[5]))
        rest = shapely.difference(boundary, shapely.union_all(cells[code]))
        if shapely.area(rest) <= 1e-3 * shapely.area(boundary):
            out[code] = None
        else:
            p = shapely.point_on_surface(rest)
            out[code] = (p.x, p.y)
    return out


def planner_map(ctx: _Ctx, plan: int | None = None) -> folium.Map:
    from geo import plans as gp

    m = _new_map(ctx, "网格规划地图 (grid planning map)", _center(ctx), ("draw",))
    rows, label, draft = _grids(ctx, plan)
    units = _floor_units(ctx, draft)
    lo, hi = 30, 50
    findings: dict[str, list[str]] = {}
    moved: set[str] = set()
    if plan is not None:
        p = gp.get_plan(ctx.session, plan)
        params = (
            ctx.session.execute(
                text(
                    "SELECT params FROM grid_version v JOIN plan p ON p.draft_version_id = v.id WHERE p.id = :p"
                ),
                {"p": plan},
            ).scalar()
            or {}
        )
        lo, hi = int(params.get("min", lo)), int(params.get("max", hi))
        report = gp.plan_report(ctx.session, plan)  # showing a draft changes nothing
        for f in report.findings:
            if f.grid:
                findings.setdefault(f.grid, []).append(f"[{f.severity}] {f.message}")
        if p["base_version"]:
            d = gp.diff_versions(ctx.session, p["community"], p["base_version"], p["draft_version"])
            moved = {b["building"] for b in d.buildings}
    else:
        params = (
            ctx.session.execute(
                text(
                    "SELECT v.params FROM grid_version v JOIN community c ON c.id = v.community_id "
                    "WHERE v.status = 'published' LIMIT 1"
                )
            ).scalar()
            or {}
        )
        lo, hi = int(params.get("min", lo)), int(params.get("max", hi))
    by_level: dict[str, list[Any]] = {"community": [], "compound": [], "micro": []}
    for r in rows:
        by_level[r[1]].append(r)
    names = {
        "community": "社区网格 (community grid)",
        "compound": "小区网格 (compound grids)",
        "micro": "微网格 (micro-grids)",
    }

    def band(n: int) -> str:
        return "under" if n < lo else "over" if n > hi else "in"

    layers: dict[str, str] = {}
    for level in ("community", "compound", "micro"):
        rs = by_level[level]
        if not rs:
            continue
        if level == "micro" and len(rs) > ctx.embed_limit and ctx.api is not None:
            layers["micro_remote"] = "/grids?level=micro"  # a city: loaded by bbox, as it moves
            ctx.stats["micro_grids"] = len(rs)
            ctx.stats["micro_embedded"] = 0
            continue
        fc = _geojson(ctx, rs, 5, ["code", "level", "parent_code", "households", "locked", "geom"])
        for f in fc["features"]:
            pr = f["properties"]
            pr["band"] = band(pr["households"]) if level == "micro" else ""
            pr["findings"] = (
                "<br>".join(html.escape(x) for x in findings.get(pr["code"], [])) or "—"
            )
            pr["flag"] = bool(findings.get(pr["code"]))
        if level == "micro":
            style = lambda f: {  # noqa: E731
                "color": "#c0392b" if f["properties"]["flag"] else "#333",
                "weight": 3 if f["properties"]["flag"] else 1,
                "dashArray": "5 3" if f["properties"]["flag"] else None,
                "fillColor": BAND_COLOUR[f["properties"]["band"]],
                "fillOpacity": 0.45,
            }
            fields = ["code", "households", "parent_code", "findings"]
            aliases = [
                "微网格 (micro-grid)",
                "户数 (households)",
                "上级 (parent)",
                "校验 (findings)",
            ]
        elif level == "compound":
            style = lambda f: {"color": "#1f3a93", "weight": 2.5, "fill": False}  # noqa: E731
            fields, aliases = (
                ["code", "households"],
                ["小区网格 (compound grid)", "户数 (households)"],
            )
        else:
            style = lambda f: {"color": "#000", "weight": 3.5, "fill": False}  # noqa: E731
            fields, aliases = (
                ["code", "households"],
                ["社区网格 (community grid)", "户数 (households)"],
            )
        gj = folium.GeoJson(
            fc,
            name=f"{names[level]} · {label}",
            style_function=style,
            popup=folium.GeoJsonPopup(fields, aliases=aliases),
        ).add_to(m)
        layers[level] = gj.get_name()
        ctx.stats[f"{level}_grids"] = len(rs)
    _floor_layer(m, ctx, units, label, layers)
    # labels: code and households at each micro-grid's point on surface (not where a unit
    # split by floors is labelled: its floor groups' grids share that cell)
    labels = folium.FeatureGroup(name="标注 (labels)").add_to(m)
    micro = by_level["micro"] if "micro_remote" not in layers else []
    at = _micro_label_points(micro, units)
    for r in micro:
        where = at[r[0]]
        if where is None:
            continue
        lat, lon = ctx.point(*where)
        folium.Marker(
            (lat, lon),
            icon=folium.DivIcon(
                html=f'<div class="wg-label" data-grid="{html.escape(r[0])}">'
                f"{html.escape(_short(r[0]))}<br>{r[3]}户</div>",
                icon_size=(70, 28),
                icon_anchor=(35, 14),
                class_name="wg-label",
            ),
        ).add_to(labels)
    layers["labels"] = labels.get_name()
    # building footprints, moved ones marked
    cond, params = _community_filter(ctx, "c")
    brows = ctx.session.execute(
        text(
            "SELECT b.code, b.name, b.households, ST_AsBinary(b.footprint) FROM building b JOIN "
            f"community c ON c.id = b.community_id WHERE {cond} ORDER BY b.code"
        ),
        params,
    ).all()
    if len(brows) > ctx.embed_limit and ctx.api is not None:
        layers["buildings_remote"] = "/buildings"
        ctx.stats["buildings_embedded"] = 0
    else:
        fc = _geojson(ctx, brows, 3, ["code", "name", "households", "geom"])
        for f in fc["features"]:
            f["properties"]["moved"] = f["properties"]["code"] in moved
        bl = folium.GeoJson(
            fc,
            name="楼栋 (buildings)",
            style_function=lambda f: {
                "color": "#8e44ad" if f["properties"]["moved"] else "#555",
                "weight": 3 if f["properties"]["moved"] else 0.8,
                "fillColor": "#8e44ad" if f["properties"]["moved"] else "#999",
                "fillOpacity": 0.6 if f["properties"]["moved"] else 0.35,
            },
            tooltip=_tooltip(fc, ["code", "households"], aliases=["楼栋", "户数"]),
        ).add_to(m)
        layers["buildings"] = bl.get_name()
        ctx.stats["buildings_embedded"] = len(brows)
    ctx.stats["moved_buildings"] = len(moved)
    ctx.stats["flagged_grids"] = len(findings)
    draw = _offline(
        Draw(
            export=False,
            draw_options={
                "polyline": True,
                "polygon": True,
                "rectangle": True,
                "circle": False,
                "marker": False,
                "circlemarker": False,
            },
        )
    ).add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    m.get_root().html.add_child(
        _legend(
            f"微网格户数 (households per micro-grid, {lo}–{hi})",
            [
                (BAND_COLOUR["under"], f"不足 (under) < {lo}", True),
                (BAND_COLOUR["in"], f"达标 (in band) {lo}–{hi}", True),
                (BAND_COLOUR["over"], f"超出 (over) > {hi}", True),
                ("#c0392b", "校验问题 (validation finding, dashed)", True),
                ("#8e44ad", "已移动楼栋 (moved building)", True),
                (FLOOR_COLOUR, "分层单元 (unit split by floors, dashed: 1–12层 …)", True),
            ],
        )
    )
    _config(m, ctx, "planner", layers=layers, draw=draw.get_name(), plan=plan, band=[lo, hi])
    return m


# --- the dispatcher map -----------------------------------------------------------------------
def _workers(ctx: _Ctx) -> dict[str, list[dict[str, str]]]:
    rows = ctx.session.execute(
        text(
            "SELECT grid_code, name, role, CASE WHEN public_phone THEN phone END FROM worker "
            "WHERE grid_code IS NOT NULL ORDER BY code"
        )
    ).all()
    out: dict[str, list[dict[str, str]]] = {}
    for g, name, role, phone in rows:
        out.setdefault(g, []).append({"name": name, "role": role, "phone": phone or ""})
    return out


def dispatcher_map(ctx: _Ctx) -> folium.Map:
    from geo.incidents import list_incidents
    from geo.store.models import WORKER_ROLES

    m = _new_map(
        ctx, "事件调度地图 (incident dispatch map)", _center(ctx), ("markercluster", "heat")
    )
    rows, label, _ = _grids(ctx, None)
    micro = [r for r in rows if r[1] == "micro"]
    layers: dict[str, str] = {}
    if micro:
        fc = _geojson(
            ctx, micro, 5, ["code", "level", "parent_code", "households", "locked", "geom"]
        )
        gj = folium.GeoJson(
            fc,
            name=f"微网格 (micro-grids) · {label}",
            style_function=lambda f: {"color": "#34495e", "weight": 1, "fillOpacity": 0.04},
            tooltip=folium.GeoJsonTooltip(["code"], labels=False),
        ).add_to(m)
        layers["micro"] = gj.get_name()
        _floor_layer(m, ctx, _floor_units(ctx, None), label, layers)
    _outline_layers(m, ctx, show_compounds=False)
    # the caller's incidents only (a written file: all of them, as an admin)
    who = ctx.principal or Principal(id=0, name="maps", role="admin")
    data = list_incidents(ctx.session, who, limit=100_000)["incidents"]
    if ctx.community is not None:
        data = [i for i in data if i["community"] == ctx.community]
    workers = _workers(ctx)
    cluster = _offline(
        MarkerCluster(
            name="事件 (incidents)", options={"disableClusteringAtZoom": 18, "maxClusterRadius": 35}
        )
    ).add_to(m)
    e = html.escape
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    for i in data:
        lat, lon = ctx.point(i["lon"], i["lat"])
        age = (now - datetime.fromisoformat(i["reported_at"])).total_seconds() / 86400
        open_ = i["status"] not in ("closed", "rejected", "duplicate", "resolved")
        size = int(12 + min(age, 8)) if open_ else 10  # open incidents grow with age
        chain = " → ".join(
            x
            for x in (i["micro_grid"], i["compound_grid"], i["community_name"], i["street_name"])
            if x
        )
        resp = [
            f"{w['name']}（{WORKER_ROLES.get(w['role'], (w['role'],))[0]}）{w['phone']}"
            for g in (i["micro_grid"], i["compound_grid"], i["community"])
            for w in workers.get(g or "", [])
        ]
        popup = (
            f'<div class="wg-popup" data-code="{e(i["code"])}"><h4>{e(i["category_name"])} '
            f"({e(i['category'])})</h4><dl><dt>状态 (status)</dt><dd>{e(i['status_name'])}"
            + (' <b style="color:#c0392b">已超时 (overdue)</b>' if i["overdue"] else "")
            + f"</dd><dt>上报时间 (reported)</dt><dd>{e(i['reported_at'][:16].replace('T', ' '))}"
            f"（{age:.1f} 天前, {age:.1f} days ago）</dd>"
            f"<dt>描述 (description)</dt><dd>{e(i['description'] or '')}</dd>"
            f"<dt>网格 (grid chain)</dt><dd>{e(chain) or '—'}</dd>"
            f"<dt>责任人 (responsible)</dt><dd>{'<br>'.join(e(r) for r in resp) or '—'}</dd></dl></div>"
        )
        colour = STATUS_COLOUR.get(i["status"], "#555")
        folium.Marker(
            (lat, lon),
            icon=folium.DivIcon(
                html=f'<div class="wg-inc{" overdue" if i["overdue"] else ""}" data-code="{e(i["code"])}" '
                f'style="background:{colour};width:{size}px;height:{size}px"></div>',
                icon_size=(size + 6, size + 6),
                icon_anchor=((size + 6) // 2, (size + 6) // 2),
                class_name="wg-icon",
            ),
            wg_popup=popup,
            tooltip=_text(f"{i['category_name']} · {i['status_name']} · {age:.1f} 天 (days)"),
            wg_code=i["code"],
            wg_status=i["status"],
            wg_category=i["category"],
            wg_overdue=bool(i["overdue"]),
        ).add_to(cluster)
    heat = folium.FeatureGroup(name="热力图 (heat map)", show=False).add_to(m)
    if data:
        _offline(HeatMap([ctx.point(i["lon"], i["lat"]) for i in data], radius=22, blur=18)).add_to(
            heat
        )
    ctx.stats["incidents"] = len(data)
    ctx.stats["overdue"] = sum(1 for i in data if i["overdue"])
    folium.LayerControl(collapsed=False).add_to(m)
    m.get_root().html.add_child(
        _legend(
            "事件状态 (incident status)",
            [(STATUS_COLOUR[s], f"{INCIDENT_STATUSES[s][0]} ({s})", False) for s in STATUS_COLOUR]
            + [
                ("#c0392b", "红圈闪烁 = 超时 (pulsing red ring = overdue)", False),
                ("#555", "未办结的越久越大 (open ones grow with age)", False),
            ],
        )
    )
    _config(
        m,
        ctx,
        "dispatcher",
        layers=layers,
        cluster=cluster.get_name(),
        heat=heat.get_name(),
        statuses={k: v[0] for k, v in INCIDENT_STATUSES.items()},
        categories={k: v[0] for k, v in INCIDENT_CATEGORIES.items()},
    )
    return m


BUILDERS = {"resident": resident_map, "planner": planner_map, "dispatcher": dispatcher_map}


@dataclass(frozen=True)
class Rendered:
    """A map as rendered: the page (its scripts as yet without a policy), what it holds, and
    the tile server its policy must allow (None without a base map)."""

    page: str
    stats: dict[str, int]
    tiles: str | None

    def written(self) -> str:
        """The page as a standalone file: its policy (the scripts' hashes) in a meta element."""
        return with_meta(self.page, self.tiles)

    def served(self, nonce: str) -> tuple[str, str]:
        """The page to answer with ``nonce`` on its scripts, and its policy header."""
        return with_nonce(self.page, self.tiles, nonce)


def _check_request(session: Session, kind: str, community: str | None, plan: int | None) -> None:
    """404 for an unknown community or plan, 400 for a plan of another community."""
    if kind not in BUILDERS:
        raise InputError(f"未知地图 (unknown map) {kind!r}; 可选 (one of): {', '.join(BUILDERS)}")
    if community is not None:
        found = session.execute(
            text("SELECT 1 FROM community WHERE code = :c"), {"c": community}
        ).first()
        if found is None:
            raise NotFoundError(f"社区不存在 (no such community): {community!r}")
    if plan is not None and kind == "planner":
        from geo import plans as gp

        of = gp.get_plan(session, plan)["community"]  # NotFoundError naming the plan
        if community is not None and of != community:
            raise InputError(
                f"方案 {plan} 属于社区 {of}，不是 {community!r} (plan {plan} is of community "
                f"{of}, not {community!r})"
            )


def render_map(
    session: Session,
    kind: str,
    *,
    community: str | None = None,
    base: str | None = None,
    api: str | None = None,
    plan: int | None = None,
    embed_limit: int = 20_000,
    principal: Principal | None = None,
) -> Rendered:
    """One map, rendered. ``principal``: whose dispatcher map (default: every incident)."""
    _check_request(session, kind, community, plan)
    ctx = _Ctx(session, community, basemap(base), api, embed_limit, principal)
    m = planner_map(ctx, plan) if kind == "planner" else BUILDERS[kind](ctx)
    return Rendered(m.get_root().render(), ctx.stats, tile_source(ctx.base.url))


def build_map(
    session: Session,
    kind: str,
    *,
    community: str | None = None,
    base: str | None = None,
    api: str | None = None,
    plan: int | None = None,
    embed_limit: int = 20_000,
    principal: Principal | None = None,
) -> tuple[str, dict[str, int]]:
    """One map as a standalone HTML page (with its policy), and what it holds (counts)."""
    r = render_map(
        session,
        kind,
        community=community,
        base=base,
        api=api,
        plan=plan,
        embed_limit=embed_limit,
        principal=principal,
    )
    return r.written(), r.stats


def write_maps(
    session: Session,
    out: Path,
    *,
    community: str | None = None,
    base: str | None = None,
    plan: int | None = None,
) -> list[dict[str, Any]]:
    """The three maps as standalone files in ``out``. Returns path, size, seconds, counts."""
    out.mkdir(parents=True, exist_ok=True)
    done = []
    for kind, fname in (
        ("resident", "resident.html"),
        ("planner", "planner.html"),
        ("dispatcher", "dispatcher.html"),
    ):
        t0 = time.perf_counter()
        page, stats = build_map(
            session, kind, community=community, base=base, plan=plan if kind == "planner" else None
        )
        path = out / fname
        path.write_text(page, encoding="utf-8")
        done.append(
            {
                "map": kind,
                "path": str(path),
                "bytes": path.stat().st_size,
                "seconds": round(time.perf_counter() - t0, 3),
                **stats,
            }
        )
    return done
