"""Service places for residents: the nearest facilities and open resources, open now or not,
and for planners the coverage of each kind within a walk and where new stations would help.

Nearest first uses the GiST KNN operator (``<->``) on the stored (degree) coordinates and
re-ranks by metres in the metric CRS; candidates are fetched until no place left out could be
nearer in metres than the last one kept (one degree of latitude is longer than one of
longitude, never the other way round, so the bound is exact).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo import search
from geo.errors import InputError
from geo.hours import is_open
from geo.incidents.rules import clock
from geo.network import (
    has_network,
    nearest_vertices,
    pgrouting_available,
    walking_distances,
    within_walk,
)
from geo.settings import get_settings
from geo.store.models import FACILITY_KINDS, RESOURCE_KINDS

__all__ = ["coverage", "is_open", "nearby", "suggest_sites"]

KINDS = {
    **{k: ("facility", v) for k, v in FACILITY_KINDS.items()},
    **{k: ("resource", v) for k, v in RESOURCE_KINDS.items()},
}
M_PER_DEG_LAT = 110_574.0  # metres per degree of latitude (lower bound over China)


def _parse_kinds(kinds: str | Sequence[str] | None) -> list[str]:
    if kinds is None or kinds == "":
        return list(KINDS)
    items = kinds.split(",") if isinstance(kinds, str) else list(kinds)
    items = [k.strip() for k in items if k.strip()]
    bad = [k for k in items if k not in KINDS]
    if bad:
        raise InputError(f"未知类型 (unknown kind) {bad[0]!r}; 可选 (one of): {', '.join(KINDS)}")
    return items


_PLACES = """
    SELECT 'facility' AS source, f.code, f.name, f.kind, f.address, f.phone, f.opening_hours,
           f.services, NULL AS owner_org, NULL AS booking, NULL::int AS capacity, f.position
    FROM facility f WHERE f.kind = ANY(:kinds) {only_f}
    UNION ALL
    SELECT 'resource', r.code, r.name, r.kind, r.address, r.phone, r.opening_hours,
           r.services, r.owner_org, r.booking, r.capacity, r.position
    FROM open_resource r WHERE r.kind = ANY(:kinds) {only_r}
