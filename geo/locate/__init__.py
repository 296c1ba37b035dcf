"""Where is this, and whose grid is it? Locating points and addresses, and assigning households
and incidents to grids, in bulk or one at a time.

Two engines give the same answers under the same rule (:mod:`geo.core.kernels`): the in-process
index (:class:`Locator`, numba point-in-polygon over the current micro-grids) and PostGIS
(:func:`sql_covering`, ``ST_Covers`` through the GiST index). The in-process one is used for
bulk work and for the ``/locate`` endpoint; the SQL one proves it (tests) and is measured
beside it (``bench/assign.py``).
"""

from __future__ import annotations

import difflib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.core.address import Address, parse_address
from geo.core.crs import check_lonlat, from_metric, parse_crs, to_metric, to_storage
from geo.core.kernels import INSIDE, NEAREST, PolygonIndex
from geo.core.tessellate import slice_polygon
from geo.errors import InputError, NotFoundError
from geo.settings import get_settings
from geo.store.models import WORKER_ROLES

__all__ = [
    "AssignReport",
    "LocateResult",
    "Locator",
    "assign_households",
    "assign_incidents",
    "current_key",
    "parse_point",
    "reassign_changed",
    "sql_covering",
    "write_floor_co_owners",
]

Progress = Callable[[str, int, int], None]
HOW = {INSIDE: "inside", NEAREST: "nearest"}


def current_key(session: Session) -> tuple[int, ...]:
    """What the locator is built from: the current (published) grid versions and the number
    and newest of buildings and workers. When it changes, the cache is rebuilt."""
    rows = session.execute(
        text("SELECT id FROM grid_version WHERE status = 'published' ORDER BY id")
    ).scalars()
    counts = session.execute(
        text(
            "SELECT (SELECT count(*) FROM building), (SELECT coalesce(max(id), 0) FROM building), "
            "(SELECT count(*) FROM worker), (SELECT coalesce(max(id), 0) FROM worker)"
        )
    ).one()
    return (*(int(r) for r in rows), -1, *(int(c) for c in counts))


# --- the in-process locator ------------------------------------------------------------------
@dataclass
class _Grid:
    id: int
    code: str
    name: str | None
    level: str
    households: int
    parent: int | None


@dataclass
class _Building:
    id: int
    code: str
    name: str
    compound: str | None
    footprint: Any
    units: list[tuple[int, int, int]]  # (unit id, unit no, households)
    slices: list[Any] | None = None
    community: str | None = None  # the community's name


MAX_POSTINGS = 500  # a bigram in more compound names than this tells nothing about a typo


@dataclass
class AddressIndex:
    """The buildings an address can name, by compound name and building name, built once per
    locator (that is, per data version) from the buildings it holds. An address is found with
    dictionary lookups; the closest names of a wrong one come from the compounds sharing the
    most character pairs (bigrams) with it — never by reading every building.

    ``compounds``: compound name → the labels (``云锦城市花园3栋``) of its buildings;
    ``buildings``: (compound name, building name) → buildings (one per community holding such
    a compound); ``grams``: bigram → compound names holding it."""

    compounds: dict[str, list[str]]
    buildings: dict[tuple[str, str], list[_Building]]
    grams: dict[str, list[str]]
    longest: int

    @classmethod
    def build(cls, buildings: Sequence[_Building]) -> AddressIndex:
        compounds: dict[str, list[str]] = {}
        by_name: dict[tuple[str, str], list[_Building]] = {}
        for b in buildings:
            if not b.compound:
                continue
            compounds.setdefault(b.compound, []).append(f"{b.compound}{b.name}")
            by_name.setdefault((b.compound, b.name), []).append(b)
        grams: dict[str, list[str]] = {}
        for name in compounds:
            for g in _bigrams(name):
                grams.setdefault(g, []).append(name)
        return cls(compounds, by_name, grams, max(map(len, compounds), default=0))

    def compound_in(self, place: str) -> str | None:
        """The longest compound name written in ``place`` (leftmost of equal length)."""
        for size in range(min(self.longest, len(place)), 0, -1):
            for i in range(len(place) - size + 1):
                if place[i : i + size] in self.compounds:
                    return place[i : i + size]
        return None

    def closest(self, asked: str, compound: str | None, n: int = 3) -> list[str]:
        """Up to ``n`` labels like ``asked``: among the buildings of ``compound`` when it is
        known, else of the five compounds sharing the most bigrams with it."""
        if compound is not None:
            labels = self.compounds.get(compound, [])
        else:
            score: dict[str, int] = {}
            for g in _bigrams(asked):
                names = self.grams.get(g, [])
                if len(names) <= MAX_POSTINGS:
                    for name in names:
                        score[name] = score.get(name, 0) + 1
            best = sorted(score, key=lambda k: (-score[k], k))[:5]
            labels = [label for name in best for label in self.compounds[name]]
        return difflib.get_close_matches(asked, labels, n=n, cutoff=0.3)


