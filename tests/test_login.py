"""Staff sign-in (issue 17, item 1): unique names, argon2 passwords, the login form, session
cookies stored in PostGIS (idle expiry, logout, CSRF on cookie writes), the same answer for a
wrong name and a wrong password, the throttle per address and per (name, address).

Real PostGIS, real HTTP (the app behind a "trusted proxy" on loopback, so that each test
speaks from client addresses of its own through ``X-Forwarded-For``), the real CLI, and one
sign-in in Chromium."""

from __future__ import annotations

import html
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from geo.runtime.auth import create_user
from geo.settings import get_settings
from geo.store.db import downgrade, make_engine, migrate, session_scope

from . import test_maps
from .conftest import ROOT, serve_app
from .test_maps import Page

browser = test_maps.browser
pytestmark = pytest.mark.db

STREET = "510107013"
PLANNER, DISPATCHER = "规划员甲", "调度员甲"
PW = {PLANNER: "planner-secret-1", DISPATCHER: "dispatcher-secret-2"}


@pytest.fixture(scope="module")
def db(module_db: str) -> str:
    engine = make_engine(module_db)
    with session_scope(engine) as s:
        create_user(session=s, name=PLANNER, role="planner", password=PW[PLANNER])
        create_user(
            session=s,
            name=DISPATCHER,
            role="dispatcher",
            street_code=STREET,
            password=PW[DISPATCHER],
        )
        create_user(session=s, name="令牌用户", role="planner")  # token only, no password
    engine.dispose()
    return module_db


@pytest.fixture(scope="module")
def base(db: str) -> Iterator[str]:
    """The API, believing X-Forwarded-For / -Proto from loopback (a trusted proxy)."""
    old = os.environ.get("WANGGE_TRUSTED_PROXIES")
    os.environ["WANGGE_TRUSTED_PROXIES"] = "127.0.0.1"
    get_settings.cache_clear()
    try:
        with serve_app(db) as url:
            yield url
    finally:
        if old is None:
            os.environ.pop("WANGGE_TRUSTED_PROXIES", None)
        else:
            os.environ["WANGGE_TRUSTED_PROXIES"] = old
        get_settings.cache_clear()


def client(base: str, address: str, **headers: str) -> httpx.Client:
    return httpx.Client(base_url=base, timeout=30, headers={"X-Forwarded-For": address, **headers})


def login(c: httpx.Client, name: str, password: str, **extra: str) -> httpx.Response:
    return c.post("/login", data={"name": name, "password": password, **extra})


def sql(url: str, query: str, **params) -> list:
    engine = make_engine(url)
    with session_scope(engine) as s:
        result = s.execute(text(query), params)
        rows = result.all() if result.returns_rows else []
    engine.dispose()
    return rows


# --- unique names --------------------------------------------------------------------------
def test_the_migration_renames_duplicate_names_and_lists_them(empty_db, capsys):
    engine = make_engine(empty_db)
    downgrade(engine, "0012")
    with session_scope(engine) as s:
        for i, name in enumerate(["林", "林", "林-2", "林", "吴"]):
            s.execute(
                text(
                    "INSERT INTO app_user (name, role, token_hash, token_prefix, expires_at) "
                    "VALUES (:n, 'worker', :h, 'wg_x', now() + interval '1 day')"
                ),
                {"n": name, "h": f"{i:064d}"},
            )
    capsys.readouterr()
    migrate(engine)
    printed = capsys.readouterr().out
    with session_scope(engine) as s:
        names = [r[0] for r in s.execute(text("SELECT name FROM app_user ORDER BY id"))]
    # in id order: the first keeps its name; "林-2" is taken, so the next are -3 and -4
    assert names == ["林", "林-3", "林-2", "林-4", "吴"]
    assert "'林' → '林-3'" in printed and "'林' → '林-4'" in printed
    assert printed.count("duplicate user name renamed") == 2
    with pytest.raises(IntegrityError), session_scope(engine) as s:
        s.execute(
            text(
                "INSERT INTO app_user (name, role, token_hash, token_prefix, expires_at) "
                "VALUES ('吴', 'worker', 'h', 'wg_x', now())"
            )
        )
    engine.dispose()


