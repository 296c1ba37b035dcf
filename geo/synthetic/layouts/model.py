"""What a layout is: the morphology classes, where they are placed, the project's vocabularies
they use, and the :class:`Layout` of one community with its buildings' :class:`BuildingInfo`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import shapely
from shapely import LineString, Polygon

from geo.partition import BuildingIn, CompoundIn, UnitIn

__all__ = [
    "BUILDING_USES",
    "CRS",
    "KIND_PITCH",
    "LANE",
    "LAYOUT_KINDS",
    "LAYOUT_NAMES",
    "ORIGIN",
    "ROAD_KINDS",
    "STREET",
    "BuildingInfo",
    "Layout",
    "floor_counts",
]

CRS = "EPSG:4544"  # the layouts' coordinates (CGCS2000 / 3-degree Gauss-Kruger CM 105E)


LAYOUT_KINDS = ("high_rise", "walk_up", "villa", "urban_village", "mixed")


LAYOUT_NAMES = {
    "high_rise": "高层小区",
    "walk_up": "老旧院落",
    "villa": "别墅区",
    "urban_village": "城中村",
    "mixed": "混合小区",
}


# south-west corner of the first kind's community; kind i is placed KIND_PITCH metres east
# (15 km south of geo.synthetic.city.ORIGIN, so a synthetic city and these never overlap)
ORIGIN = (400_000.0, 3_360_000.0)


KIND_PITCH = 3_000.0


# the street (街道) the communities belong to, as the communities import file needs it
STREET = {
    "street_code": "510116990",
    "street_name": "样例街道",
    "district": "双流区",
    "city": "成都市",
}


# the project's vocabularies (geo.store.models.ROAD_KINDS, BUILDING_USES), kept here so that this
# module needs no database code; tests check they agree
ROAD_KINDS = ("primary", "secondary", "branch", "footway")


BUILDING_USES = ("residential", "commercial", "mixed", "public")


LANE = "footway"


@dataclass(frozen=True)
class BuildingInfo:
    """What a building is, beyond its units: a name (``3栋``, ``商铺12``), its use (one of
    ``residential``, ``commercial``, ``mixed``, ``public``) and a label of its type
    (``tower``, ``walk_up``, ``villa``, ``house``, ``shop``, ``school``, ``shed`` …)."""

    name: str
    use: str
    label: str


@dataclass
class Layout:
    """A community drawn in EPSG:4544: its compounds, buildings (with units) and roads.

    Attributes
    ----------
    code, kind, name : str
        Community code, morphology class (one of :data:`LAYOUT_KINDS`, or the name of a real
        data set such as ``bubenec``: ``fixtures/bubenec.py``), Chinese name.
    boundary : shapely.Polygon
        The community.
    compounds : list of CompoundIn
    buildings : list of BuildingIn
        ``compound`` is None for buildings outside every compound.
    roads : list of (kind, LineString)
        ``kind`` is a road kind of the project (:data:`ROAD_KINDS`); lanes inside compounds
        are ``footway``.
    info : dict of str to BuildingInfo
        By building code.
    """

    code: str
    kind: str
    name: str
    boundary: Polygon
    compounds: list[CompoundIn]
    buildings: list[BuildingIn]
    roads: list[tuple[str, LineString]]
    info: dict[str, BuildingInfo] = field(default_factory=dict)

    @property
    def households(self) -> int:
        return sum(b.households for b in self.buildings)

    @property
    def units(self) -> int:
        return sum(len(b.units) for b in self.buildings)

    @property
    def zero_household_buildings(self) -> list[BuildingIn]:
        """Sheds, garages, shops, substations, schools: buildings of no household."""
        return [b for b in self.buildings if b.households == 0]

    @property
    def lanes(self) -> list[LineString]:
        """The footways that lie inside a compound."""
        walls = [c.boundary for c in self.compounds]
        return [
            line
            for kind, line in self.roads
            if kind == LANE and any(shapely.covered_by(line, w) for w in walls)
        ]

    def summary(self) -> dict[str, Any]:
        """Counts: compounds, buildings, units, households, zero-household buildings, lanes."""
        return {
            "code": self.code,
            "kind": self.kind,
            "compounds": len(self.compounds),
            "buildings": len(self.buildings),
            "units": self.units,
            "households": self.households,
            "zero_household_buildings": len(self.zero_household_buildings),
            "lanes": len(self.lanes),
            "roads": len(self.roads),
        }


def floor_counts(unit: UnitIn) -> list[int]:
    """Households on each floor of ``unit`` (index 0 = floor 1): its ``per_floor``, else
    spread evenly from the ground up (as the partitioner does)."""
    if unit.per_floor is not None:
        return list(unit.per_floor)
    base, extra = divmod(unit.households, unit.floors)
    return [base + (1 if f < extra else 0) for f in range(unit.floors)]
