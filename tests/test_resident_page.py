"""The residents' page (/app/resident) in Chromium against the real app over a real PostGIS,
on a 375 × 667 phone with touch and on a desktop: search by service (长者食堂 lists the places
that really offer it; a nonsense term gets suggestions, and one clicked gets results),
reporting an incident by tapping the map (stored within 1 m of the tapped point, with the
category and description typed; the phone stored only when given), an address not found
shown as the server says it, no horizontal scrolling and 44 px buttons on the phone, and no
request leaving loopback."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from geo.store.db import make_engine, session_scope

from . import test_maps
from .conftest import run_sql, serve_app
from .test_maps import Page
from .test_service_search import _offering

browser = test_maps.browser
pytestmark = pytest.mark.db

PHONE = {
    "viewport": {"width": 375, "height": 667},
    "has_touch": True,
    "is_mobile": True,
    "device_scale_factor": 2,
}
DESKTOP = {"viewport": {"width": 1280, "height": 900}}
BAD_ADDRESS = "吉福社区没有这个花园99栋1单元"


class Device(Page):
    """:class:`tests.test_maps.Page` in a context of its own (a phone, or a desktop)."""

    def __init__(self, browser, context: dict[str, Any]) -> None:
        super().__init__(browser)
        self.ctx.close()
        self.ctx = browser.new_context(**context)
        self.page = self.ctx.new_page()
        self.touch = bool(context.get("has_touch"))
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("requestfailed", lambda r: self.failed.append(r.url))

        def route(r):
            url = r.request.url
            if url.startswith(("file:", "data:", "http://127.0.0.1", "blob:")):
                r.continue_()
            else:
                self.blocked.append(url)
                r.abort()

        self.page.route("**/*", route)

    def press(self, testid: str) -> None:
        el = self.page.get_by_test_id(testid)
        el.tap() if self.touch else el.click()

    def clean_but(self, *statuses: int) -> None:
        """No script error, no failed or blocked request, but for answers with these statuses
        (the page's own business, logged by Chromium)."""
        expected = tuple(f"the server responded with a status of {s} " for s in statuses)
        self.errors[:] = [e for e in self.errors if not any(x in e for x in expected)]
        self.clean()


@pytest.fixture(scope="module")
def db(module_db: str) -> str:
    return module_db


@pytest.fixture(scope="module")
def base(db: str) -> Iterator[str]:
    with serve_app(db) as url:
        yield url


_sql = run_sql


@pytest.fixture(params=["phone", "desktop"])
def device(request, browser) -> Iterator[Device]:
    d = Device(browser, PHONE if request.param == "phone" else DESKTOP)
    yield d
    d.close()


def _open(d: Device, base: str):
    p = d.page
    p.goto(base + "/app/resident")
    p.wait_for_function("() => window.WG && window.WG.ready", timeout=30_000)
    return p


def _codes(p, testid: str) -> list[str]:
    return p.eval_on_selector_all(
        f'[data-testid="{testid}"]', "els => els.map(e => e.dataset.code)"
    )


# --- over HTTP -----------------------------------------------------------------------------
def test_the_page_is_public_under_its_policy(base):
    with httpx.Client(base_url=base, timeout=30) as c:
        r = c.get("/app/resident")
        assert r.status_code == 200 and "社区服务与事件上报" in r.text
        csp = r.headers["content-security-policy"]
        assert "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]
        missing = c.get("/app/resident?community=999999999999")
        assert missing.status_code == 404 and "999999999999" in missing.json()["message"]


# --- in Chromium ---------------------------------------------------------------------------
def test_search_by_service_and_suggestions(device, base, db):
    p = _open(device, base)
    p.get_by_test_id("service-input").fill("长者食堂")
    device.press("service-submit")
    p.wait_for_selector('[data-testid="service-item"]', timeout=20_000)
    engine = make_engine(db)
    with session_scope(engine) as s:
        expect = _offering(s, "长者食堂")
    engine.dispose()
    assert expect and set(_codes(p, "service-item")) == set(expect)

    p.get_by_test_id("service-input").fill("居主证")
    device.press("service-submit")
    p.wait_for_selector('[data-testid="service-suggestion"]', timeout=20_000)
    assert _codes(p, "service-item") == []
    names = p.eval_on_selector_all(
        '[data-testid="service-suggestion"]', "els => els.map(e => e.textContent)"
    )
    chosen = next(n for n in names if "居住证" in n)
    p.get_by_test_id("service-suggestion").filter(has_text=chosen).first.click()
    p.wait_for_selector('[data-testid="service-item"]', timeout=20_000)
    assert p.get_by_test_id("service-input").input_value() == chosen
    literal = {
        r[0]
        for r in _sql(
            db,
            "SELECT code FROM facility WHERE :s = ANY(services) UNION "
            "SELECT code FROM open_resource WHERE :s = ANY(services)",
            s=chosen,
        )
    }
    assert literal and literal <= set(_codes(p, "service-item"))
    device.clean_but(404)  # GET /incidents/categories, until the server has it


def _tap_point(d: Device, db: str) -> tuple[float, float, float, float]:
    """Centre the map on a point inside the community (in a compound, off the buildings), tap
    it; return the screen point tapped and the latlng the map gives for it."""
    (lon, lat) = _sql(
        db,
        "SELECT ST_X(q), ST_Y(q) FROM (SELECT ST_PointOnSurface(ST_Difference(c.boundary, "
        "(SELECT ST_Union(ST_Buffer(footprint, 0.00002)) FROM building))) q FROM compound c "
        "ORDER BY c.code LIMIT 1) x",
    )[0]
    p = d.page
    p.evaluate(
        "([lat, lon]) => window.WG.map.setView([lat, lon], 18, {animate: false})", [lat, lon]
    )
    p.wait_for_timeout(200)
    x, y = p.evaluate(
        "([lon, lat]) => { const m = window.WG.map, pt = m.latLngToContainerPoint([lat, lon]),"
        " r = m.getContainer().getBoundingClientRect(); return [pt.x + r.left, pt.y + r.top] }",
        [lon, lat],
    )
    if d.touch:
        p.touchscreen.tap(x, y)
    else:
        p.mouse.click(x, y)
    p.wait_for_function("() => window.WG.resident.report !== null", timeout=10_000)
    glon, glat = p.evaluate(
        "([x, y]) => { const m = window.WG.map, r = m.getContainer().getBoundingClientRect(),"
        " ll = m.containerPointToLatLng([x - r.left, y - r.top]); return [ll.lng, ll.lat] }",
        [x, y],
    )
    return x, y, glon, glat


def _no_side_scroll(p) -> None:
    assert p.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    heights = p.eval_on_selector_all(
        "#wg-sheet button",
        "els => els.filter(e => e.offsetParent !== null)"
        ".map(e => [e.dataset.testid || e.textContent, e.getBoundingClientRect().height])",
    )
    assert heights and all(h >= 44 for _, h in heights), heights


@pytest.mark.parametrize("phone_given", [False, True])
def test_report_by_tapping_the_map(device, base, db, phone_given):
    p = _open(device, base)
    if device.touch:
        _no_side_scroll(p)
    device.press("report-start")
    assert p.get_by_test_id("report-form").is_visible()
    _, _, lon, lat = _tap_point(device, db)
    option = p.get_by_test_id("report-category").locator("option", has_text="油烟扰民")
    p.get_by_test_id("report-category").select_option(option.get_attribute("value"))
    words = f"楼下餐馆油烟直排 {'有电话' if phone_given else '匿名'} {device.touch}"
    p.get_by_test_id("report-description").fill(words)
    assert p.get_by_test_id("report-privacy").inner_text().startswith("谁能看到什么")
    assert not p.get_by_test_id("report-phone").is_visible()
    if phone_given:
        p.get_by_test_id("report-anonymous").uncheck()
        p.get_by_test_id("report-phone").fill("13800001234")
    if device.touch:
        _no_side_scroll(p)
    device.press("report-submit")
    receipt = p.get_by_test_id("report-receipt")
    receipt.wait_for(state="visible", timeout=20_000)
    code = p.get_by_test_id("receipt-code").inner_text()
    href = p.get_by_test_id("receipt-track").get_attribute("href")
    assert href.startswith(f"/app/track#{code}.") and "?" not in href and len(href) > 30
    rows = _sql(
        db,
        "SELECT i.category, i.description, r.phone, ST_Distance(ST_Transform(i.position, 4544),"
        " ST_Transform(ST_SetSRID(ST_MakePoint(:x, :y), 4326), 4544)) FROM incident i "
        "LEFT JOIN incident_reporter r ON r.incident_id = i.id WHERE i.code = :c",
        x=lon,
        y=lat,
        c=code,
    )
    assert len(rows) == 1
    category, description, phone, metres = rows[0]
    assert category == "cooking_fumes" and description == words
    assert metres < 1.0
    assert phone == ("13800001234" if phone_given else None)
    if device.touch:
        _no_side_scroll(p)
    device.clean_but(404)


def test_an_address_not_found_shows_the_servers_message(device, base, db):
    with httpx.Client(base_url=base, timeout=30) as c:
        server = c.get("/nearby", params={"address": BAD_ADDRESS}).json()["message"]
    p = _open(device, base)
    p.get_by_test_id("nearby-address").fill(BAD_ADDRESS)
    device.press("nearby-submit")
    p.wait_for_function(
        "() => document.querySelector('[data-testid=message]').classList.contains('error')",
        timeout=20_000,
    )
    assert p.get_by_test_id("message").inner_text() == server
    before = _sql(db, "SELECT count(*) FROM incident")[0][0]
    device.press("report-start")
    p.get_by_test_id("report-address").fill(BAD_ADDRESS)
    option = p.get_by_test_id("report-category").locator("option", has_text="噪音扰民")
    p.get_by_test_id("report-category").select_option(option.get_attribute("value"))
    p.get_by_test_id("report-description").fill("晚上施工")
    p.get_by_test_id("message").evaluate("m => { m.textContent = ''; m.className = '' }")
    device.press("report-submit")
    p.wait_for_function(
        "() => document.querySelector('[data-testid=message]').classList.contains('error')",
        timeout=20_000,
    )
    shown = p.get_by_test_id("message").inner_text()
    assert BAD_ADDRESS in shown and "地址未找到" in shown
    assert not p.get_by_test_id("report-receipt").is_visible()
    assert _sql(db, "SELECT count(*) FROM incident")[0][0] == before
    device.clean_but(404)


def test_a_photo_over_5_mb_or_not_an_image_is_refused_before_sending(browser, base, db):
    d = Device(browser, PHONE)
    try:
        p = _open(d, base)
        before = _sql(db, "SELECT count(*) FROM incident")[0][0]
        d.press("report-start")
        _tap_point(d, db)
        option = p.get_by_test_id("report-category").locator("option", has_text="漏水")
        p.get_by_test_id("report-category").select_option(option.get_attribute("value"))
        p.get_by_test_id("report-description").fill("楼道漏水")
        photo = p.get_by_test_id("report-photo")
        assert photo.get_attribute("accept") == "image/jpeg,image/png"
        big = {"name": "big.jpg", "mimeType": "image/jpeg", "buffer": b"\xff" * (5 * 2**20 + 1)}
        for f, says in (
            (big, "5 MB"),
            ({"name": "a.txt", "mimeType": "text/plain", "buffer": b"x"}, "JPEG"),
        ):
            photo.set_input_files(files=[f])
            d.press("report-submit")
            m = p.get_by_test_id("message")
            assert says in m.inner_text() and "error" in (m.get_attribute("class") or "")
            assert not p.get_by_test_id("report-receipt").is_visible()
        assert _sql(db, "SELECT count(*) FROM incident")[0][0] == before
        d.clean_but(404)
    finally:
        d.close()


def test_my_position_for_nearby_and_for_a_report(browser, base, db):
    (lon, lat) = _sql(
        db,
        "SELECT ST_X(position), ST_Y(position) FROM facility ORDER BY code LIMIT 1",
    )[0]
    d = Device(
        browser,
        PHONE
        | {"geolocation": {"longitude": lon, "latitude": lat}, "permissions": ["geolocation"]},
    )
    try:
        p = _open(d, base)
        d.press("nearby-locate")
        p.wait_for_selector('[data-testid="nearby-item"]', timeout=20_000)
        with httpx.Client(base_url=base, timeout=30) as c:
            expect = c.get("/nearby", params={"lon": lon, "lat": lat, "limit": 20}).json()
        assert _codes(p, "nearby-item") == [f["id"] for f in expect["features"]]
        d.press("report-start")
        d.press("report-locate")
        p.wait_for_function("() => window.WG.resident.report !== null", timeout=10_000)
        got = p.evaluate("() => [window.WG.resident.report.lon, window.WG.resident.report.lat]")
        assert got == pytest.approx([lon, lat], abs=1e-9)
        assert p.evaluate("() => window.WG.resident.report.how") == "browser"
        d.clean_but(404)
    finally:
        d.close()


def test_open_now_checkbox(browser, base, db, monkeypatch):
    from geo.settings import get_settings

    (code,) = _sql(db, "SELECT code FROM open_resource WHERE '篮球场' = ANY(services)")[0]
    d = Device(browser, PHONE)
    try:
        p = _open(d, base)
        p.get_by_test_id("open-now").check()
        for at, expect in (
            ("2026-12-05T08:00:00+08:00", [code]),
            ("2026-12-07T08:00:00+08:00", []),
        ):
            monkeypatch.setenv("WANGGE_TEST_CLOCK", at)  # Saturday, then Monday, 08:00
            get_settings.cache_clear()
            p.get_by_test_id("message").evaluate("m => { m.textContent = '' }")
            p.get_by_test_id("service-input").fill("篮球场")
            d.press("service-submit")
            p.wait_for_function(
                "() => document.querySelector('[data-testid=message]').textContent !== ''",
                timeout=20_000,
            )
            assert _codes(p, "service-item") == expect
            assert _codes(p, "service-suggestion") == []
            if not expect:
                assert "没有营业" in p.get_by_test_id("message").inner_text()
        d.clean_but(404)
    finally:
        d.close()
