"""Residents' nearby service places, walking distances, opening hours, coverage."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from sqlalchemy import text

from geo.core.crs import from_storage, wgs84_to_gcj02
from geo.network import build_network, walking_distances
from geo.places import is_open, nearby
from geo.runtime.auth import create_user
from geo.store.db import make_engine, session_scope

pytestmark = pytest.mark.db
TZ = ZoneInfo("Asia/Shanghai")


def _brute(session, lon, lat, kinds=None):
    rows = session.execute(
        text(
            "SELECT code, kind, ST_X(position), ST_Y(position) FROM facility UNION ALL "
            "SELECT code, kind, ST_X(position), ST_Y(position) FROM open_resource"
        )
    ).all()
    rows = [r for r in rows if kinds is None or r[1] in kinds]
    xs, ys = from_storage([r[2] for r in rows], [r[3] for r in rows], "EPSG:4544")
    ox, oy = from_storage([lon], [lat], "EPSG:4544")
    d = np.hypot(xs - ox[0], ys - oy[0])
    return [rows[i][0] for i in np.lexsort(([r[0] for r in rows], d))], sorted(d)


@pytest.mark.parametrize(
    "kinds", [None, ["party_service_station"], ["canteen", "parking", "party_service_centre"]]
)
def test_nearby_order_matches_brute_force(session, kinds):
    rng = np.random.default_rng(3)
    for lon, lat in rng.uniform([104.0195, 30.6252], [104.0295, 30.6320], (25, 2)):
        got = nearby(session, lon, lat, kinds=kinds, limit=5, walking=False)
        codes = [f["id"] for f in got["features"]]
        expect, dist = _brute(session, lon, lat, kinds)
        assert codes == expect[:5]
        assert [f["properties"]["distance_m"] for f in got["features"]] == pytest.approx(
            [round(d, 1) for d in dist[:5]], abs=0.11
        )


def test_nearby_uses_the_gist_knn_operator(session):
    session.execute(text("SET LOCAL enable_seqscan = off"))
    plan = "\n".join(
        r[0]
        for r in session.execute(
            text(
                "EXPLAIN SELECT code FROM facility ORDER BY position <-> "
                "ST_SetSRID(ST_MakePoint(104.02, 30.63), 4490) LIMIT 3"
            )
        )
    )
    assert "Index Scan using idx_facility_position" in plan and "Order By" in plan


def test_three_nearest_stations_from_a_gcj02_position(http, session):
    lon, lat = session.execute(
        text("SELECT ST_X(position), ST_Y(position) FROM household WHERE code LIKE :c"),
        {"c": "%-C10-B02-U1-1501"},
    ).one()
    gx, gy = (float(v) for v in wgs84_to_gcj02(lon, lat))
    r = http.get(
        "/nearby",
        params={"lon": gx, "lat": gy, "crs": "gcj02", "kinds": "party_service_station", "limit": 3},
    )
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/geo+json")
    feats = r.json()["features"]
    expect, _ = _brute(session, lon, lat, ["party_service_station"])
    assert [f["id"] for f in feats] == expect[:3]
    p = feats[0]["properties"]
    assert p["kind_name"] == "小区(网格)党群服务站" and p["services"] and p["phone"]
    assert p["distance_type"] == "network" and p["walking_m"] >= p["distance_m"]
    assert isinstance(p["open_now"], bool) and p["opening_hours"]


def test_nearby_by_address_and_filters(http):
    r = http.get("/nearby", params={"address": "吉福苑5栋", "kinds": "canteen,sports_ground"})
    assert r.status_code == 200
    kinds = {f["properties"]["kind"] for f in r.json()["features"]}
    assert kinds <= {"canteen", "sports_ground"} and kinds
    near = http.get("/nearby", params={"address": "吉福苑5栋", "within_m": 150}).json()
    assert all(f["properties"]["distance_m"] <= 150 for f in near["features"])


@pytest.mark.parametrize(
    "params,words",
    [
        ({"lon": "104.02", "lat": "30.63", "kinds": "spa"}, ["'spa'"]),
        ({"lon": "nan", "lat": "30.63"}, ["nan"]),
        ({"lon": "30.63", "lat": "104.02"}, ["swapped"]),
        ({"lon": "104.02", "lat": "30.63", "crs": "mars2"}, ["unknown CRS"]),
        ({"lon": "104.02", "lat": "30.63", "limit": 0}, ["limit"]),
    ],
)
def test_nearby_bad_input(http, params, words):
    r = http.get("/nearby", params=params)
    assert r.status_code in (400, 422)
    for w in words:
        assert w in r.json()["message"]


def test_opening_hours():
    centre = "Mo-Fr 09:00-12:00,13:30-17:30; Sa 09:00-12:00"
    assert is_open(centre, datetime(2026, 11, 27, 10, 0, tzinfo=TZ)) is True  # Friday
    assert is_open(centre, datetime(2026, 11, 27, 12, 30, tzinfo=TZ)) is False
    assert is_open(centre, datetime(2026, 11, 29, 10, 0, tzinfo=TZ)) is False  # Sunday
    night = "Mo-Su 19:00-24:00,00:00-07:30"
    assert is_open(night, datetime(2026, 11, 27, 23, 0, tzinfo=TZ)) is True
    assert is_open(night, datetime(2026, 11, 27, 3, 0, tzinfo=TZ)) is True
    assert is_open(night, datetime(2026, 11, 27, 9, 0, tzinfo=TZ)) is False
    assert is_open(None, datetime(2026, 11, 27, 9, 0, tzinfo=TZ)) is None
    assert is_open("not hours", datetime(2026, 11, 27, 9, 0, tzinfo=TZ)) is None


def test_walking_distance_on_a_toy_network(empty_db):
    """An L-shaped street: 300 m east then 300 m north. On foot that is 600 m; as the crow
    flies about 424 m."""
    engine = make_engine(empty_db)
    with session_scope(engine) as s:
        lon0, lat0 = 104.0, 30.6
        x, y = from_storage([lon0], [lat0], "EPSG:4544")
        from geo.core.crs import to_storage

        ex, ey = to_storage([x[0] + 300], [y[0]], "EPSG:4544")
        nx, ny = to_storage([x[0] + 300], [y[0] + 300], "EPSG:4544")
        s.execute(
            text(
                "INSERT INTO road (code, kind, geom) VALUES ('T1', 'branch', ST_Multi(ST_MakeLine("
                "ARRAY[ST_SetSRID(ST_MakePoint(:a, :b), 4490), ST_SetSRID(ST_MakePoint(:c, :d), "
                "4490), ST_SetSRID(ST_MakePoint(:e, :f), 4490)])))"
            ),
            {
                "a": lon0,
                "b": lat0,
                "c": float(ex[0]),
                "d": float(ey[0]),
                "e": float(nx[0]),
                "f": float(ny[0]),
            },
        )
        counts = build_network(s)
        assert counts == {"vertices": 3, "edges": 2}
        walk = walking_distances(s, (lon0, lat0), [(float(nx[0]), float(ny[0]))])
    engine.dispose()
    assert walk is not None and walk[0] == pytest.approx(600.0, abs=0.5)
    straight = float(np.hypot(300, 300))
    assert walk[0] > straight


LON0, LAT0 = 104.0, 30.6  # where the toy networks start


def _road(session, code: str, pts: list[tuple[float, float]]) -> tuple[float, float]:
    """A street through ``pts`` (metres east and north of LON0, LAT0); its last point."""
    from geo.core.crs import to_storage

    x, y = from_storage([LON0], [LAT0], "EPSG:4544")
    lons, lats = to_storage([x[0] + a for a, _ in pts], [y[0] + b for _, b in pts], "EPSG:4544")
    wkt = ", ".join(f"{float(a)!r} {float(b)!r}" for a, b in zip(lons, lats, strict=True))
    session.execute(
        text(
            "INSERT INTO road (code, kind, geom) VALUES (:c, 'branch', ST_GeomFromText(:w, 4490))"
        ),
        {"c": code, "w": f"MULTILINESTRING(({wkt}))"},
    )
    return float(lons[-1]), float(lats[-1])


def test_walking_distance_takes_a_detour_beyond_the_search_window(empty_db):
    """pgRouting is given only the edges near the points; a street that leaves that window
    (1.5 km north and back, for two points 300 m apart) is still found, on the whole network."""
    from geo.network import WINDOW_MARGIN_M

    engine = make_engine(empty_db)
    far = WINDOW_MARGIN_M + 500
    with session_scope(engine) as s:
        end = _road(s, "U", [(0, 0), (0, far), (300, far), (300, 0)])
        assert build_network(s) == {"vertices": 4, "edges": 3}
        walk = walking_distances(s, (LON0, LAT0), [end])
    engine.dispose()
    assert walk is not None and walk[0] == pytest.approx(2 * far + 300, abs=1.0)


def test_walking_distance_finds_a_shorter_way_outside_the_window(empty_db):
    """Inside the search window the only way between two points 300 m apart zigzags for
    3.9 km; a street loop leaving the window is 2.4 km. A cost that long could be beaten by
    a path outside the window, so the whole network is searched again: 2.4 km."""
    from geo.network import WINDOW_MARGIN_M

    engine = make_engine(empty_db)
    low = -(WINDOW_MARGIN_M + 50)
    zigzag = [(0, 0), (0, 900), (100, 900), (100, 0), (200, 0), (200, 900), (300, 900), (300, 0)]
    loop = [[(0, 0), (0, low)], [(0, low), (300, low)], [(300, low), (300, 0)]]
    with session_scope(engine) as s:
        end = _road(s, "Z", zigzag)
        for i, piece in enumerate(loop):
            _road(s, f"L{i}", piece)
        build_network(s)
        walk = walking_distances(s, (LON0, LAT0), [end])
    engine.dispose()
    assert walk is not None and walk[0] == pytest.approx(2 * abs(low) + 300, abs=1.0)


def test_coverage_and_site_suggestions(fresh_http, fresh_db):
    http = fresh_http
    engine = make_engine(fresh_db)
    with session_scope(engine) as s:
        _, token = create_user(session=s, name="t-cov", role="planner")
    engine.dispose()
    auth = {"Authorization": f"Bearer {token}"}
    assert http.get("/coverage", params={"kind": "party_service_station"}).status_code == 401
    r = http.get("/coverage", params={"kind": "party_service_station"}, headers=auth)
    assert r.status_code == 200
    cov = r.json()
    assert cov["households"] == 4290 and cov["distance_type"] == "network"
    assert 0 <= cov["share"] <= 1 and len(cov["outside"]) == 4290 - cov["covered"]
    assert all(0 <= g["share"] <= 1 for g in cov["per_micro_grid"].values())
    tight = http.get(
        "/coverage", params={"kind": "party_service_station", "limit_m": 150}, headers=auth
    ).json()
    assert tight["covered"] < cov["covered"]  # a shorter walk covers fewer
    sug = http.get(
        "/coverage/suggest",
        params={"kind": "party_service_station", "k": 2, "limit_m": 150},
        headers=auth,
    ).json()
    assert 1 <= len(sug["sites"]) <= 2
    assert 0 < sug["covered_households"] <= sug["uncovered_before"]
    one = http.get(
        "/coverage/suggest",
        params={"kind": "party_service_station", "k": 1, "limit_m": 150},
        headers=auth,
    ).json()
    assert one["covered_households"] <= sug["covered_households"]  # k=2 never worse
