"""Search by service (GET /nearby?service=), open now by a fixed clock, and the standard
address in /locate answers — over real HTTP on the fixture."""

from __future__ import annotations

import doctest
import json
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

import geo.hours
import geo.search
from geo.core.address import parse_address
from geo.hours import is_open
from geo.places import nearby
from geo.search import SYNONYMS, terms
from geo.settings import get_settings

from .conftest import ROOT

pytestmark = pytest.mark.db
TZ = ZoneInfo("Asia/Shanghai")
ORIGIN = {"lon": 104.0245, "lat": 30.6285}


def _offering(session, typed: str) -> dict[str, list[str]]:
    """code → services of the places whose services or name hold the typed term or one of its
    synonyms (as the database has them)."""
    group = {typed} | {m for g in SYNONYMS if typed in g for m in g}
    pats = [f"%{m}%" for m in group]
    rows = session.execute(
        text(
            "SELECT code, services FROM facility WHERE name LIKE ANY(:p) OR EXISTS "
            "(SELECT 1 FROM unnest(services) s WHERE s LIKE ANY(:p)) UNION ALL "
            "SELECT code, services FROM open_resource WHERE name LIKE ANY(:p) OR EXISTS "
            "(SELECT 1 FROM unnest(services) s WHERE s LIKE ANY(:p))"
        ),
        {"p": pats},
    ).all()
    return {r[0]: list(r[1]) for r in rows}


@pytest.mark.parametrize("typed", ["居住证", "社保", "长者食堂", "打印", "篮球场"])
def test_service_finds_the_places_offering_it(http, session, typed):
    expect = _offering(session, typed)
    assert expect, f"the fixture offers {typed}"
    r = http.get("/nearby", params=ORIGIN | {"service": typed, "limit": 100})
    assert r.status_code == 200, r.text
    body = r.json()
    got = {f["id"]: f["properties"] for f in body["features"]}
    assert set(got) == set(expect)
    assert body["suggestions"] == []
    wanted = terms(typed)
    for code, p in got.items():
        assert any(t in p["matched"] for t in wanted)
        assert p["matched"] in expect[code] or p["matched"] == p["name"]
        assert p["services"] == expect[code]
    dist = [p["distance_m"] for p in got.values()]
    assert dist == sorted(dist)


def test_synonym_finds_a_place_whose_services_do_not_name_the_typed_term(http):
    body = http.get("/nearby", params=ORIGIN | {"service": "老年餐桌"}).json()
    canteens = [f["properties"] for f in body["features"]]
    assert canteens and all("老年餐桌" not in p["matched"] for p in canteens)
    assert any(p["matched"] == "老年助餐" for p in canteens)
    # full-width letters and spaces are normalised away
    same = http.get("/nearby", params=ORIGIN | {"service": " 老年 餐桌 "}).json()
    assert [f["id"] for f in same["features"]] == [f["id"] for f in body["features"]]


def test_no_match_gives_an_empty_list_and_existing_services(http, session):
    existing = set(
        session.scalars(
            text(
                "SELECT unnest(services) FROM facility UNION "
                "SELECT unnest(services) FROM open_resource"
            )
        )
    )
    r = http.get("/nearby", params=ORIGIN | {"service": "居主证"})
    assert r.status_code == 200
    body = r.json()
    assert body["features"] == [] and body["numberReturned"] == 0
    assert 1 <= len(body["suggestions"]) <= 5
    assert any(s in existing and "居住证" in s for s in body["suggestions"])


@pytest.mark.parametrize("bad", ["", "   ", "社" * 51])
def test_an_empty_or_too_long_term_is_a_400_naming_it(http, bad):
    r = http.get("/nearby", params=ORIGIN | {"service": bad})
    assert r.status_code == 400, r.text
    assert repr(bad) in r.text or bad.strip() in r.text
    assert http.get("/nearby", params=ORIGIN | {"service": "社" * 50}).status_code == 200


def test_open_now_by_the_service_clock(http, session, monkeypatch):
    (hours,) = session.execute(
        text("SELECT opening_hours FROM open_resource WHERE '篮球场' = ANY(services)")
    ).one()
    saturday_8 = "2026-12-05T08:00:00+08:00"
    monday_8 = "2026-12-07T08:00:00+08:00"
    assert is_open(hours, datetime.fromisoformat(saturday_8)) is True
    assert is_open(hours, datetime.fromisoformat(monday_8)) is False
    params = ORIGIN | {"service": "篮球场"}
    for at, n in ((saturday_8, 1), (monday_8, 0)):
        monkeypatch.setenv("WANGGE_TEST_CLOCK", at)
        get_settings.cache_clear()
        body = http.get("/nearby", params=params | {"open_now": "true"}).json()
        assert body["at"] == datetime.fromisoformat(at).isoformat()
        assert len(body["features"]) == n and body["suggestions"] == []
        assert all(f["properties"]["open"] is True for f in body["features"])
        every = http.get("/nearby", params=params).json()["features"]
        assert [f["properties"]["open"] for f in every] == [n == 1]


