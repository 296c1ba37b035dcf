"""Pages and public endpoints hardened (issue 15): the dispatcher map built for the caller's
scope, imported names shown as text (never HTML or script), a Content-Security-Policy without
``'unsafe-inline'`` scripts on every page (nonces when served, hashes when written), no framing,
health details for admins only, OGC links from the configured public URL (never the Host
header), page routes answering 404/400 naming the value, and the public endpoints' cost bounded
(the resident map, the OGC collection list and address lookups built once per data version,
the walking search bounded by a setting).

Real PostGIS, real HTTP, real Chromium; SQL statements are observed with SQLAlchemy's events
(not replaced) to show what a request costs."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
from pathlib import Path

import httpx
import pytest
from sqlalchemy import event, text
from sqlalchemy.engine import Engine

from geo.errors import NotFoundError
from geo.runtime.auth import authenticate, create_user
from geo.store.db import make_engine, session_scope

from . import test_maps
from .conftest import serve_app
from .test_maps import Page, _config

browser = test_maps.browser  # the fixtures of tests/test_maps.py: a Chromium, the written maps
files = test_maps.files

pytestmark = pytest.mark.db
COMMUNITY = "510107013001"
STREET = "510107013"
PAYLOAD = "<img src=x onerror=alert(1)>"
# breaks out of the template literal folium writes a marker's tooltip into
TICK = "`+alert(2)+`${alert(3)}"


class Statements:
    """Every SQL statement any engine of this process runs while it is open (the app served
    in a thread included), with the number of rows it gave."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, object, int]] = []

    def _after(self, conn, cursor, statement, params, context, executemany):
        self.seen.append((statement, params, cursor.rowcount))

    def __enter__(self) -> Statements:
        event.listen(Engine, "after_cursor_execute", self._after)
        return self

    def __exit__(self, *exc) -> None:
        event.remove(Engine, "after_cursor_execute", self._after)

    def matching(self, word: str) -> list[tuple[str, object, int]]:
        return [s for s in self.seen if word in s[0]]


def _facilities_file(tmp_path: Path, rows: list[tuple[str, str, str, float, float]]) -> Path:
    feats = [
        {
            "type": "Feature",
            "properties": {
                "code": code,
                "name": name,
                "kind": kind,
                "address": "武侯区吉福路1号",
                "phone": "028-85009999",
                "opening_hours": "Mo-Su 09:00-18:00",
                "services": "测试",
                "community_code": COMMUNITY,
            },
            "geometry": {"type": "Point", "coordinates": [lon, lat]},
        }
        for code, name, kind, lon, lat in rows
    ]
    path = tmp_path / "facilities.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": feats}), "utf-8")
    return path


def _import_facilities(url: str, tmp_path: Path, rows) -> None:
    from geo.io import import_file

    engine = make_engine(url)
    with session_scope(engine) as s:
        import_file(_facilities_file(tmp_path, rows), "facilities", session=s)
    engine.dispose()


def _token(url: str, role: str, **kw) -> str:
    engine = make_engine(url)
    with session_scope(engine) as s:
        _, token = create_user(session=s, name=f"t-{role}", role=role, **kw)
    engine.dispose()
    return token


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- item 3: the dispatcher map for the caller's scope ---------------------------------------
def _incident_codes(page: str) -> set[str]:
    return set(re.findall(r'"wgCode": "([^"]+)"', page))


