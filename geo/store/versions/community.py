"""Loading a community for partitioning: its boundary, compounds, buildings with their units
(and households per floor), roads and ways, and households, in the metric CRS."""

from __future__ import annotations

from typing import Any

from shapely import Geometry
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.core.validate import UnitRecord
from geo.errors import NotFoundError
from geo.partition import BuildingIn, CommunityInput, CompoundIn, UnitIn
from geo.store.wkb import wkb_metric

__all__ = ["community_codes", "load_community"]


def community_codes(session: Session, *, unpartitioned: bool = False) -> list[str]:
    """Every community's code; with ``unpartitioned``, only those without a published grid
    version yet."""
    where = (
        " WHERE NOT EXISTS (SELECT 1 FROM grid_version v WHERE v.community_id = c.id "
        "AND v.status = 'published')"
        if unpartitioned
        else ""
    )
    return list(
        session.execute(text(f"SELECT c.code FROM community c{where} ORDER BY c.code")).scalars()
    )


def load_community(session: Session, code: str) -> CommunityInput:
    """Everything the partitioner needs about one community, in the metric CRS."""
    row = session.execute(
        text("SELECT id, ST_AsBinary(boundary) FROM community WHERE code = :c"), {"c": code}
    ).first()
    if row is None:
        raise NotFoundError(f"社区不存在 (no such community): {code!r}")
    cid = int(row[0])
    buildings, units = _buildings(session, cid)
    ways, roads, road_names = _ways(session, cid)
    return CommunityInput(
        code,
        wkb_metric([row], 1)[0],
        _compounds(session, cid),
        buildings,
        roads,
        road_names,
        ways,
        units,
        _households(session, cid),
        cid,
    )


def _compounds(session: Session, cid: int) -> list[CompoundIn]:
    rows = session.execute(
        text(
            "SELECT code, name, ST_AsBinary(boundary) FROM compound WHERE community_id = :i "
            "ORDER BY code"
        ),
        {"i": cid},
    ).all()
    return [CompoundIn(r[0], r[1], g) for r, g in zip(rows, wkb_metric(rows, 2), strict=True)]


def _buildings(session: Session, cid: int) -> tuple[list[BuildingIn], dict[int, UnitRecord]]:
    """The community's buildings with their units, and its units as validation sees them."""
    b_rows = session.execute(
        text(
            "SELECT b.id, b.code, p.code, ST_AsBinary(b.footprint) FROM building b "
            "LEFT JOIN compound p ON p.id = b.compound_id WHERE b.community_id = :i "
            "ORDER BY b.code"
        ),
        {"i": cid},
    ).all()
    unit_rows = session.execute(
        text(
            "SELECT u.id, u.building_id, u.unit_no, u.floors, u.households FROM building_unit u "
            "JOIN building b ON b.id = u.building_id WHERE b.community_id = :i "
            "ORDER BY u.building_id, u.unit_no"
        ),
        {"i": cid},
    ).all()
    per_floor = _per_floor(session, cid)
    units_by_building: dict[int, list[UnitIn]] = {}
    units: dict[int, UnitRecord] = {}
    code_of = {r[0]: r[1] for r in b_rows}
    for uid, bid, unit_no, floors, households in unit_rows:
        counts = per_floor.get(uid, {})
        pf = None
        if counts and None not in counts and sum(counts.values()) == households:
            pf = tuple(counts.get(f, 0) for f in range(1, floors + 1))
        units_by_building.setdefault(bid, []).append(UnitIn(uid, unit_no, floors, households, pf))
        units[uid] = UnitRecord(uid, code_of[bid], unit_no, floors, households)
    buildings = [
        BuildingIn(r[1], fp, r[2], tuple(units_by_building.get(r[0], ())))
        for r, fp in zip(b_rows, wkb_metric(b_rows, 3), strict=True)
    ]
    return buildings, units


def _per_floor(session: Session, cid: int) -> dict[int, dict[int | None, int]]:
    """Unit id → floor → households there (floor None: households without a floor)."""
    rows = session.execute(
        text(
            "SELECT h.unit_id, h.floor, count(*) FROM household h JOIN building b "
            "ON b.id = h.building_id WHERE b.community_id = :i AND h.unit_id IS NOT NULL "
            "GROUP BY 1, 2"
        ),
        {"i": cid},
    ).all()
    per_floor: dict[int, dict[int | None, int]] = {}
    for uid, floor, n in rows:
        per_floor.setdefault(uid, {})[floor] = int(n)
    return per_floor


def _ways(session: Session, cid: int) -> tuple[list[Geometry], list[Geometry], list[str]]:
    """Every line of the road layer near the community (the ways), the roads among them (not
    footways) and the roads' names."""
    rows = session.execute(
        text(
            "SELECT name, ST_AsBinary(geom), kind FROM road WHERE "
            "ST_Intersects(geom, ST_Buffer((SELECT boundary FROM community WHERE id = :i), "
            "0.002)) ORDER BY code"
        ),
        {"i": cid},
    ).all()
    ways = list(wkb_metric(rows, 1))
    roads = [w for w, r in zip(ways, rows, strict=True) if r[2] != "footway"]
    names = [r[0] or "" for r in rows if r[2] != "footway"]
    return ways, roads, names


def _households(session: Session, cid: int) -> list[tuple[str, int, int | None]]:
    """(code, unit id, floor) of the community's households in a unit."""
    rows: list[Any] = list(
        session.execute(
            text(
                "SELECT h.code, h.unit_id, h.floor FROM household h JOIN building b "
                "ON b.id = h.building_id WHERE b.community_id = :i AND h.unit_id IS NOT NULL"
            ),
            {"i": cid},
        ).all()
    )
    return [(r[0], r[1], r[2]) for r in rows]
