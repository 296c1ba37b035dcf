"""Writing a partition as a new grid version of its community: the version row (superseding
the current one when published), its grids at all three levels, the units they hold (with
the shared cell of each unit split by floors), and the audit row."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from shapely import Geometry
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.partition import PartitionResult
from geo.store.audit import audit
from geo.store.wkb import storage_wkb

__all__ = ["write_version"]

# (level, code, parent code, name, compound id, households, metric geometry)
_Level = tuple[str, str, str | None, str | None, int | None, int, Geometry]


def write_version(
    session: Session,
    community_id: int,
    result: PartitionResult,
    *,
    actor: str,
    source: str,
    status: str = "published",
) -> int:
    """Insert the grids of ``result`` as a new version of the community (superseding the
    current one when ``status`` is published). Returns the version id."""
    vid, number = _version(session, community_id, result, actor=actor, source=source, status=status)
    ids = _insert_grids(session, vid, _level_rows(session, community_id, result))
    _insert_members(session, result, ids)
    audit(
        session,
        actor,
        source,
        "grid_version",
        vid,
        {"community": result.community, "number": number, **_short(result)},
    )
    return vid


def _version(
    session: Session,
    community_id: int,
    result: PartitionResult,
    *,
    actor: str,
    source: str,
    status: str,
) -> tuple[int, int]:
    """The new version row (the current one superseded when it is published): (id, number)."""
    number = int(
        session.execute(
            text("SELECT coalesce(max(number), 0) + 1 FROM grid_version WHERE community_id = :c"),
            {"c": community_id},
        ).scalar_one()
    )
    if status == "published":
        session.execute(
            text(
                "UPDATE grid_version SET status = 'superseded' WHERE community_id = :c AND "
                "status = 'published'"
            ),
            {"c": community_id},
        )
    vid = session.execute(
        text(
            "INSERT INTO grid_version (community_id, number, status, source, params, "
            "created_by, published_at) VALUES (:c, :n, :s, :src, CAST(:p AS jsonb), :a, "
            ":pub) RETURNING id"
        ),
        {
            "c": community_id,
            "n": number,
            "s": status,
            "src": source,
            "pub": datetime.now(UTC) if status == "published" else None,
            "p": json.dumps(result.params | {"summary": _short(result)}, ensure_ascii=False),
            "a": actor,
        },
    ).scalar_one()
    return int(vid), number


def _level_rows(session: Session, community_id: int, result: PartitionResult) -> list[_Level]:
    """The community grid, then the compound grids, then the micro-grids."""
    comp_ids: dict[str, int] = {
        code: int(cid)
        for code, cid in session.execute(
            text("SELECT code, id FROM compound WHERE community_id = :c"), {"c": community_id}
        ).all()
    }
    households = sum(c.households for c in result.compound_grids)
    rows: list[_Level] = [
        ("community", result.community, None, "社区网格", None, households, result.geometry)
    ]
    for c in result.compound_grids:
        comp = comp_ids.get(c.compounds[0]) if c.compounds else None
        rows.append(("compound", c.code, result.community, c.name, comp, c.households, c.geometry))
    for c in result.compound_grids:
        comp = comp_ids.get(c.compounds[0]) if c.compounds else None
        rows += [("micro", m.code, c.code, None, comp, m.households, m.geometry) for m in c.micro]
    return rows


def _insert_grids(session: Session, vid: int, rows: list[_Level]) -> dict[str, int]:
    """Insert the grids of version ``vid``, parents first; grid code → id."""
    ids: dict[str, int] = {}
    wkb = storage_wkb([r[6] for r in rows])
    for (level, code, parent, name, comp, households, _), g in zip(rows, wkb, strict=True):
        ids[code] = session.execute(
            text(
                "INSERT INTO grid (version_id, level, code, name, parent_id, compound_id, "
                "households, boundary) VALUES (:v, :l, :c, :n, :p, :cp, :h, "
                "ST_GeomFromEWKB(decode(:g, 'hex'))) RETURNING id"
            ),
            {
                "v": vid,
                "l": level,
                "c": code,
                "n": name,
                "p": ids.get(parent or ""),
                "cp": comp,
                "h": households,
                "g": g,
            },
        ).scalar_one()
    return ids


def _insert_members(session: Session, result: PartitionResult, ids: dict[str, int]) -> None:
    """The units (or floor ranges) each micro-grid holds; a unit split by floors: its whole
    cell on each of its floor ranges' memberships."""
    cells = {
        a.unit_id: m.floor_cells[a.unit_id]
        for m in result.micro
        for a in m.atoms
        if a.floor_min is not None
    }
    cell_wkb = dict(zip(cells, storage_wkb(list(cells.values())), strict=True)) if cells else {}
    members = [
        {
            "g": ids[m.code],
            "u": a.unit_id,
            "a": a.floor_min,
            "b": a.floor_max,
            "h": a.households,
            "c": cell_wkb.get(a.unit_id) if a.floor_min is not None else None,
        }
        for m in result.micro
        for a in m.atoms
    ]
    if members:
        session.execute(
            text(
                "INSERT INTO grid_member (grid_id, unit_id, floor_min, floor_max, households, "
                "cell) VALUES (:g, :u, :a, :b, :h, ST_GeomFromEWKB(decode(:c, 'hex')))"
            ),
            members,
        )


def _short(result: PartitionResult) -> dict[str, Any]:
    """The summary recorded with a version and in its audit row."""
    s = result.summary()
    return {
        k: s[k]
        for k in ("compound_grids", "micro_grids", "households", "in_band", "split_buildings")
    }
