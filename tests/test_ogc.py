"""OGC API – Features and vector tiles, read by GDAL (the OAPIF and MVT drivers through pyogrio)
and compared with the database."""

from __future__ import annotations

import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pyogrio
import pyproj
import pytest
import shapely
from sqlalchemy import text

from geo.ogc import COLLECTIONS, CONFORMANCE

from .conftest import serve_app_process

pytestmark = pytest.mark.db
EPSG4490 = "http://www.opengis.net/def/crs/EPSG/0/4490"
EPSG4544 = "http://www.opengis.net/def/crs/EPSG/0/4544"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"

# what each collection holds in the database: (SQL of code and geometry as WKB)
TRUTH = {
    "communities": "SELECT code, ST_AsBinary(boundary) FROM community",
    "compounds": "SELECT code, ST_AsBinary(boundary) FROM compound",
    "buildings": "SELECT code, ST_AsBinary(footprint) FROM building",
    "facilities": "SELECT code, ST_AsBinary(position) FROM facility",
    "resources": "SELECT code, ST_AsBinary(position) FROM open_resource",
    "incidents": "SELECT code, ST_AsBinary(public_position) FROM incident",  # never exact
    **{
        f"grids-{lv}": "SELECT g.code, ST_AsBinary(g.boundary) FROM grid g JOIN grid_version v ON "
        f"v.id = g.version_id AND v.status = 'published' WHERE g.level = '{lv}'"
        for lv in ("community", "compound", "micro")
    },
    # a unit split by floors once, with the cell its floor groups' memberships hold
    "floor-units": "SELECT DISTINCT ON (m.unit_id) b.code || '-U' || u.unit_no, "
    "ST_AsBinary(m.cell) FROM grid_member m JOIN grid g ON g.id = m.grid_id JOIN grid_version v "
    "ON v.id = g.version_id AND v.status = 'published' JOIN building_unit u ON u.id = m.unit_id "
    "JOIN building b ON b.id = u.building_id WHERE m.floor_min IS NOT NULL "
    "ORDER BY m.unit_id, m.floor_min",
}


def test_landing_conformance_collections(http):
    land = http.get("/ogc").json()
    rels = {link["rel"]: link for link in land["links"]}
    assert {"self", "service-desc", "service-doc", "conformance", "data"} <= set(rels)
    assert (
        http.get(
            rels["service-desc"]["href"].replace(str(http.base_url).rstrip("/"), "")
        ).status_code
        == 200
    )
    assert http.get("/ogc/conformance").json()["conformsTo"] == CONFORMANCE
    cols = http.get("/ogc/collections").json()["collections"]
    assert [c["id"] for c in cols] == list(COLLECTIONS) and set(COLLECTIONS) == set(TRUTH)
    for c in cols:
        assert c["storageCrs"] == EPSG4490 and CRS84 in c["crs"] and EPSG4544 in c["crs"]
        assert {link["rel"] for link in c["links"]} >= {"self", "items"}
        ((x0, y0, x1, y1),) = c["extent"]["spatial"]["bbox"]
        assert 103.5 < x0 < x1 < 104.5 and 30.3 < y0 < y1 < 31.0
    q = http.get("/ogc/collections/facilities/queryables")
    assert q.headers["content-type"].startswith("application/schema+json")
    assert {"kind", "name", "code"} <= set(q.json()["properties"])


@pytest.fixture(scope="module")
def api_process(fixture_url):
    with serve_app_process(fixture_url) as base:
        yield base


@pytest.mark.parametrize("cid", list(TRUTH))
def test_gdal_reads_every_collection_as_stored(cid, api_process, session):
    frame = pyogrio.read_dataframe(f"OAPIF:{api_process}/ogc", layer=cid)
    rows = session.execute(text(TRUTH[cid])).all()
    truth = {r[0]: shapely.from_wkb(bytes(r[1])) for r in rows}
    assert len(frame) == len(truth) > 0
    assert set(frame["code"]) == set(truth)
    for code, geom in zip(frame["code"], frame.geometry, strict=True):
        assert shapely.hausdorff_distance(geom, truth[code]) < 1e-6, code
    if cid == "incidents":  # public fields only
        assert not {"description", "address", "reporter_name", "reporter_phone"} & set(
            frame.columns
        )


