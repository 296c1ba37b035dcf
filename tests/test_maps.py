"""The maps: builders (layers, legend, popups, CRS of embedded data, no personal data, size and
speed), and a real headless Chromium with every non-loopback request blocked (no console
errors, no failed requests, markers and polygons, popups, layer toggles, "near me", filters,
drawing), standalone files and pages served by the API. Screenshots go to the test's output
folder."""

from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from geo.core.crs import wgs84_to_gcj02
from geo.runtime.auth import create_user
from geo.store.db import make_engine, session_scope
from maps.build import basemap, build_map, write_maps

from .conftest import serve_app

pytestmark = pytest.mark.db
OUT = Path(__file__).resolve().parent.parent / ".wangge" / "test-output" / "maps"
BROWSER = shutil.which("chromium") or shutil.which("chromium-browser")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
FACILITY_KINDS = (
    "party_service_complex,party_service_centre,party_service_station,convenience_centre,"
    "convenience_station"
)


def _contains(page: str, s: str) -> bool:
    """``s`` in the page as text or as JSON-escaped text (folium writes options as ASCII)."""
    return s in page or json.dumps(s)[1:-1] in page


def _config(page: str) -> dict:
    m = re.search(r"window\.WANGGE = (\{.*?\});</script>", page, re.S)
    assert m
    return json.loads(m.group(1).replace("<\\/", "</"))


# --- builders --------------------------------------------------------------------------------
def test_the_three_maps_are_written_offline_small_and_fast(session, tmp_path):
    t0 = time.perf_counter()
    done = write_maps(session, tmp_path)
    total = time.perf_counter() - t0
    assert [d["map"] for d in done] == ["resident", "planner", "dispatcher"]
    for d in done:
        page = Path(d["path"]).read_text(encoding="utf-8")
        assert d["bytes"] < 3_000_000, d
        assert d["seconds"] < 2.0, d
        # nothing to fetch: no remote script, stylesheet, font or image
        assert not re.search(r"<(script|link|img)[^>]+(src|href)=[\"']https?:", page), d["map"]
        assert not re.search(r"url\(\s*['\"]?https?:", page), d["map"]
        assert "L.map(" in page and "leaflet.js (npm)" in page
    assert total < 6.0
    counts = {d["map"]: d for d in done}
    with_households = session.execute(text("SELECT count(*) FROM facility")).scalar_one()
    resources = session.execute(text("SELECT count(*) FROM open_resource")).scalar_one()
    assert counts["resident"]["places"] == with_households + resources
    assert counts["planner"]["micro_grids"] == 109 and counts["planner"]["compound_grids"] == 11
    # the fixture's 18 units split by floors, each drawn once with one label
    assert counts["planner"]["floor_units"] == counts["dispatcher"]["floor_units"] == 18
    planner = Path(counts["planner"]["path"]).read_text(encoding="utf-8")
    assert planner.count('wg-floor-label\\" data-unit=') == 18
    assert (
        counts["dispatcher"]["incidents"]
        == session.execute(text("SELECT count(*) FROM incident")).scalar_one()
    )


def test_resident_map_has_no_personal_data(session):
    page, _ = build_map(session, "resident")
    people = session.execute(
        text("SELECT head_name, phone FROM household_person ORDER BY household_id LIMIT 200")
    ).all()
    reporters = session.execute(text("SELECT name, phone FROM incident_reporter")).all()
    private = session.execute(
        text("SELECT phone FROM worker WHERE NOT public_phone AND phone IS NOT NULL")
    ).scalars()
    assert people and len(people) == 200
    for name, phone in [*people, *reporters]:
        assert not name or not _contains(page, name)
        assert not phone or not _contains(page, phone)
    for phone in private:
        assert not _contains(page, phone)
    # the popups hold what residents need
    cfg = _config(page)
    assert {p["kind"] for p in cfg["places"]} >= {"party_service_centre", "open_resource"}
    assert _contains(page, "开放时间 (opening hours)") and _contains(page, "服务 (services)")
    assert "图例 (legend)" in page