def _bigrams(s: str) -> set[str]:
    return {s[i : i + 2] for i in range(len(s) - 1)}


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


@dataclass(frozen=True)
class Resolved:
    """Per point: the micro-grid id (-1 when outside), how it was found (INSIDE, NEAREST or
    OUTSIDE), and its co-owners (the other floor groups of a floor-split unit)."""

    grid: np.ndarray
    how: np.ndarray
    co_owners: list[list[int]]


@dataclass
class Locator:
    """The current grids and buildings of every community, ready for lookups."""

    key: tuple[int, ...]
    grids: dict[int, _Grid]
    micro_ids: np.ndarray
    micro: PolygonIndex
    buildings: list[_Building]
    building_index: PolygonIndex
    community_of: dict[int, dict[str, Any]]  # community grid id → community and street
    workers: dict[str, list[dict[str, Any]]]  # grid code or building code → workers
    floors: list[FloorGroups] = field(default_factory=list)  # by unit id
    floor_index: PolygonIndex = field(default_factory=lambda: PolygonIndex([]))
    loaded_at: float = field(default_factory=time.monotonic)
    addresses: AddressIndex | None = field(default=None, repr=False)

    def address_index(self) -> AddressIndex:
        """The index of the addresses of this locator's buildings (built with it)."""
        if self.addresses is None:
            self.addresses = AddressIndex.build(self.buildings)
        return self.addresses

    @classmethod
    def load(cls, session: Session, community: str | None = None) -> Locator:
        """Every community's current grids and buildings — or one community's (bulk work on
        one community at a time, as the city-scale engine does, need not load the city)."""
        key = current_key(session)
        one = community is not None
        cid = {"c": community} if one else {}
        by_v = " AND v.community_id = (SELECT id FROM community WHERE code = :c)" if one else ""
        by_b = " WHERE b.community_id = (SELECT id FROM community WHERE code = :c)" if one else ""
        rows = session.execute(
            text(
                "SELECT g.id, g.code, g.name, g.level, g.households, g.parent_id, "
                "ST_AsBinary(g.boundary) FROM grid g JOIN grid_version v ON v.id = g.version_id "
                f"WHERE v.status = 'published'{by_v} ORDER BY g.code COLLATE \"C\""
            ),
            cid,
        ).all()
        grids = {r[0]: _Grid(r[0], r[1], r[2], r[3], r[4], r[5]) for r in rows}
        micro_rows = [r for r in rows if r[3] == "micro"]
        geoms = shapely.from_wkb([bytes(r[6]) for r in micro_rows]) if micro_rows else []
        micro_ids = np.array([r[0] for r in micro_rows], dtype=np.int64)
        comm = {}
        for r in session.execute(
            text(
                "SELECT g.id, c.code, c.name, s.code, s.name, s.district FROM grid g "
                "JOIN grid_version v ON v.id = g.version_id AND v.status = 'published' "
                "JOIN community c ON c.id = v.community_id JOIN street s ON s.id = c.street_id "
                "WHERE g.level = 'community'" + (" AND c.code = :c" if one else "")
            ),
            cid,
        ):
            comm[r[0]] = {
                "community_code": r[1],
                "community_name": r[2],
                "street_code": r[3],
                "street_name": r[4],
                "district": r[5],
            }
        b_rows = session.execute(
            text(
                "SELECT b.id, b.code, b.name, p.name, ST_AsBinary(b.footprint), c.name FROM "
                "building b LEFT JOIN compound p ON p.id = b.compound_id LEFT JOIN community c "
                f'ON c.id = b.community_id{by_b} ORDER BY b.code COLLATE "C"'
            ),
            cid,
        ).all()
        units: dict[int, list[tuple[int, int, int]]] = {}
        for uid, bid, no, hh in session.execute(
            text(
                "SELECT u.id, u.building_id, u.unit_no, u.households FROM building_unit u "
                f"JOIN building b ON b.id = u.building_id{by_b} ORDER BY u.unit_no"
            ),
            cid,
        ):
            units.setdefault(bid, []).append((uid, no, hh))
        fps = shapely.from_wkb([bytes(r[4]) for r in b_rows]) if b_rows else []
        buildings = [
            _Building(r[0], r[1], r[2], r[3], fp, units.get(r[0], []), community=r[5])
            for r, fp in zip(b_rows, fps, strict=True)
        ]
        workers: dict[str, list[dict[str, Any]]] = {}
        for r in session.execute(
            text(
                "SELECT code, name, role, phone, public_phone, grid_code, building_code, party_member "
                "FROM worker"
                + (
                    " WHERE community_id = (SELECT id FROM community WHERE code = :c)"
                    if one
                    else ""
                )
                + " ORDER BY code"
            ),
            cid,
        ).mappings():
            w = dict(r)
            w["role_name"] = WORKER_ROLES.get(w["role"], (w["role"], w["role"]))[0]
            for k in (w["grid_code"], w["building_code"]):
                if k:
                    workers.setdefault(k, []).append(w)
        floors, cells = _floor_groups(session, by_v, cid)
        loc = cls(
            key,
            grids,
            micro_ids,
            PolygonIndex(list(geoms)),
            buildings,
            PolygonIndex(list(fps)),
            comm,
            workers,
            floors,
            PolygonIndex(cells),
        )
        loc.addresses = AddressIndex.build(buildings)  # once per data version
        return loc

    def resolve(
        self,
        x: np.ndarray | Sequence[float],
        y: np.ndarray | Sequence[float],
        floors: Sequence[int | None] | None = None,
    ) -> Resolved:
        """The micro-grid of each storage-CRS point under the edge rule (:mod:`geo.core.kernels`)
        and the floor rule: a point in the cell of a unit split by floors goes to the group
        holding its floor (``floors``, when known), else to the group of the lowest floors
        with the others as co-owners. The same rules as :func:`sql_covering`."""
        px = np.asarray(x, dtype=np.float64)
        py = np.asarray(y, dtype=np.float64)
        loc = self.micro.locate(px, py, tolerance_m=get_settings().locate_tolerance_m)
        grid = np.where(loc.index >= 0, self.micro_ids[np.maximum(loc.index, 0)], -1)
        how = loc.how.copy()
        co: list[list[int]] = [[] for _ in range(len(px))]
        if len(self.floors):
            hit = self.floor_index.covering(px, py)
            for k in np.flatnonzero(hit >= 0).tolist():
                floor = floors[k] if floors is not None else None
                grid[k], co[k] = self.floors[int(hit[k])].pick(floor)
                how[k] = INSIDE
        return Resolved(grid, how, co)

    def floor_answer(self, lon: float, lat: float, floor: int | None) -> dict[str, Any] | None:
        """The floor groups of the floor-split unit whose cell holds the point (None when
        none does): each micro-grid with its floor range (``1–8层``), lowest first, and
        which one answers."""
        if not len(self.floors):
            return None
        hit = int(self.floor_index.covering([lon], [lat])[0])
        if hit < 0:
            return None
        fg = self.floors[hit]
        chosen, _ = fg.pick(floor)
        by_floor = floor is not None and any(lo <= floor <= hi for _, lo, hi in fg.groups)
        return {
            "unit_id": fg.unit_id,
            "floor": floor,
            "chosen_by": "floor" if by_floor else "lowest",
            "groups": [
                {
                    "id": g,
                    "micro_grid": self.grids[g].code,
                    "floor_min": lo,
                    "floor_max": hi,
                    "label": f"{lo}–{hi}层",
                    "answers": g == chosen,
                }
                for g, lo, hi in fg.groups
            ],
        }

    # --- chains and answers ----------------------------------------------------------------
    def chain(self, micro_id: int) -> dict[str, Any]:
        """micro → compound → community → street of a micro-grid."""
        micro = self.grids[micro_id]
        compound = self.grids.get(micro.parent or -1)
        community = self.grids.get(compound.parent or -1) if compound else None
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
        info = self.community_of.get(community.id) if community else None
        if info:
            out["community"] = {"code": info["community_code"], "name": info["community_name"]}
            out["street"] = {
                "code": info["street_code"],
                "name": info["street_name"],
                "district": info["district"],
            }
        return out

    def responsible(self, micro_id: int, building_code: str | None) -> list[dict[str, Any]]:
        """Workers of the micro-grid, the building's head, the compound grid's worker and the
        community's, nearest first."""
        micro = self.grids[micro_id]
        compound = self.grids.get(micro.parent or -1)
        community = self.grids.get(compound.parent or -1) if compound else None
        keys = [
            micro.code,
            building_code,
            compound.code if compound else None,
            community.code if community else None,
        ]
        seen, out = set(), []
        for level, k in zip(
            ("micro_grid", "building", "compound_grid", "community_grid"), keys, strict=True
        ):
            for w in self.workers.get(k or "", []):
                if w["code"] not in seen:
                    seen.add(w["code"])
                    out.append(w | {"serves": level})
        return out

    def building_at(self, lon: float, lat: float) -> tuple[_Building, int | None] | None:
        """The building whose footprint covers the point, and the unit (its slice)."""
        hit = self.building_index.covering([lon], [lat])[0]
        if hit < 0:
            return None
        b = self.buildings[int(hit)]
        return b, _unit_at(b, lon, lat)


