"""The walking network: roads and footways as a routable graph, walking distances by pgRouting.

:func:`build_network` nodes every road centre-line where roads meet, splits them into edges
between the nodes and stores them (``road_vertex``, ``road_edge``, cost in metres both ways).
:func:`walking_distances` answers "how far on foot": the origin and each target walk straight to
their nearest network node, then along the network (``pgr_dijkstraCost``). Without pgRouting
(or without a network), distances are straight lines and say so.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np
import psycopg
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.core.crs import to_metric
from geo.settings import get_settings

__all__ = [
    "build_network",
    "has_network",
    "nearest_vertices",
    "pgrouting_available",
    "walking_distances",
    "within_walk",
]


def pgrouting_available(session: Session) -> bool:
    """Whether pgRouting is installed in the database (creating the extension if it can)."""
    installed = session.execute(
        text("SELECT 1 FROM pg_extension WHERE extname = 'pgrouting'")
    ).first()
    if installed:
        return True
    available = session.execute(
        text("SELECT 1 FROM pg_available_extensions WHERE name = 'pgrouting'")
    ).first()
    if not available:
        return False
    try:
        with session.begin_nested():
            session.execute(text("CREATE EXTENSION IF NOT EXISTS pgrouting"))
    except Exception:
        return False
    return True


def has_network(session: Session) -> bool:
    return bool(session.execute(text("SELECT 1 FROM road_edge LIMIT 1")).first())


def build_network(session: Session) -> dict[str, int]:
    """(Re)build the network from the ``road`` table: roads noded where they cross or touch,
    split into edges. Returns the counts."""
    srid = get_settings().storage_srid
    rows = session.execute(text("SELECT id, ST_AsBinary(geom) FROM road ORDER BY id")).all()
    session.execute(text("DELETE FROM road_edge"))
    session.execute(text("DELETE FROM road_vertex"))
    if not rows:
        return {"vertices": 0, "edges": 0}
    lines = _join_near_ends(shapely.from_wkb([bytes(r[1]) for r in rows]))
    road_ids = [r[0] for r in rows]
    noded = shapely.get_parts(shapely.line_merge(shapely.union_all(lines)))
    # each noded piece: the road it lies on, then split into two-vertex edges
    tree = shapely.STRtree(lines)
    edges: list[
        tuple[int | None, tuple[float, float], tuple[float, float], shapely.LineString]
    ] = []
    for piece in noded:
        coords = shapely.get_coordinates(piece)
        mid = shapely.line_interpolate_point(piece, 0.5, normalized=True)
        near = tree.query_nearest(mid, all_matches=False)
        road = road_ids[int(near[0])] if len(near) else None
        for a, b in itertools.pairwise(coords):
            if (a == b).all():
                continue
            edges.append(
                (
                    road,
                    (float(a[0]), float(a[1])),
                    (float(b[0]), float(b[1])),
                    shapely.LineString([a, b]),
                )
            )
    vertex_ids: dict[tuple[float, float], int] = {}
    for _, a, b, _ in edges:
        for p in (a, b):
            vertex_ids.setdefault(p, len(vertex_ids) + 1)
    lengths = shapely.length(to_metric(np.array([e[3] for e in edges], dtype=object)))
    raw = session.connection().connection.driver_connection
    if not isinstance(raw, psycopg.Connection):  # COPY is psycopg's
        raise TypeError(f"COPY needs a psycopg connection, not {type(raw).__name__}")
    with raw.cursor() as cur:
        with cur.copy("COPY road_vertex (id, geom) FROM STDIN") as cp:
            for p, vid in vertex_ids.items():
                cp.write_row((vid, f"SRID={srid};POINT({p[0]!r} {p[1]!r})"))
        with cur.copy(
            "COPY road_edge (id, road_id, source, target, cost, reverse_cost, geom) FROM STDIN"
        ) as cp:
            for k, ((road, a, b, line), m) in enumerate(zip(edges, lengths, strict=True), 1):
                cp.write_row(
                    (
                        k,
                        road,
                        vertex_ids[a],
                        vertex_ids[b],
                        float(m),
                        float(m),
                        f"SRID={srid};{line.wkt}",
                    )
                )
    return {"vertices": len(vertex_ids), "edges": len(edges)}


def _join_near_ends(lines: np.ndarray, reach_m: float = 3.0) -> np.ndarray:
    """A road that ends a hair short of another (a footway drawn to a street's centre-line,
    rounded) is drawn on across it, so that noding joins them: each free end within
    ``reach_m`` of another line is extended to it and half a metre beyond."""
    from geo.core.crs import from_metric

    parts = [shapely.get_parts(g) for g in lines]
    flat = np.array([p for ps in parts for p in ps], dtype=object)
    owner = np.array([i for i, ps in enumerate(parts) for _ in ps])
    metric = to_metric(flat)
    tree = shapely.STRtree(metric)
    out = list(metric)
    for k, line in enumerate(metric):
        coords = shapely.get_coordinates(line)
        for end, inner in ((0, 1), (-1, -2)):
            p = shapely.Point(coords[end])
            near = [j for j in tree.query(p, predicate="dwithin", distance=reach_m) if j != k]
            if not near or any(shapely.intersects(metric[j], p) for j in near):
                continue
            j = min(near, key=lambda j: shapely.distance(metric[j], p))
            target = shapely.get_coordinates(shapely.shortest_line(p, metric[j]))[1]
            d = target - coords[inner]  # on along the line's own way, through the other
            n = float(np.hypot(*d))
            if n == 0:
                continue
            beyond = target + d / n * 0.5
            c = shapely.get_coordinates(out[k])
            c = np.vstack([beyond, c]) if end == 0 else np.vstack([c, beyond])
            out[k] = shapely.LineString(c)
    back = from_metric(np.array(out, dtype=object))
    return np.array(
        [shapely.multilinestrings(list(back[owner == i])) for i in range(len(lines))],
        dtype=object,
    )


def nearest_vertices(
    session: Session, lon: Sequence[float], lat: Sequence[float]
) -> tuple[list[int], list[float]]:
    """Nearest network vertex of each point (GiST KNN) and the straight distance to it (m)."""
    s = get_settings()
    rows = session.execute(
        text(f"""
        SELECT p.i, v.id, ST_Distance(ST_Transform(v.geom, {s.metric_srid}),
                                      ST_Transform(p.geom, {s.metric_srid}))
        FROM (SELECT i, ST_SetSRID(ST_MakePoint(x, y), {s.storage_srid}) AS geom
              FROM unnest(CAST(:x AS float8[]), CAST(:y AS float8[])) WITH ORDINALITY t(x, y, i)) p
        CROSS JOIN LATERAL (SELECT id, geom FROM road_vertex ORDER BY geom <-> p.geom LIMIT 1) v
        ORDER BY p.i"""),
        {"x": [float(v) for v in lon], "y": [float(v) for v in lat]},
    ).all()
    return [int(r[1]) for r in rows], [float(r[2]) for r in rows]


WINDOW_MARGIN_M = 1000.0  # the network searched reaches this far beyond the points


def walking_distances(
    session: Session,
    origin: tuple[float, float],
    targets: Sequence[tuple[float, float]],
    *,
    max_m: float | None = None,
) -> list[float | None] | None:
    """Metres on foot from ``origin`` to each target (storage CRS), or None when there is no
    network (or no pgRouting): then the caller falls back to straight lines. A target the
    network does not reach gets None.

    pgRouting builds its graph from the edges query on every call, so the query asks only for
    the edges in a window around the points (their box, grown by ``WINDOW_MARGIN_M`` or by the
    points' own spread, whichever is larger): a city's network stays in the database. A
    target the window does not connect, or connects by a walk long enough that a detour
    outside the window could be shorter, is searched again on the whole network — or, with
    ``max_m`` (public answers), on the box every walk of up to ``max_m`` from the origin stays
    in: a walk longer than that, or none, is None, and no search ever spans a whole city."""
    if not targets or not pgrouting_available(session) or not has_network(session):
        return None
    xs = [origin[0]] + [t[0] for t in targets]
    ys = [origin[1]] + [t[1] for t in targets]
    vids, snaps = nearest_vertices(session, xs, ys)
    src, src_snap = vids[0], snaps[0]
    dsts = sorted(set(vids[1:]) - {src})
    costs: dict[int, float] = {src: 0.0}
    if dsts:
        window, grow = _window(xs, ys)
        costs |= _dijkstra_costs(session, src, dsts, window)
        # a path leaving the window walks at least `grow` out and `grow` back (less the walks
        # to the network): a cost below that is the shortest; others are searched again
        snap_of: dict[int, float] = {}
        for vid, snap in zip(vids[1:], snaps[1:], strict=True):
            snap_of[vid] = min(snap, snap_of.get(vid, snap))
        again = [d for d in dsts if d not in costs or costs[d] >= 2 * grow - src_snap - snap_of[d]]
        if again:
            bound = None if max_m is None else _window([origin[0]], [origin[1]], max_m + src_snap)
            costs |= _dijkstra_costs(session, src, again, bound[0] if bound else None)
    out: list[float | None] = []
    for vid, snap in zip(vids[1:], snaps[1:], strict=True):
        c = costs.get(vid)
        if c is not None and max_m is not None and c > max_m:
            c = None  # beyond the bound: the box may hold no shortest walk that long
        out.append(None if c is None else round(src_snap + c + snap, 1))
    return out


def _window(
    xs: Sequence[float], ys: Sequence[float], margin_m: float | None = None
) -> tuple[tuple[float, float, float, float], float]:
    """The box of the points (storage CRS, degrees) grown by the margin (``margin_m``, else
    the larger of WINDOW_MARGIN_M and the points' spread), and that margin in metres (at
    least: the box is grown by whole degrees at its widest latitude)."""
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    lat = math.radians(max(abs(y0), abs(y1)))
    m_per_deg_y = 110_574.0
    m_per_deg_x = 111_320.0 * max(math.cos(lat), 0.01)
    spread = max((x1 - x0) * m_per_deg_x, (y1 - y0) * m_per_deg_y)
    grow = margin_m if margin_m is not None else max(WINDOW_MARGIN_M, spread)
    dx, dy = grow / m_per_deg_x, grow / m_per_deg_y
    return (x0 - dx, y0 - dy, x1 + dx, y1 + dy), grow


def _dijkstra_costs(
    session: Session,
    src: int,
    dsts: Sequence[int],
    window: tuple[float, float, float, float] | None,
) -> dict[int, float]:
    """Network metres from ``src`` to each reachable vertex of ``dsts`` (pgr_dijkstraCost),
    on the edges meeting ``window`` (xmin, ymin, xmax, ymax in the storage CRS) or on all."""
    edges = "SELECT id, source, target, cost, reverse_cost FROM road_edge"
    if window is not None:
        srid = get_settings().storage_srid
        box = ", ".join(repr(float(v)) for v in window)  # floats only: safe to inline
        edges += f" WHERE geom && ST_MakeEnvelope({box}, {int(srid)})"
    rows = session.execute(
        text(
            "SELECT end_vid, agg_cost FROM pgr_dijkstraCost(CAST(:edges AS text), "
            "CAST(:s AS bigint), CAST(:d AS bigint[]), directed := false)"
        ),
        {"edges": edges, "s": src, "d": list(dsts)},
    )
    return {int(end): float(agg) for end, agg in rows}


def within_walk(
    session: Session, sources: Sequence[tuple[float, float]], limit_m: float
) -> dict[int, float] | None:
    """Network vertices within ``limit_m`` metres of the nearest source (pgr_drivingDistance
    from all sources at once, the walk to the network included). None without pgRouting."""
    if not sources or not pgrouting_available(session) or not has_network(session):
        return None
    vids, snaps = nearest_vertices(session, [p[0] for p in sources], [p[1] for p in sources])
    best: dict[int, float] = {}
    by_vertex: dict[int, float] = {}
    for v, s in zip(vids, snaps, strict=True):
        by_vertex[v] = min(by_vertex.get(v, np.inf), s)
    for start, snap in by_vertex.items():
        if snap > limit_m:
            continue
        for node, agg in session.execute(
            text(
                "SELECT node, agg_cost FROM pgr_drivingDistance("
                "'SELECT id, source, target, cost, reverse_cost FROM road_edge', "
                "CAST(:s AS bigint), :d, directed := false)"
            ),
            {"s": start, "d": limit_m - snap},
        ):
            d = float(agg) + snap
            if d < best.get(int(node), np.inf):
                best[int(node)] = d
    return best