def test_paging_follows_next_links(http):
    seen, url, pages = [], "/ogc/collections/buildings/items?limit=40", 0
    while url:
        page = http.get(url).json()
        assert page["numberMatched"] == 143 and page["numberReturned"] <= 40
        seen += [f["id"] for f in page["features"]]
        nxt = [link["href"] for link in page["links"] if link["rel"] == "next"]
        url = nxt[0] if nxt else None
        pages += 1
    assert pages == 4 and len(seen) == len(set(seen)) == 143


def test_filters_and_single_items(http, session):
    r = http.get("/ogc/collections/facilities/items", params={"kind": "party_service_centre"})
    want = session.execute(
        text("SELECT count(*) FROM facility WHERE kind = 'party_service_centre'")
    ).scalar_one()
    assert r.json()["numberMatched"] == want > 0
    assert all(f["properties"]["kind"] == "party_service_centre" for f in r.json()["features"])
    bad = http.get("/ogc/collections/facilities/items", params={"colour": "red"})
    assert bad.status_code == 400 and "colour" in bad.json()["message"]
    code = r.json()["features"][0]["id"]
    one = http.get(f"/ogc/collections/facilities/items/{code}")
    assert one.status_code == 200 and one.json()["id"] == code
    assert one.headers["content-type"].startswith("application/geo+json")
    assert http.get("/ogc/collections/facilities/items/NOPE").status_code == 404
    assert http.get("/ogc/collections/nope/items").status_code == 404


def test_crs_and_bbox_crs(http, session):
    code, lon, lat = session.execute(
        text("SELECT code, ST_X(position), ST_Y(position) FROM facility ORDER BY code LIMIT 1")
    ).one()
    url = f"/ogc/collections/facilities/items/{code}"
    r = http.get(url)
    assert r.headers["content-crs"] == f"<{CRS84}>"
    assert r.json()["geometry"]["coordinates"] == pytest.approx([lon, lat], abs=1e-7)
    r = http.get(url, params={"crs": EPSG4490})
    assert r.headers["content-crs"] == f"<{EPSG4490}>"
    assert r.json()["geometry"]["coordinates"] == pytest.approx([lat, lon], abs=1e-7)  # lat first
    r = http.get(url, params={"crs": EPSG4544})
    e, n = pyproj.Transformer.from_crs(4490, 4544, always_xy=True).transform(lon, lat)
    assert r.json()["geometry"]["coordinates"] == pytest.approx([n, e], abs=0.01)  # northing first
    # the same box in CRS84 and in EPSG:4544 selects the same buildings
    t = pyproj.Transformer.from_crs(4490, 4544, always_xy=True)
    x0, y0, x1, y1 = 104.021, 30.626, 104.025, 30.629
    a = http.get(
        "/ogc/collections/buildings/items", params={"bbox": f"{x0},{y0},{x1},{y1}", "limit": 500}
    ).json()
    corners = [t.transform(x, y) for x, y in ((x0, y0), (x1, y0), (x0, y1), (x1, y1))]
    es, ns = [c[0] for c in corners], [c[1] for c in corners]
    inner = f"{min(ns)},{min(es)},{max(ns)},{max(es)}"  # northing, easting order
    b = http.get(
        "/ogc/collections/buildings/items",
        params={"bbox": inner, "bbox-crs": EPSG4544, "limit": 500},
    ).json()
    ids_a, ids_b = {f["id"] for f in a["features"]}, {f["id"] for f in b["features"]}
    assert ids_a and ids_a <= ids_b  # the projected box encloses the geographic one
    assert len(ids_b - ids_a) <= 0.2 * len(ids_a)
    bad = http.get(url, params={"crs": "EPSG:3857"})
    assert bad.status_code == 400 and "unsupported crs" in bad.json()["message"]


BAD_BOXES = [
    (EPSG4544, "-1e300,-1e300,1e300,1e300", "EPSG/0/4544"),
    (EPSG4544, "3e7,3e7,4e7,4e7", "EPSG/0/4544"),
    (EPSG4544, "1,2,3,nan", "nan"),
    (EPSG4490, "-1e300,-1e300,1e300,1e300", "EPSG/0/4490"),
    (EPSG4490, "30.6,104.0,30.7", "30.7"),
    (CRS84, "1e300,0,1e301,1", "1e301"),
]


