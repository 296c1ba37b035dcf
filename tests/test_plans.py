"""Planner workflow on the real PostGIS: drafts, edits that keep the invariants or are refused,
undo byte for byte, validation findings, diff by household, publish with re-assignment, lost
updates refused, history."""

from __future__ import annotations

import json

import numpy as np
import pytest
import shapely
from sqlalchemy import text

from geo import plans
from geo.core.crs import from_metric, to_metric, transform_geometries
from geo.core.validate import validate_grids
from geo.errors import ConflictError, GeometryError, InputError, NotFoundError
from geo.store.db import make_engine, session_scope
from geo.store.versions import load_version

pytestmark = pytest.mark.db
COMMUNITY = "510107013001"
C02 = f"{COMMUNITY}-C02"


@pytest.fixture
def engine(fresh_db):
    engine = make_engine(fresh_db)
    yield engine
    engine.dispose()


def _new_plan(engine, author="planner_a"):
    with session_scope(engine) as s:
        return plans.create_plan(s, COMMUNITY, author=author)["id"]


def _draft_bytes(engine, plan_id):
    """Every micro-grid of the draft: code → (EWKB hex, members) as stored."""
    with session_scope(engine) as s:
        rows = s.execute(
            text(
                "SELECT g.code, encode(ST_AsEWKB(g.boundary), 'hex'), g.households, g.locked, "
                "(SELECT array_agg(m.unit_id || ':' || coalesce(m.floor_min, 0) || '-' || "
                "coalesce(m.floor_max, 0) ORDER BY m.unit_id, m.floor_min) FROM grid_member m "
                "WHERE m.grid_id = g.id) FROM grid g JOIN plan p ON p.draft_version_id = "
                "g.version_id WHERE p.id = :p ORDER BY g.code"
            ),
            {"p": plan_id},
        ).all()
    return {r[0]: tuple(r[1:]) for r in rows}


def _errors(engine, plan_id):
    with session_scope(engine) as s:
        return [f for f in plans.validate_plan(s, plan_id, actor="t").errors]


def _border_building(engine, plan_id):
    """A micro-grid, one of its buildings, and the neighbouring micro-grid (same parent) the
    building's tessellation cell touches: a move that keeps both grids in one piece."""
    with session_scope(engine) as s:
        plan = plans._plan(s, plan_id)
        ctx = plans._Context(s, plan)
        state = plans._load(s, plan.draft_version_id)
        for grid in sorted(c for c, g in state.items() if g.level == "micro"):
            found = _border_of(ctx, state, grid)
            if found:
                return (grid, *found)
    raise AssertionError("no border building")


def _border_of(ctx, state, grid):
    g = state[grid]
    sibs = [x for x in plans._siblings(state, g.parent) if x is not g]
    by_building = {}
    for m in g.members:
        by_building.setdefault(ctx.unit_building[m[0]], set()).add(m[0])
    elsewhere = {ctx.unit_building[m[0]] for x in state.values() if x is not g for m in x.members}
    for b, uids in sorted(by_building.items()):
        if b in elsewhere or sum(m[3] for m in g.members if m[0] in uids) == 0:
            continue
        cell = shapely.union_all([ctx.cells[u] for u in uids])
        rest = shapely.difference(g.geom, cell)
        if len(shapely.get_parts(plans._clean(rest))) != 1 or len(by_building) < 2:
            continue
        for n in sibs:
            shared = to_metric(
                [shapely.intersection(shapely.boundary(cell), shapely.boundary(n.geom))]
            )[0]
            if shapely.length(shared) > 5:
                return b, n.code, sum(m[3] for m in g.members if m[0] in uids)
    return None


