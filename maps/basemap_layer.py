"""The offline base layer every map is drawn on, from the project's own data: roads (light,
with their names along them), grey building footprints, compound names and the community
outline. (Where a map opens is :func:`maps.page.map_bounds`.)

It is data for ``maps/wangge.js``, which draws it in panes of its own under the overlays
(``wgBase``, z-index 250: above a configured tile layer, 200, and below every overlay, 400;
its labels in ``wgBaseLabels``, 450, which takes no clicks). It stays light for big data:
roads simplified to about a metre, footprints drawn from zoom 15 only, and not embedded at all
above ``embed_limit`` buildings (a served map then loads them by bounding box from
``/buildings`` when zoomed in). Every imported string (road and compound names) is escaped
as in the other layers (:func:`maps.page.text`).
"""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import urlencode

import shapely

from maps import queries
from maps.page import MapContext, geojson, text

__all__ = ["FOOTPRINT_MIN_ZOOM", "ROAD_TOLERANCE", "base_layer"]

ROAD_TOLERANCE = 1e-5  # degrees (~1 m): roads simplified to what a street-level view shows
FOOTPRINT_MIN_ZOOM = 15  # footprints from this zoom on (below, a community is a few pixels)


def _label_at(ctx: MapContext, line: Any) -> dict[str, float] | None:
    """Where a road's name goes: the middle of its longest part, turned along it (degrees
    clockwise on screen, kept between -90 and 90 so that it reads left to right)."""
    merged = shapely.line_merge(line) if line.geom_type == "MultiLineString" else line
    parts = list(getattr(merged, "geoms", [merged]))
    longest = max(parts, key=lambda g: g.length)
    if longest.length == 0:
        return None
    a, mid, b = (longest.interpolate(f, normalized=True) for f in (0.45, 0.5, 0.55))
    (lat, lon), (lat_a, lon_a), (lat_b, lon_b) = (ctx.point(p.x, p.y) for p in (mid, a, b))
    dx = (lon_b - lon_a) * math.cos(math.radians(lat))
    angle = -math.degrees(math.atan2(lat_b - lat_a, dx))
    if angle > 90:
        angle -= 180
    elif angle < -90:
        angle += 180
    return {"lat": lat, "lon": lon, "angle": round(angle, 1)}


def _roads(ctx: MapContext) -> dict[str, Any]:
    """Roads with their names (escaped) and kinds; each named one with its label's place."""
    rows = []
    for r in queries.roads(ctx.session, ctx.community, ROAD_TOLERANCE):
        g = shapely.from_wkb(bytes(r["geom"]))
        lines = shapely.get_parts(g)
        lines = [x for x in lines if x.geom_type == "LineString" and not x.is_empty]
        if lines:
            rows.append(r | {"geom": shapely.to_wkb(shapely.multilinestrings(lines))})
    fc = geojson(ctx, rows, ["name", "kind"])
    for f, r in zip(fc["features"], rows, strict=True):
        at = _label_at(ctx, shapely.from_wkb(r["geom"])) if r["name"] else None
        f["properties"]["label"] = at
    ctx.stats["base_roads"] = len(rows)
    return fc


def _compound_names(ctx: MapContext) -> list[dict[str, Any]]:
    """Each compound's name (escaped) at its boundary's point on surface."""
    out = []
    for r in queries.compounds(ctx.session, ctx.community):
        p = shapely.point_on_surface(shapely.from_wkb(bytes(r["geom"])))
        lat, lon = ctx.point(p.x, p.y)
        out.append({"name": text(r["name"]), "lat": lat, "lon": lon})
    ctx.stats["base_compounds"] = len(out)
    return out


def _footprints(ctx: MapContext, base: dict[str, Any]) -> None:
    """Embedded up to ``embed_limit`` buildings; above it a served map loads them by bbox."""
    n = queries.footprint_count(ctx.session, ctx.community)
    if n > ctx.embed_limit:
        base["footprints"] = None
        if ctx.remote:
            path = "/buildings"
            if ctx.community is not None:
                path += "?" + urlencode({"community_code": ctx.community})
            base["footprints_remote"] = path
        ctx.stats["base_footprints"] = 0
        return
    base["footprints"] = geojson(ctx, queries.footprints(ctx.session, ctx.community), [])
    ctx.stats["base_footprints"] = n


def base_layer(ctx: MapContext, *, footprints: bool = True) -> dict[str, Any]:
    """The base layer's data for ``window.WANGGE.base``: roads, footprints (unless the map
    draws its own: the planner's buildings layer), compound names, community outlines."""
    outline = geojson(ctx, queries.communities(ctx.session, ctx.community), ["name"])
    base: dict[str, Any] = {
        "outline": outline,
        "roads": _roads(ctx),
        "compounds": _compound_names(ctx),
        "footprints": None,
        "footprint_min_zoom": FOOTPRINT_MIN_ZOOM,
    }
    if footprints:
        _footprints(ctx, base)
    return base
