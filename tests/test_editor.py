"""The plan editor (issue 17, items 3–4) clicked in Chromium against the real app over a real
PostGIS: sign in, create a draft, paint a building into a neighbouring grid, undo and redo
(buttons and keys), draw a redraw, see a finding and go to it, diff, publish — then the API
says the published version differs from the old one by exactly that move. Also: the page
refused without a session (to the sign-in form) and to a dispatcher, a refused edit that
leaves the map as it was, two tabs on one draft (the revision), a stale base, an ended
session, and no request leaving loopback."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import shapely
from shapely.geometry import shape

from geo.runtime.auth import create_user
from geo.store.db import make_engine, session_scope

from . import test_maps
from .conftest import run_sql, serve_app
from .test_maps import Page

browser = test_maps.browser
pytestmark = pytest.mark.db

COMMUNITY = "510107013001"
STREET = "510107013"
PLANNER, DISPATCHER = "编辑器规划员", "编辑器调度员"
PW = {PLANNER: "editor-planner-pw-1", DISPATCHER: "editor-dispatcher-pw-2"}


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
    engine.dispose()
    return module_db


@pytest.fixture(scope="module")
def base(db: str) -> Iterator[str]:
    with serve_app(db) as url:
        yield url


_sql = run_sql


# --- over HTTP -----------------------------------------------------------------------------
def test_the_editor_asks_for_a_sign_in_and_a_planner(base):
    with httpx.Client(base_url=base, timeout=30) as c:
        r = c.get("/app/planner?community=" + COMMUNITY)
        assert r.status_code == 303
        assert r.headers["location"] == "/login?next=/app/planner%3Fcommunity%3D" + COMMUNITY
        assert (
            c.post("/login", data={"name": DISPATCHER, "password": PW[DISPATCHER]}).status_code
            == 303
        )
        refused = c.get("/app/planner")
        assert refused.status_code == 403 and "dispatcher" in refused.json()["message"]
    with httpx.Client(base_url=base, timeout=30) as c:
        signed = c.post("/login", data={"name": PLANNER, "password": PW[PLANNER]})
        assert signed.status_code == 303 and signed.headers["location"] == "/app/planner"
        page = c.get("/app/planner")
        assert page.status_code == 200 and "网格规划编辑器" in page.text
        csp = page.headers["content-security-policy"]
        assert "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]
        assert page.headers["cache-control"] == "private, no-store"
        missing = c.get("/app/planner?community=999999999999")
        assert missing.status_code == 404 and "999999999999" in missing.json()["message"]


def test_pages_make_their_requests_under_the_public_path(base, monkeypatch):
    """Behind a reverse proxy at /gis (WANGGE_PUBLIC_URL), every page's requests and links
    start with /gis: the configuration's api prefix is it (the scripts put it before every
    path), and the sign-in form sends the planner to /gis/app/planner."""
    from geo.settings import get_settings

    def api_of(html: str) -> str:
        return html.split("window.WANGGE = {", 1)[1].split('"api":', 1)[1].split(",", 1)[0]

    with httpx.Client(base_url=base, timeout=30) as c:
        assert c.post("/login", data={"name": PLANNER, "password": PW[PLANNER]}).status_code == 303
        for path in ("/app/planner", "/app/resident", "/maps/resident"):
            assert api_of(c.get(path).text) == '""', path
        monkeypatch.setenv("WANGGE_PUBLIC_URL", "http://wangge.example.org/gis")
        get_settings.cache_clear()
        try:
            for path in ("/app/planner", "/app/resident", "/maps/resident"):
                assert api_of(c.get(path).text) == '"/gis"', path
            c.cookies.clear()
            r = c.post("/login", data={"name": PLANNER, "password": PW[PLANNER]})
            assert r.headers["location"] == "/gis/app/planner"
        finally:
            monkeypatch.delenv("WANGGE_PUBLIC_URL")
            get_settings.cache_clear()


# --- in Chromium ---------------------------------------------------------------------------
def _sign_in(browser, base: str, path: str = "/app/planner") -> Page:
    page = Page(browser)
    p = page.page
    p.goto(base + path)
    p.wait_for_url("**/login?next=**", timeout=20_000)
    p.get_by_test_id("login-name").fill(PLANNER)
    p.get_by_test_id("login-password").fill(PW[PLANNER])
    p.get_by_test_id("login-submit").click()
    p.wait_for_url(base + "/app/planner*", timeout=20_000)
    p.wait_for_function("() => window.WG && window.WG.ready", timeout=30_000)
    return page


def _clean(page: Page, *statuses: int) -> None:
    """No script error, no failed or blocked request; answers with these statuses (a refused
    edit's 409, an ended session's 401) are the page's own business, logged by Chromium."""
    expected = tuple(f"the server responded with a status of {s} " for s in statuses)
    page.errors[:] = [e for e in page.errors if not any(x in e for x in expected)]
    page.clean()


