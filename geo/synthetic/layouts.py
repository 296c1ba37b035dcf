"""Named neighbourhood morphologies (街区形态) of Chengdu, deterministic from a seed, for testing
and benchmarking the partitioner on realistic layouts (:mod:`geo.synthetic.city` has coarse units
of 10–128 households only).

Each class is a community (社区) drawn in the metric CRS EPSG:4544, south of
:mod:`geo.synthetic.city`'s city (so both can be stored in one database), divided by roads into
compounds (小区/院落) of buildings with units (单元), floors and households:

``high_rise`` 高层小区
    3–5 compounds of 4–10 towers each. A tower has 18–33 floors and 1–4 units of 2–6
    households a floor (point towers of 4–6 a floor have 1–2 units, slabs of 2–3 a floor 2–4
    units); about a third stand on a stilt floor (架空层: floor 1 holds no household). Towers
    stand in rows 32–45 m apart. Each compound has a substation, a guard house and one or two
    garage ramps (no households).
``walk_up`` 老旧院落
    12–18 small old compounds, each of 2–6 walk-ups (多层) of 5–7 floors, 2–3 units, 2
    households a floor (40–252 households a compound), in rows 12–18 m apart; each has a
    bicycle shed (车棚), some a boiler room (no households); a footway leads in from the
    gate. Compounds are separated by 4 m lanes and, between rows of compounds, branch roads.
``villa`` 别墅区
    2–3 compounds of 30–200 detached houses (独栋): **one building, one unit, one
    household**, 2–3 floors, 110–240 m² footprints (some L-shaped) on plots 18–24 m wide,
    in rows on both sides of 6 m internal lanes that join a spine lane from the gate. No
    building without households.
``urban_village`` 城中村
    about 650 self-built houses (自建房) at scale 1, in one compound of 400–460 houses and
    one or two of 150–320. Each house is one unit of 2–10 households (rented rooms of
    30–55 m² gross), 2–6 floors, a quarter of those of three floors or more with a shop on
    the ground floor; footprints 40–150 m², rotated by up to ±5.7°, 0.5–1 m apart
    (握手楼), in back-to-back rows between east–west lanes 2–4 m wide, cut every 25–60 m by
    cross lanes 2–3 m wide; buildings cover about half the compound (48–55%), against
    10–35% in the other classes. About 6% are sheds, warehouses or public toilets, and a
    compound has at least one public toilet (公厕) in every 150 houses (no households).
``mixed`` 混合小区
    one mixed compound at scale 1: one or two towers, 3–6 walk-ups (half of them with shops
    on the ground floor, 底商), a substation, and 8–12 shops (商铺, no households) along its
    street front; outside the compound, 10–20 more street shops along the main road (20–30
    shops in all) and a school (学校: teaching blocks and a gym, no households).

Households at scale 1 (seeds 0–29): high_rise 2,200–7,800; walk_up 1,300–2,400; villa
120–490; urban_village 4,000–5,100; mixed 150–800.

Every lane inside a compound is a road of kind ``footway`` in :attr:`Layout.roads` (the
partitioner may use them to keep houses across a lane apart); roads between compounds are
``branch`` roads (``footway`` between old courtyards), the community's edges ``primary``
(south) and ``secondary``. Footprints are valid and pairwise disjoint, each inside its
compound; compounds are disjoint and inside the community; buildings outside every compound
(street shops, the school) touch no compound.

``scale`` multiplies the number of compounds (high_rise, walk_up, villa: at least one), of
houses (urban_village) or of mixed compounds (mixed: at least one). The same kind, seed,
scale and origin always give the same layout; randomness comes from
``np.random.default_rng([seed, kind])`` only.

>>> lay = make_layout("villa", seed=1)
>>> lay.kind, {len(b.units) for b in lay.buildings}, {b.households for b in lay.buildings}
('villa', {1}, {1})
>>> make_layout("villa", seed=1).summary() == lay.summary()
True
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely import LineString, Polygon

from geo.partition import BuildingIn, CompoundIn, UnitIn

__all__ = [
    "CRS",
    "LAYOUT_KINDS",
    "LAYOUT_NAMES",
    "ORIGIN",
    "STREET",
    "BuildingInfo",
    "Layout",
    "floor_counts",
    "make_layout",
    "unit_points",
    "write_layout_files",
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
_ROAD_NAMES = {"primary": "主干路", "secondary": "次干路", "branch": "支路", "footway": "巷道"}
# road half widths plus the pavement to the compound wall (metres)
_EDGE_MARGIN = {"primary": 16.0, "secondary": 12.0}
_ROAD_GAP = 18.0  # between compounds across a branch road (10 m carriageway + pavements)
_LANE_GAP = 4.0  # between old courtyards across a lane
_SHOP_STRIP = 14.0  # street shops between the south road's pavement and the first compounds
# their south-west corner: 2 m of pavement between the south road's kerb and the shop fronts
_STREET_SHOPS_AT = (_EDGE_MARGIN["secondary"], _EDGE_MARGIN["primary"] - 2.0)


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


def make_layout(
    kind: str,
    *,
    seed: int = 0,
    scale: float = 1.0,
    code: str | None = None,
    origin: tuple[float, float] | None = None,
) -> Layout:
    """A community of morphology ``kind``, the same for the same arguments.

    Parameters
    ----------
    kind : str
        One of :data:`LAYOUT_KINDS` (see the module docstring for what each holds).
    seed : int
        Seed of the layout's own random generator.
    scale : float
        Size factor (0 < scale <= 50): compounds, houses or mixed compounds, by kind.
    code : str, optional
        Community code; default ``LAY-<KIND>-<seed>``.
    origin : (float, float), optional
        South-west corner in EPSG:4544 metres; default :data:`ORIGIN` plus 3 km east per
        kind, so that the five kinds of one seed can be stored side by side.

    Returns
    -------
    Layout

    Examples
    --------
    >>> lay = make_layout("walk_up", seed=3, scale=0.5)
    >>> lay.code, lay.kind, len(lay.compounds) >= 1
    ('LAY-WALK_UP-3', 'walk_up', True)
    """
    _check_arguments(kind, seed, scale)
    index = LAYOUT_KINDS.index(kind)
    rng = np.random.default_rng([int(seed), index])
    drafts = _DRAFTERS[kind](rng, scale)
    street = _street_shops(rng, drafts) if kind == "mixed" else []
    front = max((p.footprint.bounds[2] for p in street), default=None)
    frame = _arrange(
        drafts, between=_LANE_GAP if kind == "walk_up" else _ROAD_GAP, street_front=front
    )
    street = _placed(street, [_STREET_SHOPS_AT] * len(street))
    if origin is None:
        origin = (ORIGIN[0] + index * KIND_PITCH, ORIGIN[1])
    return _assemble(code or f"LAY-{kind.upper()}-{seed}", kind, frame, drafts, street, origin)


def _check_arguments(kind: Any, seed: Any, scale: Any) -> None:
    if kind not in LAYOUT_KINDS:
        raise ValueError(f"unknown layout kind {kind!r}; expected one of {', '.join(LAYOUT_KINDS)}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    number = isinstance(scale, int | float | np.number) and not isinstance(scale, bool)
    if not (number and math.isfinite(scale) and 0 < scale <= 50):
        raise ValueError(f"scale must be a number in (0, 50], got {scale!r}")


def floor_counts(unit: UnitIn) -> list[int]:
    """Households on each floor of ``unit`` (index 0 = floor 1): its ``per_floor``, else
    spread evenly from the ground up (as the partitioner does)."""
    if unit.per_floor is not None:
        return list(unit.per_floor)
    base, extra = divmod(unit.households, unit.floors)
    return [base + (1 if f < extra else 0) for f in range(unit.floors)]


# --- drafts: one compound (or site) drawn in its own frame, origin at its south-west corner ---
@dataclass
class _Piece:
    footprint: Polygon
    units: list[tuple[int, ...]]  # per unit, households on each floor (index 0 = floor 1)
    name: str
    use: str
    label: str
    uneven: bool = False  # the floors differ (stilt floor, ground-floor shops): keep per_floor


@dataclass
class _Draft:
    name: str
    width: float
    height: float
    pieces: list[_Piece]
    lanes: list[LineString] = field(default_factory=list)
    compound: bool = True  # False: a site whose buildings stand outside every compound


def _floors(per_floor: int, floors: int, *, empty_ground: bool = False) -> tuple[int, ...]:
    return (0 if empty_ground else per_floor,) + (per_floor,) * (floors - 1)


def _pack(
    sizes: Sequence[tuple[float, float]],
    *,
    width: float,
    x0: float,
    y0: float,
    gap_x: tuple[float, float],
    gap_y: tuple[float, float],
    rng: np.random.Generator,
    per_row: int | None = None,
) -> tuple[list[tuple[float, float]], float]:
    """South-west corners of boxes of ``sizes`` (length, depth) in rows from ``y0`` up,
    left to right from ``x0`` within ``width``; and the top of the last row."""
    corners: list[tuple[float, float]] = []
    x, y, depth, in_row = x0, y0, 0.0, 0
    for length, d in sizes:
        full = per_row is not None and in_row >= per_row
        if in_row and (x + length > x0 + width or full):
            y += depth + float(rng.uniform(*gap_y))
            x, depth, in_row = x0, 0.0, 0
        corners.append((x, y))
        x += length + float(rng.uniform(*gap_x))
        depth = max(depth, d)
        in_row += 1
    return corners, y + depth


# high-rise towers: per floor -> (unit length, depth, units range)
_TOWER = {
    2: (16.0, 14.0, (2, 4)),
    3: (20.0, 16.0, (2, 4)),
    4: (26.0, 20.0, (1, 2)),
    6: (34.0, 24.0, (1, 2)),
}


def _tower(rng: np.random.Generator, number: int, *, stilts: float = 0.35) -> _Piece:
    per_floor = int(rng.choice([2, 3, 4, 6], p=[0.25, 0.2, 0.4, 0.15]))
    unit_len, depth, (u_lo, u_hi) = _TOWER[per_floor]
    units = int(rng.integers(u_lo, u_hi + 1))
    floors = int(rng.integers(18, 34))
    stilt = bool(rng.random() < stilts)
    shape = _box_of(units * unit_len, depth)
    per = _floors(per_floor, floors, empty_ground=stilt)
    return _Piece(shape, [per] * units, f"{number}栋", "residential", "tower", uneven=stilt)


def _walk_up(rng: np.random.Generator, number: int, *, shops: float = 0.0) -> _Piece:
    units = int(rng.integers(2, 4))
    floors = int(rng.integers(5, 8))
    shop = bool(rng.random() < shops)
    unit_len, depth = float(rng.uniform(13, 15)), float(rng.uniform(10, 12))
    per = _floors(2, floors, empty_ground=shop)
    use = "mixed" if shop else "residential"
    return _Piece(
        _box_of(units * unit_len, depth), [per] * units, f"{number}栋", use, "walk_up", shop
    )


def _box_of(length: float, depth: float) -> Polygon:
    """A box of ``length`` (x) by ``depth`` (y) at the origin (moved into place later)."""
    return shapely.box(0.0, 0.0, length, depth)


def _empty(shape: Polygon, name: str, use: str, label: str, floors: int = 1) -> _Piece:
    return _Piece(shape, [(0,) * floors], name, use, label)


def _placed(pieces: Sequence[_Piece], corners: Sequence[tuple[float, float]]) -> list[_Piece]:
    """``pieces`` (drawn at the origin) moved to ``corners``."""
    out = []
    for p, (x, y) in zip(pieces, corners, strict=True):
        moved = _translate(p.footprint, x, y)
        out.append(_Piece(moved, p.units, p.name, p.use, p.label, p.uneven))
    return out


def _translate(geom, dx: float, dy: float):
    """``geom`` moved by (dx, dy), rigidly."""
    return shapely.transform(geom, lambda c: c + np.array([dx, dy]))


def _extent(p: _Piece) -> tuple[float, float]:
    x0, y0, x1, y1 = p.footprint.bounds
    return (x1 - x0, y1 - y0)


# --- high_rise ------------------------------------------------------------------------------
_HIGH_RISE_NAMES = ["锦绣花园", "天府名居", "蓝湾国际", "翠堤春晓", "金域蓝湾", "望江名门"]


def _draft_high_rise(rng: np.random.Generator, scale: float) -> list[_Draft]:
    n = max(1, round(int(rng.integers(3, 6)) * scale))
    return [_high_rise_compound(rng, _name(_HIGH_RISE_NAMES, i)) for i in range(n)]


def _high_rise_compound(rng: np.random.Generator, name: str) -> _Draft:
    margin, width = 12.0, float(rng.uniform(160, 240))
    towers = [_tower(rng, i + 1) for i in range(int(rng.integers(4, 11)))]
    # the gate strip: substation, guard house, garage ramps
    service = [
        _empty(_box_of(8, 6), "配电房", "public", "substation"),
        _empty(_box_of(5, 4), "门卫室", "public", "guard_house"),
    ] + [
        _empty(_box_of(12, 6), f"地库出入口{k + 1}", "public", "garage_ramp")
        for k in range(int(rng.integers(1, 3)))
    ]
    s_corners, s_top = _pack(
        [_extent(p) for p in service],
        width=width - 2 * margin,
        x0=margin,
        y0=margin,
        gap_x=(10, 20),
        gap_y=(4, 4),
        rng=rng,
        per_row=len(service),
    )
    t_corners, top = _pack(
        [_extent(p) for p in towers],
        width=width - 2 * margin,
        x0=margin,
        y0=s_top + 16,
        gap_x=(18, 26),
        gap_y=(32, 45),
        rng=rng,
    )
    pieces = _placed(service, s_corners) + _placed(towers, t_corners)
    return _Draft(name, width, top + margin, pieces)


# --- walk_up --------------------------------------------------------------------------------
def _draft_walk_up(rng: np.random.Generator, scale: float) -> list[_Draft]:
    n = max(1, round(int(rng.integers(12, 19)) * scale))
    return [_courtyard(rng, f"老旧院落{i + 1}号院") for i in range(n)]


def _courtyard(rng: np.random.Generator, name: str) -> _Draft:
    margin = float(rng.uniform(6, 8))
    blocks = [_walk_up(rng, i + 1) for i in range(int(rng.integers(2, 7)))]
    sizes = [_extent(p) for p in blocks]
    per_row = int(rng.integers(1, 3))
    rows = [sizes[i : i + per_row] for i in range(0, len(sizes), per_row)]
    inner = max(sum(s[0] for s in row) + 10 * (len(row) - 1) for row in rows)
    corners, top = _pack(
        sizes,
        width=inner,
        x0=margin,
        y0=margin,
        gap_x=(8, 10),
        gap_y=(12, 18),
        rng=rng,
        per_row=per_row,
    )
    pieces = _placed(blocks, corners)
    extras = [_empty(_box_of(float(rng.uniform(10, 16)), 3.5), "车棚", "public", "shed")]
    if rng.random() < 0.3:
        extras.append(_empty(_box_of(6, 5), "锅炉房", "public", "boiler_room"))
    if extras:
        e_corners, top = _pack(
            [_extent(p) for p in extras],
            width=max(inner, 30),
            x0=margin,
            y0=top + 6,
            gap_x=(4, 6),
            gap_y=(4, 4),
            rng=rng,
            per_row=len(extras),
        )
        pieces += _placed(extras, e_corners)
    width = max(inner, sum(_extent(p)[0] + 6 for p in extras)) + 2 * margin
    height = top + margin
    path = LineString([(margin / 2, 0.0), (margin / 2, height - margin / 2)])  # from the gate
    return _Draft(name, width, height, pieces, [path])


# --- villa ----------------------------------------------------------------------------------
_VILLA_NAMES = ["麓湖别墅", "青城山语", "紫薇花园", "香颂湖"]


def _draft_villa(rng: np.random.Generator, scale: float) -> list[_Draft]:
    n = max(1, round(int(rng.integers(2, 4)) * scale))
    return [
        _villa_compound(rng, _name(_VILLA_NAMES, i), int(rng.integers(30, 201))) for i in range(n)
    ]


def _villa_compound(rng: np.random.Generator, name: str, houses: int) -> _Draft:
    margin, lane_w, fence = 5.0, 6.0, 2.0
    plot_w, plot_d = float(rng.uniform(18, 24)), float(rng.uniform(22, 28))
    band = 2 * plot_d + lane_w
    per_row = int(np.clip(round(math.sqrt(houses * band / (2 * plot_w))), 5, 14))
    rows = math.ceil(houses / per_row)
    sizes = [houses // rows + (1 if r < houses % rows else 0) for r in range(rows)]  # even
    bands = math.ceil(rows / 2)
    x_plots = margin + lane_w + fence  # west of the plots: the spine lane
    spine_x = margin + lane_w / 2
    pieces: list[_Piece] = []
    lanes: list[LineString] = []
    for b in range(bands):
        y = margin + b * (band + fence)
        lane_y = y + plot_d + lane_w / 2
        served = sizes[2 * b : 2 * b + 2]  # the south row and (unless the last) the north row
        lanes.append(LineString([(spine_x, lane_y), (x_plots + max(served) * plot_w, lane_y)]))
        for (side, plot_y), n in zip(((-1, y), (1, y + plot_d + lane_w)), served, strict=False):
            for k in range(n):
                plot = (x_plots + k * plot_w, plot_y, plot_w, plot_d)
                pieces.append(_villa(rng, plot, facing=side, number=len(pieces) + 1))
    width = x_plots + per_row * plot_w + margin
    height = margin + bands * band + (bands - 1) * fence + margin
    lanes.append(LineString([(spine_x, 0.0), (spine_x, lanes[-1].coords[0][1])]))  # the spine
    return _Draft(name, width, height, pieces, lanes)


def _villa(
    rng: np.random.Generator, plot: tuple[float, float, float, float], *, facing: int, number: int
) -> _Piece:
    """A detached house in its plot (x, y, width, depth), set back 4–6 m from the lane on the
    side it faces (-1: the lane is north of the plot; 1: south)."""
    px, py, pw, pd = plot
    w, d = float(rng.uniform(10, 14)), float(rng.uniform(11, 15))
    setback = float(rng.uniform(4, 6))
    x = px + (pw - w) / 2 + float(rng.uniform(-1, 1))
    y = py + pd - setback - d if facing == -1 else py + setback
    shape = shapely.box(x, y, x + w, y + d)
    garden = pd - setback - d
    if garden >= 4 and rng.random() < 0.3:  # an L: a wing on the garden side
        wing_d = float(rng.uniform(2.5, min(5.0, garden - 1)))
        h = w * 0.5
        if facing == -1:  # the wing below the house
            ring = [(x, y - wing_d), (x + h, y - wing_d), (x + h, y), (x + w, y), (x + w, y + d)]
            ring.append((x, y + d))
        else:
            ring = [(x, y), (x + w, y), (x + w, y + d), (x + h, y + d), (x + h, y + d + wing_d)]
            ring.append((x, y + d + wing_d))
        shape = Polygon(ring)
    floors = int(rng.integers(2, 4))
    per = (1,) + (0,) * (floors - 1)  # one household, living on every floor
    return _Piece(shape, [per], f"{number}号", "residential", "villa")


# --- urban_village --------------------------------------------------------------------------
_VILLAGE_NAMES = ["石羊村", "簇桥村", "金花村", "永丰村"]
_MAX_TILT = 0.1  # radians (about 5.7 degrees)


def _draft_urban_village(rng: np.random.Generator, scale: float) -> list[_Draft]:
    total = max(30, round(float(rng.uniform(580, 720)) * scale))
    sizes: list[int] = []
    while total > 0:
        n = int(rng.integers(400, 461)) if not sizes else int(rng.integers(150, 321))
        if total - n < 60:
            n = total
        sizes.append(n)
        total -= n
    return [_village(rng, _name(_VILLAGE_NAMES, i), n) for i, n in enumerate(sizes)]


def _village(rng: np.random.Generator, name: str, houses: int) -> _Draft:
    """Back-to-back rows of houses between east-west lanes, cut by cross lanes."""
    width = float(np.clip(math.sqrt(135 * houses) * rng.uniform(0.8, 1.25), 50, 500))
    margin = 1.5
    pieces: list[_Piece] = []
    bands: list[tuple[float, float, list[float]]] = []  # (bottom, top, cross-lane x) per band
    lane_ys: list[float] = []
    y = margin
    while len(pieces) < houses:
        if bands:  # an east-west lane below this band
            lane_w = float(rng.uniform(2, 4))
            lane_ys.append(y + lane_w / 2)
            y += lane_w
        segments, cross = _segments(rng, margin, width - margin)
        bottom, first = y, len(pieces)
        for _row in range(2):
            if len(pieces) == houses:
                break
            depth = float(rng.uniform(9, 13))
            for x0, x1 in segments:
                pieces += _village_row(
                    rng, (x0, y, x1, y + depth), houses - len(pieces), len(pieces)
                )
            y += depth
        # the last band may stop short: no cross lane beyond its last house
        reach = max(p.footprint.bounds[2] for p in pieces[first:])
        bands.append((bottom, y, [x for x in cross if x < reach]))
    _public_toilets(rng, pieces)
    height = y + margin
    lanes = [LineString([(0.0, ly), (width, ly)]) for ly in lane_ys]
    edges = [0.0, *lane_ys, height]
    for i, (_b, _t, cross) in enumerate(bands):
        lanes += [LineString([(x, edges[i]), (x, edges[i + 1])]) for x in cross]
    return _Draft(name, width, height, pieces, lanes)


def _segments(
    rng: np.random.Generator, x0: float, x1: float
) -> tuple[list[tuple[float, float]], list[float]]:
    """Stretches of 25–60 m between cross lanes 2–3 m wide; and the lanes' centre-lines."""
    segments, cross = [], []
    x = x0
    while x < x1:
        end = min(x + float(rng.uniform(25, 60)), x1)
        if x1 - end < 15:
            end = x1
        segments.append((x, end))
        if end < x1:
            w = float(rng.uniform(2, 3))
            cross.append(end + w / 2)
            end += w
        x = end
    return segments, cross


