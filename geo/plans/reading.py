"""What the browser editor reads of a draft, writing nothing: its grids (filtered by codes and
a box, with the side list's counts), its community's buildings with their units and the draft
micro-grids holding them, and what publishing it now would do (:func:`plan_preview`)."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import InputError
from geo.plans.diff import _grid_changes, _micro_shapes
from geo.plans.review import plan_report
from geo.plans.state import _editable, _Plan, _plan
from geo.settings import band, get_settings
from geo.store.versions import preview_reassign

__all__ = [
    "MAX_BUILDINGS",
    "MAX_CODES",
    "parse_codes",
    "plan_buildings",
    "plan_grids",
    "plan_preview",
]

MAX_CODES = 500  # codes in one `codes=` filter
MAX_BUILDINGS = 20_000  # buildings in one answer
Box = tuple[float, float, float, float]


def parse_codes(value: str | None, *, name: str = "codes") -> list[str] | None:
    """A comma-separated list of codes (blanks between commas ignored), at most
    :data:`MAX_CODES`; None when not given or empty. Errors name the parameter."""
    if value is None or not value.strip():
        return None
    codes = list(dict.fromkeys(c.strip() for c in value.split(",") if c.strip()))
    if len(codes) > MAX_CODES:
        raise InputError(
            f"{name} 最多 {MAX_CODES} 个编码 (too many codes in {name}: {len(codes)}, at most "
            f"{MAX_CODES})"
        )
    long = next((c for c in codes if len(c) > 64), None)
    if long is not None:
        raise InputError(f"{name} 含过长的编码 (a code in {name} is too long): {long[:80]!r}")
    return codes


def _box_condition(column: str, bbox: Box | None, params: dict[str, Any]) -> str:
    """`` AND`` the column intersects the box (CRS84, served as stored: CGCS2000), through its
    GiST index; empty without a box."""
    if bbox is None:
        return ""
    params.update(zip(("x0", "y0", "x1", "y1"), bbox, strict=True))
    env = f"ST_MakeEnvelope(:x0, :y0, :x1, :y1, {get_settings().storage_srid})"
    return f" AND {column} && {env} AND ST_Intersects({column}, {env})"


def _draft_band(session: Session, plan: _Plan) -> tuple[int, int]:
    """The band the draft version was partitioned with (as the edits check it)."""
    params = session.execute(
        text("SELECT params FROM grid_version WHERE id = :v"), {"v": plan.draft_version_id}
    ).scalar()
    params = params or {}
    return band(params.get("min"), params.get("max"))


# the side list's counts, in one statement: per micro-grid its buildings with households (a
# compound grid: of its micro-grids; the community grid: all) and who serves it — the workers
# whose grid is its code and, for a micro-grid, the building heads of its buildings, each once
_GRIDS_SQL = """
WITH mb AS (
  SELECT DISTINCT mg.id AS gid, mg.parent_id AS pid, b.id AS bid, b.code AS bcode
  FROM grid mg JOIN grid_member m ON m.grid_id = mg.id JOIN building_unit u ON u.id = m.unit_id
  JOIN building b ON b.id = u.building_id
  WHERE mg.version_id = :v AND mg.level = 'micro' AND m.households > 0
), micro_n AS (SELECT gid, count(*) AS n FROM mb GROUP BY gid
), compound_n AS (SELECT pid, count(DISTINCT bid) AS n FROM mb GROUP BY pid
), all_n AS (SELECT count(DISTINCT bid) AS n FROM mb
), served AS (
  SELECT mb.gid, w.id FROM mb JOIN worker w ON w.building_code = mb.bcode
  WHERE w.community_id = :c
  UNION
  SELECT g2.id, w.id FROM grid g2 JOIN worker w ON w.grid_code = g2.code
  WHERE g2.version_id = :v AND w.community_id = :c
), served_n AS (SELECT gid, count(*) AS n FROM served GROUP BY gid)
SELECT g.code, g.level, pg.code, g.households, g.locked, g.name,
  CASE g.level WHEN 'micro' THEN coalesce(micro_n.n, 0)
    WHEN 'compound' THEN coalesce(compound_n.n, 0) ELSE (SELECT n FROM all_n) END,
  coalesce(served_n.n, 0), ST_AsGeoJSON(g.boundary, 7)
