"""The incident server work the browser pages need (issue 18), over real HTTP on a real
PostGIS: categories typed in Chinese, photos stripped of metadata and shown to staff in scope
only, the outcome of a closed incident, what staff need to act (allowed transitions,
co-owners, grid chain, workers), reassignment, the console's sort and polling."""

from __future__ import annotations

import io
import os
from datetime import datetime, timedelta

import httpx
import pytest
from PIL import Image, PngImagePlugin
from sqlalchemy import text

from geo.incidents import TRANSITIONS
from geo.incidents.rules import TZ, WHO
from geo.runtime.auth import create_user
from geo.store.db import make_engine, session_scope
from geo.store.models import INCIDENT_CATEGORIES, INCIDENT_STATUSES

from .conftest import fingerprint, serve_app

pytestmark = pytest.mark.db
STREET = "510107013"
WATCHED = ["incident", "incident_photo", "incident_event", "incident_co_owner", "audit_log"]


@pytest.fixture(scope="module")
def db(module_db):
    return module_db


@pytest.fixture(scope="module")
def api(db):
    os.environ["WANGGE_REPORT_RATE_PER_MINUTE"] = "1000"
    from geo.settings import get_settings

    get_settings.cache_clear()
    with serve_app(db) as base, httpx.Client(base_url=base, timeout=30) as client:
        yield client
    os.environ.pop("WANGGE_REPORT_RATE_PER_MINUTE", None)
    get_settings.cache_clear()


@pytest.fixture(scope="module")
def tokens(db):
    engine = make_engine(db)
    out = {}
    with session_scope(engine) as s:
        for name, role, grid, street in [
            ("调度", "dispatcher", None, STREET),
            ("网格C02", "worker", "510107013001-C02", None),
            ("网格C05", "worker", "510107013001-C05", None),
            ("管理", "admin", None, None),
        ]:
            _, token = create_user(
                session=s, name=name, role=role, grid_code=grid, street_code=street
            )
            out[role if role != "worker" else name] = {"Authorization": f"Bearer {token}"}
    engine.dispose()
    return out


def sql(db, query, **params):
    engine = make_engine(db)
    with session_scope(engine) as s:
        rows = s.execute(text(query), params).all()
    engine.dispose()
    return rows


def report(api, db, category="noise", where="%-C02-B05-U2-301", **extra):
    ((lon, lat),) = sql(
        db, "SELECT ST_X(position), ST_Y(position) FROM household WHERE code LIKE :c", c=where
    )
    body = {
        "category": category,
        "description": "楼道堆物",
        "lon": lon,
        "lat": lat,
        "crs": "cgcs2000",
    } | extra
    r = api.post("/incidents", json=body)
    assert r.status_code == 201, r.text
    return r.json()


# --- categories ------------------------------------------------------------------------------
def test_the_category_list_is_public_and_grouped(api):
    r = api.get("/incidents/categories")
    assert r.status_code == 200, r.text
    cats = r.json()["categories"]
    assert sorted(c["key"] for c in cats) == sorted(INCIDENT_CATEGORIES)
    by_key = {c["key"]: c for c in cats}
    assert by_key["cooking_fumes"] == {
        "key": "cooking_fumes",
        "name": "油烟扰民",
        "name_en": "cooking fumes",
        "group": "环境卫生",
    }
    assert {c["group"] for c in cats} <= {"环境卫生", "市容秩序", "安全隐患", "邻里纠纷", "其他"}
    assert by_key["ebike_charging"]["group"] == "安全隐患"


@pytest.mark.parametrize(
    "typed",
    [
        "油烟扰民",
        " 油烟扰民 ",
        "\u3000油烟扰民\u3000",
        "cooking_fumes",
        "ｃｏｏｋｉｎｇ＿ｆｕｍｅｓ",
        "Cooking Fumes",
    ],
)
def test_a_category_typed_as_a_person_types_it(api, db, typed):
    body = report(api, db, category=typed)
    assert body["category"] == "cooking_fumes" and body["category_name"] == "油烟扰民"
    assert sql(db, "SELECT category FROM incident WHERE code = :c", c=body["code"]) == [
        ("cooking_fumes",)
    ]


