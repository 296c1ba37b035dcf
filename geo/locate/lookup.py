"""One lookup at a time: the grid chain, building and responsible workers at a position
(:func:`locate_point`) or a standard address (:func:`locate_address`), from the in-process
locator (:class:`~geo.locate.index.Locator`)."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.core.address import Address, parse_address
from geo.core.crs import check_lonlat, from_metric, parse_crs, to_metric, to_storage
from geo.core.kernels import INSIDE, NEAREST
from geo.core.tessellate import slice_polygon
from geo.errors import InputError, NotFoundError
from geo.locate.addresses import standard_address
from geo.locate.index import IndexedBuilding, Locator
from geo.settings import get_settings

__all__ = [
    "LocateResult",
    "grid_chain",
    "locate_address",
    "locate_point",
    "parse_point",
    "responsible",
    "worker_view",
]

HOW = {INSIDE: "inside", NEAREST: "nearest"}


@dataclass
class LocateResult:
    lon: float
    lat: float
    how: str  # inside | nearest
    distance_m: float
    chain: dict[str, Any]
    building: dict[str, Any] | None
    workers: list[dict[str, Any]]
    address: dict[str, Any] | None = None
    # a unit split by floors: its floor groups (micro-grid, floors), lowest first, and how
    # the answer was chosen among them ("floor" given, or "lowest" floors)
    floors: dict[str, Any] | None = None
    co_owners: list[dict[str, Any]] = field(default_factory=list)  # the other floor groups
    # the standard address of the building and unit hit (吉福社区云锦城市花园3栋2单元)
    standard_address: str | None = None

    def as_dict(self, *, show_phones: bool) -> dict[str, Any]:
        """The answer for a caller; phones only for those allowed (see :func:`worker_view`)."""
        return {
            "lon": self.lon,
            "lat": self.lat,
            "how": self.how,
            "distance_m": self.distance_m,
            "chain": self.chain,
            "building": self.building,
            "address": self.address,
            "standard_address": self.standard_address,
            "floors": self.floors,
            "co_owners": self.co_owners,
            "workers": [worker_view(w, show_phones=show_phones) for w in self.workers],
        }


def worker_view(w: dict[str, Any], *, show_phones: bool) -> dict[str, Any]:
    """A worker as shown to a caller: staff see every phone; the public only the phones the
    worker agreed to post (``public_phone``), as on the grid notice boards."""
    phone = w["phone"] if (show_phones or w.get("public_phone")) else None
    return {
        "code": w["code"],
        "name": w["name"],
        "role": w["role"],
        "role_name": w["role_name"],
        "serves": w.get("serves"),
        "phone": phone,
    }


def parse_point(lon: Any, lat: Any, crs: str | None) -> tuple[float, float]:
    """Validate a position given in any supported CRS; return it in the storage CRS. Errors
    name the value: NaN, out of range, swapped lat/lon, outside the served area."""
    spec = parse_crs(crs or "wgs84")
    try:
        x, y = float(lon), float(lat)
    except (TypeError, ValueError):
        raise InputError(
            f"坐标不是数字 (coordinates are not numbers): lon={lon!r}, lat={lat!r}"
        ) from None
    problems = check_lonlat([x], [y], spec)
    if problems:
        raise InputError(f"坐标无效 (invalid position) lon={lon}, lat={lat}: {problems[0][1]}")
    sx, sy = to_storage([x], [y], spec)
    return float(sx[0]), float(sy[0])


# --- the grid chain and its workers ------------------------------------------------------------
def grid_chain(locator: Locator, micro_id: int) -> dict[str, Any]:
    """micro → compound → community → street of a micro-grid."""
    micro = locator.grids[micro_id]
    compound = locator.grids.get(micro.parent or -1)
    community = locator.grids.get(compound.parent or -1) if compound else None
    out: dict[str, Any] = {
        "micro_grid": {"id": micro.id, "code": micro.code, "households": micro.households},
        "compound_grid": None
        if compound is None
        else {
            "id": compound.id,
            "code": compound.code,
            "name": compound.name,
            "households": compound.households,
        },
        "community_grid": None
        if community is None
        else {"id": community.id, "code": community.code, "households": community.households},
    }
    info = locator.community_of.get(community.id) if community else None
    if info:
        out["community"] = {"code": info["community_code"], "name": info["community_name"]}
        out["street"] = {
            "code": info["street_code"],
            "name": info["street_name"],
            "district": info["district"],
        }
    return out


def responsible(locator: Locator, micro_id: int, building_code: str | None) -> list[dict[str, Any]]:
    """Workers of the micro-grid, the building's head, the compound grid's worker and the
    community's, nearest first."""
    micro = locator.grids[micro_id]
    compound = locator.grids.get(micro.parent or -1)
    community = locator.grids.get(compound.parent or -1) if compound else None
    keys = [
        micro.code,
        building_code,
        compound.code if compound else None,
        community.code if community else None,
    ]
    seen: set[str] = set()
    out: list[dict[str, Any]] = []
    for level, k in zip(
        ("micro_grid", "building", "compound_grid", "community_grid"), keys, strict=True
    ):
        for w in locator.workers.get(k or "", []):
            if w["code"] not in seen:
                seen.add(w["code"])
                out.append(w | {"serves": level})
    return out


