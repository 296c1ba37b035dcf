"""The layers more than one map draws: community and compound outlines, the grids shown (the
current ones or a plan's draft), and the units split by floors (one footprint, labelled with
its floor groups)."""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import folium
import shapely

from geo.store.versions import FloorUnit, floor_units
from maps import queries
from maps.page import MapContext, geojson, tooltip
from maps.styles import FLOOR_COLOUR, FLOOR_LAYER, short

__all__ = ["Grids", "floor_layer", "grids", "outline_layers", "shown_floor_units"]


def outline_layers(m: folium.Map, ctx: MapContext, show_compounds: bool = True) -> None:
    """The communities' boundaries (dashed) and the compounds' (shown or not at first)."""
    com = geojson(ctx, queries.communities(ctx.session, ctx.community), ["code", "name"])
    comp = geojson(ctx, queries.compounds(ctx.session, ctx.community), ["code", "name"])
    folium.GeoJson(
        com,
        name="社区边界 (community)",
        style_function=lambda f: {"color": "#555", "weight": 3, "fill": False, "dashArray": "6 4"},
        tooltip=tooltip(com, ["name"], labels=False),
    ).add_to(m)
    folium.GeoJson(
        comp,
        name="小区边界 (compounds)",
        show=show_compounds,
        style_function=lambda f: {"color": "#888", "weight": 1.5, "fillOpacity": 0.03},
        tooltip=tooltip(comp, ["name"], labels=False),
    ).add_to(m)
    ctx.stats["compounds"] = len(comp["features"])


@dataclass(frozen=True)
class Grids:
    """The grids shown (rows of :func:`maps.queries.grids`), the layers' version label, and
    the draft's version id (None for the current versions)."""

    rows: list[dict[str, Any]]
    label: str
    draft: int | None


def grids(ctx: MapContext, plan: int | None) -> Grids:
    """The current grids, or the plan's draft."""
    rows = queries.grids(ctx.session, ctx.community, plan)
    version = rows[0]["version"] if rows else None
    draft = rows[0]["version_id"] if rows and plan is not None else None
    return Grids(rows, ("草稿" if plan else "现行") + (f" v{version}" if version else ""), draft)


def shown_floor_units(ctx: MapContext, draft: int | None) -> list[FloorUnit]:
    """The floor-split units of the shown version: the draft's, or the current ones."""
    if draft is not None:
        return floor_units(session=ctx.session, community=ctx.community, version_id=draft)
    return floor_units(session=ctx.session, community=ctx.community)


def _floor_label(u: FloorUnit) -> str:
    """``1–12层 C01-M01`` / ``13–24层 C01-M02``, one line per floor group."""
    lines = "<br>".join(html.escape(f"{g.label} {short(g.grid)}") for g in u.groups)
    return f'<div class="wg-floor-label" data-unit="{html.escape(u.code)}">{lines}</div>'


def _floor_features(ctx: MapContext, units: list[FloorUnit]) -> dict[str, Any]:
    e = html.escape
    fc = geojson(ctx, [{"code": u.code, "geom": shapely.to_wkb(u.cell)} for u in units], ["code"])
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


def floor_layer(
    m: folium.Map, ctx: MapContext, units: list[FloorUnit], label: str, layers: dict[str, str]
) -> None:
    """Each unit split by floors drawn once (dashed), with one label naming its floor groups
    and a popup with building, unit and each micro-grid's floors and households. A layer of
    its own; above ``embed_limit`` units a served map loads them by bbox from the OGC API."""
    ctx.stats["floor_units"] = len(units)
    if not units:
        return
    if len(units) > ctx.embed_limit and ctx.remote:
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
