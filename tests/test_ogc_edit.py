"""OGC API – Features Part 4 on a draft plan (``/ogc/collections/plan-{id}-micro``): the
requests QGIS's OAPIF provider sends (conformance, collections, OPTIONS, GET, PUT without
If-Match, PATCH as merge patch), each write checked against the plans API doing the same
edit, a stale If-Match, refused writes that change nothing, who may call, and GDAL's OAPIF
driver reading the draft with the planner's header. One database for the module; each test
drafts its own plans."""

from __future__ import annotations

import copy

import httpx
import pyogrio
import pytest
import shapely
from sqlalchemy import text

from geo.ogc import COLLECTIONS
from geo.plans import ogc as gpo
from geo.runtime.auth import create_user
from geo.store.db import make_engine, session_scope

from .conftest import serve_app, serve_app_process
from .test_plans import COMMUNITY, _draft_bytes
from .test_plans_api import _buffered, _compounds_with_floor_cells

pytestmark = pytest.mark.db
PART4 = "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/"
MERGE_PATCH = {"Content-Type": "application/merge-patch+json"}
PASSWORD = "ogc-edit-pass-1"


@pytest.fixture(scope="module")
def env(module_db):
    engine = make_engine(module_db)
    headers = {}
    with session_scope(engine) as s:
        for name, role, street in [
            ("qgis_planner", "planner", None),
            ("ogc_dispatcher", "dispatcher", "510107013"),
        ]:
            _, token = create_user(
                session=s, name=name, role=role, street_code=street, password=PASSWORD
            )
            headers[role] = {"Authorization": f"Bearer {token}"}
    with serve_app(module_db) as base, httpx.Client(base_url=base, timeout=120) as c:
        yield c, engine, headers, base
    engine.dispose()


def _draft(c, headers) -> int:
    r = c.post("/plans", json={"community": COMMUNITY}, headers=headers["planner"])
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def _micro(c, headers, pid) -> dict[str, dict]:
    r = c.get(f"/plans/{pid}/grids", params={"level": "micro"}, headers=headers["planner"])
    assert r.status_code == 200, r.text
    return {f["id"]: f for f in r.json()["features"]}


def _revision(c, headers, pid) -> int:
    return int(c.get(f"/plans/{pid}", headers=headers["planner"]).json()["revision"])


def _allow(r: httpx.Response) -> list[str]:
    """The Allow header as QGIS reads it (split on commas, trimmed)."""
    return [m.strip() for m in r.headers.get("allow", "").split(",")]


def _target(c, headers, engine, pid) -> str:
    """A micro-grid of a compound without units split by floors (a boundary may not pass
    through their shared cells), as test_plans_api picks one."""
    towers = _compounds_with_floor_cells(engine, pid)
    return next(
        code for code in sorted(_micro(c, headers, pid)) if code.rsplit("-", 1)[0] not in towers
    )