def test_the_list_filters_by_a_chinese_category(api, db, tokens):
    fumes = report(api, db, category="油烟扰民")["code"]
    noise = report(api, db, category="噪音扰民")["code"]
    r = api.get(
        "/incidents", params={"category": "油烟扰民", "limit": 1000}, headers=tokens["dispatcher"]
    )
    assert r.status_code == 200, r.text
    codes = {i["code"] for i in r.json()["incidents"]}
    assert fumes in codes and noise not in codes
    assert {i["category"] for i in r.json()["incidents"]} == {"cooking_fumes"}
    bad = api.get("/incidents", params={"category": "烧烤"}, headers=tokens["dispatcher"])
    assert bad.status_code == 400 and "烧烤" in bad.json()["message"]


def test_an_unknown_category_is_a_400_listing_the_labels(api, db):
    before = fingerprint(db, WATCHED)
    ((lon, lat),) = sql(
        db,
        "SELECT ST_X(position), ST_Y(position) FROM household WHERE code LIKE :c",
        c="%-C02-B05-U2-301",
    )
    r = api.post(
        "/incidents",
        json={
            "category": "烧烤油烟",
            "description": "x",
            "lon": lon,
            "lat": lat,
            "crs": "cgcs2000",
        },
    )
    assert r.status_code == 400, r.text
    message = r.json()["message"]
    assert "烧烤油烟" in message
    for zh, _en in INCIDENT_CATEGORIES.values():
        assert zh in message
    assert fingerprint(db, WATCHED) == before


# --- photos ----------------------------------------------------------------------------------
def jpeg_with_gps() -> bytes:
    img = Image.new("RGB", (64, 48), (200, 30, 30))
    exif = Image.Exif()
    exif[0x010F] = "WanggeCam"  # Make
    exif[0x9286] = "secret comment"  # UserComment (in the Exif IFD is fine for the test)
    gps = exif.get_ifd(0x8825)
    gps[1] = "N"
    gps[2] = (30.0, 37.0, 41.0)
    gps[3] = "E"
    gps[4] = (104.0, 1.0, 27.0)
    out = io.BytesIO()
    img.save(out, "JPEG", exif=exif, comment=b"a JPEG comment", icc_profile=b"\0" * 128)
    data = out.getvalue()
    back = Image.open(io.BytesIO(data))
    assert back.getexif().get_ifd(0x8825)[2] == (30.0, 37.0, 41.0)  # the GPS really is in
    return data


def png_with_text() -> bytes:
    img = Image.new("RGBA", (40, 30), (10, 200, 30, 128))
    meta = PngImagePlugin.PngInfo()
    meta.add_text("Comment", "住在3栋2单元502")
    meta.add_text("GPS", "104.02,30.62")
    out = io.BytesIO()
    img.save(out, "PNG", pnginfo=meta)
    data = out.getvalue()
    assert Image.open(io.BytesIO(data)).text["Comment"] == "住在3栋2单元502"
    return data


def stored_photo(db, code, n):
    ((data, mime, w, h),) = sql(
        db,
        "SELECT p.bytes, p.mime, p.width, p.height FROM incident_photo p JOIN incident i "
        "ON i.id = p.incident_id WHERE i.code = :c AND p.n = :n",
        c=code,
        n=n,
    )
    return bytes(data), mime, w, h


