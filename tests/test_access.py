"""Who may ask what (issue 15): emergency reach within the caller's street, tokens that
expire and record their last use, background jobs one per kind and readable by their owner.

Everything over real HTTP against a private copy of the fixture; users are made with the
`wangge users` command where the test is about what it does."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import text

from geo.runtime.auth import create_user
from geo.store.db import make_engine, session_scope

from .conftest import run_sql, serve_app

pytestmark = pytest.mark.db
STREET, OTHER = "510107013", "510107099"  # the fixture's 晋阳街道, and a street of nobody
C02 = "510107013001-C02"
COMMUNITY = "510107013001"
CHENGDU = ZoneInfo("Asia/Shanghai")  # the clock `wangge users list` shows


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


q = run_sql


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


# --- item 16: tokens expire; the last use is recorded -------------------------------------
def _token(ran) -> str:
    assert ran.code == 0, ran.err
    return ran.out.strip()


def test_an_expired_token_is_refused_with_a_clear_message(api, db, cli):
    # the token's expiry reached (moved to the past in the database, as time would: a
    # token of a few seconds raced a loaded machine); WANGGE_TOKEN_DAYS is the next test's
    token = _token(cli("users", "add", "--role", "planner", "--name", "短命", url=db))
    auth = {"Authorization": f"Bearer {token}"}
    assert api.get("/me", headers=auth).status_code == 200
    q(db, "UPDATE app_user SET expires_at = now() - interval '1 second' WHERE name = '短命'")
    r = api.get("/me", headers=auth)
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    message = r.json()["message"]
    assert "过期" in message and "expired" in message and "users add" in message
    # an unknown token keeps its own message
    r = api.get("/me", headers={"Authorization": "Bearer wg_nothing"})
    assert r.status_code == 401 and "expired" not in r.json()["message"]


def test_tokens_expire_after_the_configured_days(db, cli):
    _token(
        cli(
            "users",
            "add",
            "--role",
            "worker",
            "--name",
            "三十天",
            url=db,
            env={"WANGGE_TOKEN_DAYS": "30"},
        )
    )
    _token(cli("users", "add", "--role", "worker", "--name", "默认", url=db))
    (thirty,), (default,) = (
        q(db, "SELECT expires_at - created_at FROM app_user WHERE name = :n", n=n)[0]
        for n in ("三十天", "默认")
    )
    assert thirty == timedelta(days=30)
    assert default == timedelta(days=90)
    bad = cli(
        "users", "add", "--role", "worker", "--name", "负", url=db, env={"WANGGE_TOKEN_DAYS": "-1"}
    )
    assert bad.code != 0 and "TOKEN_DAYS" in (bad.err + bad.out).upper()


def test_the_last_use_is_recorded_at_most_once_a_minute(api, db, cli):
    token = _token(cli("users", "add", "--role", "dispatcher", "--name", "用过", url=db))
    _token(cli("users", "add", "--role", "dispatcher", "--name", "没用过", url=db))
    auth = {"Authorization": f"Bearer {token}"}
    assert q(db, "SELECT last_used_at FROM app_user WHERE name = '用过'") == [(None,)]
    assert api.get("/me", headers=auth).status_code == 200
    (first,) = q(db, "SELECT last_used_at FROM app_user WHERE name = '用过'")[0]
    assert first is not None and abs(datetime.now(UTC) - first) < timedelta(minutes=1)
    for _ in range(5):  # within the minute: no write
        assert api.get("/me", headers=auth).status_code == 200
    assert q(db, "SELECT last_used_at FROM app_user WHERE name = '用过'") == [(first,)]
    # a minute later (moved back by hand): the next use writes again
    q(
        db,
        "UPDATE app_user SET last_used_at = last_used_at - interval '2 minutes' "
        "WHERE name = '用过' RETURNING 1",
    )
    assert api.get("/me", headers=auth).status_code == 200
    (again,) = q(db, "SELECT last_used_at FROM app_user WHERE name = '用过'")[0]
    assert again > first - timedelta(minutes=2) and again >= first
    listed = cli("users", "list", url=db, env={"COLUMNS": "80"})
    assert listed.code == 0, listed.err
    lines = listed.out.splitlines()
    assert max(len(line) for line in lines) <= 80, listed.out
    used = next(line for line in lines if "用过" in line and "没" not in line)
    never = next(line for line in lines if "没用过" in line)
    today = datetime.now(CHENGDU).strftime("%Y-%m-%d")
    assert today in used and "never" in never and "从未" in never
    expires = (datetime.now(CHENGDU) + timedelta(days=90)).strftime("%Y-%m-%d")
    assert expires in used
    assert "last used" in listed.out and "expires" in listed.out


def test_revocation_still_ends_a_token(api, db, cli):
    token = _token(cli("users", "add", "--role", "worker", "--name", "撤销我", url=db))
    auth = {"Authorization": f"Bearer {token}"}
    assert api.get("/me", headers=auth).status_code == 200
    (uid,) = q(db, "SELECT id FROM app_user WHERE name = '撤销我'")[0]
    assert cli("users", "revoke", str(uid), url=db).code == 0
    r = api.get("/me", headers=auth)
    assert r.status_code == 401 and "revoked" in r.json()["message"]
    listed = cli("users", "list", url=db).out
    assert "revoked" in next(line for line in listed.splitlines() if "撤销我" in line)


def test_the_user_list_shows_expiry_and_last_use(api, users):
    r = api.get("/users", headers=users["headers"]["admin"])
    assert r.status_code == 200
    admin = next(u for u in r.json() if u["name"] == "admin")
    assert admin["expires_at"] and admin["last_used_at"]  # this very request used it
    assert not admin["expired"] and not admin["revoked"]


# --- item 18: one running job per kind; results to their owner and admins -----------------
def _wait(api, job, headers):
    for _ in range(600):
        r = api.get(f"/jobs/{job['id']}", headers=headers)
        assert r.status_code == 200, r.text
        job = r.json()
        if job["status"] in ("done", "failed"):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job did not finish: {job}")


def test_one_running_job_per_kind(api, db, users):
    h = users["headers"]
    # a households job running in another process (its heartbeat is fresh)
    q(
        db,
        "INSERT INTO job (id, kind, status, started_by, worker) VALUES ('busy1', 'households', "
        "'running', 'planner_a', 'elsewhere:1') RETURNING 1",
    )
    try:
        r = api.post("/jobs/assign", json={"kind": "households"}, headers=h["planner_b"])
        assert r.status_code == 409, r.text
        message = r.json()["message"]
        assert "busy1" in message and "households" in message and "planner_a" in message
        assert r.json()["detail"]["running"] == "busy1"
        # another kind is not held up
        r = api.post(
            "/jobs/assign",
            json={"kind": "incidents", "community": COMMUNITY},
            headers=h["planner_b"],
        )
        assert r.status_code == 202, r.text
        assert _wait(api, r.json(), h["planner_b"])["status"] == "done"
        # a job whose process stopped long ago holds nothing up (and is reported failed)
        q(
            db,
            "UPDATE job SET updated_at = now() - interval '10 minutes' WHERE id = 'busy1' "
            "RETURNING 1",
        )
        r = api.post(
            "/jobs/assign",
            json={"kind": "households", "community": COMMUNITY},
            headers=h["planner_b"],
        )
        assert r.status_code == 202, r.text
        assert _wait(api, r.json(), h["planner_b"])["status"] == "done"
        assert q(db, "SELECT status FROM job WHERE id = 'busy1'") == [("failed",)]
    finally:
        q(db, "DELETE FROM job WHERE id = 'busy1' RETURNING 1")


def test_two_jobs_of_a_kind_started_at_once_one_is_refused(api, users):
    """Two requests at the same moment (threads): one job starts, the other is a 409."""
    import concurrent.futures

    h = users["headers"]

    def start(who):
        return api.post(
            "/jobs/assign", json={"kind": "households", "community": COMMUNITY}, headers=h[who]
        )

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(start, ["planner_a", "planner_b"]))
    codes = sorted(r.status_code for r in answers)
    assert codes == [202, 409], [r.text for r in answers]
    started = next(r for r in answers if r.status_code == 202).json()
    refused = next(r for r in answers if r.status_code == 409).json()
    assert started["id"] in refused["message"]
    owner = "planner_a" if started["by"] == "planner_a" else "planner_b"
    _wait(api, started, h[owner])


def test_a_job_is_read_by_its_owner_and_admins_only(api, users):
    h = users["headers"]
    r = api.post(
        "/jobs/assign",
        json={"kind": "households", "community": COMMUNITY},
        headers=h["planner_a"],
    )
    assert r.status_code == 202, r.text
    job = _wait(api, r.json(), h["planner_a"])
    assert job["status"] == "done" and job["result"]["total"] == 4290
    for other in ("planner_b", "disp_own"):
        r = api.get(f"/jobs/{job['id']}", headers=h[other])
        assert r.status_code == 403, (other, r.text)
        assert "result" not in r.text and job["id"] in r.json()["message"]
    r = api.get(f"/jobs/{job['id']}", headers=h["admin"])
    assert r.status_code == 200 and r.json()["result"]["total"] == 4290
    assert api.get("/jobs/nope", headers=h["planner_b"]).status_code == 404


def test_the_upgrade_gives_old_tokens_an_expiry_and_leaves_one_job_per_kind(empty_db):
    """Migration 0011 on a database with users and jobs from before it."""
    from geo.store.db import downgrade, migrate

    engine = make_engine(empty_db)
    downgrade(engine, "0008")
    with session_scope(engine) as s:
        s.execute(
            text(
                "INSERT INTO app_user (name, role, token_hash, token_prefix, created_at) VALUES "
                "('old', 'planner', 'h1', 'wg_x', now() - interval '2 years')"
            )
        )
        s.execute(
            text(
                "INSERT INTO job (id, kind, status, started_by, worker, created_at, updated_at) "
                "VALUES ('lost', 'households', 'running', 'a', 'gone:1', now() - interval '1 h', "
                "now() - interval '1 h'), ('older', 'households', 'running', 'a', 'w:1', "
                "now() - interval '2 s', now()), ('newer', 'households', 'queued', 'a', 'w:1', "
                "now() - interval '1 s', now()), ('inc', 'incidents', 'running', 'a', 'w:1', "
                "now(), now())"
            )
        )
    migrate(engine)
    with session_scope(engine) as s:
        left = s.execute(
            text("SELECT expires_at - now() FROM app_user WHERE name = 'old'")
        ).scalar_one()
        jobs = dict(s.execute(text("SELECT id, status FROM job")).all())
        errors = dict(s.execute(text("SELECT id, error FROM job WHERE error IS NOT NULL")).all())
    engine.dispose()
    assert timedelta(days=89) < left <= timedelta(days=90)  # from the upgrade, not creation
    assert jobs == {"lost": "failed", "older": "failed", "newer": "queued", "inc": "running"}
    assert "gone:1" in errors["lost"] and "0011" in errors["older"]
