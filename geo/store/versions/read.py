"""Reading a grid version back: its grids at all levels as records in the metric CRS (for
validation, the plans and the API), with the version's row."""

from __future__ import annotations

from typing import Any

from shapely import Geometry
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.core.validate import GridRecord
from geo.errors import NotFoundError
from geo.store.wkb import wkb_metric

__all__ = ["HOUSEHOLDS_OF_GRIDS", "household_count", "load_version", "micro_grids_under"]

# The households assigned to grids ``g`` (a FROM item: grid g, its version gv, the buildings b
# of its community, their households h). ``household.grid_id`` has no index (migration 0020:
# assigning a city rewrites it in place), so a grid's households are found through its
# community's buildings (``building.community_id``, ``household.building_id``: indexed).
HOUSEHOLDS_OF_GRIDS = (
    "grid g JOIN grid_version gv ON gv.id = g.version_id "
    "JOIN building b ON b.community_id = gv.community_id "
    "JOIN household h ON h.building_id = b.id AND h.grid_id = g.id"
)


def household_count(grid: str = "g", version: str = "v") -> str:
    """SQL: how many households are assigned to the grid aliased ``grid``, whose version is
    aliased ``version`` (through its community's buildings, as :data:`HOUSEHOLDS_OF_GRIDS`)."""
    return (
        "(SELECT count(*) FROM building hb JOIN household hh ON hh.building_id = hb.id "
        f"WHERE hb.community_id = {version}.community_id AND hh.grid_id = {grid}.id)"
    )


def load_version(
    session: Session, code: str, version: int | None = None
) -> tuple[list[GridRecord], dict[str, Any]]:
    """The grids of a community's version (default: the current one) as records in the
    metric CRS, with the version's row."""
    ver = _version_row(session, code, version)
    rows = session.execute(
        text(
            "SELECT g.id, g.code, g.level, p.code, g.households, ST_AsBinary(g.boundary) "
            "FROM grid g LEFT JOIN grid p ON p.id = g.parent_id WHERE g.version_id = :v "
            "ORDER BY g.level, g.code"
        ),
        {"v": ver["id"]},
    ).all()
    geoms = wkb_metric(rows, 5)
    members: dict[int, list[tuple[int, int | None, int | None, int]]] = {}
    cells: dict[int, dict[int, Geometry]] = {}
    member_rows = session.execute(
        text(
            "SELECT m.grid_id, m.unit_id, m.floor_min, m.floor_max, m.households, "
            "ST_AsBinary(m.cell) FROM grid_member m JOIN grid g ON g.id = m.grid_id "
            "WHERE g.version_id = :v ORDER BY m.id"
        ),
        {"v": ver["id"]},
    ).all()
    with_cell = [r for r in member_rows if r[5] is not None]
    for r, cell in zip(with_cell, wkb_metric(with_cell, 5), strict=True):
        cells.setdefault(r[0], {})[r[1]] = cell
    for gid, uid, a, b, h, _ in member_rows:
        members.setdefault(gid, []).append((uid, a, b, h))
    records = [
        GridRecord(r[1], r[2], r[3], g, int(r[4]), members.get(r[0], []), cells=cells.get(r[0], {}))
        for r, g in zip(rows, geoms, strict=True)
    ]
    return records, ver


def _version_row(session: Session, code: str, version: int | None) -> dict[str, Any]:
    params: dict[str, Any] = {"c": code}
    if version is None:
        cond = "v.status = 'published'"
    else:
        cond = "v.number = :n"
        params["n"] = version
    row = (
        session.execute(
            text(
                f"SELECT v.id, v.number, v.status, v.source, v.created_at, v.params FROM "
                f"grid_version v JOIN community c ON c.id = v.community_id WHERE c.code = :c AND "
                f"{cond}"
            ),
            params,
        )
        .mappings()
        .first()
    )
    if row is None:
        what = "现行版本 (current version)" if version is None else f"版本 (version) {version}"
        raise NotFoundError(f"社区 {code} 没有{what} (community {code} has no such version)")
    return dict(row)


def micro_grids_under(session: Session, code: str) -> list[str] | None:
    """The micro-grid codes of the published grid ``code`` — itself when it is one, every
    micro-grid under it otherwise — sorted; None when no published grid has that code."""
    rows = session.execute(
        text("""
        WITH RECURSIVE t AS (
          SELECT g.id, g.code, g.level FROM grid g JOIN grid_version v ON v.id = g.version_id
            AND v.status = 'published' WHERE g.code = :c
          UNION ALL SELECT g.id, g.code, g.level FROM grid g JOIN t ON g.parent_id = t.id)
        SELECT code, level FROM t"""),
        {"c": code},
    ).all()
    if not rows:
        return None
    return sorted({c for c, level in rows if level == "micro"})
