"""The three maps (resident, planner, dispatcher), built with folium from what ``geo/`` holds.

Every map is one standalone HTML file that works with no network: Leaflet and its plugins are
inlined from their npm packages (``maps/assets.py``), markers are drawn with CSS (no icon fonts
or images to fetch), every map is drawn on a base layer of the project's own data (roads and
their names, footprints, compound names, the community outline: ``maps/basemap_layer.py``)
and opens on the bounds of its community (``maps.page.map_bounds``), and no tile base map is
used unless one is configured (``WANGGE_BASEMAP``: ``none``, ``amap``, ``tencent`` or a tile
URL template; the base layer stays, under the overlays). Amap and Tencent
tiles are in GCJ-02: with them every overlay is shifted to GCJ-02 for display, and a drawn
geometry is handed back labelled ``"crs": "gcj02"`` so the plans API shifts it back.

Served by the API (``/maps/...``), the pages also ask the API: "near me" by the browser's
position or an address (``/nearby``), and layers too large to embed (more features than
``embed_limit``) are loaded by bounding box as the map moves. Standalone, "near me" uses an
embedded address index and straight-line distances.

Personal data never enters a map: no household names or phones, no reporters; a worker's phone
only when the worker made it public. Every imported string (names, codes, addresses) is
escaped before it reaches a page, and each page carries a Content-Security-Policy under which
only its own scripts run (``maps/policy.py``). The dispatcher map holds the incidents of its
caller's scope only (a grid worker's grids, a dispatcher's street; all for an admin and for
the written file).

This module renders and writes them; each map is built by its own module (``resident``,
``planner``, ``dispatcher``) from the data of ``maps/queries.py``, on the page scaffolding of
``maps/page.py``, the shared layers of ``maps/layers.py`` and the base layer of
``maps/basemap_layer.py``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import folium
from sqlalchemy.orm import Session

from geo.errors import InputError, NotFoundError
from geo.runtime.auth import Principal
from maps import queries
from maps.basemaps import basemap
from maps.dispatcher import dispatcher_map
from maps.page import MapContext
from maps.planner import planner_map
from maps.policy import tile_source, with_meta, with_nonce
from maps.resident import resident_map

__all__ = ["Rendered", "basemap", "build_map", "render_map", "write_maps"]

BUILDERS: dict[str, Callable[[MapContext], folium.Map]] = {
    "resident": resident_map,
    "planner": planner_map,
    "dispatcher": dispatcher_map,
}


@dataclass(frozen=True)
class Rendered:
    """A map as rendered: the page (its scripts as yet without a policy), what it holds, and
    the tile server its policy must allow (None without a base map)."""

    page: str
    stats: dict[str, int]
    tiles: str | None

    def written(self) -> str:
        """The page as a standalone file: its policy (the scripts' hashes) in a meta element."""
        return with_meta(self.page, self.tiles)

    def served(self, nonce: str) -> tuple[str, str]:
        """The page to answer with ``nonce`` on its scripts, and its policy header."""
        return with_nonce(self.page, self.tiles, nonce)


def _check_request(session: Session, kind: str, community: str | None, plan: int | None) -> None:
    """404 for an unknown community or plan, 400 for a plan of another community."""
    if kind not in BUILDERS:
        raise InputError(f"未知地图 (unknown map) {kind!r}; 可选 (one of): {', '.join(BUILDERS)}")
    if community is not None and not queries.community_exists(session, community):
        raise NotFoundError(f"社区不存在 (no such community): {community!r}")
    if plan is not None and kind == "planner":
        from geo import plans as gp

        of = gp.get_plan(session, plan)["community"]  # NotFoundError naming the plan
        if community is not None and of != community:
            raise InputError(
                f"方案 {plan} 属于社区 {of}，不是 {community!r} (plan {plan} is of community "
                f"{of}, not {community!r})"
            )


def render_map(
    session: Session,
    kind: str,
    *,
    community: str | None = None,
    base: str | None = None,
    api: str | None = None,
    plan: int | None = None,
    embed_limit: int = 20_000,
    principal: Principal | None = None,
) -> Rendered:
    """One map, rendered. ``principal``: whose map — the dispatcher map holds its incidents
    (default: every incident), and every map opens on its scope (a street, a grid)."""
    _check_request(session, kind, community, plan)
    ctx = MapContext(session, community, basemap(base), api, embed_limit, principal)
    m = planner_map(ctx, plan) if kind == "planner" else BUILDERS[kind](ctx)
    return Rendered(m.get_root().render(), ctx.stats, tile_source(ctx.base.url))


def build_map(
    session: Session,
    kind: str,
    *,
    community: str | None = None,
    base: str | None = None,
    api: str | None = None,
    plan: int | None = None,
    embed_limit: int = 20_000,
    principal: Principal | None = None,
) -> tuple[str, dict[str, int]]:
    """One map as a standalone HTML page (with its policy), and what it holds (counts)."""
    r = render_map(
        session,
        kind,
        community=community,
        base=base,
        api=api,
        plan=plan,
        embed_limit=embed_limit,
        principal=principal,
    )
    return r.written(), r.stats


def write_maps(
    session: Session,
    out: Path,
    *,
    community: str | None = None,
    base: str | None = None,
    plan: int | None = None,
) -> list[dict[str, Any]]:
    """The three maps as standalone files in ``out``. Returns path, size, seconds, counts."""
    out.mkdir(parents=True, exist_ok=True)
    done = []
    for kind, fname in (
        ("resident", "resident.html"),
        ("planner", "planner.html"),
        ("dispatcher", "dispatcher.html"),
    ):
        t0 = time.perf_counter()
        page, stats = build_map(
            session, kind, community=community, base=base, plan=plan if kind == "planner" else None
        )
        path = out / fname
        path.write_text(page, encoding="utf-8")
        done.append(
            {
                "map": kind,
                "path": str(path),
                "bytes": path.stat().st_size,
                "seconds": round(time.perf_counter() - t0, 3),
                **stats,
            }
        )
    return done