def _idle(p) -> None:
    p.wait_for_function("() => window.WG.editor.pending === 0", timeout=30_000)


def _counts(p) -> dict[str, int]:
    return dict(
        p.eval_on_selector_all(
            '[data-testid="grid-item"]',
            "els => els.map(e => [e.dataset.code, +e.dataset.households])",
        )
    )


def _message(p) -> tuple[str, bool]:
    m = p.get_by_test_id("message")
    return m.inner_text(), "error" in (m.get_attribute("class") or "")


def _get(p, path: str) -> Any:
    return p.evaluate(
        "async (path) => { const r = await fetch(path); return [r.status, await r.json()] }", path
    )


def _screen(p, lon: float, lat: float) -> tuple[float, float]:
    """Where (lon, lat) is on the screen, the map's container offset added."""
    x, y = p.evaluate(
        "([lon, lat]) => { const m = window.WG.map, pt = m.latLngToContainerPoint([lat, lon]),"
        " r = m.getContainer().getBoundingClientRect(); return [pt.x + r.left, pt.y + r.top] }",
        [lon, lat],
    )
    return x, y


def _show(p, geom, zoom: int | None = None) -> None:
    """Bring a geometry into view (the buildings in view reloaded), and wait."""
    x0, y0, x1, y1 = geom.bounds
    if zoom is None:
        p.evaluate(
            "([s, w, n, e]) => window.WG.map.fitBounds([[s, w], [n, e]], {padding: [40, 40], "
            "animate: false})",
            [y0, x0, y1, x1],
        )
    else:
        c = geom.centroid
        p.evaluate(
            "([lat, lon, z]) => window.WG.map.setView([lat, lon], z, {animate: false})",
            [c.y, c.x, zoom],
        )
    p.wait_for_timeout(400)  # the buildings of the view are fetched after 250 ms
    _idle(p)


def _candidates(p, plan: int) -> list[dict[str, Any]]:
    """Moves of one building into a neighbouring micro-grid of its compound, those that take
    a grid out of the band first (so that validation has a finding to show)."""
    _, grids = _get(p, f"/plans/{plan}/grids?level=micro")
    _, blds = _get(p, f"/plans/{plan}/buildings")
    lo, hi = grids["band"]
    shapes = {f["properties"]["code"]: shape(f["geometry"]) for f in grids["features"]}
    props = {f["properties"]["code"]: f["properties"] for f in grids["features"]}
    out = []
    for b in blds["features"]:
        bp = b["properties"]
        a = bp["grid"]
        if a is None or bp["grids"] != [a] or props[a]["buildings"] < 2 or bp["households"] < 1:
            continue
        fp = shape(b["geometry"])
        for code, g in shapes.items():
            if code == a or props[code]["parent_code"] != props[a]["parent_code"]:
                continue
            gap = fp.distance(g)
            if gap < 1.2e-4:  # ~12 m: the building lies by that grid's edge
                h = bp["households"]
                out_of_band = props[a]["households"] - h < lo or props[code]["households"] + h > hi
                out.append(
                    {
                        "building": bp["code"],
                        "households": h,
                        "from": a,
                        "to": code,
                        "at": shapely.point_on_surface(fp),
                        "footprint": fp,
                        "band": out_of_band,
                        "gap": gap,
                    }
                )
    out.sort(key=lambda c: (not c["band"], round(c["gap"], 5), c["building"]))
    return out


def _paint(p, c: dict[str, Any]) -> bool:
    """Paint building c into its target grid with a click; True if the server took it."""
    p.get_by_test_id("tool-paint").click()
    p.get_by_test_id("paint-target").select_option(c["to"])
    _show(p, c["footprint"], zoom=19)
    x, y = _screen(p, c["at"].x, c["at"].y)
    before = p.evaluate("() => window.WG.editor.timings.length")
    p.mouse.click(x, y)
    p.wait_for_function(
        "(n) => window.WG.editor.pending === 0 && (window.WG.editor.timings.length > n || "
        "document.querySelector('[data-testid=message]').classList.contains('error'))",
        arg=before,
        timeout=30_000,
    )
    return p.evaluate("() => window.WG.editor.timings.length") > before