FROM grid g LEFT JOIN grid pg ON pg.id = g.parent_id
LEFT JOIN micro_n ON micro_n.gid = g.id LEFT JOIN compound_n ON compound_n.pid = g.id
LEFT JOIN served_n ON served_n.gid = g.id
WHERE g.version_id = :v AND (CAST(:l AS text) IS NULL OR g.level = :l)
"""


def plan_grids(
    session: Session,
    plan_id: int,
    *,
    level: str | None = None,
    codes: list[str] | None = None,
    bbox: Box | None = None,
) -> dict[str, Any]:
    """The draft's grids as a GeoJSON FeatureCollection (CRS84): of one level, only ``codes``
    (an unknown code is absent), only those intersecting ``bbox``; each with its name, its
    households, its buildings with households and its workers (see :data:`_GRIDS_SQL`), and
    the band the draft was partitioned with."""
    p = _plan(session, plan_id)
    params: dict[str, Any] = {"v": p.draft_version_id, "l": level, "c": p.community_id}
    sql = _GRIDS_SQL
    if codes is not None:
        sql += " AND g.code = ANY(:codes)"
        params["codes"] = codes
    sql += _box_condition("g.boundary", bbox, params) + " ORDER BY g.level, g.code"
    rows = session.execute(text(sql), params).all()
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "id": r[0],
                "geometry": json.loads(r[8]),
                "properties": {
                    "code": r[0],
                    "level": r[1],
                    "parent_code": r[2],
                    "households": r[3],
                    "locked": r[4],
                    "name": r[5],
                    "buildings": int(r[6] or 0),
                    "workers": int(r[7]),
                },
            }
            for r in rows
        ],
        "numberReturned": len(rows),
        "plan": p.id,
        "version": p.draft_number,
        "community": p.community,
        "band": list(_draft_band(session, p)),
    }


def plan_buildings(
    session: Session,
    plan_id: int,
    *,
    bbox: Box | None = None,
    codes: list[str] | None = None,
    limit: int = 5000,
) -> dict[str, Any]:
    """The plan's community's buildings as a GeoJSON FeatureCollection (CRS84 footprints, in
    code order, at most ``limit``): households, the draft micro-grid holding most of them
    (``grid``; null when none does), every one holding some (``grids``), and the units as the
    move edit names them (``<building>-U<n>``) with theirs (a unit split by floors: each
    floor group's grid in ``grids``, the one with most households in ``grid``)."""
    if not 1 <= limit <= MAX_BUILDINGS:
        raise InputError(
            f"limit 应在 1–{MAX_BUILDINGS} 之间 (limit out of range 1–{MAX_BUILDINGS}): {limit}"
        )
    p = _plan(session, plan_id)
    params: dict[str, Any] = {"c": p.community_id, "limit": limit}
    cond = ""
    if codes is not None:
        cond += " AND b.code = ANY(:codes)"
        params["codes"] = codes
    cond += _box_condition("b.footprint", bbox, params)
    rows = session.execute(
        text(
            "SELECT b.id, b.code, b.name, b.households, ST_AsGeoJSON(b.footprint, 7), "
            "count(*) OVER () FROM building b WHERE b.community_id = :c"
            + cond
            + ' ORDER BY b.code COLLATE "C" LIMIT :limit'
        ),
        params,
    ).all()
    units = _units(session, p.draft_version_id, [r[0] for r in rows])
    features = [_building_feature(r, units.get(r[0], [])) for r in rows]
    return {
        "type": "FeatureCollection",
        "features": features,
        "numberMatched": int(rows[0][5]) if rows else 0,
        "numberReturned": len(features),
        "plan": p.id,
        "version": p.draft_number,
        "community": p.community,
    }


@dataclass
class _Unit:
    no: int
    households: int
    held: list[tuple[str, int]] = field(default_factory=list)  # (micro-grid code, households)


def _units(session: Session, version_id: int, building_ids: list[int]) -> dict[int, list[_Unit]]:
    """Building id → its units in order, each with the draft micro-grids holding it."""
    if not building_ids:
        return {}
    rows = session.execute(
        text(
            "SELECT u.building_id, u.unit_no, u.households, g.code, m.households FROM "
            "building_unit u LEFT JOIN (grid_member m JOIN grid g ON g.id = m.grid_id AND "
            "g.version_id = :v AND g.level = 'micro') ON m.unit_id = u.id "
            "WHERE u.building_id = ANY(:b) ORDER BY u.building_id, u.unit_no, m.floor_min, g.code"
        ),
        {"v": version_id, "b": building_ids},
    ).all()
    out: dict[int, list[_Unit]] = defaultdict(list)
    for bid, no, hh, grid, held in rows:
        units = out[bid]
        if not units or units[-1].no != no:
            units.append(_Unit(no, hh))
        if grid is not None:
            units[-1].held.append((grid, int(held)))
    return out


def _most(held: dict[str, int]) -> str | None:
    """The code holding most households (the smallest code on a tie); None when none holds
    any."""
    best = sorted(((-n, code) for code, n in held.items() if n > 0))
    return best[0][1] if best else None


def _building_feature(row: Any, units: list[_Unit]) -> dict[str, Any]:
    _, code, name, households, geometry, _ = row
    by_grid: dict[str, int] = defaultdict(int)
    out_units = []
    for u in units:
        per: dict[str, int] = defaultdict(int)
        for g, n in u.held:
            per[g] += n
            by_grid[g] += n
        grid = _most(per) or (min(per) if per else None)  # a unit without households: its grid
        out_units.append(
            {
                "code": f"{code}-U{u.no}",
                "households": u.households,
                "grid": grid,
                "grids": sorted(per),
            }
        )
    return {
        "type": "Feature",
        "id": code,
        "geometry": json.loads(geometry),
        "properties": {
            "code": code,
            "name": name,
            "households": households,
            "grid": _most(by_grid),
            "grids": sorted(g for g, n in by_grid.items() if n > 0),
            "units": out_units,
        },
    }


def plan_preview(session: Session, plan_id: int) -> dict[str, Any]:
    """What publishing the plan now would do, writing nothing: whether its base is still
    current (publishing refuses a stale one), the households and incidents whose micro-grid
    it would change — :func:`geo.store.versions.preview_reassign`, the dry run of the very
    steps publishing runs, whose counts are publishing's ``reassigned`` (in ``reassigned``)
    — the micro-grids added, removed and changed against the current version, and the
    validation's errors (publishing refuses them) and warnings. A plan already published or
    discarded: refused (409), as publishing it is."""
    p = _plan(session, plan_id)
    _editable(p)
    current = session.execute(
        text(
            "SELECT id, number FROM grid_version WHERE community_id = :c AND status = 'published'"
        ),
        {"c": p.community_id},
    ).first()
    report = plan_report(session, plan_id)
    reassigned = preview_reassign(
        session, p.community, current[1] if current else None, p.draft_version_id
    )
    old = _micro_shapes(session, current[0]) if current else {}
    by: dict[str, int] = defaultdict(int)
    for g in _grid_changes(old, _micro_shapes(session, p.draft_version_id)):
        by[g["change"]] += 1
    return {
        "plan": p.id,
        "stale": current is None or current[0] != p.base_version_id,
        "base_version": p.base_number,
        "current_version": current[1] if current else None,
        "draft_version": p.draft_number,
        "households": reassigned.get(
            "households_changed_grid", reassigned.get("households_assigned", 0)
        ),
        "incidents": reassigned.get(
            "incidents_changed_grid", reassigned.get("incidents_assigned", 0)
        ),
        "grids": {k: by[k] for k in ("added", "removed", "changed")},
        "errors": len(report.errors),
        "warnings": len(report.warnings),
        "reassigned": reassigned,
    }
