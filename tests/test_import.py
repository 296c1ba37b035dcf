"""Import and export: every kind from every format, and every bad input refused whole."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from shapely import affinity
from shapely.geometry import Point, Polygon
from sqlalchemy import text

from geo.core.crs import from_storage, wgs84_to_gcj02
from geo.errors import CRSError, ImportValidationError, InputError
from geo.io import export_layer, import_file
from geo.io.fixture import FIXTURE_DIR, manifest
from geo.store.db import make_engine, session_scope

from .conftest import fingerprint

pytestmark = pytest.mark.db

ORDER = [kind for kind, _ in manifest()["load_order"]]
SPATIAL = [k for k in ORDER if k != "workers"]
PERSONAL = {"households", "incidents"}


def _export_all(engine, folder: Path, fmt: str) -> dict[str, Path]:
    """Export every fixture layer to ``folder`` in ``fmt`` (one GeoPackage holds all)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    with session_scope(engine) as s:
        for kind in ORDER:
            if kind == "workers" and fmt in {"geojson", "shp"}:
                path = folder / "workers.csv"
            elif fmt == "gpkg":
                path = folder / "all.gpkg"
            else:
                path = folder / f"{kind}.{fmt}"
            export_layer(kind, path, session=s, personal=kind in PERSONAL)
            paths[kind] = path
    return paths


def _frames(engine, folder: Path) -> dict[str, pd.DataFrame]:
    """Every layer exported to GeoJSON/CSV and read back, for comparing two databases."""
    out = {}
    paths = _export_all(engine, folder, "geojson")
    for kind, path in paths.items():
        frame = pyogrio.read_dataframe(path, read_geometry=path.suffix != ".csv")
        out[kind] = frame
    return out


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["geojson", "gpkg", "shp"])
def test_every_kind_round_trips_through_every_format(fmt, module_db, empty_db, tmp_path):
    # the source is a database of its own: a personal export commits its audit row
    source = make_engine(module_db)
    with session_scope(source) as s:  # reporters' emails (from Open311) go round too
        s.execute(
            text(
                "UPDATE incident_reporter SET email = 'r' || incident_id || '@example.cn' "
                "WHERE incident_id % 3 = 0"
            )
        )
    paths = _export_all(source, tmp_path / fmt, fmt)
    target = make_engine(empty_db)
    counts = {}
    for kind in ORDER:
        layer = kind if paths[kind].suffix == ".gpkg" else None
        with session_scope(target) as s:
            counts[kind] = import_file(paths[kind], kind, session=s, layer=layer).rows
    assert counts == manifest()["expected"]
    before = _frames(source, tmp_path / "a")
    after = _frames(target, tmp_path / "b")
    target.dispose()
    source.dispose()
    for kind in ORDER:
        a, b = before[kind], after[kind]
        assert list(a.columns) == list(b.columns), kind
        geo_a = a.pop("geometry") if "geometry" in a else None
        geo_b = b.pop("geometry") if "geometry" in b else None
        pd.testing.assert_frame_equal(a, b, check_dtype=False, obj=kind)
        if geo_a is not None:
            assert all(shapely.equals_exact(geo_a.values, geo_b.values, 1e-7)), kind


def test_gcj02_input_is_stored_as_cgcs2000(fresh_db, tmp_path):
    """A position from Amap (GCJ-02) lands where it is on the ground, not 500 m off."""
    engine = make_engine(fresh_db)
    truth = gpd.read_file(FIXTURE_DIR / "facilities.geojson")
    gx, gy = wgs84_to_gcj02(truth.geometry.x.values, truth.geometry.y.values)
    shifted = truth.copy()
    shifted["code"] = shifted["code"] + "-gcj"
    shifted["community_code"] = None
    shifted = shifted.set_geometry(gpd.points_from_xy(gx, gy), crs="EPSG:4326")
    path = tmp_path / "gcj.geojson"
    shifted.to_file(path)
    with session_scope(engine) as s:
        import_file(path, "facilities", session=s, crs="gcj02")
        got = gpd.read_postgis(
            text("SELECT code, position FROM facility WHERE code LIKE :p ORDER BY code"),
            s.connection(),
            geom_col="position",
            params={"p": "%-gcj"},
        )
    engine.dispose()
    expect = truth.assign(code=truth["code"] + "-gcj").sort_values("code")
    mx, my = from_storage(got.geometry.x, got.geometry.y, "EPSG:4544")
    ex, ey = from_storage(expect.geometry.x, expect.geometry.y, "EPSG:4544")
    assert np.max(np.hypot(mx - ex, my - ey)) < 0.01  # metres