def test_dispatcher_map_shows_public_worker_phones_only(session):
    page, stats = build_map(session, "dispatcher")
    for phone in session.execute(
        text("SELECT phone FROM worker WHERE NOT public_phone AND phone IS NOT NULL")
    ).scalars():
        assert not _contains(page, phone)
    for name, phone in session.execute(text("SELECT name, phone FROM incident_reporter")).all():
        assert not _contains(page, phone) and not _contains(page, name)
    assert stats["incidents"] > 0 and _contains(page, "超时 (pulsing red ring = overdue)")


def test_embedded_coordinates_and_the_gcj02_shift(session):
    """Amap tiles are GCJ-02: overlays are shifted by the same transform as geo.core.crs (checked
    there against independent implementations); with no base map they are CGCS2000/WGS84."""
    lon, lat, code = session.execute(
        text("SELECT ST_X(position), ST_Y(position), code FROM facility ORDER BY code LIMIT 1")
    ).one()
    plain = {p["code"]: p for p in _config(build_map(session, "resident")[0])["places"]}
    assert abs(plain[code]["lon"] - lon) < 1e-6 and abs(plain[code]["lat"] - lat) < 1e-6
    cfg = _config(build_map(session, "resident", base="amap")[0])
    shifted = {p["code"]: p for p in cfg["places"]}
    gx, gy = wgs84_to_gcj02(lon, lat)
    assert (
        abs(shifted[code]["lon"] - float(gx)) < 1e-6
        and abs(shifted[code]["lat"] - float(gy)) < 1e-6
    )
    # in Chengdu the shift is a few hundred metres to the east and south-east (-ish)
    assert 0.001 < shifted[code]["lon"] - lon < 0.004 and -0.004 < shifted[code]["lat"] - lat < 0
    assert cfg["gcj02"] is True and "autonavi" in build_map(session, "resident", base="amap")[0]
    # a known pair (天府广场, as in tests/test_crs.py): the shift the map applies
    x, y = wgs84_to_gcj02(104.0657, 30.6595)
    assert abs(float(x) - 104.0682074) < 2e-7 and abs(float(y) - 30.6570791) < 2e-7


def test_basemap_setting():
    assert basemap("none").url is None
    assert basemap("tencent").gcj02 and basemap("amap").gcj02
    custom = basemap("https://tiles.example.org/{z}/{x}/{y}.png")
    assert custom.url and not custom.gcj02
    assert basemap("https://t.example/{z}/{x}/{y}.png#gcj02").gcj02
    with pytest.raises(Exception, match="底图"):
        basemap("google")


# --- in a real browser -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def browser():
    if BROWSER is None:
        pytest.fail("chromium is not installed: run `scripts/ensure-system.sh --browser`")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=BROWSER, args=ARGS)
        yield b
        b.close()


class Page:
    """A page with every request outside loopback (and file://) blocked, and its console
    errors and failed requests recorded. (The pages' Content-Security-Policy forbids eval:
    predicates waited for are functions, which Playwright calls without evaluating text.)"""

    def __init__(self, browser, headers=None):
        self.ctx = browser.new_context(
            viewport={"width": 1280, "height": 900}, extra_http_headers=headers or {}
        )
        self.page = self.ctx.new_page()
        self.errors: list[str] = []
        self.failed: list[str] = []
        self.blocked: list[str] = []
        self.page.on(
            "console",
            lambda m: (
                self.errors.append(f"{m.text} ({m.location.get('url')})")
                if m.type == "error"
                else None
            ),
        )
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

    def open(self, url):
        self.page.goto(url)
        self.page.wait_for_function("() => window.WG && window.WG.ready", timeout=20_000)
        return self.page

    def clean(self):
        assert self.errors == [] and self.failed == [] and self.blocked == [], (
            self.errors,
            self.failed,
            self.blocked,
        )

    def shot(self, name):
        OUT.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(OUT / f"{name}.png"))
        assert (OUT / f"{name}.png").stat().st_size > 10_000

    def close(self):
        self.ctx.close()


