"""报表通 reports over real HTTP and the real command on a real PostGIS: incidents, visits and a
notice made through the API first; each report's numbers equal a direct SQL count; the XLSX,
CSV and PDF hold the same rows with Chinese headers; roles and scopes; bad input named."""

from __future__ import annotations

import csv
import io
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from openpyxl import load_workbook
from pdfminer.high_level import extract_text

from geo.runtime.auth import create_user
from geo.store.db import make_engine, session_scope

from .conftest import run_cli, run_sql, serve_app

pytestmark = pytest.mark.db
STREET = "510107013"
OTHER_STREET = "510107099"
FROM, TO = "2020-01-01", "2029-12-31"  # every row the test made


def _grids(db: str) -> list[tuple[str, str]]:
    """(micro-grid, community) of the street whose households' buildings lie wholly in them,
    with households: an incident at such a building is in that grid."""
    rows = run_sql(
        db,
        """
        SELECT g.code, c.code FROM grid g JOIN grid_version v ON v.id = g.version_id
          AND v.status = 'published' JOIN community c ON c.id = v.community_id
          JOIN street s ON s.id = c.street_id
        WHERE g.level = 'micro' AND s.code = :s AND EXISTS (SELECT 1 FROM household h
          WHERE h.grid_id = g.id) AND NOT EXISTS (SELECT 1 FROM household h
          JOIN household h2 ON h2.building_id = h.building_id
          WHERE h.grid_id = g.id AND h2.grid_id <> g.id)
        ORDER BY g.code""",
        s=STREET,
    )
    return [(r[0], r[1]) for r in rows]


def _point(db: str, grid: str) -> tuple[float, float]:
    return run_sql(
        db,
        "SELECT ST_X(ST_PointOnSurface(b.footprint)), ST_Y(ST_PointOnSurface(b.footprint)) "
        "FROM household h JOIN building b ON b.id = h.building_id JOIN grid g ON g.id = "
        "h.grid_id WHERE g.code = :g ORDER BY h.code LIMIT 1",
        g=grid,
    )[0]


@pytest.fixture(scope="module")
def world(module_db: str) -> Any:
    grids = _grids(module_db)
    assert len(grids) >= 2, grids
    (g1, community), (g2, _) = grids[0], grids[1]
    run_sql(
        module_db,
        "INSERT INTO street (code, name, district) VALUES (:c, '测试街道', '武侯区')",
        c=OTHER_STREET,
    )
    tokens: dict[str, str] = {}
    engine = make_engine(module_db)
    with session_scope(engine) as s:
        for name, role, grid, street in [
            ("w1", "worker", g1, None),
            ("disp", "dispatcher", None, STREET),
            ("disp_other", "dispatcher", None, OTHER_STREET),
            ("planner", "planner", None, None),
            ("admin", "admin", None, None),
        ]:
            _, tokens[name] = create_user(
                session=s, name=f"rp-{name}", role=role, grid_code=grid, street_code=street
            )
    engine.dispose()
    run_sql(
        module_db,
        "INSERT INTO worker (code, name, role, phone, grid_code) VALUES "
        "('RP-W1', '网格员', 'micro_grid_worker', '13800000009', :g)",
        g=g1,
    )
    with serve_app(module_db) as base:
        made = _make_activity(module_db, base, tokens, g1, g2)
        yield {
            "db": module_db,
            "base": base,
            "tokens": tokens,
            "g1": g1,
            "g2": g2,
            "community": community,
            **made,
        }


def _client(base: str, token: str | None = None) -> httpx.Client:
    headers = {"Authorization": "Bearer " + token} if token else {}
    return httpx.Client(base_url=base, timeout=60, headers=headers)


