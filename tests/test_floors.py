"""Floors are not places: the floor groups of a tower split by floors share its cell, in the
stored grids, in locating (both engines), in incidents (co-owners) and in plan edits.

The fixture's 24-floor towers (four a floor, 96 households a unit) are split 1-12 / 13-24.
A 30-floor single-unit tower of 120 households is imported through ``wangge import``-like
files into an empty database for the end-to-end case.
"""

from __future__ import annotations

import itertools
import os

import geopandas as gpd
import httpx
import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyproj import Transformer
from shapely import box
from shapely.geometry import Point
from sqlalchemy import text

from geo.io import import_file
from geo.locate import Locator, assign_households, sql_covering
from geo.runtime.auth import create_user
from geo.store.db import make_engine, session_scope
from geo.store.versions import partition_and_store

from .conftest import fingerprint, serve_app

pytestmark = pytest.mark.db


def _floor_units(session) -> list[dict]:
    """The current floor-split units: unit id, its cell (storage CRS) and its groups."""
    rows = session.execute(
        text(
            "SELECT m.unit_id, g.code, m.floor_min, m.floor_max, ST_AsBinary(m.cell), "
            "ST_AsBinary(g.boundary) FROM grid_member m JOIN grid g ON g.id = m.grid_id "
            "JOIN grid_version v ON v.id = g.version_id AND v.status = 'published' "
            "WHERE m.cell IS NOT NULL ORDER BY m.unit_id, m.floor_min"
        )
    ).all()
    out: dict[int, dict] = {}
    for uid, code, lo, hi, cell, boundary in rows:
        u = out.setdefault(uid, {"unit": uid, "cell": shapely.from_wkb(bytes(cell)), "groups": []})
        u["groups"].append((code, lo, hi, shapely.from_wkb(bytes(boundary))))
    return list(out.values())


def test_stored_floor_groups_cover_one_shared_cell(session):
    units = _floor_units(session)
    assert units, "the fixture has towers split by floors"
    for u in units:
        assert len(u["groups"]) >= 2
        ranges = [(lo, hi) for _, lo, hi, _ in u["groups"]]
        assert ranges[0][0] == 1 and all(a[1] + 1 == b[0] for a, b in itertools.pairwise(ranges))
        for _, _, _, boundary in u["groups"]:  # every group's grid covers the whole cell
            assert shapely.area(shapely.difference(u["cell"], boundary)) < 1e-12
    # and no strips: the cell is wider than a floor group's share of it would be
    cell = units[0]["cell"]
    assert shapely.area(cell) > 0 and cell.geom_type in ("Polygon", "MultiPolygon")


def test_locate_in_a_tower_picks_the_floor_group_or_the_lowest_with_co_owners(http, session):
    u = _floor_units(session)[0]
    p = shapely.point_on_surface(u["cell"])
    (low, lo1, hi1, _), (high, lo2, hi2, _) = u["groups"][0], u["groups"][1]
    plain = http.get("/locate", params={"lon": p.x, "lat": p.y, "crs": "cgcs2000"}).json()
    assert plain["chain"]["micro_grid"]["code"] == low
    assert plain["floors"]["chosen_by"] == "lowest"
    assert [g["label"] for g in plain["floors"]["groups"]][:2] == [
        f"{lo1}–{hi1}层",
        f"{lo2}–{hi2}层",
    ]
    assert [c["code"] for c in plain["co_owners"]] == [g[0] for g in u["groups"][1:]]
    upstairs = http.get(
        "/locate", params={"lon": p.x, "lat": p.y, "crs": "cgcs2000", "floor": lo2 + 1}
    ).json()
    assert upstairs["chain"]["micro_grid"]["code"] == high and upstairs["co_owners"] == []
    assert upstairs["floors"]["chosen_by"] == "floor"
    # a floor the tower does not have: as if none were given
    roof = http.get("/locate", params={"lon": p.x, "lat": p.y, "crs": "cgcs2000", "floor": 99})
    assert roof.json()["chain"]["micro_grid"]["code"] == low
    bad = http.get("/locate", params={"lon": p.x, "lat": p.y, "crs": "cgcs2000", "floor": "x"})
    assert bad.status_code == 422


@settings(
    max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.integers(0, 10_000))