def test_create_plan_copies_the_current_version(engine):
    with session_scope(engine) as s:
        current = load_version(s, COMMUNITY)[1]["number"]
        p = plans.create_plan(s, COMMUNITY, author="planner_a", name="调整吉福苑")
    assert p["status"] == "draft" and p["base_version"] == current
    assert p["draft_version"] == current + 1 and not p["stale"]
    with session_scope(engine) as s:
        same = s.execute(
            text(
                "SELECT count(*) FILTER (WHERE ST_AsEWKB(a.boundary) = ST_AsEWKB(b.boundary) AND "
                "a.households = b.households), count(*) FROM grid a JOIN grid_version va ON "
                "va.id = a.version_id AND va.status = 'published' JOIN grid b ON b.code = a.code "
                "JOIN plan p ON p.draft_version_id = b.version_id AND p.id = :p"
            ),
            {"p": p["id"]},
        ).one()
        # the public still sees the current version only
        versions = {v["version"]: v["status"] for v in plans.versions(s, COMMUNITY)}
    assert same[0] == same[1] == 121
    assert versions[current] == "published" and versions[current + 1] == "draft"


def test_move_a_building_keeps_the_invariants_and_undo_restores_bytes(engine):
    pid = _new_plan(engine)
    grid, building, neighbour, hh = _border_building(engine, pid)
    before = _draft_bytes(engine, pid)
    with session_scope(engine) as s:
        out = plans.move(s, pid, buildings=[building], to=neighbour, actor="planner_a")
    assert out["moved_households"] == hh and out["from"] == [grid]
    after = _draft_bytes(engine, pid)
    assert after[grid][1] == before[grid][1] - hh
    assert after[neighbour][1] == before[neighbour][1] + hh
    changed = {c for c in before if before[c] != after.get(c)}
    assert changed == {grid, neighbour}  # nothing else was rewritten, byte for byte
    assert _errors(engine, pid) == []
    with session_scope(engine) as s:
        diff = plans.diff_versions(s, COMMUNITY, *_numbers(s, pid))
    assert {h["household"].rsplit("-", 2)[0] for h in diff.households} == {building}
    assert len(diff.households) == hh
    assert all(h["old"] == grid and h["new"] == neighbour for h in diff.households)
    assert diff.buildings == [{"building": building, "old": [grid], "new": [neighbour]}]
    assert diff.summary["grids_changed"] == 2 and diff.summary["grids_added"] == 0
    with session_scope(engine) as s:
        assert plans.undo(s, pid, actor="planner_a")["undone"] == "move"
    assert _draft_bytes(engine, pid) == before
    with session_scope(engine) as s, pytest.raises(ConflictError, match="没有可撤销"):
        plans.undo(s, pid, actor="planner_a")


def _numbers(s, pid):
    p = plans.get_plan(s, pid)
    return p["base_version"], p["draft_version"]


def test_an_edit_that_breaks_an_invariant_is_refused_and_changes_nothing(engine):
    pid = _new_plan(engine)
    before = _draft_bytes(engine, pid)
    with session_scope(engine) as s:
        state = plans._load(s, plans._plan(s, pid).draft_version_id)
    kids = sorted(c for c, g in state.items() if g.parent == C02)
    far = kids[0]
    # a building of the last grid moved into the first: not adjacent, the target would be in
    # two pieces
    with session_scope(engine) as s:
        ctx = plans._Context(s, plans._plan(s, pid))
        last = state[kids[-1]]
        first = state[far]
        b = next(
            ctx.unit_building[m[0]]
            for m in last.members
            if not shapely.intersects(ctx.cells[m[0]], shapely.buffer(first.geom, 1e-6))
        )
    with session_scope(engine) as s, pytest.raises(plans.EditRefused, match=r"块|pieces"):
        plans.move(s, pid, buildings=[b], to=far, actor="planner_a")
    # across compound grids
    other = next(c for c, g in state.items() if g.level == "micro" and g.parent != C02)
    with session_scope(engine) as s, pytest.raises(plans.EditRefused, match="crosses compound"):
        plans.move(s, pid, buildings=[b], to=other, actor="planner_a")
    with session_scope(engine) as s, pytest.raises(NotFoundError, match="B99"):
        plans.move(s, pid, buildings=[f"{C02}-B99"], to=far, actor="planner_a")
    assert _draft_bytes(engine, pid) == before
    with session_scope(engine) as s:
        assert plans.get_plan(s, pid)["edits"] == []