@pytest.fixture(scope="module")
def files(fixture_url, tmp_path_factory):
    out = tmp_path_factory.mktemp("maps")
    engine = make_engine(fixture_url)
    with session_scope(engine) as s:
        write_maps(s, out)
    engine.dispose()
    return out


def _count(page, expr):
    return page.evaluate(expr)


def test_resident_map_in_the_browser(browser, files, session, http):
    p = Page(browser)
    page = p.open((files / "resident.html").as_uri())
    cfg = page.evaluate("window.WANGGE")
    n = page.evaluate(
        "Object.values(WANGGE.clusters).reduce((s, c) => s + window[c].getLayers().length, 0)"
    )
    assert n == len(cfg["places"]) == 17
    outlines = page.evaluate("document.querySelectorAll('path.leaflet-interactive').length")
    assert outlines >= 12  # the community and its 11 compounds
    # a click on a station shows its popup
    station = next(x for x in cfg["places"] if x["kind"] == "party_service_centre")
    page.evaluate(f"WG.map.setView([{station['lat']}, {station['lon']}], 19)")
    page.wait_for_timeout(400)
    page.locator(f".wg-place[data-code='{station['code']}']").first.click()
    popup = page.locator(".leaflet-popup-content")
    popup.wait_for()
    assert station["name"] in popup.inner_text() and "开放时间" in popup.inner_text()
    # search by name
    other = next(x for x in cfg["places"] if x["kind"] == "convenience_station")
    page.fill("#wg-search-input", other["name"])
    page.click("#wg-search-go")
    page.wait_for_function(
        f"() => document.querySelector('.leaflet-popup-content [data-code=\"{other['code']}\"]')"
    )
    # layer toggles: the open resources layer off and on
    label = page.locator(".leaflet-control-layers-overlays label", has_text="开放资源")
    name = cfg["clusters"]["open_resource"]
    assert page.evaluate(f"WG.map.hasLayer(window['{name}'])")
    label.locator("input").click()
    assert not page.evaluate(f"WG.map.hasLayer(window['{name}'])")
    label.locator("input").click()
    assert page.evaluate(f"WG.map.hasLayer(window['{name}'])")
    # near me, by a typed address, offline: the same three stations as the API
    page.fill("#wg-near-address", "吉福苑5栋")
    page.click("#wg-near-go")
    page.wait_for_selector("#wg-near-list li")
    got = page.eval_on_selector_all("#wg-near-list li", "els => els.map(e => e.dataset.code)")
    want = http.get(
        "/nearby", params={"address": "吉福苑5栋", "limit": 3, "kinds": FACILITY_KINDS}
    ).json()
    assert got == [f["properties"]["code"] for f in want["features"]]
    p.shot("resident")
    p.clean()
    p.close()


def test_planner_map_in_the_browser(browser, files, session):
    p = Page(browser)
    page = p.open((files / "planner.html").as_uri())
    layers = page.evaluate("WANGGE.layers")
    micro = page.evaluate(f"window['{layers['micro']}'].getLayers().length")
    assert micro == 109
    assert page.evaluate(f"window['{layers['buildings']}'].getLayers().length") == 143
    legend = page.inner_text("#wg-legend")
    assert "不足 (under)" in legend and "达标 (in band)" in legend and "超出 (over)" in legend
    # colours by band: every micro-grid of the fixture is in band (green)
    fills = page.evaluate(f"window['{layers['micro']}'].getLayers().map(l => l.options.fillColor)")
    assert set(fills) == {"#27ae60"}
    # toggle the labels layer
    label = page.locator(".leaflet-control-layers-overlays label", has_text="标注")
    label.locator("input").click()
    assert not page.evaluate(f"WG.map.hasLayer(window['{layers['labels']}'])")
    # draw a polygon with the drawing tool, get it as GeoJSON for the plans API
    page.click(".leaflet-draw-draw-polygon")
    box = page.locator("#" + page.evaluate("WANGGE.map")).bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    for dx, dy in ((0, 0), (80, 0), (80, 60), (0, 60)):
        page.mouse.click(cx + dx, cy + dy)
        page.wait_for_timeout(150)
    page.mouse.click(cx, cy)  # close the ring on its first vertex
    page.wait_for_function("() => document.getElementById('wg-drawn-json').value.length > 0")
    body = json.loads(page.input_value("#wg-drawn-json"))
    assert body["crs"] == "CRS84" and body["geometry"]["type"] == "Polygon"
    assert len(body["geometry"]["coordinates"][0]) == 5
    p.shot("planner")
    p.clean()
    p.close()


