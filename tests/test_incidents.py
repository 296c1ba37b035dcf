"""Incidents through the closed loop: reporting, the state machine, deadlines, duplicates,
grid-edge co-owners, rate limits, bad input that stores nothing."""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
import shapely
from sqlalchemy import text

from geo.core.crs import wgs84_to_gcj02
from geo.incidents import TRANSITIONS
from geo.runtime.auth import create_user
from geo.store.db import make_engine, session_scope
from geo.store.models import INCIDENT_STATUSES

from .conftest import fingerprint, serve_app

pytestmark = pytest.mark.db
TZ = ZoneInfo("Asia/Shanghai")
STREET = "510107013"


@pytest.fixture(scope="module")
def db(module_db):
    """A private copy of the fixture for this module (it writes)."""
    return module_db


@pytest.fixture(scope="module")
def api(db):
    os.environ["WANGGE_REPORT_RATE_PER_MINUTE"] = "1000"
    from geo.settings import get_settings

    get_settings.cache_clear()
    with serve_app(db) as base, httpx.Client(base_url=base, timeout=30) as client:
        yield client
    os.environ.pop("WANGGE_REPORT_RATE_PER_MINUTE", None)
    get_settings.cache_clear()


@pytest.fixture(scope="module")
def tokens(db):
    engine = make_engine(db)
    out = {}
    with session_scope(engine) as s:
        for name, role, grid, street in [
            ("dispatcher", "dispatcher", None, STREET),
            ("worker_c02", "worker", "510107013001-C02", None),
            ("worker_c05", "worker", "510107013001-C05", None),
            ("planner", "planner", None, None),
            ("admin", "admin", None, None),
        ]:
            _, token = create_user(
                session=s, name=name, role=role, grid_code=grid, street_code=street
            )
            out[name] = {"Authorization": f"Bearer {token}"}
    engine.dispose()
    return out


def _point(db, code_like: str) -> tuple[float, float]:
    engine = make_engine(db)
    with session_scope(engine) as s:
        lon, lat = s.execute(
            text("SELECT ST_X(position), ST_Y(position) FROM household WHERE code LIKE :c"),
            {"c": code_like},
        ).one()
    engine.dispose()
    return lon, lat


def _report(api, db, where="%-C02-B05-U2-301", category="noise", **extra):
    lon, lat = _point(db, where)
    body = {
        "category": category,
        "description": "夜间噪音扰民",
        "lon": lon,
        "lat": lat,
        "crs": "cgcs2000",
    } | extra
    return api.post("/incidents", json=body)


