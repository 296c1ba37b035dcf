"""The API over real HTTP (uvicorn on loopback) against the fixture database."""

from __future__ import annotations

import httpx
import pytest
import shapely
from shapely.geometry import box, shape
from sqlalchemy import text

from geo.runtime.auth import create_user, revoke_user
from geo.store.db import make_engine, session_scope

from .conftest import free_port, serve_app

pytestmark = pytest.mark.db


def test_health_reports_postgis(fresh_http, fresh_db):
    """Versions for admins; anyone else hears ok or not (tests/test_page_security.py)."""
    http = fresh_http
    engine = make_engine(fresh_db)
    with session_scope(engine) as s:
        _, token = create_user(session=s, name="t-health", role="admin")
    engine.dispose()
    r = http.get("/health", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok" and body["postgis_version"].startswith("3.")
    assert body["server_version"]
    assert http.get("/health").json() == {"status": "ok", "database": "ok"}


def test_health_when_the_database_is_unreachable():
    url = f"postgresql+psycopg://nobody:x@127.0.0.1:{free_port()}/none"
    with serve_app(url) as base:
        r = httpx.get(base + "/health", timeout=30)
    assert r.status_code == 503
    assert r.json()["status"] == "unavailable"
    assert "Traceback" not in r.text


def test_the_api_is_warm_before_its_first_request(fixture_url, monkeypatch):
    """Start-up (the lifespan uvicorn runs before it accepts a request) opens the pooled
    connections, each backend with PROJ set up, and builds the locator; an unreachable
    database does not stop it."""
    import asyncio

    from api.app import create_app

    monkeypatch.setenv("WANGGE_WARM_CONNECTIONS", "3")

    async def started(app) -> dict:
        async with app.router.lifespan_context(app):
            state = app.state
            seen = {"pooled": state.engine.pool.checkedin(), "locator": state.locator}
            if seen["pooled"]:
                with state.engine.connect() as conn:  # a pooled connection: PROJ is set up
                    plan = conn.exec_driver_sql(
                        "EXPLAIN (ANALYZE, FORMAT JSON) SELECT ST_Transform(ST_SetSRID("
                        "ST_MakePoint(11584000, 3588000), 3857), 4490)"
                    ).scalar_one()[0]
                seen["ms"] = plan["Planning Time"] + plan["Execution Time"]
            return seen

    warm = asyncio.run(started(create_app(fixture_url)))
    assert warm["pooled"] == 3 and warm["locator"] is not None
    assert warm["ms"] < 50  # on a new backend about 100-140 ms
    down = asyncio.run(
        started(create_app(f"postgresql+psycopg://nobody:x@127.0.0.1:{free_port()}/none"))
    )
    assert down == {"pooled": 0, "locator": None}


@pytest.mark.parametrize(
    "path,count",
    [
        ("/communities", 1),
        ("/compounds", 11),
        ("/buildings", 143),
        ("/facilities", 11),
        ("/resources", 6),
    ],
)
def test_layers_are_feature_collections(http, path, count):
    r = http.get(path, params={"limit": 1000})
    assert r.status_code == 200
    fc = r.json()
    assert fc["type"] == "FeatureCollection"
    assert fc["numberMatched"] == fc["numberReturned"] == len(fc["features"]) == count
    f = fc["features"][0]
    assert f["type"] == "Feature" and f["id"] == f["properties"]["code"]
    assert "crs" not in f["geometry"]  # RFC 7946: coordinates are CRS84
    lon, lat = shapely.get_coordinates(shape(f["geometry"]))[0]
    assert 103.9 < lon < 104.2 and 30.5 < lat < 30.8


def test_no_personal_data_in_public_layers(http):
    text_ = http.get("/buildings", params={"limit": 1000}).text
    assert "head_name" not in text_ and "phone" not in text_


def test_paging_walks_every_feature_once(http):
    seen, url, params = [], "/buildings", {"limit": 40}
    while url:
        r = http.get(url, params=params)
        fc = r.json()
        assert fc["numberMatched"] == 143
        seen += [f["id"] for f in fc["features"]]
        nxt = [link["href"] for link in fc["links"] if link["rel"] == "next"]
        url, params = (nxt[0] if nxt else None), None
    assert len(seen) == len(set(seen)) == 143


def test_paging_offset_and_prev_link(http):
    fc = http.get("/buildings", params={"limit": 10, "offset": 140}).json()
    assert fc["numberReturned"] == 3
    rels = {link["rel"] for link in fc["links"]}
    assert "prev" in rels and "next" not in rels


def test_bbox_returns_exactly_what_intersects(http, session):
    bbox = (104.0235, 30.6255, 104.0265, 30.6290)
    fc = http.get("/buildings", params={"bbox": ",".join(map(str, bbox)), "limit": 1000}).json()
    got = {f["id"] for f in fc["features"]}
    q = box(*bbox)
    expected = {
        code
        for code, wkt in session.execute(text("SELECT code, ST_AsText(footprint) FROM building"))
        if shapely.from_wkt(wkt).intersects(q)
    }
    assert got == expected and 0 < len(got) < 143
    assert fc["numberMatched"] == len(expected)


def test_filters(http):
    fc = http.get("/facilities", params={"kind": "party_service_station"}).json()
    assert fc["numberMatched"] >= 5
    assert {f["properties"]["kind"] for f in fc["features"]} == {"party_service_station"}
    station = fc["features"][0]["properties"]
    assert station["opening_hours"] and isinstance(station["services"], list)
    fc = http.get("/buildings", params={"compound_code": "510107013001-C08"}).json()
    assert fc["numberMatched"] == 1  # 金沙阁: one building


@pytest.mark.parametrize(
    "bbox,words",
    [
        ("1,2,3", ["invalid bbox", "'1,2,3'"]),
        ("104.0,30.6,abc,30.7", ["'abc'"]),
        ("30.6,104.0,30.7,104.1", ["swapped"]),
        ("104.1,30.6,104.0,30.7", ["min > max"]),
        ("104,30,200,31", ["out of range"]),
        ("nan,30,104,31", ["invalid bbox"]),
    ],
)
def test_bad_bbox_is_a_400_naming_the_value(http, bbox, words):
    r = http.get("/buildings", params={"bbox": bbox})
    assert r.status_code == 400
    body = r.json()
    assert body["code"] == "invalid_input"
    for w in words:
        assert w in body["message"]


@pytest.mark.parametrize(
    "params", [{"limit": 0}, {"limit": 100_000}, {"offset": -1}, {"limit": "many"}]
)
def test_bad_paging_is_a_422_naming_the_parameter(http, params):
    r = http.get("/compounds", params=params)
    assert r.status_code == 422
    body = r.json()
    name, value = next(iter(params.items()))
    assert body["code"] == "invalid_input" and name in body["message"]
    assert str(value) in body["message"]


def test_unknown_route_is_json(http):
    r = http.get("/nowhere")
    assert r.status_code == 404 and r.json()["code"] == "not_found"


def test_openapi_lists_the_routes(http):
    spec = http.get("/openapi.json").json()
    for p in ("/health", "/communities", "/compounds", "/buildings", "/facilities", "/resources"):
        assert p in spec["paths"]
    assert "bbox" in str(spec["paths"]["/buildings"])


def test_oversized_payload_is_refused(http):
    r = http.post("/health", content=b"x" * (11 * 1024 * 1024))
    assert r.status_code == 413
    assert "too large" in r.json()["message"]


def test_oversized_chunked_payload_is_refused_while_reading():
    """A body without Content-Length is counted as it is read, by any route that reads it."""
    import asyncio

    from api.app import BodySizeLimit

    async def reader(scope, receive, send):  # an inner app that reads the whole body
        while (await receive()).get("more_body"):
            pass
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    async def run(chunks: int) -> int:
        sent: list[dict] = []
        msgs = [
            {"type": "http.request", "body": b"x" * 1024, "more_body": i < chunks - 1}
            for i in range(chunks)
        ]

        async def receive():
            return msgs.pop(0)

        async def send(message):
            sent.append(message)

        scope = {"type": "http", "headers": [(b"transfer-encoding", b"chunked")]}
        await BodySizeLimit(reader, limit=10 * 1024)(scope, receive, send)
        return sent[0]["status"]

    assert asyncio.run(run(5)) == 200
    assert asyncio.run(run(11)) == 413


# --- roles -------------------------------------------------------------------------------
@pytest.fixture
def tokens(fresh_db):
    """Users of every role, in the test's own database (the API there: ``fresh_http``)."""
    engine = make_engine(fresh_db)
    made = {}
    with session_scope(engine) as s:
        for role in ("public", "worker", "dispatcher", "planner", "admin"):
            user, token = create_user(session=s, name=f"t-{role}", role=role)
            made[role] = (user.id, token)
    engine.dispose()
    return made


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_route_requiring_a_role(fresh_http, tokens):
    http = fresh_http
    assert http.get("/users").status_code == 401
    assert http.get("/users").headers["www-authenticate"] == "Bearer"
    for role in ("public", "worker", "dispatcher", "planner"):
        r = http.get("/users", headers=_auth(tokens[role][1]))
        assert r.status_code == 403, role
        assert role in r.json()["message"]
    r = http.get("/users", headers=_auth(tokens["admin"][1]))
    assert r.status_code == 200
    names = {u["name"] for u in r.json()}
    assert {"t-worker", "t-admin"} <= names
    assert "token" not in r.text.lower().replace("token_", "")


def test_me_and_bad_tokens(fresh_http, tokens, fresh_db):
    http = fresh_http
    r = http.get("/me", headers=_auth(tokens["worker"][1]))
    assert r.status_code == 200 and r.json()["role"] == "worker"
    assert http.get("/me", headers=_auth("wg_not-a-token")).status_code == 401
    engine = make_engine(fresh_db)
    with session_scope(engine) as s:
        revoke_user(session=s, user_id=tokens["worker"][0])
    engine.dispose()
    assert http.get("/me", headers=_auth(tokens["worker"][1])).status_code == 401


def test_tokens_are_stored_hashed(tokens, fresh_db):
    token = tokens["planner"][1]
    engine = make_engine(fresh_db)
    with session_scope(engine) as session:
        stored = session.execute(text("SELECT token_hash FROM app_user WHERE name = 't-planner'"))
        digest = stored.scalar_one()
    engine.dispose()
    assert token not in digest and len(digest) == 64