# --- sign-in, the role's page, cookie flags ------------------------------------------------
def test_sign_in_leads_to_the_roles_page_with_a_session_cookie(base):
    with client(base, "10.0.1.1") as c:
        form = c.get("/login")
        assert form.status_code == 200 and "登录" in form.text
        for hook in ("login-name", "login-password", "login-submit"):
            assert f'data-testid="{hook}"' in form.text
        assert "'unsafe-inline'" not in form.headers["content-security-policy"]
        r = login(c, PLANNER, PW[PLANNER])
        assert r.status_code == 303 and r.headers["location"] == "/app/planner"
        cookie = r.headers["set-cookie"]
        assert "wangge_session=" in cookie and "HttpOnly" in cookie
        assert "samesite=lax" in cookie.lower() and "Secure" not in cookie
        assert PW[PLANNER] not in r.text + cookie
        assert c.get("/maps/planner").status_code == 200  # the cookie alone
        me = c.get("/session").json()
        assert me["user"] == PLANNER and me["role"] == "planner" and me["csrf"]
        assert c.get("/me").json()["name"] == PLANNER
    with client(base, "10.0.1.2") as c:
        r = login(c, DISPATCHER, PW[DISPATCHER], next="/incidents?status=open")
        assert r.status_code == 303 and r.headers["location"] == "/incidents?status=open"
        assert c.get("/maps/dispatcher").status_code == 200
        refused = c.get("/maps/planner")  # a planner-only page
        assert refused.status_code == 403 and "dispatcher" in refused.json()["message"]
        assert c.get("/plans").status_code == 403  # a planner-only API route
    with client(base, "10.0.1.3") as c:
        for bad in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
            r = c.get("/login", params={"next": bad})
            assert r.status_code == 400 and repr(bad) in r.json()["message"]
            r = login(c, PLANNER, PW[PLANNER], next=bad)
            assert r.status_code == 400 and "set-cookie" not in r.headers


def test_the_cookie_is_secure_behind_a_trusted_https_proxy(base, monkeypatch):
    with client(base, "10.0.2.1", **{"X-Forwarded-Proto": "https"}) as c:
        r = login(c, PLANNER, PW[PLANNER])
        assert r.status_code == 303
        cookie = r.headers["set-cookie"]
        assert "Secure" in cookie and "HttpOnly" in cookie and "samesite=lax" in cookie.lower()
    # an https public address: every client comes through it, and pages are under its prefix
    monkeypatch.setenv("WANGGE_PUBLIC_URL", "https://wangge.example.org/gis")
    get_settings.cache_clear()  # the app reads its settings at each request
    with client(base, "10.0.2.2") as c:
        r = login(c, DISPATCHER, PW[DISPATCHER])
        assert r.status_code == 303 and r.headers["location"] == "/gis/app/dispatcher"
        assert "Secure" in r.headers["set-cookie"]


def test_a_sign_in_posted_from_another_site_is_refused(base):
    with client(base, "10.0.2.3", **{"Sec-Fetch-Site": "cross-site"}) as c:
        r = login(c, PLANNER, PW[PLANNER])
        assert r.status_code == 403 and "set-cookie" not in r.headers


def test_a_wrong_name_and_a_wrong_password_get_the_same_answer(base, db):
    def attempt(i: int, name: str, password: str) -> tuple[httpx.Response, float]:
        with client(base, f"10.0.3.{i}") as c:  # an address each: no throttle here
            start = time.perf_counter()
            r = login(c, name, password)
            return r, time.perf_counter() - start

    unknown = [attempt(i, f"无此人{i}", "whatever-123") for i in range(1, 4)]
    wrong = [attempt(10 + i, PLANNER, f"wrong-pass-{i}") for i in range(3)]
    token_only = attempt(20, "令牌用户", "whatever-123")
    answers = [r for r, _ in unknown] + [r for r, _ in wrong] + [token_only[0]]
    names = [f"无此人{i}" for i in range(1, 4)] + [PLANNER] * 3 + ["令牌用户"]
    assert {r.status_code for r in answers} == {401}
    # byte for byte the same page, once the name typed (shown again in the form) is put aside
    bodies = {r.text.replace(html.escape(n), "") for r, n in zip(answers, names, strict=True)}
    assert len(bodies) == 1 and "用户名或密码错误" in bodies.pop()
    assert all("set-cookie" not in r.headers for r in answers)
    # the same work: an unknown name verifies a dummy argon2 hash
    t_unknown = statistics.median(t for _, t in unknown)
    t_wrong = statistics.median(t for _, t in wrong)
    assert 0.5 < t_unknown / t_wrong < 2, (t_unknown, t_wrong)
    rows = sql(
        db,
        "SELECT detail->>'reason', detail::text FROM audit_log WHERE action = 'login_failed' "
        "AND detail->>'address' LIKE '10.0.3.%'",
    )
    assert sorted(r[0] for r in rows) == ["no_password"] + ["password"] * 3 + ["unknown_name"] * 3
    assert not any("wrong-pass" in r[1] or "whatever" in r[1] for r in rows)