def test_python_and_postgis_agree_on_the_floor_rule(session, seed):
    """Points in and around the towers' cells (on their edges too), with floors given, not
    given and out of range: both engines answer the same grid, how, and co-owners."""
    rng = np.random.default_rng(seed)
    units = _floor_units(session)
    pts, floors = [], []
    for u in units[:12]:
        x0, y0, x1, y1 = shapely.bounds(u["cell"])
        for _ in range(6):
            pts.append((rng.uniform(x0 - 2e-5, x1 + 2e-5), rng.uniform(y0 - 2e-5, y1 + 2e-5)))
            floors.append([None, int(rng.integers(1, 30)), 99][int(rng.integers(0, 3))])
        for x, y in shapely.get_coordinates(u["cell"])[:4]:  # exactly on its vertices
            pts.append((x, y))
            floors.append(None)
    xs, ys = np.array(pts).T
    locator = Locator.load(session)
    mine = locator.resolve(xs, ys, floors)
    theirs = sql_covering(session, xs, ys, floors=floors)
    how = {0: "inside", 1: "nearest", 2: "outside"}
    ours = [
        (int(g) if g >= 0 else None, how[int(h)], list(c))
        for g, h, c in zip(mine.grid, mine.how, mine.co_owners, strict=True)
    ]
    assert ours == theirs
    assert any(c for _, _, c in ours) and any(not c for _, _, c in ours)


def test_households_of_split_units_agree_by_position_and_membership(session):
    """By membership (unit and floor) and by position with the household's floor: the same
    micro-grid for every household of a tower (no 'floor split' disagreements any more)."""
    locator = Locator.load(session, community="510107013001")
    report = assign_households(session, locator, community="510107013001")
    assert report.disagreements == [] and report.floor_split == 0


# --- a 30-floor single-unit tower, end to end -------------------------------------------------
METRIC = "EPSG:4544"
TOWER = "510107099030"


def _import_tower(url: str, folder) -> None:
    """A community with one compound holding one tower: 30 floors, one unit, 4 a floor."""
    x, y = Transformer.from_crs("EPSG:4490", METRIC, always_xy=True).transform(104.07, 30.63)
    rows = {
        "communities": [
            {
                "code": TOWER,
                "name": "塔楼社区",
                "street_code": "510107013",
                "street_name": "晋阳街道",
                "district": "武侯区",
                "geometry": box(x, y, x + 200, y + 200),
            }
        ],
        "compounds": [
            {
                "code": f"{TOWER}-C01",
                "name": "独栋高层",
                "community_code": TOWER,
                "geometry": box(x + 20, y + 20, x + 180, y + 180),
            }
        ],
        "buildings": [
            {
                "code": f"{TOWER}-C01-B01",
                "name": "1栋",
                "community_code": TOWER,
                "compound_code": f"{TOWER}-C01",
                "floors": 30,
                "units": 1,
                "households": 120,
                "geometry": box(x + 90, y + 90, x + 110, y + 110),
            }
        ],
        "households": [
            {
                "code": f"{TOWER}-C01-B01-{f:02d}{r:02d}",
                "building_code": f"{TOWER}-C01-B01",
                "unit_no": 1,
                "floor": f,
                "room": f"{f:02d}{r:02d}",
                "geometry": Point(x + 100, y + 100),
            }
            for f in range(1, 31)
            for r in range(1, 5)
        ],
    }
    engine = make_engine(url)
    for kind, data in rows.items():
        path = folder / f"{kind}.geojson"
        gpd.GeoDataFrame(data, crs=METRIC).to_file(path)
        with session_scope(engine) as s:
            import_file(path, kind, session=s)
    with session_scope(engine) as s:
        _, report, version = partition_and_store(s, TOWER, actor="tests")
        assert report.ok and version, report.rows()
    engine.dispose()