def test_photos_are_stored_without_metadata(api, db):
    inc = report(api, db)
    code, token = inc["code"], inc["reporter_token"]
    r = api.post(
        f"/incidents/{code}/photo",
        content=jpeg_with_gps(),
        headers={"Content-Type": "image/jpeg", "X-Reporter-Token": token},
    )
    assert r.status_code == 201, r.text
    data, mime, w, h = stored_photo(db, code, 1)
    assert r.json() == {"photo": 1, "bytes": len(data), "width": 64, "height": 48}
    img = Image.open(io.BytesIO(data))
    assert mime == "image/jpeg" and img.format == "JPEG" and (w, h) == (64, 48)
    assert len(img.getexif()) == 0 and img.getexif().get_ifd(0x8825) == {}
    assert not {"exif", "icc_profile", "comment", "xmp"} & set(img.info)
    assert b"Exif" not in data and b"WanggeCam" not in data and b"a JPEG comment" not in data
    assert img.getpixel((10, 10))[0] > 150  # the pixels are kept

    r = api.post(
        f"/incidents/{code}/photo",
        content=png_with_text(),
        headers={"Content-Type": "image/png", "X-Reporter-Token": token},
    )
    assert r.status_code == 201, r.text
    assert r.json()["photo"] == 2
    data, mime, w, h = stored_photo(db, code, 2)
    img = Image.open(io.BytesIO(data))
    assert mime == "image/png" and img.format == "PNG" and (w, h) == (40, 30)
    assert img.text == {} and "Comment" not in img.info and b"tEXt" not in data
    assert b"104.02" not in data
    assert img.mode == "RGBA" and img.getpixel((5, 5))[3] == 128


def test_a_phone_photo_is_turned_upright_before_its_exif_goes(api, db):
    inc = report(api, db)
    img = Image.new("RGB", (64, 48), (0, 0, 255))
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90° clockwise to view
    out = io.BytesIO()
    img.save(out, "JPEG", exif=exif)
    r = api.post(
        f"/incidents/{inc['code']}/photo",
        content=out.getvalue(),
        headers={"Content-Type": "image/jpeg", "X-Reporter-Token": inc["reporter_token"]},
    )
    assert r.status_code == 201, r.text
    assert (r.json()["width"], r.json()["height"]) == (48, 64)
    data, _mime, w, h = stored_photo(db, inc["code"], 1)
    assert (w, h) == (48, 64) and len(Image.open(io.BytesIO(data)).getexif()) == 0


def test_bad_photos_are_refused_and_nothing_is_stored(api, db, tokens):
    inc = report(api, db)
    code, token = inc["code"], inc["reporter_token"]
    good = jpeg_with_gps()
    before = fingerprint(db, WATCHED)
    cases = [
        (b"\xff\xd8" + b"\0" * (6 * 1024 * 1024), "image/jpeg", token, 413, "5242880"),
        (b"hello, not an image", "text/plain", token, 415, "text/plain"),
        (good, "image/gif", token, 415, "image/gif"),
        (b"\xff\xd8\xff\xe0garbage garbage garbage", "image/jpeg", token, 400, "image/jpeg"),
        (png_with_text(), "image/jpeg", token, 400, "image/jpeg"),  # not of the declared type
        (good, "image/jpeg", None, 403, "X-Reporter-Token"),
        (good, "image/jpeg", "rp_wrong", 403, "reporter token"),
        # the caller is checked before the body is read: no token and 6 MB → 403, not 413
        (b"\xff\xd8" + b"\0" * (6 * 1024 * 1024), "image/jpeg", None, 403, "X-Reporter-Token"),
    ]
    for body, ctype, tok, status, word in cases:
        headers = {"Content-Type": ctype} | ({"X-Reporter-Token": tok} if tok else {})
        r = api.post(f"/incidents/{code}/photo", content=body, headers=headers)
        assert r.status_code == status, (ctype, status, r.text)
        assert word in r.json()["message"], r.text
    r = api.post(
        f"/incidents/{code}/photo",
        content=good,
        headers={"Content-Type": "image/jpeg"} | tokens["网格C05"],
    )
    assert r.status_code == 403  # staff out of scope
    assert fingerprint(db, WATCHED) == before
    # staff in scope may add one too; at most three
    for n, who in [
        (1, tokens["网格C02"]),
        (2, {"X-Reporter-Token": token}),
        (3, tokens["dispatcher"]),
    ]:
        r = api.post(
            f"/incidents/{code}/photo", content=good, headers={"Content-Type": "image/jpeg"} | who
        )
        assert r.status_code == 201 and r.json()["photo"] == n, r.text
    before = fingerprint(db, WATCHED)
    r = api.post(
        f"/incidents/{code}/photo",
        content=good,
        headers={"Content-Type": "image/jpeg", "X-Reporter-Token": token},
    )
    assert r.status_code == 409 and "3" in r.json()["message"]
    assert fingerprint(db, WATCHED) == before
    assert sql(
        db,
        "SELECT count(*) FROM incident_photo p JOIN incident i ON i.id = p.incident_id "
        "WHERE i.code = :c",
        c=code,
    ) == [(3,)]


