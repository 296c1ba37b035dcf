"""What the maps and notice boards read from the database, as plain data.

Every query of ``maps/`` is here, one named function each, returning lists of dicts (a row's
columns by name, in the order selected) in storage coordinates (CGCS2000 ≈ WGS84); geometries
are WKB bytes under ``geom``. ``community``: a community code, or None for all of them. The
page builders turn this data into pages; nothing here knows about folium or matplotlib.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Result, text
from sqlalchemy.orm import Session

__all__ = [
    "address_buildings",
    "board_grid",
    "buildings",
    "buildings_near_grid",
    "center",
    "communities",
    "community_exists",
    "compounds",
    "draft_params",
    "extent",
    "facilities",
    "footprint_count",
    "footprints",
    "grid_buildings",
    "grid_workers",
    "grids",
    "neighbour_grids",
    "open_resources",
    "public_workers",
    "published_micro_grids",
    "published_params",
    "roads",
    "roads_near_grid",
    "scope_communities",
]


def _dicts(result: Result[Any]) -> list[dict[str, Any]]:
    return [dict(r._mapping) for r in result]


def _community_filter(community: str | None, alias: str) -> tuple[str, dict[str, Any]]:
    if community is None:
        return "TRUE", {}
    return f"{alias}.code = :community", {"community": community}


# --- what every map shows ---------------------------------------------------------------------
def community_exists(session: Session, community: str) -> bool:
    found = session.execute(
        text("SELECT 1 FROM community WHERE code = :c"), {"c": community}
    ).first()
    return found is not None


def center(session: Session, community: str | None) -> tuple[float, float] | None:
    """(lon, lat) of the communities' centroid, None without any."""
    cond, params = _community_filter(community, "c")
    row = session.execute(
        text(
            "SELECT ST_X(ST_Centroid(ST_Collect(c.boundary))), ST_Y(ST_Centroid(ST_Collect("
            f"c.boundary))) FROM community c WHERE {cond}"
        ),
        params,
    ).one()
    if row[0] is None:
        return None
    return row[0], row[1]


def extent(session: Session, codes: list[str] | None) -> tuple[float, ...] | None:
    """(xmin, ymin, xmax, ymax) of the boundaries of the communities ``codes`` (all of them
    for None), None when there is none."""
    row = session.execute(
        text(
            "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT "
            "ST_Extent(c.boundary)::geometry AS e FROM community c WHERE CAST(:codes AS text[]) "
            "IS NULL OR c.code = ANY(:codes)) x"
        ),
        {"codes": codes},
    ).one()
    return None if row[0] is None else tuple(float(v) for v in row)


def scope_communities(session: Session, street: str | None, grid: str | None) -> list[str]:
    """The communities of a scope: a dispatcher's street, or the community of a grid worker's
    grid (a grid of a current version, a compound or a community code); by code."""
    return list(
        session.execute(
            text(
                "SELECT c.code FROM community c JOIN street s ON s.id = c.street_id WHERE "
                "s.code = :street UNION SELECT c.code FROM grid g JOIN grid_version v ON "
                "v.id = g.version_id AND v.status = 'published' JOIN community c ON "
                "c.id = v.community_id WHERE g.code = :grid UNION SELECT c.code FROM compound p "
                "JOIN community c ON c.id = p.community_id WHERE p.code = :grid UNION SELECT "
                "code FROM community WHERE code = :grid ORDER BY 1"
            ),
            {"street": street, "grid": grid},
        ).scalars()
    )


def communities(session: Session, community: str | None) -> list[dict[str, Any]]:
    """code, name, geom (boundary)."""
    cond, params = _community_filter(community, "c")
    return _dicts(
        session.execute(
            text(
                "SELECT c.code, c.name, ST_AsBinary(c.boundary) AS geom FROM community c "
                f"WHERE {cond}"
            ),
            params,
        )
    )


