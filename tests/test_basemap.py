"""The offline base layer of every map (roads with their names, building footprints, compound
names, the community outline, from the project's own data) and where each map opens (the
bounds of its community, of the caller's scope, or of all data): in the pages' data, and in
a real headless Chromium with every request off loopback blocked."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import httpx
import pytest
import shapely
from playwright.sync_api import Request, Route
from shapely import affinity
from sqlalchemy import text

from geo.core.crs import wgs84_to_gcj02
from geo.io import import_file
from geo.io.fixture import FIXTURE_DIR
from geo.runtime.auth import create_user
from geo.store.db import make_engine, session_scope
from maps.build import build_map

from .conftest import serve_app
from .test_maps import Page, _config, browser  # noqa: F401  (browser: the module's Chromium)

pytestmark = pytest.mark.db
COMMUNITY = "510107013001"
FAR = "510107099001"  # a second community, ~48 km east of the fixture's
EVIL = "<img src=x onerror=alert(1)>"


def _fixture_counts(session) -> dict[str, int]:
    q = {
        "roads": "SELECT count(*) FROM road",
        "named": "SELECT count(*) FROM road WHERE name IS NOT NULL",
        "compounds": "SELECT count(*) FROM compound",
        "buildings": "SELECT count(*) FROM building",
    }
    return {k: session.execute(text(v)).scalar_one() for k, v in q.items()}


def _extent(session, code: str) -> list[list[float]]:
    x0, y0, x1, y1 = session.execute(
        text(
            "SELECT ST_XMin(boundary), ST_YMin(boundary), ST_XMax(boundary), ST_YMax(boundary) "
            "FROM community WHERE code = :c"
        ),
        {"c": code},
    ).one()
    return [[y0, x0], [y1, x1]]


# --- in the pages' data ----------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["resident", "planner", "dispatcher"])
def test_every_map_carries_the_base_layer(session, kind):
    n = _fixture_counts(session)
    page, stats = build_map(session, kind)
    base = _config(page)["base"]
    roads = base["roads"]["features"]
    assert len(roads) == n["roads"] == stats["base_roads"] == 18
    names = {f["properties"]["name"] for f in roads}
    assert {"晋阳路", "吉福路", "吉福一巷"} <= names
    for f in roads:
        assert f["geometry"]["type"] == "MultiLineString" and f["geometry"]["coordinates"]
        label = f["properties"]["label"]
        assert (label is not None) == (f["properties"]["name"] is not None)
        assert -90 <= label["angle"] <= 90
        # the label sits on its road (within ~1 m)
        line = shapely.geometry.shape(f["geometry"])
        assert line.distance(shapely.Point(label["lon"], label["lat"])) < 1e-5
    # 晋阳路 runs a little north of east: its label is turned anticlockwise
    jinyang = next(f for f in roads if f["properties"]["name"] == "晋阳路")
    assert -15 < jinyang["properties"]["label"]["angle"] < -5
    assert [f["properties"]["name"] for f in base["outline"]["features"]] == ["吉福社区"]
    assert base["outline"]["features"][0]["geometry"]["type"] in {"Polygon", "MultiPolygon"}
    compounds = {c["name"] for c in base["compounds"]}
    assert len(compounds) == n["compounds"] == 11 and "吉福苑" in compounds
    if kind == "planner":  # its own buildings layer draws the footprints
        assert base["footprints"] is None and _config(page)["layers"]["buildings"]
    else:
        fps = base["footprints"]["features"]
        assert len(fps) == n["buildings"] == stats["base_footprints"] == 143
        assert {f["geometry"]["type"] for f in fps} <= {"Polygon", "MultiPolygon"}
        assert all(f["properties"] == {} for f in fps)  # geometry only: light
    got, want = _config(page)["bounds"], _extent(session, COMMUNITY)
    assert [*got[0], *got[1]] == pytest.approx([*want[0], *want[1]], abs=1e-6)


def test_base_layer_of_one_community_and_of_a_large_one(session):
    """``community=``: that community's roads (clipped to its box); above ``embed_limit``
    buildings no footprint is embedded, and a served map loads them by bbox instead."""
    page, stats = build_map(session, "resident", community=COMMUNITY, embed_limit=10)
    base = _config(page)["base"]
    assert base["footprints"] is None and "footprints_remote" not in base  # a file: none
    assert stats["base_footprints"] == 0 and stats["base_roads"] == 18
    from maps.build import render_map

    served = render_map(session, "dispatcher", community=COMMUNITY, api="", embed_limit=10)
    cfg = _config(served.page)
    assert cfg["base"]["footprints_remote"] == f"/buildings?community_code={COMMUNITY}"


# --- in a browser ----------------------------------------------------------------------------
def _view_contains(page, bounds) -> bool:
    return page.evaluate(f"WG.map.getBounds().contains(L.latLngBounds({bounds}))")


def test_base_layer_in_the_browser(browser, tmp_path, session):  # noqa: F811
    from maps.build import write_maps

    write_maps(session, tmp_path)
    n = _fixture_counts(session)
    for kind in ("resident", "planner", "dispatcher"):
        p = Page(browser)
        page = p.open((tmp_path / f"{kind}.html").as_uri())
        cfg = page.evaluate("WANGGE")
        # it opens on the whole community
        assert _view_contains(page, cfg["bounds"]), kind
        assert page.evaluate("WG.map.getZoom()") >= 15
        assert page.evaluate("WG.base.roads.getLayers().length") == n["roads"]
        assert page.evaluate("WG.base.outline.getLayers().length") == 1
        assert page.locator(".wg-road-label").count() == n["named"]
        assert page.locator(".wg-compound-label", has_text="吉福苑").count() == 1
        assert page.locator(".wg-compound-label").count() == n["compounds"]
        # under the overlays: its pane below the overlay pane, its labels take no clicks
        assert page.evaluate(
            "+WG.map.getPane('wgBase').style.zIndex < +getComputedStyle(WG.map.getPane("
            "'overlayPane')).zIndex"
        )
        assert page.evaluate("getComputedStyle(WG.map.getPane('wgBaseLabels')).pointerEvents") == (
            "none"
        )
        assert page.evaluate("WG.map.getPane('wgBase').querySelectorAll('path').length") >= 18
        if kind != "planner":
            assert page.evaluate("WG.map.hasLayer(WG.base.footprints)")
            assert page.evaluate("WG.base.footprints.getLayers().length") == n["buildings"]
            page.evaluate("WG.map.setZoom(13, {animate: false})")
            assert not page.evaluate("WG.map.hasLayer(WG.base.footprints)")  # light when far
            page.evaluate("WG.map.setZoom(16, {animate: false})")
            assert page.evaluate("WG.map.hasLayer(WG.base.footprints)")
        # a layer of the layer control, off and on
        label = page.locator(".leaflet-control-layers-overlays label", has_text="底图·本地数据")
        label.locator("input").click()
        assert not page.evaluate("WG.map.hasLayer(WG.base.group)")
        label.locator("input").click()
        assert page.evaluate("WG.map.hasLayer(WG.base.group)")
        page.evaluate(f"WG.map.fitBounds({cfg['bounds']})")
        page.wait_for_timeout(300)
        p.shot(f"basemap-{kind}")
        p.clean()  # no request off loopback, no error
        p.close()


def _far_community(url: str, tmp_path) -> None:
    """A second community ~48 km east (another street), with a compound and a road."""
    shift = {"xoff": 0.5, "yoff": 0.0}
    com = gpd.read_file(FIXTURE_DIR / "communities.geojson")
    com["code"], com["name"] = FAR, "远方社区"
    com["street_code"], com["street_name"] = "510107099", "远方街道"
    com["geometry"] = com.geometry.apply(lambda g: affinity.translate(g, **shift))
    comp = gpd.read_file(FIXTURE_DIR / "compounds.geojson").head(1)
    comp["code"], comp["name"], comp["community_code"] = f"{FAR}-C01", "远方小区", FAR
    comp["geometry"] = comp.geometry.apply(lambda g: affinity.translate(g, **shift))
    road = gpd.read_file(FIXTURE_DIR / "roads.geojson").head(1)
    road["code"], road["name"] = f"{FAR}-R01", "远方路"
    road["geometry"] = road.geometry.apply(lambda g: affinity.translate(g, **shift))
    engine = make_engine(url)
    with session_scope(engine) as s:
        for kind, gdf in (("communities", com), ("compounds", comp), ("roads", road)):
            path = tmp_path / f"{kind}.geojson"
            gdf.to_file(path)
            import_file(path, kind, session=s)
    engine.dispose()


def test_two_communities_far_apart(browser, fresh_db, tmp_path):  # noqa: F811
    """Served, the resident map opens on both communities; asked for one, on that one (not the
    far one); a staff map on its caller's scope (a street, a grid), unless asked for one."""
    _far_community(fresh_db, tmp_path)
    engine = make_engine(fresh_db)
    with session_scope(engine) as s:
        near, far = _extent(s, COMMUNITY), _extent(s, FAR)
        _, token = create_user(session=s, name="d-near", role="dispatcher", street_code="510107013")
        _, worker = create_user(session=s, name="w-far", role="worker", grid_code=FAR)
        _, planner = create_user(session=s, name="p-far", role="planner", street_code="510107099")
        _, admin = create_user(session=s, name="a-all", role="admin")
    engine.dispose()
    centre = {
        k: [(b[0][0] + b[1][0]) / 2, (b[0][1] + b[1][1]) / 2]
        for k, b in (("near", near), ("far", far))
    }

    def opened(path: str, headers=None):
        p = Page(browser, headers)
        page = p.open(base + path)
        got = {k: _view_contains(page, b) for k, b in (("near", near), ("far", far))}
        inside = {
            k: page.evaluate(f"WG.map.getBounds().contains(L.latLng({c}))")
            for k, c in centre.items()
        }
        roads = page.evaluate("WG.base.roads.getLayers().length")
        p.clean()
        p.close()
        return got, inside, roads

    with serve_app(fresh_db) as base, httpx.Client(base_url=base) as c:
        assert c.get("/maps/resident").status_code == 200
        both, _, roads = opened("/maps/resident")
        assert both == {"near": True, "far": True} and roads == 19
        one, inside, roads = opened(f"/maps/resident?community={COMMUNITY}")
        assert one == {"near": True, "far": False} and not inside["far"] and roads == 18
        other, inside, roads = opened(f"/maps/resident?community={FAR}")
        assert other == {"near": False, "far": True} and not inside["near"] and roads == 1
        # a dispatcher of the fixture's street: its community, though the map holds both
        mine, inside, _ = opened("/maps/dispatcher", {"Authorization": f"Bearer {token}"})
        assert mine == {"near": True, "far": False} and not inside["far"]
        # a grid worker of the far community; a planner of the far street; an admin: all
        mine, inside, _ = opened("/maps/dispatcher", {"Authorization": f"Bearer {worker}"})
        assert mine == {"near": False, "far": True} and not inside["near"]
        mine, inside, _ = opened("/maps/planner", {"Authorization": f"Bearer {planner}"})
        assert mine == {"near": False, "far": True} and not inside["near"]
        mine, _, _ = opened("/maps/dispatcher", {"Authorization": f"Bearer {admin}"})
        assert mine == {"near": True, "far": True}
        # asked for a community, the map opens on it whatever the caller's scope
        mine, inside, _ = opened(
            f"/maps/dispatcher?community={FAR}", {"Authorization": f"Bearer {token}"}
        )
        assert mine == {"near": False, "far": True} and not inside["near"]


