"""Tile metadata: TileJSON 3.0.0 per collection, the MapLibre style (checked by MapLibre's own
validator, ``gl-style-validate`` from ``@maplibre/maplibre-gl-style-spec``), stable feature
ids in the tiles, links under the public URL."""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path

import mapbox_vector_tile
import pytest
from sqlalchemy import text

from geo.ogc import COLLECTIONS
from tests.conftest import ROOT

pytestmark = pytest.mark.db
VALIDATE = ROOT / "maps" / "node_modules" / ".bin" / "gl-style-validate"


def _tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


def _check_tilejson(tj: dict, cid: str) -> None:
    """The TileJSON 3.0.0 spec's rules: ``tilejson`` and ``tiles`` required, the rest typed."""
    assert tj["tilejson"] == "3.0.0"
    assert (
        isinstance(tj["tiles"], list)
        and tj["tiles"]
        and all(isinstance(t, str) for t in tj["tiles"])
    )
    assert isinstance(tj["vector_layers"], list) and tj["vector_layers"]
    for layer in tj["vector_layers"]:
        assert isinstance(layer["id"], str) and isinstance(layer["fields"], dict)
        assert all(isinstance(v, str) for v in layer["fields"].values())
        assert 0 <= layer["minzoom"] <= layer["maxzoom"] <= 30
    assert [v["id"] for v in tj["vector_layers"]] == [cid]
    x0, y0, x1, y1 = tj["bounds"]
    assert -180 <= x0 <= x1 <= 180 and -90 <= y0 <= y1 <= 90
    lon, lat, zoom = tj["center"]
    assert x0 <= lon <= x1 and y0 <= lat <= y1
    assert 0 <= tj["minzoom"] <= zoom <= tj["maxzoom"] <= 30 and isinstance(zoom, int)
    assert tj["scheme"] == "xyz" and isinstance(tj["attribution"], str)
    assert tj["name"].startswith(COLLECTIONS[cid].title.split(" ")[0])  # Chinese first


def test_tilejson_of_every_collection(http, api_base):
    for cid in COLLECTIONS:
        r = http.get(f"/tiles/{cid}/tilejson.json")
        assert r.status_code == 200, (cid, r.text[:300])
        tj = r.json()
        _check_tilejson(tj, cid)
        assert tj["tiles"] == [f"{api_base}/tiles/{cid}/{{z}}/{{x}}/{{y}}.mvt"]
    # the fields are the tile's properties, with numbers as numbers
    fields = http.get("/tiles/grids-micro/tilejson.json").json()["vector_layers"][0]["fields"]
    assert fields["code"] == "String" and fields["households"] == "Number"
    r = http.get("/tiles/nowhere/tilejson.json")
    assert r.status_code == 404 and "nowhere" in r.json()["message"]


def test_bounds_are_the_collections_extent(http, session):
    tj = http.get("/tiles/buildings/tilejson.json").json()
    row = session.execute(
        text(
            "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) "
            "FROM (SELECT ST_Extent(footprint) AS e FROM building) q"
        )
    ).one()
    assert tj["bounds"] == pytest.approx([float(v) for v in row], abs=1e-6)


def test_the_tile_url_gives_features_with_stable_ids(http, session):
    """A tile of the template, at the centre of the bounds the TileJSON gives, holds the
    buildings there, each with its row's id as the feature id (not as a property) and its code
    (the style's promoteId); an incident's id is not its numeric id."""
    tj = http.get("/tiles/buildings/tilejson.json").json()
    x0, y0, x1, y1 = tj["bounds"]
    z = 16
    x, y = _tile_of((x0 + x1) / 2, (y0 + y1) / 2, z)
    url = tj["tiles"][0].format(z=z, x=x, y=y)
    r = http.get(url)
    assert r.status_code == 200 and r.content
    layer = mapbox_vector_tile.decode(r.content)["buildings"]
    ids = {
        code: id_
        for code, id_ in session.execute(
            text(
                "SELECT code, id FROM building WHERE ST_Intersects(ST_Transform(footprint, 3857), "
                "ST_TileEnvelope(:z, :x, :y))"
            ),
            {"z": z, "x": x, "y": y},
        ).all()
    }
    got = {f["properties"]["code"]: f["id"] for f in layer["features"]}
    assert ids and set(ids) <= set(got)
    assert all(got[code] == id_ for code, id_ in ids.items())
    assert all("wg_feature_id" not in f["properties"] for f in layer["features"])
    assert set(tj["vector_layers"][0]["fields"]) >= set(layer["features"][0]["properties"])