def compounds(session: Session, community: str | None) -> list[dict[str, Any]]:
    """code, name, geom (boundary), by code."""
    cond, params = _community_filter(community, "c")
    return _dicts(
        session.execute(
            text(
                "SELECT p.code, p.name, ST_AsBinary(p.boundary) AS geom FROM compound p JOIN "
                f"community c ON c.id = p.community_id WHERE {cond} ORDER BY p.code"
            ),
            params,
        )
    )


def grids(session: Session, community: str | None, plan: int | None) -> list[dict[str, Any]]:
    """The grids of the current versions (or of the plan's draft), by level and code: code,
    level, parent_code, households, locked, geom (boundary), x, y (its point on surface),
    version (number), version_id."""
    cond, params = _community_filter(community, "c")
    if plan is None:
        vcond = "v.status = 'published'"
    else:
        vcond = "v.id = (SELECT draft_version_id FROM plan WHERE id = :plan)"
        params = params | {"plan": plan}
    return _dicts(
        session.execute(
            text(
                "SELECT g.code, g.level, pg.code AS parent_code, g.households, g.locked, "
                "ST_AsBinary(g.boundary) AS geom, ST_X(ST_PointOnSurface(g.boundary)) AS x, "
                "ST_Y(ST_PointOnSurface(g.boundary)) AS y, v.number AS version, "
                "v.id AS version_id "
                "FROM grid g JOIN grid_version v ON v.id = g.version_id JOIN community c ON "
                f"c.id = v.community_id LEFT JOIN grid pg ON pg.id = g.parent_id WHERE {vcond} "
                f"AND {cond} ORDER BY g.level, g.code"
            ),
            params,
        )
    )


# --- the resident map -------------------------------------------------------------------------
def facilities(session: Session, community: str | None) -> list[dict[str, Any]]:
    """Service places: code, name, kind, address, phone, opening_hours, services (joined with
    ``、``), booking (None), lon, lat; by code."""
    cond, params = _community_filter(community, "c")
    return _dicts(
        session.execute(
            text(
                "SELECT f.code, f.name, f.kind, f.address, f.phone, f.opening_hours, "
                "array_to_string(f.services, '、') AS services, NULL AS booking, "
                "ST_X(f.position) AS lon, ST_Y(f.position) AS lat "
                "FROM facility f LEFT JOIN community c ON c.id = f.community_id "
                f"WHERE {cond} ORDER BY f.code"
            ),
            params,
        )
    )


def open_resources(session: Session, community: str | None) -> list[dict[str, Any]]:
    """Open resources, as :func:`facilities` (kind ``open_resource``; services: ``owner org ·
    resource kind``); by code."""
    cond, params = _community_filter(community, "c")
    return _dicts(
        session.execute(
            text(
                "SELECT r.code, r.name, 'open_resource' AS kind, r.address, r.phone, "
                "r.opening_hours, r.owner_org || ' · ' || coalesce(r.kind, '') AS services, "
                "r.booking, ST_X(r.position) AS lon, ST_Y(r.position) AS lat FROM open_resource "
                f"r LEFT JOIN community c ON c.id = r.community_id WHERE {cond} ORDER BY r.code"
            ),
            params,
        )
    )


def address_buildings(session: Session, community: str | None) -> list[dict[str, Any]]:
    """Every building with its compound, for the address index: compound (name), building
    (name), geom (footprint)."""
    cond, params = _community_filter(community, "c")
    return _dicts(
        session.execute(
            text(
                "SELECT p.name AS compound, b.name AS building, ST_AsBinary(b.footprint) AS geom "
                "FROM building b JOIN compound p ON p.id = b.compound_id JOIN community c ON "
                f"c.id = b.community_id WHERE {cond}"
            ),
            params,
        )
    )


# --- the planner map --------------------------------------------------------------------------
def draft_params(session: Session, plan: int) -> dict[str, Any]:
    """The partitioning parameters recorded with the plan's draft version ({} if none)."""
    params = session.execute(
        text(
            "SELECT params FROM grid_version v JOIN plan p ON p.draft_version_id = v.id "
            "WHERE p.id = :p"
        ),
        {"p": plan},
    ).scalar()
    return params or {}


