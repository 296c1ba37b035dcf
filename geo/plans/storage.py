"""Reading and writing a draft's grids: load them into :class:`~geo.plans.state.G`, snapshot and
restore its micro-grids exactly (for undo), write back only the grids an edit changed."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import shapely
from shapely import Geometry
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.plans.state import G, _clean
from geo.store.wkb import ewkb


def _load(session: Session, vid: int) -> dict[str, G]:
    rows = session.execute(
        text(
            "SELECT g.id, g.code, g.level, p.code, g.name, g.compound_id, g.households, "
            "g.locked, ST_AsBinary(g.boundary) FROM grid g LEFT JOIN grid p ON "
            "p.id = g.parent_id WHERE g.version_id = :v ORDER BY g.code"
        ),
        {"v": vid},
    ).all()
    members: dict[int, list[tuple[int, int | None, int | None, int]]] = defaultdict(list)
    cells: dict[int, dict[int, Geometry]] = defaultdict(dict)
    for gid, uid, a, b, h, cell in session.execute(
        text(
            "SELECT m.grid_id, m.unit_id, m.floor_min, m.floor_max, m.households, "
            "ST_AsBinary(m.cell) FROM grid_member m JOIN grid g ON g.id = m.grid_id "
            "WHERE g.version_id = :v ORDER BY m.unit_id, m.floor_min NULLS FIRST"
        ),
        {"v": vid},
    ).all():
        members[gid].append((uid, a, b, h))
        if cell is not None:
            cells[gid][uid] = shapely.from_wkb(bytes(cell))
    return {
        r[1]: G(
            r[1],
            r[2],
            r[3],
            r[4],
            r[5],
            int(r[6]),
            bool(r[7]),
            shapely.from_wkb(bytes(r[8])),
            members.get(r[0], []),
            cells=cells.get(r[0], {}),
        )
        for r in rows
    }


def _snapshot(session: Session, vid: int, parents: set[str] | None = None) -> list[dict[str, Any]]:
    """The draft's micro-grids exactly as stored (boundaries as EWKB hex): all of them, or
    those of ``parents`` (codes)."""
    rows = session.execute(
        text(
            "SELECT g.code, p.code, g.name, g.compound_id, g.households, g.locked, "
            "encode(ST_AsEWKB(g.boundary), 'hex'), coalesce((SELECT json_agg(json_build_array("
            "m.unit_id, m.floor_min, m.floor_max, m.households, encode(ST_AsEWKB(m.cell), "
            "'hex')) ORDER BY m.id) FROM grid_member m WHERE m.grid_id = g.id), '[]') "
            "FROM grid g JOIN grid p ON p.id = g.parent_id "
            "WHERE g.version_id = :v AND g.level = 'micro' "
            + ("AND p.code = ANY(:p) " if parents is not None else "")
            + "ORDER BY g.id"
        ),
        {"v": vid, "p": sorted(parents or ())},
    ).all()
    return [
        {
            "code": r[0],
            "parent": r[1],
            "name": r[2],
            "compound_id": r[3],
            "households": r[4],
            "locked": r[5],
            "ewkb": r[6],
            "members": r[7],
        }
        for r in rows
    ]


def _restore(session: Session, vid: int, snap: list[dict[str, Any]] | dict[str, Any]) -> None:
    """Put back the micro-grids of a snapshot: all of the draft's (a list), or those of some
    parents (``{"parents": [codes], "grids": [...]}``): the others stay as they are."""
    grids: list[dict[str, Any]]
    if isinstance(snap, dict):
        session.execute(
            text(
                "DELETE FROM grid g USING grid p WHERE g.version_id = :v AND g.level = 'micro' "
                "AND p.id = g.parent_id AND p.code = ANY(:p)"
            ),
            {"v": vid, "p": snap["parents"]},
        )
        grids = snap["grids"]
    else:
        grids = snap
        session.execute(
            text("DELETE FROM grid WHERE version_id = :v AND level = 'micro'"), {"v": vid}
        )
    parents: dict[str, int] = dict(
        session.execute(
            text("SELECT code, id FROM grid WHERE version_id = :v AND level = 'compound'"),
            {"v": vid},
        ).all()
    )
    for g in grids:
        gid = session.execute(
            text(
                "INSERT INTO grid (version_id, level, code, name, parent_id, compound_id, "
                "households, locked, boundary) VALUES (:v, 'micro', :c, :n, :p, :cp, :h, :l, "
                "ST_GeomFromEWKB(decode(:g, 'hex'))) RETURNING id"
            ),
            {
                "v": vid,
                "c": g["code"],
                "n": g["name"],
                "p": parents[g["parent"]],
                "cp": g["compound_id"],
                "h": g["households"],
                "l": g["locked"],
                "g": g["ewkb"],
            },
        ).scalar_one()
        _insert_members(
            session,
            gid,
            [tuple(m[:4]) for m in g["members"]],
            {m[0]: m[4] for m in g["members"] if len(m) > 4 and m[4]},
        )


def _insert_members(
    session: Session,
    gid: int,
    members: Sequence[Sequence[Any]],
    cells: dict[int, str] | None = None,
) -> None:
    """Write a grid's members; ``cells`` (unit id → EWKB hex) for its floor-split units."""
    cells = cells or {}
    if members:
        session.execute(
            text(
                "INSERT INTO grid_member (grid_id, unit_id, floor_min, floor_max, households, "
                "cell) VALUES (:g, :u, :a, :b, :h, ST_GeomFromEWKB(decode(:c, 'hex')))"
            ),
            [
                {
                    "g": gid,
                    "u": m[0],
                    "a": m[1],
                    "b": m[2],
                    "h": m[3],
                    "c": cells.get(m[0]) if m[1] is not None else None,
                }
                for m in members
            ],
        )


def _save(session: Session, vid: int, before: set[str], state: dict[str, G]) -> None:
    """Write the micro-grids that changed (only those: the others keep their bytes)."""
    gone = sorted(before - set(state))
    if gone:
        session.execute(
            text("DELETE FROM grid WHERE version_id = :v AND code = ANY(:c)"),
            {"v": vid, "c": gone},
        )
    ids: dict[str, int] = dict(
        session.execute(text("SELECT code, id FROM grid WHERE version_id = :v"), {"v": vid}).all()
    )
    for g in state.values():
        if not g.dirty:
            continue
        params = {
            "v": vid,
            "c": g.code,
            "n": g.name,
            "p": ids[g.parent or ""],
            "cp": g.compound_id,
            "h": g.households,
            "l": g.locked,
            "g": ewkb([_clean(g.geom)])[0],
        }
        if g.code in ids:
            session.execute(
                text(
                    "UPDATE grid SET parent_id = :p, households = :h, locked = :l, "
                    "boundary = ST_GeomFromEWKB(decode(:g, 'hex')) WHERE version_id = :v AND "
                    "code = :c"
                ),
                params,
            )
            gid = ids[g.code]
            session.execute(text("DELETE FROM grid_member WHERE grid_id = :g"), {"g": gid})
        else:
            gid = session.execute(
                text(
                    "INSERT INTO grid (version_id, level, code, name, parent_id, compound_id, "
                    "households, locked, boundary) VALUES (:v, 'micro', :c, :n, :p, :cp, :h, :l, "
                    "ST_GeomFromEWKB(decode(:g, 'hex'))) RETURNING id"
                ),
                params,
            ).scalar_one()
        _insert_members(
            session,
            gid,
            g.members,
            {
                u: ewkb([_clean(c)])[0]
                for u, c in g.cells.items()
                if any(m[0] == u for m in g.members)
            },
        )
