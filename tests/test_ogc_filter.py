"""CQL2 filters (OGC API – Features Part 3) on /ogc items: every operator against a count of
the same condition in SQL, cql2-text and cql2-json alike, through GDAL's OAPIF driver (which
must send ``filter`` to the server), and bad filters (unknown property, injection, unparseable
text, bad filter-lang or filter-crs) refused with a 400 that names the problem, tables intact."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pyogrio
import pytest

from geo.ogc import COLLECTIONS, CONFORMANCE

from .conftest import ROOT, fingerprint, free_port, run_sql

pytestmark = pytest.mark.db
EPSG4490 = "http://www.opengis.net/def/crs/EPSG/0/4490"
EPSG4544 = "http://www.opengis.net/def/crs/EPSG/0/4544"
# the tables behind the collections, with the joins their properties come from
B = "FROM building t JOIN community c ON c.id = t.community_id LEFT JOIN compound p ON p.id = t.compound_id"
INC = "FROM incident t"
G = (
    "FROM grid t JOIN grid_version v ON v.id = t.version_id WHERE v.status = 'published' "
    "AND t.level = 'micro'"
)

# (collection, CQL2 text, the same condition as SQL over the table, CQL2 JSON or None)
CASES = [
    (
        "buildings",
        "households > 40",
        f"SELECT t.code {B} WHERE t.households > 40",
        {"op": ">", "args": [{"property": "households"}, 40]},
    ),
    (
        "buildings",
        "households >= 40 AND households < 100",
        f"SELECT t.code {B} WHERE t.households >= 40 AND t.households < 100",
        {
            "op": "and",
            "args": [
                {"op": ">=", "args": [{"property": "households"}, 40]},
                {"op": "<", "args": [{"property": "households"}, 100]},
            ],
        },
    ),
    (
        "buildings",
        "households <= 12 OR floors = 18",
        f"SELECT t.code {B} WHERE t.households <= 12 OR t.floors = 18",
        None,
    ),
    (
        "buildings",
        "NOT (households = 0) AND units <> 1",
        f"SELECT t.code {B} WHERE NOT (t.households = 0) AND t.units <> 1",
        {
            "op": "and",
            "args": [
                {"op": "not", "args": [{"op": "=", "args": [{"property": "households"}, 0]}]},
                {"op": "<>", "args": [{"property": "units"}, 1]},
            ],
        },
    ),
    ("buildings", "40 < households", f"SELECT t.code {B} WHERE t.households > 40", None),
    (
        "buildings",
        "compound_code IS NULL",
        f"SELECT t.code {B} WHERE p.code IS NULL",
        {"op": "isNull", "args": [{"property": "compound_code"}]},
    ),
    ("buildings", "compound_code IS NOT NULL", f"SELECT t.code {B} WHERE p.code IS NOT NULL", None),
    (  # IS [NOT] NULL of the geometry (once a 400: geometry took S_INTERSECTS only)
        "buildings",
        "geometry IS NULL OR households > 40",
        f"SELECT t.code {B} WHERE t.footprint IS NULL OR t.households > 40",
        {
            "op": "or",
            "args": [
                {"op": "isNull", "args": [{"property": "geometry"}]},
                {"op": ">", "args": [{"property": "households"}, 40]},
            ],
        },
    ),
    (
        "incidents",
        "geometry IS NOT NULL AND status <> 'closed'",
        f"SELECT t.code {INC} WHERE t.public_position IS NOT NULL AND t.status <> 'closed'",
        None,
    ),
    (
        "buildings",
        "name LIKE '1%'",
        f"SELECT t.code {B} WHERE t.name LIKE '1%'",
        {"op": "like", "args": [{"property": "name"}, "1%"]},
    ),
    (
        "buildings",
        "code NOT LIKE '%-B0_'",
        f"SELECT t.code {B} WHERE t.code NOT LIKE '%-B0_'",
        None,
    ),
    (
        "buildings",
        "CASEI(use) = CASEI('RESIDENTIAL')",
        f"SELECT t.code {B} WHERE t.use = 'residential'",
        None,
    ),
    (
        "buildings",
        "floors IN (6, 18, 33)",
        f"SELECT t.code {B} WHERE t.floors IN (6, 18, 33)",
        {"op": "in", "args": [{"property": "floors"}, [6, 18, 33]]},
    ),
    (
        "buildings",
        "households BETWEEN 20 AND 60",
        f"SELECT t.code {B} WHERE t.households BETWEEN 20 AND 60",
        {"op": "between", "args": [{"property": "households"}, 20, 60]},
    ),
    (
        "buildings",
        "households NOT BETWEEN 20 AND 60",
        f"SELECT t.code {B} WHERE t.households NOT BETWEEN 20 AND 60",
        None,
    ),
    (
        "buildings",
        "unit_households LIKE '%,%'",  # a computed property (a subquery)
        f"SELECT t.code {B} WHERE (SELECT string_agg(u.households::text, ',' ORDER BY u.unit_no) "
        "FROM building_unit u WHERE u.building_id = t.id) LIKE '%,%'",
        None,
    ),
    (
        "grids-micro",
        "floors IS NOT NULL AND households > 0",
        f"SELECT t.code {G} AND t.households > 0 AND EXISTS (SELECT 1 FROM grid_member m "
        "WHERE m.grid_id = t.id AND m.floor_min IS NOT NULL)",
        None,
    ),
    (
        "incidents",
        "category = '油烟扰民'",
        f"SELECT t.code {INC} WHERE t.category = 'cooking_fumes'",
        {"op": "=", "args": [{"property": "category"}, "油烟扰民"]},
    ),
    (
        "incidents",
        "category IN ('noise', '油烟扰民') AND status <> 'closed'",
        f"SELECT t.code {INC} WHERE t.category IN ('noise', 'cooking_fumes') AND t.status <> 'closed'",
        None,
    ),
    (
        "facilities",
        "kind = 'party_service_centre' OR name LIKE '%卫生%'",
        "SELECT t.code FROM facility t WHERE t.kind = 'party_service_centre' OR t.name LIKE '%卫生%'",
        None,
    ),
    (  # Basic CQL2's temporal literals on a time published as text (once a 400)
        "incidents",
        "reported_at >= TIMESTAMP('2026-11-01T00:00:00Z')",
        f"SELECT t.code {INC} WHERE t.reported_at >= '2026-11-01T00:00:00Z'",
        {"op": ">=", "args": [{"property": "reported_at"}, {"timestamp": "2026-11-01T00:00:00Z"}]},
    ),
    (  # a DATE is its first moment in Beijing time
        "incidents",
        "reported_at < DATE('2026-11-01') AND status <> 'closed'",
        f"SELECT t.code {INC} WHERE t.reported_at < '2026-11-01T00:00:00+08:00' "
        "AND t.status <> 'closed'",
        None,
    ),
    (  # a list property (services, text[]): compared as its items joined by 、 (once a 500)
        "facilities",
        "services LIKE '%党员活动%'",
        "SELECT t.code FROM facility t WHERE '党员活动' = ANY(t.services)",
        None,
    ),
    (  # a BBOX without area (here a point) is a legal one (once a 400)
        "facilities",
        "S_INTERSECTS(geometry, BBOX(104.0246499, 30.6287642, 104.0246499, 30.6287642))",
        "SELECT t.code FROM facility t WHERE t.code = '510107013001-F01'",
        None,
    ),
    (  # as QGIS writes it: every comparison in brackets, a name with "_" in double quotes
        "buildings",
        "((\"community_code\" = '510107013001') AND (NOT ((households < 30))))",
        f"SELECT t.code {B} WHERE c.code = '510107013001' AND NOT t.households < 30",
        None,
    ),
    (  # ... and ILIKE as CASEI ... LIKE CASEI
        "buildings",
        "((CASEI(\"use\") LIKE CASEI('RES%')) AND (floors IS NOT NULL) AND (units >= 2))",
        f"SELECT t.code {B} WHERE t.use ILIKE 'res%' AND t.units >= 2",
        None,
    ),
]


def _codes(http: httpx.Client, cid: str, **params: str) -> list[str]:
    r = http.get(f"/ogc/collections/{cid}/items", params={"limit": "10000", **params})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["numberMatched"] == body["numberReturned"] == len(body["features"])
    return sorted(f["id"] for f in body["features"])


@pytest.mark.parametrize(("cid", "cql", "sql", "as_json"), CASES, ids=[c[1] for c in CASES])
def test_every_operator_matches_the_database(http, fixture_url, cid, cql, sql, as_json):
    want = sorted(r[0] for r in run_sql(fixture_url, sql))
    total = http.get(f"/ogc/collections/{cid}/items", params={"limit": 1}).json()["numberMatched"]
    assert 0 < len(want) < total, (cql, len(want), total)  # the filter selects, not all or none
    assert _codes(http, cid, filter=cql) == want
    assert _codes(http, cid, filter=cql, **{"filter-lang": "cql2-text"}) == want
    if as_json is not None:  # the same filter in CQL2 JSON gives the same features
        assert _codes(http, cid, filter=json.dumps(as_json), **{"filter-lang": "cql2-json"}) == want


def test_filter_combines_with_equality_parameters_and_bbox(http, fixture_url):
    want = sorted(
        r[0]
        for r in run_sql(
            fixture_url, f"SELECT t.code {B} WHERE t.households > 30 AND t.use = 'residential'"
        )
    )
    assert _codes(http, "buildings", filter="households > 30", use="residential") == want
    lon0, lat0, lon1, lat1 = run_sql(
        fixture_url,
        "SELECT ST_XMin(e), ST_YMin(e), (ST_XMin(e) + ST_XMax(e)) / 2, (ST_YMin(e) + ST_YMax(e)) / 2 "
        "FROM (SELECT ST_Extent(footprint) e FROM building) q",
    )[0]
    inside = sorted(
        r[0]
        for r in run_sql(
            fixture_url,
            f"SELECT t.code {B} WHERE t.households > 30 AND ST_Intersects(t.footprint, "
            "ST_MakeEnvelope(:a, :b, :c, :d, 4490))",
            a=lon0,
            b=lat0,
            c=lon1,
            d=lat1,
        )
    )
    assert 0 < len(inside) < len(want)
    box = f"{lon0},{lat0},{lon1},{lat1}"
    assert _codes(http, "buildings", filter="households > 30", bbox=box) == inside
    # the same box as a CQL2 spatial filter, in CRS84 and (latitude first) in EPSG:4490
    spatial = f"households > 30 AND S_INTERSECTS(geometry, BBOX({box}))"
    assert _codes(http, "buildings", filter=spatial) == inside
    flipped = f"households > 30 AND S_INTERSECTS(geometry, BBOX({lat0},{lon0},{lat1},{lon1}))"
    assert _codes(http, "buildings", filter=flipped, **{"filter-crs": EPSG4490}) == inside
    poly = (
        f"S_INTERSECTS(geometry, POLYGON(({lon0} {lat0}, {lon1} {lat0}, {lon1} {lat1}, "
        f"{lon0} {lat1}, {lon0} {lat0}))) AND households > 30"
    )
    assert _codes(http, "buildings", filter=poly) == inside
    as_json = {
        "op": "and",
        "args": [
            {
                "op": "s_intersects",
                "args": [{"property": "geometry"}, {"bbox": [lon0, lat0, lon1, lat1]}],
            },
            {"op": ">", "args": [{"property": "households"}, 30]},
        ],
    }
    assert (
        _codes(http, "buildings", filter=json.dumps(as_json), **{"filter-lang": "cql2-json"})
        == inside
    )


def test_spatial_filter_in_projected_crs_and_on_incidents_public_position(http, fixture_url):
    # a point in EPSG:4544 (northing first) on a building: the buildings it touches
    code, n, e = run_sql(
        fixture_url,
        "SELECT code, ST_Y(p), ST_X(p) FROM (SELECT code, ST_Transform(ST_PointOnSurface(footprint),"
        " 4544) p FROM building ORDER BY code LIMIT 1) q",
    )[0]
    got = _codes(
        http,
        "buildings",
        filter=f"S_INTERSECTS(geometry, POINT({n} {e}))",
        **{"filter-crs": EPSG4544},
    )
    assert code in got and len(got) <= 2
    # incidents: the public (snapped) position decides, never the exact point (a box of
    # ±1e-6° around each: CQL2 text coordinates are not exact to the last bit)
    code, lon, lat, xlon, xlat = run_sql(
        fixture_url,
        "SELECT code, ST_X(public_position), ST_Y(public_position), ST_X(position), "
        "ST_Y(position) FROM incident WHERE ST_Distance(public_position, position) > 1e-4 "
        "ORDER BY code LIMIT 1",
    )[0]

    def around(x: float, y: float) -> str:
        return f"S_INTERSECTS(geometry, BBOX({x - 1e-6},{y - 1e-6},{x + 1e-6},{y + 1e-6}))"

    want = sorted(
        r[0]
        for r in run_sql(
            fixture_url,
            "SELECT code FROM incident WHERE ST_Intersects(public_position, "
            "ST_Expand(ST_SetSRID(ST_MakePoint(:x, :y), 4490), 1e-6))",
            x=lon,
            y=lat,
        )
    )
    assert code in want
    assert _codes(http, "incidents", filter=around(lon, lat)) == want
    assert code not in _codes(http, "incidents", filter=around(xlon, xlat))


def test_conformance_and_queryables(http, fixture_url):
    conf = set(http.get("/ogc/conformance").json()["conformsTo"])
    assert conf == set(CONFORMANCE)
    # what QGIS checks before it sends a CQL2 filter, and what it then uses
    for uri in (
        "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
        "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
        "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
        "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
        "http://www.opengis.net/spec/cql2/1.0/conf/advanced-comparison-operators",
        "http://www.opengis.net/spec/cql2/1.0/conf/case-insensitive-comparison",
        "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions",
        # the draft name of the class above, which QGIS accepts as well (and releases before
        # the final name require) before it sends S_INTERSECTS
        "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-operators",
        "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json",
    ):
        assert uri in conf
    assert not any("temporal" in u or "array" in u or "arithmetic" in u for u in conf)
    for cid in COLLECTIONS:
        q = http.get(f"/ogc/collections/{cid}/queryables").json()["properties"]
        geom = q.pop("geometry")
        assert geom["x-ogc-role"] == "primary-geometry"
        assert geom["$ref"].startswith("https://geojson.org/schema/")
        assert q and all(v["type"] in ("integer", "string") for v in q.values())
        sample = http.get(f"/ogc/collections/{cid}/items", params={"limit": 1}).json()["features"]
        if sample:  # every property a feature has is a queryable, with its type
            props = sample[0]["properties"]
            assert set(props) == set(q), cid
            for name, value in props.items():
                if value is not None:
                    assert isinstance(value, int) == (q[name]["type"] == "integer"), (cid, name)
    # the landing page's service-desc: the OpenAPI document of /ogc, paths relative to it
    land = {link["rel"]: link for link in http.get("/ogc").json()["links"]}
    assert land["service-desc"]["href"].endswith("/ogc/api")
    doc = http.get("/ogc/api")
    assert doc.headers["content-type"].startswith("application/vnd.oai.openapi+json")
    doc = doc.json()
    assert doc["servers"][0]["url"].endswith("/ogc")
    for path in ("/collections/{collectionId}/items", "/collections/buildings/items"):
        params = {p["name"]: p for p in doc["paths"][path]["get"]["parameters"]}
        assert {"cql2-text", "cql2-json", "cql-text"} <= set(
            params["filter-lang"]["schema"]["enum"]
        )
        assert {"filter", "filter-crs", "bbox", "limit"} <= set(params)
    params = {p["name"] for p in doc["paths"]["/collections/buildings/items"]["get"]["parameters"]}
    assert {"households", "use", "name"} <= params
    assert set(doc["paths"]) >= {f"/collections/{cid}/items" for cid in COLLECTIONS}
    # OpenAPI 3.0: every {name} of a path template is a declared path parameter
    for path, item in doc["paths"].items():
        named = set(re.findall(r"{(\w+)}", path))
        for op in item.values():
            declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert declared == named, (path, declared, named)
    # a list property's equality parameter is one of its items
    listed = _codes(http, "facilities", services="党员活动")
    assert listed == sorted(
        r[0]
        for r in run_sql(fixture_url, "SELECT code FROM facility WHERE '党员活动' = ANY(services)")
    )
    assert listed
    inc = http.get("/ogc/collections/incidents/queryables").json()["properties"]
    assert {"category", "status"} <= set(inc)
    assert not {"description", "address", "position", "reporter_name", "reporter_phone"} & set(inc)


BAD = [
    ("colour = 'red'", {}, ["colour", "households", "name"]),  # names it, lists the queryables
    ("households = 'many'", {}, ["integer", "many"]),
    ("name = 3", {}, ["string"]),
    ("name = 'x'; DROP TABLE grid; --'", {}, ["1:11"]),  # the position of the error
    ("1=1) OR (1=1", {}, ["1:4"]),
    ("households >", {}, ["does not parse"]),
    ("T_AFTER(name, TIMESTAMP('2026-01-01T00:00:00Z'))", {}, ["t_after", "supported"]),
    ("S_WITHIN(geometry, POINT(104 30))", {}, ["s_within"]),
    ("households + 1 > 2", {}, ["queryable property"]),
    ("name = code", {}, ["property-property"]),
    ("S_INTERSECTS(geometry, POINT(200 30))", {}, ["domain"]),
    (
        "S_INTERSECTS(geometry, POINT(104 30))",
        {"filter-crs": "EPSG:9999"},
        ["filter-crs", "EPSG:9999"],
    ),
    ("households > 1", {"filter-lang": "sql"}, ["filter-lang", "sql"]),
    ('{"op": "=", "args": [{"property": "code"}]', {"filter-lang": "cql2-json"}, ["JSON"]),
    (
        '{"op": "=", "args": [{"property": "code"}]}',
        {"filter-lang": "cql2-json"},
        ["two arguments"],
    ),
    ("(" * 200 + "households > 1" + ")" * 200, {}, ["nested"]),
    ("geometry = 'x'", {}, ["S_INTERSECTS"]),
    ('{"op": "and", "args": []}', {"filter-lang": "cql2-json"}, ["AND"]),
    (
        "S_INTERSECTS(geometry, POLYGON((104 30, 105 31, 105 30, 104 31, 104 30)))",
        {},
        ["Self-intersection"],
    ),
    ("name LIKE 'a\\'", {}, ["escape"]),  # a pattern ending in its escape character
    ("name = 'a\x00b'", {}, ["NUL"]),
    ("households IN (" + ", ".join(["1"] * 1001) + ")", {}, ["1000"]),
]


@pytest.mark.parametrize(("cql", "extra", "words"), BAD, ids=[b[0][:40] for b in BAD])
def test_bad_filters_are_refused_and_change_nothing(http, fixture_url, cql, extra, words):
    before = fingerprint(fixture_url, ["building", "grid", "community", "incident", "audit_log"])
    r = http.get("/ogc/collections/buildings/items", params={"filter": cql, **extra})
    assert r.status_code == 400, r.text
    message = r.json()["message"]
    for w in words:
        assert w in message, (w, message)
    assert (
        fingerprint(fixture_url, ["building", "grid", "community", "incident", "audit_log"])
        == before
    )


def test_injection_text_is_only_ever_a_value(http, fixture_url):
    before = fingerprint(fixture_url, ["building", "grid"])
    for value in ("x'; DROP TABLE grid; --", "1=1) OR (1=1", "' OR '1'='1"):
        quoted = value.replace("'", "''")
        r = http.get("/ogc/collections/buildings/items", params={"filter": f"name = '{quoted}'"})
        assert r.status_code == 200 and r.json()["numberMatched"] == 0, r.text
        r = http.get("/ogc/collections/buildings/items", params={"filter": f"name IN ('{quoted}')"})
        assert r.status_code == 200 and r.json()["numberMatched"] == 0
    # a name with a quote is found by its exact value (the '' escape of CQL2)
    assert fingerprint(fixture_url, ["building", "grid"]) == before
    assert run_sql(fixture_url, "SELECT count(*) FROM grid")[0][0] > 0


def test_geometry_is_null_and_is_not_null(http, fixture_url):
    # every stored geometry is set (the columns are NOT NULL): none is null, all are not
    for cid, table, column in (
        ("buildings", "building", "footprint"),
        ("facilities", "facility", "position"),
    ):
        total = run_sql(fixture_url, f"SELECT count(*) FROM {table} WHERE {column} IS NOT NULL")
        assert total[0][0] > 0
        assert _codes(http, cid, filter="geometry IS NULL") == []
        assert len(_codes(http, cid, filter="geometry IS NOT NULL")) == total[0][0]
        as_json = {"op": "not", "args": [{"op": "isNull", "args": [{"property": "geometry"}]}]}
        got = _codes(http, cid, filter=json.dumps(as_json), **{"filter-lang": "cql2-json"})
        assert len(got) == total[0][0]


def test_filter_lang_and_crs_without_filter_are_checked(http):
    r = http.get("/ogc/collections/buildings/items", params={"filter-lang": "xpath"})
    assert r.status_code == 400 and "xpath" in r.json()["message"]
    r = http.get("/ogc/collections/buildings/items", params={"filter-crs": "EPSG:1"})
    assert r.status_code == 400 and "filter-crs" in r.json()["message"]


@pytest.fixture(scope="module")
def recorded_api(fixture_url: str, tmp_path_factory) -> Iterator[tuple[str, Path]]:
    """The app in its own process (GDAL holds the GIL while it waits), every request's path and
    query written to a file by a tiny ASGI wrapper: what the server received."""
    log = tmp_path_factory.mktemp("requests") / "requests.log"
    port = free_port()
    code = (
        "import sys, uvicorn; from api.app import MAX_REQUEST_HEAD_BYTES, create_app\n"
        "app = create_app(sys.argv[1]); out = open(sys.argv[3], 'a', buffering=1)\n"
        "async def recorder(scope, receive, send):\n"
        "    if scope['type'] == 'http':\n"
        "        out.write(scope['path'] + '?' + scope['query_string'].decode() + '\\n')\n"
        "    await app(scope, receive, send)\n"
        "uvicorn.run(recorder, host='127.0.0.1', port=int(sys.argv[2]), log_level='warning', "
        "h11_max_incomplete_event_size=MAX_REQUEST_HEAD_BYTES)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, fixture_url, str(port), str(log)], cwd=ROOT
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base + "/ping", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("the API process did not start")
            time.sleep(0.2)
        yield base, log
    finally:
        proc.terminate()
        proc.wait(10)


def test_gdal_sends_the_attribute_filter_to_the_server(recorded_api, fixture_url):
    base, log = recorded_api
    frame = pyogrio.read_dataframe(f"OAPIF:{base}/ogc", layer="buildings", where="households > 40")
    want = sorted(
        r[0] for r in run_sql(fixture_url, "SELECT code FROM building WHERE households > 40")
    )
    assert 0 < len(want) < run_sql(fixture_url, "SELECT count(*) FROM building")[0][0]
    assert sorted(frame["code"]) == want
    sent = [
        parse_qs(urlsplit(line).query)
        for line in log.read_text().splitlines()
        if line.startswith("/ogc/collections/buildings/items?")
    ]
    filtered = [q for q in sent if "filter" in q]
    assert filtered, sent  # the server received the filter: GDAL did not filter on its side
    assert all(q["filter"] == ["households > 40"] for q in filtered)
    assert {q["filter-lang"][0] for q in filtered} <= {"cql-text", "cql2-text"}
    # an AND with a string condition is sent whole too
    frame = pyogrio.read_dataframe(
        f"OAPIF:{base}/ogc", layer="buildings", where="households > 40 AND use = 'residential'"
    )
    want = sorted(
        r[0]
        for r in run_sql(
            fixture_url, "SELECT code FROM building WHERE households > 40 AND use = 'residential'"
        )
    )
    assert sorted(frame["code"]) == want
    last = [
        parse_qs(urlsplit(line).query) for line in log.read_text().splitlines() if "filter=" in line
    ][-1]
    assert "use = 'residential'" in last["filter"][0] and "households > 40" in last["filter"][0]


def test_filter_on_a_draft_plans_collection(module_db):
    """A draft's collection (plan-{id}-micro, geo.plans.ogc) filters through the same code:
    its integer, string and boolean queryables, against the draft's rows in SQL."""
    from geo.runtime.auth import create_user
    from geo.store.db import make_engine, session_scope

    from .conftest import serve_app
    from .test_plans import COMMUNITY

    engine = make_engine(module_db)
    with session_scope(engine) as s:
        _, token = create_user(session=s, name="cql_planner", role="planner")
    engine.dispose()
    auth = {"Authorization": f"Bearer {token}"}
    with serve_app(module_db) as base, httpx.Client(base_url=base, timeout=120) as c:
        r = c.post("/plans", json={"community": COMMUNITY}, headers=auth)
        assert r.status_code == 201, r.text
        pid = int(r.json()["id"])
        version = run_sql(module_db, "SELECT draft_version_id FROM plan WHERE id = :p", p=pid)[0][0]
        base_sql = (
            "SELECT t.code FROM grid t WHERE t.version_id = :v AND t.level = 'micro' AND "
            "t.households > 20 AND NOT t.locked"
        )
        want = sorted(r[0] for r in run_sql(module_db, base_sql, v=version))
        assert want
        url = f"/ogc/collections/plan-{pid}-micro/items"
        for cql in (
            "households > 20 AND locked = false",
            "NOT (locked = true) AND 20 < households",
        ):
            got = c.get(url, params={"filter": cql, "limit": 10000}, headers=auth)
            assert got.status_code == 200, got.text
            assert sorted(f["id"] for f in got.json()["features"]) == want
        bad = c.get(url, params={"filter": "locked = 'no'"}, headers=auth)
        assert bad.status_code == 400 and "TRUE or FALSE" in bad.json()["message"]
        # anonymous: no draft, whatever the filter
        assert c.get(url, params={"filter": "households > 0"}).status_code == 401


