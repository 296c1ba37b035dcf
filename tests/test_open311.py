"""Open311 GeoReport v2 (issue 19, item 1) over real HTTP on a private copy of the fixture:
FixMyStreet's documented sequence (services.xml → POST requests.xml → tokens/{t}.xml →
requests/{id}.xml), the same in JSON, what the public and a staff-linked app see (the latter
audited), registered app keys (revoked: 403), status mapped from the lifecycle, and bad
input that stores nothing."""

from __future__ import annotations

import math
import os
from xml.etree import ElementTree as ET

import georeport
import httpx
import pytest

from geo.open311 import add_app, revoke_app
from geo.runtime.auth import create_user
from geo.settings import get_settings
from geo.store.db import make_engine, session_scope

from .conftest import run_cli, run_sql, serve_app

pytestmark = pytest.mark.db
STREET = "510107013"
V2 = "/open311/v2"


@pytest.fixture(scope="module")
def db(module_db):
    return module_db


@pytest.fixture(scope="module")
def keys(db):
    """Bearer tokens of a dispatcher and a worker of another street's grid, and api keys: a
    public app, an app acting as the dispatcher, one revoked."""
    engine = make_engine(db)
    out = {}
    with session_scope(engine) as s:
        _, tok = create_user(session=s, name="o311调度", role="dispatcher", street_code=STREET)
        out["dispatcher"] = {"Authorization": f"Bearer {tok}"}
        _, out["public_app"] = add_app(s, "居民随手拍")
        _, out["staff_app"] = add_app(s, "街道调度台", user="o311调度")
        create_user(session=s, name="o311他格", role="worker", grid_code="510107013001-C05")
        _, out["other_worker_app"] = add_app(s, "他格网格员", user="o311他格")
        gone, out["revoked_app"] = add_app(s, "旧应用")
        revoke_app(s, str(gone.id))
    engine.dispose()
    return out


@pytest.fixture(scope="module")
def api(db):
    os.environ["WANGGE_REPORT_RATE_PER_MINUTE"] = "1000"
    get_settings.cache_clear()
    with serve_app(db) as base, httpx.Client(base_url=base, timeout=30) as client:
        yield client
    os.environ.pop("WANGGE_REPORT_RATE_PER_MINUTE", None)
    get_settings.cache_clear()


def _point(db, like="%-C02-B05-U2-301"):
    row = run_sql(
        db,
        "SELECT ST_X(position), ST_Y(position) FROM household WHERE code LIKE :c "
        "ORDER BY code LIMIT 1",
        c=like,
    )[0]
    return float(row[0]), float(row[1])


def _metres(lon1, lat1, lon2, lat2):
    dx = (lon2 - lon1) * 111_320 * math.cos(math.radians(lat1))
    return math.hypot(dx, (lat2 - lat1) * 110_574)


def _count(db):
    return run_sql(db, "SELECT count(*) FROM incident")[0][0]


def _xml_items(r, item="request"):
    root = ET.fromstring(r.content)
    return root, [{c.tag: (c.text or "") for c in el} for el in root.findall(item)]