def test_429_after_five_failures_a_minute_from_one_address(base, db):
    with client(base, "10.0.4.1") as c:
        for i in range(5):
            assert login(c, f"猜{i}", "guess-guess").status_code == 401
        r = login(c, PLANNER, PW[PLANNER])  # even the right password, from this address
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
        assert "登录失败次数过多" in r.text and "set-cookie" not in r.headers
    with client(base, "10.0.4.2") as other:
        assert login(other, PLANNER, PW[PLANNER]).status_code == 303
    sql(
        db,
        "UPDATE login_attempt SET at = at - interval '61 seconds' WHERE address = '10.0.4.1'",
    )
    with client(base, "10.0.4.1") as c:  # a minute later
        assert login(c, PLANNER, PW[PLANNER]).status_code == 303


def test_the_per_name_backoff_cannot_lock_out_the_real_user(base, db):
    with client(base, "10.0.5.66") as attacker:
        for _ in range(3):
            assert login(attacker, DISPATCHER, "guess-guess").status_code == 401
        # that pair now waits (2 s, doubling): even the right password is refused for now
        r = login(attacker, DISPATCHER, PW[DISPATCHER])
        assert r.status_code == 429 and "retry-after" in r.headers
    with client(base, "10.0.5.7") as dispatcher:  # the real user, from its own address
        assert login(dispatcher, DISPATCHER, PW[DISPATCHER]).status_code == 303
        assert dispatcher.get("/maps/dispatcher").status_code == 200
    sql(db, "UPDATE login_attempt SET at = at - interval '3 seconds' WHERE address = '10.0.5.66'")
    with client(base, "10.0.5.66") as attacker:  # the wait is over: one more try
        assert login(attacker, DISPATCHER, "guess-guess").status_code == 401
        assert login(attacker, DISPATCHER, "guess-guess").status_code == 429  # 4 s now


def test_sessions_and_the_throttle_hold_across_api_processes(base, db):
    """Two apps on one database (as `wangge serve --workers 2`): failures counted by one
    throttle the other, a session made by one works on the other, a logout on one ends it on
    both. Nothing of it is kept in a process."""
    with serve_app(db) as second:
        with client(base, "10.0.11.1") as a, client(second, "10.0.11.1") as b:
            for i in range(3):
                assert login(a, f"甲{i}", "guess-guess").status_code == 401
            for i in range(2):
                assert login(b, f"乙{i}", "guess-guess").status_code == 401
            assert login(a, PLANNER, PW[PLANNER]).status_code == 429
            assert login(b, PLANNER, PW[PLANNER]).status_code == 429
        with client(base, "10.0.11.2") as a, client(second, "10.0.11.2") as b:
            assert login(a, PLANNER, PW[PLANNER]).status_code == 303
            b.cookies.set("wangge_session", a.cookies["wangge_session"])
            csrf = b.get("/session").json()["csrf"]
            assert b.get("/plans").status_code == 200
            assert b.post("/logout", headers={"X-CSRF-Token": csrf}).status_code == 303
            assert a.get("/plans").status_code == 401