def test_photos_only_for_staff_in_scope_and_each_read_audited(api, db, tokens):
    inc = report(api, db)
    code, token = inc["code"], inc["reporter_token"]
    r = api.post(
        f"/incidents/{code}/photo",
        content=jpeg_with_gps(),
        headers={"Content-Type": "image/jpeg", "X-Reporter-Token": token},
    )
    assert r.status_code == 201
    ((iid,),) = sql(db, "SELECT id FROM incident WHERE code = :c", c=code)
    stored, *_ = stored_photo(db, code, 1)
    for who in ("dispatcher", "网格C02", "admin"):
        (last,) = sql(db, "SELECT coalesce(max(id), 0) FROM audit_log")[0]
        r = api.get(f"/incidents/{code}/photos/1", headers=tokens[who])
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == "image/jpeg" and r.content == stored
        assert "no-store" in r.headers["cache-control"]
        rows = sql(
            db,
            "SELECT actor, entity, entity_id FROM audit_log WHERE id > :l "
            "AND action = 'incident_photo_read'",
            l=last,
        )
        assert len(rows) == 1 and rows[0][1:] == ("incident_photo", f"{iid}/1"), rows
        assert rows[0][0].endswith(
            ":" + ("调度" if who == "dispatcher" else "网格C02" if who == "网格C02" else "管理")
        )
    (last,) = sql(db, "SELECT coalesce(max(id), 0) FROM audit_log")[0]
    assert api.get(f"/incidents/{code}/photos/1", headers=tokens["网格C05"]).status_code == 403
    assert (
        api.get(f"/incidents/{code}/photos/1", headers={"X-Reporter-Token": token}).status_code
        == 404
    )
    assert api.get(f"/incidents/{code}/photos/1").status_code == 404
    assert api.get(f"/incidents/{code}/photos/2", headers=tokens["dispatcher"]).status_code == 404
    assert sql(
        db,
        "SELECT count(*) FROM audit_log WHERE id > :l AND action = 'incident_photo_read'",
        l=last,
    ) == [(0,)]
    # the photo numbers: for staff in scope only
    staff = api.get(f"/incidents/{code}", headers=tokens["dispatcher"]).json()
    assert staff["photos"] == [1]
    mine = api.get(f"/incidents/{code}", headers={"X-Reporter-Token": token}).json()
    public = api.get(f"/incidents/{code}").json()
    for view in (mine, public):
        assert not {"photos", "co_owners", "grid_chain", "workers"} & set(view)


# --- outcomes --------------------------------------------------------------------------------
def to_resolved(api, code, tokens):
    for to in ("accepted", "resolved"):
        r = api.post(
            f"/incidents/{code}/transitions", json={"to": to}, headers=tokens["dispatcher"]
        )
        assert r.status_code == 200, r.text