def test_dispatcher_map_is_built_for_the_callers_scope(fresh_db):
    """A dispatcher sees its street's incidents, a grid worker its grids', an admin all: the
    incidents in the page's data are exactly those ``GET /incidents`` lists for that caller."""
    from geo.incidents import list_incidents

    engine = make_engine(fresh_db)
    with session_scope(engine) as s:
        s.execute(
            text(
                "INSERT INTO street (code, name, district) VALUES ('510107099', '测试街道', '武侯区')"
            )
        )
        moved = set(
            s.execute(
                text(
                    "UPDATE incident SET street_id = (SELECT id FROM street WHERE code = "
                    "'510107099') WHERE code IN (SELECT code FROM incident ORDER BY code LIMIT 3) "
                    "RETURNING code"
                )
            ).scalars()
        )
        total = set(s.execute(text("SELECT code FROM incident")).scalars())
        compound_grid = s.execute(
            text(
                "SELECT pg.code FROM incident i JOIN grid g ON g.id = i.grid_id JOIN grid pg ON "
                "pg.id = g.parent_id GROUP BY pg.code ORDER BY count(*) DESC, pg.code LIMIT 1"
            )
        ).scalar_one()
        tokens = {
            "own street": create_user(session=s, name="d1", role="dispatcher", street_code=STREET)[
                1
            ],
            "other street": create_user(
                session=s, name="d2", role="dispatcher", street_code="510107099"
            )[1],
            "grid worker": create_user(session=s, name="w", role="worker", grid_code=compound_grid)[
                1
            ],
            "admin": create_user(session=s, name="a", role="admin")[1],
        }
        want = {
            who: {
                i["code"]
                for i in list_incidents(s, authenticate(session=s, token=t), limit=100_000)[
                    "incidents"
                ]
            }
            for who, t in tokens.items()
        }
    engine.dispose()
    assert want["other street"] == moved and want["own street"] == total - moved
    assert want["admin"] == total and 0 < len(want["grid worker"]) < len(total)
    with serve_app(fresh_db) as base, httpx.Client(base_url=base, timeout=60) as c:
        for who, token in tokens.items():
            r = c.get("/maps/dispatcher", headers=_auth(token))
            assert r.status_code == 200, (who, r.text[:300])
            assert _incident_codes(r.text) == want[who], who


# --- item 11: imported names are text ---------------------------------------------------------
OPEN_EVERYTHING = """async () => {
  // every marker of a cluster on the map itself, so that its tooltip and popup can open
  const groups = [...Object.values(WANGGE.clusters || {}), WANGGE.cluster].filter(Boolean);
  const loose = L.layerGroup().addTo(WG.map);
  for (const g of groups) for (const m of window[g].getLayers()) loose.addLayer(m);
  const out = {texts: [], imgs: 0, layers: 0};
  const look = () => {
    out.imgs = Math.max(out.imgs, document.querySelectorAll('img[onerror], img[src="x"]').length);
    for (const e of document.querySelectorAll('.leaflet-tooltip, .leaflet-popup-content'))
      out.texts.push(e.textContent);
  };
  const leaves = [];
  WG.map.eachLayer(l => { if (!l.getLayers) leaves.push(l); });
  for (const l of leaves) {
    const at = l.getLatLng ? l.getLatLng() : l.getBounds ? l.getBounds().getCenter() : null;
    if (!at) continue;
    out.layers++;
    l.fire('mouseover', {latlng: at}, true);
    look();
    l.fire('click', {latlng: at}, true);
    look();
    l.fire('mouseout', {latlng: at}, true);
    WG.map.closePopup();
  }
  await new Promise(r => setTimeout(r, 300));
  return out;
}"""


