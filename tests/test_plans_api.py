"""The planner's workflow through the API alone and through the CLI, on the fixture; merging
departmental grid layers (多格合一) on a hand-checked case."""

from __future__ import annotations

import csv
import io
import json

import httpx
import numpy as np
import pyproj
import pytest
import shapely
from sqlalchemy import text

from geo.core.crs import to_metric, transform_geometries
from geo.runtime.auth import create_user
from geo.store.db import make_engine, session_scope

from .conftest import run_cli, serve_app
from .test_plans import COMMUNITY, _border_building, _draft_bytes

pytestmark = pytest.mark.db
CRS84 = pyproj.CRS("OGC:CRS84")


def _tokens(url):
    engine = make_engine(url)
    out = {}
    with session_scope(engine) as s:
        for name, role, grid in [
            ("planner_a", "planner", None),
            ("planner_b", "planner", None),
            ("worker", "worker", f"{COMMUNITY}-C02"),
        ]:
            _, token = create_user(session=s, name=name, role=role, grid_code=grid)
            out[name] = {"Authorization": f"Bearer {token}"}
    engine.dispose()
    return out


def _wgs(geom_storage):
    return shapely.geometry.mapping(transform_geometries([geom_storage], "EPSG:4490", to=CRS84)[0])


def _buffered(engine, pid, grid, metres):
    """The draft grid's boundary grown by ``metres``, as CRS84 GeoJSON."""
    from geo import plans
    from geo.core.crs import from_metric

    with session_scope(engine) as s:
        state = plans._load(s, plans._plan(s, pid).draft_version_id)
    grown = shapely.buffer(to_metric([state[grid].geom])[0], metres, join_style="mitre")
    return _wgs(from_metric([grown])[0])


def _compounds_with_floor_cells(engine, pid) -> set[str]:
    """Compound grids of the draft holding a unit split by floors."""
    with session_scope(engine) as s:
        return set(
            s.execute(
                text(
                    "SELECT DISTINCT p.code FROM grid g JOIN grid p ON p.id = g.parent_id "
                    "JOIN grid_member m ON m.grid_id = g.id JOIN plan ON plan.draft_version_id "
                    "= g.version_id WHERE plan.id = :p AND m.cell IS NOT NULL"
                ),
                {"p": pid},
            ).scalars()
        )