def _unit_at(b: _Building, lon: float, lat: float) -> int | None:
    if not b.units:
        return None
    if len(b.units) == 1:
        return b.units[0][1]
    if b.slices is None:  # the units' slices of the footprint, in storage coordinates
        metric = slice_polygon(to_metric([b.footprint])[0], [max(h, 0) for _, _, h in b.units])
        b.slices = list(from_metric(np.asarray(metric, dtype=object)))
    d = shapely.distance(np.asarray(b.slices, dtype=object), shapely.Point(lon, lat))
    return b.units[int(np.argmin(d))][1]


def _floor_groups(
    session: Session, by_v: str, params: dict[str, Any]
) -> tuple[list[FloorGroups], list[Any]]:
    """The units split by floors in the current versions, by unit id, with their cells."""
    rows = session.execute(
        text(
            "SELECT m.unit_id, m.grid_id, m.floor_min, m.floor_max, ST_AsBinary(m.cell) "
            "FROM grid_member m JOIN grid g ON g.id = m.grid_id JOIN grid_version v "
            f"ON v.id = g.version_id WHERE v.status = 'published' AND m.cell IS NOT NULL{by_v} "
            "ORDER BY m.unit_id, m.floor_min"
        ),
        params,
    ).all()
    groups: dict[int, list[tuple[int, int, int]]] = {}
    wkb: dict[int, bytes] = {}
    for uid, gid, lo, hi, cell in rows:
        groups.setdefault(uid, []).append((gid, lo, hi))
        wkb.setdefault(uid, bytes(cell))
    units = sorted(groups)
    cells = list(shapely.from_wkb([wkb[u] for u in units])) if units else []
    return [FloorGroups(u, tuple(groups[u])) for u in units], cells


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