def test_imported_names_are_shown_as_text_in_every_map(browser, fresh_db, tmp_path):
    """A facility imported with the name ``<img src=x onerror=alert(1)>`` (and one whose name
    would close folium's tooltip template literal), a compound, a community and a building
    renamed so: in Chromium, with every tooltip and popup of each map opened, no script runs,
    no such img element exists, and the name is shown as text."""
    _import_facilities(
        fresh_db,
        tmp_path,
        [
            ("510107013001-X01", PAYLOAD, "party_service_centre", 104.0245, 30.6285),
            ("510107013001-X02", TICK, "convenience_station", 104.0255, 30.6290),
        ],
    )
    engine = make_engine(fresh_db)
    with session_scope(engine) as s:
        s.execute(
            text("UPDATE community SET name = :n WHERE code = :c"), {"n": PAYLOAD, "c": COMMUNITY}
        )
        s.execute(
            text("UPDATE compound SET name = :n WHERE code = (SELECT min(code) FROM compound)"),
            {"n": PAYLOAD},
        )
        s.execute(
            text("UPDATE building SET name = :n WHERE code = '510107013001-C01-B01'"),
            {"n": PAYLOAD},
        )
        _, planner = create_user(session=s, name="p", role="planner")
        _, dispatcher = create_user(session=s, name="d", role="dispatcher", street_code=STREET)
    engine.dispose()
    with serve_app(fresh_db) as base:
        for path, token in (
            ("/maps/resident", None),
            ("/maps/planner", planner),
            ("/maps/dispatcher", dispatcher),
        ):
            p = Page(browser, _auth(token) if token else None)
            p.page.add_init_script(
                "window.__alerts = []; window.alert = m => window.__alerts.push(String(m));"
            )
            page = p.open(base + path)
            seen = page.evaluate(OPEN_EVERYTHING)
            assert seen["layers"] > 30, (path, seen["layers"])
            assert page.evaluate("window.__alerts") == [], path
            assert seen["imgs"] == 0, path
            assert page.evaluate("document.querySelectorAll('img[onerror]').length") == 0
            assert any(PAYLOAD in t for t in seen["texts"]), path
            if path == "/maps/resident":
                assert any(TICK in t for t in seen["texts"])
            p.clean()
            p.close()


def test_app_pages_show_names_as_text(browser, fresh_db):
    """The app pages take names from their config as stored and escape them in their
    scripts: a community and users named ``<img src=x onerror=alert(1)>`` are shown as that
    text on /app/planner, /app/dispatcher, /app/worker and /app/notices; no script runs and no
    such img element exists."""
    engine = make_engine(fresh_db)
    with session_scope(engine) as s:
        s.execute(
            text("UPDATE community SET name = :n WHERE code = :c"), {"n": PAYLOAD, "c": COMMUNITY}
        )
        grid = s.execute(
            text("SELECT min(code) FROM grid WHERE level = 'micro' AND code LIKE :c"),
            {"c": COMMUNITY + "%"},
        ).scalar_one()
        tokens = {
            role: create_user(session=s, name=PAYLOAD + role, role=role, **scope)[1]
            for role, scope in (
                ("planner", {}),
                ("dispatcher", {"street_code": STREET}),
                ("worker", {"grid_code": grid}),
            )
        }
    engine.dispose()
    with serve_app(fresh_db) as base:
        for path, role in (
            ("/app/planner", "planner"),
            ("/app/dispatcher", "dispatcher"),
            ("/app/worker", "worker"),
            ("/app/notices", "dispatcher"),
        ):
            p = Page(browser, _auth(tokens[role]))
            p.page.add_init_script(
                "window.__alerts = []; window.alert = m => window.__alerts.push(String(m));"
            )
            page = p.open(base + path)
            page.wait_for_timeout(300)
            assert page.evaluate("window.__alerts") == [], path
            assert page.evaluate("document.querySelectorAll('img[onerror]').length") == 0, path
            shown = page.evaluate("document.body.innerText")
            assert PAYLOAD + role in shown, (path, shown[:300])
            if path == "/app/planner":
                assert PAYLOAD in page.locator("[data-testid=community-select]").inner_text()
            p.close()


# --- item 15: a Content-Security-Policy without 'unsafe-inline' scripts -----------------------
def _directives(policy: str) -> dict[str, list[str]]:
    out = {}
    for part in policy.split(";"):
        words = part.split()
        if words:
            out[words[0]] = words[1:]
    return out


WATCH_CSP = (
    "window.__csp = []; document.addEventListener('securitypolicyviolation', "
    "e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));"
)


