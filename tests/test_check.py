"""`wangge import --check`: the whole report, the rows at fault in FILE.problems.gpkg (in the
file's own CRS, with a reason), nothing written; overlaps named on both rows; communities
checked for overlaps like compounds."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
import shapely
from rich.cells import cell_len
from shapely import affinity

from geo.errors import ImportValidationError
from geo.io import import_file
from geo.io.fixture import FIXTURE_DIR
from geo.store.db import make_engine, session_scope

from .conftest import fingerprint

pytestmark = [pytest.mark.db, pytest.mark.cli]

METRIC = "EPSG:4544"


@pytest.fixture
def parents_db(empty_db):
    """An empty database with the sample community and its compounds (no buildings)."""
    engine = make_engine(empty_db)
    for kind in ("communities", "compounds"):
        with session_scope(engine) as s:
            import_file(FIXTURE_DIR / f"{kind}.geojson", kind, session=s)
    engine.dispose()
    return empty_db


def _osm_like_buildings() -> tuple[gpd.GeoDataFrame, list[tuple[int, int]], int]:
    """The sample buildings in metres (EPSG:4544), where 12 footprints were drawn a second time
    over their neighbour in the same compound, 3 m off (as OpenStreetMap data often has them),
    and one is a bow-tie. Returns the frame, the overlapping pairs (0-based rows) and the
    bow-tie's row."""
    gdf = gpd.read_file(FIXTURE_DIR / "buildings.geojson").to_crs(METRIC)
    pairs: list[tuple[int, int]] = []
    i = 0
    while len(pairs) < 12:
        a, b = i, i + 1
        if gdf.loc[a, "compound_code"] == gdf.loc[b, "compound_code"] and pd.notna(
            gdf.loc[a, "compound_code"]
        ):
            gdf.loc[b, "geometry"] = affinity.translate(gdf.geometry.iloc[a], 3.0, 0.0)
            pairs.append((a, b))
            i += 2
        else:
            i += 1
    bowtie = i + 1
    x0, y0, x1, y1 = gdf.geometry.iloc[bowtie].bounds
    gdf.loc[bowtie, "geometry"] = shapely.Polygon([(x0, y0), (x1, y1), (x1, y0), (x0, y1)])
    return gdf, pairs, bowtie


def _width(text: str) -> int:
    return max(cell_len(line) for line in text.splitlines())


def test_check_reports_every_problem_and_writes_the_problems_file(cli, parents_db, tmp_path):
    gdf, pairs, bowtie = _osm_like_buildings()
    path = tmp_path / "osm.geojson"
    gdf.to_file(path)
    before = fingerprint(parents_db)
    ran = cli("import", str(path), "--kind", "buildings", "--check", url=parents_db)
    assert ran.code == 1, ran.err
    assert "Traceback" not in ran.err
    assert fingerprint(parents_db) == before
    codes = gdf["code"].tolist()
    # all 25 problems, not the first 20: both rows of every pair, each naming the other
    assert "25 处问题 (problems)" in ran.out and "25 行有问题" in ran.out
    assert "相互重叠 (overlap): 24 行 (rows)" in ran.out
    assert "几何无效 (invalid geometry): 1 行 (rows)" in ran.out
    for a, b in pairs:
        for row, other in ((a, b), (b, a)):
            line = next(x for x in ran.out.splitlines() if f"│ {row + 1:>8} │" in x)
            assert f"'{codes[other]}'" in line and "m²" in line, line
    # the problems file: the rows at fault as they were, in the file's CRS, with a reason
    problems = tmp_path / "osm.geojson.problems.gpkg"
    assert str(problems) in ran.out.replace("\n", "")
    assert pyogrio.list_layers(problems)[0][0] == "problems"
    back = gpd.read_file(problems, layer="problems")
    assert back.crs.to_epsg() == 4544
    bad = sorted({r for p in pairs for r in p} | {bowtie})
    assert back["row"].tolist() == [r + 1 for r in bad]
    source = gpd.read_file(path)
    for _, got in back.iterrows():
        want = source.iloc[got["row"] - 1]
        assert got["code"] == want["code"] and got["households"] == want["households"]
        assert shapely.equals_exact(got.geometry, want.geometry, 1e-6)
    by_row = dict(zip(back["row"], back["reason"], strict=True))
    for a, b in pairs:
        assert f"'{codes[b]}'" in by_row[a + 1] and f"'{codes[a]}'" in by_row[b + 1]
        assert "m²" in by_row[a + 1]
    assert "Self-intersection" in by_row[bowtie + 1]
    assert set(back["reason_code"]) == {"overlap", "invalid_geometry"}
    # readable in 80 columns
    narrow = cli(
        "import", str(path), "--kind", "buildings", "--check", url=parents_db, env={"COLUMNS": "80"}
    )
    assert narrow.code == 1 and _width(narrow.out) <= 80, narrow.out


