"""The reporter's tracking page (/app/track, issue 18) in Chromium on the real app over a real
PostGIS, on a desktop and on a 375 × 667 phone with touch: a report filed through the API,
opened by its link (the token in the fragment only), followed as a dispatcher resolves it,
confirmed by a tap — closed, the outcome shown; the token in no request URL and no referrer;
a wrong token or none gets a plain message; no horizontal scrolling on the phone."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import text

from geo.runtime.auth import create_user
from geo.store.db import make_engine, session_scope

from . import test_maps
from .conftest import serve_app

browser = test_maps.browser
pytestmark = pytest.mark.db

STREET = "510107013"
DESKTOP = {"viewport": {"width": 1280, "height": 900}}
PHONE = {
    "viewport": {"width": 375, "height": 667},
    "has_touch": True,
    "is_mobile": True,
    "device_scale_factor": 2,
}


@pytest.fixture(scope="module")
def db(module_db: str) -> str:
    return module_db


@pytest.fixture(scope="module")
def base(db: str) -> Iterator[str]:
    with serve_app(db) as url:
        yield url


@pytest.fixture(scope="module")
def dispatcher(db: str) -> dict[str, str]:
    engine = make_engine(db)
    with session_scope(engine) as s:
        _, token = create_user(
            session=s, name="跟踪页调度员", role="dispatcher", street_code=STREET
        )
    engine.dispose()
    return {"Authorization": f"Bearer {token}"}


class Tab:
    """A browser context (desktop or phone) that lets only loopback through, recording every
    request URL, console error and failed request."""

    def __init__(self, browser, options: dict) -> None:
        self.ctx = browser.new_context(**options)
        self.page = self.ctx.new_page()
        self.urls: list[str] = []
        self.referers: list[str] = []
        self.errors: list[str] = []
        self.blocked: list[str] = []
        p = self.page
        p.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        p.on("pageerror", lambda e: self.errors.append(str(e)))

        def seen(r) -> None:
            self.urls.append(r.url)
            self.referers.append(r.headers.get("referer", ""))

        p.on("request", seen)

        def route(r) -> None:
            if r.request.url.startswith(("http://127.0.0.1", "data:", "blob:")):
                r.continue_()
            else:
                self.blocked.append(r.request.url)
                r.abort()

        p.route("**/*", route)

    def open(self, url: str) -> None:
        self.page.goto(url)
        self.page.wait_for_function("() => window.WG && window.WG.ready", timeout=20_000)

    def text(self, testid: str) -> str:
        return self.page.get_by_test_id(testid).inner_text()

    def clean(self, *statuses: int) -> None:
        expected = tuple(f"the server responded with a status of {s} " for s in statuses)
        errors = [e for e in self.errors if not any(x in e for x in expected)]
        assert errors == [] and self.blocked == [], (errors, self.blocked)


def _report(base: str) -> dict:
    r = httpx.post(
        base + "/incidents",
        json={
            "category": "油烟扰民",
            "description": "底商油烟直排，晚上更严重",
            "address": "吉福社区吉福苑5栋",
        },
        timeout=30,
    )
    assert r.status_code == 201, r.text
    return r.json()


def _move(base: str, code: str, to: str, who: dict[str, str]) -> None:
    r = httpx.post(
        base + f"/incidents/{code}/transitions",
        json={"to": to, "note": f"仅内部可见XQ7：{to}"},
        headers=who,
        timeout=30,
    )
    assert r.status_code == 200, r.text


def _no_horizontal_scroll(tab: Tab) -> None:
    sizes = tab.page.evaluate(
        "() => [document.documentElement.scrollWidth, document.body.scrollWidth, innerWidth]"
    )
    assert max(sizes[0], sizes[1]) <= sizes[2], sizes


@pytest.mark.parametrize("device", ["desktop", "phone"])
def test_a_reporter_follows_and_confirms_its_report(base, browser, db, dispatcher, device):
    rep = _report(base)
    code, token = rep["code"], rep["reporter_token"]
    tab = Tab(browser, PHONE if device == "phone" else DESKTOP)
    try:
        tab.open(f"{base}/app/track#{code}.{token}")
        p = tab.page
        assert tab.text("track-code") == code
        assert "油烟扰民" in tab.text("track-category")
        assert tab.text("track-status") == "已上报"
        assert "尚无" in tab.text("track-outcome")
        assert p.get_by_test_id("track-event").count() == 1
        assert not p.get_by_test_id("track-confirm").is_visible()
        assert not p.get_by_test_id("track-reopen").is_visible()
        # the fragment is gone from the address bar
        assert p.evaluate("() => location.hash") == "" and token not in p.url
        if device == "phone":
            _no_horizontal_scroll(tab)

        # a dispatcher moves it to another grid of the street and resolves it (API);
        # reloaded, the page shows the new status
        engine = make_engine(db)
        with session_scope(engine) as s:
            other = s.execute(
                text(
                    "SELECT g.code FROM grid g JOIN grid_version v ON v.id = g.version_id AND "
                    "v.status = 'published' WHERE g.level = 'micro' AND g.code <> :m "
                    "AND g.code LIKE '510107013001-%' ORDER BY g.code LIMIT 1"
                ),
                {"m": rep["micro_grid"]},
            ).scalar_one()
        engine.dispose()
        moved = httpx.post(
            base + f"/incidents/{code}/reassign",
            json={"grid": other, "note": "仅内部可见XQ7"},
            headers=dispatcher,
            timeout=30,
        )
        assert moved.status_code == 200, moved.text
        for to in ("accepted", "street_handling", "resolved"):
            _move(base, code, to, dispatcher)
        p.reload()
        p.wait_for_function("() => window.WG && window.WG.ready", timeout=20_000)
        assert tab.text("track-status") == "已办结"
        events = p.get_by_test_id("track-event")
        assert events.count() == 5
        history = tab.text("track-history")
        assert "街镇处置中" in history and "调度员" in history and "改派到其他网格" in history
        assert "XQ7" not in p.content() and "跟踪页调度员" not in p.content()
        if device == "phone":
            _no_horizontal_scroll(tab)

        # the reporter confirms with a tap (a click on the desktop)
        confirm = p.get_by_test_id("track-confirm")
        assert confirm.is_visible() and p.get_by_test_id("track-reopen").is_visible()
        box = confirm.bounding_box()
        assert box and box["height"] >= 44  # a touch target
        p.get_by_test_id("track-note").fill("已经好了，谢谢")
        if device == "phone":
            confirm.tap()
        else:
            confirm.click()
        p.wait_for_function(
            "() => document.querySelector('[data-testid=track-status]').dataset.status"
            " === 'closed'",
            timeout=20_000,
        )
        assert tab.text("track-status") == "已关闭"
        assert tab.text("track-outcome") == "已解决"
        assert "谢谢" in tab.text("message")
        assert not confirm.is_visible() and not p.get_by_test_id("track-reopen").is_visible()
        engine = make_engine(db)
        with session_scope(engine) as s:
            row = s.execute(
                text(
                    "SELECT i.status, i.outcome, e.actor, e.note FROM incident i JOIN "
                    "incident_event e ON e.incident_id = i.id WHERE i.code = :c "
                    "ORDER BY e.id DESC LIMIT 1"
                ),
                {"c": code},
            ).one()
        engine.dispose()
        assert tuple(row) == ("closed", "solved", "reporter", "已经好了，谢谢")

        # a link off the page carries no referrer and the token is in no URL
        p.get_by_test_id("track-home").click()
        p.wait_for_load_state()
        assert p.evaluate("() => document.referrer") == ""
        assert all(token not in u for u in tab.urls), tab.urls
        assert all(token not in r for r in tab.referers)
        api_calls = [u for u in tab.urls if f"/incidents/{code}" in u]
        assert api_calls and all("?" not in u for u in api_calls)
        tab.clean()
    finally:
        tab.ctx.close()


@pytest.mark.parametrize("device", ["desktop", "phone"])
def test_a_wrong_token_or_none_says_so_plainly(base, browser, device):
    rep = _report(base)
    tab = Tab(browser, PHONE if device == "phone" else DESKTOP)
    try:
        tab.open(f"{base}/app/track#{rep['code']}.rp_not-the-token")
        message = tab.text("message")
        assert "无效" in message and "not valid" in message
        assert not tab.page.get_by_test_id("track-status").is_visible()
        assert "底商油烟" not in tab.page.content()
        if device == "phone":
            _no_horizontal_scroll(tab)
        tab.page.evaluate("() => sessionStorage.clear()")
        tab.open(f"{base}/app/track")
        assert "没有跟踪凭证" in tab.text("message")
        tab.clean(403)
    finally:
        tab.ctx.close()


def test_the_page_is_public_strict_and_keeps_no_token(base):
    r = httpx.get(base + "/app/track", timeout=30)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    csp = r.headers["content-security-policy"]
    assert "script-src 'nonce-" in csp and "unsafe-inline" not in csp
    assert "connect-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert r.headers["referrer-policy"] == "no-referrer"
    assert r.headers["cache-control"] == "no-store"
    nonce = csp.split("'nonce-", 1)[1].split("'", 1)[0]
    # the configuration, maps/app_util.js and maps/track.js: each with the nonce, no other
    assert r.text.count(f'<script nonce="{nonce}">') == 3 and r.text.count("<script") == 3
    again = httpx.get(base + "/app/track", timeout=30).headers["content-security-policy"]
    assert again != csp  # a fresh nonce each time
    assert re.search(r"<[^>]*\son[a-z]+\s*=", r.text) is None  # no inline event handlers