@pytest.mark.parametrize(("crs", "bbox", "named"), BAD_BOXES, ids=[b[1] for b in BAD_BOXES])
def test_a_bbox_outside_its_crs_is_refused_naming_it(http, crs, bbox, named):
    """A bbox the CRS cannot hold (beyond the projection's domain, beyond ±90°/±180°, not a
    number) is a 400 naming the value and the CRS, not a 500 from the transformation."""
    r = http.get("/ogc/collections/buildings/items", params={"bbox": bbox, "bbox-crs": crs})
    assert r.status_code == 400, (r.status_code, r.text[:300])
    message = r.json()["message"]
    assert "bbox" in message and named in message and bbox in message, message


def _tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


def test_vector_tiles(http, session, tmp_path: Path):
    lon, lat = session.execute(
        text(
            "SELECT ST_X(ST_Centroid(boundary)), ST_Y(ST_Centroid(boundary)) FROM community LIMIT 1"
        )
    ).one()
    z = 16
    x, y = _tile_of(lon, lat, z)
    r = http.get(f"/tiles/buildings/{z}/{x}/{y}.mvt")
    assert (
        r.status_code == 200 and r.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    )
    assert "max-age" in r.headers["cache-control"] and r.headers["etag"]
    assert (
        http.get(
            f"/tiles/buildings/{z}/{x}/{y}.mvt", headers={"If-None-Match": r.headers["etag"]}
        ).status_code
        == 304
    )
    path = tmp_path / str(z) / str(x) / f"{y}.pbf"
    path.parent.mkdir(parents=True)
    path.write_bytes(r.content)
    frame = pyogrio.read_dataframe(path, layer="buildings")
    inside = set(
        session.execute(
            text(
                "SELECT code FROM building WHERE ST_Intersects(ST_Transform(footprint, 3857), "
                "ST_TileEnvelope(:z, :x, :y))"
            ),
            {"z": z, "x": x, "y": y},
        ).scalars()
    )
    near = set(
        session.execute(
            text(
                "SELECT code FROM building WHERE ST_Intersects(ST_Transform(footprint, 3857), "
                "ST_Expand(ST_TileEnvelope(:z, :x, :y), 20))"
            ),
            {"z": z, "x": x, "y": y},
        ).scalars()
    )
    assert inside and inside <= set(frame["code"]) <= near
    # grids carry their household counts as numbers
    g = http.get(f"/tiles/grids-micro/{z}/{x}/{y}.mvt")
    gpath = tmp_path / "g" / str(z) / str(x) / f"{y}.pbf"
    gpath.parent.mkdir(parents=True)
    gpath.write_bytes(g.content)
    grids = pyogrio.read_dataframe(gpath, layer="grids-micro")
    assert len(grids) > 0 and grids["households"].between(1, 200).all()
    # far away: an empty tile; out of range: errors
    fx, fy = _tile_of(116.4, 39.9, z)
    empty = http.get(f"/tiles/buildings/{z}/{fx}/{fy}.mvt")
    assert empty.status_code == 200 and empty.content == b""
    assert http.get("/tiles/buildings/23/0/0.mvt").status_code == 400
    assert http.get(f"/tiles/buildings/{z}/{2**z}/0.mvt").status_code == 404


def test_a_tile_is_built_once_for_clients_asking_together(api_base, session, monkeypatch):
    """Eight clients ask for a tile nobody has asked for: PostGIS builds it once and all eight
    get it. When it has expired, all eight get the old one at once while it is rebuilt once in
    the background."""
    from api.routes import ogc as route

    real, builds = route.ogc.tile, []

    def slow_tile(*args, **kwargs):
        builds.append(args[2:])
        time.sleep(1.0)  # a slow build: the other clients arrive meanwhile
        return real(*args, **kwargs)

    monkeypatch.setattr(route.ogc, "tile", slow_tile)
    lon, lat = session.execute(
        text("SELECT ST_X(ST_Centroid(footprint)), ST_Y(ST_Centroid(footprint)) FROM building")
    ).first()
    x, y = _tile_of(lon, lat, 18)
    path = f"/tiles/buildings/18/{x}/{y}.mvt"

    def together(n: int) -> list[httpx.Response]:
        start = threading.Barrier(n)

        def one() -> httpx.Response:
            with httpx.Client(base_url=api_base, timeout=30) as c:
                start.wait()
                return c.get(path)

        with ThreadPoolExecutor(n) as pool:
            return list(pool.map(lambda _: one(), range(n)))

    first = together(8)
    assert [r.status_code for r in first] == [200] * 8
    assert len({r.content for r in first}) == 1 and first[0].content
    assert builds == [(18, x, y)]
    monkeypatch.setattr(route, "TILE_TTL_S", 0.0)  # every tile has expired
    again = together(8)
    assert [r.content for r in again] == [first[0].content] * 8  # the old one, at once
    deadline = time.monotonic() + 10
    while len(builds) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.5)  # the rebuild in the background has finished
    assert len(builds) == 2


