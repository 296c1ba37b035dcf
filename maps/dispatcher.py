"""The dispatcher map: the incidents of the caller's scope (a grid worker's grids, a
dispatcher's street; all for an admin and for a written file) as markers coloured by status,
overdue ones pulsing and open ones growing with age, each with its grid chain and the
public contacts of who is responsible; a heat map; the current micro-grids."""

from __future__ import annotations

import html
from datetime import UTC, datetime
from typing import Any

import folium
from folium.plugins import HeatMap, MarkerCluster

from geo.runtime.auth import Principal
from geo.store.models import INCIDENT_CATEGORIES, INCIDENT_STATUSES, WORKER_ROLES
from maps import queries
from maps.basemap_layer import base_layer
from maps.layers import floor_layer, grids, outline_layers, shown_floor_units
from maps.page import MapContext, config, geojson, legend, map_center, new_map, offline, text
from maps.styles import STATUS_COLOUR

__all__ = ["dispatcher_map"]

Workers = dict[str, list[dict[str, str]]]  # grid code → its workers (name, role, public phone)


def _micro_layer(m: folium.Map, ctx: MapContext, layers: dict[str, str]) -> None:
    """The current micro-grids (faint outlines) and the units split by floors."""
    shown = grids(ctx, None)
    micro = [r for r in shown.rows if r["level"] == "micro"]
    if not micro:
        return
    fc = geojson(ctx, micro, ["code", "level", "parent_code", "households", "locked"])
    gj = folium.GeoJson(
        fc,
        name=f"微网格 (micro-grids) · {shown.label}",
        style_function=lambda f: {"color": "#34495e", "weight": 1, "fillOpacity": 0.04},
        tooltip=folium.GeoJsonTooltip(["code"], labels=False),
    ).add_to(m)
    layers["micro"] = gj.get_name()
    floor_layer(m, ctx, shown_floor_units(ctx, None), shown.label, layers)


def _incidents(ctx: MapContext) -> list[dict[str, Any]]:
    """The caller's incidents only (a written file: all of them, as an admin)."""
    from geo.incidents import list_incidents

    who = ctx.principal or Principal(id=0, name="maps", role="admin")
    data: list[dict[str, Any]] = list_incidents(ctx.session, who, limit=100_000)["incidents"]
    if ctx.community is not None:
        data = [i for i in data if i["community"] == ctx.community]
    return data


def _workers(ctx: MapContext) -> Workers:
    out: Workers = {}
    for w in queries.public_workers(ctx.session):
        out.setdefault(w["grid_code"], []).append(
            {"name": w["name"], "role": w["role"], "phone": w["phone"] or ""}
        )
    return out


def _popup(i: dict[str, Any], age: float, workers: Workers) -> str:
    """Category, status, when reported, description, grid chain, who is responsible."""
    e = html.escape
    chain = " → ".join(
        x for x in (i["micro_grid"], i["compound_grid"], i["community_name"], i["street_name"]) if x
    )
    resp = [
        f"{w['name']}（{WORKER_ROLES.get(w['role'], (w['role'],))[0]}）{w['phone']}"
        for g in (i["micro_grid"], i["compound_grid"], i["community"])
        for w in workers.get(g or "", [])
    ]
    return (
        f'<div class="wg-popup" data-code="{e(i["code"])}"><h4>{e(i["category_name"])} '
        f"({e(i['category'])})</h4><dl><dt>状态 (status)</dt><dd>{e(i['status_name'])}"
        + (' <b style="color:#c0392b">已超时 (overdue)</b>' if i["overdue"] else "")
        + f"</dd><dt>上报时间 (reported)</dt><dd>{e(i['reported_at'][:16].replace('T', ' '))}"
        f"（{age:.1f} 天前, {age:.1f} days ago）</dd>"
        f"<dt>描述 (description)</dt><dd>{e(i['description'] or '')}</dd>"
        f"<dt>网格 (grid chain)</dt><dd>{e(chain) or '—'}</dd>"
        f"<dt>责任人 (responsible)</dt><dd>{'<br>'.join(e(r) for r in resp) or '—'}</dd></dl></div>"
    )


def _marker(ctx: MapContext, i: dict[str, Any], now: datetime, workers: Workers) -> folium.Marker:
    """An incident as a CSS dot coloured by status; open incidents grow with age."""
    e = html.escape
    lat, lon = ctx.point(i["lon"], i["lat"])
    age = (now - datetime.fromisoformat(i["reported_at"])).total_seconds() / 86400
    open_ = i["status"] not in ("closed", "rejected", "duplicate", "resolved")
    size = int(12 + min(age, 8)) if open_ else 10
    popup = _popup(i, age, workers)
    colour = STATUS_COLOUR.get(i["status"], "#555")
    return folium.Marker(
        (lat, lon),
        icon=folium.DivIcon(
            html=f'<div class="wg-inc{" overdue" if i["overdue"] else ""}" data-code="{e(i["code"])}" '
            f'style="background:{colour};width:{size}px;height:{size}px"></div>',
            icon_size=(size + 6, size + 6),
            icon_anchor=((size + 6) // 2, (size + 6) // 2),
            class_name="wg-icon",
        ),
        wg_popup=popup,
        tooltip=text(f"{i['category_name']} · {i['status_name']} · {age:.1f} 天 (days)"),
        wg_code=i["code"],
        wg_status=i["status"],
        wg_category=i["category"],
        wg_overdue=bool(i["overdue"]),
    )


def _status_legend(m: folium.Map) -> None:
    legend(
        m,
        "事件状态 (incident status)",
        [(STATUS_COLOUR[s], f"{INCIDENT_STATUSES[s][0]} ({s})", False) for s in STATUS_COLOUR]
        + [
            ("#c0392b", "红圈闪烁 = 超时 (pulsing red ring = overdue)", False),
            ("#555", "未办结的越久越大 (open ones grow with age)", False),
        ],
    )


def dispatcher_map(ctx: MapContext) -> folium.Map:
    m = new_map(
        ctx, "事件调度地图 (incident dispatch map)", map_center(ctx), ("markercluster", "heat")
    )
    layers: dict[str, str] = {}
    _micro_layer(m, ctx, layers)
    outline_layers(m, ctx, show_compounds=False)
    data = _incidents(ctx)
    workers = _workers(ctx)
    cluster = offline(
        MarkerCluster(
            name="事件 (incidents)", options={"disableClusteringAtZoom": 18, "maxClusterRadius": 35}
        )
    )
    cluster.add_to(m)
    now = datetime.now(UTC)
    for i in data:
        _marker(ctx, i, now, workers).add_to(cluster)
    heat = folium.FeatureGroup(name="热力图 (heat map)", show=False).add_to(m)
    if data:
        offline(HeatMap([ctx.point(i["lon"], i["lat"]) for i in data], radius=22, blur=18)).add_to(
            heat
        )
    ctx.stats["incidents"] = len(data)
    ctx.stats["overdue"] = sum(1 for i in data if i["overdue"])
    folium.LayerControl(collapsed=False).add_to(m)
    _status_legend(m)
    config(
        m,
        ctx,
        "dispatcher",
        base=base_layer(ctx),
        layers=layers,
        cluster=cluster.get_name(),
        heat=heat.get_name(),
        statuses={k: v[0] for k, v in INCIDENT_STATUSES.items()},
        categories={k: v[0] for k, v in INCIDENT_CATEGORIES.items()},
    )
    return m