def published_params(session: Session, community: str | None) -> dict[str, Any]:
    """The band recorded with the current versions of the map's communities: ``{"min",
    "max"}`` when they all agree ({} when none is published, or their bands differ)."""
    cond, params = _community_filter(community, "c")
    bands = session.execute(
        text(
            "SELECT DISTINCT v.params->'min' AS lo, v.params->'max' AS hi FROM grid_version v "
            f"JOIN community c ON c.id = v.community_id WHERE v.status = 'published' AND {cond}"
        ),
        params,
    ).all()
    if len(bands) != 1 or bands[0].lo is None or bands[0].hi is None:
        return {}
    return {"min": bands[0].lo, "max": bands[0].hi}


def buildings(session: Session, community: str | None) -> list[dict[str, Any]]:
    """code, name, households, geom (footprint); by code."""
    cond, params = _community_filter(community, "c")
    return _dicts(
        session.execute(
            text(
                "SELECT b.code, b.name, b.households, ST_AsBinary(b.footprint) AS geom FROM "
                f"building b JOIN community c ON c.id = b.community_id WHERE {cond} "
                "ORDER BY b.code"
            ),
            params,
        )
    )


# --- the base layer of every map -------------------------------------------------------------
def roads(session: Session, community: str | None, tolerance: float) -> list[dict[str, Any]]:
    """The roads of the map's area: code, name, kind, geom (simplified to ``tolerance``
    degrees; for one community, the roads within ~200 m of its boundary's box, clipped to that
    box); by code."""
    if community is None:
        area, params = "NULL::geometry", {}
    else:
        area = "(SELECT ST_Expand(ST_Envelope(boundary), 0.002) FROM community WHERE code = :c)"
        params = {"c": community}
    return _dicts(
        session.execute(
            text(
                f"WITH a AS (SELECT {area} AS box) SELECT r.code, r.name, r.kind, "
                "ST_AsBinary(ST_SimplifyPreserveTopology(CASE WHEN a.box IS NULL THEN r.geom "
                "ELSE ST_Intersection(r.geom, a.box) END, :tol)) AS geom FROM road r, a WHERE "
                "a.box IS NULL OR r.geom && a.box AND ST_Intersects(r.geom, a.box) "
                "ORDER BY r.code"
            ),
            params | {"tol": tolerance},
        )
    )


def footprint_count(session: Session, community: str | None) -> int:
    cond, params = _community_filter(community, "c")
    return int(
        session.execute(
            text(
                "SELECT count(*) FROM building b JOIN community c ON c.id = b.community_id "
                f"WHERE {cond}"
            ),
            params,
        ).scalar_one()
    )


def footprints(session: Session, community: str | None) -> list[dict[str, Any]]:
    """The building footprints, geometry only: geom; by code."""
    cond, params = _community_filter(community, "c")
    return _dicts(
        session.execute(
            text(
                "SELECT ST_AsBinary(b.footprint) AS geom FROM building b JOIN community c ON "
                f"c.id = b.community_id WHERE {cond} ORDER BY b.code"
            ),
            params,
        )
    )


# --- the dispatcher map -----------------------------------------------------------------------
def public_workers(session: Session) -> list[dict[str, Any]]:
    """The workers of a grid: grid_code, name, role, phone (None unless made public); by
    code."""
    return _dicts(
        session.execute(
            text(
                "SELECT grid_code, name, role, CASE WHEN public_phone THEN phone END AS phone "
                "FROM worker WHERE grid_code IS NOT NULL ORDER BY code"
            )
        )
    )


# --- the notice boards ------------------------------------------------------------------------
def board_grid(session: Session, code: str) -> dict[str, Any] | None:
    """A micro-grid of a current version with its compound grid and community: id,
    households, geom (boundary), parent_code, parent_name, community_code, community_name.
    None for no such micro-grid."""
    row = session.execute(
        text(
            "SELECT g.id, g.households, ST_AsBinary(g.boundary) AS geom, p.code AS parent_code, "
            "p.name AS parent_name, c.code AS community_code, c.name AS community_name FROM "
            "grid g JOIN grid_version v ON v.id = g.version_id AND v.status = 'published' JOIN "
            "grid p ON p.id = g.parent_id JOIN community c ON c.id = v.community_id WHERE "
            "g.code = :c AND g.level = 'micro'"
        ),
        {"c": code},
    ).first()
    return None if row is None else dict(row._mapping)