def test_a_30_floor_tower_incident_goes_to_the_lowest_group_with_the_others_as_co_owners(
    empty_db, tmp_path
):
    _import_tower(empty_db, tmp_path)
    engine = make_engine(empty_db)
    with session_scope(engine) as s:
        groups = s.execute(
            text(
                "SELECT g.code, m.floor_min, m.floor_max, ST_Area(g.boundary) FROM grid g "
                "JOIN grid_member m ON m.grid_id = g.id WHERE g.level = 'micro' "
                "ORDER BY m.floor_min"
            )
        ).all()
        centre = s.execute(
            text(
                "SELECT ST_X(ST_PointOnSurface(footprint)), ST_Y(ST_PointOnSurface(footprint)) FROM building"
            )
        ).one()
        _, token = create_user(session=s, name="d", role="dispatcher", street_code="510107013")
        upstairs = {}
        for code in [g[0] for g in groups]:  # a grid worker for each floor group
            _, t = create_user(session=s, name=f"w{code[-3:]}", role="worker", grid_code=code)
            upstairs[code] = {"Authorization": f"Bearer {t}"}
    assert [(lo, hi) for _, lo, hi, _ in groups] == [(1, 10), (11, 20), (21, 30)]
    assert len({round(a, 12) for *_, a in groups}) == 1  # one polygon, three micro-grids
    codes = [g[0] for g in groups]
    os.environ["WANGGE_REPORT_RATE_PER_MINUTE"] = "1000"
    try:
        with serve_app(empty_db) as base, httpx.Client(base_url=base, timeout=30) as c:
            staff = {"Authorization": f"Bearer {token}"}
            body = {
                "category": "noise",
                "description": "楼上噪音",
                "lon": centre[0],
                "lat": centre[1],
                "crs": "cgcs2000",
            }
            r = c.post("/incidents", json=body)
            assert r.status_code == 201, r.text
            full = c.get(f"/incidents/{r.json()['code']}", headers=staff).json()
            assert full["micro_grid"] == codes[0] and full["co_owner_grids"] == codes[1:]
            # the workers of the upper floor groups see it too: their grids are co-owners
            for code in codes:
                seen = c.get("/incidents", headers=upstairs[code]).json()["incidents"]
                assert [i["code"] for i in seen] == [full["code"]], code
            r = c.post("/incidents", json=body | {"floor": 25, "description": "25层漏水"})
            full = c.get(f"/incidents/{r.json()['code']}", headers=staff).json()
            assert full["micro_grid"] == codes[2] and full["co_owner_grids"] == []
            assert full["floor"] == 25
            before = fingerprint(empty_db)
            bad = c.post("/incidents", json=body | {"floor": 500})
            assert bad.status_code == 422 and fingerprint(empty_db) == before
    finally:
        os.environ.pop("WANGGE_REPORT_RATE_PER_MINUTE", None)
    engine.dispose()


# --- plan edits ------------------------------------------------------------------------------
def test_plan_edits_move_floor_groups_together_or_refuse(fresh_db):
    from geo import plans
    from geo.core.crs import from_metric, to_metric

    engine = make_engine(fresh_db)
    with session_scope(engine) as s:
        pid = plans.create_plan(s, "510107013001", author="t")["id"]
        state = plans._load(s, plans._plan(s, pid).draft_version_id)
        holders = [g for g in state.values() if g.level == "micro" and g.cells]
        g = holders[0]
        uid = next(iter(g.cells))
        sharing = sorted(x.code for x in holders if uid in x.cells)
        unit = s.execute(
            text(
                "SELECT b.code || '-U' || u.unit_no FROM building_unit u JOIN building b "
                "ON b.id = u.building_id WHERE u.id = :u"
            ),
            {"u": uid},
        ).scalar_one()
        target = next(
            x.code
            for x in state.values()
            if x.level == "micro" and x.parent == g.parent and x.code not in sharing
        )
        # a boundary drawn through the tower's cell (the grid without the cell's east half) is
        # refused, naming the unit and its floors
        cell_m = to_metric([g.cells[uid]])[0]
        x0, y0, x1, y1 = shapely.bounds(cell_m)
        half = box((x0 + x1) / 2, y0 - 1, x1 + 1, y1 + 1)
        drawn = shapely.difference(to_metric([g.geom])[0], half)
        geo = shapely.geometry.mapping(from_metric([drawn])[0])
    before = fingerprint(fresh_db)
    with pytest.raises(plans.EditRefused, match=unit), session_scope(engine) as s:
        plans.redraw(s, pid, grid=g.code, geometry=geo, crs="cgcs2000", actor="t")
    assert fingerprint(fresh_db) == before
    # moving the unit moves all its floor groups, with the cell, and the invariants hold
    with session_scope(engine) as s:
        out = plans.move(s, pid, buildings=[unit], to=target, actor="t")
        assert set(out["from"]) == set(sharing)
    with session_scope(engine) as s:
        state = plans._load(s, plans._plan(s, pid).draft_version_id)
        # all its floors in one grid: the unit is whole again there (no floor cell, no two
        # ranges side by side that would make a grid its own co-owner)
        assert [x.code for x in state.values() if uid in x.cells] == []
        assert [m[1:3] for m in state[target].members if m[0] == uid] == [(None, None)]
        report = plans.validate_plan(s, pid, actor="t")
        assert report.ok, report.rows()
    # undo puts every floor group back, each with the unit's cell
    with session_scope(engine) as s:
        plans.undo(s, pid, actor="t")
    with session_scope(engine) as s:
        state = plans._load(s, plans._plan(s, pid).draft_version_id)
        assert sorted(x.code for x in state.values() if uid in x.cells) == sharing
        cells = {shapely.to_wkb(state[c].cells[uid]) for c in sharing}
        assert len(cells) == 1  # the same cell, byte for byte
    engine.dispose()