def locate_point(
    locator: Locator, lon: float, lat: float, *, floor: int | None = None
) -> LocateResult:
    """The grid chain, building and workers at a storage-CRS position; NotFoundError when the
    point is outside the served area (further than the tolerance from every grid). In the
    cell of a unit split by floors, ``floor`` picks the floor group (see
    :meth:`FloorGroups.pick`)."""
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
    building = None
    if hit:
        b, unit = hit
        building = {"code": b.code, "name": b.name, "compound": b.compound, "unit_no": unit}
    return LocateResult(
        lon,
        lat,
        HOW[how],
        distance,
        locator.chain(micro_id),
        building,
        locator.responsible(micro_id, building["code"] if building else None),
        floors=locator.floor_answer(lon, lat, floor),
        co_owners=[
            {"id": g, "code": locator.grids[g].code, "reason": "floors"} for g in res.co_owners[0]
        ],
    )


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
            f"无法识别的地址 (not a standard address): {address!r}; 例 (e.g.) "
            "吉福社区云锦城市花园3栋2单元502"
        )
    building = _find_building(locator, parsed, address)
    unit_no, point, room = parsed.unit, None, None
    if parsed.unit is not None and parsed.unit not in {u[1] for u in building.units}:
        raise NotFoundError(
            f"{building.compound or ''}{building.name} 没有 {parsed.unit} 单元 (no unit "
            f"{parsed.unit}; the building has {len(building.units)})",
            detail={"building": building.code, "units": [u[1] for u in building.units]},
        )
    if rooms and parsed.unit is not None and parsed.room:
        row = session.execute(
            text(
                "SELECT h.code, ST_X(h.position), ST_Y(h.position), h.floor FROM household h "
                "JOIN building_unit u ON u.id = h.unit_id WHERE h.building_id = :b AND "
                "u.unit_no = :u AND h.room = :r"
            ),
            {"b": building.id, "u": parsed.unit, "r": parsed.room},
        ).first()
        if row is None:
            rooms = (
                session.execute(
                    text(
                        "SELECT h.room FROM household h JOIN building_unit u ON u.id = h.unit_id "
                        "WHERE h.building_id = :b AND u.unit_no = :u ORDER BY h.room"
                    ),
                    {"b": building.id, "u": parsed.unit},
                )
                .scalars()
                .all()
            )
            close = difflib.get_close_matches(parsed.room, rooms, n=3, cutoff=0.5)
            raise NotFoundError(
                f"{building.compound or ''}{building.name}{parsed.unit}单元 没有 {parsed.room} 室 "
                f"(no such room); 相近 (closest): {', '.join(close) or '-'}",
                detail={"closest": close},
            )
        room = row[0]
        point = (float(row[1]), float(row[2]))
        floor = row[3] if floor is None else floor
    if point is None:  # no room given: the unit's slice of the footprint, or the building
        geom = building.footprint
        if unit_no is not None and len(building.units) > 1:
            slices = slice_polygon(to_metric([geom])[0], [max(h, 0) for _, _, h in building.units])
            k = [u[1] for u in building.units].index(unit_no)
            point = _metric_to_storage(shapely.point_on_surface(slices[k]))
        else:
            c = shapely.point_on_surface(geom)
            point = (c.x, c.y)
    result = locate_point(locator, point[0], point[1], floor=floor)
    result.building = {
        "code": building.code,
        "name": building.name,
        "compound": building.compound,
        "unit_no": unit_no,
    }
    result.workers = locator.responsible(int(result.chain["micro_grid"]["id"]), building.code)
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


def _metric_to_storage(p: shapely.Point) -> tuple[float, float]:
    q = from_metric([p])[0]
    return float(q.x), float(q.y)


