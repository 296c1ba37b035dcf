"""Who may ask what (issue 15): emergency reach within the caller's street, tokens that
expire and record their last use, background jobs one per kind and readable by their owner.

Everything over real HTTP against a private copy of the fixture; users are made with the
`wangge users` command where the test is about what it does."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import text

from geo.auth import create_user
from geo.db import make_engine, session_scope

from .conftest import serve_app

pytestmark = pytest.mark.db
STREET, OTHER = "510107013", "510107099"  # the fixture's 晋阳街道, and a street of nobody
C02 = "510107013001-C02"
COMMUNITY = "510107013001"


@pytest.fixture(scope="module")
def db(module_db):
    """A private copy of the fixture (the tests write users and jobs)."""
    engine = make_engine(module_db)
    with session_scope(engine) as s:
        s.execute(
            text("INSERT INTO street (code, name, district) VALUES (:c, '测试街道', '武侯区')"),
            {"c": OTHER},
        )
    engine.dispose()
    return module_db


@pytest.fixture(scope="module")
def users(db):
    """Bearer headers by name, and each user's id."""
    engine = make_engine(db)
    headers, ids = {}, {}
    with session_scope(engine) as s:
        for name, role, street in [
            ("disp_own", "dispatcher", STREET),
            ("disp_other", "dispatcher", OTHER),
            ("disp_none", "dispatcher", None),
            ("planner_a", "planner", None),
            ("planner_b", "planner", None),
            ("admin", "admin", None),
        ]:
            user, token = create_user(session=s, name=name, role=role, street_code=street)
            headers[name] = {"Authorization": f"Bearer {token}"}
            ids[name] = user.id
    engine.dispose()
    return {"headers": headers, "ids": ids}


@pytest.fixture(scope="module")
def api(db, users):
    with serve_app(db) as base, httpx.Client(base_url=base, timeout=60) as client:
        yield client


def q(url: str, sql: str, **params):
    engine = make_engine(url)
    try:
        with session_scope(engine) as s:
            return s.execute(text(sql), params).all()
    finally:
        engine.dispose()


# --- item 4: emergency reach within the caller's street --------------------------------------
def test_a_dispatcher_reaches_its_own_street_only(api, users):
    h = users["headers"]
    mine = api.get("/emergency/reach", params={"street": STREET}, headers=h["disp_own"])
    assert mine.status_code == 200 and mine.json()["households"] == 4290
    # another street's dispatcher: neither the street nor a grid in it
    r = api.get("/emergency/reach", params={"street": STREET}, headers=h["disp_other"])
    assert r.status_code == 403, r.text
    message = r.json()["message"]
    assert STREET in message and OTHER in message and "not yours" in message
    r = api.get("/emergency/reach", params={"grids": C02}, headers=h["disp_other"])
    assert r.status_code == 403, r.text
    assert C02 in r.json()["message"] and STREET in r.json()["message"]
    r = api.get(
        "/emergency/reach", params={"grids": f"{C02},510107013001-C05"}, headers=h["disp_other"]
    )
    assert r.status_code == 403
    # its own street (no community yet): an empty answer, not a refusal
    own = api.get("/emergency/reach", params={"street": OTHER}, headers=h["disp_other"])
    assert own.status_code == 200 and own.json()["households"] == 0
    # the fixture street's dispatcher may not look into the other street either
    r = api.get("/emergency/reach", params={"street": OTHER}, headers=h["disp_own"])
    assert r.status_code == 403 and OTHER in r.json()["message"]
    # its own grids, by code
    r = api.get("/emergency/reach", params={"grids": C02}, headers=h["disp_own"])
    assert r.status_code == 200 and r.json()["households"] == 432


def test_a_dispatcher_without_a_street_reaches_nothing(api, users):
    r = api.get(
        "/emergency/reach", params={"street": STREET}, headers=users["headers"]["disp_none"]
    )
    assert r.status_code == 403
    assert "--street" in r.json()["message"]


def test_an_admin_reaches_any_street(api, users):
    h = users["headers"]["admin"]
    for street, households in ((STREET, 4290), (OTHER, 0)):
        r = api.get("/emergency/reach", params={"street": street}, headers=h)
        assert r.status_code == 200 and r.json()["households"] == households
    r = api.get("/emergency/reach", params={"street": "NOPE"}, headers=h)
    assert r.status_code == 404 and "'NOPE'" in r.json()["message"]
