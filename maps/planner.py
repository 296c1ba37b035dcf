"""The planner map: the grids of the current versions, or of a plan's draft with its
validation findings and moved buildings; each micro-grid coloured by its household count
against the size band its version was partitioned with; building footprints; a drawing tool
whose shapes the plans API takes."""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import folium
import shapely
from folium.plugins import Draw

from geo.settings import band
from geo.store.versions import FloorUnit
from maps import queries
from maps.basemap_layer import base_layer
from maps.layers import Grids, floor_layer, grids, shown_floor_units
from maps.page import MapContext, config, geojson, legend, map_center, new_map, offline, tooltip
from maps.styles import BAND_COLOUR, FLOOR_COLOUR, short

__all__ = ["planner_map"]

LEVELS = ("community", "compound", "micro")
LEVEL_NAMES = {
    "community": "社区网格 (community grid)",
    "compound": "小区网格 (compound grids)",
    "micro": "微网格 (micro-grids)",
}
Style = Callable[[dict[str, Any]], dict[str, Any]]


def _micro_style(f: dict[str, Any]) -> dict[str, Any]:
    flag = f["properties"]["flag"]
    return {
        "color": "#c0392b" if flag else "#333",
        "weight": 3 if flag else 1,
        "dashArray": "5 3" if flag else None,
        "fillColor": BAND_COLOUR[f["properties"]["band"]],
        "fillOpacity": 0.45,
    }


# level → (style, popup fields, their aliases)
LEVEL_STYLE: dict[str, tuple[Style, list[str], list[str]]] = {
    "micro": (
        _micro_style,
        ["code", "households", "parent_code", "findings"],
        ["微网格 (micro-grid)", "户数 (households)", "上级 (parent)", "校验 (findings)"],
    ),
    "compound": (
        lambda f: {"color": "#1f3a93", "weight": 2.5, "fill": False},
        ["code", "households"],
        ["小区网格 (compound grid)", "户数 (households)"],
    ),
    "community": (
        lambda f: {"color": "#000", "weight": 3.5, "fill": False},
        ["code", "households"],
        ["社区网格 (community grid)", "户数 (households)"],
    ),
}


@dataclass
class _Review:
    """What the map marks: the size band, the findings per grid, the moved buildings."""

    lo: int
    hi: int
    findings: dict[str, list[str]] = field(default_factory=dict)
    moved: set[str] = field(default_factory=set)

    def band(self, households: int) -> str:
        return "under" if households < self.lo else "over" if households > self.hi else "in"


def _review(ctx: MapContext, plan: int | None) -> _Review:
    """The band the shown version was partitioned with (else the default band); for a plan,
    its draft's findings and the buildings it moved. Showing a draft changes nothing."""
    from geo import plans as gp

    if plan is None:
        params = queries.published_params(ctx.session, ctx.community)
        return _Review(*band(params.get("min"), params.get("max")))
    p = gp.get_plan(ctx.session, plan)
    params = queries.draft_params(ctx.session, plan)
    review = _Review(*band(params.get("min"), params.get("max")))
    for f in gp.plan_report(ctx.session, plan).findings:
        if f.grid:
            review.findings.setdefault(f.grid, []).append(f"[{f.severity}] {f.message}")
    if p["base_version"]:
        d = gp.diff_versions(ctx.session, p["community"], p["base_version"], p["draft_version"])
        review.moved = {b["building"] for b in d.buildings}
    return review


def _grid_layers(
    m: folium.Map, ctx: MapContext, shown: Grids, review: _Review, layers: dict[str, str]
) -> dict[str, list[dict[str, Any]]]:
    """A layer per grid level (micro-grids coloured by the band, flagged ones dashed; a city's
    micro-grids loaded by bbox when served). Returns the grids by level."""
    by_level: dict[str, list[dict[str, Any]]] = {level: [] for level in LEVELS}
    for r in shown.rows:
        by_level[r["level"]].append(r)
    for level in LEVELS:
        rs = by_level[level]
        if not rs:
            continue
        if level == "micro" and len(rs) > ctx.embed_limit and ctx.remote:
            layers["micro_remote"] = "/grids?level=micro"  # a city: loaded by bbox, as it moves
            ctx.stats["micro_grids"] = len(rs)
            ctx.stats["micro_embedded"] = 0
            continue
        fc = geojson(ctx, rs, ["code", "level", "parent_code", "households", "locked"])
        for f in fc["features"]:
            pr = f["properties"]
            found = review.findings.get(pr["code"], [])
            pr["band"] = review.band(pr["households"]) if level == "micro" else ""
            pr["findings"] = "<br>".join(html.escape(x) for x in found) or "—"
            pr["flag"] = bool(found)
        style, fields, aliases = LEVEL_STYLE[level]
        gj = folium.GeoJson(
            fc,
            name=f"{LEVEL_NAMES[level]} · {shown.label}",
            style_function=style,
            popup=folium.GeoJsonPopup(fields, aliases=aliases),
        ).add_to(m)
        layers[level] = gj.get_name()
        ctx.stats[f"{level}_grids"] = len(rs)
    return by_level


