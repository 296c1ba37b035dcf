"""Spatial assignment: the edge rule, both engines agreeing, locate by point and address,
bulk assignment, re-assignment after a change, roles."""

from __future__ import annotations

import time

import httpx
import numba
import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely.geometry import box
from sqlalchemy import text

from geo.core.crs import wgs84_to_bd09, wgs84_to_gcj02
from geo.core.kernels import INSIDE, NEAREST, OUTSIDE, PolygonIndex
from geo.core.rings import covers
from geo.locate import Locator, assign_households, sql_covering
from geo.runtime.auth import create_user
from geo.store.db import make_engine, session_scope
from geo.store.versions import partition_and_store

from .conftest import serve_app, serve_app_process

COMMUNITY = "510107013001"


# --- the edge rule, by hand ---------------------------------------------------------------
def test_shared_edges_and_vertices_go_to_the_smallest_code():
    # four cells around (104.01, 30.61); ranks = code order: C, A, D, B
    cells = [
        box(104.00, 30.60, 104.01, 30.61),
        box(104.01, 30.60, 104.02, 30.61),
        box(104.00, 30.61, 104.01, 30.62),
        box(104.01, 30.61, 104.02, 30.62),
    ]
    ranks = [2, 0, 3, 1]
    idx = PolygonIndex(cells, ranks)
    x = [104.01, 104.01, 104.005, 104.015, 104.005, 104.01]
    y = [30.61, 30.605, 30.61, 30.61, 30.605, 30.615]
    got = idx.covering(x, y).tolist()
    # the vertex of all four → rank 0 (cell 1); edge 0|1 → cell 1; edge 0|2 → cell 0 (rank 2 <
    # 3); edge 1|3 → cell 1; interior of 0 → 0; edge 2|3 → cell 3 (rank 1 < 3)
    assert got == [1, 1, 0, 1, 0, 3]


def test_gaps_and_outside():
    idx = PolygonIndex([box(104.00, 30.60, 104.01, 30.61), box(104.0102, 30.60, 104.02, 30.61)])
    # the gap between the two cells is about 19 m wide; a point in its middle is ~9.6 m away
    res = idx.locate(
        [104.0101, 104.0101, 104.05, float("nan")], [30.605, 30.605, 30.605, 30.6], tolerance_m=15
    )
    assert res.index.tolist()[:1] == [0] and res.how.tolist()[0] == NEAREST
    assert res.how.tolist()[2:] == [OUTSIDE, OUTSIDE] and res.index.tolist()[2:] == [-1, -1]
    strict = idx.locate([104.0101], [30.605], tolerance_m=5)
    assert strict.index.tolist() == [-1] and strict.how.tolist() == [OUTSIDE]
    inside = idx.locate([104.005], [30.605], tolerance_m=5)
    assert inside.how.tolist() == [INSIDE]


def test_holes_and_multipolygons():
    ring = box(0, 0, 10, 10).difference(box(4, 4, 6, 6))
    multi = shapely.MultiPolygon([box(20, 0, 21, 1), box(22, 0, 23, 1)])
    idx = PolygonIndex([ring, multi, box(4, 4, 6, 6)])
    got = idx.covering([5, 4, 1, 22.5, 21.5, 20.5], [5, 5, 1, 0.5, 0.5, 0.5]).tolist()
    assert got == [2, 0, 0, 1, -1, 1]  # the hole's edge belongs to both: smaller rank (0) wins


# --- the cell table against a brute force and shapely --------------------------------------
@numba.njit(cache=True)
def _brute(order, poly_part, part_ring, ring_start, xs, ys, px, py):
    """Every polygon in rank order, no grid: the first that covers each point."""
    out = np.full(px.shape[0], -1, dtype=np.int64)
    for i in range(px.shape[0]):
        for p in order:
            if covers(p, poly_part, part_ring, ring_start, xs, ys, px[i], py[i]):
                out[i] = p
                break
    return out