def _simplified(poly, most: int = 12):
    """A polygon's outline with at most ``most`` vertices (as a person would draw it)."""
    ring = max(shapely.get_parts(poly), key=lambda g: g.area).exterior
    tol = 5e-6
    while len(ring.coords) - 1 > most:
        ring = shapely.simplify(ring, tol)
        tol *= 1.5
    return list(ring.coords)[:-1]


def _draw_polygon(p, coords) -> None:
    for lon, lat in [*coords, coords[0]]:  # the first vertex again closes it
        x, y = _screen(p, lon, lat)
        p.mouse.click(x, y)
        p.wait_for_timeout(60)


def test_a_planner_edits_a_draft_in_the_browser(base, browser, db):
    page = _sign_in(browser, base)
    p = page.page
    try:
        assert p.get_by_test_id("community-select").input_value() == COMMUNITY
        p.get_by_test_id("plan-new").click()
        p.wait_for_function("() => window.WG.editor.plan && window.WG.editor.plan.id")
        _idle(p)
        plan = p.evaluate("() => window.WG.editor.plan.id")
        assert p.get_by_test_id("plan-select").input_value() == str(plan)
        start = _counts(p)
        assert (
            len(start)
            == _sql(
                db,
                "SELECT count(*) FROM grid g JOIN plan p ON p.draft_version_id = g.version_id "
                "WHERE p.id = :p AND g.level = 'micro'",
                p=plan,
            )[0][0]
        )
        base_version = _get(p, f"/plans/{plan}")[1]["base_version"]

        # paint: the first candidate the server takes (a refused one leaves every count)
        moved = None
        for c in _candidates(p, plan)[:10]:
            if _paint(p, c):
                moved = c
                break
            text_, error = _message(p)
            assert error and "拒绝" in text_ and _counts(p) == start, text_
        assert moved is not None, "no building could be painted into a neighbouring grid"
        after = _counts(p)
        h = moved["households"]
        assert after[moved["from"]] == start[moved["from"]] - h
        assert after[moved["to"]] == start[moved["to"]] + h
        assert {k: v for k, v in after.items() if k not in (moved["from"], moved["to"])} == {
            k: v for k, v in start.items() if k not in (moved["from"], moved["to"])
        }
        assert "已移动" in _message(p)[0]

        # undo and redo: the buttons, then the keys
        p.get_by_test_id("tool-select").click()
        p.get_by_test_id("undo").click()
        _idle(p)
        assert _counts(p) == start
        p.get_by_test_id("redo").click()
        _idle(p)
        assert _counts(p) == after
        p.locator("#wg-grid-list").click()  # focus leaves the selects
        p.keyboard.press("Control+z")
        _idle(p)
        assert _counts(p) == start
        p.keyboard.press("Control+y")
        _idle(p)
        assert _counts(p) == after

        # draw a redraw of a grid (its outline as a person would draw it), then undo it
        _, grids = _get(p, f"/plans/{plan}/grids?level=micro")
        redrawn = None
        by_buildings = sorted(
            grids["features"],
            key=lambda f: (-f["properties"]["buildings"], f["properties"]["code"]),
        )
        for f in by_buildings[:8]:  # low-rise grids first: a unit split by floors refuses
            code = f["properties"]["code"]
            p.locator(f'[data-testid="grid-item"][data-code="{code}"]').click()
            outline = shape(f["geometry"])
            _show(p, outline)
            p.get_by_test_id("tool-redraw").click()
            before = p.evaluate("() => window.WG.editor.timings.length")
            _draw_polygon(p, _simplified(outline))
            _idle(p)
            if p.evaluate("() => window.WG.editor.timings.length") > before:
                redrawn = code
                break
            text_, error = _message(p)
            assert error and _counts(p) == after, text_
        assert redrawn is not None, "no redraw was taken"
        assert "已重画" in _message(p)[0]
        p.get_by_test_id("undo").click()
        _idle(p)
        assert _counts(p) == after

        # validate: a finding, and a click on it brings the map to its grid
        p.get_by_test_id("validate").click()
        _idle(p)
        items = p.get_by_test_id("finding-item")
        assert items.count() >= 1
        target = items.first.get_attribute("data-grid")
        items.first.click()
        assert p.evaluate("() => window.WG.editor.selected") == [target]
        inside = p.evaluate(
            "(code) => window.WG.map.getBounds().contains(window.WG.editor.grids[code].layer"
            ".getBounds().getCenter())",
            target,
        )
        assert inside

        # the diff: exactly that move, and its downloads
        p.get_by_test_id("diff").click()
        p.get_by_test_id("diff-households").wait_for(state="attached")
        assert p.get_by_test_id("diff-households").get_attribute("data-value") == str(h)
        csv = p.evaluate(
            "async () => { const a = document.querySelector('[data-testid=diff-csv]');"
            " const r = await fetch(a.href); return [r.status, await r.text()] }"
        )
        assert csv[0] == 200 and moved["building"] in csv[1]

        # publish: the preview first, then the API's own diff of the two versions
        p.get_by_test_id("publish").click()
        p.get_by_test_id("publish-confirm").wait_for()
        assert p.get_by_test_id("preview-households").inner_text() == str(h)
        p.get_by_test_id("publish-confirm").click()
        _idle(p)
        assert "已发布" in _message(p)[0], _message(p)
        shown = _get(p, f"/plans/{plan}")[1]
        assert shown["status"] == "published" and shown["current_version"] == shown["draft_version"]
        status, d = _get(
            p,
            f"/plans/diff?community={COMMUNITY}&from={base_version}&to={shown['draft_version']}",
        )
        assert status == 200
        assert d["summary"]["households_moved"] == h and d["summary"]["buildings_moved"] == 1
        assert [b["building"] for b in d["buildings"]] == [moved["building"]]
        assert {g["code"] for g in d["grids"] if g["change"] != "unchanged"} == {
            moved["from"],
            moved["to"],
        }
        assert p.get_by_test_id("undo").is_disabled()  # a published plan is not edited

        # sign out: the session ends, and the editor asks for a sign-in again
        p.get_by_test_id("logout").click()
        p.wait_for_url(base + "/login", timeout=20_000)
        assert p.request.get(base + "/session").status == 401  # the browser's cookies
        p.goto(base + "/app/planner")
        p.wait_for_url("**/login?next=/app/planner", timeout=20_000)
        _clean(page, 409)
    finally:
        page.close()