def _micro_label_points(
    rows: list[dict[str, Any]], units: list[FloorUnit]
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
        code = r["code"]
        if code not in cells:
            out[code] = (r["x"], r["y"])
            continue
        boundary = shapely.from_wkb(bytes(r["geom"]))
        rest = shapely.difference(boundary, shapely.union_all(cells[code]))
        if shapely.area(rest) <= 1e-3 * shapely.area(boundary):
            out[code] = None
        else:
            p = shapely.point_on_surface(rest)
            out[code] = (p.x, p.y)
    return out


def _label_layer(
    m: folium.Map,
    ctx: MapContext,
    micro: list[dict[str, Any]],
    units: list[FloorUnit],
    layers: dict[str, str],
) -> None:
    """Code and households at each micro-grid's point on surface (not where a unit split by
    floors is labelled: its floor groups' grids share that cell)."""
    labels = folium.FeatureGroup(name="标注 (labels)").add_to(m)
    at = _micro_label_points(micro, units)
    for r in micro:
        where = at[r["code"]]
        if where is None:
            continue
        lat, lon = ctx.point(*where)
        folium.Marker(
            (lat, lon),
            icon=folium.DivIcon(
                html=f'<div class="wg-label" data-grid="{html.escape(r["code"])}">'
                f"{html.escape(short(r['code']))}<br>{r['households']}户</div>",
                icon_size=(70, 28),
                icon_anchor=(35, 14),
                class_name="wg-label",
            ),
        ).add_to(labels)
    layers["labels"] = labels.get_name()


def _moved_style(f: dict[str, Any]) -> dict[str, Any]:
    moved = f["properties"]["moved"]
    return {
        "color": "#8e44ad" if moved else "#555",
        "weight": 3 if moved else 0.8,
        "fillColor": "#8e44ad" if moved else "#999",
        "fillOpacity": 0.6 if moved else 0.35,
    }


def _building_layer(
    m: folium.Map, ctx: MapContext, moved: set[str], layers: dict[str, str]
) -> None:
    """Building footprints, moved ones marked; a city's loaded by bbox when served."""
    rows = queries.buildings(ctx.session, ctx.community)
    if len(rows) > ctx.embed_limit and ctx.remote:
        layers["buildings_remote"] = "/buildings"
        ctx.stats["buildings_embedded"] = 0
        return
    fc = geojson(ctx, rows, ["code", "name", "households"])
    for f in fc["features"]:
        f["properties"]["moved"] = f["properties"]["code"] in moved
    bl = folium.GeoJson(
        fc,
        name="楼栋 (buildings)",
        style_function=_moved_style,
        tooltip=tooltip(fc, ["code", "households"], aliases=["楼栋", "户数"]),
    ).add_to(m)
    layers["buildings"] = bl.get_name()
    ctx.stats["buildings_embedded"] = len(rows)


def _draw_tool(m: folium.Map) -> Draw:
    """Lines, polygons and rectangles (handed to the plans API by the page's script)."""
    draw = offline(
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
    )
    draw.add_to(m)
    return draw


def _band_legend(m: folium.Map, lo: int, hi: int) -> None:
    legend(
        m,
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


def planner_map(ctx: MapContext, plan: int | None = None) -> folium.Map:
    m = new_map(ctx, "网格规划地图 (grid planning map)", map_center(ctx), ("draw",))
    shown = grids(ctx, plan)
    units = shown_floor_units(ctx, shown.draft)
    review = _review(ctx, plan)
    layers: dict[str, str] = {}
    by_level = _grid_layers(m, ctx, shown, review, layers)
    floor_layer(m, ctx, units, shown.label, layers)
    _label_layer(m, ctx, by_level["micro"] if "micro_remote" not in layers else [], units, layers)
    _building_layer(m, ctx, review.moved, layers)
    ctx.stats["moved_buildings"] = len(review.moved)
    ctx.stats["flagged_grids"] = len(review.findings)
    draw = _draw_tool(m)
    folium.LayerControl(collapsed=False).add_to(m)
    _band_legend(m, review.lo, review.hi)
    config(
        m,
        ctx,
        "planner",
        base=base_layer(ctx, footprints=False),
        layers=layers,
        draw=draw.get_name(),
        plan=plan,
        band=[review.lo, review.hi],
    )
    return m