def test_served_pages_have_a_strict_policy_and_still_work(browser, fresh_db):
    """Each served page: a CSP whose scripts need a fresh nonce (no 'unsafe-inline'), no
    framing (frame-ancestors 'none', X-Frame-Options DENY), nosniff; in Chromium the page works
    with no CSP violation, and a handler injected into the page afterwards does not run."""
    planner = _token(fresh_db, "planner")
    dispatcher = _token(fresh_db, "dispatcher", street_code=STREET)
    with serve_app(fresh_db) as base, httpx.Client(base_url=base, timeout=60) as c:
        assert c.get("/ping").headers["x-content-type-options"] == "nosniff"
        for path, token in (
            ("/maps/resident", None),
            ("/maps/planner", planner),
            ("/maps/dispatcher", dispatcher),
        ):
            headers = _auth(token) if token else {}
            first, second = (c.get(path, headers=headers) for _ in range(2))
            assert first.status_code == 200
            for r in (first, second):
                assert r.headers["x-frame-options"] == "DENY"
                assert r.headers["x-content-type-options"] == "nosniff"
            policy = _directives(first.headers["content-security-policy"])
            scripts = policy["script-src"]
            assert "'unsafe-inline'" not in scripts and "'unsafe-eval'" not in scripts
            nonce = [s for s in scripts if s.startswith("'nonce-")]
            assert len(nonce) == 1 and policy["frame-ancestors"] == ["'none'"]
            assert policy["object-src"] == ["'none'"] and policy["base-uri"] == ["'none'"]
            again = _directives(second.headers["content-security-policy"])["script-src"]
            assert again != scripts  # a nonce per answer
            value = nonce[0][len("'nonce-") : -1]
            tags = re.findall(r"<script[^>]*>", first.text)
            assert tags and all(t == f'<script nonce="{value}">' for t in tags), set(tags)
            p = Page(browser, headers)
            p.page.add_init_script(WATCH_CSP)
            page = p.open(base + path)
            assert page.evaluate("window.__csp") == [], path
            p.clean()
            page.evaluate(
                "document.body.insertAdjacentHTML('beforeend', "
                '\'<b id="wg-probe" onclick="window.__ran = 1">x</b>\')'
            )
            page.click("#wg-probe", force=True)
            page.wait_for_timeout(200)
            assert page.evaluate("window.__ran") is None, path
            assert any(v.startswith("script-src") for v in page.evaluate("window.__csp")), path
            p.close()


def test_served_pages_cannot_be_framed(browser, api_base):
    p = Page(browser)
    page = p.page
    page.goto(api_base + "/ping")
    page.set_content(
        f'<iframe id="f" src="{api_base}/maps/resident" width=600 height=400></iframe>'
    )
    page.wait_for_timeout(1500)
    frame = page.frames[1]
    assert frame.url != api_base + "/maps/resident" or frame.evaluate("!window.WG")
    p.close()


def test_written_pages_carry_a_policy_of_script_hashes(browser, files):
    """A written map (opened from disk) holds its policy in a meta element: one sha256 per
    inline script, nothing else allowed to run; in Chromium there is no violation."""
    for name in ("resident.html", "planner.html", "dispatcher.html"):
        html = (files / name).read_text(encoding="utf-8")
        meta = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', html)
        assert meta, name
        assert html.index(meta.group(0)) < html.index("<script")  # before any script
        policy = _directives(meta.group(1))
        scripts = policy["script-src"]
        assert "'unsafe-inline'" not in scripts and "'unsafe-eval'" not in scripts
        bodies = re.findall(r"<script>(.*?)</script>", html, re.S)
        want = {
            "'sha256-" + base64.b64encode(hashlib.sha256(b.encode()).digest()).decode() + "'"
            for b in bodies
        }
        assert set(scripts) == want, name
        p = Page(browser)
        p.page.add_init_script(WATCH_CSP)
        page = p.open((files / name).as_uri())
        assert page.evaluate("window.__csp") == [], name
        p.clean()
        p.close()