def test_qgis_sequence_put_is_the_plans_redraw(env):
    c, engine, headers, _ = env
    planner = headers["planner"]
    conf = c.get("/ogc/conformance").json()["conformsTo"]
    assert {PART4 + "create-replace-delete", PART4 + "update"} <= set(conf)
    pid, twin, lat_first = _draft(c, headers), _draft(c, headers), _draft(c, headers)
    cid = f"plan-{pid}-micro"
    # the drafts are listed for the planner only; anonymous readers see exactly today's list
    assert [x["id"] for x in c.get("/ogc/collections").json()["collections"]] == list(COLLECTIONS)
    listed = [x["id"] for x in c.get("/ogc/collections", headers=planner).json()["collections"]]
    assert listed[: len(COLLECTIONS)] == list(COLLECTIONS) and cid in listed
    dispatcher = c.get("/ogc/collections", headers=headers["dispatcher"]).json()
    assert [x["id"] for x in dispatcher["collections"]] == list(COLLECTIONS)
    info = c.get(f"/ogc/collections/{cid}", headers=planner)
    assert info.status_code == 200 and info.json()["extent"]["spatial"]["bbox"]
    # what QGIS asks before it enables editing
    r = c.options(f"/ogc/collections/{cid}/items", headers=planner)
    assert r.status_code == 204 and "POST" in _allow(r)
    micro = _micro(c, headers, pid)
    target = _target(c, headers, engine, pid)
    r = c.options(f"/ogc/collections/{cid}/items/{target}", headers=planner)
    assert {"PUT", "PATCH", "DELETE", "GET"} <= set(_allow(r))
    page = c.get(f"/ogc/collections/{cid}/items", params={"limit": 10}, headers=planner)
    assert page.status_code == 200 and page.headers["etag"] == f'"plan-{pid}-r1"'
    assert page.json()["numberMatched"] == len(micro)
    r = c.get(f"/ogc/collections/{cid}/items/{target}", headers=planner)
    assert r.status_code == 200 and r.headers["etag"] == f'"plan-{pid}-r1"'
    feature = r.json()
    props = feature["properties"]
    assert props["households"] == micro[target]["properties"]["households"]
    assert props["buildings"] == micro[target]["properties"]["buildings"]
    assert props["locked"] is False and feature["id"] == target
    q = c.get(f"/ogc/collections/{cid}/queryables", headers=planner).json()["properties"]
    assert q["households"]["readOnly"] is True and "readOnly" not in q["locked"]
    # QGIS's PUT: the whole feature back, a moved boundary, no If-Match
    drawn = _buffered(engine, pid, target, 6.0)
    put = {k: v for k, v in feature.items() if k != "links"} | {"geometry": drawn}
    r = c.put(
        f"/ogc/collections/{cid}/items/{target}",
        json=put,
        headers=planner | {"Content-Type": "application/geo+json"},
    )
    assert r.status_code == 200, r.text
    assert r.headers["etag"] == f'"plan-{pid}-r2"' and r.json()["id"] == target
    # the same polygon through the plans API on a twin draft
    r = c.post(f"/plans/{twin}/redraw", json={"grid": target, "geometry": drawn}, headers=planner)
    assert r.status_code == 200, r.text
    # and through OGC in EPSG:4490, latitude first (as QGIS sends it with Content-Crs)
    flipped = shapely.geometry.mapping(
        shapely.transform(shapely.geometry.shape(drawn), lambda xy: xy[:, ::-1])
    )
    r = c.put(
        f"/ogc/collections/plan-{lat_first}-micro/items/{target}",
        json=put | {"geometry": flipped},
        headers=planner
        | {"Content-Crs": "http://www.opengis.net/def/crs/EPSG/0/4490"}
        | {"Content-Type": "application/geo+json"},
    )
    assert r.status_code == 200, r.text
    got, want, lat = (_micro(c, headers, p) for p in (pid, twin, lat_first))
    assert set(got) == set(want) == set(lat)
    assert got[target]["geometry"] != micro[target]["geometry"]
    for code in want:
        for other in (got, lat):
            assert other[code]["properties"] == want[code]["properties"], code
            a, b = (shapely.geometry.shape(x[code]["geometry"]) for x in (other, want))
            assert shapely.hausdorff_distance(a, b) < 1e-7, code
    diffs = [c.get(f"/plans/{p}/diff", headers=planner).json() for p in (pid, twin, lat_first)]
    for d in diffs[::2]:
        for key in ("grids", "households", "buildings"):
            assert d[key] == diffs[1][key], key
    assert diffs[0]["grids"]  # the redraw changed something
    # a plan edit with its history: it is in the edit log and undo restores the draft
    plan = c.get(f"/plans/{pid}", headers=planner).json()
    assert [e["op"] for e in plan["edits"]] == ["redraw"]
    original = _draft_bytes(engine, twin)  # a copy of the same draft after the same redraw
    assert _draft_bytes(engine, pid) == original
    assert c.post(f"/plans/{pid}/undo", headers=planner).status_code == 200
    assert _micro(c, headers, pid)[target]["geometry"] == micro[target]["geometry"]


