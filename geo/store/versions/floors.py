"""Units split by floors in a grid version: their cell once, and the floor ranges each
micro-grid holds of them (the layer ``floor-units`` and the maps' boards)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import shapely
from shapely import Geometry
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.store.layers import LayerSpec

__all__ = ["FLOOR_UNITS", "FloorGroup", "FloorUnit", "floor_units"]


# 分层单元 (units split by floors): one feature per unit and version, the unit's whole cell once
# (the view floor_unit, migration 0009); ``where`` picks the version(s)
FLOOR_UNITS = LayerSpec(
    kind="floor-units",
    label=("分层单元", "units split by floors"),
    table="floor_unit",
    geom="area",
    geom_column="cell",
    attrs=(),
    select=(
        "t.code",
        "t.building_code",
        "t.unit_no",
        "t.label",
        "t.grids",
        "t.households",
        "c.code AS community_code",
        "v.number AS version",
    ),
    joins="JOIN grid_version v ON v.id = t.version_id JOIN community c ON c.id = v.community_id",
)


@dataclass(frozen=True)
class FloorGroup:
    """One floor range of a unit split by floors and the micro-grid holding it."""

    grid: str  # micro-grid code
    floor_min: int
    floor_max: int
    households: int

    @property
    def label(self) -> str:
        """``1–12层``"""
        return f"{self.floor_min}–{self.floor_max}层"


@dataclass(frozen=True)
class FloorUnit:
    """A unit split by floors in one grid version: its cell once, its floor groups lowest
    first (every micro-grid of a group covers the whole cell: floors are not places)."""

    unit_id: int
    code: str  # <building code>-U<unit no>
    building_code: str
    building_name: str
    unit_no: int
    version_id: int
    cell: Geometry  # storage CRS
    groups: tuple[FloorGroup, ...]

    @property
    def label(self) -> str:
        """``1–12层 / 13–24层``"""
        return " / ".join(g.label for g in self.groups)

    @property
    def households(self) -> int:
        return sum(g.households for g in self.groups)


def floor_units(
    *, session: Session, community: str | None = None, version_id: int | None = None
) -> list[FloorUnit]:
    """The units split by floors of a grid version (``version_id``: any status, a plan's
    draft too) or of the current versions (of ``community``, or of every community), each
    with its cell (storage CRS) and its floor groups, ordered by building code and unit."""
    conds = ["v.status = 'published'" if version_id is None else "v.id = :v"]
    params: dict[str, Any] = {"v": version_id, "c": community}
    if community is not None:
        conds.append("c.code = :c")
    rows = session.execute(
        text(
            "SELECT f.unit_id, f.code, f.building_code, f.building_name, f.unit_no, "
            "f.version_id, ST_AsBinary(f.cell) FROM floor_unit f JOIN grid_version v ON "
            f"v.id = f.version_id JOIN community c ON c.id = v.community_id WHERE "
            f"{' AND '.join(conds)} ORDER BY f.building_code, f.unit_no, f.version_id"
        ),
        params,
    ).all()
    if not rows:
        return []
    groups: dict[tuple[int, int], list[FloorGroup]] = {}
    for uid, vid, code, lo, hi, n in session.execute(
        text(
            "SELECT m.unit_id, g.version_id, g.code, m.floor_min, m.floor_max, m.households "
            "FROM grid_member m JOIN grid g ON g.id = m.grid_id WHERE m.floor_min IS NOT NULL "
            "AND g.version_id = ANY(:vs) AND m.unit_id = ANY(:us) ORDER BY m.floor_min"
        ),
        {"vs": sorted({r[5] for r in rows}), "us": [r[0] for r in rows]},
    ).all():
        groups.setdefault((uid, vid), []).append(FloorGroup(code, lo, hi, int(n)))
    cells = shapely.from_wkb([bytes(r[6]) for r in rows])
    return [
        FloorUnit(r[0], r[1], r[2], r[3], int(r[4]), r[5], cell, tuple(groups[(r[0], r[5])]))
        for r, cell in zip(rows, cells, strict=True)
    ]
