"""Who sees what: a matrix of role × endpoint × own/other grid, personal data never in public
or planner answers, every read of personal data audit-logged; emergency reach."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import text

from geo.runtime.auth import create_user
from geo.store.db import make_engine, session_scope

from .conftest import serve_app

pytestmark = pytest.mark.db
C02, C05, STREET = "510107013001-C02", "510107013001-C05", "510107013"


@pytest.fixture(scope="module")
def db(module_db):
    """A private copy of the fixture for this module (it writes)."""
    return module_db


@pytest.fixture(scope="module")
def world(db):
    """Users of every role, an incident in C02 and one in C05, and a known resident."""
    engine = make_engine(db)
    headers = {"anonymous": {}}
    with session_scope(engine) as s:
        for name, role, grid, street in [
            ("public", "public", None, None),
            ("worker_own", "worker", C02, None),
            ("worker_other", "worker", C05, None),
            ("dispatcher", "dispatcher", None, STREET),
            ("planner", "planner", None, None),
            ("admin", "admin", None, None),
        ]:
            _, token = create_user(
                session=s, name=name, role=role, grid_code=grid, street_code=street
            )
            headers[name] = {"Authorization": f"Bearer {token}"}
        micro_c02 = s.execute(
            text(
                "SELECT g.code FROM grid g JOIN grid_version v ON v.id = g.version_id AND "
                "v.status = 'published' WHERE g.parent_id = (SELECT id FROM grid WHERE code = :c "
                "AND version_id = v.id) ORDER BY g.code LIMIT 1"
            ),
            {"c": C02},
        ).scalar_one()
        micro_c05 = s.execute(
            text(
                "SELECT g.code FROM grid g JOIN grid_version v ON v.id = g.version_id AND "
                "v.status = 'published' WHERE g.parent_id = (SELECT id FROM grid WHERE code = :c "
                "AND version_id = v.id) ORDER BY g.code LIMIT 1"
            ),
            {"c": C05},
        ).scalar_one()
        # a known resident of each of the two micro-grids
        persons = [
            tuple(
                s.execute(
                    text(
                        "SELECT hp.head_name, hp.phone FROM household_person hp JOIN household h "
                        "ON h.id = hp.household_id JOIN grid g ON g.id = h.grid_id "
                        "WHERE g.code = :g ORDER BY h.code LIMIT 1"
                    ),
                    {"g": g},
                ).one()
            )
            for g in (micro_c02, micro_c05)
        ]
    engine.dispose()
    with serve_app(db) as base, httpx.Client(base_url=base, timeout=30) as client:
        inc = {}
        for key, address in (("own", "吉福苑5栋"), ("other", "吉瑞花园3栋")):
            r = client.post(
                "/incidents",
                json={
                    "category": "noise",
                    "description": "测试",
                    "address": address,
                    "reporter_name": "报告人甲",
                    "reporter_phone": "17099990000",
                },
            )
            assert r.status_code == 201, r.text
            inc[key] = r.json()["code"]
        yield {
            "client": client,
            "headers": headers,
            "micro_c02": micro_c02,
            "micro_c05": micro_c05,
            "incident": inc,
            "persons": persons,
        }


# (endpoint, role) → expected status; own = C02 worker's grid, other = C05
CASES = {
    "households_own": {
        "anonymous": 401,
        "public": 403,
        "worker_own": 200,
        "worker_other": 403,
        "dispatcher": 403,
        "planner": 200,
        "admin": 200,
    },
    "households_other": {
        "anonymous": 401,
        "public": 403,
        "worker_own": 403,
        "worker_other": 200,
        "dispatcher": 403,
        "planner": 200,
        "admin": 200,
    },
    "incidents": {
        "anonymous": 401,
        "public": 403,
        "worker_own": 200,
        "worker_other": 200,
        "dispatcher": 200,
        "planner": 403,
        "admin": 200,
    },
    "incident_own": {
        "anonymous": 200,
        "public": 200,
        "worker_own": 200,
        "worker_other": 403,
        "dispatcher": 200,
        "planner": 200,
        "admin": 200,
    },
    "incident_other": {
        "anonymous": 200,
        "public": 200,
        "worker_own": 403,
        "worker_other": 200,
        "dispatcher": 200,
        "planner": 200,
        "admin": 200,
    },
    "nearby": dict.fromkeys(
        ("anonymous", "public", "worker_own", "worker_other", "dispatcher", "planner", "admin"), 200
    ),
    "locate": dict.fromkeys(
        ("anonymous", "public", "worker_own", "worker_other", "dispatcher", "planner", "admin"), 200
    ),
    "grids": dict.fromkeys(
        ("anonymous", "public", "worker_own", "worker_other", "dispatcher", "planner", "admin"), 200
    ),
    "coverage": {
        "anonymous": 401,
        "public": 403,
        "worker_own": 403,
        "worker_other": 403,
        "dispatcher": 403,
        "planner": 200,
        "admin": 200,
    },
    "reach": {
        "anonymous": 401,
        "public": 403,
        "worker_own": 403,
        "worker_other": 403,
        "dispatcher": 200,
        "planner": 403,
        "admin": 200,
    },
}
# who may see residents' and reporters' names and phones in each answer
PERSONAL = {
    ("households_own", "worker_own"),
    ("households_own", "admin"),
    ("households_other", "worker_other"),
    ("households_other", "admin"),
    ("incident_own", "worker_own"),
    ("incident_own", "dispatcher"),
    ("incident_own", "admin"),
    ("incident_other", "worker_other"),
    ("incident_other", "dispatcher"),
    ("incident_other", "admin"),
}


def _request(w, endpoint):
    inc = w["incident"]
    return {
        "households_own": ("/households", {"grid": w["micro_c02"]}),
        "households_other": ("/households", {"grid": w["micro_c05"]}),
        "incidents": ("/incidents", {}),
        "incident_own": (f"/incidents/{inc['own']}", {}),
        "incident_other": (f"/incidents/{inc['other']}", {}),
        "nearby": ("/nearby", {"address": "吉福苑5栋", "limit": 3}),
        "locate": ("/locate", {"address": "吉福苑5栋"}),
        "grids": ("/grids", {"level": "micro", "limit": 5}),
        "coverage": ("/coverage", {"kind": "party_service_centre"}),
        "reach": ("/emergency/reach", {"street": STREET}),
    }[endpoint]


@pytest.mark.parametrize("endpoint", list(CASES))
@pytest.mark.parametrize(
    "role", ["anonymous", "public", "worker_own", "worker_other", "dispatcher", "planner", "admin"]
)
def test_role_matrix(world, endpoint, role):
    path, params = _request(world, endpoint)
    r = world["client"].get(path, params=params, headers=world["headers"][role])
    assert r.status_code == CASES[endpoint][role], (endpoint, role, r.text[:300])
    secrets = [v for person in world["persons"] for v in person] + ["报告人甲", "17099990000"]
    shown = any(v in r.text for v in secrets)
    assert shown == ((endpoint, role) in PERSONAL and r.status_code == 200), (endpoint, role)


def test_a_grid_worker_sees_its_households_and_nobody_elses(world):
    c, h = world["client"], world["headers"]["worker_own"]
    mine = c.get("/households", params={"grid": C02}, headers=h).json()
    assert mine["personal"] and mine["numberMatched"] == 432
    assert all(x["micro_grid"].startswith(C02 + "-") for x in mine["households"])
    assert all(x["head_name"] for x in mine["households"])
    assert c.get("/households", params={"grid": C05}, headers=h).status_code == 403
    assert c.get("/households", params={"grid": "510107013001"}, headers=h).status_code == 403


def test_reads_of_personal_data_are_audit_logged(world, db):
    c = world["client"]
    engine = make_engine(db)
    with session_scope(engine) as s:
        before = s.execute(
            text("SELECT count(*) FROM audit_log WHERE action = 'read_personal'")
        ).scalar_one()
    c.get(
        "/households", params={"grid": world["micro_c02"]}, headers=world["headers"]["worker_own"]
    )
    c.get(f"/incidents/{world['incident']['own']}", headers=world["headers"]["dispatcher"])
    c.get("/households", params={"grid": world["micro_c02"]}, headers=world["headers"]["planner"])
    with session_scope(engine) as s:
        rows = s.execute(
            text(
                "SELECT actor, entity FROM audit_log WHERE action = 'read_personal' ORDER BY id "
                "OFFSET :n"
            ),
            {"n": before},
        ).all()
    engine.dispose()
    assert rows == [
        ("worker:worker_own", "household_person"),
        ("dispatcher:dispatcher", "incident_reporter"),
    ]


def test_emergency_reach(world, db):
    c, h = world["client"], world["headers"]["dispatcher"]
    full = c.get("/emergency/reach", params={"street": STREET}, headers=h).json()
    assert full["households"] == 4290 and full["unreachable_count"] == 0
    district = next(iter(full["tree"]))
    assert district == "武侯区"
    assert 0 < full["within_target_share"] <= 1 and full["within_3h_share"] == 1
    # a building without its head: its households are listed as unreachable
    engine = make_engine(db)
    with session_scope(engine) as s:
        s.execute(
            text("UPDATE worker SET building_code = NULL WHERE building_code = :b"),
            {"b": "510107013001-C02-B05"},
        )
    engine.dispose()
    part = c.get(
        "/emergency/reach",
        params={"grids": C02, "hop_minutes": "0.5,0.5,0.5,0.5", "households_per_minute": 60},
        headers=h,
    ).json()
    assert part["households"] == 432 and part["unreachable_count"] == 36
    assert all("-C02-B05-" in code for code in part["unreachable"])
    slow = c.get(
        "/emergency/reach", params={"grids": C02, "hop_minutes": "2,2,2,2"}, headers=h
    ).json()
    assert slow["within_target_share"] == 0  # 8 minutes of hops already miss the 5
    bad = c.get("/emergency/reach", params={"grids": C02, "hop_minutes": "1,x"}, headers=h)
    assert bad.status_code == 400
