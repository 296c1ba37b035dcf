"""What the browser editor reads of a draft, over real HTTP on the real PostGIS: the grids
filtered by codes and box with the side list's counts, the buildings with their units and
grids, and the publish preview — whose counts are the ones publishing then reports."""

from __future__ import annotations

from collections import defaultdict

import httpx
import pytest
from sqlalchemy import text

from geo import plans
from geo.runtime.auth import create_user
from geo.store.db import make_engine, session_scope

from .conftest import fingerprint, serve_app
from .test_plans import COMMUNITY, _border_building

pytestmark = pytest.mark.db


def _tokens(engine):
    out = {}
    with session_scope(engine) as s:
        for name, role in [("planner_r", "planner"), ("dispatcher_r", "dispatcher")]:
            _, token = create_user(session=s, name=name, role=role)
            out[role] = {"Authorization": f"Bearer {token}"}
    return out


@pytest.fixture(scope="module")
def reading(module_db):
    """The API on a module's own copy of the fixture, a planner's and a dispatcher's tokens,
    and one draft (no edit on it: the tests that edit make their own)."""
    engine = make_engine(module_db)
    tokens = _tokens(engine)
    with serve_app(module_db) as base, httpx.Client(base_url=base, timeout=60) as c:
        r = c.post("/plans", json={"community": COMMUNITY}, headers=tokens["planner"])
        assert r.status_code == 201, r.text
        yield c, engine, tokens, r.json()
    engine.dispose()


def _sql(engine, sql, **params):
    with session_scope(engine) as s:
        return s.execute(text(sql), params).all()


def _draft_id(engine, plan_id):
    return _sql(engine, "SELECT draft_version_id FROM plan WHERE id = :p", p=plan_id)[0][0]


def _household_buildings(engine, version_id):
    """Micro-grid code → the buildings with households in it, from the households and the
    memberships of their unit and floor (not from the grids' own counts)."""
    rows = _sql(
        engine,
        "SELECT g.code, b.code FROM household h JOIN building b ON b.id = h.building_id "
        "JOIN grid_member m ON m.unit_id = h.unit_id AND (m.floor_min IS NULL OR h.floor "
        "BETWEEN m.floor_min AND m.floor_max) JOIN grid g ON g.id = m.grid_id "
        "WHERE g.version_id = :v AND g.level = 'micro'",
        v=version_id,
    )
    out = defaultdict(set)
    for grid, building in rows:
        out[grid].add(building)
    return out