def test_closing_needs_an_outcome_shown_to_everyone(api, db, tokens):
    inc = report(api, db)
    code, token = inc["code"], inc["reporter_token"]
    to_resolved(api, code, tokens)
    before = fingerprint(db, WATCHED)
    d = tokens["dispatcher"]
    for body, word in [
        ({"to": "closed"}, "outcome"),
        ({"to": "closed", "outcome": "fixed"}, "fixed"),
        ({"to": "closed", "outcome": "referred"}, "referred_to"),
        ({"to": "closed", "outcome": "referred", "referred_to": "  "}, "referred_to"),
        ({"to": "closed", "outcome": "solved", "referred_to": "城管"}, "referred_to"),
        ({"to": "reopened", "outcome": "solved"}, "outcome"),
    ]:
        r = api.post(f"/incidents/{code}/transitions", json=body, headers=d)
        assert r.status_code == 400, (body, r.text)
        assert word in r.json()["message"], r.text
    r = api.post(
        f"/incidents/{code}/transitions",
        json={"to": "closed", "outcome": "referred", "referred_to": "x" * 201},
        headers=d,
    )
    assert r.status_code in (400, 422)
    assert fingerprint(db, WATCHED) == before
    r = api.post(
        f"/incidents/{code}/transitions",
        json={"to": "closed", "note": "转城管", "outcome": "referred", "referred_to": "区城管局"},
        headers=d,
    )
    assert r.status_code == 200, r.text
    assert r.json()["outcome"] == "referred" and r.json()["outcome_name"] == "已转交"
    assert sql(db, "SELECT status, outcome, referred_to FROM incident WHERE code = :c", c=code) == [
        ("closed", "referred", "区城管局")
    ]
    mine = api.get(f"/incidents/{code}", headers={"X-Reporter-Token": token}).json()
    public = api.get(f"/incidents/{code}").json()
    staff = api.get(f"/incidents/{code}", headers=d).json()
    for view in (mine, public, staff):
        assert (view["status"], view["outcome"], view["outcome_name"], view["referred_to"]) == (
            "closed",
            "referred",
            "已转交",
            "区城管局",
        )
    listed = api.get("/incidents", params={"status": "closed", "limit": 1000}, headers=d).json()
    assert [i["outcome"] for i in listed["incidents"] if i["code"] == code] == ["referred"]


def test_the_reporter_confirms_solved_and_a_rejection_is_not_solved(api, db, tokens):
    inc = report(api, db)
    code, token = inc["code"], inc["reporter_token"]
    to_resolved(api, code, tokens)
    r = api.post(
        f"/incidents/{code}/transitions",
        json={"to": "closed", "reporter_token": token, "outcome": "not_solved"},
    )
    assert r.status_code == 400 and "reopen" in r.json()["message"]
    r = api.post(f"/incidents/{code}/transitions", json={"to": "closed", "reporter_token": token})
    assert r.status_code == 200, r.text
    assert (r.json()["outcome"], r.json()["outcome_name"]) == ("solved", "已解决")
    other = report(api, db)["code"]
    r = api.post(
        f"/incidents/{other}/transitions",
        json={"to": "rejected", "outcome": "solved"},
        headers=tokens["网格C02"],
    )
    assert r.status_code == 400
    r = api.post(
        f"/incidents/{other}/transitions", json={"to": "rejected"}, headers=tokens["网格C02"]
    )
    assert r.status_code == 200 and r.json()["outcome"] == "not_solved"
    assert api.get(f"/incidents/{other}").json()["outcome_name"] == "未解决"


def test_reopening_clears_the_outcome(api, db, tokens):
    inc = report(api, db)
    code, token = inc["code"], inc["reporter_token"]
    to_resolved(api, code, tokens)
    sql(db, "UPDATE incident SET outcome = 'solved' WHERE code = :c RETURNING id", c=code)
    r = api.post(f"/incidents/{code}/transitions", json={"to": "reopened", "reporter_token": token})
    assert r.status_code == 200 and r.json()["outcome"] is None
    assert sql(db, "SELECT outcome FROM incident WHERE code = :c", c=code) == [(None,)]