def test_dispatcher_map_in_the_browser(browser, files, session):
    p = Page(browser)
    page = p.open((files / "dispatcher.html").as_uri())
    total = session.execute(text("SELECT count(*) FROM incident")).scalar_one()
    cluster = page.evaluate("WANGGE.cluster")
    assert page.evaluate(f"window['{cluster}'].getLayers().length") == total
    # filter by status and category
    status, n_status = session.execute(
        text("SELECT status, count(*) FROM incident GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 1")
    ).one()
    page.select_option("#wg-filter-status", status)
    assert page.evaluate(f"window['{cluster}'].getLayers().length") == n_status
    page.select_option("#wg-filter-status", "")
    cat, n_cat = session.execute(
        text("SELECT category, count(*) FROM incident GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 1")
    ).one()
    page.select_option("#wg-filter-category", cat)
    assert page.evaluate(f"window['{cluster}'].getLayers().length") == n_cat
    assert f"{n_cat} / {total}" in page.inner_text("#wg-filter-count")
    page.select_option("#wg-filter-category", "")
    # the heat layer toggles on
    heat = page.evaluate("WANGGE.heat")
    assert not page.evaluate(f"WG.map.hasLayer(window['{heat}'])")
    page.locator(".leaflet-control-layers-overlays label", has_text="热力图").locator(
        "input"
    ).click()
    assert page.evaluate(f"WG.map.hasLayer(window['{heat}'])")
    # a popup with the grid chain and the responsible workers
    code = page.evaluate(f"window['{cluster}'].getLayers()[0].options.wgCode")
    page.evaluate(
        f"(() => {{ const m = window['{cluster}'].getLayers()[0]; "
        f"window['{cluster}'].zoomToShowLayer(m, () => m.openPopup()); }})()"
    )
    pop = page.locator(f".leaflet-popup-content [data-code='{code}']")
    pop.wait_for()
    assert "网格 (grid chain)" in pop.inner_text() and "责任人" in pop.inner_text()
    # units split by floors: each drawn once, one label naming its floor groups
    layers = page.evaluate("WANGGE.layers")
    assert page.evaluate(f"window['{layers['floor_units_cells']}'].getLayers().length") == 18
    assert page.locator(".wg-floor-label").count() == 18
    assert page.locator(f".wg-floor-label[data-unit='{TOWER}']").count() == 1
    p.shot("dispatcher")
    p.clean()
    p.close()


