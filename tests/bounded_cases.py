"""Hand-made worst cases for the partitioner, run one per process under an address-space cap
by ``tests/test_partition_bounds.py``: ``python -m tests.bounded_cases CASE`` prints one JSON
line (time, peak resident memory, the summary, the validator's errors).

Each case is a layout real data has and our generator never made: many tiny units (villas,
an urban village), units all touching, a tower among shops, a tall single-unit tower, a
floor over the maximum. Coordinates are metres (any metric CRS: the partitioner is pure).
"""

from __future__ import annotations

import itertools
import json
import resource
import sys
import time
from collections.abc import Callable

import numpy as np
import shapely
from shapely.geometry import LineString, box

from geo.core.validate import UnitRecord, validate_grids
from geo.partition import BuildingIn, CompoundIn, UnitIn, partition_community

_ids = itertools.count(1)


def _house(code: str, x: float, y: float, w: float, d: float, households: int, floors: int = 2):
    unit = UnitIn(next(_ids), 1, floors, households)
    return BuildingIn(code, box(x, y, x + w, y + d), "C1", (unit,))


def villas_in_a_row() -> tuple[list, list, list]:
    """120 one-household villas in one row, 10 m wide with 4 m gaps, a lane in front."""
    bs = [_house(f"V{i:03d}", 14.0 * i, 10, 10, 12, 1, floors=3) for i in range(120)]
    comp = CompoundIn("C1", "别墅区", box(-6, 0, 14 * 120 + 2, 40))
    lane = LineString([(-6, 5), (14 * 120 + 2, 5)])
    return [comp], bs, [lane]