# --- floors are not places: units split by floors, once --------------------------------------
FLOOR_GROUPS = (
    "SELECT b.code || '-U' || u.unit_no, b.code, u.unit_no, g.code, m.floor_min, m.floor_max, "
    "m.households, ST_AsBinary(m.cell) FROM grid_member m JOIN grid g ON g.id = m.grid_id "
    "JOIN grid_version v ON v.id = g.version_id AND v.status = 'published' JOIN building_unit u "
    "ON u.id = m.unit_id JOIN building b ON b.id = u.building_id WHERE m.floor_min IS NOT NULL "
    "ORDER BY b.code, u.unit_no, m.floor_min"
)


def _floor_truth(session) -> dict[str, dict]:
    """Per unit split by floors (current version), from its memberships: its groups and cells."""
    out: dict[str, dict] = {}
    for code, building, unit_no, grid, lo, hi, n, cell in session.execute(text(FLOOR_GROUPS)):
        u = out.setdefault(
            code, {"building": building, "unit_no": unit_no, "groups": [], "cells": []}
        )
        u["groups"].append((grid, lo, hi, n))
        u["cells"].append(shapely.from_wkb(bytes(cell)))
    return out


def test_floor_units_collection(http, session):
    truth = _floor_truth(session)
    assert len(truth) == 18  # the fixture's towers: 18 units of 9 buildings, two groups each
    r = http.get("/ogc/collections/floor-units/items", params={"limit": 1000})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/geo+json")
    fc = r.json()
    assert fc["numberMatched"] == fc["numberReturned"] == len(truth)
    assert sorted(f["id"] for f in fc["features"]) == sorted(truth)  # each unit once
    for f in fc["features"]:
        t, p = truth[f["id"]], f["properties"]
        assert p["building_code"] == t["building"] and p["unit_no"] == t["unit_no"]
        assert p["label"] == " / ".join(f"{lo}–{hi}层" for _, lo, hi, _ in t["groups"])
        assert p["grids"] == " / ".join(g for g, *_ in t["groups"])
        assert p["households"] == sum(n for *_, n in t["groups"])
        geom = shapely.geometry.shape(f["geometry"])
        for cell in t["cells"]:  # every floor group holds the same, whole cell (7 digits)
            assert shapely.hausdorff_distance(geom, cell) < 1e-6, f["id"]
            assert abs(geom.area - cell.area) < 1e-3 * cell.area
    one = fc["features"][0]
    tower = "510107013001-C01-B01-U1"
    got = http.get(f"/ogc/collections/floor-units/items/{tower}").json()["properties"]
    assert got["label"] == "1–12层 / 13–24层"
    assert got["grids"] == "510107013001-C01-M01 / 510107013001-C01-M02"
    assert got["households"] == 96
    # bbox, filters, CRS and queryables as for the other collections
    x0, y0, x1, y1 = shapely.geometry.shape(one["geometry"]).bounds
    box = http.get(
        "/ogc/collections/floor-units/items", params={"bbox": f"{x0},{y0},{x1},{y1}"}
    ).json()
    assert one["id"] in {f["id"] for f in box["features"]} and box["numberMatched"] < len(truth)
    far = http.get("/ogc/collections/floor-units/items", params={"bbox": "116.3,39.8,116.5,40.0"})
    assert far.json()["numberMatched"] == 0
    paged = http.get("/ogc/collections/floor-units/items", params={"limit": 5}).json()
    assert paged["numberReturned"] == 5 and any(lk["rel"] == "next" for lk in paged["links"])
    by_building = http.get(
        "/ogc/collections/floor-units/items", params={"building_code": "510107013001-C01-B01"}
    ).json()
    assert sorted(f["properties"]["unit_no"] for f in by_building["features"]) == [1, 2]
    metric = http.get(f"/ogc/collections/floor-units/items/{tower}", params={"crs": EPSG4544})
    assert metric.headers["content-crs"] == f"<{EPSG4544}>"
    n, e = metric.json()["geometry"]["coordinates"][0][0][0]  # northing first
    assert 3_300_000 < n < 3_500_000 and 300_000 < e < 700_000
    q = http.get("/ogc/collections/floor-units/queryables").json()["properties"]
    assert {"building_code", "unit_no", "label", "grids", "households"} <= set(q)
    assert q["unit_no"]["type"] == q["households"]["type"] == "integer"
    assert q["label"]["type"] == "string"
    info = http.get("/ogc/collections/floor-units").json()
    assert info["title"] == "分层单元 (units split by floors)"


