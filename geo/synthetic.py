"""A synthetic city at any scale, deterministic and seeded, for benchmarks and scale tests.

Each community is a block of the street grid divided into compounds filled with rows of
buildings of the kinds Chengdu has (walk-ups, mid-rises, towers), with units and households;
households per community default to about 1,250 (Chengdu: about 5 million households in about
4,000 communities). Geometry is in the metric CRS (EPSG:4544 by default), placed around Wuhou
district, communities side by side on a grid.

>>> city = list(synthetic_city(2, seed=1))
>>> [c.code for c in city]
['SYN000001', 'SYN000002']
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from shapely.geometry import box

from geo.partition import BuildingIn, CompoundIn, UnitIn

__all__ = ["SyntheticCommunity", "synthetic_city"]

ORIGIN = (395_000.0, 3_375_000.0)  # EPSG:4544, south-west of Chengdu's centre
PITCH = 700.0  # metres between community origins
SIDE = 640.0  # community side (metres)

# (label, floors range, units range, households per floor range, unit length, depth, weight)
KINDS = [
    ("walk-up", (5, 7), (2, 3), (2, 2), 15.0, 12.0, 0.40),
    ("mid-rise", (9, 12), (2, 3), (2, 3), 17.0, 14.0, 0.35),
    ("tower", (18, 32), (1, 2), (4, 4), 24.0, 18.0, 0.25),
]


@dataclass
class SyntheticCommunity:
    code: str
    boundary: object
    compounds: list[CompoundIn]
    buildings: list[BuildingIn]

    @property
    def households(self) -> int:
        return sum(b.households for b in self.buildings)

    @property
    def units(self) -> int:
        return sum(len(b.units) for b in self.buildings)


def synthetic_city(
    communities: int,
    *,
    seed: int = 0,
    households: int = 1250,
    start: int = 0,
) -> Iterator[SyntheticCommunity]:
    """``communities`` synthetic communities (numbered from ``start``), each of about
    ``households`` households. Community ``i`` is the same whatever the count asked for."""
    unit_id = 0
    for i in range(start, start + communities):
        rng = np.random.default_rng([seed, i])
        comm, unit_id = _community(i, rng, households, unit_id + i * 100_000)
        yield comm


def _community(
    i: int, rng: np.random.Generator, target: int, unit_id: int
) -> tuple[SyntheticCommunity, int]:
    cols = 100
    x0 = ORIGIN[0] + (i % cols) * PITCH
    y0 = ORIGIN[1] + (i // cols) * PITCH
    code = f"SYN{i + 1:06d}"
    boundary = box(x0, y0, x0 + SIDE, y0 + SIDE)
    total = int(target * rng.uniform(0.7, 1.3))
    nx, ny = 3, 2
    road = 14.0
    cw, ch = (SIDE - road * (nx + 1)) / nx, (SIDE - road * (ny + 1)) / ny
    compounds: list[CompoundIn] = []
    buildings: list[BuildingIn] = []
    per_compound = total / (nx * ny)
    for c in range(nx * ny):
        cx = x0 + road + (c % nx) * (cw + road)
        cy = y0 + road + (c // nx) * (ch + road)
        ccode = f"{code}-C{c + 1:02d}"
        compounds.append(CompoundIn(ccode, f"合成小区{c + 1}", box(cx, cy, cx + cw, cy + ch)))
        made = 0
        y = cy + ch - 10.0
        b = 0
        while made < per_compound * rng.uniform(0.8, 1.2) and y > cy + 30:
            x = cx + 10.0
            row_depth = 0.0
            while x < cx + cw - 30:
                k = KINDS[int(rng.choice(len(KINDS), p=[k[6] for k in KINDS]))]
                floors = int(rng.integers(k[1][0], k[1][1] + 1))
                units = int(rng.integers(k[2][0], k[2][1] + 1))
                per_floor = int(rng.integers(k[3][0], k[3][1] + 1))
                length = k[4] * units
                if x + length > cx + cw - 10:
                    break
                if y - k[5] < cy + 10:
                    break
                b += 1
                us = []
                for u in range(units):
                    unit_id += 1
                    us.append(UnitIn(unit_id, u + 1, floors, floors * per_floor))
                fp = box(x, y - k[5], x + length, y)
                buildings.append(BuildingIn(f"{ccode}-B{b:03d}", fp, ccode, tuple(us)))
                made += sum(u.households for u in us)
                row_depth = max(row_depth, k[5])
                x += length + float(rng.uniform(12, 24))
                if made >= per_compound * 1.2:
                    break
            y -= row_depth + float(rng.uniform(20, 32))
    return SyntheticCommunity(code, boundary, compounds, buildings), unit_id