# --- what staff need to act ------------------------------------------------------------------
def set_status(db, code, status):
    sql(db, "UPDATE incident SET status = :s WHERE code = :c RETURNING id", s=status, c=code)


@pytest.mark.parametrize("who", ["网格C02", "dispatcher", "admin"])
def test_allowed_is_exactly_what_transition_accepts(api, db, tokens, who):
    role = {"网格C02": "worker"}.get(who, who)
    for frm in INCIDENT_STATUSES:
        code = report(api, db)["code"]
        set_status(db, code, frm)
        r = api.get(f"/incidents/{code}", headers=tokens[who])
        assert r.status_code == 200, r.text
        allowed = r.json()["allowed"]
        assert all(a["name"] == INCIDENT_STATUSES[a["to"]][0] for a in allowed)
        allowed_to = [a["to"] for a in allowed]
        for to in INCIDENT_STATUSES:
            fresh = report(api, db)["code"]
            set_status(db, fresh, frm)
            body = {"to": to, "note": "测试"} | ({"outcome": "solved"} if to == "closed" else {})
            moved = api.post(f"/incidents/{fresh}/transitions", json=body, headers=tokens[who])
            if to in allowed_to:
                assert moved.status_code == 200, (who, frm, to, moved.text)
                assert moved.json()["status"] == to
            elif to not in TRANSITIONS[frm]:
                assert moved.status_code == 409, (who, frm, to, moved.text)
            else:  # in the state machine, but not for this role
                assert role not in WHO[to] and moved.status_code == 403, (who, frm, to)
        if frm in ("street_handling",) and role == "worker":
            assert allowed_to == ["resolved"]  # the department tier is the street's


def test_staff_see_co_owners_grid_chain_and_workers(api, db, tokens):
    inc = report(api, db)
    code = inc["code"]
    neighbour = "510107013001-C05-M01"
    sql(
        db,
        "INSERT INTO incident_co_owner (incident_id, grid_id, reason) SELECT i.id, g.id, 'edge' "
        "FROM incident i, grid g JOIN grid_version v ON v.id = g.version_id AND v.status = "
        "'published' WHERE i.code = :c AND g.code = :g ON CONFLICT DO NOTHING RETURNING id",
        c=code,
        g=neighbour,
    )
    staff = api.get(f"/incidents/{code}", headers=tokens["dispatcher"]).json()
    assert {"grid": neighbour, "reason": "edge"} in staff["co_owners"]
    chain = staff["grid_chain"]
    assert [c["level"] for c in chain] == ["micro_grid", "compound_grid", "community", "street"]
    assert chain[0]["code"] == inc["micro_grid"] and chain[1]["code"] == "510107013001-C02"
    assert (
        chain[3]
        == {"level": "street", "level_name": "街道", "code": STREET, "name": chain[3]["name"]}
        and chain[3]["name"]
    )
    workers = staff["workers"]
    assert workers and all(w["phone"] for w in workers if w["serves"] == "micro_grid")
    expected = sql(
        db,
        "SELECT code FROM worker WHERE grid_code = ANY(:g)",
        g=[inc["micro_grid"], "510107013001-C02"],
    )
    assert {r[0] for r in expected} <= {w["code"] for w in workers}
    # the co-owning worker reads it too
    assert api.get(f"/incidents/{code}", headers=tokens["网格C05"]).status_code == 200


