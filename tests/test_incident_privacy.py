"""Who may do and see what with incidents (issue 15, items 1, 2, 5, 6, 10, 17): escalation on
the server's clock within the caller's street, audited; the public's view (no free text, a
position generalised to 50 m, no walkable ids) in answers, OGC items and vector tiles; one
view per audience; rate limits that a rotating X-Forwarded-For cannot slip, with a ceiling
for the whole service; idempotency keys per client with no token stored; addresses with a
room that tell the public nothing about which rooms are registered."""

from __future__ import annotations

import contextlib
import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pyogrio
import pyproj
import pytest
import shapely
from sqlalchemy import text

from geo.runtime.auth import create_user
from geo.store.db import downgrade, make_engine, migrate, session_scope

from .conftest import ROOT, free_port, serve_app

pytestmark = pytest.mark.db
STREET, OTHER_STREET = "510107013", "T-PRIV-S2"
TO_METRIC = pyproj.Transformer.from_crs(4490, 4544, always_xy=True)
TO_STORAGE = pyproj.Transformer.from_crs(4544, 4490, always_xy=True)
TO_WEB = pyproj.Transformer.from_crs(4490, 3857, always_xy=True)


@pytest.fixture(scope="module")
def db(module_db):
    """A private copy of the fixture for this module (it writes)."""
    return module_db


@pytest.fixture(scope="module")
def api(db):
    os.environ["WANGGE_REPORT_RATE_PER_MINUTE"] = "1000"
    os.environ["WANGGE_REPORT_CEILING_PER_MINUTE"] = "100000"
    from geo.settings import get_settings

    get_settings.cache_clear()
    with serve_app(db) as base, httpx.Client(base_url=base, timeout=30) as client:
        yield client
    os.environ.pop("WANGGE_REPORT_RATE_PER_MINUTE", None)
    os.environ.pop("WANGGE_REPORT_CEILING_PER_MINUTE", None)
    get_settings.cache_clear()


@pytest.fixture(scope="module")
def tokens(db):
    engine = make_engine(db)
    out = {}
    with session_scope(engine) as s:
        s.execute(
            text("INSERT INTO street (code, name, district) VALUES (:c, '别的街道', '武侯区')"),
            {"c": OTHER_STREET},
        )
        for name, role, grid, street in [
            ("调度甲", "dispatcher", None, STREET),
            ("调度乙", "dispatcher", None, OTHER_STREET),
            ("调度无街", "dispatcher", None, None),
            ("网格员甲", "worker", "510107013001-C02", None),
            ("admin", "admin", None, None),
        ]:
            _, token = create_user(
                session=s, name=name, role=role, grid_code=grid, street_code=street
            )
            out[name] = {"Authorization": f"Bearer {token}"}
    engine.dispose()
    return out


def _sql(db, sql: str, **params):
    engine = make_engine(db)
    with session_scope(engine) as s:
        result = s.execute(text(sql), params)
        rows = result.all() if result.returns_rows else []
    engine.dispose()
    return rows


def _off_node_point(db, like: str = "%-C02-B05-U2-301") -> tuple[float, float]:
    """A point near a household, 17 m east and 13 m north of a node of the 50 m grid in
    EPSG:4544 (so that it snaps 21.4 m away, to that node)."""
    ((lon, lat),) = _sql(
        db, "SELECT ST_X(position), ST_Y(position) FROM household WHERE code LIKE :c", c=like
    )
    x, y = TO_METRIC.transform(lon, lat)
    x, y = math.floor(x / 50) * 50 + 17, math.floor(y / 50) * 50 + 13
    return TO_STORAGE.transform(x, y)


def _snapped(lon: float, lat: float) -> tuple[float, float]:
    """The public position, computed here independently of PostGIS."""
    x, y = TO_METRIC.transform(lon, lat)
    return TO_STORAGE.transform(round(x / 50) * 50, round(y / 50) * 50)


def _metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    (ax, ay), (bx, by) = TO_METRIC.transform(*a), TO_METRIC.transform(*b)
    return math.hypot(ax - bx, ay - by)


def _report(client, point, headers=None, **extra) -> httpx.Response:
    body = {
        "category": "noise",
        "description": "夜间噪音，楼上持续到凌晨",
        "lon": point[0],
        "lat": point[1],
        "crs": "cgcs2000",
        "reporter_name": "王阿姨",
        "reporter_phone": "17066660001",
    } | extra
    return client.post("/incidents", json=body, headers=headers or {})