def test_a_planner_through_the_api_alone(fresh_db):
    tokens = _tokens(fresh_db)
    engine = make_engine(fresh_db)
    with serve_app(fresh_db) as base, httpx.Client(base_url=base, timeout=120) as c:
        pa, pb = tokens["planner_a"], tokens["planner_b"]
        assert c.post("/plans", json={"community": COMMUNITY}).status_code == 401
        assert (
            c.post("/plans", json={"community": COMMUNITY}, headers=tokens["worker"]).status_code
            == 403
        )
        r = c.post("/plans", json={"community": COMMUNITY, "name": "吉福调整"}, headers=pa)
        assert r.status_code == 201, r.text
        plan = r.json()
        pid, base_v = plan["id"], plan["base_version"]
        other = c.post("/plans", json={"community": COMMUNITY}, headers=pb).json()["id"]
        # move a building
        grid, building, neighbour, hh = _border_building(engine, pid)
        r = c.post(
            f"/plans/{pid}/move", json={"buildings": [building], "to": neighbour}, headers=pa
        )
        assert r.status_code == 200, r.text
        assert r.json()["moved_households"] == hh
        # redraw one boundary (another compound, so the two edits are independent, and one
        # without towers split by floors: a boundary may not pass through their shared cells)
        towers = _compounds_with_floor_cells(engine, pid)
        target = next(
            f["properties"]["code"]
            for f in c.get(f"/plans/{pid}/grids", params={"level": "micro"}, headers=pa).json()[
                "features"
            ]
            if not f["properties"]["code"].startswith(grid.rsplit("-", 1)[0])
            and f["properties"]["code"].rsplit("-", 1)[0] not in towers
        )
        drawn = _buffered(engine, pid, target, 6.0)
        r = c.post(f"/plans/{pid}/redraw", json={"grid": target, "geometry": drawn}, headers=pa)
        assert r.status_code == 200, r.text
        redrawn = r.json()
        # a bad polygon is refused with a clear message and changes nothing
        before = _draft_bytes(engine, pid)
        ring = (
            drawn["coordinates"][0][0]
            if drawn["type"] == "MultiPolygon"
            else drawn["coordinates"][0]
        )
        (x, y), d = ring[0], 0.0004
        bowtie = {
            "type": "Polygon",
            "coordinates": [[[x, y], [x + d, y + d], [x + d, y], [x, y + d], [x, y]]],
        }
        r = c.post(f"/plans/{pid}/redraw", json={"grid": target, "geometry": bowtie}, headers=pa)
        assert r.status_code == 400 and "无效" in r.json()["message"], r.text
        assert _draft_bytes(engine, pid) == before
        # validation findings
        r = c.post(f"/plans/{pid}/validate", headers=pa)
        report = r.json()
        assert r.status_code == 200 and report["ok"] is True and report["errors"] == 0
        assert all(f["severity"] in ("error", "warning") for f in report["findings"])
        # the household diff, in every format
        d = c.get(f"/plans/{pid}/diff", headers=pa).json()
        moved = {h["household"]: (h["old"], h["new"]) for h in d["households"]}
        mine = {h for h in moved if h.startswith(building + "-")}
        assert len(mine) == hh and all(moved[h] == (grid, neighbour) for h in mine)
        assert d["summary"]["households_moved"] == len(moved)
        assert set(redrawn["changed"]) <= {g["code"] for g in d["grids"]}
        rows = list(
            csv.DictReader(
                io.StringIO(
                    c.get(
                        f"/plans/{pid}/diff", params={"format": "csv"}, headers=pa
                    ).content.decode("utf-8-sig")
                )
            )
        )
        assert len(rows) == len(moved) and {r["household"] for r in rows} == set(moved)
        gj = c.get(f"/plans/{pid}/diff", params={"format": "geojson"}, headers=pa).json()
        assert {f["properties"]["code"] for f in gj["features"]} == {g["code"] for g in d["grids"]}
        gpkg = c.get(f"/plans/{pid}/diff", params={"format": "gpkg"}, headers=pa)
        assert gpkg.content[:16] == b"SQLite format 3\x00"
        # drafts are not public
        assert (
            c.get(
                "/grids", params={"community_code": COMMUNITY, "version": plan["draft_version"]}
            ).json()["features"]
            == []
        )
        # publish; both versions stay queryable
        r = c.post(f"/plans/{pid}/publish", headers=pa)
        assert r.status_code == 200, r.text
        pub = r.json()
        assert pub["version"] == plan["draft_version"] and pub["previous"] == base_v
        assert pub["reassigned"]["households_changed_grid"] >= hh
        old = c.get(
            "/grids",
            params={"community_code": COMMUNITY, "version": base_v, "level": "micro", "limit": 500},
        ).json()
        new = c.get(
            "/grids", params={"community_code": COMMUNITY, "level": "micro", "limit": 500}
        ).json()
        assert old["features"] and new["features"]
        assert all(f["properties"]["version"] == base_v for f in old["features"])
        assert all(f["properties"]["version"] == pub["version"] for f in new["features"])
        hist = c.get("/plans/history", params={"community": COMMUNITY}, headers=pa).json()[
            "versions"
        ]
        status = {v["version"]: v["status"] for v in hist}
        assert status[pub["version"]] == "published" and status[base_v] == "superseded"
        # the other planner's draft is from the old base: refused, nothing lost
        r = c.post(f"/plans/{other}/publish", headers=pb)
        assert r.status_code == 409 and "no longer current" in r.json()["message"]
        # any two versions
        d2 = c.get(
            "/plans/diff",
            params={"community": COMMUNITY, "from": base_v, "to": pub["version"]},
            headers=pa,
        ).json()
        assert d2["summary"]["households_moved"] == len(moved)
    with session_scope(engine) as s:
        got = s.execute(
            text(
                "SELECT g.code, count(*) FROM household h JOIN building b ON b.id = h.building_id "
                "JOIN grid g ON g.id = h.grid_id WHERE b.code = :b GROUP BY 1"
            ),
            {"b": building},
        ).all()
    engine.dispose()
    assert got == [(neighbour, hh)]