# --- item 14: health details for admins; OGC links from the public URL -----------------------
def test_health_details_for_admins_only(fresh_db):
    admin = _token(fresh_db, "admin")
    with serve_app(fresh_db) as base, httpx.Client(base_url=base, timeout=30) as c:
        public = c.get("/health")
        assert public.status_code == 200
        assert public.json() == {"status": "ok", "database": "ok"}
        assert str(os.getpid()) not in public.text  # the app runs in this process
        staff = c.get("/health", headers=_auth(_token(fresh_db, "dispatcher", street_code=STREET)))
        assert staff.json() == {"status": "ok", "database": "ok"}
        full = c.get("/health", headers=_auth(admin)).json()
        assert full["status"] == "ok" and full["postgis_version"].startswith("3.")
        assert full["server_version"] and full["worker"] == os.getpid()


def _hrefs(body) -> list[str]:
    if isinstance(body, dict):
        return [v for k, v in body.items() if k in ("href", "$id") and isinstance(v, str)] + [
            h for v in body.values() for h in _hrefs(v)
        ]
    if isinstance(body, list):
        return [h for v in body for h in _hrefs(v)]
    return []


OGC_PATHS = (
    "/ogc",
    "/ogc/collections",
    "/ogc/collections/buildings",
    "/ogc/collections/buildings/queryables",
    "/ogc/collections/buildings/items?limit=2&offset=2",
    "/ogc/collections/buildings/items/510107013001-C01-B01",
    "/buildings?limit=2&offset=2",
)


def test_links_come_from_the_public_url_never_from_host(fixture_url, monkeypatch):
    """With WANGGE_PUBLIC_URL set, every link starts with it whatever Host the request
    carries; unset, links name the address the server listens on, still not Host."""
    evil = {"Host": "evil.example", "X-Forwarded-Host": "evil.example"}
    with serve_app(fixture_url) as base, httpx.Client(base_url=base, timeout=30) as c:
        for path in OGC_PATHS:
            hrefs = _hrefs(c.get(path, headers=evil).json())
            assert hrefs and all(h.startswith(base + "/") for h in hrefs), (path, hrefs)
        monkeypatch.setenv("WANGGE_PUBLIC_URL", "https://wangge.example.org/gis/")
        from geo.settings import get_settings

        get_settings.cache_clear()
        for path in OGC_PATHS:
            body = c.get(path, headers=evil).json()
            hrefs = _hrefs(body)
            assert hrefs, path
            assert all(h.startswith("https://wangge.example.org/gis/") for h in hrefs), hrefs
            assert not any("evil" in h or "//" in h.removeprefix("https://") for h in hrefs)
        items = c.get("/ogc/collections/buildings/items?limit=2&offset=2").json()
        nxt = next(x["href"] for x in items["links"] if x["rel"] == "next")
        assert nxt.startswith("https://wangge.example.org/gis/ogc/collections/buildings/items?")
        assert "offset=4" in nxt and "limit=2" in nxt


def test_a_public_url_must_be_an_http_url(monkeypatch):
    from pydantic import ValidationError

    from geo.settings import Settings

    monkeypatch.setenv("WANGGE_PUBLIC_URL", "evil.example/x")
    with pytest.raises(ValidationError, match="WANGGE_PUBLIC_URL"):
        Settings()