def test_incident_tile_ids_hide_the_numeric_id(fresh_http, fresh_db):
    from tests.conftest import run_sql

    lon, lat = run_sql(
        fresh_db, "SELECT ST_X(ST_Centroid(footprint)), ST_Y(ST_Centroid(footprint)) FROM building"
    )[0]
    r = fresh_http.post(
        "/incidents",
        json={"lon": lon, "lat": lat, "category": "garbage", "description": "垃圾堆放"},
    )
    assert r.status_code == 201, r.text
    code = r.json()["code"]
    (id_,) = run_sql(fresh_db, "SELECT id FROM incident WHERE code = :c", c=code)[0]
    pos = run_sql(
        fresh_db,
        "SELECT ST_X(public_position), ST_Y(public_position) FROM incident WHERE code = :c",
        c=code,
    )[0]
    x, y = _tile_of(pos[0], pos[1], 16)
    layer = mapbox_vector_tile.decode(fresh_http.get(f"/tiles/incidents/16/{x}/{y}.mvt").content)
    feature = next(f for f in layer["incidents"]["features"] if f["properties"]["code"] == code)
    assert feature["id"] != id_ and 0 < feature["id"] < 2**53
    again = mapbox_vector_tile.decode(
        fresh_http.get(f"/tiles/incidents/15/{x // 2}/{y // 2}.mvt").content
    )
    assert (
        next(f["id"] for f in again["incidents"]["features"] if f["properties"]["code"] == code)
        == feature["id"]
    )


def test_style_is_a_valid_maplibre_style(http, api_base, tmp_path: Path):
    r = http.get("/tiles/style.json")
    assert r.status_code == 200
    s = r.json()
    assert s["version"] == 8 and "glyphs" not in s and "sprite" not in s
    assert set(s["sources"]) == set(COLLECTIONS)
    for cid, source in s["sources"].items():
        assert source["type"] == "vector" and source["promoteId"] == "code"
        assert source["url"] == f"{api_base}/tiles/{cid}/tilejson.json"
    layer_ids = {}
    for source in s["sources"].values():
        tj = http.get(source["url"].removeprefix(api_base)).json()
        layer_ids.update({v["id"]: v for v in tj["vector_layers"]})
    for layer in s["layers"]:
        assert layer["type"] != "symbol"  # no glyphs: no text
        if layer["type"] != "background":
            assert layer["source"] in s["sources"] and layer["source-layer"] in layer_ids
    drawn = {layer["source"] for layer in s["layers"] if "source" in layer}
    assert drawn == set(COLLECTIONS)
    # nothing remote: every URL is the API's own
    urls = [v for v in json.dumps(s).split('"') if "://" in v]
    assert urls and all(u.startswith(api_base + "/") for u in urls)
    # MapLibre's own validator (installed by `make`: maps/package.json devDependencies)
    path = tmp_path / "style.json"
    path.write_text(r.text, encoding="utf-8")
    assert VALIDATE.exists(), "run make (npm ci --prefix maps) for gl-style-validate"
    ok = subprocess.run([str(VALIDATE), str(path)], capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0 and ok.stdout.strip() == "", ok.stdout + ok.stderr
    # and it does refuse a broken style (a layer with an unknown source)
    bad = dict(s, layers=[*s["layers"], {"id": "x", "type": "fill", "source": "nope"}])
    path.write_text(json.dumps(bad), encoding="utf-8")
    no = subprocess.run([str(VALIDATE), str(path)], capture_output=True, text=True, timeout=60)
    assert no.returncode != 0 and "nope" in no.stdout + no.stderr


def test_links_under_the_public_url(http, monkeypatch):
    from geo.settings import get_settings

    monkeypatch.setenv("WANGGE_PUBLIC_URL", "https://wangge.example.org/gis")
    get_settings.cache_clear()
    evil = {"Host": "evil.example", "X-Forwarded-Host": "evil.example"}
    tj = http.get("/tiles/grids-micro/tilejson.json", headers=evil).json()
    assert tj["tiles"] == ["https://wangge.example.org/gis/tiles/grids-micro/{z}/{x}/{y}.mvt"]
    s = http.get("/tiles/style.json", headers=evil).json()
    assert s["sources"]["buildings"]["url"] == (
        "https://wangge.example.org/gis/tiles/buildings/tilejson.json"
    )
