"""Leaflet and its plugins, inlined into every map so that it works with no network.

The files come from the npm packages named in ``maps/package.json`` (installed by ``make`` with
``npm ci`` into ``maps/node_modules``; ``WANGGE_MAP_ASSETS`` may point elsewhere); nothing is
copied into the repository. Images the stylesheets refer to become ``data:`` URIs. Wangge's own
script (``maps/wangge.js``: search, near me, filters, drawing export) is inlined the same way.
"""

from __future__ import annotations

import base64
import os
import re
from functools import cache
from pathlib import Path

from geo.errors import SetupError

__all__ = ["PACKAGES", "asset_dir", "inline_css", "inline_js", "own_js"]

HERE = Path(__file__).resolve().parent
# (package, file) in load order; the names are the npm packages' own
PACKAGES = {
    "leaflet": [("leaflet", "dist/leaflet.js"), ("leaflet", "dist/leaflet.css")],
    "markercluster": [
        ("leaflet.markercluster", "dist/leaflet.markercluster.js"),
        ("leaflet.markercluster", "dist/MarkerCluster.css"),
        ("leaflet.markercluster", "dist/MarkerCluster.Default.css"),
    ],
    "draw": [("leaflet-draw", "dist/leaflet.draw.js"), ("leaflet-draw", "dist/leaflet.draw.css")],
    "heat": [("leaflet.heat", "dist/leaflet-heat.js")],
}
_MIME = {".png": "image/png", ".svg": "image/svg+xml", ".gif": "image/gif"}


def asset_dir() -> Path:
    """The node_modules folder holding the packages."""
    given = os.environ.get("WANGGE_MAP_ASSETS")
    root = Path(given) if given else HERE / "node_modules"
    missing = [
        p for p, _ in (f for files in PACKAGES.values() for f in files) if not (root / p).is_dir()
    ]
    if missing:
        raise SetupError(
            f"缺少地图资源 (map assets missing: {', '.join(sorted(set(missing)))} in {root}); "
            "运行 (run) `make setup` 或 (or) `npm ci --prefix maps`"
        )
    return root


def _data_uri(path: Path) -> str:
    mime = _MIME.get(path.suffix.lower(), "application/octet-stream")
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode()}"


@cache
def _read(package: str, rel: str) -> str:
    path = asset_dir() / package / rel
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".css":

        def repl(m: re.Match[str]) -> str:
            ref = m.group(2)
            if ref.startswith(("data:", "#")):
                return m.group(0)
            target = (path.parent / ref.split("?")[0].split("#")[0]).resolve()
            if not target.is_file():
                return m.group(0)
            return f"url({_data_uri(target)})"

        text = re.sub(r"url\((['\"]?)([^'\")]+)\1\)", repl, text)
    else:
        text = re.sub(r"//# sourceMappingURL=\S+", "", text)
    return text


def inline_js(*groups: str) -> str:
    """``<script>`` elements with the JavaScript of the named groups."""
    return "\n".join(
        f"<script>/* {p}/{rel} (npm) */\n{_read(p, rel)}\n</script>"
        for g in groups
        for p, rel in PACKAGES[g]
        if rel.endswith(".js")
    )


def inline_css(*groups: str) -> str:
    """``<style>`` elements with the stylesheets of the named groups (images inlined)."""
    return "\n".join(
        f"<style>/* {p}/{rel} (npm) */\n{_read(p, rel)}\n</style>"
        for g in groups
        for p, rel in PACKAGES[g]
        if rel.endswith(".css")
    )


@cache
def own_js(name: str = "wangge.js") -> str:
    """One of the project's own scripts (``maps/wangge.js``, ``maps/editor.js``)."""
    return (HERE / name).read_text(encoding="utf-8")