# --- grids ------------------------------------------------------------------------------------
def test_grids_carry_the_side_list_counts(reading):
    c, engine, tokens, plan = reading
    pid, vid = plan["id"], _draft_id(engine, plan["id"])
    in_grid = _household_buildings(engine, vid)
    micro = sorted(in_grid)
    # a micro-grid worker who is also the head of one of its buildings counts once, and one
    # of another community's grid (by code) does not count here
    target, head_of = micro[0], sorted(in_grid[micro[0]])[0]
    with session_scope(engine) as s:
        s.execute(
            text(
                "INSERT INTO worker (code, name, role, community_id, grid_code, building_code) "
                "SELECT 'W-READ-1', '测试微网格员', 'micro_grid_worker', id, :g, :b FROM "
                "community WHERE code = :c"
            ),
            {"g": target, "b": head_of, "c": COMMUNITY},
        )
    workers = _sql(
        engine,
        "SELECT w.id, w.grid_code, w.building_code FROM worker w JOIN community c ON "
        "c.id = w.community_id WHERE c.code = :c",
        c=COMMUNITY,
    )
    r = c.get(f"/plans/{pid}/grids", headers=tokens["planner"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["community"] == COMMUNITY and body["plan"] == pid
    params = _sql(engine, "SELECT params FROM grid_version WHERE id = :v", v=vid)[0][0] or {}
    assert body["band"] == [params["min"], params["max"]]  # the band it was partitioned with
    by = {f["id"]: f for f in body["features"]}
    children = defaultdict(set)
    for f in body["features"]:
        if f["properties"]["level"] == "micro":
            children[f["properties"]["parent_code"]].update(in_grid.get(f["id"], set()))
    names = dict(_sql(engine, "SELECT code, name FROM grid WHERE version_id = :v", v=vid))
    for code, f in by.items():
        p = f["properties"]
        assert p["code"] == code and p["name"] == names[code]
        if p["level"] == "micro":
            mine = in_grid.get(code, set())
            served = {w[0] for w in workers if w[1] == code or w[2] in mine}
        elif p["level"] == "compound":
            mine = children[code]
            served = {w[0] for w in workers if w[1] == code}
        else:
            mine = set().union(*in_grid.values())
            served = {w[0] for w in workers if w[1] == code}
        assert p["buildings"] == len(mine), code
        assert p["workers"] == len(served), code
    heads = {w[0] for w in workers if w[1] is None and w[2] in in_grid[target]}
    assert by[target]["properties"]["workers"] == 1 + len(heads)
    assert any(f["properties"]["workers"] > 1 for f in by.values())


def test_grids_by_codes_and_box(reading):
    c, engine, tokens, plan = reading
    pid, vid, pl = plan["id"], _draft_id(engine, plan["id"]), tokens["planner"]
    micro = [
        f["id"]
        for f in c.get(f"/plans/{pid}/grids", params={"level": "micro"}, headers=pl).json()[
            "features"
        ]
    ]
    wanted = [micro[3], micro[0], micro[40]]
    got = c.get(
        f"/plans/{pid}/grids",
        params={"codes": ",".join([*wanted, "NO-SUCH-GRID", ""]), "level": "micro"},
        headers=pl,
    ).json()
    assert [f["id"] for f in got["features"]] == sorted(wanted)
    assert got["numberReturned"] == 3
    # a box around one grid: exactly the draft's grids PostGIS finds intersecting it
    (x0, y0, x1, y1) = _sql(
        engine,
        "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT ST_Envelope("
        "boundary) AS e FROM grid WHERE version_id = :v AND code = :g) q",
        v=vid,
        g=micro[10],
    )[0]
    box = f"{x0},{y0},{x1},{y1}"
    expected = {
        r[0]
        for r in _sql(
            engine,
            "SELECT code FROM grid WHERE version_id = :v AND level = 'micro' AND ST_Intersects("
            "boundary, ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4490))",
            v=vid,
            x0=x0,
            y0=y0,
            x1=x1,
            y1=y1,
        )
    }
    got = c.get(f"/plans/{pid}/grids", params={"bbox": box, "level": "micro"}, headers=pl).json()
    assert {f["id"] for f in got["features"]} == expected
    assert micro[10] in expected and len(expected) < len(micro)
    both = c.get(f"/plans/{pid}/grids", params={"bbox": box, "codes": micro[10]}, headers=pl).json()
    assert [f["id"] for f in both["features"]] == [micro[10]]


def test_bad_parameters_unknown_plans_and_roles(reading):
    c, _, tokens, plan = reading
    pid, pl = plan["id"], tokens["planner"]
    for path in ("grids", "buildings"):
        r = c.get(f"/plans/{pid}/{path}", params={"bbox": "104.0,30.6,oops,30.7"}, headers=pl)
        assert r.status_code == 400 and "bbox" in r.json()["message"], r.text
        r = c.get(f"/plans/{pid}/{path}", params={"bbox": "30.6,104.0,30.7,104.1"}, headers=pl)
        assert r.status_code == 400 and "bbox" in r.json()["message"], r.text
        many = ",".join(f"G{i}" for i in range(501))
        r = c.get(f"/plans/{pid}/{path}", params={"codes": many}, headers=pl)
        assert r.status_code == 400 and "codes" in r.json()["message"], r.text
    for limit in (0, 20001):
        r = c.get(f"/plans/{pid}/buildings", params={"limit": limit}, headers=pl)
        assert r.status_code == 400 and "limit" in r.json()["message"], r.text
    for path in ("grids", "buildings", "preview"):
        r = c.get(f"/plans/987654/{path}", headers=pl)
        assert r.status_code == 404 and "987654" in r.json()["message"], r.text
        assert c.get(f"/plans/{pid}/{path}").status_code == 401
        assert c.get(f"/plans/{pid}/{path}", headers=tokens["dispatcher"]).status_code == 403


# --- buildings --------------------------------------------------------------------------------
def test_every_building_once_with_its_units_and_grids(reading):
    c, engine, tokens, plan = reading
    pid, vid = plan["id"], _draft_id(engine, plan["id"])
    r = c.get(f"/plans/{pid}/buildings", headers=tokens["planner"])
    assert r.status_code == 200, r.text
    body = r.json()
    ids = [f["id"] for f in body["features"]]
    community = dict(
        _sql(
            engine,
            "SELECT b.code, (SELECT count(*) FROM household h WHERE h.building_id = b.id) FROM "
            "building b JOIN community c ON c.id = b.community_id WHERE c.code = :c",
            c=COMMUNITY,
        )
    )
    assert sorted(ids) == sorted(community) and len(set(ids)) == len(ids)
    assert body["numberReturned"] == body["numberMatched"] == len(community)
    # per building, the draft micro-grids of its households, counted from the households
    held = defaultdict(lambda: defaultdict(int))
    for building, grid, n in _sql(
        engine,
        "SELECT b.code, g.code, count(*) FROM household h JOIN building b ON b.id = "
        "h.building_id JOIN grid_member m ON m.unit_id = h.unit_id AND (m.floor_min IS NULL "
        "OR h.floor BETWEEN m.floor_min AND m.floor_max) JOIN grid g ON g.id = m.grid_id "
        "WHERE g.version_id = :v GROUP BY 1, 2",
        v=vid,
    ):
        held[building][grid] = n
    unit_nos = defaultdict(list)
    for building, no in _sql(
        engine,
        "SELECT b.code, u.unit_no FROM building_unit u JOIN building b ON b.id = u.building_id",
    ):
        unit_nos[building].append(no)
    split = 0
    for f in body["features"]:
        p = f["properties"]
        assert f["geometry"]["type"] in ("Polygon", "MultiPolygon")
        assert p["households"] == community[f["id"]]
        assert sum(u["households"] for u in p["units"]) == p["households"]
        assert [u["code"] for u in p["units"]] == [
            f"{f['id']}-U{n}" for n in sorted(unit_nos[f["id"]])
        ]
        mine = held[f["id"]]
        assert p["grids"] == sorted(mine)
        best = sorted(mine, key=lambda g: (-mine[g], g))  # most households, then the code
        assert p["grid"] == (best[0] if mine else None)
        for u in p["units"]:
            assert u["grid"] in u["grids"] or (u["grid"] is None and not u["grids"])
            split += len(u["grids"]) > 1
    assert split > 0  # the fixture's towers split by floors list their floor groups
    # every unit code listed is one the move edit takes, naming exactly that unit
    with session_scope(engine) as s:
        ctx = plans._Context(s, plans._plan(s, pid))
        for f in body["features"]:
            for u in f["properties"]["units"]:
                (uid,) = ctx.units_of([u["code"]])
                assert ctx.unit_building[uid] == f["id"]


def test_buildings_by_box_codes_and_limit(reading):
    c, engine, tokens, plan = reading
    pid, pl = plan["id"], tokens["planner"]
    codes = [r[0] for r in _sql(engine, "SELECT code FROM building ORDER BY code")]
    (x0, y0, x1, y1) = _sql(
        engine,
        "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT ST_Envelope("
        "footprint) AS e FROM building WHERE code = :b) q",
        b=codes[20],
    )[0]
    expected = {
        r[0]
        for r in _sql(
            engine,
            "SELECT code FROM building WHERE ST_Intersects(footprint, ST_MakeEnvelope(:x0, :y0, "
            ":x1, :y1, 4490))",
            x0=x0 - 0.0005,
            y0=y0,
            x1=x1 + 0.0005,
            y1=y1,
        )
    }
    box = f"{x0 - 0.0005},{y0},{x1 + 0.0005},{y1}"
    got = c.get(f"/plans/{pid}/buildings", params={"bbox": box}, headers=pl).json()
    assert {f["id"] for f in got["features"]} == expected and 1 < len(expected) < len(codes)
    got = c.get(
        f"/plans/{pid}/buildings", params={"codes": f"{codes[5]},{codes[2]},nope"}, headers=pl
    ).json()
    assert [f["id"] for f in got["features"]] == [codes[2], codes[5]]
    got = c.get(f"/plans/{pid}/buildings", params={"limit": 5}, headers=pl).json()
    assert got["numberReturned"] == 5 and got["numberMatched"] == len(codes)


def test_a_moved_building_shows_its_new_grid(reading):
    c, engine, tokens, _ = reading
    pl = tokens["planner"]
    pid = c.post("/plans", json={"community": COMMUNITY}, headers=pl).json()["id"]
    grid, building, neighbour, hh = _border_building(engine, pid)

    def seen():
        b = c.get(f"/plans/{pid}/buildings", params={"codes": building}, headers=pl).json()
        (f,) = b["features"]
        g = c.get(f"/plans/{pid}/grids", params={"codes": f"{grid},{neighbour}"}, headers=pl).json()
        return f["properties"], {x["id"]: x["properties"] for x in g["features"]}

    before, grids_before = seen()
    assert before["grid"] == grid and before["grids"] == [grid]
    r = c.post(f"/plans/{pid}/move", json={"buildings": [building], "to": neighbour}, headers=pl)
    assert r.status_code == 200, r.text
    after, grids_after = seen()
    assert after["grid"] == neighbour and after["grids"] == [neighbour]
    assert {u["grid"] for u in after["units"]} == {neighbour}
    assert grids_after[neighbour]["households"] == grids_before[neighbour]["households"] + hh
    assert grids_after[grid]["households"] == grids_before[grid]["households"] - hh
    assert grids_after[neighbour]["buildings"] == grids_before[neighbour]["buildings"] + 1
    assert grids_after[grid]["buildings"] == grids_before[grid]["buildings"] - 1


def test_a_draft_with_errors_still_gets_a_preview(reading):
    c, engine, tokens, _ = reading
    pl = tokens["planner"]
    pid = c.post("/plans", json={"community": COMMUNITY}, headers=pl).json()["id"]
    clean = c.get(f"/plans/{pid}/preview", headers=pl).json()
    assert clean["errors"] == 0 and clean["households"] == 0 and clean["incidents"] == 0
    assert clean["grids"] == {"added": 0, "removed": 0, "changed": 0}
    # one unit taken out of the draft by hand: its households are in no micro-grid
    with session_scope(engine) as s:
        s.execute(
            text(
                "DELETE FROM grid_member WHERE id = (SELECT m.id FROM grid_member m JOIN grid g "
                "ON g.id = m.grid_id JOIN plan p ON p.draft_version_id = g.version_id WHERE "
                "p.id = :p AND m.households > 0 AND m.floor_min IS NULL ORDER BY m.id LIMIT 1)"
            ),
            {"p": pid},
        )
    r = c.get(f"/plans/{pid}/preview", headers=pl)
    assert r.status_code == 200, r.text
    broken = r.json()
    assert broken["errors"] > 0 and broken["grids"]["changed"] == 1
    assert c.post(f"/plans/{pid}/publish", headers=pl).status_code == 409


# --- the publish preview ----------------------------------------------------------------------
def test_the_preview_counts_what_publishing_then_does_and_writes_nothing(fresh_db):
    engine = make_engine(fresh_db)
    tokens = _tokens(engine)
    pl = tokens["planner"]
    with serve_app(fresh_db) as base, httpx.Client(base_url=base, timeout=120) as c:
        pid = c.post("/plans", json={"community": COMMUNITY}, headers=pl).json()["id"]
        other = c.post("/plans", json={"community": COMMUNITY}, headers=pl).json()["id"]
        _, building, neighbour, hh = _border_building(engine, pid)
        r = c.post(
            f"/plans/{pid}/move", json={"buildings": [building], "to": neighbour}, headers=pl
        )
        assert r.status_code == 200, r.text
        # an open incident in the moved building, filed as the public files one
        (x, y) = _sql(
            engine,
            "SELECT ST_X(h.position), ST_Y(h.position) FROM household h JOIN building b ON "
            "b.id = h.building_id WHERE b.code = :b ORDER BY h.code LIMIT 1",
            b=building,
        )[0]
        body = {"category": "noise", "description": "楼道噪音", "lon": x, "lat": y}
        r = c.post("/incidents", json=body | {"crs": "cgcs2000"})
        assert r.status_code == 201, r.text
        incident = r.json()["code"]
        assert c.get(f"/plans/{pid}", headers=pl).status_code == 200  # the token's last use
        before = fingerprint(fresh_db)
        r = c.get(f"/plans/{pid}/preview", headers=pl)
        assert r.status_code == 200, r.text
        preview = r.json()
        assert fingerprint(fresh_db) == before  # the preview wrote nothing
        assert preview["stale"] is False and preview["base_version"] == preview["current_version"]
        assert preview["errors"] == 0 and preview["warnings"] >= 0
        assert preview["grids"] == {"added": 0, "removed": 0, "changed": 2}
        assert preview["households"] == hh and preview["incidents"] == 1
        r = c.post(f"/plans/{pid}/publish", headers=pl)
        assert r.status_code == 200, r.text
        published = r.json()
        assert published["reassigned"] == preview["reassigned"]
        assert published["reassigned"]["households_changed_grid"] == preview["households"]
        assert published["reassigned"]["incidents_changed_grid"] == preview["incidents"]
        assert published["warnings"] == preview["warnings"]
        # the incident did move, as previewed; the published plan has nothing left to preview
        moved = _sql(
            engine,
            "SELECT g.code FROM incident i JOIN grid g ON g.id = i.grid_id WHERE i.code = :i",
            i=incident,
        )
        assert moved == [(neighbour,)]
        assert c.get(f"/plans/{pid}/preview", headers=pl).status_code == 409
        # the other draft is now stale: its preview says so, against the new current version
        stale = c.get(f"/plans/{other}/preview", headers=pl).json()
        assert stale["stale"] is True and stale["current_version"] == published["version"]
        assert stale["grids"]["changed"] == 2 and stale["households"] == hh
    engine.dispose()