# --- bad input: each case is refused whole and names the row ------------------------------
def _fixture(kind: str) -> gpd.GeoDataFrame:
    return gpd.read_file(FIXTURE_DIR / f"{kind}.geojson")


def _write(tmp: Path, gdf: gpd.GeoDataFrame | pd.DataFrame, name: str) -> Path:
    path = tmp / name
    if path.suffix == ".csv":
        gdf.to_csv(path, index=False)
    elif path.suffix == ".shp":
        gdf.to_file(path, driver="ESRI Shapefile")
    else:
        gdf.to_file(path)
    return path


def _new(kind: str, n: int = 1) -> gpd.GeoDataFrame:
    """``n`` rows of a fixture layer renamed so that their keys are new."""
    gdf = _fixture(kind).head(n).copy()
    gdf["code"] = [f"NEW-{kind}-{i}" for i in range(n)]
    return gdf


def case_invalid_geometry(tmp):
    gdf = _new("compounds")
    x0, y0, x1, y1 = gdf.geometry.iloc[0].bounds
    gdf.loc[0, "geometry"] = Polygon([(x0, y0), (x1, y1), (x1, y0), (x0, y1), (x0, y0)])
    gdf.loc[0, "geometry"] = gdf.geometry.iloc[0]
    return (
        _write(tmp, gdf, "bowtie.geojson"),
        "compounds",
        None,
        ["row 1", "invalid geometry", "Self-intersection"],
    )


def case_no_crs(tmp):
    gdf = _new("facilities")
    path = _write(tmp, gdf, "nocrs.shp")
    path.with_suffix(".prj").unlink()
    return path, "facilities", None, ["no CRS", "refusing to guess"]


def case_metres_labelled_as_degrees(tmp):
    gdf = _new("facilities").to_crs("EPSG:4544")
    gdf = gdf.set_crs("EPSG:4326", allow_override=True)  # wrong label: metres as degrees
    return _write(tmp, gdf, "metres.geojson"), "facilities", None, ["row 1", "out of range"]


def case_file_crs_contradicts_option(tmp):
    return (
        _write(tmp, _new("facilities"), "f.gpkg"),
        "facilities",
        "EPSG:4544",
        ["the file says EPSG:4490", "--crs says EPSG:4544"],
    )


def case_projected_file_as_gcj02(tmp):
    gdf = _new("facilities").to_crs("EPSG:4544")
    return (_write(tmp, gdf, "f.gpkg"), "facilities", "gcj02", ["cannot hold gcj02"])


def case_outside_the_community(tmp):
    gdf = _new("compounds", 2)
    gdf.loc[1, "geometry"] = affinity.translate(gdf.geometry.iloc[1], 0.02, 0)  # ~2 km east
    return _write(tmp, gdf, "out.geojson"), "compounds", None, ["row 2", "outside its 社区"]


def case_swapped_lat_lon(tmp):
    gdf = _new("facilities", 3)
    p = gdf.geometry.iloc[2]
    gdf.loc[2, "geometry"] = Point(p.y, p.x)
    return _write(tmp, gdf, "swapped.geojson"), "facilities", None, ["row 3", "swapped"]


def case_duplicate_keys_in_file(tmp):
    gdf = _new("facilities", 3)
    gdf.loc[2, "code"] = gdf.loc[0, "code"]
    return _write(tmp, gdf, "dup.geojson"), "facilities", None, ["row 3", "duplicate key, as row 1"]


def case_key_already_stored(tmp):
    gdf = _fixture("facilities").head(2)
    return _write(tmp, gdf, "stored.geojson"), "facilities", None, ["row 1", "already stored"]


def case_missing_required_column(tmp):
    gdf = _new("facilities").drop(columns=["kind"])
    return (
        _write(tmp, gdf, "nokind.geojson"),
        "facilities",
        None,
        ["kind", "required column missing"],
    )


def case_bad_values(tmp):
    gdf = _new("buildings", 3)
    gdf.loc[0, "floors"] = -2
    gdf["households"] = gdf["households"].astype(object)
    gdf.loc[1, "households"] = "很多"
    gdf.loc[2, "use"] = "castle"
    gdf["geometry"] = gdf.geometry.translate(0.0, 0.0)
    return (
        _write(tmp, gdf, "bad.geojson"),
        "buildings",
        None,
        ["row 1", "floors", "must be ≥ 1", "row 2", "'很多'", "row 3", "'castle'"],
    )