def _village_row(
    rng: np.random.Generator, bounds: tuple[float, float, float, float], left: int, done: int
) -> list[_Piece]:
    """Houses side by side in plots filling ``bounds`` (at most ``left`` of them), each
    rotated a little and kept 0.25–0.5 m inside its plot."""
    x0, y0, x1, y1 = bounds
    depth = y1 - y0
    out: list[_Piece] = []
    x = x0
    while len(out) < left:
        gap = float(rng.uniform(0.25, 0.5))
        tilt = float(rng.uniform(-_MAX_TILT, _MAX_TILT))
        c, s = abs(math.cos(tilt)), abs(math.sin(tilt))
        w = float(rng.uniform(7, 12.5))
        d = (depth - 2 * gap - w * s) / c * float(rng.uniform(0.85, 1.0))
        d = min(d, 149.0 / w)  # footprints of at most 150 m²
        plot_w = w * c + d * s + 2 * gap
        if x + plot_w > x1:
            break
        slack = (depth - 2 * gap - (w * s + d * c)) / 2
        cx, cy = x + plot_w / 2, y0 + depth / 2 + float(rng.uniform(-slack, slack))
        out.append(_house(rng, _rectangle(cx, cy, w, d, tilt), done + len(out) + 1))
        x += plot_w
    return out