def urban_village() -> tuple[list, list, list]:
    """400 self-built houses of 2-10 households (1 unit each), irregular sizes, slightly
    rotated, in blocks of 5 x 5 between lanes 3 m wide."""
    rng = np.random.default_rng(7)
    bs, lanes = [], []
    pitch, lane = 11.0, 3.0
    side = 20
    span = side * pitch + (side // 5) * lane
    for i in range(side):
        for j in range(side):
            x0 = j * pitch + (j // 5) * lane
            y0 = i * pitch + (i // 5) * lane
            w, d = rng.uniform(6.5, 9.5), rng.uniform(6.5, 9.5)
            fp = shapely.affinity.rotate(box(x0, y0, x0 + w, y0 + d), rng.uniform(-6, 6))
            unit = UnitIn(next(_ids), 1, int(rng.integers(2, 6)), int(rng.integers(2, 11)))
            bs.append(BuildingIn(f"H{i:02d}{j:02d}", fp, "C1", (unit,)))
    for k in range(1, side // 5):
        at = k * 5 * pitch + (k - 1) * lane + lane / 2 - 1.0
        lanes += [LineString([(at, -3), (at, span)]), LineString([(-3, at), (span, at)])]
    comp = CompoundIn("C1", "城中村", box(-3, -3, span, span))
    return [comp], bs, lanes


def all_touching() -> tuple[list, list, list]:
    """200 one-household units whose footprints all touch (a 10 x 20 grid with no gaps)."""
    bs = [_house(f"T{i:03d}", 8.0 * (i % 20), 8.0 * (i // 20), 8.0, 8.0, 1) for i in range(200)]
    comp = CompoundIn("C1", "连排", box(-5, -5, 165, 85))
    return [comp], bs, []


def square_of_small_units() -> tuple[list, list, list]:
    """32 houses of 2 households in 4 rows of 8: the exact search built its millions of
    candidate groups before counting them (49 s and 2.1 GB resident before this was fixed;
    30 houses: 11 s, 844 MB)."""
    bs = [_house(f"S{i:02d}", 14.0 * (i % 8), 14.0 * (i // 8), 10, 10, 2) for i in range(32)]
    comp = CompoundIn("C1", "老旧院落", box(-5, -5, 113, 61))
    return [comp], bs, []


def tower_among_shops() -> tuple[list, list, list]:
    """A tower of 2 units of 100 households among 30 shops (no households) and a school."""
    tower = BuildingIn(
        "TOWER",
        box(90, 90, 130, 110),
        "C1",
        (UnitIn(next(_ids), 1, 25, 100), UnitIn(next(_ids), 2, 25, 100)),
    )
    shops = [
        BuildingIn(
            f"SHOP{i:02d}",
            box(
                10 + 13.0 * (i % 15),
                10 + 180 * (i // 15),
                20 + 13.0 * (i % 15),
                22 + 180 * (i // 15),
            ),
            "C1",
            (UnitIn(next(_ids), 1, 1, 0),),
        )
        for i in range(30)
    ]
    school = BuildingIn("SCHOOL", box(20, 80, 60, 130), "C1", (UnitIn(next(_ids), 1, 3, 0),))
    comp = CompoundIn("C1", "混合小区", box(0, 0, 210, 210))
    return [comp], [tower, school, *shops], []


def tall_single_unit_tower() -> tuple[list, list, list]:
    """One 30-floor unit of 4 households a floor (120): three floor groups on one cell."""
    tower = BuildingIn("T30", box(40, 40, 60, 60), "C1", (UnitIn(next(_ids), 1, 30, 120),))
    comp = CompoundIn("C1", "高层", box(0, 0, 100, 100))
    return [comp], [tower], []


def floor_over_the_maximum() -> tuple[list, list, list]:
    """A unit whose ground floor holds 60 households (a dormitory floor): reported, never an
    error; the floors above are split as usual."""
    unit = UnitIn(next(_ids), 1, 5, 140, per_floor=(60, 20, 20, 20, 20))
    dorm = BuildingIn("DORM", box(40, 40, 80, 60), "C1", (unit,))
    comp = CompoundIn("C1", "宿舍", box(0, 0, 120, 100))
    return [comp], [dorm], []


def row_of_walk_up_units() -> tuple[list, list, list]:
    """200 walk-up units of 25 or 26 households in one row: no three fit in a micro-grid, a
    unit of 26 can join nobody. The bisection once built every (cut, k, u) combination of
    its cut lists: 55 s here."""
    rng = np.random.default_rng(1)
    bs = [
        _house(f"W{i:03d}", 16.0 * i, 10, 12, 12, 26 if rng.random() < 0.5 else 25, floors=6)
        for i in range(200)
    ]
    comp = CompoundIn("C1", "一排老旧院落", box(-5, 0, 16 * 200 + 2, 32))
    return [comp], bs, []


def villas_with_garages() -> tuple[list, list, list]:
    """1,000 villas, each with a garage behind it, the garages in one joined row: every pair
    of villas touching that run of garages (no households) used to be linked (500,000
    links; 3,000 villas: 4.5 million, over 1 GB)."""
    bs = []
    for i in range(1000):
        x, y = 12.0 * (i % 50), 30.0 * (i // 50)
        bs.append(_house(f"V{i:04d}", x, y, 10, 10, 1))
        bs.append(_house(f"G{i:04d}", x, y + 11, 12, 6, 0, floors=1))  # the garages touch
    comp = CompoundIn("C1", "别墅区", box(-5, -5, 12 * 50 + 5, 30 * 20 + 5))
    return [comp], bs, []


CASES: dict[str, Callable[[], tuple[list, list, list]]] = {
    "row_of_walk_up_units": row_of_walk_up_units,
    "villas_with_garages": villas_with_garages,
    "villas_in_a_row": villas_in_a_row,
    "urban_village": urban_village,
    "all_touching": all_touching,
    "square_of_small_units": square_of_small_units,
    "tower_among_shops": tower_among_shops,
    "tall_single_unit_tower": tall_single_unit_tower,
    "floor_over_the_maximum": floor_over_the_maximum,
}


def run(name: str) -> dict:
    compounds, buildings, ways = CASES[name]()
    boundary = shapely.union_all([c.boundary for c in compounds]).envelope
    t0 = time.perf_counter()
    res = partition_community("T", boundary, compounds, buildings, ways=ways)
    seconds = time.perf_counter() - t0
    units = {
        u.id: UnitRecord(u.id, b.code, u.unit_no, u.floors, u.households)
        for b in buildings
        for u in b.units
    }
    report = validate_grids(res.records(), units=units)
    summary = res.summary()
    lanes = shapely.union_all(ways) if ways else None
    return {
        "case": name,
        "seconds": round(seconds, 3),
        "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "errors": [f"{f.grid}: {f.message}" for f in report.errors],
        "summary": {k: v for k, v in summary.items() if k != "infeasible"},
        "compounds": [
            {"status": c.status, "proven": c.proven, "reason": c.reason} for c in res.compound_grids
        ],
        "micro": [
            {
                "households": m.households,
                "buildings": len(m.buildings),
                "polygon": m.geometry.geom_type == "Polygon",
                "floors": sorted({(a.floor_min, a.floor_max) for a in m.atoms if a.floor_min}),
                "floor_cells": len(m.floor_cells),
                "area": m.geometry.area,
                "across_lanes": bool(lanes is not None and _straddles(m, lanes)),
            }
            for m in res.micro
        ],
        "units_split": sum(
            1
            for b in buildings
            for u in b.units
            if u.households <= 50
            and len({m.code for m in res.micro for a in m.atoms if a.unit_id == u.id}) > 1
        ),
    }


def _straddles(m, lanes) -> bool:
    """The micro-grid's houses stand on both sides of a lane: a lane crosses the hull of the
    footprints of its buildings."""
    fps = shapely.union_all([a.slice for a in m.atoms])
    return bool(shapely.intersects(shapely.convex_hull(fps), lanes))


if __name__ == "__main__":
    print(json.dumps(run(sys.argv[1]), ensure_ascii=False))
