"""The floor rule: a tall unit split by floors into several micro-grids. They share the unit's
cell (floors are not places), so a position there cannot tell them apart; a floor can."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

__all__ = ["FloorGroups", "floor_groups", "load_floor_groups"]


@dataclass(frozen=True)
class FloorGroups:
    """A unit split by floors: its micro-grids, each with its floor range, lowest first. They
    share the unit's cell (floors are not places), so a position there cannot tell them
    apart; a floor can."""

    unit_id: int
    groups: tuple[tuple[int, int, int], ...]  # (micro-grid id, floor_min, floor_max)

    def pick(self, floor: int | None) -> tuple[int, list[int]]:
        """The micro-grid answering for a point in the unit's cell, and its co-owners: the
        group holding ``floor`` when a floor is given and one holds it (no co-owners); else
        the group holding the lowest floors, with every other grid holding floors of the unit
        as a co-owner (each once; a grid may hold several of its floor ranges)."""
        if floor is not None:
            for gid, lo, hi in self.groups:
                if lo <= floor <= hi:
                    return gid, []
        chosen = self.groups[0][0]
        others: list[int] = []
        for g, _, _ in self.groups[1:]:
            if g != chosen and g not in others:
                others.append(g)
        return chosen, others


def load_floor_groups(
    session: Session, versions: str, params: dict[str, Any]
) -> tuple[list[FloorGroups], list[Any]]:
    """The units split by floors in the grid versions (``v``) that the SQL condition
    ``versions`` selects (with ``params``: the current ones of a community, say), by unit id,
    with their cells."""
    rows = session.execute(
        text(
            "SELECT m.unit_id, m.grid_id, m.floor_min, m.floor_max, ST_AsBinary(m.cell) "
            "FROM grid_member m JOIN grid g ON g.id = m.grid_id JOIN grid_version v "
            f"ON v.id = g.version_id WHERE {versions} AND m.cell IS NOT NULL "
            "ORDER BY m.unit_id, m.floor_min"
        ),
        params,
    ).all()
    return floor_groups((uid, gid, lo, hi, bytes(cell)) for uid, gid, lo, hi, cell in rows)


def floor_groups(
    rows: Iterable[tuple[int, int, int, int, bytes | str]],
) -> tuple[list[FloorGroups], list[Any]]:
    """The floor groups and cells (as :func:`load_floor_groups` gives them) of the members
    ``rows`` (unit id, grid id, floor_min, floor_max, cell as WKB or hex EWKB) of units split
    by floors, in the order of unit id then floor_min."""
    groups: dict[int, list[tuple[int, int, int]]] = {}
    wkb: dict[int, bytes | str] = {}
    for uid, gid, lo, hi, cell in rows:
        groups.setdefault(uid, []).append((gid, lo, hi))
        wkb.setdefault(uid, cell)
    units = sorted(groups)
    cells = list(shapely.from_wkb([wkb[u] for u in units])) if units else []
    return [FloorGroups(u, tuple(groups[u])) for u in units], cells
