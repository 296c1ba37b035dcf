"""Home visits and emergency notices over real HTTP on a real PostGIS (issue 18, items 4 and
6): a visit by the household's grid worker, refused to a worker of another grid and for a
future date; a problem opinion that becomes an incident in that grid, in one transaction;
visits per scope; a notice that fans out to micro-grids and their workers, acknowledged by
two workers (the share), never more households than a grid holds, only by the grid's worker,
and judged late after its deadline (the clock injected)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, ClassVar

import httpx
import pytest
from sqlalchemy import text

from geo.errors import InputError
from geo.incidents.rules import clock
from geo.notices import acknowledge, get_sender, read_notice
from geo.runtime.auth import Principal, create_user
from geo.settings import Settings, get_settings
from geo.store.db import make_engine, session_scope

from .conftest import run_cli, run_sql, serve_app

pytestmark = pytest.mark.db
STREET = "510107013"


_sql = run_sql


def _whole_grids(db: str) -> list[str]:
    """Micro-grids of the street whose buildings lie wholly in them (a household's building
    point is then in its own grid), with households, by code."""
    rows = _sql(
        db,
        """
        SELECT g.code FROM grid g JOIN grid_version v ON v.id = g.version_id
          AND v.status = 'published' JOIN community c ON c.id = v.community_id
          JOIN street s ON s.id = c.street_id
        WHERE g.level = 'micro' AND s.code = :s AND EXISTS (SELECT 1 FROM household h
          WHERE h.grid_id = g.id) AND NOT EXISTS (SELECT 1 FROM household h
          JOIN household h2 ON h2.building_id = h.building_id
          WHERE h.grid_id = g.id AND h2.grid_id <> g.id)
        ORDER BY g.code""",
        s=STREET,
    )
    return [r[0] for r in rows]


@pytest.fixture(scope="module")
def world(module_db: str) -> dict[str, Any]:
    grids = _whole_grids(module_db)
    assert len(grids) >= 3, grids
    g1, g2, g3 = grids[:3]
    tokens: dict[str, str] = {}
    engine = make_engine(module_db)
    with session_scope(engine) as s:
        for name, role, grid, street in [
            ("w1", "worker", g1, None),
            ("w2", "worker", g2, None),
            ("w3", "worker", g3, None),
            ("disp", "dispatcher", None, STREET),
            ("disp_other", "dispatcher", None, None),
            ("admin", "admin", None, None),
        ]:
            _, tokens[name] = create_user(
                session=s, name=f"vn-{name}", role=role, grid_code=grid, street_code=street
            )
        # the grid workers of g1 and g2 in the worker register: two with phones, one without
        for code, grid, phone in [
            ("VN-W1", g1, "13800000001"),
            ("VN-W2", g2, "13800000002"),
            ("VN-W2B", g2, None),
        ]:
            s.execute(
                text(
                    "INSERT INTO worker (code, name, role, phone, grid_code) VALUES "
                    "(:c, :n, 'micro_grid_worker', :p, :g)"
                ),
                {"c": code, "n": "网格员" + code, "p": phone, "g": grid},
            )
        # a building head (楼栋长) of a building of g1: reached through its building
        s.execute(
            text(
                "INSERT INTO worker (code, name, role, phone, building_code) SELECT 'VN-H1', "
                "'楼栋长', 'building_head', '13800000003', b.code FROM household h JOIN building "
                "b ON b.id = h.building_id JOIN grid g ON g.id = h.grid_id WHERE g.code = :g "
                "ORDER BY h.code LIMIT 1"
            ),
            {"g": g1},
        )
    engine.dispose()
    house = {
        g: _sql(
            module_db,
            "SELECT h.code FROM household h JOIN grid g ON g.id = h.grid_id WHERE g.code = :g "
            "ORDER BY h.code LIMIT 1",
            g=g,
        )[0][0]
        for g in (g1, g2, g3)
    }
    return {"db": module_db, "grids": grids, "g": (g1, g2, g3), "house": house, "tokens": tokens}


@pytest.fixture(scope="module")
def base(world: dict[str, Any]) -> Any:
    with serve_app(world["db"]) as url:
        yield url


def _c(base: str, world: dict[str, Any], who: str) -> httpx.Client:
    return httpx.Client(
        base_url=base,
        timeout=30,
        headers={"Authorization": "Bearer " + world["tokens"][who]},
    )


def _count(db: str, table: str) -> int:
    return int(_sql(db, f"SELECT count(*) FROM {table}")[0][0])


# --- visits --------------------------------------------------------------------------------
def test_a_visit_by_the_grid_worker_is_stored_and_others_are_refused(base, world):
    db, (g1, _, g3) = world["db"], world["g"]
    h1, h3 = world["house"][g1], world["house"][g3]
    with _c(base, world, "w1") as w1:
        r = w1.post("/visits", json={"household": h1, "note": "家中一切正常", "opinion": "表扬　"})
        assert r.status_code == 201, r.text
        v = r.json()
        assert (v["household"], v["grid"], v["opinion"]) == (h1, g1, "praise")
        assert v["date"] == clock().date().isoformat() and "incident" not in v
        stored = _sql(
            db, "SELECT household_code, note, opinion FROM visit WHERE id = :i", i=v["id"]
        )
        assert stored == [(h1, "家中一切正常", "praise")]
        before = _count(db, "visit")
        other = w1.post("/visits", json={"household": h3, "opinion": "none"})
        assert other.status_code == 403 and g3 in other.json()["message"]
        future = (clock().date() + timedelta(days=1)).isoformat()
        late = w1.post("/visits", json={"household": h1, "date": future})
        assert late.status_code == 400 and future in late.json()["message"]
        bad = w1.post("/visits", json={"household": h1, "opinion": "complaint"})
        assert bad.status_code == 400 and "complaint" in bad.json()["message"]
        assert _count(db, "visit") == before
    with _c(base, world, "disp") as d:
        assert d.post("/visits", json={"household": h1}).status_code == 403
    with _c(base, world, "admin") as a:
        ok = a.post(
            "/visits", json={"household": h3, "opinion": "suggestion", "date": "2026-01-05"}
        )
        assert ok.status_code == 201 and ok.json()["date"] == "2026-01-05"


def test_a_problem_opinion_becomes_an_incident_in_that_grid_in_one_transaction(base, world):
    db, (g1, *_) = world["db"], world["g"]
    h1 = world["house"][g1]
    with _c(base, world, "w1") as w1:
        visits, incidents = _count(db, "visit"), _count(db, "incident")
        bad = w1.post(
            "/visits",
            json={
                "household": h1,
                "opinion": "问题",
                "note": "楼道堆物",
                "problem_category": "火灾",
            },
        )
        assert bad.status_code == 400 and "火灾" in bad.json()["message"]
        missing = w1.post("/visits", json={"household": h1, "opinion": "problem", "note": "x"})
        assert missing.status_code == 400
        assert (_count(db, "visit"), _count(db, "incident")) == (visits, incidents)
        r = w1.post(
            "/visits",
            json={
                "household": h1,
                "opinion": "问题",
                "note": "楼道里电动车飞线充电",
                "problem_category": "飞线充电",
            },
        )
        assert r.status_code == 201, r.text
        v = r.json()
        assert v["opinion"] == "problem" and v["problem_category"] == "ebike_charging"
        inc = _sql(
            db,
            "SELECT i.category, i.description, g.code, r.name, r.phone FROM incident i "
            "JOIN grid g ON g.id = i.grid_id JOIN incident_reporter r ON r.incident_id = i.id "
            "WHERE i.code = :c",
            c=v["incident"],
        )
        assert inc == [("ebike_charging", "楼道里电动车飞线充电", g1, None, None)]
        listed = w1.get("/incidents", params={"grid": g1}).json()
        assert v["incident"] in [i["code"] for i in listed["incidents"]]


def test_visits_are_listed_per_scope_with_names_as_households_give_them(base, world):
    db, (g1, g2, g3) = world["db"], world["g"]
    with _c(base, world, "w2") as w2:
        assert w2.post("/visits", json={"household": world["house"][g2]}).status_code == 201
        mine = w2.get("/visits").json()
        assert mine["personal"] and {v["grid"] for v in mine["visits"]} == {g2}
        assert "head_name" in mine["visits"][0]
        assert w2.get("/visits", params={"grid": g1}).status_code == 403
    with _c(base, world, "w1") as w1:
        audits = _count(db, "audit_log")
        own = w1.get("/visits", params={"grid": g1, "since": "2026-01-01"}).json()
        assert own["visits"] and {v["grid"] for v in own["visits"]} == {g1}
        assert _count(db, "audit_log") == audits + 1
        assert w1.get("/visits", params={"since": "yesterday"}).status_code == 400
    with _c(base, world, "disp") as d:
        street = d.get("/visits").json()
        assert not street["personal"] and {g1, g2, g3} <= {v["grid"] for v in street["visits"]}
        assert all("head_name" not in v for v in street["visits"])
        assert all(v.get("note") is None for v in street["visits"])  # the worker's words stay its
    with _c(base, world, "disp_other") as d:
        assert d.get("/visits").json()["visits"] == []


# --- notices -------------------------------------------------------------------------------
def test_a_notice_fans_out_is_acknowledged_and_shows_the_share(base, world):
    db, (g1, g2, g3) = world["db"], world["g"]
    households = dict(
        _sql(
            db,
            "SELECT g.code, count(*) FROM household h JOIN grid g ON g.id = h.grid_id "
            "WHERE g.code = ANY(:g) GROUP BY g.code",
            g=[g1, g2, g3],
        )
    )
    with _c(base, world, "disp") as d:
        r = d.post(
            "/notices", json={"title": "暴雨预警", "body": "请通知住户", "grids": [g1, g2, g3]}
        )
        assert r.status_code == 201, r.text
        sent = r.json()
        nid = sent["id"]
        assert (sent["targets"], sent["households"]) == (3, sum(households.values()))
        targets = _sql(
            db, "SELECT grid_code, households FROM notice_target WHERE notice_id = :n", n=nid
        )
        assert dict(targets) == households
        outbox = _sql(
            db,
            "SELECT grid_code, worker_code, phone, status, sender FROM notice_outbox "
            "WHERE notice_id = :n ORDER BY worker_code",
            n=nid,
        )
        mine = [o for o in outbox if o[1].startswith("VN-")]
        assert mine == [
            (g1, "VN-H1", "13800000003", "sent", "log"),
            (g1, "VN-W1", "13800000001", "sent", "log"),
            (g2, "VN-W2", "13800000002", "sent", "log"),
        ]
        assert all(o[3] == "sent" and o[2] for o in outbox)
        assert sent["messages"] == len(outbox)
    n1, n2 = households[g1] - 1, households[g2]
    with _c(base, world, "w1") as w1:
        over = w1.post(f"/notices/{nid}/ack", json={"grid": g1, "households_reached": 999})
        assert over.status_code == 400
        assert "999" in over.json()["message"] and str(households[g1]) in over.json()["message"]
        stored = _sql(
            db,
            "SELECT count(*) FROM notice_target WHERE notice_id = :n AND (acked_at IS NOT NULL "
            "OR households_reached IS NOT NULL)",
            n=nid,
        )
        assert stored == [(0,)]
        other = w1.post(f"/notices/{nid}/ack", json={"grid": g2, "households_reached": 1})
        assert other.status_code == 403 and g2 in other.json()["message"]
        assert w1.post(f"/notices/{nid}/ack", json={"grid": g1, "households_reached": 1}).is_success
        ok = w1.post(f"/notices/{nid}/ack", json={"grid": g1, "households_reached": n1})
        assert ok.status_code == 200  # a second one updates the count
        listed = w1.get("/notices").json()["notices"]
        assert [m["grid"] for m in listed[0]["mine"]] == [g1]
    with _c(base, world, "w2") as w2:
        assert w2.post(
            f"/notices/{nid}/ack", json={"grid": g2, "households_reached": n2}
        ).is_success
    with _c(base, world, "disp") as d:
        view = d.get(f"/notices/{nid}").json()
        total = sum(households.values())
        assert (view["households"], view["reached"]) == (total, n1 + n2)
        assert view["share"] == pytest.approx((n1 + n2) / total)
        assert view["not_acknowledged"] == [g3] and view["within_target"] is False
        assert view["sent_at"].endswith("+08:00")
        acks = _sql(
            db,
            "SELECT action FROM audit_log WHERE entity = 'notice' AND entity_id = :n ORDER BY id",
            n=str(nid),
        )
        assert [a[0] for a in acks] == [
            "notice_send",
            "notice_ack",
            "notice_ack_update",
            "notice_ack",
        ]
    with _c(base, world, "disp_other") as d:
        assert d.get(f"/notices/{nid}").status_code == 403
        assert (
            d.post("/notices", json={"title": "t", "body": "b", "grids": [g1]}).status_code == 403
        )


def test_a_late_acknowledgement_is_not_within_the_target(base, world):
    db, (g1, *_) = world["db"], world["g"]
    with _c(base, world, "admin") as a:
        r = a.post("/notices", json={"title": "停水", "body": "明早停水", "grids": [g1]})
        assert r.status_code == 201
        nid = r.json()["id"]
    sent = _sql(db, "SELECT sent_at FROM notice WHERE id = :n", n=nid)[0][0]
    engine = make_engine(db)
    w1 = Principal(None, "vn-w1", "worker", g1)
    with session_scope(engine) as s:
        early = read_notice(s, w1, nid, now=sent + timedelta(minutes=1))
        assert early["within_target"] is False and early["target_passed"] is False
        view = acknowledge(
            s, w1, nid, grid=g1, households_reached=1, now=sent + timedelta(minutes=6)
        )
    engine.dispose()
    assert view["within_target"] is False and view["not_acknowledged"] == []
    assert view["target_share"] == 0 and view["share"] > 0
    with _c(base, world, "admin") as a:
        r = a.post("/notices", json={"title": "停电", "body": "今晚停电", "grids": [g1]})
        nid2 = r.json()["id"]
        with _c(base, world, "w1") as w:
            assert w.post(
                f"/notices/{nid2}/ack", json={"grid": g1, "households_reached": 1}
            ).is_success
        on_time = a.get(f"/notices/{nid2}").json()
        assert on_time["within_target"] is True and on_time["target_share"] == on_time["share"]


def test_a_notice_needs_a_scope_and_a_known_sender(base, world):
    with _c(base, world, "disp") as d:
        both = d.post(
            "/notices", json={"title": "t", "body": "b", "street": STREET, "grids": ["x"]}
        )
        assert both.status_code == 400
        assert d.post("/notices", json={"title": "t", "body": "b"}).status_code == 400
        far = d.post("/notices", json={"title": "t", "body": "b", "street": "999999999"})
        assert far.status_code == 403 and "999999999" in far.json()["message"]
        street = d.post("/notices", json={"title": "全街道演练", "body": "b", "street": STREET})
        assert street.status_code == 201 and street.json()["targets"] >= 3
    with _c(base, world, "w1") as w:
        assert (
            w.post("/notices", json={"title": "t", "body": "b", "street": STREET}).status_code
            == 403
        )
    with pytest.raises(ValueError, match="sms"):
        Settings(notice_sender="sms")
    with pytest.raises(InputError, match=r"nowhere\.mod:Sender"):
        get_sender("nowhere.mod:Sender")
    assert get_sender("log").name == "log"


class RefusingSender:
    """A sender plugged in by ``WANGGE_NOTICE_SENDER=tests.test_visits_notices:RefusingSender``
    whose every message fails: refused, or (the first worker) with an exception, as a broken
    gateway would — neither fails the notice."""

    name = "refusing"

    def send(self, *, phone: str, worker: str, message: str) -> bool:
        if worker == "VN-W1":
            raise RuntimeError("短信网关不可用 (gateway down)")
        return False


def test_a_plugged_in_sender_is_used_and_a_broken_one_stops_the_start(base, world, monkeypatch):
    from api.app import create_app

    db, (g1, g2, _) = world["db"], world["g"]
    monkeypatch.setenv("WANGGE_NOTICE_SENDER", "tests.test_visits_notices:RefusingSender")
    get_settings.cache_clear()
    with _c(base, world, "disp") as d:
        r = d.post("/notices", json={"title": "测试", "body": "发送失败", "grids": [g1, g2]})
    assert r.status_code == 201 and r.json()["failed"] == r.json()["messages"] >= 2
    rows = _sql(
        db,
        "SELECT DISTINCT status, sender, sent_at IS NULL FROM notice_outbox WHERE notice_id = :n",
        n=r.json()["id"],
    )
    assert rows == [("failed", "refusing", True)]
    monkeypatch.setenv("WANGGE_NOTICE_SENDER", "tests.nowhere:Sender")
    get_settings.cache_clear()
    with pytest.raises(InputError, match=r"tests\.nowhere:Sender"):
        create_app(db)
    monkeypatch.setenv("WANGGE_NOTICE_SENDER", "sms")
    get_settings.cache_clear()
    with pytest.raises(ValueError, match="sms"):
        create_app(db)


class UnbuildableSender:
    """A sender whose construction fails (a gateway login refused)."""

    name = "unbuildable"

    def __init__(self) -> None:
        raise RuntimeError("短信网关登录失败 (gateway login refused)")

    def send(self, *, phone: str, worker: str, message: str) -> bool:  # pragma: no cover
        return True


class CommitSeeingSender:
    """A sender that looks, from a connection of its own, whether the notice it delivers is
    already committed (``WANGGE_NOTICE_SENDER=tests.test_visits_notices:CommitSeeingSender``)."""

    name = "seeing"
    url = ""
    seen: ClassVar[list[int]] = []

    def send(self, *, phone: str, worker: str, message: str) -> bool:
        nid = int(message.split("【应急通知 ", 1)[1].split("】", 1)[0])
        CommitSeeingSender.seen += [
            _sql(self.url, "SELECT count(*) FROM notice WHERE id = :n", n=nid)[0][0]
        ]
        return True


def test_messages_leave_only_after_the_notice_is_committed(base, world, monkeypatch):
    from geo.notices import send_notice

    db, (g1, g2, _) = world["db"], world["g"]
    CommitSeeingSender.url, CommitSeeingSender.seen = db, []
    monkeypatch.setenv("WANGGE_NOTICE_SENDER", "tests.test_visits_notices:CommitSeeingSender")
    get_settings.cache_clear()
    with _c(base, world, "disp") as d:
        r = d.post("/notices", json={"title": "停水", "body": "明早停水", "grids": [g1, g2]})
    assert r.status_code == 201 and r.json()["sent"] == r.json()["messages"] >= 3, r.text
    assert r.json()["pending"] == r.json()["failed"] == 0
    # each message was handed over when another connection could already read the notice
    assert CommitSeeingSender.seen == [1] * r.json()["messages"]
    # a sender that cannot be built refuses the notice before anything is stored (a retry
    # then sends it once, not twice)
    notices = _count(db, "notice")
    monkeypatch.setenv("WANGGE_NOTICE_SENDER", "tests.test_visits_notices:UnbuildableSender")
    get_settings.cache_clear()
    with _c(base, world, "disp") as d:
        r = d.post("/notices", json={"title": "停电", "body": "今晚停电", "grids": [g1]})
    assert r.status_code >= 400 and _count(db, "notice") == notices, r.text
    # a notice committed whose delivery never ran (the process stopped): pending until
    # `wangge notices deliver`, which sends each once
    monkeypatch.setenv("WANGGE_NOTICE_SENDER", "log")
    get_settings.cache_clear()
    engine = make_engine(db)
    disp = Principal(id=None, name="vn-disp", role="dispatcher", street_code=STREET)
    with session_scope(engine) as s:
        nid = send_notice(s, disp, title="演练", body="应急演练", grids=[g1])["id"]
    engine.dispose()
    status = "SELECT status, count(*) FROM notice_outbox WHERE notice_id = :n GROUP BY status"
    pending = _sql(db, status, n=nid)
    assert pending and [p[0] for p in pending] == ["pending"], pending
    ran = run_cli("notices", "deliver", url=db)
    assert ran.code == 0 and f"已发送 (sent): {pending[0][1]}" in ran.out, ran
    assert _sql(db, status, n=nid) == [("sent", pending[0][1])]
    again = run_cli("notices", "deliver", url=db)
    assert "已发送 (sent): 0" in again.out, again


def test_a_deleted_community_takes_its_households_visits_with_it(fresh_db):
    """A visit names its household by code: kept, its note would come back to the household
    that gets that code when the corrected files are imported again."""
    from geo.communities import delete_community, deletion_preview
    from geo.locate import Locator
    from geo.visits import record_visit

    admin = Principal(id=1, name="admin", role="admin")
    engine = make_engine(fresh_db)
    with session_scope(engine) as s:
        community, household = s.execute(
            text(
                "SELECT c.code, h.code FROM household h JOIN building b ON b.id = h.building_id "
                "JOIN community c ON c.id = b.community_id ORDER BY h.code LIMIT 1"
            )
        ).one()
        record_visit(s, admin, Locator.load(s), household=household, note="独居老人，腿脚不便")
    with session_scope(engine) as s:
        assert deletion_preview(session=s, code=community).deleted["visit"] == 1
        done = delete_community(session=s, code=community, actor="test")
        assert done.deleted["visit"] == 1
    engine.dispose()
    assert _sql(fresh_db, "SELECT count(*) FROM visit")[0][0] == 0