def test_a_clean_check_removes_the_old_problems_file_then_the_import_is_plain(
    cli, parents_db, tmp_path
):
    gdf, _, _ = _osm_like_buildings()
    path = tmp_path / "b.geojson"
    gdf.to_file(path)
    assert cli("import", str(path), "--kind", "buildings", "--check", url=parents_db).code == 1
    problems = tmp_path / "b.geojson.problems.gpkg"
    assert problems.exists()
    gpd.read_file(FIXTURE_DIR / "buildings.geojson").to_crs(METRIC).to_file(path)  # fixed
    before = fingerprint(parents_db)
    ran = cli("import", str(path), "--kind", "buildings", "--check", url=parents_db)
    assert ran.code == 0, ran.out + ran.err
    assert "no problems" in ran.out and "removed the old problems file" in ran.out
    assert not problems.exists()
    assert fingerprint(parents_db) == before
    ran = cli("import", str(path), "--kind", "buildings", url=parents_db)
    assert ran.code == 0 and "(imported) 143 buildings" in ran.out, ran.err


def test_a_refused_import_points_to_check(cli, parents_db, tmp_path):
    gdf, pairs, _ = _osm_like_buildings()
    path = tmp_path / "b.geojson"
    gdf.to_file(path)
    before = fingerprint(parents_db)
    ran = cli("import", str(path), "--kind", "buildings", url=parents_db)
    assert ran.code == 1
    err = ran.err.replace("\n", "")
    assert "nothing written" in err and "and 5 more problems" in err
    assert f"row {pairs[0][0] + 1}" in err and f"row {pairs[0][1] + 1}" in err
    assert f"wangge import {path} --kind buildings --check" in err
    assert fingerprint(parents_db) == before
    assert not (tmp_path / "b.geojson.problems.gpkg").exists()


def test_check_of_a_table_without_geometry_and_of_a_file_level_problem(cli, fresh_db, tmp_path):
    workers = pd.read_csv(FIXTURE_DIR / "workers.csv")
    workers["code"] = workers["code"] + "-new"
    workers.loc[3, "role"] = "mayor"
    path = tmp_path / "w.csv"
    workers.to_csv(path, index=False)
    ran = cli("import", str(path), "--kind", "workers", "--check", url=fresh_db)
    assert ran.code == 1 and "'mayor'" in ran.out
    back = pyogrio.read_dataframe(tmp_path / "w.csv.problems.gpkg", read_geometry=False)
    assert back["row"].tolist() == [4] and back["code"].tolist() == [workers.loc[3, "code"]]
    assert back["reason_code"].tolist() == ["unknown_value"]
    workers.drop(columns=["role"]).to_csv(path, index=False)
    ran = cli("import", str(path), "--kind", "workers", "--check", url=fresh_db)
    assert ran.code == 1 and "required column missing" in ran.out
    assert not (tmp_path / "w.csv.problems.gpkg").exists()  # no row to show; the old one gone


# --- communities overlapping communities ------------------------------------------------
def _communities(rows: list[tuple[str, shapely.Geometry]]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "code": [c for c, _ in rows],
            "name": [f"社区{c[-3:]}" for c, _ in rows],
            "street_code": "510107013",
            "street_name": "晋阳街道",
            "district": "武侯区",
        },
        geometry=[g for _, g in rows],
        crs=METRIC,
    )


def _fixture_boundary() -> shapely.Geometry:
    return gpd.read_file(FIXTURE_DIR / "communities.geojson").to_crs(METRIC).geometry.iloc[0]


def test_a_community_overlapping_a_stored_one_is_refused(fresh_db, tmp_path):
    path = tmp_path / "c.geojson"
    moved = affinity.translate(_fixture_boundary(), 200.0, 0.0)  # 200 m east: mostly over it
    _communities([("510107013009", moved)]).to_file(path)
    expected = shapely.area(shapely.intersection(moved, _fixture_boundary()))
    before = fingerprint(fresh_db)
    engine = make_engine(fresh_db)
    with pytest.raises(ImportValidationError) as exc, session_scope(engine) as s:
        import_file(path, "communities", session=s)
    engine.dispose()
    (problem,) = exc.value.problems
    assert problem.row == 0 and problem.reason == "overlap"
    assert (
        "'510107013001'" in problem.problem and "overlaps stored 社区 community" in problem.problem
    )
    assert f"{expected:.1f} m²" in problem.problem
    assert fingerprint(fresh_db) == before


def test_two_communities_of_one_file_overlapping_are_both_named(empty_db, tmp_path):
    a = shapely.box(400_000, 3_390_000, 401_000, 3_391_000)
    b = shapely.box(400_990, 3_390_000, 402_000, 3_391_000)  # 10 m x 1,000 m over a
    c = shapely.box(402_000, 3_390_000, 403_000, 3_391_000)  # touches b: allowed
    path = tmp_path / "c.geojson"
    _communities([("510107013101", a), ("510107013102", b), ("510107013103", c)]).to_file(path)
    engine = make_engine(empty_db)
    with pytest.raises(ImportValidationError) as exc, session_scope(engine) as s:
        import_file(path, "communities", session=s)
    engine.dispose()
    got = [(p.row, p.problem) for p in exc.value.problems]
    assert [r for r, _ in got] == [0, 1]
    assert "'510107013102'" in got[0][1] and "'510107013101'" in got[1][1]
    assert all("10000.0 m²" in m and "in this file" in m for _, m in got)