def _grid_geojson(engine, pid, code, fn):
    """``fn`` applied to a grid of the draft in metres, returned as CRS84 GeoJSON."""
    with session_scope(engine) as s:
        state = plans._load(s, plans._plan(s, pid).draft_version_id)
    metric = to_metric([state[code].geom])[0]
    drawn = from_metric([fn(metric, state)])[0]
    wgs = transform_geometries([drawn], "EPSG:4490", to=__import__("pyproj").CRS("OGC:CRS84"))[0]
    return shapely.geometry.mapping(wgs), state


def test_redraw_a_boundary(engine):
    pid = _new_plan(engine)
    grid = f"{C02}-M03"
    geo, _ = _grid_geojson(
        engine, pid, grid, lambda m, st: shapely.buffer(m, 8.0, join_style="mitre")
    )
    before = _draft_bytes(engine, pid)
    with session_scope(engine) as s:
        out = plans.redraw(s, pid, grid=grid, geometry=geo, crs="CRS84", actor="planner_a")
    assert out["changed"] and grid in out["changed"] and len(out["changed"]) >= 2
    assert out["clipped_m2"] >= 0
    assert _errors(engine, pid) == []
    after = _draft_bytes(engine, pid)
    untouched = set(before) - set(out["changed"]) - set(out["removed"])
    assert all(before[c] == after[c] for c in untouched)
    # the new boundary is the drawn one clipped to the parent
    with session_scope(engine) as s:
        new = plans._load(s, plans._plan(s, pid).draft_version_id)
    drawn = transform_geometries([shapely.geometry.shape(geo)], "OGC:CRS84")[0]
    expect = shapely.intersection(drawn, new[C02].geom)
    a, b = to_metric([new[grid].geom, expect])
    assert abs(a.area - b.area) < 1.0 and a.symmetric_difference(b).area < 1.0
    # households still each in exactly one micro-grid
    with session_scope(engine) as s:
        hh = s.execute(
            text(
                "SELECT sum(households) FROM grid g JOIN plan p ON p.draft_version_id = "
                "g.version_id WHERE p.id = :p AND g.level = 'micro'"
            ),
            {"p": pid},
        ).scalar_one()
    assert hh == 4290


BOWTIE = {
    "type": "Polygon",
    "coordinates": [
        [[104.0, 30.6], [104.001, 30.601], [104.001, 30.6], [104.0, 30.601], [104.0, 30.6]]
    ],
}


@pytest.mark.parametrize(
    ("geometry", "crs", "error", "words"),
    [
        (None, "CRS84", GeometryError, "self-intersection|Self-intersection|无效"),
        ({"type": "Polygon", "coordinates": []}, "CRS84", GeometryError, "empty|为空"),
        ("far", "CRS84", GeometryError, "outside|之外"),
        ("metres", "CRS84", GeometryError, "坐标|coordinate"),
        ("metres", "EPSG:9999999", InputError, "unknown CRS"),
        ({"type": "Point", "coordinates": [104.0, 30.6]}, "CRS84", GeometryError, "Polygon"),
        ("swapped", "CRS84", GeometryError, "swap|颠倒|互换|坐标"),
    ],
)
def test_bad_polygons_are_refused_and_nothing_changes(engine, geometry, crs, error, words):
    pid = _new_plan(engine)
    grid = f"{C02}-M03"
    geo, state = _grid_geojson(engine, pid, grid, lambda m, st: m)
    ring = geo["coordinates"][0][0] if geo["type"] == "MultiPolygon" else geo["coordinates"][0]
    x0, y0 = ring[0]
    if geometry is None:
        d = 0.0005
        geometry = {
            "type": "Polygon",
            "coordinates": [[[x0, y0], [x0 + d, y0 + d], [x0 + d, y0], [x0, y0 + d], [x0, y0]]],
        }
    elif geometry == "far":  # inside the served area, 3 km away from the community
        geometry = json.loads(json.dumps(geo))
        geometry = shapely.geometry.mapping(
            shapely.affinity.translate(shapely.geometry.shape(geo), 0.03, 0.03)
        )
    elif geometry == "metres":  # EPSG:4544 coordinates sent as longitude/latitude
        m = to_metric([state[grid].geom])[0]
        geometry = shapely.geometry.mapping(m)
    elif geometry == "swapped":
        geometry = shapely.geometry.mapping(
            shapely.transform(shapely.geometry.shape(geo), lambda c: c[:, ::-1])
        )
    before = _draft_bytes(engine, pid)
    with session_scope(engine) as s, pytest.raises(error, match=words):
        plans.redraw(s, pid, grid=grid, geometry=geometry, crs=crs, actor="planner_a")
    assert _draft_bytes(engine, pid) == before