# --- a position ------------------------------------------------------------------------------
def locate_point(
    locator: Locator, lon: float, lat: float, *, floor: int | None = None
) -> LocateResult:
    """The grid chain, building and workers at a storage-CRS position; NotFoundError when the
    point is outside the served area (further than the tolerance from every grid). In the
    cell of a unit split by floors, ``floor`` picks the floor group (see
    :meth:`geo.locate.floors.FloorGroups.pick`)."""
    tol = get_settings().locate_tolerance_m
    res = locator.resolve([lon], [lat], [floor])
    micro_id, how = int(res.grid[0]), int(res.how[0])
    if micro_id < 0:
        raise NotFoundError(
            f"不在服务范围内 (outside the served area): ({lon:.6f}, {lat:.6f}) 距任何网格都超过 "
            f"{tol:g} 米 (more than {tol:g} m from every grid)",
            detail={"lon": lon, "lat": lat, "tolerance_m": tol},
        )
    distance = 0.0
    if how == NEAREST:
        _, d = locator.micro.nearest(np.array([lon]), np.array([lat]), tol)
        distance = round(float(d[0]), 2)
    hit = locator.building_at(lon, lat)
    building: dict[str, Any] | None = None
    building_code: str | None = None
    standard: str | None = None
    if hit:
        b, unit = hit
        building = {"code": b.code, "name": b.name, "compound": b.compound, "unit_no": unit}
        building_code = b.code
        standard = standard_address(b, unit)
    return LocateResult(
        lon,
        lat,
        HOW[how],
        distance,
        grid_chain(locator, micro_id),
        building,
        responsible(locator, micro_id, building_code),
        floors=locator.floor_answer(lon, lat, floor),
        co_owners=[
            {"id": g, "code": locator.grids[g].code, "reason": "floors"} for g in res.co_owners[0]
        ],
        standard_address=standard,
    )


# --- an address ------------------------------------------------------------------------------
def locate_address(
    session: Session,
    locator: Locator,
    address: str,
    *,
    floor: int | None = None,
    rooms: bool = False,
) -> LocateResult:
    """Locate a standard address (``吉福社区云锦城市花园3栋2单元502``): the unit, else the
    building — and with ``rooms`` (staff only) the household when the room is registered. A
    wrong address is NotFoundError with the closest matches. ``floor`` (or, with ``rooms``,
    the household's floor) picks the floor group of a unit split by floors.

    Without ``rooms`` a room in the address is not looked up at all: the answer is the
    unit's, the same whether the room is registered or not, so that the public cannot learn
    which rooms are (no household code, no list of rooms)."""
    parsed = parse_address(address)
    if parsed is None:
        raise InputError(
            f"无法识别的地址 (not a standard address): {_shown(address)}; 例 (e.g.) "
            "吉福社区云锦城市花园3栋2单元502"
        )
    building = _find_building(locator, parsed, address)
    unit_no = parsed.unit
    _check_unit(building, unit_no)
    room: str | None = None
    if rooms and unit_no is not None and parsed.room:
        room, point, its_floor = _registered_room(session, building, unit_no, parsed.room)
        floor = its_floor if floor is None else floor
    else:  # no room looked up: the unit's slice of the footprint, or the building
        point = _building_point(building, unit_no)
    result = locate_point(locator, point[0], point[1], floor=floor)
    result.building = {
        "code": building.code,
        "name": building.name,
        "compound": building.compound,
        "unit_no": unit_no,
    }
    result.workers = responsible(locator, int(result.chain["micro_grid"]["id"]), building.code)
    result.standard_address = standard_address(building, unit_no)
    result.address = {
        "query": address,
        "household": room,
        "building": building.code,
        "unit_no": unit_no,
        "room": parsed.room if rooms else None,
        # how far the answer goes: a household (staff), a unit or a building
        "level": "household" if room else ("unit" if unit_no is not None else "building"),
    }
    return result