def test_patch_if_match_and_derived_properties(env):
    c, engine, headers, _ = env
    planner = headers["planner"]
    pid = _draft(c, headers)
    target = _target(c, headers, engine, pid)
    url = f"/ogc/collections/plan-{pid}-micro/items/{target}"
    r = c.patch(url, json={"properties": {"locked": True}}, headers=planner | MERGE_PATCH)
    assert r.status_code == 200, r.text
    assert r.json()["properties"]["locked"] is True and r.headers["etag"] == f'"plan-{pid}-r2"'
    assert _micro(c, headers, pid)[target]["properties"]["locked"] is True
    # a stale If-Match: 412 and nothing changed
    before, rev = _draft_bytes(engine, pid), _revision(c, headers, pid)
    r = c.patch(
        url,
        json={"properties": {"locked": False}},
        headers=planner | MERGE_PATCH | {"If-Match": f'"plan-{pid}-r1"'},
    )
    assert r.status_code == 412, r.text
    assert r.json()["code"] == "precondition_failed" and r.headers["etag"] == f'"plan-{pid}-r2"'
    # If-Match compares strongly: the current tag made weak does not match (RFC 9110)
    r = c.patch(
        url,
        json={"properties": {"locked": False}},
        headers=planner | MERGE_PATCH | {"If-Match": f'W/"plan-{pid}-r2"'},
    )
    assert r.status_code == 412, r.text
    assert _draft_bytes(engine, pid) == before and _revision(c, headers, pid) == rev
    # a locked grid refuses a new boundary (the plans API's rule), nothing changed
    drawn = _buffered(engine, pid, target, 6.0)
    r = c.patch(url, json={"geometry": drawn}, headers=planner | MERGE_PATCH)
    assert r.status_code == 409 and "locked" in r.json()["message"], r.text
    assert _draft_bytes(engine, pid) == before and _revision(c, headers, pid) == rev
    # derived properties: changed → 409 saying so; sent back unchanged → ignored
    households = _micro(c, headers, pid)[target]["properties"]["households"]
    r = c.patch(url, json={"properties": {"households": households + 1}}, headers=planner)
    assert r.status_code == 409 and r.json()["code"] == "derived_property", r.text
    assert "households 由楼栋计算 (derived; move buildings instead" in r.json()["message"]
    assert _draft_bytes(engine, pid) == before and _revision(c, headers, pid) == rev
    r = c.patch(url, json={"properties": {"name": "改名"}}, headers=planner)
    assert r.status_code == 409 and "name" in r.json()["message"]
    for bad in ({"colour": "red"}, {"locked": "yes"}):
        r = c.patch(url, json={"properties": bad}, headers=planner)
        assert r.status_code == 400 and next(iter(bad)) in r.json()["message"], r.text
    r = c.patch(url, content=b"locked", headers=planner | {"Content-Type": "text/plain"})
    assert r.status_code == 415
    r = c.patch(url, content=b"{not json", headers=planner | MERGE_PATCH)
    assert r.status_code == 400
    assert _draft_bytes(engine, pid) == before and _revision(c, headers, pid) == rev
    # unlock and redraw in one PUT with the current If-Match (the plans API's "2" works too)
    feature = c.get(url, headers=planner).json()
    put = feature | {"geometry": drawn, "properties": feature["properties"] | {"locked": False}}
    put.pop("links")
    r = c.put(url, json=put, headers=planner | {"If-Match": f'"{rev}"'})
    assert r.status_code == 200, r.text
    assert r.headers["etag"] == f'"plan-{pid}-r{rev + 2}"'
    edits = c.get(f"/plans/{pid}", headers=planner).json()["edits"]
    assert [e["op"] for e in edits] == ["lock", "unlock", "redraw"]
    # the same feature sent back unchanged (QGIS after an edit of nothing): no edit at all
    again = c.get(url, headers=planner).json()
    again.pop("links")
    r = c.put(url, json=again, headers=planner)
    assert r.status_code == 200 and r.headers["etag"] == f'"plan-{pid}-r{rev + 2}"'