def _make_activity(db: str, base: str, tokens: dict[str, str], g1: str, g2: str) -> dict[str, Any]:
    """Through the API: five incidents in g1 (closed in time, closed late, passed to the
    street, open overdue, open in time), one in g2; two visits in g1; a notice to g1 and g2,
    acknowledged by g1's worker."""
    lon, lat = _point(db, g1)
    codes: dict[str, str] = {}
    with _client(base) as public, _client(base, tokens["w1"]) as w1:
        for name, category in [
            ("in_time", "garbage"),
            ("late", "garbage"),
            ("street", "noise"),
            ("overdue", "garbage"),
            ("fine", "noise"),
        ]:
            r = public.post(
                "/incidents",
                json={"lon": lon, "lat": lat, "category": category, "description": name},
            )
            assert r.status_code == 201, r.text
            codes[name] = r.json()["code"]
        glon, glat = _point(db, g2)
        r = public.post(
            "/incidents", json={"lon": glon, "lat": glat, "category": "noise", "description": "g2"}
        )
        assert r.status_code == 201, r.text
        codes["g2"] = r.json()["code"]

        def move(name: str, to: str, **extra: Any) -> None:
            r = w1.post(f"/incidents/{codes[name]}/transitions", json={"to": to, **extra})
            assert r.status_code == 200, (name, to, r.text)

        for name in ("in_time", "late"):
            move(name, "accepted")
        # "late": its handling deadline already passed when it is resolved
        run_sql(
            db,
            "UPDATE incident SET handle_due = reported_at - interval '1 minute' WHERE code = :c",
            c=codes["late"],
        )
        for name in ("in_time", "late"):
            move(name, "resolved")
            move(name, "closed", outcome="solved")
        move("street", "street_handling")
        run_sql(
            db,
            "UPDATE incident SET accept_due = now() - interval '1 hour' WHERE code = :c",
            c=codes["overdue"],
        )
        households = [
            r[0]
            for r in run_sql(
                db,
                "SELECT h.code FROM household h JOIN grid g ON g.id = h.grid_id "
                "WHERE g.code = :g ORDER BY h.code LIMIT 2",
                g=g1,
            )
        ]
        for h in [*households, households[0]]:  # two households, one visited twice
            r = w1.post("/visits", json={"household": h, "opinion": "none"})
            assert r.status_code == 201, r.text
        with _client(base, tokens["disp"]) as d:
            r = d.post(
                "/notices", json={"title": "暴雨预警", "body": "请通知住户", "grids": [g1, g2]}
            )
            assert r.status_code == 201, r.text
            notice = r.json()["id"]
        r = w1.post(f"/notices/{notice}/ack", json={"grid": g1, "households_reached": 3})
        assert r.status_code == 200, r.text
    return {"codes": codes, "notice": notice, "visited": households}


def _csv_rows(data: bytes) -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf")  # the BOM: Excel reads it as UTF-8
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))


def _get(world: Any, kind: str, who: str = "admin", **params: str) -> httpx.Response:
    with _client(world["base"], world["tokens"].get(who)) as c:
        return c.get(f"/reports/{kind}", params={"from": FROM, "to": TO, **params})


def _table(world: Any, kind: str, **params: str) -> dict[str, list[str]]:
    r = _get(world, kind, format="csv", **params)
    assert r.status_code == 200, r.text
    rows = _csv_rows(r.content)
    return {"header": rows[0], **{" | ".join(row[:1]): row for row in rows[1:]}}


def test_households_equal_the_database(world):
    t = _table(world, "households", level="grid", community=world["community"])
    assert t["header"][:5] == [
        "网格编码 grid code",
        "网格名称 grid name",
        "层级 level",
        "上级网格 parent grid",
        "户数 households",
    ]
    expected = run_sql(
        world["db"],
        """SELECT g.code, count(h.id) FROM grid g JOIN grid_version v ON v.id = g.version_id
          AND v.status = 'published' JOIN community c ON c.id = v.community_id
          LEFT JOIN household h ON h.grid_id = g.id
          WHERE g.level = 'micro' AND c.code = :c GROUP BY g.code""",
        c=world["community"],
    )
    got = {k: int(v[4]) for k, v in t.items() if k != "header"}
    assert got == {code: n for code, n in expected} and sum(got.values()) > 0
    units = run_sql(
        world["db"],
        "SELECT count(DISTINCT m.unit_id), count(DISTINCT u.building_id) FROM grid_member m "
        "JOIN building_unit u ON u.id = m.unit_id JOIN grid g ON g.id = m.grid_id "
        "WHERE g.code = :g AND g.version_id = (SELECT version_id FROM grid g2 JOIN grid_version "
        "v ON v.id = g2.version_id AND v.status = 'published' WHERE g2.code = :g LIMIT 1)",
        g=world["g1"],
    )[0]
    row = t[world["g1"]]
    assert (int(row[6]), int(row[5])) == tuple(units)
    # its workers: its own (RP-W1 at least), its ancestors' grids', its buildings' heads
    (workers,) = run_sql(
        world["db"],
        """WITH RECURSIVE up AS (
             SELECT g.id, g.parent_id, g.code FROM grid g JOIN grid_version v ON v.id =
               g.version_id AND v.status = 'published' WHERE g.code = :g
             UNION ALL SELECT p.id, p.parent_id, p.code FROM grid p JOIN up ON p.id = up.parent_id)
           SELECT count(*) FROM worker w WHERE w.grid_code IN (SELECT code FROM up)
             OR w.building_code IN (SELECT b.code FROM building b JOIN building_unit u
               ON u.building_id = b.id JOIN grid_member m ON m.unit_id = u.id
               WHERE m.grid_id = (SELECT id FROM up WHERE code = :g))""",
        g=world["g1"],
    )[0]
    assert int(row[7]) == workers and workers >= 1
    # a community's row is the sum of its micro-grids
    c = _table(world, "households", level="community", community=world["community"])
    assert int(c[world["community"]][4]) == sum(got.values())


