"""The incident console (/app/dispatcher, issue 18 item 1) clicked in Chromium against the
real app over a real PostGIS: a dispatcher signs in and sees its street's queue (exactly what
GET /incidents gives it), a resident's new report appears within 5 s without a reload, the
detail shows the grid chain, workers and the reporter's contact (that read audited), the
dispatcher moves it to street handling with a note; a grid worker of another grid does not
see it, the grid's own worker does; the locate box answers an address and a click; the page
is refused without a session (to the sign-in form) and to a planner; no request leaves
loopback."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from geo.runtime.auth import create_user
from geo.store.db import make_engine, session_scope

from . import test_maps
from .conftest import run_sql, serve_app
from .test_maps import Page

browser = test_maps.browser
pytestmark = pytest.mark.db

STREET = "510107013"
DISPATCHER, PLANNER = "调度台调度员", "调度台规划员"
PW = "console-password-1"
ADDRESS = "吉福社区云锦城市花园3栋2单元"


_sql = run_sql


@pytest.fixture(scope="module")
def db(module_db: str) -> str:
    """A dispatcher of the fixture's street, a planner, and two grid workers: one of the grid
    of ADDRESS, one of another grid."""
    engine = make_engine(module_db)
    with session_scope(engine) as s:
        create_user(session=s, name=DISPATCHER, role="dispatcher", street_code=STREET, password=PW)
        create_user(session=s, name=PLANNER, role="planner", password=PW)
    engine.dispose()
    return module_db


@pytest.fixture(scope="module")
def base(db: str) -> Iterator[str]:
    with serve_app(db) as url:
        yield url


def _grid_of(base: str) -> str:
    r = httpx.get(base + "/locate", params={"address": ADDRESS}, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()["chain"]["micro_grid"]["code"]


def _workers(db: str, base: str) -> tuple[str, str]:
    """Grid-worker users of the grid of ADDRESS and of another micro-grid (made once)."""
    mine = _grid_of(base)
    other = _sql(
        db,
        "SELECT g.code FROM grid g JOIN grid_version v ON v.id = g.version_id AND "
        "v.status = 'published' WHERE g.level = 'micro' AND g.code <> :c ORDER BY g.code LIMIT 1",
        c=mine,
    )[0][0]
    engine = make_engine(db)
    with session_scope(engine) as s:
        for name, grid in (("本格网格员", mine), ("他格网格员", other)):
            if not _sql(db, "SELECT 1 FROM app_user WHERE name = :n", n=name):
                create_user(session=s, name=name, role="worker", grid_code=grid, password=PW)
    engine.dispose()
    return "本格网格员", "他格网格员"


def _sign_in(browser, base: str, name: str) -> Page:
    page = Page(browser)
    p = page.page
    p.goto(base + "/app/dispatcher")
    p.wait_for_url("**/login?next=**", timeout=20_000)
    p.get_by_test_id("login-name").fill(name)
    p.get_by_test_id("login-password").fill(PW)
    p.get_by_test_id("login-submit").click()
    p.wait_for_url(base + "/app/dispatcher*", timeout=20_000)
    p.wait_for_function("() => window.WG && window.WG.ready", timeout=30_000)
    return page


def _listed(p) -> list[str]:
    return p.eval_on_selector_all(
        '[data-testid="incident-item"]', "els => els.map(e => e.dataset.code)"
    )


def _api(p, path: str) -> Any:
    return p.evaluate(
        "async (path) => { const r = await fetch(path); return [r.status, await r.json()] }", path
    )


def test_the_console_asks_for_a_sign_in_and_a_dispatcher(base):
    with httpx.Client(base_url=base, timeout=30) as c:
        r = c.get("/app/dispatcher")
        assert r.status_code == 303 and r.headers["location"] == "/login?next=/app/dispatcher"
        assert c.post("/login", data={"name": PLANNER, "password": PW}).status_code == 303
        refused = c.get("/app/dispatcher")
        assert refused.status_code == 403 and "planner" in refused.json()["message"]
    with httpx.Client(base_url=base, timeout=30) as c:
        signed = c.post("/login", data={"name": DISPATCHER, "password": PW})
        assert signed.status_code == 303 and signed.headers["location"] == "/app/dispatcher"
        page = c.get("/app/dispatcher")
        assert page.status_code == 200 and "事件调度台" in page.text
        assert "'unsafe-inline'" not in page.headers["content-security-policy"].split(";")[1]


def test_a_dispatcher_handles_a_new_report_in_the_console(base, browser, db):
    mine, other = _workers(db, base)
    page = _sign_in(browser, base, DISPATCHER)
    p = page.page
    try:
        # the queue is the street's: what GET /incidents gives this dispatcher
        status, answer = _api(p, "/incidents?limit=1000")
        assert status == 200
        assert sorted(_listed(p)) == sorted(i["code"] for i in answer["incidents"])
        before = set(_listed(p))

        # a resident reports (no sign-in): it shows within 5 s, without a reload
        t0 = time.monotonic()
        r = httpx.post(
            base + "/incidents",
            json={
                "category": "noise",
                "description": "夜里装修电钻声，调度台测试",
                "address": ADDRESS,
                "reporter_phone": "13800001234",
            },
            timeout=30,
        )
        assert r.status_code == 201, r.text
        code = r.json()["code"]
        item = p.locator(f'[data-testid="incident-item"][data-code="{code}"]')
        item.wait_for(timeout=5_000)
        shown_after = time.monotonic() - t0
        assert shown_after < 5.0 and set(_listed(p)) - before == {code}

        # its detail: chain, workers, the reporter's phone (that read audited)
        audits = _sql(db, "SELECT count(*) FROM audit_log WHERE action = 'read_personal'")[0][0]
        item.click()
        detail = p.get_by_test_id("incident-detail")
        p.get_by_test_id("detail-status").wait_for()
        assert _grid_of(base) in p.get_by_test_id("detail-chain").inner_text()
        assert "13800001234" in p.get_by_test_id("detail-reporter").inner_text()
        assert (
            _sql(db, "SELECT count(*) FROM audit_log WHERE action = 'read_personal'")[0][0] > audits
        )
        p.wait_for_function(
            "() => !document.querySelector('[data-testid=detail-workers]').innerText.includes('…')"
        )
        assert "夜里装修电钻声" in detail.inner_text()

        # accept, then street handling with a note: the buttons are the allowed next states
        p.get_by_test_id("transition-accepted").click()
        p.wait_for_function(
            "() => document.querySelector('[data-testid=detail-status]').dataset.status === 'accepted'"
        )
        assert p.get_by_test_id("transition-street_handling").is_visible()
        p.get_by_test_id("transition-note").fill("需街道协调夜间施工")
        p.get_by_test_id("transition-street_handling").click()
        p.wait_for_function(
            "() => document.querySelector('[data-testid=detail-status]').dataset.status === "
            "'street_handling'"
        )
        status, inc = _api(p, f"/incidents/{code}")
        assert status == 200 and inc["status"] == "street_handling"
        assert inc["history"][-1]["note"] == "需街道协调夜间施工"
        assert item.get_attribute("data-status") == "street_handling"

        # the locate box: an address, then a click on the map
        p.get_by_test_id("locate-input").fill(ADDRESS)
        p.get_by_test_id("locate-submit").click()
        chain = p.get_by_test_id("locate-chain")
        chain.wait_for()
        assert chain.get_attribute("data-grid") == _grid_of(base)
        lon, lat = inc["lon"], inc["lat"]
        x, y = p.evaluate(
            "([lon, lat]) => { const m = window.WG.map, pt = m.latLngToContainerPoint([lat, lon]),"
            " r = m.getContainer().getBoundingClientRect(); return [pt.x + r.left + 30, pt.y + "
            "r.top + 30] }",
            [lon, lat],
        )
        p.evaluate("() => document.querySelector('[data-testid=locate-result]').innerHTML = ''")
        p.mouse.click(x, y)
        p.get_by_test_id("locate-chain").wait_for()
        clicked = p.evaluate(
            "([x, y]) => { const m = window.WG.map, r = m.getContainer().getBoundingClientRect(),"
            " ll = m.containerPointToLatLng([x - r.left, y - r.top]); return [ll.lng, ll.lat] }",
            [x, y],
        )
        expected = httpx.get(
            base + "/locate", params={"lon": clicked[0], "lat": clicked[1]}, timeout=30
        ).json()["chain"]["micro_grid"]["code"]
        assert p.get_by_test_id("locate-chain").get_attribute("data-grid") == expected
        test_maps.Page.clean(page)
    finally:
        page.close()

    # the grid's own worker sees it; a worker of another grid does not
    for name, sees in ((mine, True), (other, False)):
        wpage = _sign_in(browser, base, name)
        try:
            assert (code in _listed(wpage.page)) is sees, name
            status, answer = _api(wpage.page, "/incidents?limit=1000")
            assert sorted(_listed(wpage.page)) == sorted(i["code"] for i in answer["incidents"])
            wpage.clean()
        finally:
            wpage.close()


def test_the_console_polls_changes_only_and_merges_them(base, browser, db):
    """Between whole reloads the console asks only for what changed (``since=``) and merges
    it: with the status filter on 上报 (reported), a new report joins the list and one that
    another hand accepts leaves it, both without a reload; the list is then what GET
    /incidents?status=reported gives."""
    page = _sign_in(browser, base, DISPATCHER)
    p = page.page
    asked: list[str] = []
    p.on("request", lambda r: asked.append(r.url) if "/incidents?" in r.url else None)
    try:
        p.get_by_test_id("filter-status").select_option("reported")
        p.wait_for_function("() => window.WG.console.full >= 2")  # the start and the filter
        r = httpx.post(
            base + "/incidents",
            json={"category": "noise", "description": "合并测试", "address": ADDRESS},
            timeout=30,
        )
        assert r.status_code == 201, r.text
        code = r.json()["code"]
        item = p.locator(f'[data-testid="incident-item"][data-code="{code}"]')
        item.wait_for(timeout=5_000)
        accepted = p.evaluate(
            """async (code) => {
              const s = await (await fetch('/session')).json();
              const r = await fetch('/incidents/' + code + '/transitions', {method: 'POST',
                headers: {'Content-Type': 'application/json', 'X-CSRF-Token': s.csrf},
                body: JSON.stringify({to: 'accepted', note: '另一窗口受理'})});
              return r.status }""",
            code,
        )
        assert accepted == 200
        item.wait_for(state="detached", timeout=5_000)
        polled = [u for u in asked if "since=" in u]
        assert polled and all("status=" not in u for u in polled), asked
        assert p.evaluate("window.WG.console.full") < p.evaluate("window.WG.console.polls")
        status, answer = _api(p, "/incidents?status=reported&limit=500")
        assert status == 200
        assert sorted(_listed(p)) == sorted(i["code"] for i in answer["incidents"])
        page.clean()
    finally:
        page.close()