"""


def nearby(
    session: Session,
    lon: float,
    lat: float,
    *,
    kinds: str | Sequence[str] | None = None,
    limit: int = 10,
    within_m: float | None = None,
    at: datetime | None = None,
    walking: bool = True,
    service: str | None = None,
    open_now: bool = False,
) -> dict[str, Any]:
    """Facilities and open resources nearest first, as a GeoJSON FeatureCollection: straight
    distance in metres, walking distance when the network is loaded, open now, services.

    ``service`` keeps the places offering it (:func:`matching`; each feature's ``matched``
    names the text that matched; none: ``suggestions``, the closest existing services);
    ``open_now`` keeps those open at ``at`` (the service's clock, :func:`geo.incidents.rules
    .clock`, by default). Bounded by ``WANGGE_NEARBY_MAX_M``: a larger ``within_m`` is
    refused, and walking distances are searched only that far (a place farther, on foot or in
    a straight line, has ``walking_m`` null), so that no request makes pgRouting walk a whole
    city."""
    max_m = get_settings().nearby_max_m
    if not 1 <= limit <= 100:
        raise InputError(f"limit 应在 1–100 之间 (limit out of range): {limit}")
    if within_m is not None and not (0 < within_m <= max_m):
        raise InputError(
            f"within_m 超出范围 (within_m out of range): {within_m:g}; 应大于 0 且不超过 "
            f"(must be > 0 and at most) {max_m:g} 米 (metres, WANGGE_NEARBY_MAX_M)"
        )
    if service is not None:
        search.check_term(service)
    kind_list = _parse_kinds(kinds)
    at = at or clock()
    extra: dict[str, Any] = {}
    only: dict[str, str | None] | None = None
    if service is not None or open_now:
        only = matching(session, kind_list, service, at if open_now else None)
        if service is not None:
            extra["service"] = service
            offered = only or (open_now and matching(session, kind_list, service, None))
            extra["suggestions"] = [] if offered else _suggestions(session, service)
    places = _nearest(session, lon, lat, kind_list, limit, within_m, only)
    walk = _walking(session, lon, lat, places, max_m) if walking else None
    features = [
        _feature(r, at, walk is not None, None if walk is None else walk[i])
        for i, r in enumerate(places)
    ]
    if service is not None and only is not None:
        for f in features:
            f["properties"]["matched"] = only[f["id"]]
    return {
        "type": "FeatureCollection",
        "numberReturned": len(features),
        "origin": {"lon": lon, "lat": lat},
        "at": at.isoformat(),
        **extra,
        "features": features,
    }


_CANDIDATES = """
    SELECT f.code, f.kind, f.name, f.services, NULL, f.opening_hours FROM facility f
    WHERE f.kind = ANY(:kinds)
    UNION ALL
    SELECT r.code, r.kind, r.name, r.services, r.booking, r.opening_hours FROM open_resource r
    WHERE r.kind = ANY(:kinds)
"""


def matching(
    session: Session, kinds: list[str], service: str | None, open_at: datetime | None
) -> dict[str, str | None]:
    """The places of ``kinds`` offering ``service`` (when given) and open at ``open_at`` (when
    given), code → the place's text that matched: one of its services, else its kind's
    Chinese name, its name, or (an open resource's) its booking note; None without service."""
    wanted = search.terms(service) if service is not None else None
    out: dict[str, str | None] = {}
    for code, kind, name, services, note, hours in session.execute(
        text(_CANDIDATES), {"kinds": kinds}
    ):
        hit = None
        if wanted is not None:
            hit = search.match(wanted, [*(services or []), KINDS[kind][1][0], name, note])
            if hit is None:
                continue
        if open_at is not None and is_open(hours, open_at) is not True:
            continue
        out[code] = hit
    return out


def _suggestions(session: Session, service: str) -> list[str]:
    """The five existing service names closest to ``service``."""
    names = session.scalars(
        text(
            "SELECT DISTINCT s FROM (SELECT unnest(services) AS s FROM facility UNION ALL "
            "SELECT unnest(services) FROM open_resource) x"
        )
    ).all()
    return search.suggest(service, [*names, *(v[1][0] for v in KINDS.values())])


def _nearest(
    session: Session,
    lon: float,
    lat: float,
    kinds: list[str],
    limit: int,
    within_m: float | None,
    only: dict[str, str | None] | None = None,
) -> Sequence[Sequence[Any]]:
    """Up to ``limit`` places of ``kinds`` within ``within_m`` (when given), nearest first in
    metres: KNN candidates in degrees, fetched four times as many at a time until no place
    left out could be nearer than the last one kept. Each row: source, code, name, kind,
    address, phone, opening_hours, services, owner_org, booking, capacity, x, y, degrees,
    metres. ``only``: just these codes (none: no place)."""
    if only is not None and not only:
        return []
    s = get_settings()
    where = "" if only is None else "AND {t}.code = ANY(:only)"
    places = _PLACES.format(only_f=where.format(t="f"), only_r=where.format(t="r"))
    fetch = max(4 * limit, 20)
    cos_lat = math.cos(math.radians(lat))
    while True:
        rows = session.execute(
            text(f"""
            WITH o AS (SELECT ST_SetSRID(ST_MakePoint(:x, :y), {s.storage_srid}) AS g),
            c AS (SELECT p.*, p.position <-> o.g AS deg FROM ({places}) p, o
                  ORDER BY p.position <-> o.g LIMIT :fetch)
            SELECT c.source, c.code, c.name, c.kind, c.address, c.phone, c.opening_hours,
                   c.services, c.owner_org, c.booking, c.capacity, ST_X(c.position),
                   ST_Y(c.position), c.deg,
                   ST_Distance(ST_Transform(c.position, {s.metric_srid}),
                               ST_Transform(o.g, {s.metric_srid})) AS metres
            FROM c, o ORDER BY metres, c.code"""),
            {"x": lon, "y": lat, "kinds": kinds, "fetch": fetch, "only": list(only or [])},
        ).all()
        if len(rows) < fetch:
            break  # every candidate is in
        kept = [r for r in rows if within_m is None or r[14] <= within_m][:limit]
        worst = kept[-1][14] if len(kept) == limit else (within_m or math.inf)
        # a place not fetched is at least this many degrees away, so at least this far:
        floor_m = max(r[13] for r in rows) * M_PER_DEG_LAT * cos_lat
        if floor_m >= worst:
            break
        fetch *= 4
    return [r for r in rows if within_m is None or r[14] <= within_m][:limit]


def _walking(
    session: Session, lon: float, lat: float, places: Sequence[Sequence[Any]], max_m: float
) -> list[float | None] | None:
    """Metres on foot to each place, searched up to ``max_m`` (a place farther in a straight
    line is None); None when there is no network (straight lines only)."""
    if not (places and pgrouting_available(session) and has_network(session)):
        return None
    near = [i for i, r in enumerate(places) if r[14] <= max_m]  # others: too far
    found = walking_distances(
        session, (lon, lat), [(places[i][11], places[i][12]) for i in near], max_m=max_m
    )
    walk: list[float | None] = [None] * len(places)
    for i, w in zip(near, found or [], strict=False):
        walk[i] = w
    return walk


def _feature(
    r: Sequence[Any], at: datetime, network: bool, walking_m: float | None
) -> dict[str, Any]:
    """A place (a row of :func:`_nearest`) as a GeoJSON Feature."""
    _source, kind_label = KINDS[r[3]]
    props = {
        "code": r[1],
        "name": r[2],
        "kind": r[3],
        "kind_name": kind_label[0],
        "kind_name_en": kind_label[1],
        "source": r[0],
        "address": r[4],
        "phone": r[5],
        "opening_hours": r[6],
        "open_now": is_open(r[6], at),
        "open": is_open(r[6], at),
        "services": list(r[7] or []),
        "owner_org": r[8],
        "booking": r[9],
        "capacity": r[10],
        "distance_m": round(float(r[14]), 1),
        "walking_m": walking_m,
        "distance_type": "network" if network else "straight_line",
    }
    return {
        "type": "Feature",
        "id": r[1],
        "properties": props,
        "geometry": {"type": "Point", "coordinates": [r[11], r[12]]},
    }


# --- coverage for planners --------------------------------------------------------------------
def coverage(
    session: Session, kind: str, *, community: str | None = None, limit_m: float | None = None
) -> dict[str, Any]:
    """Share of households within a walk (default 1,000 m on the network; straight line when
    there is no network, and labelled so) of a facility of ``kind``, per micro-grid, with the
    households outside it."""
    if kind not in KINDS:
        raise InputError(f"未知类型 (unknown kind) {kind!r}; 可选 (one of): {', '.join(KINDS)}")
    s = get_settings()
    limit_m = limit_m or s.walk_m
    source_table = "facility" if KINDS[kind][0] == "facility" else "open_resource"
    sources = session.execute(
        text(f"SELECT ST_X(position), ST_Y(position) FROM {source_table} WHERE kind = :k"),
        {"k": kind},
    ).all()
    cond, params = "", {}
    if community:
        cond = " AND c.code = :c"
        params["c"] = community
    hh = session.execute(
        text(
            "SELECT h.id, h.code, ST_X(h.position), ST_Y(h.position), g.code FROM household h "
            "JOIN building b ON b.id = h.building_id JOIN community c ON c.id = b.community_id "
            "LEFT JOIN grid g ON g.id = h.grid_id WHERE TRUE" + cond + " ORDER BY h.id"
        ),
        params,
    ).all()
    reach = within_walk(session, [(x, y) for x, y in sources], limit_m)
    covered = np.zeros(len(hh), dtype=bool)
    if hh and sources:
        if reach is not None:
            vids, snaps = nearest_vertices(session, [r[2] for r in hh], [r[3] for r in hh])
            covered = np.array(
                [reach.get(v, math.inf) + d <= limit_m for v, d in zip(vids, snaps, strict=True)]
            )
        else:
            d = session.execute(
                text(f"""
                SELECT h.i, min(ST_Distance(ST_Transform(ST_SetSRID(ST_MakePoint(h.x, h.y),
                    {s.storage_srid}), {s.metric_srid}), ST_Transform(f.position,
                    {s.metric_srid})))
                FROM unnest(CAST(:x AS float8[]), CAST(:y AS float8[])) WITH ORDINALITY h(x, y, i)
                CROSS JOIN {source_table} f WHERE f.kind = :k GROUP BY h.i ORDER BY h.i"""),
                {"x": [r[2] for r in hh], "y": [r[3] for r in hh], "k": kind},
            ).all()
            covered = np.array([float(r[1]) <= limit_m for r in d])
    per_grid: dict[str, dict[str, int]] = {}
    for (_, _, _, _, grid), ok in zip(hh, covered, strict=True):
        g = per_grid.setdefault(grid or "-", {"households": 0, "covered": 0})
        g["households"] += 1
        g["covered"] += int(ok)
    return {
        "kind": kind,
        "limit_m": limit_m,
        "distance_type": "network" if reach is not None else "straight_line",
        "households": len(hh),
        "covered": int(covered.sum()),
        "share": float(covered.mean()) if len(hh) else None,
        "per_micro_grid": {
            k: v | {"share": v["covered"] / v["households"]} for k, v in sorted(per_grid.items())
        },
        "outside": [r[1] for r, ok in zip(hh, covered, strict=True) if not ok],
    }


def suggest_sites(
    session: Session,
    kind: str,
    k: int,
    *,
    community: str | None = None,
    limit_m: float | None = None,
) -> dict[str, Any]:
    """Up to ``k`` new sites (network nodes, or building points without a network) that cover
    the most households left uncovered by ``kind``: a maximal covering location problem
    (Church & ReVelle 1974) solved exactly with HiGHS."""
    import highspy

    if not 1 <= k <= 20:
        raise InputError(f"k 应在 1–20 之间 (k out of range): {k}")
    s = get_settings()
    limit_m = limit_m or s.walk_m
    cov = coverage(session, kind, community=community, limit_m=limit_m)
    outside = set(cov["outside"])
    rows = session.execute(
        text(
            "SELECT h.code, ST_X(h.position), ST_Y(h.position) FROM household h "
            "WHERE h.code = ANY(:c) ORDER BY h.code"
        ),
        {"c": sorted(outside)},
    ).all()
    if not rows:
        return {
            "kind": kind,
            "sites": [],
            "covered_households": 0,
            "uncovered_before": 0,
            "distance_type": cov["distance_type"],
        }
    # demand points: uncovered households grouped by building position (rounded)
    demand: dict[tuple[float, float], int] = {}
    for _, x, y in rows:
        key = (round(x, 5), round(y, 5))
        demand[key] = demand.get(key, 0) + 1
    dpts = list(demand)
    weights = np.array([demand[p] for p in dpts], dtype=float)
    vertices = session.execute(
        text("SELECT ST_X(geom), ST_Y(geom) FROM road_vertex ORDER BY id")
    ).all()
    cand = [(float(x), float(y)) for x, y in (vertices or dpts)]
    m = _distance_matrix(cand, dpts)
    covers = m <= limit_m  # (candidates, demand)
    h = highspy.Highs()
    h.silent()
    x = [h.addBinary() for _ in cand]
    y = [h.addBinary() for _ in dpts]
    for i in range(len(dpts)):
        h.addConstr(y[i] <= sum(x[j] for j in np.flatnonzero(covers[:, i])))
    h.addConstr(sum(x) <= k)
    h.maximize(sum(float(weights[i]) * y[i] for i in range(len(dpts))))
    chosen = [j for j in range(len(cand)) if h.val(x[j]) > 0.5]
    sol_cover = covers[chosen].any(axis=0) if chosen else np.zeros(len(dpts), dtype=bool)
    return {
        "kind": kind,
        "limit_m": limit_m,
        "distance_type": "straight_line",
        "uncovered_before": int(weights.sum()),
        "covered_households": int(weights[sol_cover].sum()),
        "sites": [
            {"lon": cand[j][0], "lat": cand[j][1], "households": int(weights[covers[j]].sum())}
            for j in chosen
        ],
    }


def _distance_matrix(
    a: Sequence[tuple[float, float]], b: Sequence[tuple[float, float]]
) -> np.ndarray:
    from geo.core.crs import metric_crs, storage_crs, transformer

    t = transformer(storage_crs(), metric_crs())
    ax, ay = t.transform(np.array([p[0] for p in a]), np.array([p[1] for p in a]))
    bx, by = t.transform(np.array([p[0] for p in b]), np.array([p[1] for p in b]))
    return np.hypot(ax[:, None] - bx[None, :], ay[:, None] - by[None, :])
