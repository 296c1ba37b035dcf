"""Exports a spreadsheet cannot turn into formulas, personal data written for its owner's eyes
only and audit-logged, and the written maps that hold residents' words readable by their owner
only (issue 15, item 12). The CLI runs as a user would; files are read back raw."""

from __future__ import annotations

import csv
import os
import stat
from pathlib import Path

import geopandas as gpd
import pytest
from sqlalchemy import text

from geo.io import read_layer
from geo.store.db import make_engine, session_scope

pytestmark = pytest.mark.db
UMASK = os.umask(0o022)
os.umask(UMASK)
DEFAULT_MODE = 0o666 & ~UMASK  # what a file gets when nobody asks otherwise


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def q(url: str, sql: str, **params):
    engine = make_engine(url)
    try:
        with session_scope(engine) as s:
            res = s.execute(text(sql), params)
            return res.all() if res.returns_rows else None
    finally:
        engine.dispose()


# a cell as stored → the cell in the CSV file
CELLS = {
    '=HYPERLINK("http://x.example","点我")': '\'=HYPERLINK("http://x.example","点我")',
    "+86 28 8888 0000": "'+86 28 8888 0000",
    "@SUM(A1:A9)": "'@SUM(A1:A9)",
    "-2+3": "'-2+3",
    "-1层车库": "'-1层车库",
    "\t=1+1": "'\t=1+1",
    "\r=1+1": "'\r=1+1",
    "'=already quoted": "''=already quoted",  # so that reading it back is exact
    "-12": "-12",  # a negative number is a number, not a formula
    "-0.5": "-0.5",
    "-1e3": "-1e3",
    "'-12": "''-12",
    "'quoted": "'quoted",
    "a=b": "a=b",
    "": "",
    "王芳": "王芳",
}


@pytest.mark.parametrize("stored", list(CELLS), ids=[repr(c) for c in CELLS])
def test_a_formula_cell_is_neutralised_and_read_back_exactly(stored):
    from geo.io.csvcells import csv_cell, csv_uncell

    assert csv_cell(stored) == CELLS[stored]
    assert csv_uncell(csv_cell(stored)) == stored


@pytest.mark.parametrize("number", [-3, -2.5, 0, 7, True, None])
def test_numbers_stay_numbers(number):
    from geo.io.csvcells import csv_cell

    assert csv_cell(number) is number


@pytest.mark.cli
def test_a_csv_export_opens_as_text_and_imports_back(cli, fresh_db, tmp_path):
    stored = [c for c in CELLS if c and "\r" not in c][:11]
    codes = [
        r[0]
        for r in q(fresh_db, "SELECT code FROM worker ORDER BY code LIMIT :n", n=len(stored) + 1)
    ]
    codes, cr = codes[:-1], codes[-1]
    for code, name in zip(codes, stored, strict=True):
        q(fresh_db, "UPDATE worker SET name = :n WHERE code = :c", n=name, c=code)
    # a carriage return inside a cell: the cell is quoted (RFC 4180 lines end in CR LF), so
    # the row stays one row (GDAL reads that CR back as LF, hence apart from the others)
    q(fresh_db, "UPDATE worker SET name = :n WHERE code = :c", n="\r=1+1", c=cr)
    q(fresh_db, "UPDATE worker SET phone = '+86 28 8888 0000' WHERE code = :c", c=codes[0])
    out = tmp_path / "w.csv"
    ran = cli("export", "--kind", "workers", str(out), url=fresh_db)
    assert ran.code == 0, ran.err
    with out.open(newline="", encoding="utf-8") as fh:
        rows = {r["code"]: r for r in csv.DictReader(fh)}
    for code, name in zip(codes, stored, strict=True):
        assert rows[code]["name"] == CELLS[name], (code, rows[code]["name"])
    assert rows[cr]["name"] == "'\r=1+1" and len(rows) == 91
    assert rows[codes[0]]["phone"] == "'+86 28 8888 0000"
    assert rows[codes[1]]["phone"].isdigit()  # a phone of digits stays as it is
    numbers = {"-12", "-0.5", "-1e3"}
    assert not [
        r for r in rows.values() if r["name"][:1] in set("=+-@\t\r") and r["name"] not in numbers
    ]
    assert {r["public_phone"] for r in rows.values()} <= {"True", "False"}  # untouched
    # read back (the import reads CSV this way): the stored values, exactly
    back = read_layer(out, geom=False).attrs.set_index("code")
    for code, name in zip(codes, stored, strict=True):
        assert back.loc[code, "name"] == name
    # and a real import of it gives the same rows (the import trims spaces and tabs, as ever)
    q(fresh_db, "DELETE FROM worker")
    ran = cli("import", str(out), "--kind", "workers", url=fresh_db)
    assert ran.code == 0, ran.err
    got = dict(q(fresh_db, "SELECT code, name FROM worker WHERE code = ANY(:c)", c=codes))
    assert got == {code: name.strip() for code, name in zip(codes, stored, strict=True)}


def _audit(url: str):
    return q(
        url,
        "SELECT actor, entity, entity_id, detail FROM audit_log WHERE action = 'export_personal' "
        "ORDER BY id",
    )