def case_empty_required_value(tmp):
    gdf = _new("facilities", 2)
    gdf.loc[1, "name"] = "  "
    return (
        _write(tmp, gdf, "empty.geojson"),
        "facilities",
        None,
        ["row 2", "name", "required, empty"],
    )


def case_wrong_geometry_type(tmp):
    gdf = _new("compounds")
    gdf["geometry"] = gdf.geometry.representative_point()
    return (
        _write(tmp, gdf, "points.geojson"),
        "compounds",
        None,
        ["row 1", "wrong geometry type) Point"],
    )


def case_building_astride_two_compounds(tmp):
    comps = _fixture("compounds")
    a = comps[comps.code.str.endswith("C01")].geometry.iloc[0]
    b = comps[comps.code.str.endswith("C02")].geometry.iloc[0]
    line = shapely.shortest_line(a, b)
    mid = line.interpolate(0.5, normalized=True)
    footprint = mid.buffer(0.0004, cap_style="square")  # ~80 m square over the lane
    gdf = _new("buildings")
    gdf.loc[0, "geometry"] = footprint
    gdf.loc[0, "compound_code"] = None
    return _write(tmp, gdf, "astride.geojson"), "buildings", None, ["row 1", "astride compounds"]


def case_unknown_parent(tmp):
    gdf = _new("compounds")
    gdf.loc[0, "community_code"] = "999999"
    return _write(tmp, gdf, "orphan.geojson"), "compounds", None, ["row 1", "'999999'", "no such"]


def case_one_bad_row_among_thousands(tmp):
    gdf = _fixture("households")
    gdf["code"] = gdf["code"] + "-new"
    gdf.loc[3000, "floor"] = 99
    return _write(tmp, gdf, "hh.geojson"), "households", None, ["row 3001", "floor", "楼层 99"]


def case_csv_coordinate_not_a_number(tmp):
    gdf = _new("facilities", 2)
    frame = pd.DataFrame(gdf.drop(columns="geometry"))
    frame["lon"] = [gdf.geometry.x.iloc[0], "东经104"]
    frame["lat"] = gdf.geometry.y.values
    return _write(tmp, frame, "f.csv"), "facilities", "EPSG:4490", ["row 2", "lon", "'东经104'"]


def case_csv_without_crs(tmp):
    gdf = _new("facilities")
    frame = pd.DataFrame(gdf.drop(columns="geometry"))
    frame["lon"], frame["lat"] = gdf.geometry.x.values, gdf.geometry.y.values
    return _write(tmp, frame, "f.csv"), "facilities", None, ["carry no CRS", "--crs"]


def case_unknown_kind(tmp):
    return _write(tmp, _new("facilities"), "f.geojson"), "shops", None, ["unknown kind", "'shops'"]


def case_empty_file(tmp):
    gdf = _new("facilities").head(0)
    return _write(tmp, gdf, "none.gpkg"), "facilities", None, ["no rows"]


CASES: list[Callable] = [v for k, v in dict(globals()).items() if k.startswith("case_")]


@pytest.fixture(scope="module")
def scratch_db(server, template):
    """One committed-to database for all bad-input cases: each must leave it unchanged."""
    from .conftest import _clone

    gen = _clone(server, template)
    url = next(gen)
    yield url
    with pytest.raises(StopIteration):
        next(gen)


@pytest.mark.parametrize("case", CASES, ids=[c.__name__[5:] for c in CASES])
def test_bad_input_is_refused_whole(case, scratch_db, tmp_path):
    path, kind, crs, expected = case(tmp_path)
    before = fingerprint(scratch_db)
    engine = make_engine(scratch_db)
    with (
        pytest.raises((ImportValidationError, CRSError, InputError)) as exc,
        session_scope(engine) as s,
    ):
        import_file(path, kind, session=s, crs=crs)
    engine.dispose()
    message = str(exc.value)
    for part in expected:
        assert part in message, f"{part!r} not in:\n{message}"
    assert fingerprint(scratch_db) == before


def test_rejection_detail_lists_every_row(tmp_path, scratch_db):
    gdf = _new("facilities", 5)
    gdf.loc[[1, 3], "kind"] = "spa"
    path = _write(tmp_path, gdf, "two-bad.geojson")
    engine = make_engine(scratch_db)
    with pytest.raises(ImportValidationError) as exc, session_scope(engine) as s:
        import_file(path, "facilities", session=s)
    engine.dispose()
    assert [d["row"] for d in exc.value.detail] == [2, 4]
    assert json.dumps(exc.value.detail, ensure_ascii=False).count("spa") == 2
