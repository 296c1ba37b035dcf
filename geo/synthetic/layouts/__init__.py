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

import math
from typing import Any

import numpy as np

from geo.synthetic.layouts.community import (
    LANE_GAP,
    ROAD_GAP,
    STREET_SHOPS_AT,
    arrange,
    assemble,
)
from geo.synthetic.layouts.drawing import placed
from geo.synthetic.layouts.files import unit_points, write_layout_files
from geo.synthetic.layouts.high_rise import draft_high_rise
from geo.synthetic.layouts.mixed import draft_mixed, street_shops
from geo.synthetic.layouts.model import (
    BUILDING_USES,
    CRS,
    KIND_PITCH,
    LAYOUT_KINDS,
    LAYOUT_NAMES,
    ORIGIN,
    ROAD_KINDS,
    STREET,
    BuildingInfo,
    Layout,
    floor_counts,
)
from geo.synthetic.layouts.urban_village import draft_urban_village
from geo.synthetic.layouts.villa import draft_villa
from geo.synthetic.layouts.walk_up import draft_walk_up

__all__ = [
    "BUILDING_USES",
    "CRS",
    "KIND_PITCH",
    "LAYOUT_KINDS",
    "LAYOUT_NAMES",
    "ORIGIN",
    "ROAD_KINDS",
    "STREET",
    "BuildingInfo",
    "Layout",
    "floor_counts",
    "make_layout",
    "unit_points",
    "write_layout_files",
]

# each class drafts its compounds (and sites) in their own frames: geo.synthetic.layouts.<kind>
_DRAFTERS = {
    "high_rise": draft_high_rise,
    "walk_up": draft_walk_up,
    "villa": draft_villa,
    "urban_village": draft_urban_village,
    "mixed": draft_mixed,
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
    street = street_shops(rng, drafts) if kind == "mixed" else []
    front = max((p.footprint.bounds[2] for p in street), default=None)
    frame = arrange(drafts, between=LANE_GAP if kind == "walk_up" else ROAD_GAP, street_front=front)
    street = placed(street, [STREET_SHOPS_AT] * len(street))
    if origin is None:
        origin = (ORIGIN[0] + index * KIND_PITCH, ORIGIN[1])
    return assemble(code or f"LAY-{kind.upper()}-{seed}", kind, frame, drafts, street, origin)


def _check_arguments(kind: Any, seed: Any, scale: Any) -> None:
    if kind not in LAYOUT_KINDS:
        raise ValueError(f"unknown layout kind {kind!r}; expected one of {', '.join(LAYOUT_KINDS)}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    number = isinstance(scale, int | float | np.number) and not isinstance(scale, bool)
    if not (number and math.isfinite(scale) and 0 < scale <= 50):
        raise ValueError(f"scale must be a number in (0, 50], got {scale!r}")