def _find_building(locator: Locator, parsed: Address, original: str) -> _Building:
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
        f"地址未找到 (address not found): {original!r} — {why}; 相近 (closest): "
        f"{', '.join(close) or '-'}",
        detail={"closest": close},
    )


# --- the SQL engine --------------------------------------------------------------------------
def sql_covering(
    session: Session,
    xs: Sequence[float],
    ys: Sequence[float],
    *,
    floors: Sequence[int | None] | None = None,
    tolerance_m: float | None = None,
) -> list[tuple[int | None, str, list[int]]]:
    """PostGIS's answer under the same rules: (micro-grid id or None, inside|nearest|outside,
    co-owner ids) for each storage-CRS point — the floor rule first (a point in the cell of a
    unit split by floors: the group holding its floor, else the lowest floors with the other
    groups as co-owners), then the edge rule. Used to prove the in-process engine
    (:meth:`Locator.resolve`), and in the benchmark."""
    tol = get_settings().locate_tolerance_m if tolerance_m is None else tolerance_m
    s = get_settings()
    fl = list(floors) if floors is not None else [None] * len(xs)
    rows = session.execute(
        text(f"""
        WITH p AS (
          SELECT i, f, ST_SetSRID(ST_MakePoint(x, y), {s.storage_srid}) AS geom
          FROM unnest(CAST(:xs AS float8[]), CAST(:ys AS float8[]), CAST(:fs AS int[]))
            WITH ORDINALITY AS t(x, y, f, i)
        ), micro AS (
          SELECT g.id, g.code, g.boundary FROM grid g
          JOIN grid_version v ON v.id = g.version_id AND v.status = 'published'
          WHERE g.level = 'micro'
        ), floors AS (
          SELECT m.unit_id, m.grid_id, m.floor_min, m.floor_max, m.cell FROM grid_member m
          JOIN micro ON micro.id = m.grid_id WHERE m.cell IS NOT NULL
        ), hit AS (
          SELECT p.i, p.f, p.geom,
            (SELECT fl.unit_id FROM floors fl WHERE ST_Covers(fl.cell, p.geom)
              ORDER BY fl.unit_id LIMIT 1) AS unit
          FROM p
        )
        SELECT h.i,
          (SELECT fl.grid_id FROM floors fl WHERE fl.unit_id = h.unit
            ORDER BY (h.f BETWEEN fl.floor_min AND fl.floor_max) IS TRUE DESC, fl.floor_min
            LIMIT 1) AS by_floor,
          (SELECT coalesce(array_agg(o.grid_id ORDER BY o.first), '{{}}') FROM (
              SELECT fl.grid_id, min(fl.floor_min) AS first FROM floors fl
              WHERE fl.unit_id = h.unit AND NOT EXISTS (SELECT 1 FROM floors held
                WHERE held.unit_id = h.unit AND h.f BETWEEN held.floor_min AND held.floor_max)
              AND fl.grid_id <> (SELECT x.grid_id FROM floors x WHERE x.unit_id = h.unit
                ORDER BY x.floor_min LIMIT 1)
              GROUP BY fl.grid_id) o) AS co_owners,
          (SELECT m.id FROM micro m WHERE ST_Covers(m.boundary, h.geom)
            ORDER BY m.code COLLATE "C" LIMIT 1) AS inside,
          (SELECT m.id FROM micro m
            WHERE ST_DWithin(ST_Transform(m.boundary, {s.metric_srid}),
                             ST_Transform(h.geom, {s.metric_srid}), :tol)
            ORDER BY ST_Distance(ST_Transform(m.boundary, {s.metric_srid}),
                                 ST_Transform(h.geom, {s.metric_srid})), m.code COLLATE "C"
            LIMIT 1) AS nearest
        FROM hit h ORDER BY h.i"""),
        {"xs": list(map(float, xs)), "ys": list(map(float, ys)), "fs": fl, "tol": tol},
    ).all()
    out: list[tuple[int | None, str, list[int]]] = []
    for _, by_floor, co, inside, nearest in rows:
        if by_floor is not None:
            out.append((int(by_floor), "inside", [int(g) for g in co]))
        elif inside is not None:
            out.append((int(inside), "inside", []))
        elif nearest is not None and tol > 0:
            out.append((int(nearest), "nearest", []))
        else:
            out.append((None, "outside", []))
    return out


# --- bulk assignment --------------------------------------------------------------------------
@dataclass
class AssignReport:
    kind: str
    total: int = 0
    by_membership: int = 0
    by_position: int = 0
    nearest: int = 0
    outside: int = 0
    changed: int = 0
    floor_split: int = 0  # in a unit split by floors: position and membership differ, by design
    disagreements: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _community_filter(community: str | None) -> tuple[str, dict[str, Any]]:
    if community is None:
        return "", {}
    return " AND b.community_id = (SELECT id FROM community WHERE code = :cc)", {"cc": community}