def test_open_now_in_geo_with_an_injected_clock(session):
    lon, lat = ORIGIN["lon"], ORIGIN["lat"]
    weekday = datetime(2026, 12, 7, 10, 0, tzinfo=TZ)  # Monday 10:00
    saturday_pm = datetime(2026, 12, 5, 14, 0, tzinfo=TZ)
    every = nearby(session, lon, lat, service="社保", limit=100, at=weekday, walking=False)
    open_ = nearby(
        session, lon, lat, service="社保", limit=100, at=weekday, open_now=True, walking=False
    )
    assert len(every["features"]) >= 2
    assert [f["id"] for f in open_["features"]] == [
        f["id"] for f in every["features"] if f["properties"]["open"]
    ]
    late = nearby(session, lon, lat, service="社保", at=saturday_pm, open_now=True, walking=False)
    assert late["features"] == []
    # without a service, open_now alone keeps every kind's open places, none without hours
    all_open = nearby(session, lon, lat, limit=100, at=saturday_pm, open_now=True, walking=False)
    assert all_open["features"] and "suggestions" not in all_open
    assert all(f["properties"]["open"] is True for f in all_open["features"])


def test_chinese_opening_hours():
    mon = datetime(2026, 12, 7, 9, 30, tzinfo=TZ)
    sat = datetime(2026, 12, 5, 9, 30, tzinfo=TZ)
    assert is_open("周一至周五 9:00-17:00", mon) is True
    assert is_open("周一至周五 9:00-17:00", sat) is False
    assert is_open("08:30-17:30", sat) is True
    assert is_open("每天 10:00-12:00", sat) is False
    assert is_open(None, sat) is None and is_open("随时来", sat) is None


def test_open_resources_services_are_imported_from_the_fixture(session):
    src = json.loads((ROOT / "fixtures/jifu/resources.geojson").read_text(encoding="utf-8"))
    stored = dict(session.execute(text("SELECT code, services FROM open_resource")).all())
    for f in src["features"]:
        p = f["properties"]
        assert stored[p["code"]] == [s for s in p["services"].split(";") if s]


def test_locate_answers_the_standard_address(http, session):
    rows = session.execute(
        text(
            "SELECT b.code, b.name, p.name, c.name, ST_X(ST_PointOnSurface(b.footprint)), "
            "ST_Y(ST_PointOnSurface(b.footprint)) FROM building b "
            "JOIN compound p ON p.id = b.compound_id JOIN community c ON c.id = b.community_id "
            "WHERE b.units >= 2 ORDER BY b.code LIMIT 3"
        )
    ).all()
    assert rows
    for code, name, compound, community, x, y in rows:
        body = http.get("/locate", params={"lon": x, "lat": y, "crs": "cgcs2000"}).json()
        assert body["building"]["code"] == code
        unit = body["building"]["unit_no"]
        assert body["standard_address"] == f"{community}{compound}{name}{unit}单元"
        parsed = parse_address(body["standard_address"])
        assert parsed is not None and parsed.unit == unit
        back = http.get("/locate", params={"address": body["standard_address"]}).json()
        assert back["building"]["code"] == code and back["building"]["unit_no"] == unit
        assert back["standard_address"] == body["standard_address"]
    # a point in the served area but outside every building: no address, as before
    (gx, gy) = session.execute(
        text(
            "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(ST_Difference(c.boundary, "
            "(SELECT ST_Union(ST_Buffer(footprint, 0.00002)) FROM building))) p FROM compound c "
            "ORDER BY c.code LIMIT 1) q"
        )
    ).one()
    out = http.get("/locate", params={"lon": gx, "lat": gy, "crs": "cgcs2000"}).json()
    assert out["building"] is None and out["standard_address"] is None


@pytest.mark.parametrize("module", [geo.search, geo.hours])
def test_the_examples_hold(module):
    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0


def test_open_resources_services_import_as_a_list_or_a_separated_string(fresh_db, tmp_path):
    from geo.io import import_file
    from geo.store.db import make_engine, session_scope

    src = json.loads((ROOT / "fixtures/jifu/resources.geojson").read_text(encoding="utf-8"))
    given = [
        ["篮球场", "乒乓球台"],
        "打印、复印，扫描",
        "充电桩, 夜间停车 | 洗车",
        "自习室；图书借阅; 讲座",
    ]
    feats = []
    for i, services in enumerate(given):
        f = json.loads(json.dumps(src["features"][i]))
        f["properties"] |= {"code": f"IMP-{i}", "services": services, "community_code": None}
        feats.append(f)
    path = tmp_path / "resources.geojson"
    path.write_text(json.dumps(src | {"features": feats}, ensure_ascii=False), encoding="utf-8")
    engine = make_engine(fresh_db)
    with session_scope(engine) as s:
        import_file(path, "resources", session=s)
    with session_scope(engine) as s:
        got = dict(
            s.execute(
                text("SELECT code, services FROM open_resource WHERE code LIKE 'IMP-%'")
            ).all()
        )
        found = nearby(s, ORIGIN["lon"], ORIGIN["lat"], service="洗车", limit=100, walking=False)
    engine.dispose()
    assert got == {
        "IMP-0": ["篮球场", "乒乓球台"],
        "IMP-1": ["打印", "复印", "扫描"],
        "IMP-2": ["充电桩", "夜间停车", "洗车"],
        "IMP-3": ["自习室", "图书借阅", "讲座"],
    }
    assert [f["id"] for f in found["features"]] == ["IMP-2"]
    assert found["features"][0]["properties"]["services"] == ["充电桩", "夜间停车", "洗车"]
