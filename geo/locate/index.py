"""The in-process locator: the current micro-grids, buildings, floor groups and workers of
every community (or of one), loaded once per data version and held in memory for lookups.

Which micro-grid holds a point is answered by the numba point-in-polygon kernels of
:mod:`geo.core.kernels` (:class:`~geo.core.kernels.PolygonIndex`) under their edge rule, then
the floor rule (:mod:`geo.locate.floors`).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.core.crs import from_metric, to_metric
from geo.core.kernels import INSIDE, PolygonIndex
from geo.core.tessellate import slice_polygon
from geo.locate.addresses import AddressIndex
from geo.locate.floors import FloorGroups, floor_groups, load_floor_groups
from geo.settings import get_settings
from geo.store.models import WORKER_ROLES

if TYPE_CHECKING:
    from geo.store.versions.write import Written

__all__ = ["IndexedBuilding", "IndexedGrid", "Locator", "Resolved", "current_key"]


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


@dataclass
class IndexedGrid:
    """A grid of a current version, as the locator holds it."""

    id: int
    code: str
    name: str | None
    level: str
    households: int
    parent: int | None


@dataclass
class IndexedBuilding:
    """A building as the locator holds it: footprint (storage CRS) and units."""

    id: int
    code: str
    name: str
    compound: str | None
    footprint: Any
    units: list[tuple[int, int, int]]  # (unit id, unit no, households)
    slices: list[Any] | None = None
    community: str | None = None  # the community's name


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
    grids: dict[int, IndexedGrid]
    micro_ids: np.ndarray
    micro: PolygonIndex
    buildings: list[IndexedBuilding]
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
    def load(
        cls, session: Session, community: str | None = None, *, version: int | None = None
    ) -> Locator:
        """Every community's current grids and buildings — or one community's (bulk work on
        one community at a time, as the city-scale engine does, need not load the city); with
        ``version`` (a grid version id of ``community``, a draft say), that version's grids in
        place of the current ones: what the locator would be once it is published."""
        key = current_key(session)
        scope = _Scope(community, version)
        grids, micro_ids, micro_geoms = _load_grids(session, scope)
        communities = _load_communities(session, scope)
        buildings, footprints = _load_buildings(session, scope)
        workers = _load_workers(session, scope)
        floors, cells = load_floor_groups(session, scope.versions, scope.params)
        loc = cls(
            key,
            grids,
            micro_ids,
            PolygonIndex(micro_geoms),
            buildings,
            PolygonIndex(footprints),
            communities,
            workers,
            floors,
            PolygonIndex(cells),
        )
        loc.addresses = AddressIndex.build(buildings)  # once per data version
        return loc

    @classmethod
    def of_written(cls, written: Written) -> Locator:
        """The locator of one community's version just written (:func:`geo.store.versions.
        write.write_versions`) once it is current, built from the rows written rather than
        read back: the same grids, boundaries (the bytes stored) and floor groups as
        :meth:`load` would give — enough to assign (no buildings, workers, addresses)."""
        by_code = sorted(written.grids, key=lambda g: g[3])  # code order, as COLLATE "C"
        grids, micro_ids, micro_geoms = _grids_of(
            (g[0], g[3], g[4], g[2], g[7], g[5], g[8]) for g in by_code
        )
        split = sorted((m for m in written.members if m[5] is not None), key=lambda m: (m[1], m[2]))
        floors, cells = floor_groups((m[1], m[0], m[2], m[3], m[5]) for m in split)  # type: ignore[misc]
        return cls(
            (),
            grids,
            micro_ids,
            PolygonIndex(micro_geoms),
            [],
            PolygonIndex([]),
            {},
            {},
            floors,
            PolygonIndex(cells),
        )

    def resolve(
        self,
        x: np.ndarray | Sequence[float],
        y: np.ndarray | Sequence[float],
        floors: Sequence[int | None] | None = None,
    ) -> Resolved:
        """The micro-grid of each storage-CRS point under the edge rule (:mod:`geo.core.kernels`)
        and the floor rule: a point in the cell of a unit split by floors goes to the group
        holding its floor (``floors``, when known), else to the group of the lowest floors
        with the others as co-owners. The same rules as :func:`geo.locate.sql.sql_covering`."""
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

    def building_at(self, lon: float, lat: float) -> tuple[IndexedBuilding, int | None] | None:
        """The building whose footprint covers the point, and the unit (its slice)."""
        hit = self.building_index.covering([lon], [lat])[0]
        if hit < 0:
            return None
        b = self.buildings[int(hit)]
        return b, _unit_at(b, lon, lat)


def _unit_at(b: IndexedBuilding, lon: float, lat: float) -> int | None:
    if not b.units:
        return None
    if len(b.units) == 1:
        return b.units[0][1]
    if b.slices is None:  # the units' slices of the footprint, in storage coordinates
        metric = slice_polygon(to_metric([b.footprint])[0], [max(h, 0) for _, _, h in b.units])
        b.slices = list(from_metric(np.asarray(metric, dtype=object)))
    d = shapely.distance(np.asarray(b.slices, dtype=object), shapely.Point(lon, lat))
    return b.units[int(np.argmin(d))][1]


# --- loading ---------------------------------------------------------------------------------
_IN_COMMUNITY = "(SELECT id FROM community WHERE code = :c)"


@dataclass(frozen=True)
class _Scope:
    """What a locator loads: one community (its code) or, with None, every one — as the SQL
    conditions that narrow each query, and their parameters; the current grid versions, or
    one given version (``version``, an id)."""

    community: str | None
    version: int | None = None

    def _only(self, cond: str) -> str:
        return cond if self.community is not None else ""

    @property
    def params(self) -> dict[str, Any]:
        out: dict[str, Any] = {"c": self.community} if self.community is not None else {}
        if self.version is not None:
            out["ver"] = self.version
        return out

    @property
    def versions(self) -> str:  # the grid versions (v) read
        which = "v.id = :ver" if self.version is not None else "v.status = 'published'"
        return which + self._only(f" AND v.community_id = {_IN_COMMUNITY}")

    @property
    def by_building(self) -> str:  # buildings (b)
        return self._only(f" WHERE b.community_id = {_IN_COMMUNITY}")

    @property
    def by_community(self) -> str:  # communities (c)
        return self._only(" AND c.code = :c")

    @property
    def by_worker(self) -> str:  # workers
        return self._only(f" WHERE community_id = {_IN_COMMUNITY}")


def _load_grids(
    session: Session, scope: _Scope
) -> tuple[dict[int, IndexedGrid], np.ndarray, list[Any]]:
    """The current grids by id, and the micro-grids' ids and boundaries (in code order)."""
    rows = session.execute(
        text(
            "SELECT g.id, g.code, g.name, g.level, g.households, g.parent_id, "
            "ST_AsBinary(g.boundary) FROM grid g JOIN grid_version v ON v.id = g.version_id "
            f'WHERE {scope.versions} ORDER BY g.code COLLATE "C"'
        ),
        scope.params,
    ).all()
    return _grids_of((r[0], r[1], r[2], r[3], r[4], r[5], bytes(r[6])) for r in rows)


def _grids_of(
    rows: Iterable[tuple[int, str, str | None, str, int, int | None, bytes | str]],
) -> tuple[dict[int, IndexedGrid], np.ndarray, list[Any]]:
    """The grids of ``rows`` (id, code, name, level, households, parent id, boundary as WKB
    or hex EWKB; in code order) by id, and the micro-grids' ids and boundaries."""
    rows = list(rows)
    grids = {r[0]: IndexedGrid(r[0], r[1], r[2], r[3], r[4], r[5]) for r in rows}
    micro_rows = [r for r in rows if r[3] == "micro"]
    geoms = list(shapely.from_wkb([r[6] for r in micro_rows])) if micro_rows else []
    micro_ids = np.array([r[0] for r in micro_rows], dtype=np.int64)
    return grids, micro_ids, geoms


def _load_communities(session: Session, scope: _Scope) -> dict[int, dict[str, Any]]:
    """The community and street of each current community grid, by grid id."""
    rows = session.execute(
        text(
            "SELECT g.id, c.code, c.name, s.code, s.name, s.district FROM grid g "
            f"JOIN grid_version v ON v.id = g.version_id AND {scope.versions} "
            "JOIN community c ON c.id = v.community_id JOIN street s ON s.id = c.street_id "
            "WHERE g.level = 'community'" + scope.by_community
        ),
        scope.params,
    )
    return {
        r[0]: {
            "community_code": r[1],
            "community_name": r[2],
            "street_code": r[3],
            "street_name": r[4],
            "district": r[5],
        }
        for r in rows
    }


def _load_buildings(session: Session, scope: _Scope) -> tuple[list[IndexedBuilding], list[Any]]:
    """The buildings with their units (in code order), and their footprints."""
    rows = session.execute(
        text(
            "SELECT b.id, b.code, b.name, p.name, ST_AsBinary(b.footprint), c.name FROM "
            "building b LEFT JOIN compound p ON p.id = b.compound_id LEFT JOIN community c "
            f'ON c.id = b.community_id{scope.by_building} ORDER BY b.code COLLATE "C"'
        ),
        scope.params,
    ).all()
    units: dict[int, list[tuple[int, int, int]]] = {}
    for uid, bid, no, hh in session.execute(
        text(
            "SELECT u.id, u.building_id, u.unit_no, u.households FROM building_unit u "
            f"JOIN building b ON b.id = u.building_id{scope.by_building} ORDER BY u.unit_no"
        ),
        scope.params,
    ):
        units.setdefault(bid, []).append((uid, no, hh))
    fps = list(shapely.from_wkb([bytes(r[4]) for r in rows])) if rows else []
    buildings = [
        IndexedBuilding(r[0], r[1], r[2], r[3], fp, units.get(r[0], []), community=r[5])
        for r, fp in zip(rows, fps, strict=True)
    ]
    return buildings, fps


def _load_workers(session: Session, scope: _Scope) -> dict[str, list[dict[str, Any]]]:
    """The workers by the grid code and the building code they serve."""
    workers: dict[str, list[dict[str, Any]]] = {}
    for row in session.execute(
        text(
            "SELECT code, name, role, phone, public_phone, grid_code, building_code, party_member "
            "FROM worker" + scope.by_worker + " ORDER BY code"
        ),
        scope.params,
    ).mappings():
        w = dict(row)
        w["role_name"] = WORKER_ROLES.get(w["role"], (w["role"], w["role"]))[0]
        for k in (w["grid_code"], w["building_code"]):
            if k:
                workers.setdefault(k, []).append(w)
    return workers