def test_a_planner_through_the_cli(fresh_db, tmp_path):
    engine = make_engine(fresh_db)

    def ok(*args):
        r = run_cli(*args, url=fresh_db)
        assert r.code == 0, (args, r.err)
        return r

    pid = json.loads(ok("plan", "create", COMMUNITY, "--author", "规划员甲").out)["id"]
    _, building, neighbour, hh = _border_building(engine, pid)
    moved = json.loads(ok("plan", "move", str(pid), building, "--to", neighbour).out)
    assert moved["moved_households"] == hh
    target = f"{COMMUNITY}-C05-M01"
    path = tmp_path / "drawn.geojson"
    path.write_text(json.dumps(_buffered(engine, pid, target, 5.0)))
    ok("plan", "redraw", str(pid), target, "--geojson", str(path))
    r = ok("plan", "validate", str(pid))
    assert "0 错误 (errors)" in r.out
    out = tmp_path / "diff.csv"
    r = ok("plan", "diff", str(pid), "--format", "csv", "--out", str(out))
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8-sig"))))
    assert sum(1 for x in rows if x["household"].startswith(building + "-")) == hh
    bad = run_cli("plan", "move", str(pid), f"{COMMUNITY}-C02-B99", "--to", neighbour, url=fresh_db)
    assert bad.code == 1 and "B99" in bad.err
    pub = json.loads(ok("plan", "publish", str(pid)).out)
    r = ok("plan", "history", COMMUNITY)
    assert "published" in r.out and "superseded" in r.out
    assert str(pub["version"]) in r.out
    with session_scope(engine) as s:
        actors = set(
            s.execute(
                text("SELECT actor FROM audit_log WHERE entity = 'plan' AND entity_id = :p"),
                {"p": str(pid)},
            ).scalars()
        )
    engine.dispose()
    assert "cli:规划员甲" in actors


# --- 多格合一 --------------------------------------------------------------------------------
def _gap_line(buildings_metric):
    """(axis, coordinate) of the middle of the widest gap between buildings' extents along x
    or y: a line there cuts no footprint."""
    best = (0.0, None, None)
    for axis in (0, 1):
        spans = sorted((b.bounds[axis], b.bounds[axis + 2]) for b in buildings_metric)
        reach = spans[0][1]
        for lo, hi in spans[1:]:
            if lo - reach > best[0]:
                best = (lo - reach, axis, (lo + reach) / 2)
            reach = max(reach, hi)
    assert best[1] is not None
    return best[1], best[2]


def test_merge_departmental_layers(fresh_db):
    from geo.core.crs import from_metric
    from geo.departments import merge_departments

    engine = make_engine(fresh_db)
    with session_scope(engine) as s:
        comps = dict(
            (r[0], shapely.from_wkb(bytes(r[1])))
            for r in s.execute(
                text("SELECT code, ST_AsBinary(boundary) FROM compound ORDER BY code")
            )
        )
        blds = s.execute(
            text(
                "SELECT b.code, ST_AsBinary(b.footprint), b.households FROM building b JOIN "
                "compound c ON c.id = b.compound_id WHERE c.code = :c"
            ),
            {"c": f"{COMMUNITY}-C05"},
        ).all()
        hh = s.execute(
            text(
                "SELECT h.code, g.code, ST_AsBinary(h.position), p.code FROM household h JOIN grid g ON "
                "g.id = h.grid_id JOIN building b ON b.id = h.building_id LEFT JOIN compound p "
                "ON p.id = b.compound_id"
            )
        ).all()
    c05 = f"{COMMUNITY}-C05"
    c05m = to_metric([comps[c05]])[0]
    fps = to_metric([shapely.from_wkb(bytes(r[1])) for r in blds])
    axis, lx = _gap_line(fps)
    minx, miny, maxx, maxy = c05m.bounds
    if axis == 0:
        first, second = (minx - 1, miny - 1, lx, maxy + 1), (lx, miny - 1, maxx + 1, maxy + 1)
    else:
        first, second = (minx - 1, miny - 1, maxx + 1, lx), (minx - 1, lx, maxx + 1, maxy + 1)
    west = from_metric([shapely.intersection(c05m, shapely.box(*first))])[0]
    east = from_metric([shapely.intersection(c05m, shapely.box(*second))])[0]

    def fc(parts):
        return {
            "type": "FeatureCollection",
            "features": [
                {"type": "Feature", "properties": {"code": k}, "geometry": _wgs(g)}
                for k, g in parts
            ],
        }

    base = [(k, g) for k, g in comps.items() if k != c05]
    c02, c03 = f"{COMMUNITY}-C02", f"{COMMUNITY}-C03"
    zongzhi = fc([*base, ("C05W", west), ("C05E", east)])
    chengguan = fc(
        [(k, g) for k, g in base if k not in (c02, c03)]
        + [("C02+C03", shapely.union_all([comps[c02], comps[c03]])), ("C05W", west), ("C05E", east)]
    )
    minsheng = fc([*base, ("C05-西", west), ("C05-东", east)])
    layers = [
        {"department": "综治", "features": zongzhi},
        {"department": "城管", "features": chengguan},
        {"department": "民生", "features": minsheng},
    ]
    with session_scope(engine) as s:
        out = merge_departments(s, COMMUNITY, layers, propose=True, actor="planner_a")
    cw = {(r["department"], r["grid"]): r for r in out["crosswalk"]}
    # 综治 C02: exactly the unified micro-grids of C02, with their households
    row = cw[("综治", c02)]
    per_grid = {}
    for _, grid, _, comp in hh:
        per_grid.setdefault(grid, [0, comp])[0] += 1
    expect = {g: n for g, (n, comp) in per_grid.items() if comp == c02}
    assert {u["grid"]: u["households"] for u in row["unified"] if u["households"]} == expect
    assert row["households"] == sum(expect.values())
    assert abs(sum(u["household_share"] for u in row["unified"]) - 1) < 1e-3
    assert abs(sum(u["area_share"] for u in row["unified"]) - 1) < 1e-3
    assert all(u["grid"].startswith(c02 + "-") for u in row["unified"] if u["area_share"] > 1e-3)
    # 城管's merged grid holds C02's and C03's
    both = cw[("城管", "C02+C03")]
    assert both["households"] == sum(n for n, comp in per_grid.values() if comp in (c02, c03))
    # conflicts: the households of C05's unified grids on the minority side of the line
    pts = to_metric(shapely.from_wkb([bytes(r[2]) for r in hh]))
    side = {r[0]: (p.x, p.y)[axis] < lx for r, p in zip(hh, pts, strict=True)}
    by_grid = {}
    for r in hh:
        if r[3] == c05:
            by_grid.setdefault(r[1], []).append(r[0])
    expected = set()
    for members in by_grid.values():
        w = sum(side[h] for h in members)
        if 0 < w < len(members):
            # on a tie the first-listed grid (west) is the majority
            minority_is_west = w < len(members) - w
            expected |= {h for h in members if side[h] == minority_is_west}
    got = {c["household"] for c in out["conflicts"]}
    assert got == expected
    assert all(c["disagreeing"] == 3 for c in out["conflicts"])
    # the proposal keeps apart the buildings every department separates
    prop = out["proposal"]
    assert prop["grids_across_an_agreed_boundary"] == 0
    with session_scope(engine) as s:
        rows = s.execute(
            text(
                "SELECT g.code, array_agg(DISTINCT b.code) FROM grid g JOIN plan p ON "
                "p.draft_version_id = g.version_id JOIN grid_member m ON m.grid_id = g.id JOIN "
                "building_unit u ON u.id = m.unit_id JOIN building b ON b.id = u.building_id "
                "WHERE p.id = :p AND m.households > 0 GROUP BY 1"
            ),
            {"p": prop["plan"]},
        ).all()
        from geo import plans

        report = plans.validate_plan(s, prop["plan"], actor="t")
    west_b = {
        r[0] for r, fp in zip(blds, fps, strict=True) if (fp.centroid.x, fp.centroid.y)[axis] < lx
    }
    for _, bs in rows:
        inside = [b for b in bs if b.startswith(c05 + "-")]
        assert len({b in west_b for b in inside}) <= 1
    assert report.ok
    assert np.isfinite(lx)
    engine.dispose()