def test_a_run_of_signs_is_refused_before_the_parser_sees_it(fixture_url):
    """Thousands of unary minus signs (or NOTs) in a row overflowed the CQL2 parser's stack
    and killed the whole API process; now a 400, and the process answers on. A string
    literal full of dashes is still a value."""
    from .conftest import serve_app_process

    with serve_app_process(fixture_url) as base, httpx.Client(base_url=base, timeout=60) as c:
        for cql in ("households > " + "-" * 7900 + "1", "NOT " * 1500 + "households > 1"):
            r = c.get("/ogc/collections/buildings/items", params={"filter": cql})
            assert r.status_code == 400 and "in a row" in r.json()["message"], r.text[:300]
        assert c.get("/ping").status_code == 200
        r = c.get(
            "/ogc/collections/buildings/items", params={"filter": "name = '" + "-" * 40 + "'"}
        )
        assert r.status_code == 200 and r.json()["numberMatched"] == 0


def test_a_time_compares_with_time_literals_only(http):
    for cql, word in (
        ("reported_at > 5", "TIMESTAMP"),
        ("reported_at > TIMESTAMP('yesterday')", "ISO 8601"),
        ("reported_at LIKE '2026%'", "LIKE"),
    ):
        r = http.get("/ogc/collections/incidents/items", params={"filter": cql})
        assert r.status_code == 400 and word in r.json()["message"], (cql, r.text)
    q = http.get("/ogc/collections/incidents/queryables").json()["properties"]
    assert q["reported_at"]["type"] == "string" and q["reported_at"]["format"] == "date-time"