# --- item 19: page routes answer 404/400 naming the value ------------------------------------
def test_page_routes_name_an_unknown_value(fresh_db):
    engine = make_engine(fresh_db)
    with session_scope(engine) as s:
        # a community with nothing in it yet: its maps are empty, not an error
        s.execute(
            text(
                "INSERT INTO community (code, name, street_id, boundary) SELECT '510107013099', "
                "'空社区', street_id, ST_Multi(ST_Buffer(ST_Centroid(boundary), 0.0005)) FROM "
                "community WHERE code = :c"
            ),
            {"c": COMMUNITY},
        )
        _, planner = create_user(session=s, name="p", role="planner")
        _, dispatcher = create_user(session=s, name="d", role="dispatcher", street_code=STREET)
    engine.dispose()
    with serve_app(fresh_db) as base, httpx.Client(base_url=base, timeout=60) as c:
        for path, token in (
            ("/maps/resident", None),
            ("/maps/planner", planner),
            ("/maps/dispatcher", dispatcher),
        ):
            h = _auth(token) if token else {}
            r = c.get(path, params={"community": "NOPE"}, headers=h)
            assert r.status_code == 404, (path, r.status_code, r.text[:200])
            assert "NOPE" in r.json()["message"] and "社区" in r.json()["message"]
            ok = c.get(path, params={"community": "510107013099"}, headers=h)
            assert ok.status_code == 200, (path, ok.text[:300])
            assert ok.headers["content-type"].startswith("text/html")
        r = c.get("/maps/planner", params={"plan": 987654}, headers=_auth(planner))
        assert r.status_code == 404 and "987654" in r.json()["message"]
        plan = c.post("/plans", json={"community": COMMUNITY}, headers=_auth(planner)).json()["id"]
        r = c.get(
            "/maps/planner",
            params={"plan": plan, "community": "510107013099"},
            headers=_auth(planner),
        )
        assert r.status_code == 400 and "510107013099" in r.json()["message"]
        assert str(plan) in r.json()["message"]


# --- item 7: the public endpoints' cost is bounded -------------------------------------------
def test_resident_map_is_built_once_per_data_version(fresh_db, tmp_path):
    """``/maps/resident`` is served from a cache until the data it shows changes: the same
    page (the same folium map) twice; a facility imported → rebuilt, holding it; then cached
    again. Each community's page is its own entry."""
    with serve_app(fresh_db) as base, httpx.Client(base_url=base, timeout=60) as c:
        with Statements() as sql:
            a = _config(c.get("/maps/resident").text)
            b = _config(c.get("/maps/resident").text)
        assert a["map"] == b["map"]
        assert len(sql.matching("FROM facility f")) == 1  # built once
        one = _config(c.get("/maps/resident", params={"community": COMMUNITY}).text)
        assert one["map"] != a["map"]
        _import_facilities(
            fresh_db,
            tmp_path,
            [("510107013001-X09", "新服务站", "convenience_station", 104.0245, 30.6285)],
        )
        after = _config(c.get("/maps/resident").text)
        assert after["map"] != a["map"]
        assert "510107013001-X09" in {p["code"] for p in after["places"]}
        assert "510107013001-X09" not in {p["code"] for p in a["places"]}
        assert _config(c.get("/maps/resident").text)["map"] == after["map"]


def test_ogc_collection_extents_are_computed_once_per_data_version(fresh_db, tmp_path):
    with serve_app(fresh_db) as base, httpx.Client(base_url=base, timeout=60) as c:
        with Statements() as sql:
            first = c.get("/ogc/collections").json()
            computed = len(sql.matching("ST_Extent"))
            assert computed >= 9
            second = c.get("/ogc/collections").json()
            one = c.get("/ogc/collections/facilities").json()
            assert len(sql.matching("ST_Extent")) == computed  # nothing computed again
        assert first == second
        facilities = next(x for x in first["collections"] if x["id"] == "facilities")
        assert one["extent"] == facilities["extent"]
        west = facilities["extent"]["spatial"]["bbox"][0][0]
        _import_facilities(
            fresh_db,
            tmp_path,
            [("510107013001-X10", "西边的站", "convenience_station", west - 0.01, 30.6285)],
        )
        with Statements() as sql:
            third = c.get("/ogc/collections").json()
            assert 1 <= len(sql.matching("ST_Extent")) < computed  # only what changed
        grown = next(x for x in third["collections"] if x["id"] == "facilities")
        assert grown["extent"]["spatial"]["bbox"][0][0] == pytest.approx(west - 0.01)
        others = [x for x in third["collections"] if x["id"] != "facilities"]
        assert others == [x for x in first["collections"] if x["id"] != "facilities"]