# --- CSRF, idle expiry, logout -------------------------------------------------------------
def test_a_cookie_write_needs_the_csrf_token(base, db):
    with client(base, "10.0.6.1") as c:
        assert login(c, PLANNER, PW[PLANNER]).status_code == 303
        body = {"community": "510107013001", "name": "csrf"}
        refused = c.post("/plans", json=body)
        assert refused.status_code == 403 and "X-CSRF-Token" in refused.json()["message"]
        wrong = c.post("/plans", json=body, headers={"X-CSRF-Token": "not-it"})
        assert wrong.status_code == 403
        assert sql(db, "SELECT count(*) FROM plan WHERE name = 'csrf'")[0][0] == 0
        csrf = c.get("/session").json()["csrf"]
        done = c.post("/plans", json=body, headers={"X-CSRF-Token": csrf})
        assert done.status_code == 201, done.text
        assert c.get("/plans").status_code == 200  # reads need no token
    engine = make_engine(db)
    with session_scope(engine) as s:
        _, token = create_user(session=s, name="脚本", role="planner")
    engine.dispose()
    with httpx.Client(base_url=base, timeout=30) as script:  # bearer writes need none
        r = script.post(
            f"/plans/{done.json()['id']}/validate", headers={"Authorization": f"Bearer {token}"}
        )
        assert r.status_code == 200, r.text


def test_a_session_ends_after_the_idle_limit(base, db, monkeypatch):
    monkeypatch.setenv("WANGGE_SESSION_IDLE_MINUTES", "2")
    get_settings.cache_clear()
    with client(base, "10.0.7.1") as c:
        assert login(c, PLANNER, PW[PLANNER]).status_code == 303
        sid = c.cookies["wangge_session"]
        from geo.runtime.auth import hash_token

        def idle_for(seconds: int) -> None:
            sql(
                db,
                "UPDATE user_session SET last_seen_at = now() - make_interval(secs => :s) "
                "WHERE id_hash = :h",
                s=seconds,
                h=hash_token(sid),
            )

        idle_for(100)  # under the two minutes: still signed in, and the use is recorded
        assert c.get("/session").status_code == 200
        (seen,) = sql(
            db,
            "SELECT now() - last_seen_at < interval '10 seconds' FROM user_session "
            "WHERE id_hash = :h",
            h=hash_token(sid),
        )[0]
        assert seen
        idle_for(121)
        r = c.get("/session")
        assert r.status_code == 401 and "inactivity" in r.json()["message"]
        r = c.get("/maps/planner")
        assert r.status_code == 401 and "inactivity" in r.json()["message"]
        assert c.get("/maps/resident").status_code == 200  # public pages still work


def test_logout_ends_the_session_on_the_server(base, db):
    with client(base, "10.0.8.1") as c:
        assert login(c, PLANNER, PW[PLANNER]).status_code == 303
        sid = c.cookies["wangge_session"]
        csrf = c.get("/session").json()["csrf"]
        assert c.post("/logout").status_code == 403  # no CSRF token: not a forged logout
        r = c.post("/logout", headers={"X-CSRF-Token": csrf})
        assert r.status_code == 303 and r.headers["location"] == "/login"
        assert (
            'wangge_session=""' in r.headers["set-cookie"] or "Max-Age=0" in r.headers["set-cookie"]
        )
    # the old cookie, kept by someone: refused everywhere
    with client(base, "10.0.8.2") as thief:
        thief.cookies.set("wangge_session", sid)
        r = thief.get("/session")
        assert r.status_code == 401 and "ended" in r.json()["message"]
        assert thief.get("/plans").status_code == 401
    with client(base, "10.0.8.3") as c:  # a plain HTML form: the token as field csrf
        assert login(c, PLANNER, PW[PLANNER]).status_code == 303
        csrf = c.get("/session").json()["csrf"]
        assert c.post("/logout", data={"csrf": "not-it"}).status_code == 403
        assert c.get("/session").status_code == 200  # a refused logout ends nothing
        assert c.post("/logout", data={"csrf": csrf}).status_code == 303
        assert c.get("/session").status_code == 401
    (action,) = sql(
        db,
        "SELECT action FROM audit_log WHERE action = 'logout' AND actor = :a ORDER BY id DESC "
        "LIMIT 1",
        a=f"planner:{PLANNER}",
    )[0]
    assert action == "logout"