# --- reassign --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def other_street_grid(db):
    """A micro-grid of another street (far from the fixture)."""
    box = "ST_Multi(ST_MakeEnvelope(105.50, 31.50, 105.51, 31.51, 4490))"
    sql(
        db,
        f"""
        WITH s AS (INSERT INTO street (code, name, district) VALUES ('999000001', '测试街道',
                   '测试区') RETURNING id),
             c AS (INSERT INTO community (code, name, street_id, boundary)
                   SELECT '999000001001', '测试社区', s.id, {box} FROM s RETURNING id),
             v AS (INSERT INTO grid_version (community_id, number, status, source)
                   SELECT c.id, 1, 'published', 'import' FROM c RETURNING id),
             k AS (INSERT INTO grid (version_id, level, code, boundary)
                   SELECT v.id, 'community', '999000001001', {box} FROM v RETURNING id, version_id),
             p AS (INSERT INTO grid (version_id, level, code, parent_id, boundary)
                   SELECT k.version_id, 'compound', '999000001001-C01', k.id, {box} FROM k
                   RETURNING id, version_id)
        INSERT INTO grid (version_id, level, code, parent_id, boundary)
        SELECT p.version_id, 'micro', '999000001001-C01-M01', p.id, {box} FROM p RETURNING id""",
    )
    return "999000001001-C01-M01"