def test_maps_served_by_the_api(browser, fresh_db):
    engine = make_engine(fresh_db)
    with session_scope(engine) as s:
        _, planner = create_user(session=s, name="p", role="planner")
        _, dispatcher = create_user(session=s, name="d", role="dispatcher", street_code="510107013")
        # an overdue incident stands out
        s.execute(
            text(
                "UPDATE incident SET accept_due = now() - interval '2 hours' WHERE code = "
                "(SELECT code FROM incident WHERE status IN ('reported', 'reopened') ORDER BY code "
                "LIMIT 1)"
            )
        )
    engine.dispose()
    with serve_app(fresh_db) as base, httpx.Client(base_url=base) as c:
        assert c.get("/maps/planner").status_code == 401
        assert (
            c.get("/maps/dispatcher", headers={"Authorization": f"Bearer {planner}"}).status_code
            == 403
        )
        # resident map, served: near me asks the API
        p = Page(browser)
        page = p.open(base + "/maps/resident")
        page.fill("#wg-near-address", "吉福苑5栋")
        page.click("#wg-near-go")
        page.wait_for_selector("#wg-near-list li")
        got = page.eval_on_selector_all("#wg-near-list li", "els => els.map(e => e.dataset.code)")
        want = c.get(
            "/nearby", params={"address": "吉福苑5栋", "limit": 3, "kinds": FACILITY_KINDS}
        ).json()
        assert got == [f["properties"]["code"] for f in want["features"]]
        p.clean()
        p.close()
        # dispatcher map behind its role; the overdue incident pulses
        p = Page(browser, {"Authorization": f"Bearer {dispatcher}"})
        page = p.open(base + "/maps/dispatcher")
        assert page.evaluate("WG.incidents.filter(m => m.options.wgOverdue).length") == 1
        page.check("#wg-filter-overdue")
        assert page.evaluate(f"window['{page.evaluate('WANGGE.cluster')}'].getLayers().length") == 1
        p.shot("dispatcher-served")
        p.clean()
        p.close()
        # planner map of a large area: buildings come from the API by bounding box
        p = Page(browser, {"Authorization": f"Bearer {planner}"})
        page = p.open(base + "/maps/planner?embed_limit=10")
        assert page.evaluate("WANGGE.layers.buildings_remote") == "/buildings"
        assert page.evaluate("WANGGE.layers.micro_remote") == "/grids?level=micro"
        assert (
            page.evaluate("WANGGE.layers.floor_units_remote")
            == "/ogc/collections/floor-units/items"
        )
        page.wait_for_function(
            "() => WG.remote.buildings.count !== undefined && WG.remote.micro.count !== undefined "
            "&& WG.remote.floor_units.count !== undefined",
            timeout=20_000,
        )
        bounds = page.evaluate("WG.map.getBounds().toBBoxString()")
        west, south, east, north = (float(v) for v in bounds.split(","))
        bbox = f"{west:.6f},{south:.6f},{east:.6f},{north:.6f}"
        want = c.get("/buildings", params={"bbox": bbox, "limit": 5000}).json()
        assert page.evaluate("WG.remote.buildings.count") == len(want["features"]) > 0
        grids = c.get("/grids", params={"bbox": bbox, "limit": 5000, "level": "micro"}).json()
        assert page.evaluate("WG.remote.micro.count") == len(grids["features"]) > 0
        units = c.get(
            "/ogc/collections/floor-units/items", params={"bbox": bbox, "limit": 5000}
        ).json()
        assert page.evaluate("WG.remote.floor_units.count") == units["numberMatched"]
        p.clean()
        p.close()


TOWER = "510107013001-C01-B01-U1"  # 1栋 1单元 of 云锦城市花园: floors 1–12 M01, 13–24 M02


