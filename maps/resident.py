"""The resident map: service places (party service centres, convenience stations, open
resources) by kind, each with its address, opening hours, services and phone, and "near me"
by position or by an address (an embedded index of building addresses)."""

from __future__ import annotations

import html
from typing import Any

import folium
import shapely
from folium.plugins import MarkerCluster

from geo.store.models import FACILITY_KINDS, RESOURCE_KINDS
from maps import queries
from maps.basemap_layer import base_layer
from maps.layers import outline_layers
from maps.page import MapContext, config, legend, map_center, new_map, offline, text
from maps.styles import KIND_STYLE

__all__ = ["resident_map"]

# what the page's own script gets of a place (the popup has the rest)
_PUBLIC = ("code", "name", "kind", "kind_name", "address", "hours", "lat", "lon", "lat0", "lon0")


def _resource_services(s: str | None) -> str:
    if not s:
        return ""
    org, _, kind = s.partition(" · ")
    return f"{org} · {RESOURCE_KINDS.get(kind, (kind,))[0]}"


def _place(ctx: MapContext, r: dict[str, Any]) -> dict[str, Any]:
    lat_d, lon_d = ctx.point(r["lon"], r["lat"])
    kind = r["kind"]
    label = FACILITY_KINDS.get(kind, ("开放资源", "open resource"))
    services = r["services"]
    return {
        "code": r["code"],
        "name": r["name"],
        "kind": kind,
        "kind_name": label[0],
        "kind_en": label[1],
        "address": r["address"] or "",
        "phone": r["phone"] or "",
        "hours": r["opening_hours"] or "",
        "services": _resource_services(services) if kind == "open_resource" else services or "",
        "booking": r["booking"] or "",
        "lat": lat_d,
        "lon": lon_d,
        "lat0": r["lat"],  # storage coordinates, for distances
        "lon0": r["lon"],
    }


def _places(ctx: MapContext) -> list[dict[str, Any]]:
    """Service places, then open resources, in display coordinates."""
    rows = queries.facilities(ctx.session, ctx.community)
    rows += queries.open_resources(ctx.session, ctx.community)
    return [_place(ctx, r) for r in rows]


def _address_index(ctx: MapContext) -> dict[str, dict[str, list[float]]]:
    """Compound name → building number → the point an address of that building locates to
    (the same point as ``/locate``: the footprint's point on surface)."""
    out: dict[str, dict[str, list[float]]] = {}
    for r in queries.address_buildings(ctx.session, ctx.community):
        num = r["building"].removesuffix("栋")
        if not num.isdigit():
            continue
        p = shapely.point_on_surface(shapely.from_wkb(bytes(r["geom"])))
        out.setdefault(r["compound"], {})[num] = [round(p.x, 8), round(p.y, 8)]
    return out


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


def _place_layers(m: folium.Map, places: list[dict[str, Any]]) -> dict[str, str]:
    """A marker cluster per kind of place present (CSS pins); kind → the cluster's name."""
    clusters: dict[str, str] = {}
    for kind, (colour, glyph) in KIND_STYLE.items():
        mine = [p for p in places if p["kind"] == kind]
        if not mine:
            continue  # absent data is absent, never faked
        zh, en = FACILITY_KINDS.get(kind, ("开放资源", "open resources"))
        cluster = offline(
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
                tooltip=text(p["name"]),
                wg_code=p["code"],
                wg_popup=_place_popup(p),  # bound by wangge.js (folium's popups need jQuery)
            ).add_to(cluster)
    return clusters


def resident_map(ctx: MapContext) -> folium.Map:
    m = new_map(ctx, "居民服务地图 (resident service map)", map_center(ctx), ("markercluster",))
    outline_layers(m, ctx)
    places = _places(ctx)
    clusters = _place_layers(m, places)
    ctx.stats["places"] = len(places)
    folium.LayerControl(collapsed=False).add_to(m)
    legend(
        m,
        "图例 (legend)",
        [
            (c, f"{FACILITY_KINDS.get(k, ('开放资源', 'open resource'))[0]}", False)
            for k, (c, _) in KIND_STYLE.items()
        ],
    )
    config(
        m,
        ctx,
        "resident",
        base=base_layer(ctx),
        places=[{k: p[k] for k in _PUBLIC} for p in places],
        clusters=clusters,
        addresses=_address_index(ctx),
        facility_kinds=list(FACILITY_KINDS),
    )
    return m
