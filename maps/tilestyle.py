"""Metadata of the vector tiles (``/tiles/{collection}/{z}/{x}/{y}.mvt``) for MapLibre, QGIS
and other tile clients: a TileJSON 3.0.0 document per collection and one MapLibre style
(version 8) drawing them all, in the maps' colours (:mod:`maps.styles`).

Every URL is absolute under the public base (``WANGGE_PUBLIC_URL``); nothing remote is named.
The style has no text: MapLibre draws symbol text only with a ``glyphs`` URL (font ranges as
PBF), which would have to be served too — labels are left to the web maps.
"""

from __future__ import annotations

import math
from typing import Any

from geo import ogc
from geo.settings import band, get_settings
from maps.styles import BAND_COLOUR, FLOOR_COLOUR, KIND_STYLE, STATUS_COLOUR

__all__ = ["MAXZOOM", "MINZOOM", "PROMOTE_ID", "style", "tilejson"]

ATTRIBUTION = "网格 Wangge (社区网格数据 community grid data)"
MAXZOOM = 18  # tiles exist up to 22; clients overzoom the 18th
# the lowest zoom worth asking for (a city's buildings in one tile are megabytes)
MINZOOM = {
    "communities": 8,
    "grids-community": 10,
    "compounds": 12,
    "grids-compound": 12,
    "facilities": 12,
    "resources": 12,
    "incidents": 12,
    "grids-micro": 13,
    "buildings": 14,
    "floor-units": 14,
}
# the property MapLibre promotes to the feature id (feature-state by code): every collection
# has a stable, unique code
PROMOTE_ID = "code"


def _url(base: str, cid: str) -> str:
    return f"{base}/tiles/{cid}/tilejson.json"


def _center(bounds: list[float], minzoom: int) -> list[float]:
    """The middle of the bounds at a zoom that shows them whole (within min/max zoom)."""
    x0, y0, x1, y1 = bounds
    span = max(x1 - x0, (y1 - y0) * 1.5, 1e-6)
    zoom = min(max(math.floor(math.log2(360 / span)), minzoom), MAXZOOM)
    return [round((x0 + x1) / 2, 7), round((y0 + y1) / 2, 7), zoom]


def tilejson(c: ogc.Collection, base: str, bounds: list[float] | None) -> dict[str, Any]:
    """TileJSON 3.0.0 of a collection's tiles; ``bounds`` its extent (lon/lat), or None when it
    is empty (then the served area, ``WANGGE_SERVED_BOUNDS``)."""
    box = list(bounds) if bounds else [float(v) for v in get_settings().served_bounds]
    minzoom = MINZOOM.get(c.id, 12)
    zh, _, en = c.title.partition(" (")
    return {
        "tilejson": "3.0.0",
        "name": c.title,
        "description": f"{zh}矢量瓦片 (vector tiles of {en.rstrip(')')}), EPSG:3857",
        "version": "1.0.0",
        "attribution": ATTRIBUTION,
        "scheme": "xyz",
        "tiles": [f"{base}/tiles/{c.id}/{{z}}/{{x}}/{{y}}.mvt"],
        "minzoom": minzoom,
        "maxzoom": MAXZOOM,
        "bounds": box,
        "center": _center(box, minzoom),
        "vector_layers": [
            {
                "id": c.id,
                "description": c.title,
                "fields": ogc.tile_fields(c),
                "minzoom": minzoom,
                "maxzoom": MAXZOOM,
            }
        ],
    }


def _match(prop: str, colours: dict[str, str], default: str) -> list[Any]:
    out: list[Any] = ["match", ["get", prop]]
    for key, colour in colours.items():
        out += [key, colour]
    return [*out, default]


def _selected(on: Any, off: Any) -> list[Any]:
    """``on`` for a feature whose state says selected (``map.setFeatureState``), else ``off``."""
    return ["case", ["boolean", ["feature-state", "selected"], False], on, off]


def _area(cid: str, fill: Any, line: str, opacity: float, width: float) -> list[dict[str, Any]]:
    common = {"source": cid, "source-layer": cid, "minzoom": MINZOOM[cid]}
    layers = [
        {"id": f"{cid}-line", "type": "line", **common}
        | {"paint": {"line-color": line, "line-width": _selected(width * 3, width)}}
    ]
    if opacity:
        paint = {"fill-color": fill, "fill-opacity": _selected(min(1.0, opacity * 2), opacity)}
        layers.insert(0, {"id": f"{cid}-fill", "type": "fill", **common, "paint": paint})
    return layers


def _points(cid: str, colour: Any, radius: float) -> dict[str, Any]:
    return {
        "id": f"{cid}-circle",
        "type": "circle",
        "source": cid,
        "source-layer": cid,
        "minzoom": MINZOOM[cid],
        "paint": {
            "circle-color": colour,
            "circle-radius": _selected(radius * 1.6, radius),
            "circle-stroke-color": "#ffffff",
            "circle-stroke-width": 1.5,
        },
    }


def _band_colour() -> list[Any]:
    low, high = band()
    households = ["to-number", ["get", "households"], 0]
    return [
        "case",
        ["<", households, low],
        BAND_COLOUR["under"],
        [">", households, high],
        BAND_COLOUR["over"],
        BAND_COLOUR["in"],
    ]


def _layers() -> list[dict[str, Any]]:
    return [
        {"id": "background", "type": "background", "paint": {"background-color": "#f4f1ea"}},
        *_area("communities", "#fdf2e9", "#a04000", 0.3, 2.0),
        *_area("compounds", "#eae5d9", "#8a8272", 0.5, 1.0),
        *_area("buildings", "#d5cbb8", "#9c8f78", 0.9, 0.5),
        *_area("grids-community", "", "#6e2c00", 0.0, 2.5),
        *_area("grids-compound", "", "#1f618d", 0.0, 1.5),
        *_area("grids-micro", _band_colour(), "#2c3e50", 0.25, 1.0),
        *_area("floor-units", FLOOR_COLOUR, FLOOR_COLOUR, 0.35, 1.0),
        _points(
            "facilities",
            _match("kind", {k: v[0] for k, v in KIND_STYLE.items()}, "#1f618d"),
            6,
        ),
        _points("resources", KIND_STYLE["open_resource"][0], 5),
        _points("incidents", _match("status", STATUS_COLOUR, "#7f8c8d"), 5),
    ]


def style(base: str) -> dict[str, Any]:
    """The MapLibre style (version 8) of every collection's tiles, each a vector source by its
    TileJSON URL, features promoted to ids by their code."""
    return {
        "version": 8,
        "name": "网格 Wangge",
        "metadata": {"wangge:description": "社区网格矢量瓦片 (community grid vector tiles)"},
        "sources": {
            cid: {
                "type": "vector",
                "url": _url(base, cid),
                "promoteId": PROMOTE_ID,
                "attribution": ATTRIBUTION,
            }
            for cid in ogc.COLLECTIONS
        },
        "layers": _layers(),
    }
