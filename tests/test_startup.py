"""One bad community cannot stop the service: start-up (`wangge demo`, the benchmarks' set-up)
partitions only the sample community it loaded, and `wangge partition` over every community
reports and skips the ones whose partition raises or fails validation, writing the others.

The bad communities are real data, imported like any other (nothing is patched):

* 新村社区 (510107099001): a one-storey courtyard row (平房) of 60 households declared as one
  unit — a unit above the maximum is split by floors, and one floor cannot be split: the
  partitioner used to raise; it now makes that floor a micro-grid of its own and reports it
  (``overfilled``), so this community is written, with the reason;
* 塔楼社区 (510107099002): a tower of 100 households in one unit over 10 floors whose
  households were listed without their floor — the unit is split by floors, so its households
  cannot be placed in one micro-grid each, and validation fails.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import pytest
from pyproj import Transformer
from shapely import box
from shapely.geometry import Point
from sqlalchemy import text

from geo.io import import_file
from geo.store.db import make_engine, session_scope

from .conftest import ROOT

pytestmark = [pytest.mark.db, pytest.mark.cli]

FIXTURE = "510107013001"
RAISES, INVALID = "510107099001", "510107099002"
METRIC = "EPSG:4544"


def _origin(lon: float, lat: float) -> tuple[float, float]:
    return Transformer.from_crs("EPSG:4490", METRIC, always_xy=True).transform(lon, lat)


def _write(folder: Path, name: str, rows: list[dict]) -> Path:
    path = folder / f"{name}.geojson"
    gpd.GeoDataFrame(rows, crs=METRIC).to_file(path)
    return path


def add_bad_community(url: str, folder: Path, code: str) -> None:
    """Import one of the two bad communities (2 km east of the sample one, in metres)."""
    x, y = _origin(104.05 + (0.01 if code == INVALID else 0), 30.63)
    folder.mkdir(parents=True, exist_ok=True)
    name = {RAISES: "新村社区", INVALID: "塔楼社区"}[code]
    files = [
        (
            "communities",
            [
                {
                    "code": code,
                    "name": name,
                    "street_code": "510107013",
                    "street_name": "晋阳街道",
                    "district": "武侯区",
                    "geometry": box(x, y, x + 300, y + 300),
                }
            ],
        ),
        (
            "compounds",
            [
                {
                    "code": f"{code}-C01",
                    "name": "大院",
                    "community_code": code,
                    "geometry": box(x + 20, y + 20, x + 280, y + 280),
                }
            ],
        ),
    ]
    if code == RAISES:
        buildings = [
            {
                "code": f"{code}-C01-B01",
                "name": "平房一排",
                "community_code": code,
                "compound_code": f"{code}-C01",
                "floors": 1,
                "units": 1,
                "households": 60,
                "geometry": box(x + 50, y + 50, x + 250, y + 62),
            }
        ]
        households = []
    else:
        buildings = [
            {
                "code": f"{code}-C01-B01",
                "name": "1栋",
                "community_code": code,
                "compound_code": f"{code}-C01",
                "floors": 10,
                "units": 1,
                "households": 100,
                "geometry": box(x + 100, y + 100, x + 130, y + 120),
            }
        ]
        households = [
            {
                "code": f"{code}-C01-B01-{i:03d}",
                "building_code": f"{code}-C01-B01",
                "unit_no": 1,
                "room": f"{i:03d}",
                "geometry": Point(x + 115, y + 110),
            }
            for i in range(100)
        ]
    files += [("buildings", buildings)]
    if households:
        files += [("households", households)]
    engine = make_engine(url)
    for kind, rows in files:
        path = _write(folder, f"{code}-{kind}", rows)
        with session_scope(engine) as s:
            import_file(path, kind, session=s)
    engine.dispose()


def _versions(url: str) -> dict[str, list[str]]:
    engine = make_engine(url)
    with session_scope(engine) as s:
        rows = s.execute(
            text(
                "SELECT c.code, v.status FROM community c LEFT JOIN grid_version v "
                "ON v.community_id = c.id ORDER BY c.code, v.number"
            )
        ).all()
    engine.dispose()
    out: dict[str, list[str]] = {}
    for code, status in rows:
        out.setdefault(code, [])
        if status:
            out[code].append(status)
    return out


def test_partition_reports_and_skips_the_bad_communities_and_writes_the_others(
    cli, fresh_db, tmp_path
):
    add_bad_community(fresh_db, tmp_path, RAISES)
    add_bad_community(fresh_db, tmp_path, INVALID)
    assert _versions(fresh_db) == {FIXTURE: ["published"], RAISES: [], INVALID: []}
    report = tmp_path / "r.json"
    ran = cli("partition", "--report", str(report), url=fresh_db)
    assert ran.code == 1, ran.err
    assert "Traceback" not in ran.err
    lines = ran.err.splitlines()
    raised = [x for x in lines if x.startswith(f"✗ {RAISES}")]
    invalid = [x for x in lines if x.startswith(f"✗ {INVALID}")]
    assert raised == []  # a floor over the maximum is reported, not raised
    assert len(invalid) == 1 and "validation failed" in invalid[0]
    assert "100 households in no micro-grid" in invalid[0]
    assert "2 完成 (done), 1 失败并跳过 (failed, skipped" in ran.out
    # the sample community was partitioned again and written, and so was the courtyard row
    # (its floor of 60 a micro-grid of its own); the invalid one has nothing
    assert _versions(fresh_db) == {
        FIXTURE: ["superseded", "published"],
        RAISES: ["published"],
        INVALID: [],
    }
    written = json.loads(report.read_text())
    assert written[FIXTURE]["version"] is not None
    assert written[RAISES]["version"] is not None
    assert written[INVALID]["validation"]["ok"] is False


def test_partition_of_one_bad_community_says_why(cli, fresh_db, tmp_path):
    add_bad_community(fresh_db, tmp_path, INVALID)
    ran = cli("partition", "--community", INVALID, url=fresh_db)
    assert ran.code == 1 and "Traceback" not in ran.err
    assert f"✗ {INVALID}" in ran.err and "100 households in no micro-grid" in ran.err
    assert _versions(fresh_db)[INVALID] == []


def test_a_floor_over_the_maximum_is_reported_not_raised(cli, fresh_db, tmp_path):
    add_bad_community(fresh_db, tmp_path, RAISES)
    report = tmp_path / "r.json"
    ran = cli("partition", "--community", RAISES, "--report", str(report), url=fresh_db)
    assert ran.code == 0, ran.err
    assert "Traceback" not in ran.err and "overfilled" in ran.out
    assert _versions(fresh_db)[RAISES] == ["published"]
    (compound,) = json.loads(report.read_text())[RAISES]["summary"]["infeasible"]
    assert compound["status"] == "overfilled" and compound["proven"] is True
    assert "60 户的一层超过上限 50" in compound["reason"]
    assert "exceeds the maximum 50" in compound["reason"]


def test_demo_partitions_only_the_sample_community(cli, empty_db, tmp_path):
    """A community whose partition raises is in the database before the demo starts: the demo
    loads and partitions the sample community, leaves the other alone, and finishes."""
    add_bad_community(empty_db, tmp_path, RAISES)
    ran = cli("demo", "--no-serve", url=empty_db)
    assert ran.code == 0, ran.err
    assert "Traceback" not in ran.err
    assert f"{FIXTURE} 网格划分" in ran.out and f"{RAISES} 网格划分" not in ran.out
    assert "1 other communities have no grids" in ran.out and RAISES in ran.out
    assert _versions(empty_db) == {FIXTURE: ["published"], RAISES: []}


def test_benchmark_setup_partitions_only_the_sample_community(empty_db, tmp_path):
    add_bad_community(empty_db, tmp_path, RAISES)
    proc = subprocess.run(
        [sys.executable, "-c", "from bench.common import fixture_database; fixture_database()"],
        cwd=ROOT,
        env=dict(os.environ) | {"WANGGE_DATABASE_URL": empty_db},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert _versions(empty_db) == {FIXTURE: ["published"], RAISES: []}


def test_validate_over_every_community_skips_one_without_grids(cli, fresh_db, tmp_path):
    """`wangge validate` with no --community validated until the first community without a
    grid version, then stopped with an error: now that one is said and skipped."""
    add_bad_community(fresh_db, tmp_path, INVALID)  # imported, never partitioned
    ran = cli("validate", "--json", url=fresh_db)
    assert ran.code == 0, ran.err
    assert f"- {INVALID}:" in ran.err and "跳过 (skipped)" in ran.err
    assert json.loads(ran.out)["community"] == FIXTURE
    asked = cli("validate", "--community", INVALID, url=fresh_db)
    assert asked.code != 0 and INVALID in asked.err
