"""Writing partitions as new grid versions of their communities: the version rows
(superseding the current ones when published), their grids at all three levels, the units
they hold (with the shared cell of each unit split by floors), and the audit rows — for one
community (:func:`write_version`) or a batch of them (:func:`write_versions`), the same code:
one statement per table for the batch, the grids and members written with COPY under ids
reserved from their sequence."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from shapely import Geometry
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import InputError
from geo.partition import PartitionResult
from geo.store.audit import audit_many
from geo.store.bulk import copy_rows, reserve_ids
from geo.store.wkb import storage_wkb

__all__ = ["Written", "write_version", "write_versions"]

# (level, code, parent code, name, compound id, households, metric geometry)
_Level = tuple[str, str, str | None, str | None, int | None, int, Geometry]
# (id, version id, level, code, name, parent id, compound id, households, hex EWKB)
GridRow = tuple[int, int, str, str, str | None, int | None, int | None, int, str]
# (grid id, unit id, floor_min, floor_max, households, hex EWKB cell or None)
MemberRow = tuple[int, int, int | None, int | None, int, str | None]

_GRID_COLUMNS = (
    "id",
    "version_id",
    "level",
    "code",
    "name",
    "parent_id",
    "compound_id",
    "households",
    "boundary",
)
_MEMBER_COLUMNS = ("grid_id", "unit_id", "floor_min", "floor_max", "households", "cell")


@dataclass(frozen=True)
class Written:
    """A version as written: its id and number, its grid rows (parents first) and member
    rows, as they are in the database (geometries as the hex EWKB stored)."""

    community_id: int
    community: str
    version: int
    number: int
    grids: list[GridRow]
    members: list[MemberRow]


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
    written = write_versions(
        session, [(community_id, result)], actor=actor, source=source, status=status
    )
    return written[0].version


def write_versions(
    session: Session,
    items: Sequence[tuple[int, PartitionResult]],
    *,
    actor: str,
    source: str,
    status: str = "published",
) -> list[Written]:
    """:func:`write_version` of every (community id, result) of ``items`` (one each), in
    the session's transaction; what was written, in the order of ``items``."""
    if not items:
        return []
    cids = [c for c, _ in items]
    if len(set(cids)) != len(cids):
        twice = sorted({c for c in cids if cids.count(c) > 1})
        raise InputError(f"同一社区写入两次 (a community written twice in one batch): {twice}")
    versions = _versions(session, items, actor=actor, source=source, status=status)
    comp_ids = _compound_ids(session, cids)
    levels = [_level_rows(r, comp_ids.get(c, {})) for c, r in items]
    ids = iter(reserve_ids(session, "grid", sum(len(rows) for rows in levels)))
    wkb = iter(storage_wkb([row[6] for rows in levels for row in rows]))
    written: list[Written] = []
    for (cid, result), rows, (vid, number) in zip(items, levels, versions, strict=True):
        by_code: dict[str, int] = {}
        grids: list[GridRow] = []
        for level, code, parent, name, comp, households, _ in rows:
            gid = by_code[code] = next(ids)
            parent_id = by_code[parent] if parent is not None else None
            grids.append((gid, vid, level, code, name, parent_id, comp, households, next(wkb)))
        members = _member_rows(result, by_code)
        written.append(Written(cid, result.community, vid, number, grids, members))
    copy_rows(session, "grid", _GRID_COLUMNS, (g for w in written for g in w.grids))
    copy_rows(session, "grid_member", _MEMBER_COLUMNS, (m for w in written for m in w.members))
    audit_many(
        session,
        [
            (
                actor,
                source,
                "grid_version",
                w.version,
                {"community": r.community, "number": w.number, **_short(r)},
            )
            for w, (_, r) in zip(written, items, strict=True)
        ],
    )
    return written


def _versions(
    session: Session,
    items: Sequence[tuple[int, PartitionResult]],
    *,
    actor: str,
    source: str,
    status: str,
) -> list[tuple[int, int]]:
    """The new version rows (the current ones superseded when they are published): (id,
    number) of each, in the order of ``items``."""
    cids = [c for c, _ in items]
    last: dict[int, int] = dict(
        session.execute(
            text(
                "SELECT community_id, max(number) FROM grid_version "
                "WHERE community_id = ANY(:c) GROUP BY 1"
            ),
            {"c": cids},
        ).all()
    )
    numbers = [int(last.get(c) or 0) + 1 for c in cids]
    if status == "published":
        session.execute(
            text(
                "UPDATE grid_version SET status = 'superseded' WHERE community_id = ANY(:c) "
                "AND status = 'published'"
            ),
            {"c": cids},
        )
    made = session.execute(
        text(
            "INSERT INTO grid_version (community_id, number, status, source, params, "
            "created_by, published_at) SELECT u.c, u.n, :s, :src, u.p, :a, :pub FROM "
            "unnest(CAST(:c AS integer[]), CAST(:n AS integer[]), CAST(:p AS jsonb[])) "
            "AS u(c, n, p) RETURNING id, community_id"
        ),
        {
            "c": cids,
            "n": numbers,
            "s": status,
            "src": source,
            "pub": datetime.now(UTC) if status == "published" else None,
            "p": [
                json.dumps(r.params | {"summary": _short(r)}, ensure_ascii=False) for _, r in items
            ],
            "a": actor,
        },
    ).all()
    vid = {int(c): int(v) for v, c in made}
    return [(vid[c], n) for c, n in zip(cids, numbers, strict=True)]


def _compound_ids(session: Session, cids: list[int]) -> dict[int, dict[str, int]]:
    """Community id → compound code → compound id."""
    out: dict[int, dict[str, int]] = {}
    for cid, code, comp in session.execute(
        text("SELECT community_id, code, id FROM compound WHERE community_id = ANY(:c)"),
        {"c": cids},
    ):
        out.setdefault(int(cid), {})[code] = int(comp)
    return out


def _level_rows(result: PartitionResult, comp_ids: dict[str, int]) -> list[_Level]:
    """The community grid, then the compound grids, then the micro-grids."""
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


def _member_rows(result: PartitionResult, ids: dict[str, int]) -> list[MemberRow]:
    """The units (or floor ranges) each micro-grid holds; a unit split by floors: its whole
    cell on each of its floor ranges' memberships."""
    cells = {
        a.unit_id: m.floor_cells[a.unit_id]
        for m in result.micro
        for a in m.atoms
        if a.floor_min is not None
    }
    cell_wkb = dict(zip(cells, storage_wkb(list(cells.values())), strict=True)) if cells else {}
    return [
        (
            ids[m.code],
            a.unit_id,
            a.floor_min,
            a.floor_max,
            a.households,
            cell_wkb.get(a.unit_id) if a.floor_min is not None else None,
        )
        for m in result.micro
        for a in m.atoms
    ]


def _short(result: PartitionResult) -> dict[str, Any]:
    """The summary recorded with a version and in its audit row."""
    s = result.summary()
    return {
        k: s[k]
        for k in ("compound_grids", "micro_grids", "households", "in_band", "split_buildings")
    }