def test_merging_two_floor_groups_leaves_one_range_and_one_co_owner(empty_db, tmp_path):
    """The 30-floor tower's groups 11-20 and 21-30 merged into one grid: that grid holds
    floors 11-30 as one range; a point there answers the lowest group with the merged grid
    as its only co-owner (listed once: reporting there once failed on a duplicate co-owner)."""
    from geo import plans

    _import_tower(empty_db, tmp_path)
    engine = make_engine(empty_db)
    with session_scope(engine) as s:
        codes = [
            r[0]
            for r in s.execute(
                text(
                    "SELECT g.code FROM grid g JOIN grid_member m ON m.grid_id = g.id "
                    "WHERE g.level = 'micro' ORDER BY m.floor_min"
                )
            )
        ]
        x, y = s.execute(
            text(
                "SELECT ST_X(ST_PointOnSurface(footprint)), ST_Y(ST_PointOnSurface(footprint)) "
                "FROM building"
            )
        ).one()
        from geo.incidents import create_incident

        before = create_incident(
            s, Locator.load(s), category="noise", description="噪音", lon=x, lat=y, crs="cgcs2000"
        )
        pid = plans.create_plan(s, TOWER, author="t")["id"]
    with session_scope(engine) as s:
        plans.merge_grids(s, pid, grids=codes[1:], actor="t")
    with session_scope(engine) as s:
        state = plans._load(s, plans._plan(s, pid).draft_version_id)
        assert [m[1:3] for m in state[codes[1]].members] == [(11, 30)]
        plans.publish(s, pid, actor="t")
    with session_scope(engine) as s:
        locator = Locator.load(s)
        x, y = s.execute(
            text(
                "SELECT ST_X(ST_PointOnSurface(footprint)), ST_Y(ST_PointOnSurface(footprint)) FROM building"
            )
        ).one()
        mine = locator.resolve([x], [y])
        theirs = sql_covering(s, [x], [y])
        grid_codes = {g.id: g.code for g in locator.grids.values()}
        assert [grid_codes[g] for g in mine.co_owners[0]] == [codes[1]]
        assert (int(mine.grid[0]), "inside", mine.co_owners[0]) == theirs[0]
        from geo.incidents import create_incident

        made = create_incident(
            s, locator, category="noise", description="噪音", lon=x, lat=y, crs="cgcs2000"
        )
        # both incidents' co-owners are grids of the current version, each once
        for code in (before.incident["code"], made.incident["code"]):
            rows = s.execute(
                text(
                    "SELECT g.code, v.status FROM incident_co_owner x JOIN incident i "
                    "ON i.id = x.incident_id JOIN grid g ON g.id = x.grid_id JOIN grid_version v "
                    "ON v.id = g.version_id WHERE i.code = :c"
                ),
                {"c": code},
            ).all()
            assert rows == [(codes[1], "published")], (code, rows)
    engine.dispose()


def test_a_version_partitioned_before_floor_cells_still_reads(session):
    """A current version partitioned before migration 0008 has floor ranges (cut as strips)
    but no cell on them: it still validates, locates by its polygons, and the floor units
    (maps, boards, the OGC collection) simply have none (they failed on the missing cell)."""
    from geo.core.validate import validate_grids
    from geo.store.versions import floor_units, load_community, load_version

    session.execute(text("UPDATE grid_member SET cell = NULL WHERE cell IS NOT NULL"))
    assert floor_units(session=session) == []
    locator = Locator.load(session)
    assert locator.floors == []
    records, _ = load_version(session, "510107013001")
    inp = load_community(session, "510107013001")
    report = validate_grids(records, units=inp.units)
    # the old form's floor groups overlap without a shared cell to allow it: exactly that is
    # what the validator says about them, nothing else
    assert {f.check for f in report.errors} <= {"coverage"}