def test_address_lookups_read_no_table_whole(session):
    """An address is found (or refused with the closest names) from an index built once per
    data version, not by reading every building and footprint: no statement of a lookup
    returns more than a handful of rows. A building added is found once the locator is
    rebuilt for the new data."""
    from geo.locate import Locator, locate_address

    loc = Locator.load(session)
    with Statements() as sql:
        hit = locate_address(session, loc, "吉福社区云锦城市花园3栋2单元")
        with pytest.raises(NotFoundError) as no_building:
            locate_address(session, loc, "吉福社区云锦城市花园99栋")
        with pytest.raises(NotFoundError) as typo:
            locate_address(session, loc, "成都市武侯区吉福社区云锦城市花苑3栋")
        with pytest.raises(NotFoundError):
            locate_address(session, loc, "不存在的小区5栋")
    assert hit.building["name"] == "3栋" and hit.building["compound"] == "云锦城市花园"
    assert all(rows <= 20 for _, _, rows in sql.seen), [(s[:80], n) for s, _, n in sql.seen]
    assert not sql.matching("footprint")
    assert "云锦城市花园" in str(no_building.value.detail["closest"])
    assert "云锦城市花园3栋" in typo.value.detail["closest"]
    index = loc.address_index()
    assert loc.address_index() is index  # built once
    session.execute(
        text(
            "INSERT INTO building (code, name, community_id, compound_id, floors, units, "
            "households, footprint) SELECT '510107013001-C01-B99', '99栋', b.community_id, "
            "b.compound_id, 6, 1, 0, ST_Multi(ST_Translate(b.footprint, 0.00001, 0)) FROM "
            "building b WHERE b.code = '510107013001-C01-B01'"
        )
    )
    new = Locator.load(session)
    assert new.key != loc.key
    assert locate_address(session, new, "云锦城市花园99栋").building["code"].endswith("B99")


def test_nearby_refuses_a_radius_above_the_maximum(http):
    at = {"lon": 104.0245, "lat": 30.6285, "crs": "wgs84"}
    r = http.get("/nearby", params=at | {"within_m": 50000})
    assert r.status_code == 400, r.text[:300]
    message = r.json()["message"]
    assert "50000" in message and "WANGGE_NEARBY_MAX_M" in message and "5000" in message
    assert http.get("/nearby", params=at | {"within_m": 2000}).status_code == 200


def test_nearby_never_searches_the_whole_network(empty_db):
    """A service place on a street the origin's network does not reach: its walking distance
    is unknown (null) and every search pgRouting is given is bounded to the setting's box,
    never the whole network (which a city-wide Dijkstra per request would be)."""
    from geo.network import build_network
    from geo.places import nearby

    from .test_services import LAT0, LON0, _road

    engine = make_engine(empty_db)
    with session_scope(engine) as s:
        _road(s, "A", [(0, 0), (0, 300)])
        far = _road(s, "B", [(2500, 0), (2500, 300)])
        build_network(s)
        s.execute(
            text(
                "INSERT INTO facility (code, name, kind, position) VALUES ('F1', '远处的站', "
                "'convenience_station', ST_SetSRID(ST_MakePoint(:x, :y), 4490))"
            ),
            {"x": far[0], "y": far[1]},
        )
        with Statements() as sql:
            fc = nearby(s, LON0, LAT0, limit=1)
    engine.dispose()
    assert fc["features"][0]["properties"]["walking_m"] is None
    searches = sql.matching("pgr_dijkstraCost")
    assert searches
    for _, params, _ in searches:
        edges = params["edges"] if isinstance(params, dict) else str(params)
        assert "ST_MakeEnvelope" in edges, edges
