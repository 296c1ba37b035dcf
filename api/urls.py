"""The API's public address, from which links in answers are built (OGC API, paging).

``WANGGE_PUBLIC_URL`` when set (behind a reverse proxy: the address clients use, with its
path prefix); otherwise the address the server listens on, read from its socket (the ASGI
``server`` of the connection). Never the request's ``Host`` or ``X-Forwarded-*`` headers:
a client choosing them would choose the links a shared cache then hands to everyone."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import Request

from geo.settings import get_settings

__all__ = ["is_https", "public_base", "public_url"]


def public_base(request: Request) -> str:
    """``https://wangge.example.org/gis`` or ``http://127.0.0.1:8000`` (no trailing slash)."""
    s = get_settings()
    if s.public_url:
        return s.public_url
    server = request.scope.get("server")
    host, port = server if server else (s.api_host, s.api_port)
    if ":" in str(host):  # IPv6
        host = f"[{host}]"
    return f"http://{host}:{port}"  # wangge serve speaks plain HTTP (TLS: at the proxy)


def public_url(request: Request, query: dict[str, str] | None = None) -> str:
    """This request's URL under the public base: its own query, or ``query`` instead."""
    qs = request.url.query if query is None else urlencode(query)
    return public_base(request) + request.url.path + (f"?{qs}" if qs else "")


def is_https(request: Request) -> bool:
    """Whether the client reached us over HTTPS: the request's own scheme (which a trusted
    proxy's ``X-Forwarded-Proto`` sets, ``WANGGE_TRUSTED_PROXIES``), or an ``https``
    ``WANGGE_PUBLIC_URL`` (then every client comes through that address)."""
    s = get_settings()
    return request.url.scheme == "https" or (s.public_url or "").startswith("https://")
