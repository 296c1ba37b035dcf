"""The grid worker's page (/app/worker) and the dispatcher's notices page (/app/notices) in
Chromium against the real app over a real PostGIS (issue 18, items 4–6): a dispatcher on a
desktop sends an emergency notice to two grids; two grid workers, each on a 375 × 667 phone
with touch, sign in, acknowledge it with the households they reached; the dispatcher's page
shows the expected share and then no grid missing; a worker records a visit with a problem
opinion and the incident appears in its list. No horizontal scrolling on the phone, no request
leaving loopback, no script error."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from geo.runtime.auth import create_user
from geo.store.db import make_engine, session_scope

from . import test_maps
from .conftest import serve_app
from .test_maps import Page
from .test_visits_notices import _sql, _whole_grids

browser = test_maps.browser
pytestmark = pytest.mark.db

STREET = "510107013"
DISPATCHER, W1, W2 = "通知调度员", "手机网格员甲", "手机网格员乙"
PW = {DISPATCHER: "notices-dispatcher-pw", W1: "phone-worker-pw-1", W2: "phone-worker-pw-2"}


@pytest.fixture(scope="module")
def world(module_db: str) -> dict[str, Any]:
    g1, g2 = _whole_grids(module_db)[:2]
    engine = make_engine(module_db)
    with session_scope(engine) as s:
        create_user(
            session=s,
            name=DISPATCHER,
            role="dispatcher",
            street_code=STREET,
            password=PW[DISPATCHER],
        )
        create_user(session=s, name=W1, role="worker", grid_code=g1, password=PW[W1])
        create_user(session=s, name=W2, role="worker", grid_code=g2, password=PW[W2])
        households = dict(
            s.execute(
                text(
                    "SELECT g.code, count(*) FROM household h JOIN grid g ON g.id = h.grid_id "
                    "WHERE g.code = ANY(:g) GROUP BY g.code"
                ),
                {"g": [g1, g2]},
            ).all()
        )
    engine.dispose()
    return {"db": module_db, "g1": g1, "g2": g2, "households": households}


@pytest.fixture(scope="module")
def base(world: dict[str, Any]) -> Iterator[str]:
    with serve_app(world["db"]) as url:
        yield url


class PhonePage(Page):
    """Page on a 375 × 667 phone with touch (every request off loopback blocked)."""

    def __init__(self, browser: Any) -> None:
        super().__init__(browser)
        self.ctx.close()
        self.ctx = browser.new_context(
            viewport={"width": 375, "height": 667}, has_touch=True, is_mobile=True,
            device_scale_factor=2,
        )  # fmt: skip
        self.page = self.ctx.new_page()
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("requestfailed", lambda r: self.failed.append(r.url))

        def route(r: Any) -> None:
            if r.request.url.startswith(("data:", "http://127.0.0.1", "blob:")):
                r.continue_()
            else:
                self.blocked.append(r.request.url)
                r.abort()

        self.page.route("**/*", route)


def _sign_in(page: Page, base: str, path: str, name: str, tap: bool = False) -> Any:
    p = page.page
    p.goto(base + path)
    p.wait_for_url("**/login?next=**", timeout=20_000)
    p.get_by_test_id("login-name").fill(name)
    p.get_by_test_id("login-password").fill(PW[name])
    submit = p.get_by_test_id("login-submit")
    submit.tap() if tap else submit.click()
    p.wait_for_url(base + path + "*", timeout=20_000)
    p.wait_for_function("() => window.WG && window.WG.ready", timeout=30_000)
    return p


def _no_horizontal_scroll(p: Any) -> None:
    width, inner = p.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert width <= inner, (width, inner)


def test_the_pages_ask_for_a_sign_in_and_the_right_role(base, world):
    with httpx.Client(base_url=base, timeout=30) as c:
        r = c.get("/app/worker")
        assert r.status_code == 303 and r.headers["location"] == "/login?next=/app/worker"
        assert c.get("/app/notices").headers["location"] == "/login?next=/app/notices"
        assert c.post("/login", data={"name": W1, "password": PW[W1]}).status_code == 303
        page = c.get("/app/worker")
        assert page.status_code == 200 and "网格员工作台" in page.text
        assert (
            "'unsafe-inline'"
            not in page.headers["content-security-policy"].split("script-src")[1].split(";")[0]
        )
        assert world["g1"] in page.text and world["g2"] not in page.text
        assert c.get("/app/worker", params={"grid": world["g1"]}).status_code == 200
        theirs = c.get("/app/worker", params={"grid": world["g2"]})
        assert theirs.status_code == 403 and world["g2"] in theirs.json()["message"]
        refused = c.get("/app/notices")
        assert refused.status_code == 403 and "worker" in refused.json()["message"]
    with httpx.Client(base_url=base, timeout=30) as c:
        c.post("/login", data={"name": DISPATCHER, "password": PW[DISPATCHER]})
        assert c.get("/app/notices").status_code == 200
        assert c.get("/app/worker").status_code == 403
    engine = make_engine(world["db"])
    with session_scope(engine) as s:
        _, admin = create_user(session=s, name="页面管理员", role="admin")
    engine.dispose()
    with httpx.Client(base_url=base, timeout=30, headers={"Authorization": "Bearer " + admin}) as c:
        missing = c.get("/app/worker", params={"grid": "NOPE-GRID"})
        assert missing.status_code == 404 and "NOPE-GRID" in missing.json()["message"]
        assert world["g2"] in c.get("/app/worker", params={"grid": world["g2"]}).text
        assert c.get("/app/notices").status_code == 200


def test_a_notice_acknowledged_on_two_phones_and_a_visit_with_a_problem(browser, base, world):
    g1, g2, hh = world["g1"], world["g2"], world["households"]
    desk = Page(browser)
    d = _sign_in(desk, base, "/app/notices", DISPATCHER)
    d.get_by_test_id("notice-title").fill("暴雨红色预警")
    d.get_by_test_id("notice-body").fill("请立即通知低洼楼栋住户转移")
    d.get_by_test_id("notice-grids").select_option([g1, g2])
    d.get_by_test_id("notice-send").click()
    d.wait_for_function(
        "() => document.querySelectorAll('[data-testid=notice-missing] li[data-code]').length === 2",
        timeout=10_000,
    )
    assert d.get_by_test_id("notice-share").inner_text() == "0.0%"
    nid = d.evaluate("() => window.WG.notices.watching")
    assert (
        _sql(world["db"], "SELECT count(*) FROM notice_target WHERE notice_id = :n", n=nid)[0][0]
        == 2
    )

    reached = {g1: hh[g1] - 1, g2: hh[g2]}
    phones = []
    for name, grid in ((W1, g1), (W2, g2)):
        phone = PhonePage(browser)
        phones.append(phone)
        p = _sign_in(phone, base, "/app/worker", name, tap=True)
        assert p.evaluate("() => window.innerWidth") == 375
        items = p.locator(f'[data-testid="notice-item"][data-id="{nid}"]')
        assert items.count() == 1 and items.get_attribute("data-grid") == grid
        items.get_by_test_id("notice-reached").fill(str(reached[grid]))
        items.get_by_test_id("notice-ack").tap()
        p.wait_for_function(
            "() => document.querySelector('[data-testid=message]').textContent.includes('已确认')",
            timeout=10_000,
        )
        _no_horizontal_scroll(p)
    stored = _sql(
        world["db"],
        "SELECT grid_code, households_reached FROM notice_target WHERE notice_id = :n",
        n=nid,
    )
    assert dict(stored) == reached

    total = hh[g1] + hh[g2]
    expected = f"{100 * (reached[g1] + reached[g2]) / total:.1f}%"
    d.wait_for_function(
        "(want) => document.querySelector('[data-testid=notice-share]').textContent === want",
        arg=expected,
        timeout=10_000,
    )  # refreshed every 3 s, without reloading
    assert d.locator('[data-testid="notice-missing"] li[data-code]').count() == 0

    # a visit with a problem on the first phone: the incident in that worker's list
    p = phones[0].page
    assert p.locator('[data-testid="worker-grid"]').count() == 1
    assert p.locator('[data-testid="worker-household"]').count() == hh[g1]
    house = p.locator('[data-testid="worker-household"]').first.get_attribute("data-code")
    head = _sql(
        world["db"],
        "SELECT hp.head_name FROM household_person hp JOIN household h ON h.id = hp.household_id "
        "WHERE h.code = :c",
        c=house,
    )[0][0]
    assert head in p.locator('[data-testid="worker-household"]').first.inner_text()
    reads = _sql(
        world["db"],
        "SELECT entity_id FROM audit_log WHERE actor = :a AND action = 'read_personal' "
        "AND entity = 'household_person'",
        a=f"worker:{W1}",
    )
    assert (g1,) in reads  # the names the page shows were read through GET /households
    p.get_by_test_id("visit-household").select_option(house)
    assert not p.get_by_test_id("visit-problem-category").is_visible()
    p.get_by_test_id("visit-opinion").select_option("problem")
    assert p.get_by_test_id("visit-problem-category").is_visible()
    p.get_by_test_id("visit-problem-category").select_option("ebike_charging")
    p.get_by_test_id("visit-note").fill("三楼楼道飞线给电动车充电")
    p.get_by_test_id("visit-submit").tap()
    p.wait_for_function("() => window.WG.worker.lastVisit", timeout=10_000)
    code = p.evaluate("() => window.WG.worker.lastVisit.incident")
    assert code and code in p.get_by_test_id("message").inner_text()
    p.wait_for_selector(f'[data-testid="worker-incident"][data-id="{code}"]', timeout=10_000)
    assert _sql(
        world["db"],
        "SELECT v.household_code, g.code FROM visit v JOIN incident i ON i.id = v.incident_id "
        "JOIN grid g ON g.id = i.grid_id WHERE i.code = :c",
        c=code,
    ) == [(house, g1)]
    _no_horizontal_scroll(p)
    # the other worker's phone does not list it
    other = phones[1].page
    other.reload()
    other.wait_for_function("() => window.WG && window.WG.ready", timeout=30_000)
    assert other.locator(f'[data-testid="worker-incident"][data-id="{code}"]').count() == 0
    phones[0].shot("worker-phone")
    desk.shot("notices-desktop")
    for page in (desk, *phones):
        page.clean()
        page.close()