def _audit(db, action: str, since: int) -> list[tuple]:
    return _sql(
        db,
        "SELECT actor, entity, entity_id, detail FROM audit_log WHERE action = :a AND id > :n "
        "ORDER BY id",
        a=action,
        n=since,
    )


def _last_audit_id(db) -> int:
    return _sql(db, "SELECT coalesce(max(id), 0) FROM audit_log")[0][0]


# --- item 1: escalation ---------------------------------------------------------------------
def test_escalation_takes_no_time_from_the_request(api, db, tokens):
    code = _report(api, _off_node_point(db)).json()["code"]
    r = api.post(
        "/incidents/escalate",
        params={"at": "2099-01-01T00:00:00+08:00"},
        headers=tokens["调度甲"],
    )
    assert r.status_code == 400, r.text
    assert "2099-01-01T00:00:00+08:00" in r.json()["message"] and "clock" in r.json()["message"]
    full = api.get(f"/incidents/{code}", headers=tokens["调度甲"]).json()
    assert full["status"] == "reported" and full["escalations"] == 0


def test_a_dispatcher_escalates_its_own_street_only_and_each_run_is_audited(api, db, tokens):
    own = _report(api, _off_node_point(db), category="garbage").json()["code"]
    other = _report(api, _off_node_point(db, "%-C03-B02-U1-101"), category="garbage").json()
    other = other["code"]
    _sql(
        db,
        "UPDATE incident SET accept_due = now() - interval '1 minute' WHERE code IN (:a, :b)",
        a=own,
        b=other,
    )
    _sql(
        db,
        "UPDATE incident SET street_id = (SELECT id FROM street WHERE code = :s) WHERE code = :c",
        s=OTHER_STREET,
        c=other,
    )
    since = _last_audit_id(db)
    r = api.post("/incidents/escalate", headers=tokens["调度甲"])
    assert r.status_code == 200, r.text
    done = {e["code"] for e in r.json()["escalated"]}
    assert own in done and other not in done and r.json()["street"] == STREET
    status = dict(
        _sql(db, "SELECT code, status FROM incident WHERE code IN (:a, :b)", a=own, b=other)
    )
    assert status == {own: "street_handling", other: "reported"}
    # the event is signed by the dispatcher, and the run is audited: who, when, which
    actor = _sql(
        db,
        "SELECT e.actor FROM incident_event e JOIN incident i ON i.id = e.incident_id "
        "WHERE i.code = :c AND e.to_status = 'street_handling'",
        c=own,
    )
    assert actor == [("dispatcher:调度甲",)]
    (row,) = _audit(db, "escalate", since)
    assert row[0] == "dispatcher:调度甲" and row[2] == STREET
    assert row[3]["at"] == r.json()["at"] and own in {e["code"] for e in row[3]["incidents"]}
    # the other street's dispatcher escalates its own; one without a street may not
    r = api.post("/incidents/escalate", headers=tokens["调度乙"])
    assert {e["code"] for e in r.json()["escalated"]} == {other}
    nostreet = api.post("/incidents/escalate", headers=tokens["调度无街"])
    assert nostreet.status_code == 403 and "street" in nostreet.json()["message"]
    # an admin's run covers every street, and is audited too (even with nothing to do)
    r = api.post("/incidents/escalate", headers=tokens["admin"])
    assert r.status_code == 200 and r.json()["street"] is None
    assert [a[0] for a in _audit(db, "escalate", since)] == [
        "dispatcher:调度甲",
        "dispatcher:调度乙",
        "admin:admin",
    ]
    assert api.post("/incidents/escalate", headers=tokens["网格员甲"]).status_code == 403


# --- item 2: the public's view -------------------------------------------------------------
PUBLIC_KEYS = {
    "code",
    "category",
    "category_name",
    "status",
    "status_name",
    "outcome",  # how a closed incident ended (issue 18: shown to everyone who sees the status)
    "outcome_name",
    "referred_to",
    "reported_at",
    "micro_grid",
    "compound_grid",
    "community",
    "street",
    "lon",
    "lat",
    "position_precision_m",
    "history",
}