def test_planner_map_served_labels_each_floor_split_unit_once(browser, fresh_db):
    """Floors are not places: the planner map served by the API draws each unit split by
    floors once, in a layer of its own, with one label naming its floor groups, and the
    labels of the micro-grids sharing that cell are not stacked on it. The page loads nothing
    but itself (no request leaves loopback, none fails)."""
    engine = make_engine(fresh_db)
    with session_scope(engine) as s:
        _, planner = create_user(session=s, name="p", role="planner")
        want = s.execute(
            text(
                "SELECT count(DISTINCT m.unit_id) FROM grid_member m JOIN grid g ON "
                "g.id = m.grid_id JOIN grid_version v ON v.id = g.version_id AND "
                "v.status = 'published' WHERE m.floor_min IS NOT NULL"
            )
        ).scalar_one()
    engine.dispose()
    assert want == 18
    with serve_app(fresh_db) as base:
        p = Page(browser, {"Authorization": f"Bearer {planner}"})
        loaded: list[str] = []
        p.page.on("request", lambda r: loaded.append(r.url))
        page = p.open(base + "/maps/planner")
        layers = page.evaluate("WANGGE.layers")
        control = page.locator(".leaflet-control-layers-overlays label", has_text="分层单元")
        assert "units split by floors" in control.inner_text()
        assert page.evaluate(f"WG.map.hasLayer(window['{layers['floor_units']}'])")
        cells = f"window['{layers['floor_units_cells']}']"
        assert page.evaluate(f"{cells}.getLayers().length") == want
        dashed = page.evaluate(f"{cells}.getLayers().map(l => l.options.dashArray)")
        assert set(dashed) == {"6 4"}
        # one label for the tower, listing both floor groups with their micro-grids
        tower = page.locator(f".wg-floor-label[data-unit='{TOWER}']")
        assert tower.count() == 1
        text_ = tower.inner_text()
        assert "1–12层" in text_ and "13–24层" in text_
        assert "C01-M01" in text_ and "C01-M02" in text_
        assert page.locator(".wg-floor-label").count() == want
        # no other label names M01 or M02: their own labels would stack on the tower's cell
        named = page.evaluate(
            "[...document.querySelectorAll('.leaflet-marker-icon.wg-label')]"
            ".filter(e => /C01-M0[12]\\b/.test(e.innerText)).length"
        )
        assert named == 1
        # and no two labels anywhere sit on the same spot
        lat, lon = page.evaluate(
            f"(() => {{ let at; window['{layers['floor_units']}'].eachLayer(l => {{ "
            f"if (l.getLatLng && l.options.icon.options.html.includes('{TOWER}')) "
            "at = l.getLatLng(); }); return [at.lat, at.lng]; })()"
        )
        page.evaluate(f"WG.map.setView([{lat}, {lon}], 19, {{animate: false}})")
        page.wait_for_timeout(300)
        spots = page.evaluate(
            "[...document.querySelectorAll('.leaflet-marker-icon.wg-label')].map(e => { "
            "const r = e.getBoundingClientRect(); return Math.round(r.x) + ',' + Math.round(r.y); })"
        )
        assert len(spots) == len(set(spots)) == 77 + want  # 109 micro-grids, 32 exactly a cell
        # the popup names building, unit, each micro-grid with its floors and households
        page.evaluate(  # a click on the cell, through Leaflet's events
            f"(() => {{ const l = {cells}.getLayers().find(l => l.feature.properties.code === "
            f"'{TOWER}'); l.fire('click', {{latlng: l.getBounds().getCenter()}}, true); }})()"
        )
        popup = page.locator(".leaflet-popup-content")
        popup.wait_for()
        body = popup.inner_text()
        assert "1栋" in body and "1单元" in body
        assert "510107013001-C01-M01：1–12层，48户" in body
        assert "510107013001-C01-M02：13–24层，48户" in body
        # the layer toggles off and on
        control.locator("input").click()
        assert not page.evaluate(f"WG.map.hasLayer(window['{layers['floor_units']}'])")
        control.locator("input").click()
        assert page.evaluate(f"WG.map.hasLayer(window['{layers['floor_units']}'])")
        p.shot("planner-floor-units")
        assert loaded and all(u.startswith((base, "data:", "blob:")) for u in loaded), loaded
        p.clean()
        p.close()


