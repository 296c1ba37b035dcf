"""One incident through every page (issue 18, its Tests): a resident on a 375 × 667 touch
phone reports by tapping the map with a photo (stored within 1 m of the tap, category and
description as typed, the photo kept without its metadata); a dispatcher's console, open on
a desktop, shows it within 5 s without a reload, with the photo; the dispatcher moves it to
street handling with a note; the resident's tracking link shows the new state; a grid worker
of another grid does not see it. Real app, real PostGIS, Debian Chromium; no request leaves
loopback."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator

import httpx
import pytest
from PIL import Image

from geo.runtime.auth import create_user
from geo.store.db import make_engine, session_scope

from . import test_maps
from .conftest import run_sql, serve_app
from .test_maps import Page
from .test_resident_page import PHONE, Device, _tap_point

browser = test_maps.browser
pytestmark = pytest.mark.db

STREET = "510107013"
DISPATCHER, OTHER = "全程调度员", "全程他格网格员"
PW = "flow-password-1"


_sql = run_sql


@pytest.fixture(scope="module")
def db(module_db: str) -> str:
    engine = make_engine(module_db)
    with session_scope(engine) as s:
        create_user(session=s, name=DISPATCHER, role="dispatcher", street_code=STREET, password=PW)
    engine.dispose()
    return module_db


@pytest.fixture(scope="module")
def base(db: str) -> Iterator[str]:
    with serve_app(db) as url:
        yield url


def _jpeg_with_gps(path) -> None:
    img = Image.new("RGB", (64, 48), (200, 80, 40))
    exif = Image.Exif()
    exif[0x8825] = {1: "N", 2: (30.0, 37.0, 30.0), 3: "E", 4: (104.0, 1.0, 12.0)}  # GPSInfo
    exif[0x010F] = "PhoneMaker"
    img.save(path, "JPEG", exif=exif)


def test_a_report_from_the_phone_is_handled_in_the_console_and_tracked(base, browser, db, tmp_path):
    # the dispatcher's console is open (and polling) before the report
    console = Page(browser)
    phone = Device(browser, PHONE)
    try:
        c = console.page
        c.goto(base + "/app/dispatcher")
        c.wait_for_url("**/login?next=**", timeout=20_000)
        c.get_by_test_id("login-name").fill(DISPATCHER)
        c.get_by_test_id("login-password").fill(PW)
        c.get_by_test_id("login-submit").click()
        c.wait_for_url(base + "/app/dispatcher*", timeout=20_000)
        c.wait_for_function("() => window.WG && window.WG.ready", timeout=30_000)

        # the resident reports on the phone: tap, category by its Chinese name, a photo
        p = phone.page
        p.goto(base + "/app/resident")
        p.wait_for_function("() => window.WG && window.WG.ready", timeout=30_000)
        phone.press("report-start")
        _, _, lon, lat = _tap_point(phone, db)
        option = p.get_by_test_id("report-category").locator("option", has_text="垃圾堆放")
        p.get_by_test_id("report-category").select_option(option.get_attribute("value"))
        words = "小区门口垃圾三天没人清运"
        p.get_by_test_id("report-description").fill(words)
        photo = tmp_path / "photo.jpg"
        _jpeg_with_gps(photo)
        p.get_by_test_id("report-photo").set_input_files(str(photo))
        phone.press("report-submit")
        p.get_by_test_id("report-receipt").wait_for(state="visible", timeout=20_000)
        t0 = time.monotonic()
        code = p.get_by_test_id("receipt-code").inner_text()
        track = p.get_by_test_id("receipt-track").get_attribute("href")
        assert track.startswith(f"/app/track#{code}.")
        (row,) = _sql(
            db,
            "SELECT i.category, i.description, ST_Distance(ST_Transform(i.position, 4544), "
            "ST_Transform(ST_SetSRID(ST_MakePoint(:x, :y), 4326), 4544)), "
            "(SELECT count(*) FROM incident_photo f WHERE f.incident_id = i.id), "
            "(SELECT f.bytes FROM incident_photo f WHERE f.incident_id = i.id LIMIT 1) "
            "FROM incident i WHERE i.code = :c",
            x=lon,
            y=lat,
            c=code,
        )
        category, description, metres, photos, stored = row
        assert category == "garbage" and description == words and metres < 1.0
        assert photos == 1
        kept = Image.open(io.BytesIO(bytes(stored)))
        assert kept.size == (64, 48) and not kept.getexif() and "exif" not in kept.info

        # the console shows it within 5 s, without a reload; its detail has the photo
        item = c.locator(f'[data-testid="incident-item"][data-code="{code}"]')
        item.wait_for(timeout=5_000)
        assert time.monotonic() - t0 < 5.0
        item.click()
        c.get_by_test_id("detail-photo").wait_for()
        c.wait_for_function(
            "() => { const i = document.querySelector('[data-testid=detail-photo]');"
            " return i.complete && i.naturalWidth === 64 }"
        )
        c.get_by_test_id("transition-accepted").click()
        c.wait_for_function(
            "() => document.querySelector('[data-testid=detail-status]').dataset.status === "
            "'accepted'"
        )
        c.get_by_test_id("transition-note").fill("已联系物业，转街道环卫协调")
        c.get_by_test_id("transition-street_handling").click()
        c.wait_for_function(
            "() => document.querySelector('[data-testid=detail-status]').dataset.status === "
            "'street_handling'"
        )

        # the resident's tracking link shows the new state
        p.goto(base + track)
        status = p.get_by_test_id("track-status")
        status.wait_for(timeout=20_000)
        p.wait_for_function(
            "() => document.querySelector('[data-testid=track-status]').dataset.status === "
            "'street_handling'",
            timeout=20_000,
        )
        assert p.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
        assert code not in p.url  # the fragment is cleared from the address bar

        # a grid worker of another grid does not see it
        grid = _sql(
            db,
            "SELECT g.code FROM incident i JOIN grid g ON g.id = i.grid_id WHERE i.code = :c",
            c=code,
        )[0][0]
        other = _sql(
            db,
            "SELECT g.code FROM grid g JOIN grid_version v ON v.id = g.version_id AND "
            "v.status = 'published' WHERE g.level = 'micro' AND g.code <> :g ORDER BY g.code "
            "LIMIT 1",
            g=grid,
        )[0][0]
        engine = make_engine(db)
        with session_scope(engine) as s:
            create_user(session=s, name=OTHER, role="worker", grid_code=other, password=PW)
        engine.dispose()
        with httpx.Client(base_url=base, timeout=30) as w:
            assert w.post("/login", data={"name": OTHER, "password": PW}).status_code == 303
            seen = [
                i["code"] for i in w.get("/incidents", params={"limit": 1000}).json()["incidents"]
            ]
            assert code not in seen
            assert w.get(f"/incidents/{code}/photos/1").status_code in (403, 404)
        console.clean()
        phone.clean()
    finally:
        console.close()
        phone.close()