def test_the_public_sees_no_free_text_no_exact_point_and_no_numeric_ids(api, db, tokens):
    point = _off_node_point(db)
    r = _report(api, point, description="私密：302室老人独居")
    assert r.status_code == 201, r.text
    code = r.json()["code"]
    for _ in range(2):  # the same point every time
        pub = api.get(f"/incidents/{code}")
        assert pub.status_code == 200
        body = pub.json()
        assert set(body) == PUBLIC_KEYS, set(body) ^ PUBLIC_KEYS
        assert "私密" not in pub.text and "王阿姨" not in pub.text
        assert (body["lon"], body["lat"]) == pytest.approx(_snapped(*point), abs=1e-7)
        assert 21 < _metres((body["lon"], body["lat"]), point) < 22
        assert all(set(h) == {"at", "to_status"} for h in body["history"])
    # ids are not walkable: a number is no incident to the public, and to a planner
    ((iid,),) = _sql(db, "SELECT id FROM incident WHERE code = :c", c=code)
    gone = api.get(f"/incidents/{iid}")
    assert gone.status_code == 404 and str(iid) in gone.json()["message"]
    assert api.get(f"/incidents/{iid}", headers=tokens["调度甲"]).json()["code"] == code


def test_ogc_items_and_tiles_carry_the_public_position_only(api, db, tmp_path: Path):
    point = _off_node_point(db, "%-C03-B02-U1-201")
    code = _report(api, point, category="greening", description="树枝遮挡 私密").json()["code"]
    pub = _snapped(*point)
    item = api.get(f"/ogc/collections/incidents/items/{code}").json()
    assert item["geometry"]["coordinates"] == pytest.approx(list(pub), abs=1e-7)
    assert not {"description", "address", "floor"} & set(item["properties"])
    # a bounding box selects by the public position: a box around the exact point alone
    # finds nothing, so boxes cannot be shrunk onto it
    d = 0.00002  # about 2 m
    exact_box = f"{point[0] - d},{point[1] - d},{point[0] + d},{point[1] + d}"
    public_box = f"{pub[0] - d},{pub[1] - d},{pub[0] + d},{pub[1] + d}"
    ids = {
        box: {
            f["id"]
            for f in api.get(
                "/ogc/collections/incidents/items", params={"bbox": box, "limit": 1000}
            ).json()["features"]
        }
        for box in (exact_box, public_box)
    }
    assert code not in ids[exact_box] and code in ids[public_box]
    # the vector tile holding the public point has it there (to the tile's precision)
    z = 20
    n = 2**z
    x = int((pub[0] + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(pub[1]))) / math.pi) / 2 * n)
    tile = api.get(f"/tiles/incidents/{z}/{x}/{y}.mvt")
    assert tile.status_code == 200 and tile.content
    path = tmp_path / str(z) / str(x) / f"{y}.pbf"
    path.parent.mkdir(parents=True)
    path.write_bytes(tile.content)
    frame = pyogrio.read_dataframe(path, layer="incidents")
    assert "description" not in frame.columns
    (geom,) = frame.geometry[frame["code"] == code]
    web_pub, web_exact = (shapely.Point(TO_WEB.transform(*p)) for p in (pub, point))
    assert geom.distance(web_pub) < 0.1 and geom.distance(web_exact) > 20


# --- item 5: one view per audience --------------------------------------------------------
def test_transition_answers_hold_no_reporter_and_the_reporter_no_staff_names(api, db, tokens):
    r = _report(api, _off_node_point(db))
    code, token = r.json()["code"], r.json()["reporter_token"]
    d = tokens["调度甲"]
    since = _last_audit_id(db)
    for to, note in [("accepted", "内部：联系物业张经理"), ("resolved", "内部：已警告住户")]:
        moved = api.post(f"/incidents/{code}/transitions", json={"to": to, "note": note}, headers=d)
        assert moved.status_code == 200, moved.text
        assert "reporter" not in moved.json() and "王阿姨" not in moved.text
        assert "17066660001" not in moved.text
    assert _audit(db, "read_personal", since) == []
    # the reporter's own view: its description, statuses and deadline; roles, not names;
    # no internal notes
    mine = api.get(f"/incidents/{code}", headers={"X-Reporter-Token": token})
    assert mine.status_code == 200, mine.text
    body = mine.json()
    assert body["description"] == "夜间噪音，楼上持续到凌晨" and body["status"] == "resolved"
    assert [h["by"] for h in body["history"]] == ["reporter", "dispatcher", "dispatcher"]
    assert "调度甲" not in mine.text and "内部" not in mine.text and "reporter" not in body
    assert body["allowed"] == ["closed", "reopened"]
    wrong = api.get(f"/incidents/{code}", headers={"X-Reporter-Token": "rp_wrong"})
    assert wrong.status_code == 403
    closed = api.post(
        f"/incidents/{code}/transitions",
        json={"to": "closed", "note": "谢谢", "reporter_token": token},
    )
    assert closed.status_code == 200, closed.text
    assert "调度甲" not in closed.text and "内部" not in closed.text
    assert closed.json()["history"][-1] == closed.json()["history"][-1] | {
        "by": "reporter",
        "note": "谢谢",
    }
    # staff in scope read the reporter on the incident itself, and that read is audited
    full = api.get(f"/incidents/{code}", headers=d).json()
    assert full["reporter"] == {"name": "王阿姨", "phone": "17066660001"}
    ((iid,),) = _sql(db, "SELECT id FROM incident WHERE code = :c", c=code)
    audited = _audit(db, "read_personal", since)
    assert [(a[0], a[1], a[2]) for a in audited] == [
        ("dispatcher:调度甲", "incident_reporter", str(iid))
    ]