def assign_households(
    session: Session,
    locator: Locator,
    *,
    community: str | None = None,
    ids: Sequence[int] | None = None,
    progress: Progress | None = None,
    actor: str = "cli",
) -> AssignReport:
    """Assign every household (of one community, or all) to its micro-grid: by membership of
    its unit (and floor) when known, by position otherwise; where both are known they must
    agree, and every disagreement is reported. Writes ``household.grid_id``."""
    t0 = time.perf_counter()
    report = AssignReport("households")
    if community is not None:
        _require_community(session, community)
    cond, params = _community_filter(community)
    if ids is not None:
        cond += " AND h.id = ANY(:only)"
        params["only"] = list(ids)
    step = progress or (lambda *_: None)
    step("读取住户 (reading households)", 0, 4)
    rows = session.execute(
        text(
            "SELECT h.id, h.code, b.code, h.unit_id, h.floor, ST_X(h.position), ST_Y(h.position), "
            "h.grid_id FROM household h JOIN building b ON b.id = h.building_id WHERE TRUE"
            + cond
            + " ORDER BY h.id"
        ),
        params,
    ).all()
    report.total = len(rows)
    if not rows:
        return report
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    x = np.array([r[5] for r in rows], dtype=float)
    y = np.array([r[6] for r in rows], dtype=float)
    step("位置定位 (point in polygon)", 1, 4)
    loc = locator.resolve(x, y, [r[4] for r in rows])
    pip = loc.grid
    step("单元归属 (unit membership)", 2, 4)
    member = {
        r[0]: (r[1], r[2])
        for r in session.execute(
            text(
                "SELECT h.id, m.grid_id, m.floor_min IS NOT NULL FROM household h "
                "JOIN building b ON b.id = h.building_id "
                "JOIN grid_member m ON m.unit_id = h.unit_id AND (m.floor_min IS NULL OR "
                "h.floor BETWEEN m.floor_min AND m.floor_max) JOIN grid g ON g.id = m.grid_id "
                "JOIN grid_version v ON v.id = g.version_id AND v.status = 'published' WHERE TRUE"
                + cond
            ),
            params,
        )
    }
    final = np.empty(len(rows), dtype=np.int64)
    for k, r in enumerate(rows):
        m, by_floors = member.get(r[0], (None, False))
        p = int(pip[k])
        if m is not None:
            final[k] = m
            report.by_membership += 1
            if p >= 0 and p != m and by_floors:
                # a tall unit split by floors: the floors above share the footprint, so the
                # position cannot tell them apart (expected, counted, not a disagreement)
                report.floor_split += 1
            elif p >= 0 and p != m:
                report.disagreements.append(
                    {
                        "household": r[1],
                        "building": r[2],
                        "by_membership": locator.grids[m].code if m in locator.grids else m,
                        "by_position": locator.grids[p].code if p in locator.grids else p,
                    }
                )
        else:
            final[k] = p
            if p >= 0:
                report.by_position += 1
        if m is None and loc.how[k] == NEAREST:
            report.nearest += 1
        if final[k] < 0:
            report.outside += 1
    old = np.array([r[7] if r[7] is not None else -1 for r in rows], dtype=np.int64)
    report.changed = int((old != final).sum())
    step("写入 (writing)", 3, 4)
    _write_grid_ids(session, "household", ids, final)
    report.seconds = round(time.perf_counter() - t0, 3)
    _audit(session, actor, "assign", "household", report)
    step("完成 (done)", 4, 4)
    return report


def assign_incidents(
    session: Session,
    locator: Locator,
    *,
    community: str | None = None,
    ids: Sequence[int] | None = None,
    progress: Progress | None = None,
    actor: str = "cli",
) -> AssignReport:
    """Assign every incident (of one community, or all) to the micro-grid at its position,
    with its community and street. Writes ``incident.grid_id``, ``community_id``,
    ``street_id``."""
    t0 = time.perf_counter()
    report = AssignReport("incidents")
    params: dict[str, Any] = {}
    cond = ""
    if community is not None:
        _require_community(session, community)
        cond = (
            " AND (community_id IS NULL OR community_id = "
            "(SELECT id FROM community WHERE code = :cc))"
        )
        params = {"cc": community}
    if ids is not None:
        cond += " AND id = ANY(:only)"
        params["only"] = list(ids)
    rows = session.execute(
        text(
            "SELECT id, ST_X(position), ST_Y(position), grid_id, floor FROM incident WHERE TRUE"
            + cond
            + " ORDER BY id"
        ),
        params,
    ).all()
    report.total = len(rows)
    if not rows:
        return report
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    x = np.array([r[1] for r in rows], dtype=float)
    y = np.array([r[2] for r in rows], dtype=float)
    loc = locator.resolve(x, y, [r[4] for r in rows])
    final = loc.grid
    report.by_position = int((loc.how == INSIDE).sum())
    report.nearest = int((loc.how == NEAREST).sum())
    report.outside = int((final < 0).sum())
    old = np.array([r[3] if r[3] is not None else -1 for r in rows], dtype=np.int64)
    report.changed = int((old != final).sum())
    _write_grid_ids(session, "incident", ids, final)
    write_floor_co_owners(session, ids.tolist(), loc.co_owners)
    session.execute(
        text(
            "UPDATE incident i SET community_id = v.community_id, street_id = c.street_id "
            "FROM grid g JOIN grid_version v ON v.id = g.version_id JOIN community c "
            "ON c.id = v.community_id WHERE g.id = i.grid_id AND i.id = ANY(:ids)"
        ),
        {"ids": ids.tolist()},
    )
    report.seconds = round(time.perf_counter() - t0, 3)
    _audit(session, actor, "assign", "incident", report)
    return report