def test_incidents_by_category_status_and_tier(world):
    t = _table(world, "incidents", level="grid", street=STREET)
    expected = run_sql(
        world["db"],
        "SELECT g.code, i.category, i.status, count(*) FROM incident i JOIN grid g ON g.id = "
        "i.grid_id GROUP BY 1, 2, 3",
    )
    from geo.store.models import INCIDENT_CATEGORIES, INCIDENT_STATUSES

    r = _get(world, "incidents", level="grid", street=STREET, format="csv")
    rows = _csv_rows(r.content)[1:]
    got: dict[tuple[str, str, str], int] = {}
    for code, _name, cat, status, _tier, n in rows:
        got[(code, cat, status)] = got.get((code, cat, status), 0) + int(n)
    assert got == {
        (g, INCIDENT_CATEGORIES[c][0], INCIDENT_STATUSES[s][0]): n for g, c, s, n in expected
    }
    g1 = {
        (cat, status, tier): int(n) for code, _, cat, status, tier, n in rows if code == world["g1"]
    }
    assert g1[("垃圾堆放", "已关闭", "网格")] == 2
    assert g1[("噪音扰民", "街镇处置中", "街镇")] == 1
    assert g1[("噪音扰民", "已上报", "网格")] == 1
    assert t["header"][2:] == ["类别 category", "状态 status", "层级 tier", "件数 incidents"]


def test_sla_compliance(world):
    r = _get(world, "sla", level="grid", grid=world["g1"], format="csv")
    assert r.status_code == 200, r.text
    rows = {(row[2], row[3]): row[4:] for row in _csv_rows(r.content)[1:]}
    # garbage at the grid: one closed in time, one closed late, one open overdue → 33.3 %
    assert rows[("垃圾堆放", "网格")] == ["1", "1", "1", "0", "33.3"]
    # noise: one passed to the street (in time there), one reported and in time
    assert rows[("噪音扰民", "街镇")] == ["0", "0", "0", "1", ""]
    assert rows[("噪音扰民", "网格")] == ["0", "0", "0", "1", ""]


def test_coverage_counts_visits(world):
    t = _table(world, "coverage", level="grid", community=world["community"])
    row = t[world["g1"]]
    assigned = run_sql(
        world["db"],
        "SELECT count(*) FROM household h JOIN grid g ON g.id = h.grid_id WHERE g.code = :g",
        g=world["g1"],
    )[0][0]
    visits, visited = run_sql(
        world["db"],
        "SELECT count(*), count(DISTINCT household_code) FROM visit WHERE grid_code = :g",
        g=world["g1"],
    )[0]
    assert (visits, visited) == (3, 2)
    assert int(row[4]) == assigned and int(row[6]) == visits and int(row[7]) == visited
    assert float(row[8]) == round(100 * visited / assigned, 1)
    assert int(t[world["g2"]][6]) == 0