def _irregular(rng) -> list:
    """Jittered Voronoi cells (irregular, mostly 5–8 sides) clipped to a frame, one cut by a
    concave notch, one with a hole that lies inside cells, a multipolygon, a big polygon
    that overlaps many (so ranks decide) and a small one nested inside another cell."""
    frame = box(104.00, 30.60, 104.02, 30.62)
    seeds = shapely.multipoints(rng.uniform([104.00, 30.60], [104.02, 30.62], (60, 2)))
    cells = [
        c
        for c in shapely.intersection(
            shapely.get_parts(shapely.voronoi_polygons(seeds, extend_to=frame)), frame
        )
        if c.area > 0
    ]
    c0 = cells[0]
    cells[0] = c0.difference(shapely.affinity.scale(c0, 0.5, 0.15)).buffer(0)
    c1 = cells[1]
    cells[1] = c1.difference(c1.centroid.buffer(0.15 * np.sqrt(c1.area), quad_segs=3))
    cells.append(
        shapely.MultiPolygon(
            [box(104.021, 30.60, 104.022, 30.601), box(104.023, 30.60, 104.024, 30.601)]
        )
    )
    cells.append(
        shapely.Polygon(
            [(104.003, 30.603), (104.017, 30.604), (104.012, 30.618), (104.006, 30.611)]
        )
    )
    c2 = cells[2].centroid
    cells.append(shapely.Polygon([(c2.x, c2.y), (c2.x + 2e-4, c2.y), (c2.x + 1e-4, c2.y + 2e-4)]))
    return cells