def write_floor_co_owners(
    session: Session, incident_ids: Sequence[int], co_owners: Sequence[Sequence[int]]
) -> None:
    """Replace the incidents' ``floors`` co-owners (the other floor groups of the floor-split
    unit they lie in) with ``co_owners`` (one list per incident)."""
    if not incident_ids:
        return
    session.execute(
        text("DELETE FROM incident_co_owner WHERE reason = 'floors' AND incident_id = ANY(:i)"),
        {"i": list(incident_ids)},
    )
    rows = [{"i": i, "g": g} for i, gs in zip(incident_ids, co_owners, strict=True) for g in gs]
    if rows:
        session.execute(
            text(
                "INSERT INTO incident_co_owner (incident_id, grid_id, reason) VALUES "
                "(:i, :g, 'floors') ON CONFLICT (incident_id, grid_id) DO UPDATE SET "
                "reason = 'floors'"
            ),
            rows,
        )


def _require_community(session: Session, code: str) -> None:
    if not session.execute(text("SELECT 1 FROM community WHERE code = :c"), {"c": code}).first():
        raise NotFoundError(f"社区不存在 (no such community): {code!r}")


def _write_grid_ids(session: Session, table: str, ids: np.ndarray, grid_ids: np.ndarray) -> None:
    session.execute(
        text(
            f"UPDATE {table} t SET grid_id = NULLIF(u.g, -1) FROM unnest(CAST(:ids AS bigint[]), "
            f"CAST(:gids AS bigint[])) AS u(i, g) WHERE t.id = u.i AND "
            f"t.grid_id IS DISTINCT FROM NULLIF(u.g, -1)"
        ),
        {"ids": ids.tolist(), "gids": grid_ids.tolist()},
    )


def _audit(session: Session, actor: str, action: str, entity: str, report: AssignReport) -> None:
    detail = report.as_dict()
    detail["disagreements"] = len(report.disagreements)
    session.execute(
        text(
            "INSERT INTO audit_log (actor, action, entity, detail) VALUES (:a, :act, :e, "
            "CAST(:d AS jsonb))"
        ),
        {"a": actor, "act": action, "e": entity, "d": json.dumps(detail, ensure_ascii=False)},
    )


# --- after the grids change --------------------------------------------------------------
def reassign_changed(
    session: Session,
    locator: Locator,
    community: str,
    old_version: int,
    new_version: int,
    *,
    actor: str = "cli",
) -> dict[str, int]:
    """After a new version of a community's grids: households and incidents outside the area
    that changed keep their grid (mapped by code to the new version); those inside it are
    assigned again. Returns the counts (inside the changed area, re-assigned, changed grid)."""
    changed_area, same_codes = _changed_area(session, community, old_version, new_version)
    counts = {
        "households_in_changed_area": 0,
        "incidents_in_changed_area": 0,
        "households_mapped_by_code": 0,
        "incidents_mapped_by_code": 0,
    }
    # unchanged grids: move the pointer to the same code in the new version
    for table in ("household", "incident"):
        n = session.execute(
            text(
                f"UPDATE {table} t SET grid_id = gn.id FROM grid go "
                "JOIN grid_version vo ON vo.id = go.version_id "
                "JOIN grid gn ON gn.code = go.code JOIN grid_version vn ON vn.id = gn.version_id "
                "JOIN community c ON c.id = vn.community_id AND c.id = vo.community_id "
                "WHERE t.grid_id = go.id AND vo.number = :old AND vn.number = :new AND c.code = :c "
                "AND go.code = ANY(:same)"
            ),
            {"old": old_version, "new": new_version, "c": community, "same": sorted(same_codes)},
        ).rowcount
        counts[f"{table}s_mapped_by_code"] = int(n or 0)
    _rehome_co_owners(session, community, old_version, new_version)
    if not changed_area:
        return counts
    hh = (
        session.execute(
            text(
                "SELECT h.id FROM household h JOIN building b ON b.id = h.building_id JOIN community c "
                "ON c.id = b.community_id WHERE c.code = :c AND EXISTS (SELECT 1 FROM grid g WHERE "
                "g.id = ANY(:g) AND ST_Covers(g.boundary, h.position))"
            ),
            {"c": community, "g": changed_area},
        )
        .scalars()
        .all()
    )
    inc = (
        session.execute(
            text(
                "SELECT i.id FROM incident i WHERE EXISTS (SELECT 1 FROM grid g WHERE g.id = ANY(:g) "
                "AND ST_Covers(g.boundary, i.position))"
            ),
            {"g": changed_area},
        )
        .scalars()
        .all()
    )
    counts["households_in_changed_area"] = len(hh)
    counts["incidents_in_changed_area"] = len(inc)
    if hh:
        before = _grid_codes(session, "household", hh)
        assign_households(session, locator, ids=hh, actor=actor)
        after = _grid_codes(session, "household", hh)
        counts["households_changed_grid"] = sum(before.get(i) != after.get(i) for i in hh)
    if inc:
        before = _grid_codes(session, "incident", inc)
        assign_incidents(session, locator, ids=inc, actor=actor)
        after = _grid_codes(session, "incident", inc)
        counts["incidents_changed_grid"] = sum(before.get(i) != after.get(i) for i in inc)
    session.execute(
        text(
            "INSERT INTO audit_log (actor, action, entity, entity_id, detail) VALUES (:a, "
            "'reassign', 'community', :c, CAST(:d AS jsonb))"
        ),
        {
            "a": actor,
            "c": community,
            "d": json.dumps(counts | {"old": old_version, "new": new_version}),
        },
    )
    return counts