@pytest.mark.cli
def test_a_personal_export_is_private_and_audited(cli, fresh_db, tmp_path):
    assert _audit(fresh_db) == []
    out = tmp_path / "h.csv"
    ran = cli("export", "--kind", "households", str(out), "--include-personal", url=fresh_db)
    assert ran.code == 0, ran.err
    assert mode(out) == 0o600, oct(mode(out))
    assert "0600" in ran.out and "audit" in ran.out
    with out.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 4290 and rows[0]["head_name"] and rows[0]["phone"]
    assert {"lon", "lat"} <= set(rows[0])  # a point layer in CSV: its coordinates
    ((actor, entity, community, detail),) = _audit(fresh_db)
    assert actor.startswith("cli:") and entity == "household_person" and community is None
    assert detail["rows"] == 4290 and detail["kind"] == "households"
    assert detail["file"] == str(out.resolve()) and detail["columns"] == ["head_name", "phone"]
    # the CSV imports back, personal data included, with the CRS it was written in
    back = read_layer(out, crs="EPSG:4490")
    assert back.geoms is not None and len(back.geoms) == 4290
    # a GeoPackage keeps its other layers; the file becomes private; a second audit row
    gpkg = tmp_path / "all.gpkg"
    # a reporter's email (given through Open311) is personal data too: exported with it
    q(
        fresh_db,
        "UPDATE incident_reporter SET email = 'reporter-' || incident_id || '@example.cn' "
        "WHERE incident_id IN (SELECT i.id FROM incident i JOIN community c ON c.id = "
        "i.community_id WHERE c.code = '510107013001' ORDER BY i.id LIMIT 3)",
    )
    emails = dict(
        q(
            fresh_db,
            "SELECT i.code, r.email FROM incident_reporter r JOIN incident i ON i.id = "
            "r.incident_id WHERE r.email IS NOT NULL",
        )
    )
    assert len(emails) == 3
    assert cli("export", "--kind", "buildings", str(gpkg), url=fresh_db).code == 0
    assert mode(gpkg) == DEFAULT_MODE
    ran = cli(
        "export",
        "--kind",
        "incidents",
        str(gpkg),
        "--include-personal",
        "--community",
        "510107013001",
        url=fresh_db,
    )
    assert ran.code == 0, ran.err
    assert mode(gpkg) == 0o600
    assert len(gpd.read_file(gpkg, layer="buildings")) == 143
    inc = gpd.read_file(gpkg, layer="incidents")
    assert len(inc) == 36 and inc["reporter_name"].notna().any()
    got = inc.dropna(subset=["reporter_email"]).set_index("code")["reporter_email"].to_dict()
    assert got == emails
    last = _audit(fresh_db)[-1]
    assert last[1] == "incident_reporter" and last[2] == "510107013001"
    assert last[3]["rows"] == 36
    assert last[3]["columns"] == ["reporter_name", "reporter_phone", "reporter_email"]
    # a Shapefile: every one of its files
    ran = cli(
        "export",
        "--kind",
        "households",
        str(tmp_path / "s" / "h.shp"),
        "--include-personal",
        url=fresh_db,
    )
    assert ran.code == 0, ran.err
    parts = sorted((tmp_path / "s").iterdir())
    assert {p.suffix for p in parts} >= {".shp", ".dbf", ".shx", ".prj"}
    assert all(mode(p) == 0o600 for p in parts), [(p.name, oct(mode(p))) for p in parts]
    assert len(_audit(fresh_db)) == 3
    assert not [p for p in tmp_path.rglob(".*")]  # no temporary folder left behind


@pytest.mark.cli
def test_an_export_without_personal_data_is_not_audited(cli, fresh_db, tmp_path):
    out = tmp_path / "f.geojson"
    ran = cli("export", "--kind", "facilities", str(out), url=fresh_db)
    assert ran.code == 0, ran.err
    assert mode(out) == DEFAULT_MODE and _audit(fresh_db) == []
    # incidents hold residents' own words (descriptions): private, though not audited
    ran = cli("export", "--kind", "incidents", str(tmp_path / "i.csv"), url=fresh_db)
    assert ran.code == 0, ran.err
    assert mode(tmp_path / "i.csv") == 0o600 and _audit(fresh_db) == []
    # --include-personal on a layer that holds none is refused, naming the layers that do
    ran = cli(
        "export",
        "--kind",
        "buildings",
        str(tmp_path / "b.gpkg"),
        "--include-personal",
        url=fresh_db,
    )
    assert ran.code == 1 and "households" in ran.err and "incidents" in ran.err
    assert not (tmp_path / "b.gpkg").exists()
    # polygons cannot go to CSV: said, not a traceback
    ran = cli("export", "--kind", "buildings", str(tmp_path / "b.csv"), url=fresh_db)
    assert ran.code == 1 and "Traceback" not in ran.err and ".gpkg" in ran.err


@pytest.mark.cli
def test_written_maps_with_residents_words_are_private(cli, fixture_url, tmp_path):
    ran = cli("maps", "--out", str(tmp_path / "m"), url=fixture_url)
    assert ran.code == 0, ran.err
    assert mode(tmp_path / "m" / "dispatcher.html") == 0o600
    # the resident and planner maps hold public places, grids and buildings only
    assert mode(tmp_path / "m" / "resident.html") == DEFAULT_MODE
    assert mode(tmp_path / "m" / "planner.html") == DEFAULT_MODE
    # a dispatcher map written before (world-readable) is made private when written again
    os.chmod(tmp_path / "m" / "dispatcher.html", 0o644)
    assert cli("maps", "--out", str(tmp_path / "m"), url=fixture_url).code == 0
    assert mode(tmp_path / "m" / "dispatcher.html") == 0o600
    assert "0600" in ran.out


def test_the_plan_diff_csv_is_neutralised_too():
    from geo.plans import Diff, export_diff

    diff = Diff(
        "C", 1, 2, [], [{"household": "=cmd|' /C calc'!A0", "old": "-M01", "new": "M02"}], [], {}
    )
    body, media, _ = export_diff(diff, "csv")
    rows = list(csv.DictReader(body.decode("utf-8-sig").splitlines()))
    assert rows == [{"household": "'=cmd|' /C calc'!A0", "old": "'-M01", "new": "M02"}]
    assert media.startswith("text/csv")
