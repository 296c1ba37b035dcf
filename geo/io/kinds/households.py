"""Importing households (住户): in a stored building, unit and floor; a position within the
building (a household without one gets a point inside the footprint); head and phone go to
``household_person``."""

from __future__ import annotations

from typing import Any

import numpy as np
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import RowProblem
from geo.io.checks.parents import check_inside, require_parent
from geo.io.kinds.handler import KindHandler, Prepared, Rows, StoredBuilding
from geo.io.write import copy_rows, ids_by_code
from geo.settings import get_settings
from geo.store.layers import LayerSpec
from geo.store.wkb import ewkb

__all__ = ["HOUSEHOLDS"]

COLUMNS = ["code", "building_id", "unit_id", "floor", "room", "members", "address", "position"]


def _prepare(
    rows: Rows, geoms: np.ndarray, session: Session, spec: LayerSpec, problems: list[RowProblem]
) -> Prepared:
    buildings = _buildings(session, {r["building_code"] for r in rows if r.get("building_code")})
    require_parent(rows, spec, "building_code", buildings, problems, "楼栋 building")
    parents: list[shapely.Geometry | None] = []
    for i, r in enumerate(rows):
        b = buildings.get(r.get("building_code") or "")
        parents.append(b.geom if b else None)
        if b is None:
            continue
        _check_unit_floor(i, r, b, problems)
        if geoms[i] is None:
            geoms[i] = shapely.point_on_surface(b.geom)
    check_inside(
        geoms,
        parents,
        rows,
        spec,
        problems,
        what="楼栋 building",
        tolerance_m=get_settings().household_tolerance_m,
    )
    return Prepared(buildings=buildings)


def _buildings(session: Session, codes: set[str]) -> dict[str, StoredBuilding]:
    """The stored buildings of ``codes``, with their units."""
    res = session.execute(
        text(
            "SELECT b.code, b.id, b.floors, ST_AsBinary(b.footprint), u.unit_no, u.id "
            "FROM building b JOIN building_unit u ON u.building_id = b.id "
            "WHERE b.code = ANY(:codes)"
        ),
        {"codes": sorted(codes)},
    ).all()
    buildings: dict[str, StoredBuilding] = {}
    for code, bid, floors, wkb, unit_no, uid in res:
        if code not in buildings:
            buildings[code] = StoredBuilding(bid, floors, shapely.from_wkb(bytes(wkb)))
        buildings[code].units[unit_no] = uid
    return buildings


def _check_unit_floor(
    i: int, r: dict[str, Any], b: StoredBuilding, problems: list[RowProblem]
) -> None:
    """The unit must exist in the building, and the floor not be above its top floor."""
    if r.get("unit_no") is not None and r["unit_no"] not in b.units:
        problems.append(
            RowProblem(
                i,
                r.get("code"),
                "unit_no",
                f"楼栋 {r['building_code']} 没有 {r['unit_no']} 单元 (no such unit; the "
                f"building has {len(b.units)})",
                reason="unit_floor",
            )
        )
    if r.get("floor") is not None and r["floor"] > b.floors:
        problems.append(
            RowProblem(
                i,
                r.get("code"),
                "floor",
                f"楼层 {r['floor']} 高于楼栋层数 {b.floors} "
                f"(floor above the building's {b.floors} floors)",
                reason="unit_floor",
            )
        )


def _write(session: Session, rows: Rows, geoms: np.ndarray, found: Prepared) -> dict[str, int]:
    bs = found.buildings
    copy_rows(
        session,
        "household",
        COLUMNS,
        (
            [
                r["code"],
                bs[r["building_code"]].id,
                bs[r["building_code"]].units[r["unit_no"]],
                r.get("floor"),
                r.get("room"),
                r.get("members"),
                r.get("address"),
                g,
            ]
            for r, g in zip(rows, ewkb(geoms), strict=True)
        ),
    )
    persons = [r for r in rows if r.get("head_name")]
    if not persons:
        return {}
    hid = ids_by_code(session, "household", [r["code"] for r in persons])
    n = copy_rows(
        session,
        "household_person",
        ["household_id", "head_name", "phone"],
        ([hid[r["code"]], r["head_name"], r.get("phone")] for r in persons),
    )
    return {"persons": n}


HOUSEHOLDS = KindHandler(_prepare, _write)