def test_reassign_to_a_co_owner_or_a_grid_of_the_street(api, db, tokens, other_street_grid):
    inc = report(api, db)
    code, old = inc["code"], inc["micro_grid"]
    neighbour = "510107013001-C05-M01"
    sql(
        db,
        "INSERT INTO incident_co_owner (incident_id, grid_id, reason) SELECT i.id, g.id, 'edge' "
        "FROM incident i, grid g JOIN grid_version v ON v.id = g.version_id AND v.status = "
        "'published' WHERE i.code = :c AND g.code = :g RETURNING id",
        c=code,
        g=neighbour,
    )
    d = tokens["dispatcher"]
    before = fingerprint(db, WATCHED)
    for body, who, status, word in [
        ({"grid": other_street_grid}, d, 403, other_street_grid),
        ({"grid": "510107013001-C99-M99"}, d, 400, "510107013001-C99-M99"),
        ({"grid": old}, d, 400, old),
        ({"grid": neighbour}, tokens["网格C02"], 403, "worker"),
    ]:
        r = api.post(f"/incidents/{code}/reassign", json=body, headers=who)
        assert r.status_code == status, (body, r.text)
        assert word in r.json()["message"], r.text
    assert api.post(f"/incidents/{code}/reassign", json={"grid": neighbour}).status_code == 401
    assert fingerprint(db, WATCHED) == before
    r = api.post(
        f"/incidents/{code}/reassign", json={"grid": neighbour, "note": "实为C05管辖"}, headers=d
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["micro_grid"] == neighbour and body["compound_grid"] == "510107013001-C05"
    assert body["grid_chain"][0]["code"] == neighbour and body["allowed"]
    assert neighbour not in body["co_owner_grids"]
    ((gid, _cid, sid),) = sql(
        db, "SELECT grid_id, community_id, street_id FROM incident WHERE code = :c", c=code
    )
    assert sql(db, "SELECT code FROM grid WHERE id = :g", g=gid) == [(neighbour,)]
    assert sql(db, "SELECT s.code FROM street s WHERE s.id = :s", s=sid) == [(STREET,)]
    last = body["history"][-1]
    assert last["actor"] == "dispatcher:调度" and "实为C05管辖" in last["note"]
    assert old in last["note"] and last["from_status"] == last["to_status"] == "reported"
    ((iid,),) = sql(db, "SELECT id FROM incident WHERE code = :c", c=code)
    audited = sql(
        db,
        "SELECT detail ->> 'from', detail ->> 'to' FROM audit_log WHERE action = 'reassign' "
        "AND entity_id = :i",
        i=str(iid),
    )
    assert audited == [(old, neighbour)]
    # the grids' workers follow: C05 now answers for it, C02 no longer
    assert api.get(f"/incidents/{code}", headers=tokens["网格C02"]).status_code == 403
    assert api.get(f"/incidents/{code}", headers=tokens["网格C05"]).status_code == 200
    # any micro-grid of the dispatcher's street (not a co-owner)
    r = api.post(f"/incidents/{code}/reassign", json={"grid": old}, headers=d)
    assert r.status_code == 200 and r.json()["micro_grid"] == old
    # an admin may reassign anywhere; the reporter's view follows the grid
    assert (
        api.get(f"/incidents/{code}", headers={"X-Reporter-Token": inc["reporter_token"]}).json()[
            "micro_grid"
        ]
        == old
    )


# --- the console's list ----------------------------------------------------------------------
DUE_SQL = (
    "CASE WHEN i.status IN ('reported', 'reopened') THEN i.accept_due "
    "WHEN i.status IN ('accepted', 'street_handling') THEN i.handle_due "
    "WHEN i.status = 'department_handling' THEN i.resolve_due END"
)


def test_sort_by_deadline_and_poll_since(api, db, tokens):
    d = tokens["dispatcher"]
    late = report(api, db, category="elevator")["code"]
    sql(
        db,
        "UPDATE incident SET accept_due = now() - interval '3 hours' WHERE code = :c RETURNING id",
        c=late,
    )
    report(api, db, category="garbage")
    r = api.get("/incidents", params={"sort": "deadline", "limit": 1000}, headers=d)
    assert r.status_code == 200, r.text
    got = [i["code"] for i in r.json()["incidents"]]
    expected = [
        row[0]
        for row in sql(
            db,
            f"SELECT i.code FROM incident i JOIN street s ON s.id = i.street_id WHERE s.code = :s "
            f"ORDER BY ({DUE_SQL}) ASC NULLS LAST, i.reported_at DESC, i.id",
            s=STREET,
        )
    ]
    assert got == expected and len(got) > 3
    overdue = [i["overdue"] for i in r.json()["incidents"]]
    assert overdue[0] is True and got.index(late) < overdue.count(True)
    assert overdue == sorted(overdue, reverse=True)  # every overdue one before the others
    assert api.get("/incidents", params={"sort": "x"}, headers=d).status_code == 400
    # since: only those reported or changed since then
    (mark,) = sql(db, "SELECT now()")[0]
    old = got[-1]
    new = report(api, db)["code"]
    moved = sql(
        db,
        "SELECT code FROM incident WHERE status = 'reported' AND code <> :n ORDER BY id LIMIT 1",
        n=new,
    )[0][0]
    assert (
        api.post(f"/incidents/{moved}/transitions", json={"to": "accepted"}, headers=d).status_code
        == 200
    )
    r = api.get("/incidents", params={"since": mark.isoformat(), "limit": 1000}, headers=d)
    assert r.status_code == 200, r.text
    codes = {i["code"] for i in r.json()["incidents"]}
    in_sql = {
        row[0]
        for row in sql(
            db,
            "SELECT i.code FROM incident i JOIN street s ON s.id = i.street_id WHERE s.code = :s "
            "AND (i.reported_at >= :m OR i.updated_at >= :m)",
            s=STREET,
            m=mark,
        )
    }
    assert codes == in_sql and {new, moved} <= codes and old not in codes
    # a time without a zone is Beijing time; a worker's scope still holds
    naive = mark.astimezone(TZ).replace(tzinfo=None).isoformat()
    r = api.get("/incidents", params={"since": naive, "limit": 1000}, headers=d)
    assert {i["code"] for i in r.json()["incidents"]} == codes
    w = api.get("/incidents", params={"since": naive, "limit": 1000}, headers=tokens["网格C05"])
    assert w.status_code == 200 and new not in {i["code"] for i in w.json()["incidents"]}
    future = (datetime.now(TZ) + timedelta(hours=1)).isoformat()
    assert api.get("/incidents", params={"since": future}, headers=d).json()["incidents"] == []
    assert api.get("/incidents", params={"since": "yesterday"}, headers=d).status_code in (400, 422)