def _new_draft(p) -> int:
    before = p.evaluate("() => window.WG.editor.plan ? window.WG.editor.plan.id : 0")
    p.get_by_test_id("plan-new").click()
    p.wait_for_function(
        "(n) => window.WG.editor.plan && window.WG.editor.plan.id !== n", arg=before
    )
    _idle(p)
    return p.evaluate("() => window.WG.editor.plan.id")


def _pick(p, *codes: str) -> None:
    p.get_by_test_id("tool-select").click()
    for i, code in enumerate(codes):
        item = p.locator(f'[data-testid="grid-item"][data-code="{code}"]')
        item.click(modifiers=["Shift"] if i else None)
    assert p.evaluate("() => window.WG.editor.selected") == list(codes)


def _neighbours(p, plan: int) -> list[tuple[str, str]]:
    """Pairs of micro-grids of one compound that share an edge (> ~5 m), by code."""
    _, grids = _get(p, f"/plans/{plan}/grids?level=micro")
    fs = sorted(grids["features"], key=lambda f: f["properties"]["code"])
    out = []
    for i, a in enumerate(fs):
        for b in fs[i + 1 :]:
            if a["properties"]["parent_code"] != b["properties"]["parent_code"]:
                continue
            edge = shapely.intersection(
                shape(a["geometry"]).boundary, shape(b["geometry"]).boundary
            )
            if edge.length > 5e-5:
                out.append((a["properties"]["code"], b["properties"]["code"]))
    return out