def test_bad_geometry_post_and_delete_change_nothing(env):
    c, engine, headers, _ = env
    planner = headers["planner"]
    pid = _draft(c, headers)
    target = _target(c, headers, engine, pid)
    items = f"/ogc/collections/plan-{pid}-micro/items"
    before, rev = _draft_bytes(engine, pid), _revision(c, headers, pid)
    drawn = _buffered(engine, pid, target, 6.0)
    ring = (
        drawn["coordinates"][0][0] if drawn["type"] == "MultiPolygon" else drawn["coordinates"][0]
    )
    (x, y), d = ring[0], 0.0004
    bowtie = {
        "type": "Polygon",
        "coordinates": [[[x, y], [x + d, y + d], [x + d, y], [x, y + d], [x, y]]],
    }
    r = c.patch(f"{items}/{target}", json={"geometry": bowtie}, headers=planner)
    assert r.status_code == 400 and "Self-intersection" in r.json()["message"], r.text
    far = copy.deepcopy(bowtie)
    far["coordinates"] = [[[x + 0.1, y], [x + 0.1 + d, y], [x + 0.1 + d, y + d], [x + 0.1, y]]]
    r = c.patch(f"{items}/{target}", json={"geometry": far}, headers=planner)
    assert r.status_code == 400 and "outside the community" in r.json()["message"], r.text
    r = c.patch(
        f"{items}/{target}",
        json={"geometry": drawn},
        headers=planner | {"Content-Crs": "<http://www.opengis.net/def/crs/EPSG/0/3857>"},
    )
    assert r.status_code == 400 and "Content-Crs" in r.json()["message"]
    r = c.put(f"{items}/{target}", json={"type": "Feature", "properties": {}}, headers=planner)
    assert r.status_code == 400 and "geometry" in r.json()["message"]
    r = c.put(f"{items}/NOPE", json={"type": "Feature", "geometry": drawn}, headers=planner)
    assert r.status_code == 404 and "NOPE" in r.json()["message"]
    # If-Match: * asks for a current representation: none → 412, not 404 (RFC 9110 13.1.1),
    # for PUT, PATCH and DELETE alike; on a feature that exists, * matches
    star = planner | {"If-Match": "*"}
    for r in (
        c.put(f"{items}/NOPE", json={"type": "Feature", "geometry": drawn}, headers=star),
        c.patch(f"{items}/NOPE", json={"properties": {"locked": True}}, headers=star),
        c.delete(f"{items}/NOPE", headers=star),
    ):
        assert r.status_code == 412, r.text
        assert r.json()["code"] == "precondition_failed" and "NOPE" in r.json()["message"]
        assert r.headers["etag"] == f'"plan-{pid}-r{rev}"'
    r = c.patch(f"{items}/{target}", json={"properties": {"locked": False}}, headers=star)
    assert r.status_code == 200 and r.headers["etag"] == f'"plan-{pid}-r{rev}"', r.text
    assert _draft_bytes(engine, pid) == before and _revision(c, headers, pid) == rev
    # POST: refused with what to do instead
    r = c.post(
        items, json={"type": "Feature", "geometry": drawn, "properties": {}}, headers=planner
    )
    assert r.status_code == 409 and f"POST /plans/{pid}/split" in r.json()["message"]
    # DELETE: only into the one neighbour; several → 409 naming them
    with session_scope(engine) as s:
        vid = s.execute(
            text("SELECT draft_version_id FROM plan WHERE id = :p"), {"p": pid}
        ).scalar_one()
        near = {code: gpo.neighbours(s, vid, code) for code in _micro(c, headers, pid)}
    many = next(code for code, n in sorted(near.items()) if len(n) > 1)
    r = c.delete(f"{items}/{many}", headers=planner)
    assert r.status_code == 409 and all(n in r.json()["message"] for n in near[many]), r.text
    assert _draft_bytes(engine, pid) == before and _revision(c, headers, pid) == rev
    # the fixture has micro-grids with one neighbour: merged into it when the merge removes
    # the one deleted (merge keeps the smaller code); else 409 naming the one to delete
    singles = [(code, n[0]) for code, n in sorted(near.items()) if len(n) == 1]
    smaller = [(s, n) for s, n in singles if s < n]
    larger = [(s, n) for s, n in singles if s > n]
    assert smaller and larger, singles
    r = c.delete(f"{items}/{smaller[0][0]}", headers=planner)
    assert r.status_code == 409 and r.json()["detail"]["delete_instead"] == smaller[0][1], r.text
    assert _draft_bytes(engine, pid) == before and _revision(c, headers, pid) == rev
    single = larger[0][0]
    hh = {k: f["properties"]["households"] for k, f in _micro(c, headers, pid).items()}
    r = c.delete(f"{items}/{single}", headers=planner)
    assert r.status_code == 200, r.text
    kept, gone = near[single][0], single
    after = _micro(c, headers, pid)
    assert gone not in after and after[kept]["properties"]["households"] == hh[kept] + hh[gone]
    assert r.json()["kept"] == kept and r.headers["etag"] == f'"plan-{pid}-r{rev + 1}"'
    edits = c.get(f"/plans/{pid}", headers=planner).json()["edits"]
    assert [e["op"] for e in edits] == ["merge"]


