"""Loading communities for partitioning: each one's boundary, compounds, buildings with their
units (and households per floor), roads and ways, and households, in the metric CRS — one
query per table for a whole batch of communities (:func:`load_communities`), the same code
for one (:func:`load_community`)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from shapely import Geometry
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.core.validate import UnitRecord
from geo.errors import NotFoundError
from geo.partition import BuildingIn, CommunityInput, CompoundIn, UnitIn
from geo.store.bulk import fetch_rows
from geo.store.wkb import wkb_metric

__all__ = ["community_codes", "load_communities", "load_community"]


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
    return load_communities(session, [code])[code]


def load_communities(
    session: Session, codes: Sequence[str], *, skip_missing: bool = False
) -> dict[str, CommunityInput]:
    """:func:`load_community` of every community of ``codes`` (by code), one query per table
    for them all. An unknown code is refused, naming it (left out with ``skip_missing``)."""
    rows = session.execute(
        text("SELECT id, code, ST_AsBinary(boundary) FROM community WHERE code = ANY(:c)"),
        {"c": list(codes)},
    ).all()
    missing = sorted(set(codes) - {r[1] for r in rows})
    if missing and not skip_missing:
        raise NotFoundError(f"社区不存在 (no such community): {', '.join(map(repr, missing))}")
    ids = [int(r[0]) for r in rows]
    p = {"ids": ids}
    compounds = _compounds(session, p)
    households = _households(session, p)
    buildings = _buildings(session, p, _per_floor(households))
    ways = _ways(session, p)
    out: dict[str, CommunityInput] = {}
    for (cid, code, _), boundary in zip(rows, wkb_metric(rows, 2), strict=True):
        way, road, road_names = ways.get(cid, ([], [], []))
        bs, us = buildings.get(cid, ([], {}))
        out[code] = CommunityInput(
            code,
            boundary,
            compounds.get(cid, []),
            bs,
            road,
            road_names,
            way,
            us,
            households.get(cid, []),
            int(cid),
        )
    return out


def _compounds(session: Session, p: dict[str, Any]) -> dict[int, list[CompoundIn]]:
    rows = session.execute(
        text(
            "SELECT community_id, code, name, ST_AsBinary(boundary) FROM compound "
            "WHERE community_id = ANY(:ids) ORDER BY community_id, code"
        ),
        p,
    ).all()
    out: dict[int, list[CompoundIn]] = defaultdict(list)
    for r, g in zip(rows, wkb_metric(rows, 3), strict=True):
        out[r[0]].append(CompoundIn(r[1], r[2], g))
    return out


_Buildings = tuple[list[BuildingIn], dict[int, UnitRecord]]


def _buildings(
    session: Session, p: dict[str, Any], per_floor: dict[int, dict[int | None, int]]
) -> dict[int, _Buildings]:
    """Each community's buildings with their units (``per_floor``: unit id → floor →
    households), and its units as validation sees them."""
    b_rows = session.execute(
        text(
            "SELECT b.id, b.code, p.code, ST_AsBinary(b.footprint), b.community_id FROM building b "
            "LEFT JOIN compound p ON p.id = b.compound_id WHERE b.community_id = ANY(:ids) "
            "ORDER BY b.community_id, b.code"
        ),
        p,
    ).all()
    unit_rows = session.execute(
        text(
            "SELECT u.id, u.building_id, u.unit_no, u.floors, u.households, b.community_id "
            "FROM building_unit u JOIN building b ON b.id = u.building_id "
            "WHERE b.community_id = ANY(:ids) ORDER BY u.building_id, u.unit_no"
        ),
        p,
    ).all()
    units_by_building: dict[int, list[UnitIn]] = {}
    out: dict[int, _Buildings] = {}
    code_of = {r[0]: r[1] for r in b_rows}
    for uid, bid, unit_no, floors, households, cid in unit_rows:
        counts = per_floor.get(uid, {})
        pf = None
        if counts and None not in counts and sum(counts.values()) == households:
            pf = tuple(counts.get(f, 0) for f in range(1, floors + 1))
        units_by_building.setdefault(bid, []).append(UnitIn(uid, unit_no, floors, households, pf))
        units = out.setdefault(cid, ([], {}))[1]
        units[uid] = UnitRecord(uid, code_of[bid], unit_no, floors, households)
    for r, fp in zip(b_rows, wkb_metric(b_rows, 3), strict=True):
        building = BuildingIn(r[1], fp, r[2], tuple(units_by_building.get(r[0], ())))
        out.setdefault(r[4], ([], {}))[0].append(building)
    return out


def _per_floor(
    households: dict[int, list[tuple[str, int, int | None]]],
) -> dict[int, dict[int | None, int]]:
    """Unit id → floor → households there (floor None: households without a floor)."""
    per_floor: dict[int, dict[int | None, int]] = {}
    for rows in households.values():
        for _, uid, floor in rows:
            counts = per_floor.setdefault(uid, {})
            counts[floor] = counts.get(floor, 0) + 1
    return per_floor


_Ways = tuple[list[Geometry], list[Geometry], list[str]]


def _ways(session: Session, p: dict[str, Any]) -> dict[int, _Ways]:
    """Each community's ways (every line of the road layer near it), the roads among them
    (not footways) and the roads' names."""
    rows = session.execute(
        text(
            "SELECT c.id, r.name, ST_AsBinary(r.geom), r.kind FROM community c JOIN road r ON "
            "ST_Intersects(r.geom, ST_Buffer(c.boundary, 0.002)) WHERE c.id = ANY(:ids) "
            "ORDER BY c.id, r.code"
        ),
        p,
    ).all()
    out: dict[int, _Ways] = {}
    for r, way in zip(rows, wkb_metric(rows, 2), strict=True):
        ways, roads, names = out.setdefault(r[0], ([], [], []))
        ways.append(way)
        if r[3] != "footway":
            roads.append(way)
            names.append(r[1] or "")
    return out


def _households(
    session: Session, p: dict[str, Any]
) -> dict[int, list[tuple[str, int, int | None]]]:
    """(code, unit id, floor) of each community's households in a unit."""
    rows = fetch_rows(
        session,
        "SELECT b.community_id, h.code, h.unit_id, h.floor FROM household h JOIN building b "
        "ON b.id = h.building_id WHERE b.community_id = ANY(%(ids)s) AND h.unit_id IS NOT NULL "
        "ORDER BY b.community_id, h.id",
        p,
    )
    out: dict[int, list[tuple[str, int, int | None]]] = defaultdict(list)
    for cid, code, uid, floor in rows:
        out[cid].append((code, uid, floor))
    return out