def test_emergency_reach(world):
    r = _get(world, "reach", who="disp", level="grid", street=STREET, format="csv")
    assert r.status_code == 200, r.text
    rows = {row[4]: row for row in _csv_rows(r.content)[1:] if row[0] == str(world["notice"])}
    g1, g2 = rows[world["g1"]], rows[world["g2"]]
    households = dict(
        run_sql(
            world["db"],
            "SELECT grid_code, households FROM notice_target WHERE notice_id = :n",
            n=world["notice"],
        )
    )
    assert g1[1] == "暴雨预警" and g1[3] == "5"
    assert int(g1[7]) == households[world["g1"]] and int(g1[8]) == 3
    assert g1[10:12] == ["1", "100.0"] and g1[13] == "是" and g1[14] == "是"
    assert int(g2[8]) == 0 and g2[10:12] == ["0", "0.0"] and g2[12] == "" and g2[13] == "否"
    # at street level: one row for the notice, both grids summed
    s = _get(world, "reach", level="street", street=STREET, format="csv")
    (row,) = [x for x in _csv_rows(s.content)[1:] if x[0] == str(world["notice"])]
    assert row[4] == STREET and row[6] == "2" and row[10:12] == ["1", "50.0"]


def test_xlsx_csv_and_pdf_hold_the_same_rows(world, tmp_path: Path):
    params = {"level": "grid", "community": world["community"]}
    csv_rows = _csv_rows(_get(world, "households", format="csv", **params).content)
    x = _get(world, "households", format="xlsx", **params)
    assert x.status_code == 200
    assert x.headers["content-type"].startswith("application/vnd.openxmlformats")
    disposition = x.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="report-households-grid-')
    assert disposition.endswith('.xlsx"') and world["community"] in disposition
    path = tmp_path / "r.xlsx"
    path.write_bytes(x.content)
    ws = load_workbook(path).active
    assert ws.title == "住户统计" and ws.freeze_panes == "A2"
    cells = [["" if v is None else str(v) for v in row] for row in ws.iter_rows(values_only=True)]
    assert cells == csv_rows and cells[0][0] == "网格编码 grid code"
    assert ws.column_dimensions["A"].width > 10
    p = _get(world, "households", format="pdf", **params)
    assert p.status_code == 200 and p.content.startswith(b"%PDF")
    pdf = tmp_path / "r.pdf"
    pdf.write_bytes(p.content)
    words = extract_text(str(pdf))
    assert "住户统计" in words and "网格编码" in words and world["g1"] in words


def test_roles_and_scopes(world):
    g1, g2 = world["g1"], world["g2"]
    assert _get(world, "households", who="nobody").status_code == 401
    assert _get(world, "households", who="planner", street=STREET).status_code == 200
    assert _get(world, "households", who="w1", grid=g1).status_code == 200
    assert _get(world, "households", who="w1").status_code == 200  # its own grid by default
    for scope in ({"street": STREET}, {"grid": g2}, {"community": world["community"]}):
        r = _get(world, "households", who="w1", **scope)
        assert r.status_code == 403, (scope, r.text)
    assert _get(world, "sla", who="disp", street=STREET).status_code == 200
    assert _get(world, "sla", who="disp", grid=g2).status_code == 200
    r = _get(world, "sla", who="disp", street=OTHER_STREET)
    assert r.status_code == 403 and OTHER_STREET in r.json()["message"]
    r = _get(world, "sla", who="disp_other", grid=g1)
    assert r.status_code == 403 and STREET in r.json()["message"]
    assert _get(world, "sla", who="disp_other").status_code == 200  # its street: no grids yet


def test_bad_input_is_named(world):
    for params, status, named in [
        ({"from": "2026-13-01"}, 400, "2026-13-01"),
        ({"to": "yesterday"}, 400, "yesterday"),
        ({"from": "2026-02-01", "to": "2026-01-01"}, 400, "2026-02-01"),
        ({"grid": "NO-SUCH-GRID"}, 404, "NO-SUCH-GRID"),
        ({"code": "NO-SUCH"}, 404, "NO-SUCH"),
        ({"level": "district"}, 400, "district"),
        ({"format": "docx"}, 400, "docx"),
        ({"street": STREET, "grid": world["g1"]}, 400, STREET),
        # the calendar's ends (once a 500: a day added past 9999-12-31)
        ({"from": "9999-12-31", "to": "9999-12-31"}, 400, "9999-12-31"),
        ({"to": "0001-01-05"}, 400, "0001-01-05"),
    ]:
        with _client(world["base"], world["tokens"]["admin"]) as c:
            r = c.get("/reports/households", params=params)
        assert r.status_code == status and named in r.json()["message"], (params, r.text)
    with _client(world["base"], world["tokens"]["admin"]) as c:
        r = c.get("/reports/people")
    assert r.status_code == 400 and "people" in r.json()["message"]
    # a bare code finds its kind
    r = _get(world, "households", code=world["community"], level="community", format="csv")
    assert r.status_code == 200 and world["community"] in r.text