def _check_unit(building: IndexedBuilding, unit_no: int | None) -> None:
    """NotFoundError when the address names a unit the building does not have."""
    if unit_no is not None and unit_no not in {u[1] for u in building.units}:
        raise NotFoundError(
            f"{building.compound or ''}{building.name} 没有 {unit_no} 单元 (no unit "
            f"{unit_no}; the building has {len(building.units)})",
            detail={"building": building.code, "units": [u[1] for u in building.units]},
        )


def _registered_room(
    session: Session, building: IndexedBuilding, unit_no: int, room: str
) -> tuple[str, tuple[float, float], int | None]:
    """The household registered in the room: its code, position and floor. NotFoundError
    with the closest registered rooms of the unit when there is none (staff only)."""
    row = session.execute(
        text(
            "SELECT h.code, ST_X(h.position), ST_Y(h.position), h.floor FROM household h "
            "JOIN building_unit u ON u.id = h.unit_id WHERE h.building_id = :b AND "
            "u.unit_no = :u AND h.room = :r"
        ),
        {"b": building.id, "u": unit_no, "r": room},
    ).first()
    if row is not None:
        return row[0], (float(row[1]), float(row[2])), row[3]
    registered = (
        session.execute(
            text(
                "SELECT h.room FROM household h JOIN building_unit u ON u.id = h.unit_id "
                "WHERE h.building_id = :b AND u.unit_no = :u ORDER BY h.room"
            ),
            {"b": building.id, "u": unit_no},
        )
        .scalars()
        .all()
    )
    close = difflib.get_close_matches(room, registered, n=3, cutoff=0.5)
    raise NotFoundError(
        f"{building.compound or ''}{building.name}{unit_no}单元 没有 {room} 室 "
        f"(no such room); 相近 (closest): {', '.join(close) or '-'}",
        detail={"closest": close},
    )


def _building_point(building: IndexedBuilding, unit_no: int | None) -> tuple[float, float]:
    """A point (storage CRS) on the unit's slice of the footprint, or on the building."""
    geom = building.footprint
    if unit_no is not None and len(building.units) > 1:
        slices = slice_polygon(to_metric([geom])[0], [max(h, 0) for _, _, h in building.units])
        k = [u[1] for u in building.units].index(unit_no)
        q = from_metric([shapely.point_on_surface(slices[k])])[0]
        return float(q.x), float(q.y)
    c = shapely.point_on_surface(geom)
    return c.x, c.y


SHOWN_CHARS = 80  # of an address quoted in an error (a report's address_string can be long)


def _shown(address: str) -> str:
    """An address as an error quotes it: its first :data:`SHOWN_CHARS` characters, then …"""
    if len(address) <= SHOWN_CHARS:
        return repr(address)
    return repr(address[:SHOWN_CHARS]) + "…"


def _find_building(locator: Locator, parsed: Address, original: str) -> IndexedBuilding:
    """The building an address names, from the locator's address index (no table is read)."""
    index = locator.address_index()
    place = parsed.place
    # compounds (or, for street-side buildings, their address) named in the place
    compound = index.compound_in(place)
    want = f"{parsed.building}栋"
    candidates = index.buildings.get((compound, want), []) if compound else []
    if candidates:
        community_named = [b for b in candidates if b.community and b.community in place]
        return (community_named or candidates)[0]
    close = index.closest(f"{compound or place}{want}", compound)
    why = (
        "小区名称未找到 (no such compound)"
        if compound is None
        else f"{compound} 没有 {want} (no such building)"
    )
    raise NotFoundError(
        f"地址未找到 (address not found): {_shown(original)} — {why}; 相近 (closest): "
        f"{', '.join(close) or '-'}",
        detail={"closest": close},
    )