def _edge_probes(cells, idx, rng, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Random points, every vertex, points on axis-aligned edges (exactly representable),
    points on the grid's cell corners, outside, and NaN; and which are exactly on a boundary
    (vertices, axis-aligned edges: the doubles are exact there)."""
    rand = rng.uniform([103.999, 30.599], [104.025, 30.621], (n, 2))
    verts = np.unique(shapely.get_coordinates(np.asarray(cells, dtype=object)), axis=0)
    flat = np.column_stack([rng.uniform(104.0, 104.02, 200), np.full(200, 30.60)])
    g = idx._grid
    corners = np.column_stack(
        [g.x0 + rng.integers(0, g.nx, 400) / g.inv, g.y0 + rng.integers(0, g.ny, 400) / g.inv]
    )
    odd = np.array([[np.nan, 30.61], [104.01, np.inf], [104.5, 30.61], [103.0, 31.0]])
    on = np.concatenate([np.zeros(n, bool), np.ones(len(verts) + 200, bool), np.zeros(404, bool)])
    return np.vstack([rand, verts, flat, corners, odd]), on


@pytest.mark.parametrize(("seed", "per_cell"), [(1, 1 / 64), (2, 1 / 256), (3, 1 / 4)])
def test_the_cell_table_matches_a_brute_force_and_shapely(seed, per_cell):
    rng = np.random.default_rng(seed)
    cells = _irregular(rng)
    ranks = rng.permutation(len(cells))
    idx = PolygonIndex(cells, ranks, per_cell=per_cell)
    if per_cell < 1 / 16:  # the shortcut is exercised: many cells answer without a test
        assert (idx._grid.sure >= 0).mean() > 0.3
    pts, on = _edge_probes(cells, idx, rng, 20_000)
    got = idx.covering(pts[:, 0], pts[:, 1])  # in bulk (grouped by blocks of cells)
    want = _brute(idx.rank_order, *idx._flat.rings(), pts[:, 0], pts[:, 1])
    assert np.array_equal(got, want)
    few = [idx.covering(pts[i : i + 50, 0], pts[i : i + 50, 1]) for i in range(0, len(pts), 50)]
    assert np.array_equal(np.concatenate(few), want)  # a few points at a time: the same
    # shapely (exact predicates) agrees on the boundary points and on every point farther
    # than 1e-9 degrees from any boundary
    geoms = np.asarray(cells, dtype=object)
    points = shapely.points(pts)
    edges = shapely.union_all(shapely.boundary(geoms))
    finite = np.isfinite(pts).all(axis=1)
    check = finite.copy()
    check[finite] = on[finite] | ~shapely.dwithin(edges, points[finite], 1e-9)
    cov = shapely.covers(geoms[:, None], points[None, check])
    rank = np.empty(len(cells), dtype=np.int64)
    rank[idx.rank_order] = np.arange(len(cells))
    best = np.where(cov, rank[:, None], len(cells)).min(axis=0)
    ref = np.where(best < len(cells), idx.rank_order[np.minimum(best, len(cells) - 1)], -1)
    assert np.array_equal(got[check], ref)
    assert check.sum() > 19_000 and (got[on] >= 0).all() and (got == -1).sum() > 100


# --- both engines, on random cities -------------------------------------------------------
def _city(seed: int, n: int) -> list:
    rng = np.random.default_rng(seed)
    frame = box(104.00, 30.60, 104.02, 30.62)
    pts = shapely.multipoints(rng.uniform([104.00, 30.60], [104.02, 30.62], (n, 2)))
    cells = shapely.get_parts(shapely.voronoi_polygons(pts, extend_to=frame))
    cells = [c for c in shapely.intersection(cells, frame) if c.area > 0]
    return cells


def _store(session, cells) -> list[int]:
    """Write ``cells`` as the current micro-grids of a throw-away community."""
    session.execute(
        text(
            "INSERT INTO street (code, name, district) VALUES ('T', '测试街道', '武侯区');"
            "INSERT INTO community (code, name, street_id, boundary) SELECT 'TC', '测试社区', id, "
            "ST_Multi(ST_MakeEnvelope(104, 30.6, 104.02, 30.62, 4490)) FROM street WHERE code = 'T';"
            "INSERT INTO grid_version (community_id, number, status, source) SELECT id, 1, "
            "'published', 'test' FROM community WHERE code = 'TC';"
            "INSERT INTO grid (version_id, level, code, boundary) SELECT v.id, 'community', 'TC', "
            "c.boundary FROM grid_version v JOIN community c ON c.id = v.community_id "
            "WHERE c.code = 'TC';"
            "INSERT INTO grid (version_id, level, code, parent_id, boundary) SELECT version_id, "
            "'compound', 'TC-C', id, boundary FROM grid WHERE code = 'TC'"
        )
    )
    ids = []
    rng = np.random.default_rng(len(cells))
    codes = [f"TC-C-M{int(k):05d}" for k in rng.permutation(len(cells))]  # codes not in order
    for code, c in zip(codes, cells, strict=True):
        ids.append(
            session.execute(
                text(
                    "INSERT INTO grid (version_id, level, code, parent_id, boundary) SELECT version_id, "
                    "'micro', :code, id, ST_Multi(ST_GeomFromWKB(:g, 4490)) FROM grid "
                    "WHERE code = 'TC-C' RETURNING id"
                ),
                {"code": code, "g": shapely.to_wkb(c)},
            ).scalar_one()
        )
    return ids


def _probes(cells, seed: int, n: int):
    """Random points, every vertex (exactly on shared vertices), points on axis-aligned frame
    edges, points just outside the frame (within and beyond the tolerance)."""
    rng = np.random.default_rng(seed)
    rand = rng.uniform([104.00, 30.60], [104.02, 30.62], (n, 2))
    verts = np.unique(np.concatenate([shapely.get_coordinates(c) for c in cells]), axis=0)
    edge = np.column_stack([rng.uniform(104.0, 104.02, 20), np.full(20, 30.60)])
    out = np.array([[104.0201, 30.61], [104.0202, 30.605], [104.03, 30.61], [103.99, 30.60]])
    return np.vstack([rand, verts[:300], edge, out])


@pytest.mark.db
@settings(
    max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.integers(0, 10_000), st.integers(8, 120))
def test_python_and_postgis_engines_agree(empty_db, seed, n):
    cells = _city(seed, n)
    engine = make_engine(empty_db)
    with engine.connect() as conn:
        outer = conn.begin()
        from sqlalchemy.orm import Session

        session = Session(bind=conn)
        _store(session, cells)
        session.flush()
        locator = Locator.load(session)
        pts = _probes(cells, seed, 400)
        loc = locator.micro.locate(pts[:, 0], pts[:, 1], tolerance_m=30)
        mine = [
            (
                int(locator.micro_ids[i]) if i >= 0 else None,
                {INSIDE: "inside", NEAREST: "nearest", OUTSIDE: "outside"}[int(h)],
            )
            for i, h in zip(loc.index, loc.how, strict=True)
        ]
        theirs = sql_covering(session, pts[:, 0], pts[:, 1], tolerance_m=30)
        outer.rollback()
    engine.dispose()
    assert mine == [(g, h) for g, h, _ in theirs]
    assert {"inside", "nearest", "outside"} <= {h for _, h in mine}


# --- the fixture, from PostGIS ------------------------------------------------------------
@pytest.mark.db
def test_every_household_is_in_exactly_one_micro_grid(session):
    rows = session.execute(
        text(
            "SELECT count(*), count(h.grid_id), count(DISTINCT g.id) FROM household h "
            "LEFT JOIN grid g ON g.id = h.grid_id AND g.level = 'micro'"
        )
    ).one()
    assert rows[0] == rows[1] == 4290
    report = assign_households(session, Locator.load(session), community=COMMUNITY)
    assert report.total == 4290 and report.by_membership == 4290 and report.outside == 0
    assert report.disagreements == [] and report.changed == 0


@pytest.mark.db
def test_incidents_are_assigned_with_community_and_street(session):
    rows = session.execute(
        text("SELECT count(*), count(grid_id), count(community_id), count(street_id) FROM incident")
    ).one()
    assert rows == (36, 36, 36, 36)


@pytest.mark.db
def test_reassignment_touches_only_the_changed_area(fresh_db):
    engine = make_engine(fresh_db)
    with session_scope(engine) as s:
        before = dict(
            s.execute(
                text("SELECT h.code, g.code FROM household h JOIN grid g ON g.id = h.grid_id")
            ).all()
        )
        # a new survey finds 26 more households in one unit: only its compound's grids change
        s.execute(
            text(
                "UPDATE building_unit SET households = households + 26 WHERE building_id = (SELECT "
                "id FROM building WHERE code = :b) AND unit_no = 1"
            ),
            {"b": f"{COMMUNITY}-C05-B03"},
        )
        res, _report, version = partition_and_store(s, COMMUNITY, actor="test")
        assert version is not None
        counts = res.assignment
    with session_scope(engine) as s:
        after = dict(
            s.execute(
                text("SELECT h.code, g.code FROM household h JOIN grid g ON g.id = h.grid_id")
            ).all()
        )
        full = assign_households(s, Locator.load(s), community=COMMUNITY)
    engine.dispose()
    assert 0 < counts["households_in_changed_area"] < 4290
    assert counts["households_mapped_by_code"] + counts["households_in_changed_area"] == 4290
    moved = {h for h in before if before[h] != after[h]}
    assert moved and all("-C05-" in after[h] for h in moved)
    assert full.changed == 0  # what re-assignment left is what a full run gives


# --- the endpoint --------------------------------------------------------------------------
def _gcj(lon, lat):
    gx, gy = wgs84_to_gcj02(lon, lat)
    return float(gx), float(gy)


@pytest.mark.db
def test_locate_a_gcj02_point(http, session):
    lon, lat = session.execute(
        text("SELECT ST_X(position), ST_Y(position) FROM household WHERE code LIKE :c"),
        {"c": "%-C02-B05-U2-301"},
    ).one()
    gx, gy = _gcj(lon, lat)
    r = http.get("/locate", params={"lon": gx, "lat": gy, "crs": "gcj02"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["how"] == "inside"
    assert body["building"]["code"].endswith("-C02-B05") and body["building"]["unit_no"] == 2
    assert body["chain"]["compound_grid"]["name"] == "吉福苑"
    assert body["chain"]["community"]["name"] == "吉福社区"
    assert body["chain"]["street"]["name"] == "晋阳街道"
    assert abs(body["lon"] - lon) < 1e-7 and abs(body["lat"] - lat) < 1e-7
    expected = session.execute(
        text("SELECT g.code FROM household h JOIN grid g ON g.id = h.grid_id WHERE h.code LIKE :c"),
        {"c": "%-C02-B05-U2-301"},
    ).scalar_one()
    assert body["chain"]["micro_grid"]["code"] == expected
    roles = {w["role"] for w in body["workers"]}
    assert {"building_head", "grid_worker", "community_secretary"} <= roles
    # the same place through Baidu coordinates
    bx, by = wgs84_to_bd09(lon, lat)
    r2 = http.get("/locate", params={"lon": float(bx), "lat": float(by), "crs": "bd09"})
    assert r2.json()["chain"]["micro_grid"] == body["chain"]["micro_grid"]


@pytest.fixture(scope="module")
def staff_db(module_db):
    """This module's own copy of the fixture, with a dispatcher in it."""
    engine = make_engine(module_db)
    with session_scope(engine) as s:
        _, token = create_user(
            session=s, name="t-locate-staff", role="dispatcher", street_code="510107013"
        )
    engine.dispose()
    return module_db, token


@pytest.fixture(scope="module")
def staff_http(staff_db):
    """The API on :func:`staff_db`."""
    with serve_app(staff_db[0]) as base, httpx.Client(base_url=base, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def staff(staff_db):
    """A dispatcher's headers: staff see the household an address with a room names."""
    return {"Authorization": f"Bearer {staff_db[1]}"}


@pytest.mark.db
@pytest.mark.parametrize(
    "address",
    [
        "吉福社区云锦城市花园3栋2单元502",
        "成都市武侯区晋阳街道吉福社区云锦城市花园3栋2单元502室",
        "云锦城市花园3幢2单元502",
        "云锦城市花园3号楼2单元502",
        "云锦城市花园３栋２单元５０２",
        "云锦城市花园三栋二单元502",
        "云锦城市花园 3 栋 2 单元 502",
    ],
)
def test_locate_addresses_in_many_spellings(staff_http, staff, address):
    r = staff_http.get("/locate", params={"address": address}, headers=staff)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["address"]["household"] == f"{COMMUNITY}-C01-B03-U2-502"
    assert body["address"]["level"] == "household"
    assert body["building"]["name"] == "3栋" and body["building"]["unit_no"] == 2


@pytest.mark.db
@pytest.mark.parametrize(
    "address,status,words",
    [
        ("云景城市花园3栋2单元502", 404, ["no such compound", "云锦城市花园3栋"]),
        ("云锦城市花园99栋", 404, ["no such building"]),
        ("云锦城市花园3栋7单元", 404, ["no unit 7"]),
        ("云锦城市花园3栋2单元9999", 404, ["no such room"]),  # to staff (the public: the unit)
        ("随便写写", 400, ["not a standard address"]),
    ],
)
def test_wrong_addresses_say_why(staff_http, staff, address, status, words):
    r = staff_http.get("/locate", params={"address": address}, headers=staff)
    assert r.status_code == status
    for w in words:
        assert w in r.json()["message"]


@pytest.mark.db
@pytest.mark.parametrize(
    "params,status,words",
    [
        ({"lon": "nan", "lat": "30.63"}, 400, ["nan"]),
        ({"lon": "104.02", "lat": "95"}, 400, ["out of range"]),
        ({"lon": "30.63", "lat": "104.02"}, 400, ["swapped", "104.02"]),
        ({"lon": "abc", "lat": "30.6"}, 400, ["'abc'"]),
        ({"lon": "104.02", "lat": "30.63", "crs": "EPSG:999999"}, 400, ["unknown CRS"]),
        ({"lon": "400000", "lat": "3390000", "crs": "EPSG:4544"}, 404, ["outside the served area"]),
        ({"lon": "116.39", "lat": "39.9"}, 404, ["outside the served area"]),
        ({"lat": "30.6"}, 400, ["lon and lat"]),
    ],
)
def test_bad_positions_are_4xx_naming_the_value(http, params, status, words):
    r = http.get("/locate", params=params)
    assert r.status_code == status, r.text
    for w in words:
        assert w in r.json()["message"]


@pytest.mark.db
def test_a_point_just_outside_the_community_is_flagged_nearest(http, session):
    west = session.execute(
        text(
            "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointN(ST_ExteriorRing(ST_GeometryN("
            "boundary, 1)), 1) p FROM community) s"
        )
    ).one()
    lon, lat = west[0] - 0.0001, west[1]  # ~10 m west of a corner of the community
    body = http.get("/locate", params={"lon": lon, "lat": lat, "crs": "cgcs2000"}).json()
    assert body["how"] == "nearest" and 0 < body["distance_m"] <= 30


def test_worker_phones_by_role():
    from geo.locate import worker_view

    w = {
        "code": "W1",
        "name": "王芳",
        "role": "building_head",
        "role_name": "楼栋长",
        "phone": "17012345678",
        "public_phone": False,
        "serves": "building",
    }
    assert worker_view(w, show_phones=False)["phone"] is None
    assert worker_view(w, show_phones=True)["phone"] == "17012345678"
    assert worker_view(w | {"public_phone": True}, show_phones=False)["phone"] == "17012345678"


@pytest.mark.db
def test_phones_for_staff_and_posted_phones_for_the_public(fresh_http, fresh_db):
    http = fresh_http
    params = {"address": "云锦城市花园3栋2单元502"}
    engine = make_engine(fresh_db)
    with session_scope(engine) as s:
        _, token = create_user(session=s, name="t-locate-worker", role="worker")
    engine.dispose()
    public = http.get("/locate", params=params).json()["workers"]
    staff = http.get("/locate", params=params, headers={"Authorization": f"Bearer {token}"}).json()[
        "workers"
    ]
    assert public and all(w["phone"] for w in staff)
    # every fixture worker agreed to post a phone on the notice board
    assert [w["phone"] for w in public] == [w["phone"] for w in staff]
    assert not any("head_name" in w or "household" in w for w in public)


@pytest.mark.db
def test_assign_job(fresh_http, fresh_db):
    http = fresh_http
    engine = make_engine(fresh_db)
    with session_scope(engine) as s:
        _, token = create_user(session=s, name="t-job", role="planner")
    engine.dispose()
    auth = {"Authorization": f"Bearer {token}"}
    assert http.post("/jobs/assign", json={"kind": "households"}).status_code == 401
    r = http.post("/jobs/assign", json={"kind": "households", "community": COMMUNITY}, headers=auth)
    assert r.status_code == 202
    job = r.json()
    for _ in range(200):
        job = http.get(f"/jobs/{job['id']}", headers=auth).json()
        if job["status"] in ("done", "failed"):
            break
        time.sleep(0.1)
    assert job["status"] == "done", job
    assert job["result"]["total"] == 4290 and job["result"]["outside"] == 0
    bad = http.post("/jobs/assign", json={"kind": "cats"}, headers=auth)
    assert bad.status_code == 422


@pytest.mark.db
def test_a_job_started_on_one_api_process_is_followed_on_another(fresh_db):
    """Two API processes on one database (as with uvicorn --workers 2): a job started on one
    is polled to the end on the other. A job whose process stopped writing is reported
    failed, naming that process."""
    engine = make_engine(fresh_db)
    with session_scope(engine) as s:
        user, token = create_user(session=s, name="t-job2", role="dispatcher")
        s.execute(
            text(
                "INSERT INTO job (id, kind, status, started_by, started_by_id, worker, "
                "updated_at) VALUES ('lost1', 'households', 'running', 't-job2', :u, "
                "'gone-host:4242', now() - interval '10 minutes')"
            ),
            {"u": user.id},
        )
    engine.dispose()
    auth = {"Authorization": f"Bearer {token}"}
    with serve_app_process(fresh_db) as one, serve_app_process(fresh_db) as other:
        r = httpx.post(
            f"{one}/jobs/assign",
            json={"kind": "households", "community": COMMUNITY},
            headers=auth,
            timeout=30,
        )
        assert r.status_code == 202 and r.json()["status"] == "queued"
        job = r.json()
        for _ in range(300):
            job = httpx.get(f"{other}/jobs/{job['id']}", headers=auth, timeout=30).json()
            if job["status"] in ("done", "failed"):
                break
            time.sleep(0.1)
        lost = httpx.get(f"{other}/jobs/lost1", headers=auth, timeout=30)
        missing = httpx.get(f"{other}/jobs/nope", headers=auth, timeout=30)
    assert job["status"] == "done", job
    assert job["result"]["total"] == 4290 and job["progress"]["done"] > 0
    assert lost.status_code == 200 and lost.json()["status"] == "failed"
    assert "gone-host:4242" in lost.json()["error"]
    assert missing.status_code == 404


@pytest.mark.cli
@pytest.mark.db
def test_cli_assign(cli, fresh_db):
    ran = cli("assign", "households", "--community", COMMUNITY, url=fresh_db)
    assert ran.code == 0, ran.err
    assert "4290" in ran.out and "disagreements" in ran.out
    ran = cli("assign", "incidents", url=fresh_db)
    assert ran.code == 0 and "36" in ran.out
    bad = cli("assign", "households", "--community", "NOPE", url=fresh_db)
    assert bad.code == 1 and "NOPE" in bad.err
