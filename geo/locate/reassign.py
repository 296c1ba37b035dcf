"""After a new version of a community's grids: households and incidents keep their grid where
nothing changed (mapped by code to the new version) and are assigned again where it did."""

from __future__ import annotations

from typing import Any

import shapely
from sqlalchemy import CursorResult, text
from sqlalchemy.orm import Session

from geo.locate.bulk import assign_households, assign_incidents, would_assign
from geo.locate.index import Locator
from geo.store.audit import audit

__all__ = ["preview_changed", "reassign_changed"]


def reassign_changed(
    session: Session,
    locator: Locator,
    community: str,
    old_version: int,
    new_version: int,
    *,
    actor: str = "cli",
) -> dict[str, int]:
    """After a new version of a community's grids: households and incidents outside the area
    that changed keep their grid (mapped by code to the new version); those inside it are
    assigned again. Returns the counts (inside the changed area, re-assigned, changed grid)."""
    return _reassign(session, locator, community, old_version, new_version, actor=actor)


def preview_changed(
    session: Session,
    locator: Locator,
    community: str,
    old_version: int,
    new_version: int,
    *,
    version_id: int,
) -> dict[str, int]:
    """The counts :func:`reassign_changed` would return if version ``new_version`` (number;
    id ``version_id``: a draft, say) replaced the current ``old_version`` now — by the same
    steps, writing nothing. ``locator``: loaded with that version
    (``Locator.load(session, community, version=version_id)``)."""
    return _reassign(session, locator, community, old_version, new_version, preview=version_id)


def _reassign(
    session: Session,
    locator: Locator,
    community: str,
    old_version: int,
    new_version: int,
    *,
    actor: str = "cli",
    preview: int | None = None,
) -> dict[str, int]:
    """:func:`reassign_changed`, or with ``preview`` (the new version's id) its counts only:
    the same areas, rows and rules, nothing written."""
    changed_area, same_codes = _changed_area(session, community, old_version, new_version)
    counts = {
        "households_in_changed_area": 0,
        "incidents_in_changed_area": 0,
        "households_mapped_by_code": 0,
        "incidents_mapped_by_code": 0,
    }
    for table in ("household", "incident"):
        counts[f"{table}s_mapped_by_code"] = _map_by_code(
            session, table, community, old_version, new_version, same_codes, count=preview
        )
    if preview is None:
        _rehome_co_owners(session, community, old_version, new_version)
    if not changed_area:
        return counts
    hh, inc = _in_changed_area(session, community, changed_area)
    counts["households_in_changed_area"] = len(hh)
    counts["incidents_in_changed_area"] = len(inc)
    for table, ids, assign in (
        ("household", hh, assign_households),
        ("incident", inc, assign_incidents),
    ):
        if not ids:
            continue
        before = _grid_codes(session, table, ids)
        after: dict[int, str | None]
        if preview is None:
            assign(session, locator, ids=ids, actor=actor)
            after = _grid_codes(session, table, ids)
        else:
            after = would_assign(session, locator, table, version=preview, ids=ids)[1]
        counts[f"{table}s_changed_grid"] = sum(before.get(i) != after.get(i) for i in ids)
    if preview is None:
        detail = counts | {"old": old_version, "new": new_version}
        audit(session, actor, "reassign", "community", community, detail)
    return counts


def _map_by_code(
    session: Session,
    table: str,
    community: str,
    old: int,
    new: int,
    same: set[str],
    *,
    count: int | None = None,
) -> int:
    """Rows of ``table`` in an unchanged grid of the old version point to the grid of the same
    code in the new one. Returns how many (with ``count``: only counts them, the same rows)."""
    rows = (
        "FROM grid go JOIN grid_version vo ON vo.id = go.version_id "
        "JOIN grid gn ON gn.code = go.code JOIN grid_version vn ON vn.id = gn.version_id "
        "JOIN community c ON c.id = vn.community_id AND c.id = vo.community_id "
        "WHERE t.grid_id = go.id AND vo.number = :old AND vn.number = :new AND c.code = :c "
        "AND go.code = ANY(:same)"
    )
    params = {"old": old, "new": new, "c": community, "same": sorted(same)}
    # households through the community's buildings (household.grid_id has no index)
    mine = (
        "t.building_id IN (SELECT b.id FROM building b JOIN community cb ON cb.id = "
        "b.community_id WHERE cb.code = :c)"
        if table == "household"
        else "TRUE"
    )
    if count is not None:
        query = (
            f"SELECT count(DISTINCT t.id) FROM {table} t, LATERAL (SELECT 1 {rows}) x WHERE {mine}"
        )
        return int(session.execute(text(query), params).scalar_one())
    result = session.execute(
        text(f"UPDATE {table} t SET grid_id = gn.id {rows} AND {mine}"), params
    )
    return int(result.rowcount or 0) if isinstance(result, CursorResult) else 0


