"""Caches kept per app (so per database): values built once per data version
(:class:`geo.store.dataversion.VersionedCache`), one cache per name, made on first use."""

from __future__ import annotations

import threading
from typing import Any

from fastapi import Request

from geo.store.dataversion import VersionedCache

_lock = threading.Lock()
SIZES = {"pages": 16, "ogc-extents": 64}  # entries kept: a page is ~0.3–1 MB


def app_cache(request: Request, name: str) -> VersionedCache[Any]:
    """The app's cache called ``name`` (``pages``, ``ogc-extents``)."""
    state = request.app.state
    caches: dict[str, VersionedCache[Any]] | None = getattr(state, "caches", None)
    if caches is None or name not in caches:
        with _lock:
            caches = getattr(state, "caches", None)
            if caches is None:
                caches = state.caches = {}
            if name not in caches:
                caches[name] = VersionedCache(size=SIZES.get(name, 32))
    return caches[name]