def test_imported_names_in_the_base_layer_are_text(browser, fresh_db, tmp_path):  # noqa: F811
    """A road and a compound named ``<img src=x onerror=alert(1)>`` show as that text: nothing
    runs, no element is made of them, in the written and in the served page."""
    road = gpd.read_file(FIXTURE_DIR / "roads.geojson").head(1)
    road["code"], road["name"] = "EVIL-R01", EVIL
    road["geometry"] = road.geometry.apply(lambda g: affinity.translate(g, 0.0, 0.001))
    path = tmp_path / "evil.geojson"
    road.to_file(path)
    engine = make_engine(fresh_db)
    with session_scope(engine) as s:
        import_file(path, "roads", session=s)
        s.execute(
            text("UPDATE compound SET name = :n WHERE code = :c"),
            {"n": EVIL, "c": f"{COMMUNITY}-C01"},
        )
    with session_scope(engine) as s:
        page, _ = build_map(s, "resident")
    engine.dispose()
    assert EVIL not in page
    (tmp_path / "resident.html").write_text(page, encoding="utf-8")
    with serve_app(fresh_db) as base:
        for url in ((tmp_path / "resident.html").as_uri(), base + "/maps/resident"):
            p = Page(browser)
            dialogs: list[str] = []
            p.page.on("dialog", lambda d, seen=dialogs: (seen.append(d.message), d.dismiss()))
            page = p.open(url)
            roads = page.locator(".wg-road-label", has_text="onerror")
            assert roads.count() == 1 and roads.inner_text() == EVIL
            comp = page.locator(".wg-compound-label", has_text="onerror")
            assert comp.count() == 1 and comp.inner_text() == EVIL
            assert (
                page.evaluate("document.querySelectorAll('.leaflet-pane img[src=x]').length") == 0
            )
            assert page.evaluate("document.querySelectorAll('img[src=\"x\"]').length") == 0
            assert dialogs == []
            p.clean()
            p.close()