def test_split_and_merge(engine):
    pid = _new_plan(engine)
    with session_scope(engine) as s:
        plan = plans._plan(s, pid)
        ctx = plans._Context(s, plan)
        state = plans._load(s, plan.draft_version_id)
    # a grid of C02 with two or more whole units: split off the first unit
    grid, units = next(
        (c, [m[0] for m in g.members])
        for c, g in sorted(state.items())
        if g.parent == C02 and len(g.members) >= 2 and all(m[1] is None for m in g.members)
    )
    ids = {uid: f"{u.building}-U{u.unit_no}" for uid, u in ctx.inp.units.items()}
    buildings = [ids[u] for u in units]
    total = state[grid].households
    with session_scope(engine) as s:
        out = plans.split(s, pid, grid=grid, buildings=buildings[:1], actor="planner_a")
    new = out["new"]
    assert sum(out["households"].values()) == total
    assert new.startswith(C02 + "-M") and new not in state
    assert _errors(engine, pid) == []
    with session_scope(engine) as s:
        out = plans.merge_grids(s, pid, grids=[new, grid], actor="planner_a")
    assert out["kept"] == grid and out["removed"] == [new] and out["households"] == total
    assert _errors(engine, pid) == []
    # two grids that do not touch
    kids = sorted(c for c, g in state.items() if g.parent == C02)
    far = next(
        c
        for c in kids[1:]
        if to_metric([shapely.intersection(state[kids[0]].geom, state[c].geom)])[0].length == 0
        and not shapely.touches(state[kids[0]].geom, state[c].geom)
    )
    with session_scope(engine) as s, pytest.raises(plans.EditRefused, match="not adjacent"):
        plans.merge_grids(s, pid, grids=[kids[0], far], actor="planner_a")
    # split by a line across the grid, between the middle two of its units with households
    # (a line across the middle of the polygon may leave them all on one side)
    g = to_metric([state[grid].geom])[0]
    minx, miny, maxx, maxy = g.bounds
    held = [m[0] for m in state[grid].members if m[3] > 0]
    xy = shapely.get_coordinates(shapely.centroid(to_metric([ctx.cells[u] for u in held])))
    axis = 0 if np.ptp(xy[:, 0]) >= np.ptp(xy[:, 1]) else 1
    t = np.sort(xy[:, axis])
    mid = (t[len(t) // 2 - 1] + t[len(t) // 2]) / 2
    if axis == 0:
        across = shapely.LineString([(mid, miny - 50), (mid, maxy + 50)])
    else:
        across = shapely.LineString([(minx - 50, mid), (maxx + 50, mid)])
    line = from_metric([across])[0]
    with session_scope(engine) as s:
        out = plans.split(
            s,
            pid,
            grid=grid,
            line=shapely.geometry.mapping(line),
            crs="EPSG:4490",
            actor="planner_a",
        )
    assert sum(out["households"].values()) == total and all(out["households"].values())
    assert _errors(engine, pid) == []


def test_repartition_keeps_locked_grids(engine):
    pid = _new_plan(engine)
    keep = f"{C02}-M02"
    with session_scope(engine) as s:
        plans.lock(s, pid, grids=[keep], actor="planner_a")
    before = _draft_bytes(engine, pid)
    with session_scope(engine) as s:
        out = plans.repartition(s, pid, compound=C02, seed=7, actor="planner_a")
    assert out["kept_locked"] == [keep]
    after = _draft_bytes(engine, pid)
    assert after[keep][:2] == before[keep][:2] and after[keep][2] is True
    assert set(out["new"]).isdisjoint(before)  # codes are never reused
    assert sum(out["households"].values()) + before[keep][1] == sum(
        v[1] for c, v in before.items() if c.startswith(C02 + "-M")
    )
    assert _errors(engine, pid) == []
    # a locked grid refuses edits
    with session_scope(engine) as s, pytest.raises(plans.EditRefused, match="locked"):
        plans.merge_grids(s, pid, grids=[keep, out["new"][0]], actor="planner_a")


def test_validation_names_workers_and_buildings(engine):
    pid = _new_plan(engine)
    with session_scope(engine) as s:
        s.execute(
            text("UPDATE worker SET grid_code = :g WHERE code = :w"),
            {"g": f"{C02}-M04", "w": f"{COMMUNITY}-W001"},
        )
        state = plans._load(s, plans._plan(s, pid).draft_version_id)
    neighbour = next(
        c
        for c, g in sorted(state.items())
        if g.parent == C02
        and c != f"{C02}-M04"
        and to_metric([shapely.intersection(g.geom, state[f"{C02}-M04"].geom)])[0].length > 1
    )
    with session_scope(engine) as s:
        plans.merge_grids(s, pid, grids=[f"{C02}-M04", neighbour], actor="planner_a")
    with session_scope(engine) as s:
        report = plans.validate_plan(s, pid, actor="planner_a")
        status = plans.get_plan(s, pid)["status"]
    assert report.ok and status == "validated"
    gone = [f for f in report.warnings if f.check == "workers" and "W001" in f.message]
    kept = min(f"{C02}-M04", neighbour)
    removed = max(f"{C02}-M04", neighbour)
    if removed == f"{C02}-M04":
        assert gone and gone[0].grid == removed
    band = [f for f in report.warnings if f.check == "band"]
    assert band and all(f.detail["buildings"] for f in band)
    assert any(f.grid == kept for f in band)  # the merged grid is over the band


def test_publish_reassigns_exactly_the_moved_households(engine):
    pid = _new_plan(engine)
    grid, building, neighbour, hh = _border_building(engine, pid)
    with session_scope(engine) as s:
        plans.move(s, pid, buildings=[building], to=neighbour, actor="planner_a")
        old_version = plans.get_plan(s, pid)["base_version"]
        s.execute(
            text(
                "INSERT INTO incident (code, category, description, status, position, grid_id, "
                "reported_at) SELECT 'T-PLAN-1', 'noise', 'test', 'reported', h.position, "
                "h.grid_id, now() FROM household h JOIN building b ON b.id = h.building_id "
                "WHERE b.code = :b LIMIT 1"
            ),
            {"b": building},
        )
    with session_scope(engine) as s:
        out = plans.publish(s, pid, actor="planner_a")
    assert out["previous"] == old_version and out["version"] == old_version + 1
    assert out["reassigned"]["households_changed_grid"] == hh
    assert out["reassigned"]["incidents_changed_grid"] == 1
    with session_scope(engine) as s:
        rows = s.execute(
            text(
                "SELECT g.code, count(*) FROM household h JOIN building b ON b.id = h.building_id "
                "JOIN grid g ON g.id = h.grid_id WHERE b.code = :b GROUP BY 1"
            ),
            {"b": building},
        ).all()
        inc = s.execute(
            text(
                "SELECT g.code FROM incident i JOIN grid g ON g.id = i.grid_id WHERE i.code = 'T-PLAN-1'"
            )
        ).scalar_one()
        hist = plans.versions(s, COMMUNITY)
        old = load_version(s, COMMUNITY, old_version)[0]
        new = load_version(s, COMMUNITY)[0]
    assert rows == [(neighbour, hh)] and inc == neighbour
    assert [v["status"] for v in hist[:2]] == ["published", "superseded"]
    assert {r.code for r in old} == {r.code for r in new}
    with session_scope(engine) as s, pytest.raises(ConflictError, match="only drafts"):
        plans.move(s, pid, buildings=[building], to=grid, actor="planner_a")


def test_the_second_of_two_drafts_from_the_same_base_is_refused(engine):
    a, b = _new_plan(engine, "planner_a"), _new_plan(engine, "planner_b")
    with session_scope(engine) as s:
        plans.lock(s, a, grids=[f"{C02}-M01"], actor="planner_a")
        plans.lock(s, b, grids=[f"{C02}-M02"], actor="planner_b")
    with session_scope(engine) as s:
        plans.publish(s, a, actor="planner_a")
    with session_scope(engine) as s:
        assert plans.get_plan(s, b)["stale"] is True
    with session_scope(engine) as s, pytest.raises(ConflictError, match="no longer current"):
        plans.publish(s, b, actor="planner_b")
    with session_scope(engine) as s:
        assert plans.get_plan(s, b)["status"] == "draft"
        assert plans.discard(s, b, actor="planner_b")["status"] == "discarded"


def test_every_edit_is_audited(engine):
    pid = _new_plan(engine)
    with session_scope(engine) as s:
        plans.lock(s, pid, grids=[f"{C02}-M01"], actor="planner_a")
        plans.lock(s, pid, grids=[f"{C02}-M01"], locked=False, actor="planner_a")
        plans.undo(s, pid, actor="planner_a")
        rows = s.execute(
            text(
                "SELECT actor, action FROM audit_log WHERE entity = 'plan' AND entity_id = :p "
                "ORDER BY id"
            ),
            {"p": str(pid)},
        ).all()
        edits = plans.get_plan(s, pid)["edits"]
    assert rows == [
        ("planner_a", "plan_create"),
        ("planner_a", "plan_lock"),
        ("planner_a", "plan_unlock"),
        ("planner_a", "plan_undo"),
    ]
    assert [e["op"] for e in edits] == ["lock"]


def test_stored_versions_validate(engine):
    """A published plan validates like a fresh partition (the stored records)."""
    pid = _new_plan(engine)
    with session_scope(engine) as s:
        records = plans.stored_records(s, pid)
        plan = plans._plan(s, pid)
        ctx = plans._Context(s, plan)
        report = validate_grids(records, units=ctx.inp.units, households=ctx.inp.households)
    assert report.ok


def test_a_boundary_drawn_on_a_gcj02_base_map_comes_back_in_place(engine):
    """The planner map on Amap/Tencent tiles hands drawn geometry over as GCJ-02: the API
    shifts it back, so the result is the same as drawing in CRS84."""
    from geo.core.crs import wgs84_to_gcj02

    grid = f"{C02}-M03"
    a, b = _new_plan(engine), _new_plan(engine, "planner_b")
    geo, _ = _grid_geojson(
        engine, a, grid, lambda m, st: shapely.buffer(m, 6.0, join_style="mitre")
    )
    shifted = shapely.transform(
        shapely.geometry.shape(geo),
        lambda c: __import__("numpy").column_stack(wgs84_to_gcj02(c[:, 0], c[:, 1])),
    )
    assert shapely.hausdorff_distance(shifted, shapely.geometry.shape(geo)) > 0.001  # ~300 m
    with session_scope(engine) as s:
        plans.redraw(s, a, grid=grid, geometry=geo, crs="CRS84", actor="planner_a")
        plans.redraw(
            s,
            b,
            grid=grid,
            geometry=shapely.geometry.mapping(shifted),
            crs="gcj02",
            actor="planner_b",
        )
    with session_scope(engine) as s:
        ga = plans._load(s, plans._plan(s, a).draft_version_id)[grid].geom
        gb = plans._load(s, plans._plan(s, b).draft_version_id)[grid].geom
    ma, mb = to_metric([ga, gb])
    assert ma.symmetric_difference(mb).area < 0.5