def test_revoking_a_user_ends_its_sessions(base, db):
    from geo.runtime.auth import revoke_user

    engine = make_engine(db)
    with session_scope(engine) as s:
        user, _ = create_user(
            session=s, name="将被撤销", role="planner", password="revoked-password-1"
        )
    with client(base, "10.0.8.5") as c:
        assert login(c, "将被撤销", "revoked-password-1").status_code == 303
        assert c.get("/plans").status_code == 200
        with session_scope(engine) as s:
            revoke_user(session=s, user_id=user.id)
        assert c.get("/plans").status_code == 401
        assert login(c, "将被撤销", "revoked-password-1").status_code == 401
    engine.dispose()


def test_bearer_tokens_keep_working(base, db):
    engine = make_engine(db)
    with session_scope(engine) as s:
        _, token = create_user(session=s, name="令牌调度", role="dispatcher", street_code=STREET)
    engine.dispose()
    with httpx.Client(base_url=base, timeout=30) as c:
        auth = {"Authorization": f"Bearer {token}"}
        assert c.get("/me", headers=auth).json()["name"] == "令牌调度"
        assert c.get("/maps/dispatcher", headers=auth).status_code == 200
        r = c.get("/maps/dispatcher")
        assert r.status_code == 401 and "/login" in r.json()["message"]


# --- the command line ----------------------------------------------------------------------
def _wangge(url: str, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = dict(os.environ) | {"WANGGE_DATABASE_URL": url, "NO_COLOR": "1", "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "api.cli", *args],
        cwd=ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_users_add_and_passwd_take_the_password_from_stdin(base, db):
    name, first, second = "新规划员", "first-password-1", "second-password-2"
    ran = _wangge(
        db,
        "users",
        "add",
        "--role",
        "planner",
        "--name",
        name,
        "--password-stdin",
        stdin=first + "\n",
    )
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip().startswith("wg_")  # the token, as before, for scripts
    assert first not in ran.stdout + ran.stderr
    stored = sql(db, "SELECT password_hash FROM app_user WHERE name = :n", n=name)[0][0]
    assert stored.startswith("$argon2id$") and first not in stored
    short = _wangge(db, "users", "passwd", name, stdin="xq7z9\n")
    assert short.returncode == 1 and "至少 8" in short.stderr and "xq7z9" not in short.stderr
    with client(base, "10.0.9.1") as c:
        assert login(c, name, first).status_code == 303
        ran = _wangge(db, "users", "passwd", name, stdin=second + "\n")
        assert ran.returncode == 0 and second not in ran.stdout + ran.stderr, ran.stderr
        assert c.get("/session").status_code == 401  # a new password signs everyone out
        assert login(c, name, first).status_code == 401
        assert login(c, name, second).status_code == 303
    detail = sql(
        db,
        "SELECT detail::text FROM audit_log WHERE action = 'password_change' ORDER BY id DESC "
        "LIMIT 1",
    )[0][0]
    assert second not in detail and "sessions_ended" in detail
    missing = _wangge(db, "users", "passwd", "无此人", stdin=second + "\n")
    assert missing.returncode == 1 and "'无此人'" in missing.stderr


# --- in Chromium ---------------------------------------------------------------------------
def test_signing_in_in_chromium(base, browser):
    page = Page(browser, headers={"X-Forwarded-For": "10.0.10.1"})
    try:
        p = page.page
        p.goto(base + "/login")
        p.get_by_test_id("login-name").fill(PLANNER)
        p.get_by_test_id("login-password").fill(PW[PLANNER])
        p.get_by_test_id("login-submit").click()
        p.wait_for_url(base + "/app/planner", timeout=20_000)
        p.wait_for_function("() => window.WG && window.WG.ready", timeout=20_000)
        (cookie,) = [c for c in page.ctx.cookies() if c["name"] == "wangge_session"]
        assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
        assert p.evaluate("() => document.cookie").find("wangge_session") == -1
        answer = p.evaluate(
            "async () => { const r = await fetch('/plans'); return [r.status, await r.json()] }"
        )
        assert answer[0] == 200 and "plans" in answer[1]
        me = p.evaluate("async () => (await fetch('/session')).json()")
        assert me["user"] == PLANNER and me["csrf"]
        page.clean()
    finally:
        page.close()