def test_who_may_call_and_closed_plans(env):
    c, engine, headers, _ = env
    planner = headers["planner"]
    pid = _draft(c, headers)
    target = _target(c, headers, engine, pid)
    cid = f"plan-{pid}-micro"
    item = f"/ogc/collections/{cid}/items/{target}"
    body = {"properties": {"locked": True}}
    for path in (f"/ogc/collections/{cid}", f"/ogc/collections/{cid}/items", item):
        assert c.get(path).status_code == 401
        assert c.get(path, headers=headers["dispatcher"]).status_code == 403
    assert c.options(f"/ogc/collections/{cid}/items").status_code == 401
    assert c.patch(item, json=body).status_code == 401
    assert c.patch(item, json=body, headers=headers["dispatcher"]).status_code == 403
    # who is calling is checked before the body is read: anonymous is a 401 whatever it sends
    for content, kind in ((b"[" * 100_000, "application/json"), (b"x", "text/plain")):
        for send in (c.put, c.patch):
            r = send(item, content=content, headers={"Content-Type": kind})
            assert r.status_code == 401, (kind, r.status_code, r.text[:200])
    # a body nested too deep for the JSON parser is a 400, not a 500
    r = c.patch(item, content=b"[" * 100_000, headers=planner | MERGE_PATCH)
    assert r.status_code == 400, r.text[:200]
    bad = {"Authorization": "Bearer wg_not-a-token"}
    assert c.get(item, headers=bad).status_code == 401
    assert [x["id"] for x in c.get("/ogc/collections", headers=bad).json()["collections"]] == list(
        COLLECTIONS
    )
    # a browser session: reads work, a write without the CSRF token is refused
    with httpx.Client(base_url=str(c.base_url), timeout=60) as browser:
        r = browser.post("/login", data={"name": "qgis_planner", "password": PASSWORD})
        assert r.status_code == 303, r.text
        assert browser.get(item).status_code == 200
        assert browser.patch(item, json=body).status_code == 403
        csrf = browser.get("/session").json()["csrf"]
        rev = _revision(c, headers, pid)
        assert browser.patch(item, json=body, headers={"X-CSRF-Token": csrf}).status_code == 200
        assert _revision(c, headers, pid) == rev + 1
    assert c.head(item, headers=planner).headers["etag"] == f'"plan-{pid}-r{rev + 1}"'
    # a discarded plan has no collection any more
    assert c.post(f"/plans/{pid}/discard", headers=planner).status_code == 200
    assert c.get(f"/ogc/collections/{cid}", headers=planner).status_code == 404
    assert c.patch(item, json=body, headers=planner).status_code == 404
    listed = [x["id"] for x in c.get("/ogc/collections", headers=planner).json()["collections"]]
    assert cid not in listed
    assert c.get("/ogc/collections/plan-999999-micro", headers=planner).status_code == 404


def test_gdal_reads_the_draft_with_the_planners_token(env, module_db):
    """GDAL's OAPIF driver with the planner's token. (GDAL_HTTP_HEADERS does not reach the
    OAPIF driver's requests in GDAL 3.12 — its own Accept header replaces them — so the token
    goes as GDAL_HTTP_AUTH=BEARER, which sends the same ``Authorization: Bearer`` header.)"""
    c, _, headers, _ = env
    pid = _draft(c, headers)
    micro = _micro(c, headers, pid)
    token = headers["planner"]["Authorization"].removeprefix("Bearer ")
    with serve_app_process(module_db) as base:
        pyogrio.set_gdal_config_options({"GDAL_HTTP_AUTH": "BEARER", "GDAL_HTTP_BEARER": token})
        try:
            frame = pyogrio.read_dataframe(f"OAPIF:{base}/ogc", layer=f"plan-{pid}-micro")
        finally:
            pyogrio.set_gdal_config_options({"GDAL_HTTP_AUTH": None, "GDAL_HTTP_BEARER": None})
        # without the token the draft is not there
        with pytest.raises(pyogrio.errors.DataLayerError):
            pyogrio.read_dataframe(f"OAPIF:{base}/ogc", layer=f"plan-{pid}-micro")
    assert len(frame) == len(micro) > 0 and set(frame["code"]) == set(micro)
    for code, hh, geom in zip(frame["code"], frame["households"], frame.geometry, strict=True):
        assert hh == micro[code]["properties"]["households"]
        want = shapely.geometry.shape(micro[code]["geometry"])
        assert shapely.hausdorff_distance(geom, want) < 1e-6, code
