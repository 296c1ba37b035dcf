"""What the partitioner takes and gives: buildings, units and compounds in; atoms, micro-grids
and compound grids out; the measures reported on them; and how a unit over the maximum is
split by floors.

All geometry is in a metric CRS.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
from shapely import Geometry

from geo.core.tessellate import slice_polygons
from geo.core.validate import UnitRecord

__all__ = [
    "Atom",
    "BuildingIn",
    "CommunityInput",
    "CompoundGrid",
    "CompoundIn",
    "MicroGrid",
    "PartitionResult",
    "UnitIn",
    "buildings_units",
    "polsby_popper",
    "split_unit",
    "spread_m",
]


# --- inputs -------------------------------------------------------------------------------
@dataclass(frozen=True)
class UnitIn:
    """A building unit (单元): its households, and per floor when known (index 0 = floor 1)."""

    id: int
    unit_no: int
    floors: int
    households: int
    per_floor: tuple[int, ...] | None = None


@dataclass(frozen=True)
class BuildingIn:
    code: str
    footprint: Geometry  # metric CRS
    compound: str | None
    units: tuple[UnitIn, ...]

    @property
    def households(self) -> int:
        return sum(u.households for u in self.units)


@dataclass(frozen=True)
class CompoundIn:
    code: str
    name: str
    boundary: Geometry  # metric CRS


@dataclass
class CommunityInput:
    """One community as the partitioner takes it (what
    :func:`geo.store.versions.load_community` gives), in the metric CRS.

    ``roads`` (not footways, named by ``road_names``) separate the street grids of buildings
    outside the compounds; ``ways`` are every line of the road layer, lanes and footways
    inside compounds included, that micro-grids should not straddle when avoidable (``None``:
    the roads). ``units`` and ``households`` (code, unit id, floor) are what validation
    checks the grids against; ``id`` is the community's row when it came from the database."""

    code: str
    boundary: Geometry
    compounds: Sequence[CompoundIn]
    buildings: Sequence[BuildingIn]
    roads: Sequence[Geometry] = ()
    road_names: Sequence[str] = ()
    ways: Sequence[Geometry] | None = None
    units: Mapping[int, UnitRecord] = field(default_factory=dict)
    households: Sequence[tuple[str, int, int | None]] = ()
    id: int | None = None


# --- outputs ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Atom:
    """A unit, or a floor range of a unit that exceeds the maximum: what micro-grids hold."""

    building: str
    unit_id: int
    unit_no: int
    floor_min: int | None  # None: the whole unit
    floor_max: int | None
    households: int
    slice: Geometry

    @property
    def key(self) -> tuple[str, int, int]:
        return (self.building, self.unit_no, self.floor_min or 0)


@dataclass
class MicroGrid:
    """A group of atoms and its polygon (the union of their cells). A unit split by floors
    keeps its whole cell: every micro-grid holding one of its floor ranges holds the cell
    (``floor_cells``: unit id → cell), so such micro-grids overlap there, exactly."""

    code: str
    parent: str
    geometry: Geometry
    atoms: list[Atom]
    floor_cells: dict[int, Geometry] = field(default_factory=dict)

    @property
    def households(self) -> int:
        return sum(a.households for a in self.atoms)

    @property
    def buildings(self) -> list[str]:
        return sorted({a.building for a in self.atoms})


@dataclass
class CompoundGrid:
    code: str
    name: str
    compounds: list[str]  # compound codes (empty for a street grid; two when merged)
    geometry: Geometry
    micro: list[MicroGrid] = field(default_factory=list)
    # ok | under_total | one_underfilled | underfilled | overfilled | no_households | merged
    status: str = "ok"
    reason: str = ""
    split_buildings: int = 0
    # the status is certain (see _Solution.proven): False only when the heuristic search for
    # a large compound gave up without proving that no grouping in band exists
    proven: bool = True
    # what was done to its area, when anything was: a compound in several parts, buildings
    # cut off from another zone by the tessellation (shown with the status, any status)
    note: str = ""

    @property
    def households(self) -> int:
        return sum(m.households for m in self.micro)


@dataclass
class PartitionResult:
    community: str
    geometry: Geometry
    compound_grids: list[CompoundGrid]
    params: dict[str, Any]
    assignment: dict[str, Any] | None = None  # households/incidents re-assigned once stored

    @property
    def micro(self) -> list[MicroGrid]:
        return [m for c in self.compound_grids for m in c.micro]

    def records(self) -> list[Any]:
        """The grids as :class:`geo.core.validate.GridRecord` (for validation)."""
        from geo.core.validate import GridRecord

        out = [
            GridRecord(
                self.community,
                "community",
                None,
                self.geometry,
                sum(c.households for c in self.compound_grids),
            )
        ]
        for c in self.compound_grids:
            out.append(GridRecord(c.code, "compound", self.community, c.geometry, c.households))
            for m in c.micro:
                out.append(
                    GridRecord(
                        m.code,
                        "micro",
                        c.code,
                        m.geometry,
                        m.households,
                        [(a.unit_id, a.floor_min, a.floor_max, a.households) for a in m.atoms],
                        note=c.reason,
                        cells=dict(m.floor_cells),
                    )
                )
        return out

    def summary(self) -> dict[str, Any]:
        lo, hi = self.params["min"], self.params["max"]
        micro = self.micro
        sizes = np.array([m.households for m in micro])
        pp = np.array([polsby_popper(m.geometry) for m in micro])
        spread = np.array([spread_m(m) for m in micro])
        feasible = [m for c in self.compound_grids if c.status == "ok" for m in c.micro]
        return {
            "community": self.community,
            "compound_grids": len(self.compound_grids),
            "micro_grids": len(micro),
            "households": int(sizes.sum()),
            "in_band": int(((sizes >= lo) & (sizes <= hi)).sum()),
            "in_band_share": float(((sizes >= lo) & (sizes <= hi)).mean()) if len(sizes) else 1.0,
            "in_band_where_feasible": float(
                np.mean([lo <= m.households <= hi for m in feasible]) if feasible else 1.0
            ),
            "contiguous_share": float(
                np.mean([m.geometry.geom_type == "Polygon" for m in micro]) if micro else 1.0
            ),
            "split_buildings": sum(c.split_buildings for c in self.compound_grids),
            "polsby_popper_median": float(np.median(pp)) if len(pp) else None,
            "spread_m_max": float(spread.max()) if len(spread) else None,
            "spread_m_median": float(np.median(spread)) if len(spread) else None,
            "infeasible": [
                {
                    "code": c.code,
                    "name": c.name,
                    "status": c.status,
                    "reason": c.reason,
                    "households": c.households,
                    # no grouping in band exists (proven by the exact search or arithmetic);
                    # False: a large compound's heuristic search gave up
                    "proven": c.proven,
                }
                for c in self.compound_grids
                if c.status != "ok"
            ],
            "notes": [{"code": c.code, "note": c.note} for c in self.compound_grids if c.note],
        }