def neighbour_grids(session: Session, grid_id: int) -> list[dict[str, Any]]:
    """The micro-grids of the same version within ~50 m of the grid: code, geom; by code."""
    return _dicts(
        session.execute(
            text(
                "SELECT n.code, ST_AsBinary(n.boundary) AS geom FROM grid n JOIN grid g ON "
                "g.id = :g WHERE n.version_id = g.version_id AND n.level = 'micro' AND "
                "n.id <> g.id AND ST_DWithin(n.boundary, g.boundary, 0.0005) ORDER BY n.code"
            ),
            {"g": grid_id},
        )
    )


def grid_buildings(session: Session, grid_id: int) -> list[dict[str, Any]]:
    """The buildings with a unit in the grid: code, name, geom (footprint); by code."""
    return _dicts(
        session.execute(
            text(
                "SELECT DISTINCT b.code, b.name, ST_AsBinary(b.footprint) AS geom FROM "
                "grid_member m JOIN building_unit u ON u.id = m.unit_id JOIN building b ON "
                "b.id = u.building_id WHERE m.grid_id = :g ORDER BY b.code"
            ),
            {"g": grid_id},
        )
    )


def buildings_near_grid(session: Session, grid_id: int) -> list[dict[str, Any]]:
    """The buildings within ~60 m of the grid: name, geom (footprint); by code."""
    return _dicts(
        session.execute(
            text(
                "SELECT b.name, ST_AsBinary(b.footprint) AS geom FROM building b JOIN grid g ON "
                "g.id = :g WHERE ST_DWithin(b.footprint, g.boundary, 0.0006) ORDER BY b.code"
            ),
            {"g": grid_id},
        )
    )


def roads_near_grid(session: Session, grid_id: int) -> list[dict[str, Any]]:
    """The roads within ~150 m of the grid: name, geom; by code."""
    return _dicts(
        session.execute(
            text(
                "SELECT r.name, ST_AsBinary(r.geom) AS geom FROM road r JOIN grid g ON g.id = :g "
                "WHERE ST_DWithin(r.geom, g.boundary, 0.0015) ORDER BY r.code"
            ),
            {"g": grid_id},
        )
    )


def grid_workers(session: Session, grids: list[str], buildings: list[str]) -> list[dict[str, Any]]:
    """The workers of the grids or buildings, micro-grid workers first, then building heads,
    grid workers, community secretaries: role, name, phone (None unless made public),
    grid_code, building_code."""
    return _dicts(
        session.execute(
            text(
                "SELECT role, name, CASE WHEN public_phone THEN phone END AS phone, grid_code, "
                "building_code FROM worker WHERE grid_code = ANY(:grids) OR building_code = "
                "ANY(:bs) ORDER BY CASE role WHEN 'micro_grid_worker' THEN 0 WHEN "
                "'building_head' THEN 1 WHEN 'grid_worker' THEN 2 WHEN 'community_secretary' "
                "THEN 3 ELSE 4 END, building_code, code"
            ),
            {"grids": grids, "bs": buildings},
        )
    )


def published_micro_grids(session: Session, community: str | None) -> list[str]:
    """The codes of the micro-grids of the current versions, by code."""
    return list(
        session.execute(
            text(
                "SELECT g.code FROM grid g JOIN grid_version v ON v.id = g.version_id AND "
                "v.status = 'published' JOIN community c ON c.id = v.community_id WHERE "
                "g.level = 'micro' AND (CAST(:c AS text) IS NULL OR c.code = :c) ORDER BY g.code"
            ),
            {"c": community},
        ).scalars()
    )