def _rehome_co_owners(session: Session, community: str, old: int, new: int) -> None:
    """Incidents' co-owner grids of the old version point to the grid of the same code in
    the new one; a co-owner whose grid is gone is dropped (the floor co-owners of incidents
    in the changed area are worked out again by their assignment)."""
    params = {"c": community, "old": old, "new": new}
    session.execute(
        text(
            "DELETE FROM incident_co_owner x USING grid go JOIN grid_version vo ON vo.id = "
            "go.version_id JOIN community c ON c.id = vo.community_id WHERE x.grid_id = go.id "
            "AND c.code = :c AND vo.number = :old AND (NOT EXISTS (SELECT 1 FROM grid gn JOIN "
            "grid_version vn ON vn.id = gn.version_id WHERE vn.community_id = c.id AND "
            "vn.number = :new AND gn.code = go.code) OR EXISTS (SELECT 1 FROM incident_co_owner "
            "y JOIN grid gy ON gy.id = y.grid_id JOIN grid_version vy ON vy.id = gy.version_id "
            "WHERE y.incident_id = x.incident_id AND vy.number = :new AND vy.community_id = c.id "
            "AND gy.code = go.code))"
        ),
        params,
    )
    session.execute(
        text(
            "UPDATE incident_co_owner x SET grid_id = gn.id FROM grid go JOIN grid_version vo "
            "ON vo.id = go.version_id JOIN community c ON c.id = vo.community_id JOIN grid gn "
            "ON gn.code = go.code JOIN grid_version vn ON vn.id = gn.version_id AND "
            "vn.community_id = c.id WHERE x.grid_id = go.id AND c.code = :c AND vo.number = :old "
            "AND vn.number = :new"
        ),
        params,
    )


def _grid_codes(session: Session, table: str, ids: list[int]) -> dict[int, str]:
    """The code of the grid each row points to (codes, not ids: ids differ by version)."""
    return dict(
        session.execute(
            text(
                f"SELECT t.id, g.code FROM {table} t JOIN grid g ON g.id = t.grid_id WHERE t.id = ANY(:i)"
            ),
            {"i": list(ids)},
        ).all()
    )


def _changed_area(
    session: Session, community: str, old: int, new: int
) -> tuple[list[int], set[str]]:
    """The ids of the micro-grids (of both versions) that differ between two versions, by
    code, shape or members — together they cover the area that changed — and the codes that
    are the same in both."""
    rows = session.execute(
        text(
            "SELECT v.number, g.id, g.code, ST_AsBinary(g.boundary), (SELECT coalesce("
            "array_agg(m.unit_id::text || ':' || coalesce(m.floor_min, 0) || '-' || "
            "coalesce(m.floor_max, 0) ORDER BY m.unit_id, m.floor_min), '{}') FROM grid_member m "
            "WHERE m.grid_id = g.id) FROM grid g JOIN grid_version v ON v.id = g.version_id "
            "JOIN community c ON c.id = v.community_id WHERE c.code = :c "
            "AND v.number IN (:o, :n) AND g.level = 'micro'"
        ),
        {"c": community, "o": old, "n": new},
    ).all()
    shapes: dict[int, dict[str, tuple[int, Any, list[str]]]] = {old: {}, new: {}}
    for number, gid, code, wkb, members in rows:
        shapes[number][code] = (gid, shapely.from_wkb(bytes(wkb)), list(members))
    same = {
        c
        for c in shapes[old]
        if c in shapes[new]
        and shapes[old][c][2] == shapes[new][c][2]
        and shapely.equals_exact(shapes[old][c][1], shapes[new][c][1], 0.0)
    }
    differ = [gid for v in (old, new) for c, (gid, _, _) in shapes[v].items() if c not in same]
    return differ, same