def test_the_command_writes_the_same_report(world, tmp_path: Path):
    out = tmp_path / "c.csv"
    ran = run_cli(
        "report",
        "--level",
        "grid",
        "--community",
        world["community"],
        "--kind",
        "coverage",
        "--from",
        FROM,
        "--to",
        TO,
        "--format",
        "csv",
        "--out",
        str(out),
        url=world["db"],
    )
    assert ran.code == 0, ran.err
    api = _get(world, "coverage", level="grid", community=world["community"], format="csv")
    assert _csv_rows(out.read_bytes()) == _csv_rows(api.content)
    for args, named in [
        (["--from", "2026-02-30"], "2026-02-30"),
        (["--grid", "NO-SUCH-GRID"], "NO-SUCH-GRID"),
    ]:
        bad = tmp_path / "bad.csv"
        ran = run_cli("report", "--kind", "households", "--out", str(bad), *args, url=world["db"])
        assert ran.code == 2 and named in ran.err and not bad.exists(), (args, ran.err)


def _report(rows: list[list[Any]]) -> Any:
    from geo.reports import Period, Report, Scope

    scope = Scope("community", "510107013001", "grid", (), ())
    period = Period(date(2026, 11, 1), date(2026, 11, 30))
    columns = [("网格编码", "grid code"), ("网格名称", "grid name"), ("户数", "households")]
    return Report("households", ("住户统计", "households per area"), columns, rows, scope, period)


def test_a_long_pdf_repeats_its_header_on_every_page(tmp_path: Path):
    from pdfminer.high_level import extract_pages

    from geo.reports import render

    rows = [[f"G-{i:03d}", f"第{i}网格", i] for i in range(120)]
    path = tmp_path / "long.pdf"
    path.write_bytes(render(_report(rows), "pdf"))
    pages = [
        "".join(getattr(e, "get_text", lambda: "")() for e in page)  # the page's text boxes
        for page in extract_pages(str(path))
    ]
    assert len(pages) >= 3
    assert all("网格编码 grid code" in words for words in pages)
    assert "G-000" in pages[0] and "G-119" in pages[-1]


def test_spreadsheets_never_run_an_imported_formula(tmp_path: Path):
    from geo.reports import render

    evil = '=HYPERLINK("http://evil.example","点我")'
    report = _report([["G-1", evil, 3], ["G-2", "-12", 4]])
    path = tmp_path / "x.xlsx"
    path.write_bytes(render(report, "xlsx"))
    ws = load_workbook(path).active
    assert ws["B2"].value == evil and ws["B2"].data_type == "s"  # text, not a formula
    assert ws["C2"].value == 3 and ws["C2"].data_type == "n"
    rows = _csv_rows(render(report, "csv"))
    assert rows[1] == ["G-1", "'" + evil, "3"] and rows[2][1] == "-12"
    # a control character (a notice title, a name) cannot break the spreadsheet (once a 500)
    bell = _report([["G-3", "演练\u0007铃", 1]])
    path.write_bytes(render(bell, "xlsx"))
    assert load_workbook(path).active["B2"].value == "演练\ufffd铃"


def test_a_file_name_is_ascii_whatever_the_code():
    from dataclasses import replace

    from geo.reports.writers import filename

    report = _report([["G-1", "x", 1]])
    name = filename(replace(report, scope=replace(report.scope, code="街道9")), "csv")
    assert name.isascii() and name.startswith("report-") and name.endswith(".csv"), name


def test_a_pdf_of_a_whole_city_is_refused_before_it_is_drawn():
    from geo.errors import InputError
    from geo.reports import render
    from geo.reports.writers import PDF_MAX_ROWS

    rows = [[f"G-{i}", "网格", i] for i in range(PDF_MAX_ROWS + 1)]
    with pytest.raises(InputError, match=str(PDF_MAX_ROWS + 1)):
        render(_report(rows), "pdf")
    assert render(_report(rows), "csv").count(b"\r\n") == PDF_MAX_ROWS + 2