def polsby_popper(g: Geometry) -> float:
    """4πA/P²: 1 for a disc, about 0.785 for a square."""
    p = shapely.length(g)
    return float(4 * math.pi * shapely.area(g) / (p * p)) if p > 0 else 0.0


def spread_m(m: MicroGrid) -> float:
    """The largest straight-line distance between two of a micro-grid's units (metres)."""
    pts = shapely.get_coordinates(shapely.centroid([a.slice for a in m.atoms]))
    if len(pts) < 2:
        return 0.0
    d = pts[:, None, :] - pts[None, :, :]
    return float(np.sqrt((d**2).sum(-1)).max())


# --- units to atoms ------------------------------------------------------------------------
def split_unit(unit: UnitIn, maximum: int) -> list[tuple[int | None, int | None, int]]:
    """(floor_min, floor_max, households) parts of a unit: the whole unit when it fits, else
    the fewest floor ranges of balanced size, each at most ``maximum``.

    A floor that alone holds more than ``maximum`` households cannot be split by floors: it
    becomes a part of its own (over the maximum; the partition reports it), and the floors
    between such floors are split as usual.

    >>> split_unit(UnitIn(1, 1, 25, 100), 50)
    [(1, 8, 32), (9, 17, 36), (18, 25, 32)]
    >>> split_unit(UnitIn(2, 1, 3, 130, per_floor=(10, 60, 60)), 50)
    [(1, 1, 10), (2, 2, 60), (3, 3, 60)]
    """
    if unit.households <= maximum:
        return [(None, None, unit.households)]
    per = list(unit.per_floor) if unit.per_floor else _even(unit.households, unit.floors)
    out: list[tuple[int | None, int | None, int]] = []
    run_start = 0  # floors [run_start, f) hold no floor over the maximum
    for f, n in enumerate([*per, maximum + 1]):
        if n <= maximum and f < len(per):
            continue
        out += _balanced_floors(per, run_start, f, maximum)
        if f < len(per):
            out.append((f + 1, f + 1, n))
        run_start = f + 1
    return out


def _balanced_floors(
    per: list[int], start: int, stop: int, maximum: int
) -> list[tuple[int | None, int | None, int]]:
    """Floors ``start`` ..< ``stop`` (0-based, none over the maximum) in the fewest balanced
    ranges of whole floors, each at most ``maximum`` households."""
    if stop <= start:
        return []
    seg = per[start:stop]
    total = sum(seg)
    cum = np.concatenate([[0], np.cumsum(seg)])
    parts = max(1, math.ceil(total / maximum))
    while parts < len(seg):
        cuts = [0]
        for j in range(1, parts):
            f = int(np.argmin(np.abs(cum - total * j / parts)))
            cuts.append(min(max(f, cuts[-1] + 1), len(seg) - (parts - j)))
        cuts.append(len(seg))
        sizes = [int(cum[b] - cum[a]) for a, b in itertools.pairwise(cuts)]
        if max(sizes) <= maximum and all(b > a for a, b in itertools.pairwise(cuts)):
            return [
                (start + a + 1, start + b, n)
                for a, b, n in zip(cuts[:-1], cuts[1:], sizes, strict=True)
            ]
        parts += 1
    # as many parts as floors: a floor each (none is over the maximum)
    return [(start + f + 1, start + f + 1, n) for f, n in enumerate(seg)]


def _even(total: int, floors: int) -> list[int]:
    base, extra = divmod(total, floors)
    return [base + (1 if f < extra else 0) for f in range(floors)]


def buildings_units(
    bs: Sequence[BuildingIn], maximum: int
) -> list[list[tuple[UnitIn, Geometry, list]]]:
    """For each building, each unit with its slice of the footprint (units side by side
    along the long axis) and its parts (:func:`split_unit`); the footprints cut in one go."""
    units = [sorted(b.units, key=lambda u: u.unit_no) for b in bs]
    slices = slice_polygons(
        [b.footprint for b in bs], [[max(u.households, 0) for u in us] for us in units]
    )
    return [
        [(u, sl, split_unit(u, maximum)) for u, sl in zip(us, ss, strict=True)] if us else []
        for us, ss in zip(units, slices, strict=True)
    ]