def test_served_resident_map_is_rebuilt_for_a_new_road(fresh_db, tmp_path):
    """The resident map is kept per data version: roads are part of it now."""
    road = gpd.read_file(FIXTURE_DIR / "roads.geojson").head(1)
    road["code"], road["name"] = "NEW-R01", "新修路"
    path = tmp_path / "road.geojson"
    road.to_file(path)
    with serve_app(fresh_db) as base, httpx.Client(base_url=base) as c:
        before = _config(c.get("/maps/resident").text)["base"]["roads"]["features"]
        assert "新修路" not in {f["properties"]["name"] for f in before}
        engine = make_engine(fresh_db)
        with session_scope(engine) as s:
            import_file(path, "roads", session=s)
        engine.dispose()
        after = _config(c.get("/maps/resident").text)["base"]["roads"]["features"]
        assert len(after) == len(before) + 1
        assert "新修路" in {f["properties"]["name"] for f in after}


def test_base_layer_under_a_tile_base_map_is_shifted_with_the_overlays(session):
    """With Amap tiles (GCJ-02) the base layer stays, shifted like every overlay, and the map
    still opens on its community (shifted too)."""
    plain = _config(build_map(session, "resident")[0])
    page = build_map(session, "resident", base="amap")[0]
    amap = _config(page)
    assert "autonavi" in page and amap["gcj02"] is True
    a = plain["base"]["roads"]["features"][0]["geometry"]["coordinates"][0][0]
    b = amap["base"]["roads"]["features"][0]["geometry"]["coordinates"][0][0]
    gx, gy = wgs84_to_gcj02(a[0], a[1])
    assert abs(b[0] - float(gx)) < 1e-6 and abs(b[1] - float(gy)) < 1e-6
    (s, w), (n, e) = amap["bounds"]
    (s0, w0), (n0, e0) = plain["bounds"]
    assert 0.001 < w - w0 < 0.004 and -0.004 < s - s0 < 0
    assert 0.001 < e - e0 < 0.004 and -0.004 < n - n0 < 0
    assert len(amap["base"]["footprints"]["features"]) == 143


