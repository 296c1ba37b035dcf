"""The Content-Security-Policy of the maps: only the page's own inline scripts run.

A map is one HTML file of inline scripts (Leaflet and its plugins inlined, folium's script,
Wangge's configuration and script), so ``'self'`` alone would allow nothing and
``'unsafe-inline'`` would allow everything, an injected ``onerror=`` handler included. Instead:

* a **written** page (a file opened from disk, ``wangge maps``) carries its policy in a
  ``<meta http-equiv>`` element that lists the SHA-256 of each of its inline scripts;
* a **served** page gets a fresh random nonce per answer, written on each of its script
  elements and named in the ``Content-Security-Policy`` header, with ``frame-ancestors
  'none'`` (a meta element cannot forbid framing).

Styles stay ``'unsafe-inline'`` (Leaflet positions everything with inline styles; a style
cannot run a script). Images: the page itself, ``data:`` URIs (the inlined stylesheets'
images) and the configured base map's tile server, if any. ``connect-src 'self'``: a served
page asks only its own API.

>>> policy(["'nonce-abc'"], None, served=True).split("; ")[:2]
["default-src 'none'", "script-src 'nonce-abc'"]
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from urllib.parse import urlsplit

__all__ = ["new_nonce", "policy", "script_hashes", "tile_source", "with_meta", "with_nonce"]

_SCRIPT = re.compile(r"<script>(.*?)</script>", re.S)
_TAG = "<script>"


def csp_hash(body: str) -> str:
    """The CSP source ``'sha256-…'`` that allows exactly this inline script or style."""
    return "'sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode() + "'"


def script_hashes(page: str) -> list[str]:
    """``'sha256-…'`` of every inline script of the page, in order, duplicates once."""
    out: list[str] = []
    for body in _SCRIPT.findall(page):
        h = csp_hash(body)
        if h not in out:
            out.append(h)
    return out


def tile_source(url: str | None) -> str | None:
    """The CSP source of a tile URL template: ``https://webrd0{s}.is.autonavi.com/…`` →
    ``https://*.is.autonavi.com`` (the subdomain placeholder as a wildcard)."""
    if not url:
        return None
    parts = urlsplit(url.replace("{s}", "SUBDOMAIN"))
    labels = parts.hostname.split(".") if parts.hostname else []
    if not labels:
        return None
    host = ".".join("*" if "SUBDOMAIN" in x.upper() else x for x in labels)
    if "*" in host:
        host = "*." + host.split("*.", 1)[-1]
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}"


def policy(scripts: list[str], tiles: str | None, *, served: bool) -> str:
    """The policy text: scripts by the given sources only (nonces or hashes)."""
    directives = [
        "default-src 'none'",
        "script-src " + " ".join(scripts),
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:" + (f" {tiles}" if tiles else ""),
        "font-src 'self' data:",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "object-src 'none'",
    ]
    if served:
        directives.append("frame-ancestors 'none'")
    return "; ".join(directives)


def with_meta(page: str, tiles: str | None) -> str:
    """A written page: its policy (script hashes) in a meta element first in its head."""
    meta = (
        '<meta http-equiv="Content-Security-Policy" content="'
        + policy(script_hashes(page), tiles, served=False)
        + '">'
    )
    return page.replace("<head>", "<head>\n" + meta, 1)


def new_nonce() -> str:
    return secrets.token_urlsafe(18)


def with_nonce(page: str, tiles: str | None, nonce: str) -> tuple[str, str]:
    """A served page with ``nonce`` on each of its script elements, and the header value.

    Every imported string in a page is escaped (``<`` never appears in data, neither in HTML
    nor in the JSON inside a script), so each ``<script>`` of the page is one of its own."""
    return page.replace(_TAG, f'<script nonce="{nonce}">'), policy(
        [f"'nonce-{nonce}'"], tiles, served=True
    )