def test_report_by_gcj02_point(api, db):
    lon, lat = _point(db, "%-C02-B05-U2-301")
    gx, gy = (float(v) for v in wgs84_to_gcj02(lon, lat))
    r = api.post(
        "/incidents",
        json={
            "category": "cooking_fumes",
            "description": "油烟扰民",
            "lon": gx,
            "lat": gy,
            "crs": "gcj02",
            "reporter_name": "李先生",
            "reporter_phone": "17000000001",
        },
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["status"] == "reported" and body["micro_grid"].startswith("510107013001-C02-")
    assert body["compound_grid"] == "510107013001-C02" and body["street"] == STREET
    assert body["reporter_token"].startswith("rp_") and body["workers"]
    assert "reporter" not in body and "17000000001" not in r.text  # not echoed back
    assert body["history"][0]["to_status"] == "reported"


def test_report_by_address(api):
    r = api.post(
        "/incidents",
        json={
            "category": "elevator",
            "description": "电梯停运",
            "address": "吉福社区云锦城市花园3栋2单元502",
        },
    )
    assert r.status_code == 201, r.text
    assert r.json()["compound_grid"] == "510107013001-C01"


@pytest.mark.parametrize(
    "body,status,words",
    [
        ({"lon": "nan", "lat": 30.63}, 400, ["nan"]),
        ({"lon": 104.02, "lat": 91}, 400, ["out of range"]),
        ({"lon": 30.63, "lat": 104.02}, 400, ["swapped"]),
        ({"lon": 116.39, "lat": 39.9}, 404, ["outside the served area"]),
        ({"lon": 104.024, "lat": 30.628, "crs": "EPSG:9999999"}, 400, ["unknown CRS"]),
        (
            {"lon": 104.024, "lat": 30.628, "crs": "wgs84'; DROP TABLE incident; --"},
            400,
            ["unknown CRS"],
        ),
        ({"lon": 104.024, "lat": 30.628, "category": "x' OR '1'='1"}, 400, ["unknown category"]),
        ({"address": "'; DELETE FROM household; --3栋"}, 404, ["address not found"]),
        ({"lon": 104.024, "lat": 30.628, "description": "   "}, 400, ["description"]),
        ({"lon": 104.024, "lat": 30.628, "description": "x" * 3000}, 422, ["description"]),
        ({}, 400, ["lon/lat or address"]),
    ],
)
def test_bad_reports_are_4xx_and_store_nothing(api, db, body, status, words):
    before = fingerprint(db)
    full = {"category": "noise", "description": "测试"} | body
    r = api.post("/incidents", json=full)
    assert r.status_code == status, r.text
    for w in words:
        assert w in r.json()["message"]
    assert fingerprint(db) == before


def test_sql_looking_text_is_stored_verbatim(api, db):
    text_ = "'; DROP TABLE incident; -- 楼道堆物"
    r = _report(api, db, description=text_)
    assert r.status_code == 201
    assert r.json()["description"] == text_
    assert api.get(f"/incidents/{r.json()['code']}").status_code == 200


def test_oversized_body(api):
    r = api.post(
        "/incidents",
        content=b"{" + b" " * (11 * 1024 * 1024) + b"}",
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 413


def _set_status(db, code, status):
    engine = make_engine(db)
    with session_scope(engine) as s:
        s.execute(text("UPDATE incident SET status = :s WHERE code = :c"), {"s": status, "c": code})
    engine.dispose()


def test_every_transition_allowed_and_every_other_refused(api, db, tokens):
    code = _report(api, db).json()["code"]
    for frm in INCIDENT_STATUSES:
        for to in INCIDENT_STATUSES:
            _set_status(db, code, frm)
            # staff closing records an outcome (geo.incidents.outcomes)
            outcome = {"outcome": "solved"} if to == "closed" else {}
            r = api.post(
                f"/incidents/{code}/transitions",
                json={"to": to, "note": "测试"} | outcome,
                headers=tokens["admin"],
            )
            if to in TRANSITIONS[frm]:
                assert r.status_code == 200, (frm, to, r.text)
                assert r.json()["status"] == to
                assert r.json()["history"][-1]["from_status"] == frm
            else:
                assert r.status_code == 409, (frm, to, r.text)
                assert set(r.json()["detail"]["allowed"]) == set(TRANSITIONS[frm])


def test_a_dispatcher_drives_an_incident_through_every_tier(api, tokens):
    r = api.post(
        "/incidents",
        json={
            "category": "cooking_fumes",
            "address": "吉福社区吉福苑5栋",
            "description": "底商油烟直排",
        },
    )
    assert r.status_code == 201
    code, token = r.json()["code"], r.json()["reporter_token"]
    d = tokens["dispatcher"]
    for to, note in [
        ("accepted", "网格呼叫"),
        ("street_handling", "街镇处置"),
        ("department_handling", "城管部门报到"),
        ("resolved", "加装专用烟道"),
    ]:
        r = api.post(f"/incidents/{code}/transitions", json={"to": to, "note": note}, headers=d)
        assert r.status_code == 200, r.text
    # the reporter confirms with the token given at reporting
    bad = api.post(
        f"/incidents/{code}/transitions", json={"to": "closed", "reporter_token": "rp_wrong"}
    )
    assert bad.status_code == 403
    r = api.post(f"/incidents/{code}/transitions", json={"to": "closed", "reporter_token": token})
    assert r.status_code == 200
    full = api.get(f"/incidents/{code}", headers=d).json()
    assert [h["to_status"] for h in full["history"]] == [
        "reported",
        "accepted",
        "street_handling",
        "department_handling",
        "resolved",
        "closed",
    ]
    assert full["history"][2]["actor"] == "dispatcher:dispatcher"
    assert full["history"][3]["note"] == "城管部门报到" and full["closed_at"]


def test_roles_on_transitions(api, db, tokens):
    code = _report(api, db, where="%-C02-B05-U1-201").json()["code"]
    r = api.post(f"/incidents/{code}/transitions", json={"to": "accepted"})
    assert r.status_code == 403  # the public cannot accept
    r = api.post(
        f"/incidents/{code}/transitions", json={"to": "accepted"}, headers=tokens["worker_c05"]
    )
    assert r.status_code == 403 and "not in your grids" in r.json()["message"]
    r = api.post(
        f"/incidents/{code}/transitions", json={"to": "accepted"}, headers=tokens["worker_c02"]
    )
    assert r.status_code == 200
    r = api.post(
        f"/incidents/{code}/transitions",
        json={"to": "street_handling"},
        headers=tokens["worker_c02"],
    )
    assert r.status_code == 200
    r = api.post(
        f"/incidents/{code}/transitions",
        json={"to": "department_handling"},
        headers=tokens["worker_c02"],
    )
    assert r.status_code == 403  # the department tier is the street's
    r = api.post(
        f"/incidents/{code}/transitions",
        json={"to": "department_handling"},
        headers=tokens["planner"],
    )
    assert r.status_code == 403


def test_deadlines_escalate_with_a_controlled_clock(api, db, tokens):
    code = _report(api, db, category="water_leak").json()["code"]  # 1 h / 12 h / 48 h
    engine = make_engine(db)
    with session_scope(engine) as s:
        reported = s.execute(
            text("SELECT reported_at FROM incident WHERE code = :c"), {"c": code}
        ).scalar_one()
    engine.dispose()

    from geo.settings import get_settings

    def escalate(hours):
        # the service's clock, set through the test settings (the app runs in this process)
        os.environ["WANGGE_TEST_CLOCK"] = (reported + timedelta(hours=hours)).isoformat()
        get_settings.cache_clear()
        try:
            r = api.post("/incidents/escalate", headers=tokens["dispatcher"])
        finally:
            os.environ.pop("WANGGE_TEST_CLOCK")
            get_settings.cache_clear()
        assert r.status_code == 200, r.text
        return {e["code"]: e for e in r.json()["escalated"]}

    assert code not in escalate(0.5)  # within the grid's hour
    done = escalate(1.5)
    assert done[code]["from"] == "reported" and done[code]["to"] == "street_handling"
    done = escalate(14)
    assert done[code]["to"] == "department_handling"
    done = escalate(80)
    assert done[code]["note"] == "top tier"
    full = api.get(f"/incidents/{code}", headers=tokens["dispatcher"]).json()
    assert full["escalations"] == 3
    assert [h["actor"] for h in full["history"][1:3]] == ["dispatcher:dispatcher"] * 2


def test_overdue_listing(api, db, tokens):
    code = _report(api, db, category="elevator").json()["code"]
    engine = make_engine(db)
    with session_scope(engine) as s:
        s.execute(
            text("UPDATE incident SET accept_due = now() - interval '1 minute' WHERE code = :c"),
            {"c": code},
        )
    engine.dispose()
    listed = api.get("/incidents", params={"overdue": True}, headers=tokens["dispatcher"]).json()
    row = next(i for i in listed["incidents"] if i["code"] == code)
    assert row["overdue"] is True


def test_duplicates_are_linked(api, db):
    first = _report(api, db, where="%-C03-B02-U1-101", category="garbage").json()
    second = _report(api, db, where="%-C03-B02-U1-102", category="garbage").json()
    other = _report(api, db, where="%-C03-B02-U1-201", category="noise").json()
    engine = make_engine(db)
    with session_scope(engine) as s:
        dup = s.execute(
            text(
                "SELECT d.code FROM incident i JOIN incident d ON d.id = "
                "i.duplicate_of WHERE i.code = :c"
            ),
            {"c": second["code"]},
        ).scalar()
        none = s.execute(
            text("SELECT duplicate_of FROM incident WHERE code = :c"), {"c": other["code"]}
        ).scalar()
    engine.dispose()
    assert dup == first["code"] and none is None


def test_incidents_near_a_grid_edge_get_a_co_owner(api, db, tokens):
    engine = make_engine(db)
    with session_scope(engine) as s:
        # a point 3 m inside one micro-grid, next to its neighbour
        row = s.execute(
            text("""
            SELECT a.code, b.code, ST_AsText(ST_LineInterpolatePoint(
                ST_LineMerge(ST_Intersection(a.boundary, b.boundary)), 0.5))
            FROM grid a JOIN grid b ON a.code < b.code AND a.level = 'micro' AND b.level = 'micro'
              AND a.parent_id = b.parent_id AND ST_Relate(a.boundary, b.boundary, 'F********')
              AND NOT EXISTS (SELECT 1 FROM grid_member m WHERE m.grid_id IN (a.id, b.id)
                AND m.cell IS NOT NULL)
              AND ST_Length(ST_Intersection(a.boundary, b.boundary)) > 0.0003
              JOIN grid_version v ON v.id = a.version_id
              AND v.status = 'published'
            ORDER BY a.code LIMIT 1""")
        ).one()
        mid = shapely.from_wkt(row[2])
        inside = s.execute(
            text(
                "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_ClosestPoint(ST_Buffer(boundary, "
                "-0.00003), ST_SetSRID(ST_MakePoint(:x, :y), 4490)) p FROM grid WHERE code = :c "
                "AND version_id = (SELECT max(version_id) FROM grid WHERE code = :c)) q"
            ),
            {"x": mid.x, "y": mid.y, "c": row[0]},
        ).one()
    engine.dispose()
    r = api.post(
        "/incidents",
        json={
            "category": "greening",
            "description": "树枝遮挡",
            "lon": inside[0],
            "lat": inside[1],
            "crs": "cgcs2000",
        },
    )
    assert r.status_code == 201
    full = api.get(f"/incidents/{r.json()['code']}", headers=tokens["dispatcher"]).json()
    assert full["micro_grid"] == row[0] and full["co_owner_grid"] == row[1]
    assert full["co_owner_grids"] == [row[1]]


def test_listing_filters_and_scope(api, db, tokens):
    mine = api.get("/incidents", headers=tokens["worker_c02"]).json()
    assert mine["numberMatched"] > 0
    assert all(
        i["micro_grid"].startswith("510107013001-C02-")
        or (i["co_owner_grid"] or "").startswith("510107013001-C02-")
        for i in mine["incidents"]
    )
    street = api.get("/incidents", headers=tokens["dispatcher"]).json()
    assert street["numberMatched"] > mine["numberMatched"]
    by_cat = api.get(
        "/incidents", params={"category": "cooking_fumes"}, headers=tokens["dispatcher"]
    ).json()
    assert by_cat["incidents"] and all(
        i["category"] == "cooking_fumes" for i in by_cat["incidents"]
    )
    box = api.get(
        "/incidents", params={"bbox": "104.019,30.624,104.023,30.628"}, headers=tokens["dispatcher"]
    ).json()
    assert box["numberMatched"] < street["numberMatched"]
    assert api.get("/incidents").status_code == 401
    assert api.get("/incidents", headers=tokens["planner"]).status_code == 403
    assert (
        api.get("/incidents", params={"status": "lost"}, headers=tokens["dispatcher"]).status_code
        == 400
    )


def test_rate_limit_on_public_reports(db, tokens):
    """The limit holds across API processes (two apps on one database: 2 + 2 reports with a
    limit of 3 → the fourth is refused); staff are not limited."""
    os.environ["WANGGE_REPORT_RATE_PER_MINUTE"] = "3"
    from geo.settings import get_settings

    get_settings.cache_clear()
    engine = make_engine(db)
    with session_scope(engine) as s:
        s.execute(text("DELETE FROM report_hit"))  # this module's earlier reports
    engine.dispose()

    def public(client: httpx.Client) -> int:
        body = {"category": "noise", "description": "测试", "address": "吉福苑5栋"}
        return client.post("/incidents", json=body).status_code

    try:
        with (
            serve_app(db) as one,
            serve_app(db) as other,
            httpx.Client(base_url=one, timeout=30) as a,
            httpx.Client(base_url=other, timeout=30) as b,
        ):
            codes = [public(a), public(b), public(a), public(b)]
            for _ in range(2):  # staff entering reports for residents are not limited
                r = b.post(
                    "/incidents",
                    json={"category": "noise", "description": "代报", "address": "吉福苑5栋"},
                    headers=tokens["dispatcher"],
                )
                codes.append(r.status_code)
            refused = a.post(
                "/incidents", json={"category": "noise", "description": "测试", "lon": "x"}
            )
    finally:
        os.environ["WANGGE_REPORT_RATE_PER_MINUTE"] = "1000"
        get_settings.cache_clear()
    assert codes == [201, 201, 201, 429, 201, 201]
    assert refused.status_code == 429 and "60" in refused.headers["retry-after"]


def test_now_is_asia_shanghai():
    from geo.incidents import deadlines

    start = datetime(2026, 11, 27, 9, 0, tzinfo=TZ)
    d = deadlines("water_leak", start)
    assert d["accept_due"] == start + timedelta(hours=1)
    assert d["resolve_due"] == start + timedelta(hours=61)
    assert deadlines("unknown", start)["accept_due"] == start + timedelta(hours=2)


def test_idempotency_keys_expire_after_a_day(session):
    """A key older than 24 hours is purged by the next keyed request and may be used again:
    the request is then carried out, not answered from the old record."""
    from geo.runtime.idempotency import idempotent

    session.execute(
        text(
            "INSERT INTO idempotency_key (scope, key, request_hash, response, created_at) "
            "VALUES ('incident', 'old-key', 'x', '{\"code\": \"E-old\"}', now() - interval '25 hours'), "
            "('incident', 'recent-key', 'y', '{\"code\": \"E-recent\"}', now() - interval '23 hours')"
        )
    )
    runs = []

    def work() -> dict:
        runs.append(1)
        return {"code": f"E-new-{len(runs)}"}

    answer, replayed = idempotent(session, "new-key", "incident", {"a": 1}, work, client="")
    assert (answer, replayed) == ({"code": "E-new-1"}, False)
    keys = set(
        session.execute(text("SELECT key FROM idempotency_key WHERE key LIKE '%-key'")).scalars()
    )
    assert keys == {"recent-key", "new-key"}
    answer, replayed = idempotent(session, "old-key", "incident", {"a": 2}, work, client="")
    assert (answer, replayed) == ({"code": "E-new-2"}, False)