def test_the_report_answer_is_the_reporters_view(api, db):
    r = _report(api, _off_node_point(db))
    assert r.status_code == 201
    body = r.json()
    assert body["description"] and body["reporter_token"].startswith("rp_")
    assert "id" not in body and "reporter" not in body and "王阿姨" not in r.text
    assert all(set(h) <= {"at", "from_status", "to_status", "by", "note"} for h in body["history"])


# --- item 6: who the client is, and a ceiling for the whole service -----------------------
@contextlib.contextmanager
def wangge_serve(db: str, **env: str) -> Iterator[str]:
    """``wangge serve`` in a process of its own (the way the service is run), on ``db``."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=dict(os.environ) | {"WANGGE_DATABASE_URL": db} | env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base + "/ping", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(f"wangge serve did not start: {proc.stderr.read()!r}")
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        proc.wait(10)


def _public_reports(base: str, point, forwarded: list[str]) -> list[int]:
    codes = []
    with httpx.Client(base_url=base, timeout=30) as c:
        for i, xff in enumerate(forwarded):
            body = {
                "category": "noise",
                "description": f"轮换 {i}",
                "lon": point[0],
                "lat": point[1],
                "crs": "cgcs2000",
            }
            r = c.post("/incidents", json=body, headers={"X-Forwarded-For": xff})
            codes.append(r.status_code)
    return codes


def test_a_client_rotating_x_forwarded_for_is_still_limited(db):
    """By default no proxy is trusted, loopback included: the limit keys on the address that
    connected, whatever X-Forwarded-For says."""
    _sql(db, "DELETE FROM report_hit")
    point = _off_node_point(db)
    with wangge_serve(db, WANGGE_REPORT_RATE_PER_MINUTE="3") as base:
        codes = _public_reports(base, point, [f"203.0.113.{i}" for i in range(1, 6)])
    assert codes == [201, 201, 201, 429, 429]


def test_trusted_proxies_and_the_service_wide_ceiling(db, tokens):
    """Behind a trusted proxy each forwarded client has its own limit (the right-most hop the
    proxy added, not what the client wrote before it); all public clients together stop at
    the ceiling; staff are not counted."""
    _sql(db, "DELETE FROM report_hit")
    point = _off_node_point(db)
    env = {
        "WANGGE_TRUSTED_PROXIES": "127.0.0.1, ::1",
        "WANGGE_REPORT_RATE_PER_MINUTE": "2",
        "WANGGE_REPORT_CEILING_PER_MINUTE": "5",
    }
    with wangge_serve(db, **env) as base:
        a = "198.51.100.7"
        per_client = _public_reports(
            base, point, [a, f"1.2.3.4, {a}", f"5.6.7.8, {a}", "198.51.100.8"]
        )
        ceiling = _public_reports(base, point, ["198.51.100.9", "198.51.100.10", "198.51.100.11"])
        with httpx.Client(base_url=base, timeout=30) as c:
            refused = c.post(
                "/incidents",
                json={"category": "noise", "description": "x", "lon": point[0], "lat": point[1]},
                headers={"X-Forwarded-For": "198.51.100.12"},
            )
            staff = _report(c, point, headers=tokens["调度甲"])
    assert per_client == [201, 201, 429, 201]
    assert ceiling == [201, 201, 429]  # 2 + 1 + 2 = 5 a minute for the whole service
    assert refused.status_code == 429 and "at most 5" in refused.json()["message"]
    assert staff.status_code == 201


# --- item 10: idempotency keys ---------------------------------------------------------------
def test_idempotency_keys_belong_to_their_client_and_store_no_token(api, db, tokens):
    point = _off_node_point(db)
    key = {"Idempotency-Key": "shared-key-1"}
    first = _report(api, point, headers=tokens["调度甲"] | key, description="调度代报")
    assert first.status_code == 201, first.text
    # another client with the same key is neither blocked nor answered with the first report
    other = _report(api, point, headers=tokens["网格员甲"] | key, description="网格员代报")
    assert other.status_code == 201, other.text
    assert other.json()["code"] != first.json()["code"]
    assert "Idempotent-Replayed" not in other.headers
    # nothing stored holds a reporter token
    stored = _sql(db, "SELECT response::text FROM idempotency_key WHERE key = :k", k="shared-key-1")
    assert len(stored) == 2 and not any("rp_" in row[0] for row in stored)
    # a retry gets the first report again, with a new token that works (the first stops)
    again = _report(api, point, headers=tokens["调度甲"] | key, description="调度代报")
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["code"] == first.json()["code"]
    old, new = first.json()["reporter_token"], again.json()["reporter_token"]
    assert new != old
    code = first.json()["code"]
    assert api.get(f"/incidents/{code}", headers={"X-Reporter-Token": new}).status_code == 200
    assert api.get(f"/incidents/{code}", headers={"X-Reporter-Token": old}).status_code == 403


def test_the_migration_clears_stored_answers_holding_tokens(empty_db):
    engine = make_engine(empty_db)
    downgrade(engine, "0008")
    with session_scope(engine) as s:
        s.execute(
            text(
                "INSERT INTO idempotency_key (scope, key, request_hash, response) VALUES "
                "('incident', 'with-token', 'h', '{\"code\": \"E1\", \"reporter_token\": "
                "\"rp_secret\"}'), ('other', 'without', 'h', '{\"code\": \"E2\"}')"
            )
        )
    migrate(engine)
    with session_scope(engine) as s:
        rows = s.execute(text("SELECT key, client, response FROM idempotency_key")).all()
    engine.dispose()
    assert rows == [("without", "", {"code": "E2"})]


def test_public_idempotency_keys_are_per_client_address(db):
    _sql(db, "DELETE FROM report_hit")
    point = _off_node_point(db)
    env = {"WANGGE_TRUSTED_PROXIES": "127.0.0.1", "WANGGE_REPORT_RATE_PER_MINUTE": "100"}
    with wangge_serve(db, **env) as base, httpx.Client(base_url=base, timeout=30) as c:

        def post(client: str, text_: str) -> httpx.Response:
            body = {
                "category": "noise",
                "description": text_,
                "lon": point[0],
                "lat": point[1],
                "crs": "cgcs2000",
            }
            headers = {"X-Forwarded-For": client, "Idempotency-Key": "victim-key"}
            return c.post("/incidents", json=body, headers=headers)

        squatter = post("198.51.100.20", "抢先占用")
        victim = post("198.51.100.21", "真正的报告")
        retry = post("198.51.100.21", "真正的报告")
    assert squatter.status_code == victim.status_code == 201, victim.text
    assert victim.json()["code"] != squatter.json()["code"]
    assert retry.json()["code"] == victim.json()["code"]
    assert retry.headers["Idempotent-Replayed"] == "true"


# --- item 17: addresses with a room ---------------------------------------------------------
UNIT = "云锦城市花园3栋2单元"


def test_the_public_locate_stops_at_the_unit(api, tokens):
    answers = {
        room: api.get("/locate", params={"address": UNIT + room}) for room in ("502", "9999", "")
    }
    assert {r.status_code for r in answers.values()} == {200}, answers["9999"].text
    for r in answers.values():
        assert r.json()["address"]["household"] is None and r.json()["address"]["room"] is None
        assert r.json()["address"]["level"] == "unit"
        assert "-U2-502" not in r.text
    # the same answer whether the room is registered or not
    same = [{k: v for k, v in r.json().items() if k != "address"} for r in answers.values()]
    assert same[0] == same[1] == same[2]
    # staff keep the full answer
    staff = api.get("/locate", params={"address": UNIT + "502"}, headers=tokens["调度甲"])
    assert staff.json()["address"]["household"].endswith("-C01-B03-U2-502")
    missing = api.get("/locate", params={"address": UNIT + "9999"}, headers=tokens["调度甲"])
    assert missing.status_code == 404 and "no such room" in missing.json()["message"]


def test_other_public_address_lookups_tell_no_rooms(api):
    near = api.get("/nearby", params={"address": UNIT + "9999", "limit": 3})
    assert near.status_code == 200, near.text
    registered = api.get("/nearby", params={"address": UNIT + "502", "limit": 3}).json()
    assert near.json()["features"] == registered["features"]
    body = {"category": "water_leak", "description": "漏水", "address": UNIT + "9999"}
    r = api.post("/incidents", json=body)
    assert r.status_code == 201, r.text
    assert "closest" not in r.text and "-U2-" not in json.dumps(r.json()["history"])