def test_split_merge_lock_and_repartition_in_the_browser(base, browser):
    page = _sign_in(browser, base)
    p = page.page
    try:
        plan = _new_draft(p)
        start = _counts(p)
        a, b = _neighbours(p, plan)[0]

        # merge two neighbours: one grid fewer, its households the sum; undo
        _pick(p, a, b)
        p.get_by_test_id("merge").click()
        _idle(p)
        merged = _counts(p)
        assert len(merged) == len(start) - 1, _message(p)
        kept = a if a in merged else b
        assert merged[kept] == start[a] + start[b]
        p.get_by_test_id("undo").click()
        _idle(p)
        assert _counts(p) == start

        # lock a grid: painting a building into it is refused, with the reason, and nothing
        # changes; unlocked, the grid takes edits again
        _pick(p, b)
        p.get_by_test_id("lock").click()
        _idle(p)
        assert p.evaluate(f"() => window.WG.editor.grids['{b}'].f.properties.locked") is True
        p.get_by_test_id("merge").click()  # one grid selected: the page says what it needs
        assert _message(p)[1] and "两个" in _message(p)[0]
        _pick(p, a, b)
        p.get_by_test_id("merge").click()
        _idle(p)
        text_, error = _message(p)
        assert error and "锁定" in text_ and _counts(p) == start, text_
        _pick(p, b)
        p.get_by_test_id("unlock").click()
        _idle(p)
        assert p.evaluate(f"() => window.WG.editor.grids['{b}'].f.properties.locked") is False

        # split a grid by a line drawn across it (a horizontal line through its middle)
        _, grids = _get(p, f"/plans/{plan}/grids?level=micro")
        split = None
        for f in sorted(grids["features"], key=lambda f: -f["properties"]["households"])[:6]:
            code = f["properties"]["code"]
            g = shape(f["geometry"])
            _pick(p, code)
            _show(p, g)
            x0, _, x1, _ = g.bounds
            mid = shapely.point_on_surface(g).y
            p.get_by_test_id("tool-split").click()
            n = p.evaluate("() => window.WG.editor.timings.length")
            for lon in (x0 - 0.2 * (x1 - x0), x1 + 0.2 * (x1 - x0)):
                x, y = _screen(p, lon, mid)
                p.mouse.click(x, y)
                p.wait_for_timeout(80)
            p.mouse.click(x, y)  # the last point again finishes the line
            _idle(p)
            if p.evaluate("() => window.WG.editor.timings.length") > n:
                split = code
                break
            assert _message(p)[1]
            p.keyboard.press("Escape")
        assert split is not None, _message(p)
        now = _counts(p)
        assert len(now) == len(start) + 1 and "已切分" in _message(p)[0]
        new = (set(now) - set(start)).pop()
        assert now[split] + now[new] == start[split]
        p.get_by_test_id("undo").click()
        _idle(p)
        assert _counts(p) == start

        # re-partition the compound of a grid around a locked one
        _pick(p, a)
        p.get_by_test_id("lock").click()
        _idle(p)
        p.get_by_test_id("repartition").click()
        _idle(p)
        text_, error = _message(p)
        assert not error and "已重新划分" in text_, text_
        after = _counts(p)
        assert after[a] == start[a]  # the locked grid kept
        assert sum(after.values()) == sum(start.values())
        _clean(page, 409)
    finally:
        page.close()


def test_two_tabs_a_stale_base_and_an_ended_session(base, browser, db):
    page = _sign_in(browser, base)
    p = page.page
    try:
        plan = _new_draft(p)
        a, b = _neighbours(p, plan)[0]
        other = page.ctx.new_page()  # a second tab of the same browser (same session)
        other.goto(f"{base}/app/planner?community={COMMUNITY}&plan={plan}")
        other.wait_for_function("() => window.WG && window.WG.ready", timeout=30_000)
        _pick(other, a, b)
        other.get_by_test_id("merge").click()
        _idle(other)
        merged = _counts(other)
        assert len(merged) == len(_counts(p)) - 1
        other.close()

        # the first tab is a revision behind: its edit is refused (409) and it reloads
        _pick(p, a)
        p.get_by_test_id("lock").click()
        _idle(p)
        text_, error = _message(p)
        assert error and "已重新载入" in text_, text_
        assert _counts(p) == merged
        assert not p.evaluate(
            f"() => window.WG.editor.grids['{a}'] && window.WG.editor.grids['{a}'].f.properties.locked"
        )

        # a cookie write without the CSRF token is refused
        status = p.evaluate(
            f"async () => (await fetch('/plans/{plan}/undo', {{method: 'POST'}})).status"
        )
        assert status == 403

        # someone publishes another draft: on focus the page says this one is stale and
        # offers a new draft from the current version
        with httpx.Client(base_url=base, timeout=60) as c:
            assert (
                c.post("/login", data={"name": PLANNER, "password": PW[PLANNER]}).status_code == 303
            )
            csrf = c.get("/session").json()["csrf"]
            h = {"X-CSRF-Token": csrf}
            other_plan = c.post("/plans", json={"community": COMMUNITY}, headers=h).json()["id"]
            done = c.post(f"/plans/{other_plan}/publish", headers=h)
            assert done.status_code == 200, done.text
        p.evaluate("() => window.dispatchEvent(new Event('focus'))")
        p.get_by_test_id("stale").wait_for(state="visible")
        assert "过期" in p.get_by_test_id("stale").inner_text()
        p.get_by_test_id("stale-new-draft").click()
        p.wait_for_function(f"() => window.WG.editor.plan && window.WG.editor.plan.id !== {plan}")
        _idle(p)
        assert p.get_by_test_id("stale").is_hidden()

        # the session ends on the server: the next edit says so and offers a sign-in
        _sql(db, "UPDATE user_session SET revoked_at = now() WHERE revoked_at IS NULL")
        p.get_by_test_id("validate").click()
        _idle(p)
        text_, error = _message(p)
        assert error and "登录" in text_, text_
        assert p.get_by_test_id("login-again").is_visible()
        _clean(page, 409, 403, 401)
    finally:
        page.close()