# --- notice boards and the planner's draft ----------------------------------------------------
def test_notice_boards(session, tmp_path):
    from PIL import Image

    from maps.boards import board_data, write_boards

    code = f"{COMMUNITY}-C02-M03"
    head = session.execute(
        text(
            "SELECT w.code, w.phone FROM worker w JOIN building b ON b.code = w.building_code "
            "JOIN building_unit u ON u.building_id = b.id JOIN grid_member m ON m.unit_id = u.id "
            "JOIN grid g ON g.id = m.grid_id JOIN grid_version v ON v.id = g.version_id AND "
            "v.status = 'published' WHERE g.code = :g LIMIT 1"
        ),
        {"g": code},
    ).one()
    session.execute(text("UPDATE worker SET public_phone = false WHERE code = :w"), {"w": head[0]})
    b = board_data(session, code)
    households = session.execute(
        text(
            "SELECT g.households FROM grid g JOIN grid_version v ON v.id = g.version_id AND "
            "v.status = 'published' WHERE g.code = :g"
        ),
        {"g": code},
    ).scalar_one()
    assert b.households == households and b.buildings
    assert head[1] not in {w["phone"] for w in b.workers} and "—" in {w["phone"] for w in b.workers}
    roles = {w["role"].split("（")[0] for w in b.workers}
    assert {"楼栋长", "专职网格员", "社区书记"} <= roles
    assert len(b.neighbours) >= 2
    # floors are not places: a board of a tower's floor group says which floors, and who
    # holds the others on the same cell
    tower = board_data(session, f"{COMMUNITY}-C01-M01")
    assert tower.floors == [
        "1栋1单元 1–12层（同一位置其他楼层 other floors here: 13–24层 C01-M02）"
    ]
    assert tower.neighbour_floors[f"{COMMUNITY}-C01-M03"] == "1–12层"
    assert tower.neighbour_floors[f"{COMMUNITY}-C01-M04"] == "13–24层"
    assert b.floors == []
    pngs = write_boards(
        session, tmp_path, grids=[code, f"{COMMUNITY}-C05-M01", f"{COMMUNITY}-C01-M01"]
    )
    for p in pngs:
        with Image.open(p) as im:
            w, h = im.size
            assert (w, h) in ((1240, 1753), (1240, 1754))
            assert len(im.convert("L").getcolors(maxcolors=256) or range(256)) > 20  # not blank
    pdf = write_boards(session, tmp_path, grids=[code], fmt="pdf")[0].read_bytes()
    assert pdf.startswith(b"%PDF") and b"595" in pdf and b"841" in pdf  # A4 in points


COMMUNITY = "510107013001"


def test_planner_map_of_a_draft_plan(fresh_db):
    from geo import plans

    from .test_plans import _border_building

    engine = make_engine(fresh_db)
    with session_scope(engine) as s:
        pid = plans.create_plan(s, COMMUNITY, author="t")["id"]
    _, building, neighbour, _ = _border_building(engine, pid)
    with session_scope(engine) as s:
        plans.move(s, pid, buildings=[building], to=neighbour, actor="t")
    with session_scope(engine) as s:
        # the draft's tower has other floor groups than the current version's (1–11, 12–24)
        s.execute(
            text(
                "UPDATE grid_member m SET floor_min = CASE WHEN m.floor_min = 1 THEN 1 ELSE 12 "
                "END, floor_max = CASE WHEN m.floor_min = 1 THEN 11 ELSE 24 END FROM grid g, "
                "plan p, building_unit u, building b WHERE g.id = m.grid_id AND "
                "g.version_id = p.draft_version_id AND p.id = :p AND u.id = m.unit_id AND "
                "b.id = u.building_id AND b.code || '-U' || u.unit_no = :t"
            ),
            {"p": pid, "t": TOWER},
        )
    with session_scope(engine) as s:
        page, stats = build_map(s, "planner", plan=pid)
        current, _ = build_map(s, "planner")
        warnings = [f for f in plans.validate_plan(s, pid).findings if f.grid]
    engine.dispose()
    assert stats["moved_buildings"] == 1
    # the draft's units split by floors, not the current ones
    assert stats["floor_units"] == 18
    assert _contains(page, "1–11层 C01-M01") and _contains(page, "12–24层 C01-M02")
    assert _contains(current, "1–12层 C01-M01") and _contains(current, "13–24层 C01-M02")
    assert not _contains(page, "1–12层 C01-M01")
    assert page.count('"moved": true') == 1 and f'"code": "{building}"' in page
    assert stats["flagged_grids"] == len({f.grid for f in warnings})
    assert _contains(page, "草稿")