def test_fixmystreet_sequence_in_xml(api, db, keys):
    # GET services.xml: every category, Chinese name first, its group
    r = api.get(f"{V2}/services.xml", params={"jurisdiction_id": "wangge.local"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/xml")
    root, services = _xml_items(r, "service")
    assert root.tag == "services"
    lift = next(s for s in services if s["service_code"] == "elevator")
    assert lift["service_name"] == "电梯故障" and lift["group"] == "安全隐患"
    assert lift["metadata"] == "true" and lift["type"] == "realtime"
    assert next(s for s in services if s["service_code"] == "illegal_parking")["metadata"] == (
        "false"
    )
    # its attributes
    r = api.get(f"{V2}/services/elevator.xml")
    root = ET.fromstring(r.content)
    assert root.tag == "service_definition"
    codes = [a.findtext("code") for a in root.find("attributes").findall("attribute")]
    assert codes == ["floor", "trapped"]
    values = root.find("attributes")[1].find("values").findall("value")
    assert [v.findtext("key") for v in values] == ["yes", "no"]

    # POST requests.xml, form-encoded as FixMyStreet sends it
    lon, lat = _point(db)
    before = _count(db)
    r = api.post(
        f"{V2}/requests.xml",
        data={
            "jurisdiction_id": "wangge.local",
            "service_code": "elevator",
            "lat": f"{lat:.7f}",
            "long": f"{lon:.7f}",
            "email": "resident@example.org",
            "first_name": "小明",
            "last_name": "王",
            "description": "3号电梯停在5楼不动",
            "attribute[floor]": "5",
            "attribute[trapped]": "no",
        },
    )
    assert r.status_code == 201, r.text
    root, (answer,) = _xml_items(r)
    assert root.tag == "service_requests"
    code, token = answer["service_request_id"], answer["token"]
    assert code.startswith("E") and answer["reporter_token"].startswith("rp_")
    assert _count(db) == before + 1

    # GET tokens/{token}.xml → the id
    r = api.get(f"{V2}/tokens/{token}.xml")
    _, (found,) = _xml_items(r)
    assert found == {"service_request_id": code, "token": token}

    # GET requests/{id}.xml: the public view
    r = api.get(f"{V2}/requests/{code}.xml")
    assert r.status_code == 200
    _, (req,) = _xml_items(r)
    assert req["service_code"] == "elevator" and req["status"] == "open"
    assert req["requested_datetime"].endswith("+08:00")
    assert req["expected_datetime"].endswith("+08:00")
    assert req["agency_responsible"] and "description" not in req and "media_url" not in req
    assert "5楼" not in r.text and "resident@" not in r.text
    assert 0.5 < _metres(lon, lat, float(req["long"]), float(req["lat"])) <= 36  # snapped

    # the stored incident, through the incidents API
    r = api.get(f"/incidents/{code}", headers=keys["dispatcher"])
    inc = r.json()
    assert inc["category"] == "elevator" and inc["description"] == "3号电梯停在5楼不动"
    assert inc["floor"] == 5 and _metres(lon, lat, inc["lon"], inc["lat"]) <= 1
    assert inc["reporter"] == {"name": "王小明", "phone": None, "email": "resident@example.org"}
    public = api.get(f"/incidents/{code}").json()
    assert "reporter" not in public and "description" not in public


def test_json_with_a_chinese_label_and_what_the_public_sees(api, db):
    lon, lat = _point(db, "%-C02-B05-U1-%01")
    r = api.post(
        f"{V2}/requests.json",
        json={
            "service_code": " 油烟扰民 ",
            "lat": lat,
            "long": lon,
            "description": "楼下餐馆油烟直排",
            "media_url": "https://photos.example.org/a.jpg",
            "phone": "17000000009",
            "attribute": {"floor": 2},
        },
    )
    assert r.status_code == 201, r.text
    (answer,) = r.json()
    assert answer["account_id"] is None
    code = answer["service_request_id"]
    stored = run_sql(
        db,
        "SELECT i.category, r.media_url, r.attributes FROM incident i JOIN open311_request r "
        "ON r.incident_id = i.id WHERE i.code = :c",
        c=code,
    )
    assert stored == [("cooking_fumes", "https://photos.example.org/a.jpg", {"floor": "2"})]
    r = api.get(f"{V2}/requests.json", params={"service_request_id": code})
    (req,) = r.json()
    assert req["service_code"] == "cooking_fumes" and req["service_name"] == "油烟扰民"
    for hidden in ("description", "media_url", "address"):
        assert hidden not in req
    assert "photos.example.org" not in r.text and "17000000009" not in r.text
    assert req["position_precision_m"] == 50 and _metres(lon, lat, req["long"], req["lat"]) > 0.5
    # the reporter follows it with its token on the incidents API
    mine = api.get(f"/incidents/{code}", headers={"X-Reporter-Token": answer["reporter_token"]})
    assert mine.json()["description"] == "楼下餐馆油烟直排"


def test_a_staff_linked_app_sees_more_and_the_read_is_audited(api, db, keys):
    lon, lat = _point(db)
    r = api.post(
        f"{V2}/requests.json",
        data={
            "api_key": keys["public_app"],
            "service_code": "noise",
            "lat": lat,
            "long": lon,
            "description": "深夜装修噪音",
            "media_url": "http://photos.example.org/n.png",
        },
    )
    assert r.status_code == 201, r.text
    code = r.json()[0]["service_request_id"]
    app_of = run_sql(
        db,
        "SELECT a.name FROM open311_request r JOIN open311_app a ON a.id = r.app_id "
        "JOIN incident i ON i.id = r.incident_id WHERE i.code = :c",
        c=code,
    )
    assert app_of == [("居民随手拍",)]
    # the public app reads what the public reads
    (pub,) = api.get(f"{V2}/requests/{code}.json", params={"api_key": keys["public_app"]}).json()
    assert "description" not in pub
    n = run_sql(db, "SELECT coalesce(max(id), 0) FROM audit_log")[0][0]
    r = api.get(f"{V2}/requests/{code}.json", headers={"X-Api-Key": keys["staff_app"]})
    (req,) = r.json()
    assert req["description"] == "深夜装修噪音" and req["media_url"].startswith("http://photos")
    assert _metres(lon, lat, req["long"], req["lat"]) <= 1 and "position_precision_m" not in req
    rows = run_sql(
        db, "SELECT actor, detail FROM audit_log WHERE action = 'open311_read' AND id > :n", n=n
    )
    assert len(rows) == 1 and rows[0][0] == "app:街道调度台/dispatcher:o311调度"
    assert rows[0][1]["codes"] == [code]
    # its list: its street's incidents, in the staff view, audited
    r = api.get(f"{V2}/requests.json", params={"api_key": keys["staff_app"]})
    listed = {q["service_request_id"]: q for q in r.json()}
    assert listed[code]["description"] == "深夜装修噪音"
    assert (
        len(run_sql(db, "SELECT 1 FROM audit_log WHERE action = 'open311_read' AND id > :n", n=n))
        == 2
    )


def test_an_app_of_another_grid_gets_the_public_view(api, db, keys):
    lon, lat = _point(db)  # in C02
    r = api.post(
        f"{V2}/requests.json",
        data={"service_code": "noise", "lat": lat, "long": lon, "description": "C02 的噪音"},
    )
    code = r.json()[0]["service_request_id"]
    n = run_sql(db, "SELECT coalesce(max(id), 0) FROM audit_log")[0][0]
    key = keys["other_worker_app"]
    (req,) = api.get(f"{V2}/requests/{code}.json", params={"api_key": key}).json()
    assert "description" not in req and req["position_precision_m"] == 50
    listed = api.get(f"{V2}/requests.json", params={"api_key": key}).json()
    assert code not in {q["service_request_id"] for q in listed}  # its grids only
    assert all(q["description"] != "C02 的噪音" for q in listed)
    rows = run_sql(
        db, "SELECT detail FROM audit_log WHERE action = 'open311_read' AND id > :n", n=n
    )
    assert all(code not in row[0]["codes"] for row in rows)
    # its numeric id is no request to this app (ids are walkable; codes are not)
    iid = run_sql(db, "SELECT id FROM incident WHERE code = :c", c=code)[0][0]
    r = api.get(f"{V2}/requests/{iid}.json", headers={"X-Api-Key": key})
    assert r.status_code == 404 and r.json()[0]["code"] == 404
    r = api.get(f"{V2}/requests/{iid}.json", headers={"X-Api-Key": keys["staff_app"]})
    assert r.status_code == 200 and r.json()[0]["service_request_id"] == code  # in its scope


def test_a_control_character_in_a_text_keeps_the_xml_well_formed(api, db, keys):
    lon, lat = _point(db)
    r = api.post(
        f"{V2}/requests.json",
        data={"service_code": "noise", "lat": lat, "long": lon, "description": "铃\u0007声\u000b"},
    )
    assert r.status_code == 201, r.text
    code = r.json()[0]["service_request_id"]
    for path in (f"{V2}/requests/{code}.xml", f"{V2}/requests.xml"):
        r = api.get(path, headers={"X-Api-Key": keys["staff_app"]})
        assert r.status_code == 200
        root = ET.fromstring(r.content)  # parses
        mine = [el for el in root.findall("request") if el.findtext("service_request_id") == code]
        said = mine[0].findtext("description") if mine else ""
        assert said.startswith("铃\ufffd声") and "\u0007" not in said, said


def test_unknown_or_revoked_keys_are_refused_and_store_nothing(api, db, keys):
    lon, lat = _point(db)
    before = _count(db)
    body = {"service_code": "noise", "lat": lat, "long": lon, "description": "x"}
    for key, said in ((keys["revoked_app"], "revoked"), ("o311_nonsense", "unknown api_key")):
        r = api.post(f"{V2}/requests.json", data=body | {"api_key": key})
        assert r.status_code == 403 and said in r.json()[0]["description"]
        assert r.json()[0]["code"] == 403
        r = api.get(f"{V2}/requests.xml", params={"api_key": key})
        assert r.status_code == 403 and ET.fromstring(r.content).findtext("error/code") == "403"
    assert _count(db) == before


def test_keyless_posts_can_be_turned_off(api, db, keys, monkeypatch):
    lon, lat = _point(db)
    monkeypatch.setenv("WANGGE_OPEN311_KEYLESS", "false")
    get_settings.cache_clear()
    body = {"service_code": "garbage", "lat": lat, "long": lon, "description": "垃圾满溢"}
    r = api.post(f"{V2}/requests.json", data=body)
    assert r.status_code == 403 and "api_key" in r.json()[0]["description"]
    r = api.post(f"{V2}/requests.json", data=body | {"api_key": keys["public_app"]})
    assert r.status_code == 201


def test_an_app_has_its_own_rate_bucket(api, db, monkeypatch):
    engine = make_engine(db)
    with session_scope(engine) as s:
        _, key = add_app(s, "限流应用")
    engine.dispose()
    monkeypatch.setenv("WANGGE_OPEN311_APP_RATE_PER_MINUTE", "2")
    get_settings.cache_clear()
    got = [
        api.post(f"{V2}/requests.json", data={"api_key": key, "service_code": "nope"}).status_code
        for _ in range(3)
    ]
    assert got == [400, 400, 429]
    # keyless clients are counted apart (their own per-address limit: 1000 here)
    assert api.post(f"{V2}/requests.json", data={"service_code": "nope"}).status_code == 400


def test_status_follows_the_lifecycle(api, db, keys):
    lon, lat = _point(db, "%-C02-B05-U2-301")
    r = api.post(
        f"{V2}/requests.json",
        data={"service_code": "water_leak", "lat": lat, "long": lon, "description": "楼上漏水"},
    )
    code = r.json()[0]["service_request_id"]

    def listed(status):
        r = api.get(f"{V2}/requests.json", params={"status": status, "service_code": "water_leak"})
        assert r.status_code == 200, r.text
        return {q["service_request_id"] for q in r.json()}

    assert code in listed("open") and code not in listed("closed")
    for step in (
        {"to": "accepted"},
        {"to": "resolved"},
        {"to": "closed", "outcome": "solved"},
    ):
        t = api.post(f"/incidents/{code}/transitions", json=step, headers=keys["dispatcher"])
        assert t.status_code == 200, t.text
    assert code in listed("closed") and code not in listed("open")
    assert code in listed("open,closed")
    (req,) = api.get(f"{V2}/requests/{code}.json").json()
    assert req["status"] == "closed" and "已解决" in req["status_notes"]


@pytest.mark.parametrize(
    ("params", "said"),
    [
        (
            {"start_date": "2026-01-01T00:00:00+08:00", "end_date": "2026-05-01T00:00:00+08:00"},
            "90",
        ),
        ({"start_date": "yesterday"}, "start_date"),
        ({"end_date": "2026-01-01", "start_date": "2026-02-01"}, "end before start"),
        ({"status": "pending"}, "pending"),
        ({"service_code": "unicorns"}, "unicorns"),
        ({"jurisdiction_id": "other.city"}, "other.city"),
        # 90 days past the calendar's ends (once a 500)
        ({"start_date": "9999-12-31"}, "out of range"),
        ({"end_date": "0001-01-01"}, "out of range"),
    ],
)
def test_bad_list_queries_are_a_400(api, params, said):
    r = api.get(f"{V2}/requests.json", params=params)
    assert r.status_code == 400 and r.json()[0]["code"] == 400
    assert said in r.json()[0]["description"]


def test_unknown_service_and_request(api):
    r = api.get(f"{V2}/services/unicorns.json")
    assert r.status_code == 404 and "unicorns" in r.json()[0]["description"]
    r = api.get(f"{V2}/services/unicorns.xml")
    assert r.status_code == 404 and ET.fromstring(r.content).findtext("error/code") == "404"
    assert api.get(f"{V2}/services/噪音扰民.json").json()["service_code"] == "noise"
    assert api.get(f"{V2}/requests/E0000.json").status_code == 404
    assert api.get(f"{V2}/requests/1.json").status_code == 404  # ids are not walkable
    assert api.get(f"{V2}/tokens/nope.json").status_code == 404
    assert api.get(f"{V2}/services.csv").status_code == 404


BOMB = (
    '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
    "<request><service_code>noise</service_code><description>&b;</description></request>"
)


@pytest.mark.parametrize(
    ("content_type", "body", "status", "said"),
    [
        (
            "application/x-www-form-urlencoded",
            "service_code=unicorns&lat=30.6&long=104.0&description=x",
            400,
            "unicorns",
        ),
        (
            "application/x-www-form-urlencoded",
            "service_code=noise&jurisdiction_id=other.city&description=x",
            400,
            "other.city",
        ),
        (
            "application/x-www-form-urlencoded",
            "service_code=noise&&lat",
            400,
            "form body does not parse",
        ),
        ("application/json", '{"service_code": "noise",', 400, "JSON body does not parse"),
        ("application/json", '["noise"]', 400, "object"),
        ("text/xml", "<request><service_code>noise</service_code>", 400, "XML body does not parse"),
        (  # a repeated element would silently replace the first (once it did)
            "text/xml",
            "<request><service_code>noise</service_code><lat>30.6283</lat><long>104.0242</long>"
            "<description>第一</description><description>第二</description></request>",
            400,
            "element given more than once): 'description'",
        ),
        (  # an attribute code repeated, in one <attribute> or across two (no multivaluelist)
            "text/xml",
            "<request><service_code>noise</service_code><lat>30.6283</lat><long>104.0242</long>"
            "<description>x</description><attribute><floor>3</floor></attribute>"
            "<attribute><floor>4</floor></attribute></request>",
            400,
            "'attribute[floor]'",
        ),
        ("text/xml", BOMB, 400, "XML body does not parse"),
        (  # a DTD, even without entities
            "text/xml",
            '<?xml version="1.0"?><!DOCTYPE request [<!ELEMENT request ANY>]><request>'
            "<service_code>noise</service_code><lat>30.62</lat><long>104.02</long>"
            "<description>x</description></request>",
            400,
            "XML body does not parse",
        ),
        (
            "application/x-www-form-urlencoded",
            "service_code=noise&lat=39.9&long=116.39&description=x",
            404,
            "outside the served area",
        ),
        (
            "application/x-www-form-urlencoded",
            "service_code=noise&lat=30.63&long=104.02&description=x&media_url=ftp://x/y",
            400,
            "media_url",
        ),
        (
            "application/x-www-form-urlencoded",
            "service_code=noise&lat=30.63&long=104.02&description=x&attribute[colour]=red",
            400,
            "colour",
        ),
        (
            "application/x-www-form-urlencoded",
            "service_code=noise&lat=30.63&long=104.02&description=x&email=nobody",
            400,
            "email",
        ),
        (
            "application/x-www-form-urlencoded",
            "service_code=noise&lat=30.63&long=104.02&description=x&attribute[floor]=high",
            400,
            "floor",
        ),
        (
            "application/x-www-form-urlencoded",
            "service_code=noise&description=x",
            400,
            "lon/lat or address",
        ),
        ("multipart/form-data; boundary=x", "--x--", 400, "Content-Type"),
        (
            "application/x-www-form-urlencoded",
            "service_code=noise&lat=30.6283&long=104.0242&description=a%00b",
            400,
            "nothing stored",
        ),
        (
            "application/json",
            '{"service_code": "noise", "lat": 30.6283, "long": 104.0242, "description": "\\ud800"}',
            400,
            "Unicode",
        ),
        (
            "application/x-www-form-urlencoded",
            "service_code=noise&lat=30.6283&long=104.0242&description=%FF",
            400,
            "form body does not parse",
        ),
    ],
)
def test_bad_posts_store_nothing(api, db, content_type, body, status, said):
    before = _count(db), run_sql(db, "SELECT count(*) FROM open311_request")[0][0]
    r = api.post(
        f"{V2}/requests.json", content=body.encode(), headers={"Content-Type": content_type}
    )
    assert r.status_code == status, r.text
    (err,) = r.json()
    assert err["code"] == status and said in err["description"], err
    assert (_count(db), run_sql(db, "SELECT count(*) FROM open311_request")[0][0]) == before


def _post_form(api, body: str, query: str = ""):
    return api.post(
        f"{V2}/requests.json{query}",
        content=body.encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )


def test_jurisdiction_id_from_the_body_or_the_query_string(api, db):
    form = "service_code=noise&lat=30.6283&long=104.0242&description=楼上噪音"
    own = get_settings().open311_jurisdiction
    before = _count(db)
    # in the query string only: checked as the body's is (once it was ignored)
    r = _post_form(api, form, "?jurisdiction_id=other.city")
    assert r.status_code == 400 and "other.city" in r.json()[0]["description"], r.text
    # the body and the query string disagree: refused, naming both
    r = _post_form(api, f"{form}&jurisdiction_id={own}", "?jurisdiction_id=other.city")
    assert r.status_code == 400, r.text
    said = r.json()[0]["description"]
    assert "differs" in said and own in said and "other.city" in said
    r = _post_form(api, f"{form}&jurisdiction_id=other.city", f"?jurisdiction_id={own}")
    assert r.status_code == 400 and "differs" in r.json()[0]["description"]
    assert _count(db) == before
    # the service's own, in the query string alone or in both: filed
    assert _post_form(api, form, f"?jurisdiction_id={own}").status_code == 201
    r = _post_form(api, f"{form}&jurisdiction_id={own}", f"?jurisdiction_id={own}")
    assert r.status_code == 201, r.text
    assert _count(db) == before + 2


def test_an_unencoded_plus_in_a_date_is_read_as_the_offset(api, db):
    # FixMyStreet sends the offset's "+" raw: the query string decodes it as a space
    start, end = "2026-10-01T00:00:00", "2026-12-29T00:00:00"
    raw = api.get(f"{V2}/requests.json?start_date={start}+08:00&end_date={end}+0800")
    assert raw.status_code == 200, raw.text
    encoded = api.get(
        f"{V2}/requests.json", params={"start_date": f"{start}+08:00", "end_date": f"{end}+08:00"}
    )
    assert raw.json() == encoded.json()
    want = run_sql(
        db,
        "SELECT count(*) FROM incident WHERE reported_at BETWEEN :s AND :e",
        s=f"{start}+08:00",
        e=f"{end}+08:00",
    )[0][0]
    assert 0 < len(raw.json()) == min(want, 1000)
    # garbage after the space is still refused, naming the value
    r = api.get(f"{V2}/requests.json?start_date={start}+zz")
    assert r.status_code == 400 and f"'{start} zz'" in r.json()[0]["description"], r.text


def test_a_long_address_is_cut_short_in_the_error(api, db):
    address = "不是标准地址" * 40  # 240 characters
    before = _count(db)
    r = _post_form(api, f"service_code=noise&address_string={address}&description=x")
    assert r.status_code == 400, r.text
    said = r.json()[0]["description"]
    assert "not a standard address" in said
    assert repr(address[:80]) + "…" in said and address[:81] not in said
    assert _count(db) == before


def test_an_xml_body_and_an_address(api, db):
    body = (
        "<request><service_code>elevator</service_code><address_string>吉福社区云锦城市花园3栋2单元"
        "</address_string><description>电梯异响</description><attribute><trapped>yes</trapped>"
        "</attribute></request>"
    )
    r = api.post(f"{V2}/requests.xml", content=body.encode(), headers={"Content-Type": "text/xml"})
    assert r.status_code == 201, r.text
    _, (answer,) = _xml_items(r)
    stored = run_sql(
        db,
        "SELECT i.address, r.attributes FROM incident i JOIN open311_request r ON "
        "r.incident_id = i.id WHERE i.code = :c",
        c=answer["service_request_id"],
    )
    assert stored == [("吉福社区云锦城市花园3栋2单元", {"trapped": "yes"})]


def test_discovery_links_use_the_public_url(api, monkeypatch):
    monkeypatch.setenv("WANGGE_PUBLIC_URL", "https://wangge.example.org/gis")
    get_settings.cache_clear()
    d = api.get(f"{V2}/discovery.json", headers={"Host": "evil.example"}).json()
    assert d["endpoints"][0]["url"] == "https://wangge.example.org/gis/open311/v2"
    assert "WGS84" in d["coordinates"]
    root = ET.fromstring(api.get(f"{V2}/discovery.xml").content)
    assert root.tag == "discovery"
    assert root.findtext("endpoints/endpoint/url") == "https://wangge.example.org/gis/open311/v2"
    assert [f.text for f in root.find("endpoints/endpoint/formats")] == [
        "text/xml",
        "application/json",
    ]


def test_the_georeport_client_library(api, db):
    root = str(api.base_url).rstrip("/") + V2
    lon, lat = _point(db)
    for fmt in ("json", "xml"):
        client = georeport.GeoReport(root, jurisdiction="wangge.local", output_format=fmt)
        codes = [s["service_code"] for s in client.get_service_list()]
        assert "cooking_fumes" in codes and len(codes) == 11
        assert client.get_service_definition("noise")["service_code"] == "noise"
        r = api.post(
            f"{V2}/requests.{fmt}",
            data={"service_code": "garbage", "lat": lat, "long": lon, "description": "垃圾"},
        )
        assert r.status_code == 201
        code = (r.json()[0] if fmt == "json" else _xml_items(r)[1][0])["service_request_id"]
        req = client.get_service_request(code)
        assert req["service_request_id"] == code and req["service_code"] == "garbage"
        assert code in {q["service_request_id"] for q in _as_list(client.get_service_requests())}


def _as_list(found):
    return found if isinstance(found, list) else [found]


@pytest.mark.cli
def test_apps_commands(db):
    r = run_cli("apps", "add", "命令行应用", "--user", "o311调度", url=db)
    assert r.code == 0, r.err
    key = r.out.strip()
    assert key.startswith("o311_") and "acting as o311调度" in r.err
    stored = run_sql(db, "SELECT key_hash FROM open311_app WHERE name = '命令行应用'")
    assert stored and key not in stored[0][0]
    r = run_cli("apps", "list", url=db, env={"COLUMNS": "80"})
    assert r.code == 0 and "命令行应用" in r.out and "o311调度" in r.out
    assert max(len(line) for line in r.out.splitlines()) <= 80
    assert key not in r.out
    assert run_cli("apps", "revoke", "命令行应用", url=db).code == 0
    assert run_sql(
        db, "SELECT revoked_at IS NOT NULL FROM open311_app WHERE name = '命令行应用'"
    ) == [(True,)]
    r = run_cli("apps", "add", "x", "--user", "nobody-here", url=db)
    assert r.code == 1 and "nobody-here" in r.err
    r = run_cli("apps", "add", "2", url=db)  # `revoke 2` would mean the app of id 2
    assert r.code == 1 and "digits" in r.err


def test_a_key_in_the_query_string_is_masked_in_the_access_log():
    import logging

    from api.middleware import MaskKeys

    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        "",
        0,
        '%s - "%s %s HTTP/%s" %d',
        (
            "127.0.0.1:5000",
            "GET",
            "/open311/v2/requests.json?status=open&api_key=o311_SECRET",
            "1.1",
            200,
        ),
        None,
    )
    assert MaskKeys().filter(record)
    line = record.getMessage()
    assert "SECRET" not in line and "api_key=***" in line and "status=open" in line
    from api.app import create_app

    create_app("postgresql+psycopg://nobody@127.0.0.1:1/none")  # installs it (no connection)
    assert any(isinstance(f, MaskKeys) for f in logging.getLogger("uvicorn.access").filters)