def _in_changed_area(
    session: Session, community: str, area: list[int]
) -> tuple[list[int], list[int]]:
    """The households of the community and the incidents inside the grids ``area``."""
    hh = session.execute(
        text(
            "SELECT h.id FROM household h JOIN building b ON b.id = h.building_id JOIN community c "
            "ON c.id = b.community_id WHERE c.code = :c AND EXISTS (SELECT 1 FROM grid g WHERE "
            "g.id = ANY(:g) AND ST_Covers(g.boundary, h.position))"
        ),
        {"c": community, "g": area},
    ).scalars()
    inc = session.execute(
        text(
            "SELECT i.id FROM incident i WHERE EXISTS (SELECT 1 FROM grid g WHERE g.id = ANY(:g) "
            "AND ST_Covers(g.boundary, i.position))"
        ),
        {"g": area},
    ).scalars()
    return list(hh), list(inc)


def _rehome_co_owners(session: Session, community: str, old: int, new: int) -> None:
    """Incidents' co-owner grids of the old version point to the grid of the same code in
    the new one; a co-owner whose grid is gone is dropped (the floor co-owners of incidents
    in the changed area are worked out again by their assignment)."""
    params = {"c": community, "old": old, "new": new}
    session.execute(
        text(
            "DELETE FROM incident_co_owner x USING grid go JOIN grid_version vo ON vo.id = "
            "go.version_id JOIN community c ON c.id = vo.community_id WHERE x.grid_id = go.id "
            "AND c.code = :c AND vo.number = :old AND (NOT EXISTS (SELECT 1 FROM grid gn JOIN "
            "grid_version vn ON vn.id = gn.version_id WHERE vn.community_id = c.id AND "
            "vn.number = :new AND gn.code = go.code) OR EXISTS (SELECT 1 FROM incident_co_owner "
            "y JOIN grid gy ON gy.id = y.grid_id JOIN grid_version vy ON vy.id = gy.version_id "
            "WHERE y.incident_id = x.incident_id AND vy.number = :new AND vy.community_id = c.id "
            "AND gy.code = go.code))"
        ),
        params,
    )
    session.execute(
        text(
            "UPDATE incident_co_owner x SET grid_id = gn.id FROM grid go JOIN grid_version vo "
            "ON vo.id = go.version_id JOIN community c ON c.id = vo.community_id JOIN grid gn "
            "ON gn.code = go.code JOIN grid_version vn ON vn.id = gn.version_id AND "
            "vn.community_id = c.id WHERE x.grid_id = go.id AND c.code = :c AND vo.number = :old "
            "AND vn.number = :new"
        ),
        params,
    )


def _grid_codes(session: Session, table: str, ids: list[int]) -> dict[int, str | None]:
    """The code of the grid each row points to (codes, not ids: ids differ by version)."""
    return dict(
        session.execute(
            text(
                f"SELECT t.id, g.code FROM {table} t JOIN grid g ON g.id = t.grid_id WHERE t.id = ANY(:i)"
            ),
            {"i": list(ids)},
        ).all()
    )


def _changed_area(
    session: Session, community: str, old: int, new: int
) -> tuple[list[int], set[str]]:
    """The ids of the micro-grids (of both versions) that differ between two versions, by
    code, shape or members — together they cover the area that changed — and the codes that
    are the same in both."""
    rows = session.execute(
        text(
            "SELECT v.number, g.id, g.code, ST_AsBinary(g.boundary), (SELECT coalesce("
            "array_agg(m.unit_id::text || ':' || coalesce(m.floor_min, 0) || '-' || "
            "coalesce(m.floor_max, 0) ORDER BY m.unit_id, m.floor_min), '{}') FROM grid_member m "
            "WHERE m.grid_id = g.id) FROM grid g JOIN grid_version v ON v.id = g.version_id "
            "JOIN community c ON c.id = v.community_id WHERE c.code = :c "
            "AND v.number IN (:o, :n) AND g.level = 'micro'"
        ),
        {"c": community, "o": old, "n": new},
    ).all()
    shapes: dict[int, dict[str, tuple[int, Any, list[str]]]] = {old: {}, new: {}}
    for number, gid, code, wkb, members in rows:
        shapes[number][code] = (gid, shapely.from_wkb(bytes(wkb)), list(members))
    same = {
        c
        for c in shapes[old]
        if c in shapes[new]
        and shapes[old][c][2] == shapes[new][c][2]
        and shapely.equals_exact(shapes[old][c][1], shapes[new][c][1], 0.0)
    }
    differ = [gid for v in (old, new) for c, (gid, _, _) in shapes[v].items() if c not in same]
    return differ, same