def test_departmental_layers_bad_input(fresh_db):
    from geo.departments import merge_departments
    from geo.errors import GeometryError, InputError

    engine = make_engine(fresh_db)
    good = {
        "type": "Polygon",
        "coordinates": [
            [
                [104.03, 30.63],
                [104.031, 30.63],
                [104.031, 30.631],
                [104.03, 30.631],
                [104.03, 30.63],
            ]
        ],
    }
    cases = [
        ([{"department": "", "features": {}}], InputError, "department"),
        (
            [{"department": "A", "features": {"type": "FeatureCollection", "features": []}}],
            InputError,
            "no features",
        ),
        (
            [
                {
                    "department": "A",
                    "features": {
                        "type": "FeatureCollection",
                        "features": [{"type": "Feature", "properties": {}, "geometry": good}],
                    },
                }
            ],
            InputError,
            "code",
        ),
        (
            [
                {
                    "department": "A",
                    "features": {
                        "type": "FeatureCollection",
                        "features": [
                            {"type": "Feature", "properties": {"code": "x"}, "geometry": good},
                            {"type": "Feature", "properties": {"code": "x"}, "geometry": good},
                        ],
                    },
                }
            ],
            InputError,
            "duplicate",
        ),
        (
            [
                {
                    "department": "A",
                    "crs": "EPSG:4544",
                    "features": {
                        "type": "FeatureCollection",
                        "features": [
                            {"type": "Feature", "properties": {"code": "x"}, "geometry": good}
                        ],
                    },
                }
            ],
            GeometryError,
            "feature 1",
        ),
    ]
    for layers, error, words in cases:
        with session_scope(engine) as s, pytest.raises(error, match=words):
            merge_departments(s, COMMUNITY, layers)
    with session_scope(engine) as s:
        assert s.execute(text("SELECT count(*) FROM plan")).scalar_one() == 0
    engine.dispose()