def test_notice_boards_draw_the_base_layer(session, tmp_path):
    """A board's map has the roads around the grid with their names along them, and the
    community outline."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from maps.boards import A4, _map, board_data, render_board

    b = board_data(session, f"{COMMUNITY}-C02-M03")
    names = {n for n, _ in b.roads}
    assert names and names <= {
        r for (r,) in session.execute(text("SELECT name FROM road WHERE name IS NOT NULL"))
    }
    assert b.outline is not None and b.outline.area > b.geometry.area * 10  # metric, the community
    fig = plt.figure(figsize=A4)
    _map(fig, b)
    ax = fig.axes[0]
    labels = [t for t in ax.texts if t.get_text() in names]
    # along the road, and upright: turned by at most 90° either way
    assert labels and all(t.get_rotation() <= 90 or t.get_rotation() >= 270 for t in labels)
    assert len({t.get_text() for t in labels}) == len(labels)  # each road named once
    assert len(ax.lines) >= len(labels) + 1  # the roads and the outline
    plt.close(fig)
    png = render_board(
        b,
        Path(__file__).resolve().parent.parent
        / ".wangge"
        / "test-output"
        / "maps"
        / "board-basemap.png",
    )
    assert png.stat().st_size > 50_000


def _large_map(browser, session, api_base):  # noqa: F811
    """The dispatcher's map rendered with an embed limit of 10 (so it loads its footprints by
    bbox), answered by the test on the API's own origin; every other request goes to the real
    API. Opened, with its first footprints in, and every ``/buildings`` request answered; with
    the holder of its ``/buildings`` requests."""
    from maps.build import render_map
    from maps.policy import new_nonce

    r = render_map(session, "dispatcher", api="", embed_limit=10)
    body, csp = r.served(new_nonce())
    p = Page(browser)
    p.page.route(
        api_base + "/maps/large",
        lambda route: route.fulfill(
            body=body, content_type="text/html", headers={"Content-Security-Policy": csp}
        ),
    )
    held = _HeldAnswers(p)
    page = p.open(api_base + "/maps/large")
    assert page.evaluate("WANGGE.base.footprints") is None
    assert page.evaluate("WANGGE.base.footprints_remote") == "/buildings"
    assert page.evaluate("WG.map.getZoom()") >= 16
    page.wait_for_function("() => WG.remote.base_footprints.count > 0", timeout=20_000)
    held.quiet()
    return p, page, held


def _api_footprints(api_base: str, bounds: str) -> list[str]:
    """The codes of the buildings ``/buildings`` gives for a view's ``toBBoxString()``, rounded as
    the page rounds it."""
    bbox = ",".join(f"{float(v):.6f}" for v in bounds.split(","))
    with httpx.Client(base_url=api_base) as c:
        got = c.get("/buildings", params={"bbox": bbox, "limit": 5000}).json()["features"]
    return sorted(f["properties"]["code"] for f in got)


def _shown_footprints(page) -> list[str]:
    return sorted(
        page.evaluate(
            "WG.remote.base_footprints.layer.getLayers().map(l => l.feature.properties.code)"
        )
    )


class _HeldAnswers:
    """The page's ``/buildings`` requests, every one recorded, and held unanswered while
    ``hold`` is set until ``release()`` sends them on to the API; ``settled`` are those whose
    answer arrived in the page or that the page gave up (aborted)."""

    def __init__(self, p: Page):
        self.page = p.page
        self.hold = False
        self.seen: list[Request] = []
        self.held: list[Route] = []
        self.settled: list[Request] = []
        self.page.route(lambda url: "/buildings?" in url, self._route)
        for event in ("requestfinished", "requestfailed"):
            self.page.on(event, self._settle)

    def _route(self, route: Route) -> None:
        self.seen.append(route.request)
        if self.hold:
            self.held.append(route)
        else:
            route.continue_()

    def _settle(self, request: Request) -> None:
        if "/buildings?" in request.url:
            self.settled.append(request)

    def wait(self, what, timeout_ms: int = 20_000) -> None:
        """Let Playwright dispatch the page's events until ``what()`` holds."""
        for _ in range(timeout_ms // 50):
            if what():
                return
            self.page.wait_for_timeout(50)
        seen, settled = [r.url for r in self.seen], [r.url for r in self.settled]
        raise AssertionError(
            f"等待 /buildings 超时 (timed out): 请求 (seen) {seen}, 已完成 (settled) {settled}"
        )

    def quiet(self, still_ms: int = 500) -> None:
        """Every request seen so far settled, and no new one for ``still_ms``: a map that has
        just opened may still move (a late ``moveend`` asks again), and a zoom-out then would
        abort that request, counted as failed. A page that never stops asking fails."""
        for _ in range(40):
            self.wait(lambda: all(r in self.settled for r in self.seen))
            before = len(self.seen)
            self.page.wait_for_timeout(still_ms)
            if len(self.seen) == before and all(r in self.settled for r in self.seen):
                return
        raise AssertionError(f"/buildings 请求不停 (the page keeps asking): {len(self.seen)} seen")

    def release(self) -> list[str]:
        """Send the held requests on (one the page aborted meanwhile stays failed); wait until
        each is settled, then for the page to have handled what came back."""
        urls = [r.request.url for r in self.held]
        for route in self.held:
            route.continue_()
        self.held = []
        self.quiet()
        # the answer's body is in: its JSON is parsed and handled in the page's next tasks
        self.page.evaluate("new Promise(done => setTimeout(done, 300))")
        return urls


def test_footprints_of_a_large_area_load_by_bbox_when_zoomed_in(browser, session, api_base):  # noqa: F811
    """Above ``embed_limit`` buildings a served map embeds no footprint: its script loads
    those in view from ``/buildings`` from zoom 16 on, into the base layer's pane, and none
    when zoomed out."""
    p, page, held = _large_map(browser, session, api_base)
    want = _api_footprints(api_base, page.evaluate("WG.map.getBounds().toBBoxString()"))
    assert page.evaluate("WG.remote.base_footprints.count") == len(want) > 0
    assert _shown_footprints(page) == want
    assert page.evaluate("WG.map.getPane('wgBase').querySelectorAll('path').length") >= len(want)
    assert page.evaluate("WG.base.group.hasLayer(WG.remote.base_footprints.layer)")
    asked = len(held.seen)
    page.evaluate("WG.map.setZoom(14, {animate: false})")
    page.wait_for_function("() => WG.remote.base_footprints.count === 0", timeout=20_000)
    assert page.evaluate("WG.remote.base_footprints.layer.getLayers().length") == 0
    assert len(held.seen) == asked  # zoomed out: nothing asked
    p.clean()
    p.close()


def test_zooming_out_while_footprints_load_leaves_none(browser, session, api_base):  # noqa: F811
    """Zoomed in, then out below zoom 16 before ``/buildings`` answers: the request is aborted
    and its answer, however late, puts no footprint back."""
    p, page, held = _large_map(browser, session, api_base)
    held.hold = True
    page.evaluate("WG.map.setZoom(17, {animate: false})")
    held.wait(lambda: len(held.held) == 1)
    page.evaluate("WG.map.setZoom(14, {animate: false})")
    assert page.evaluate("WG.remote.base_footprints.count") == 0
    assert page.evaluate("WG.remote.base_footprints.layer.getLayers().length") == 0
    held.hold = False
    late = held.release()
    assert page.evaluate("WG.remote.base_footprints.layer.getLayers().length") == 0
    assert page.evaluate("WG.remote.base_footprints.count") == 0
    assert page.evaluate("WG.map.getPane('wgBase').querySelectorAll('path').length") > 0  # roads
    # the zoom-out gave the late request up: the one failed request, and no other
    assert p.failed == late and len(late) == 1 and "bbox=" in late[0]
    assert page.evaluate("WG.remote.base_footprints.pending") == 0
    # zoomed in again, it loads afresh
    page.evaluate("WG.map.setZoom(16, {animate: false})")
    page.wait_for_function("() => WG.remote.base_footprints.count > 0", timeout=20_000)
    want = _api_footprints(api_base, page.evaluate("WG.map.getBounds().toBBoxString()"))
    assert _shown_footprints(page) == want
    p.failed.clear()
    p.clean()
    p.close()


def test_a_late_answer_for_an_old_view_is_dropped(browser, session, api_base):  # noqa: F811
    """Two moves: the first view's ``/buildings`` answer arrives after the second's. The map
    shows the second view's footprints, not the late ones of a view it has left."""
    p, page, held = _large_map(browser, session, api_base)
    page.evaluate("WG.map.setZoom(18, {animate: false})")
    held.quiet()
    sw = page.evaluate("WG.map.getBounds().getSouthWest()")
    ne = page.evaluate("WG.map.getBounds().getNorthEast()")
    with httpx.Client(base_url=api_base) as c:
        every = c.get("/buildings", params={"limit": 5000}).json()
    w, s, e, n = shapely.geometry.shape(
        {"type": "GeometryCollection", "geometries": [f["geometry"] for f in every["features"]]}
    ).bounds
    # the buildings spread wider and taller than a view at zoom 18: views on two corners differ
    assert e - w > ne["lng"] - sw["lng"] and n - s > ne["lat"] - sw["lat"]
    held.hold = True
    page.evaluate(f"WG.map.fitBounds([[{s}, {w}], [{s}, {w}]], {{maxZoom: 18, animate: false}})")
    held.wait(lambda: len(held.held) == 1)
    old = _api_footprints(api_base, page.evaluate("WG.map.getBounds().toBBoxString()"))
    held.hold = False
    page.evaluate(f"WG.map.fitBounds([[{n}, {e}], [{n}, {e}]], {{maxZoom: 18, animate: false}})")
    new = _api_footprints(api_base, page.evaluate("WG.map.getBounds().toBBoxString()"))
    assert old and new and old != new
    page.wait_for_function(f"() => WG.remote.base_footprints.count === {len(new)}", timeout=20_000)
    assert _shown_footprints(page) == new
    late = held.release()
    assert len(late) == 1 and p.failed == []  # answered, not aborted: dropped when it came
    assert _shown_footprints(page) == new
    assert page.evaluate("WG.remote.base_footprints.pending") == 0
    assert page.evaluate("WG.remote.base_footprints.count") == len(new)
    p.clean()
    p.close()