def _rectangle(cx: float, cy: float, w: float, d: float, tilt: float) -> Polygon:
    c, s = math.cos(tilt), math.sin(tilt)
    corners = [(-w / 2, -d / 2), (w / 2, -d / 2), (w / 2, d / 2), (-w / 2, d / 2)]
    return Polygon([(cx + c * u - s * v, cy + s * u + c * v) for u, v in corners])


def _public_toilets(rng: np.random.Generator, pieces: list[_Piece]) -> None:
    """One house in every 150 (at least one) made a public toilet, in place."""
    for i in rng.choice(len(pieces), size=max(1, len(pieces) // 150), replace=False):
        p = pieces[int(i)]
        pieces[int(i)] = _empty(p.footprint, f"{p.name}公厕", "public", "toilet")


def _house(rng: np.random.Generator, shape: Polygon, number: int) -> _Piece:
    """A self-built house: one unit of 2–10 households, or (6%) a shed of none."""
    if rng.random() < 0.06:
        label, name, use = [
            ("shed", "杂物间", "residential"),
            ("warehouse", "仓库", "commercial"),
            ("toilet", "公厕", "public"),
        ][int(rng.integers(0, 3))]
        return _empty(shape, f"{number}号{name}", use, label, floors=int(rng.integers(1, 3)))
    floors = int(rng.choice([2, 3, 4, 5, 6], p=[0.1, 0.25, 0.3, 0.25, 0.1]))
    shop = floors >= 3 and bool(rng.random() < 0.25)
    living = floors - shop
    households = int(np.clip(round(shape.area * living / float(rng.uniform(30, 55))), 2, 10))
    base, extra = divmod(households, living)
    upper = [base + (1 if f < extra else 0) for f in range(living)]
    per = tuple([0] * shop + upper)
    return _Piece(shape, [per], f"{number}号", "mixed" if shop else "residential", "house", shop)


# --- mixed ----------------------------------------------------------------------------------
def _draft_mixed(rng: np.random.Generator, scale: float) -> list[_Draft]:
    n = max(1, round(scale))
    drafts = [_mixed_compound(rng, f"混合小区{i + 1}") for i in range(n)]
    return [*drafts, _school(rng)]


def _mixed_compound(rng: np.random.Generator, name: str) -> _Draft:
    margin = 8.0
    shops = [_shop(rng, k + 1) for k in range(int(rng.integers(8, 13)))]
    towers = [_tower(rng, k + 1, stilts=0.5) for k in range(int(rng.integers(1, 3)))]
    walk_ups = [
        _walk_up(rng, len(towers) + k + 1, shops=0.5) for k in range(int(rng.integers(3, 7)))
    ]
    sub = _empty(_box_of(8, 6), "配电房", "public", "substation")
    front = sum(_extent(p)[0] + 2 for p in shops)
    longest = max(_extent(p)[0] for p in towers + walk_ups)
    width = max(float(rng.uniform(200, 260)), front + 2 * margin, longest + 2 * margin)
    inner = width - 2 * margin
    s_corners, top = _pack(
        [_extent(p) for p in shops],
        width=inner,
        x0=margin,
        y0=margin,
        gap_x=(0.5, 2),
        gap_y=(3, 3),
        rng=rng,
        per_row=len(shops),
    )
    rest = [*towers, *walk_ups, sub]
    r_corners, top = _pack(
        [_extent(p) for p in rest],
        width=inner,
        x0=margin,
        y0=top + 14,
        gap_x=(14, 20),
        gap_y=(18, 26),
        rng=rng,
    )
    pieces = _placed(shops, s_corners) + _placed(rest, r_corners)
    return _Draft(name, width, top + margin, pieces)


def _shop(rng: np.random.Generator, number: int) -> _Piece:
    shape = _box_of(float(rng.uniform(8, 14)), float(rng.uniform(10, 12)))
    return _empty(shape, f"商铺{number}", "commercial", "shop", floors=int(rng.integers(1, 3)))


def _school(rng: np.random.Generator) -> _Draft:
    """A school's grounds (no compound): two teaching blocks and a gym by a sports ground."""
    width, height = float(rng.uniform(120, 140)), float(rng.uniform(95, 110))
    blocks = [
        _empty(_box_of(60, 16), "教学楼", "public", "school", floors=5),
        _empty(_box_of(40, 14), "综合楼", "public", "school", floors=4),
        _empty(_box_of(30, 24), "体育馆", "public", "school", floors=2),
    ]
    corners = [(8.0, height - 24.0), (8.0, height - 50.0), (width - 38.0, 8.0)]
    return _Draft("学校", width, height, _placed(blocks, corners), compound=False)


# --- the community: drafts in rows between roads ---------------------------------------------
@dataclass
class _Frame:
    width: float
    height: float
    corners: list[tuple[float, float]]  # of each draft
    roads: list[tuple[str, LineString]]


def _arrange(
    drafts: Sequence[_Draft], *, between: float, street_front: float | None = None
) -> _Frame:
    """Drafts in rows (wrapping at about the square root of their area); branch roads between
    rows, roads or lanes (``between`` wide) between drafts of a row; the edge roads on the
    community's boundary (primary south, secondary elsewhere); with ``street_front`` (a length),
    a strip that long for shops between the south road and the first row."""
    area = sum((d.width + between) * (d.height + _ROAD_GAP) for d in drafts)
    row_width = max(max(d.width for d in drafts), math.sqrt(area) * 1.15)
    south = _EDGE_MARGIN["primary"] + (_SHOP_STRIP if street_front is not None else 0.0)
    west = _EDGE_MARGIN["secondary"]
    rows: list[list[int]] = [[]]
    x = west
    for i, d in enumerate(drafts):
        if rows[-1] and x + d.width > west + row_width:
            rows.append([])
            x = west
        rows[-1].append(i)
        x += d.width + between
    corners: list[tuple[float, float]] = [(0.0, 0.0)] * len(drafts)
    row_spans, y = [], south
    for row in rows:
        x = west
        for i in row:
            corners[i] = (x, y)
            x += drafts[i].width + between
        top = y + max(drafts[i].height for i in row)
        row_spans.append((y, top))
        y = top + _ROAD_GAP
    width = (
        max(
            max(corners[r[-1]][0] + drafts[r[-1]].width for r in rows),
            west + (street_front or 0.0),
        )
        + _EDGE_MARGIN["secondary"]
    )
    height = row_spans[-1][1] + _EDGE_MARGIN["secondary"]
    roads = _edge_roads(width, height)
    mids = [0.0] + [(a[1] + b[0]) / 2 for a, b in itertools.pairwise(row_spans)]
    mids.append(height)
    kind = LANE if between < _ROAD_GAP else "branch"
    for r, row in enumerate(rows):
        if r:
            roads.append(("branch", LineString([(0.0, mids[r]), (width, mids[r])])))
        for i in row[:-1]:
            xm = corners[i][0] + drafts[i].width + between / 2
            roads.append((kind, LineString([(xm, mids[r]), (xm, mids[r + 1])])))
    return _Frame(width, height, corners, roads)


def _edge_roads(width: float, height: float, over: float = 30.0) -> list[tuple[str, LineString]]:
    return [
        ("primary", LineString([(-over, 0.0), (width + over, 0.0)])),
        ("secondary", LineString([(-over, height), (width + over, height)])),
        ("secondary", LineString([(0.0, -over), (0.0, height + over)])),
        ("secondary", LineString([(width, -over), (width, height + over)])),
    ]


def _street_shops(rng: np.random.Generator, drafts: Sequence[_Draft]) -> list[_Piece]:
    """Shops in a row from the origin, 10–11 m deep, as many as make 20–30 shops in all (per
    mixed compound) with those inside the compounds: they go along the south road, outside
    every compound (the community is made wide enough for them)."""
    inside = sum(p.label == "shop" for d in drafts for p in d.pieces)
    wanted = sum(int(rng.integers(20, 31)) for d in drafts if d.compound) - inside
    shops, x = [], 0.0
    for k in range(max(wanted, 0)):
        length = float(rng.uniform(8, 14))
        shape = shapely.box(x, 0.0, x + length, float(rng.uniform(10, 11)))
        floors = int(rng.integers(1, 3))
        shops.append(_empty(shape, f"商铺{inside + k + 1}", "commercial", "shop", floors))
        x += length + float(rng.uniform(0.5, 3))
    return shops


# --- assembling: codes, ids, absolute coordinates ---------------------------------------------
def _assemble(
    code: str,
    kind: str,
    frame: _Frame,
    drafts: Sequence[_Draft],
    street_shops: Sequence[_Piece],
    origin: tuple[float, float],
) -> Layout:
    ox, oy = origin

    def move(g, dx: float = 0.0, dy: float = 0.0):
        return _translate(g, ox + dx, oy + dy)

    compounds: list[CompoundIn] = []
    buildings: list[BuildingIn] = []
    info: dict[str, BuildingInfo] = {}
    lanes: list[tuple[str, LineString]] = []
    ids = iter(range(1, 10**9))
    outside: list[tuple[_Piece, float, float]] = [(p, 0.0, 0.0) for p in street_shops]
    for d, (dx, dy) in zip(drafts, frame.corners, strict=True):
        if not d.compound:
            outside += [(p, dx, dy) for p in d.pieces]
            continue
        ccode = f"{code}-C{len(compounds) + 1:02d}"
        compounds.append(
            CompoundIn(ccode, d.name, move(shapely.box(0, 0, d.width, d.height), dx, dy))
        )
        lanes += [(LANE, move(line, dx, dy)) for line in d.lanes]
        for j, p in enumerate(d.pieces, 1):
            bcode = f"{ccode}-B{j:03d}"
            buildings.append(BuildingIn(bcode, move(p.footprint, dx, dy), ccode, _units(p, ids)))
            info[bcode] = BuildingInfo(p.name, p.use, p.label)
    for j, (p, dx, dy) in enumerate(outside, 1):
        bcode = f"{code}-S{j:03d}"
        buildings.append(BuildingIn(bcode, move(p.footprint, dx, dy), None, _units(p, ids)))
        info[bcode] = BuildingInfo(p.name, p.use, p.label)
    boundary = move(shapely.box(0, 0, frame.width, frame.height))
    roads = [(k, move(line)) for k, line in frame.roads] + lanes
    name = f"{LAYOUT_NAMES[kind]}样例社区"
    return Layout(code, kind, name, boundary, compounds, buildings, roads, info)


def _units(p: _Piece, ids) -> tuple[UnitIn, ...]:
    return tuple(
        UnitIn(next(ids), n, len(per), sum(per), per if p.uneven else None)
        for n, per in enumerate(p.units, 1)
    )


def _name(names: Sequence[str], i: int) -> str:
    return names[i % len(names)] + (f"{i // len(names) + 1}期" if i >= len(names) else "")


_DRAFTERS = {
    "high_rise": _draft_high_rise,
    "walk_up": _draft_walk_up,
    "villa": _draft_villa,
    "urban_village": _draft_urban_village,
    "mixed": _draft_mixed,
}


# --- import files -------------------------------------------------------------------------------
def write_layout_files(
    layout: Layout,
    folder: str | Path,
    *,
    driver: str = "GPKG",
    households: bool = True,
    street: dict[str, str] | None = None,
) -> dict[str, Path]:
    """Write ``layout`` as the files ``wangge import`` takes, one per kind, in EPSG:4544.

    Parameters
    ----------
    layout : Layout
    folder : path
        Created if missing; files are named ``<kind>.gpkg`` (or ``.geojson``).
    driver : {"GPKG", "GeoJSON"}
    households : bool
        Also write one household per room (floor by floor, as the units' ``per_floor`` says),
        at a point inside its building, so that the stored floors match the layout's.
    street : dict, optional
        ``street_code``, ``street_name``, ``district`` (and ``city``) of the community;
        default :data:`STREET`.

    Returns
    -------
    dict of str to Path
        By import kind, in import order: communities, compounds, buildings, households,
        roads.
    """
    import geopandas as gpd

    suffix = {"GPKG": ".gpkg", "GeoJSON": ".geojson"}.get(driver)
    if suffix is None:
        raise ValueError(f"unknown driver {driver!r}; expected GPKG or GeoJSON")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tables = _tables(layout, street or STREET, households=households)
    out: dict[str, Path] = {}
    for kind, rows in tables.items():
        path = folder / f"{kind}{suffix}"
        path.unlink(missing_ok=True)
        frame = gpd.GeoDataFrame(rows, geometry="geometry", crs=CRS)
        frame.to_file(path, driver=driver, layer=kind, engine="pyogrio")
        out[kind] = path
    return out


def _tables(layout: Layout, street: dict[str, str], *, households: bool) -> dict[str, list[dict]]:
    code = layout.code
    tables: dict[str, list[dict]] = {
        "communities": [{"code": code, "name": layout.name, **street, "geometry": layout.boundary}],
        "compounds": [
            {"code": c.code, "name": c.name, "community_code": code, "geometry": c.boundary}
            for c in layout.compounds
        ],
        "buildings": [_building_row(layout, b) for b in layout.buildings],
    }
    if households:
        tables["households"] = [row for b in layout.buildings for row in _household_rows(b)]
    counter: dict[str, int] = {}
    tables["roads"] = []
    for n, (kind, line) in enumerate(layout.roads, 1):
        counter[kind] = counter.get(kind, 0) + 1
        name = f"{_ROAD_NAMES[kind]}{counter[kind]}"
        tables["roads"].append(
            {"code": f"{code}-R{n:03d}", "name": name, "kind": kind, "geometry": line}
        )
    return {k: v for k, v in tables.items() if v}


def _building_row(layout: Layout, b: BuildingIn) -> dict[str, Any]:
    info = layout.info.get(b.code) or BuildingInfo(b.code, "residential", "building")
    return {
        "code": b.code,
        "name": info.name,
        "community_code": layout.code,
        "compound_code": b.compound,
        "use": info.use,
        "floors": max(u.floors for u in b.units),
        "units": len(b.units),
        "households": b.households,
        "unit_households": ",".join(str(u.households) for u in b.units),
        "geometry": b.footprint,
    }


def _household_rows(b: BuildingIn) -> list[dict[str, Any]]:
    rows = []
    for u, at in zip(b.units, unit_points(b), strict=True):
        for floor, n in enumerate(floor_counts(u), 1):
            for k in range(1, n + 1):
                room = f"{floor}{k:02d}"
                rows.append(
                    {
                        "code": f"{b.code}-U{u.unit_no}-{room}",
                        "building_code": b.code,
                        "unit_no": u.unit_no,
                        "floor": floor,
                        "room": room,
                        "members": 1 + (k + floor) % 4,
                        "geometry": at,
                    }
                )
    return rows


def unit_points(b: BuildingIn) -> list[shapely.Point]:
    """A point for each unit of ``b``: units stand side by side along the footprint's long
    axis (unit 1 at the west or south end), each over a length in proportion to its
    households, as the partitioner slices footprints; a point that falls outside an
    irregular footprint is moved to the nearest point of it."""
    if len(b.units) == 1:
        return [shapely.point_on_surface(b.footprint)]
    ring = np.asarray(shapely.oriented_envelope(b.footprint).exterior.coords)[:4]
    e1, e2 = ring[1] - ring[0], ring[2] - ring[1]
    axis = e1 if np.hypot(*e1) >= np.hypot(*e2) else e2
    u = axis / np.hypot(*axis)
    if u[0] < -1e-12 or (abs(u[0]) <= 1e-12 and u[1] < 0):
        u = -u  # east (or north)
    centre = ring.mean(axis=0)
    t = (ring - centre) @ u
    w = np.array([max(x.households, 1e-6) for x in b.units], dtype=float)
    mids = t.min() + (t.max() - t.min()) * (np.cumsum(w) - w / 2) / w.sum()
    points = shapely.points(centre + mids[:, None] * u)
    inside = shapely.contains_properly(b.footprint, points)
    snapped = shapely.line_interpolate_point(
        b.footprint.exterior, shapely.line_locate_point(b.footprint.exterior, points)
    )
    return list(np.where(inside, points, snapped))