def test_micro_grids_carry_their_floor_ranges(http, session):
    truth = _floor_truth(session)
    held: dict[str, list[str]] = {}
    for t in truth.values():
        for grid, lo, hi, _ in t["groups"]:
            held.setdefault(grid, []).append(f"{lo}–{hi}层")
    fc = http.get("/ogc/collections/grids-micro/items", params={"limit": 1000}).json()
    assert fc["numberMatched"] == 109
    floors = {f["id"]: f["properties"]["floors"] for f in fc["features"]}
    assert floors["510107013001-C01-M01"] == "1–12层"
    assert floors["510107013001-C01-M02"] == "13–24层"
    assert {g: v for g, v in floors.items() if v is not None} == {
        g: " / ".join(v) for g, v in held.items()
    }
    assert len(held) == 36 and sum(v is None for v in floors.values()) == 109 - 36
    # a micro-grid holding a floor group and whole units says which floors it holds
    mixed = session.execute(
        text(
            "SELECT g.code FROM grid g JOIN grid_version v ON v.id = g.version_id AND "
            "v.status = 'published' JOIN grid_member m ON m.grid_id = g.id GROUP BY g.code "
            "HAVING count(m.floor_min) = 1 AND count(*) > 1 ORDER BY g.code LIMIT 1"
        )
    ).scalar_one()
    assert floors[mixed] == " / ".join(held[mixed])
    q = http.get("/ogc/collections/grids-micro/queryables").json()["properties"]
    assert q["floors"]["type"] == "string"  # a building's floors stays a number
    assert http.get("/ogc/collections/buildings/queryables").json()["properties"]["floors"] == {
        "type": "integer",
        "title": "floors",
    }


def test_floor_units_vector_tile(http, session, tmp_path: Path):
    tower = "510107013001-C01-B01-U1"
    lon, lat = session.execute(
        text(
            "SELECT ST_X(ST_PointOnSurface(m.cell)), ST_Y(ST_PointOnSurface(m.cell)) FROM "
            "grid_member m JOIN grid g ON g.id = m.grid_id JOIN grid_version v ON "
            "v.id = g.version_id AND v.status = 'published' JOIN building_unit u ON "
            "u.id = m.unit_id JOIN building b ON b.id = u.building_id WHERE "
            "b.code || '-U' || u.unit_no = :t LIMIT 1"
        ),
        {"t": tower},
    ).one()
    z = 17
    x, y = _tile_of(lon, lat, z)

    def read(cid: str):
        r = http.get(f"/tiles/{cid}/{z}/{x}/{y}.mvt")
        assert r.status_code == 200 and r.content
        path = tmp_path / cid / str(z) / str(x) / f"{y}.pbf"
        path.parent.mkdir(parents=True)
        path.write_bytes(r.content)
        return pyogrio.read_dataframe(path, layer=cid)

    units = read("floor-units")
    assert len(units) == len(set(units["code"])) > 0  # one feature per unit, never stacked
    row = units[units["code"] == tower].iloc[0]
    assert row["label"] == "1–12层 / 13–24层" and int(row["households"]) == 96
    assert row["grids"] == "510107013001-C01-M01 / 510107013001-C01-M02"
    assert row["building_code"] == "510107013001-C01-B01" and int(row["unit_no"]) == 1
    micro = read("grids-micro").set_index("code")
    assert micro.loc["510107013001-C01-M01", "floors"] == "1–12层"
    assert micro.loc["510107013001-C01-M02", "floors"] == "13–24层"
