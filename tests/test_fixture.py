"""The bundled fixture community: deterministic, and its invariants hold once loaded."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from sqlalchemy import text

from geo.io.fixture import FIXTURE_DIR, manifest

from .conftest import ROOT, sha

pytestmark = pytest.mark.db


def test_generator_is_deterministic(tmp_path):
    proc = subprocess.run(
        [sys.executable, "fixtures/generate.py", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    committed = sorted(p.name for p in FIXTURE_DIR.iterdir())
    assert sorted(p.name for p in tmp_path.iterdir()) == committed
    for name in committed:
        assert sha(tmp_path / name) == sha(FIXTURE_DIR / name), f"{name} differs from its generator"


def test_counts_match_the_manifest(session):
    expected = manifest()["expected"]
    tables = {
        "communities": "community",
        "compounds": "compound",
        "buildings": "building",
        "households": "household",
        "roads": "road",
        "facilities": "facility",
        "resources": "open_resource",
        "incidents": "incident",
        "workers": "worker",
    }
    for kind, table in tables.items():
        n = session.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
        assert n == expected[kind], kind


def test_sizes_are_those_of_the_jifu_community(session):
    one = session.execute(text("SELECT name, count(*) OVER () FROM community")).one()
    assert one == ("吉福社区", 1)
    assert session.execute(text("SELECT count(*) FROM compound")).scalar_one() == 11
    households = session.execute(text("SELECT count(*) FROM household")).scalar_one()
    assert 4000 <= households <= 5000  # about 100 micro-grids of 30-50


def test_household_totals_agree(session):
    # building total = sum of its units = number of household records in it
    bad = session.execute(
        text("""
        SELECT b.code, b.households, u.s, h.n FROM building b
        JOIN (SELECT building_id, sum(households) s FROM building_unit GROUP BY 1) u
          ON u.building_id = b.id
        LEFT JOIN (SELECT building_id, count(*) n FROM household GROUP BY 1) h
          ON h.building_id = b.id
        WHERE b.households <> u.s OR b.households <> coalesce(h.n, 0)
    """)
    ).all()
    assert bad == []
    units = session.execute(
        text("""
        SELECT count(*) FROM building b JOIN (SELECT building_id, count(*) n FROM building_unit
        GROUP BY 1) u ON u.building_id = b.id WHERE u.n <> b.units""")
    ).scalar_one()
    assert units == 0


def test_containment(session):
    # compounds inside the community, buildings inside their compound (or the community),
    # households inside their building
    q = {
        "compound outside community": """SELECT p.code FROM compound p JOIN community c
            ON c.id = p.community_id WHERE NOT ST_CoveredBy(p.boundary, c.boundary)""",
        "building outside compound": """SELECT b.code FROM building b JOIN compound p
            ON p.id = b.compound_id WHERE NOT ST_CoveredBy(b.footprint, p.boundary)""",
        "building outside community": """SELECT b.code FROM building b JOIN community c
            ON c.id = b.community_id WHERE NOT ST_CoveredBy(b.footprint, c.boundary)""",
        "household outside building": """SELECT h.code FROM household h JOIN building b
            ON b.id = h.building_id WHERE NOT ST_Covers(b.footprint, h.position)""",
        "shop inside a compound": """SELECT b.code FROM building b JOIN compound p
            ON ST_Intersects(p.boundary, b.footprint) WHERE b.compound_id IS NULL""",
    }
    for what, sql in q.items():
        assert session.execute(text(sql)).all() == [], what


def test_no_overlaps_and_all_valid(session):
    overlaps = session.execute(
        text("""
        SELECT a.code, b.code FROM building a JOIN building b
          ON a.id < b.id AND ST_Intersects(a.footprint, b.footprint)
         AND ST_Area(ST_Intersection(a.footprint, b.footprint)) > 0""")
    ).all()
    assert overlaps == []
    overlaps = session.execute(
        text("""
        SELECT a.code, b.code FROM compound a JOIN compound b
          ON a.id < b.id AND ST_Overlaps(a.boundary, b.boundary)""")
    ).all()
    assert overlaps == []
    for table, col in [
        ("community", "boundary"),
        ("compound", "boundary"),
        ("building", "footprint"),
        ("road", "geom"),
    ]:
        n = session.execute(text(f"SELECT count(*) FROM {table} WHERE NOT ST_IsValid({col})"))
        assert n.scalar_one() == 0, table


def test_kinds_and_people(session):
    kinds = dict(session.execute(text("SELECT kind, count(*) FROM facility GROUP BY 1")).all())
    assert set(kinds) == {
        "party_service_complex",
        "party_service_centre",
        "party_service_station",
        "convenience_centre",
        "convenience_station",
    }
    assert kinds["party_service_station"] >= 5
    res = {k for (k,) in session.execute(text("SELECT DISTINCT kind FROM open_resource"))}
    assert {"sports_ground", "canteen", "meeting_room", "parking"} <= res
    roles = {r for (r,) in session.execute(text("SELECT DISTINCT role FROM worker"))}
    assert {"community_secretary", "grid_worker", "building_head"} <= roles
    shops = session.execute(
        text("SELECT count(*) FROM building WHERE use = 'commercial' AND compound_id IS NULL")
    ).scalar_one()
    assert shops >= 20
    fumes = session.execute(
        text("SELECT count(*) FROM incident WHERE category = 'cooking_fumes'")
    ).scalar_one()
    assert fumes >= 3
    assert 24 <= session.execute(text("SELECT count(*) FROM incident")).scalar_one() <= 60


def test_standard_addresses(session):
    addr = session.execute(
        text("SELECT address FROM household WHERE code LIKE '%-C01-B03-U2-502'")
    ).scalar_one()
    assert addr == "成都市武侯区晋阳街道吉福社区云锦城市花园3栋2单元502"


def test_manifest_is_consistent():
    man = manifest()
    files = {f for _, f in man["load_order"]}
    assert files | {"manifest.json"} == {p.name for p in FIXTURE_DIR.iterdir()}
    assert json.loads((FIXTURE_DIR / "manifest.json").read_text())["crs"] == "EPSG:4490"
