"""The drawing helpers the classes share: a building drawn at the origin (:class:`Piece`), a
compound drawn in its own frame (:class:`Draft`), packing boxes in rows, moving them into
place, and the towers and walk-ups more than one class has."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import shapely
from shapely import LineString, Polygon

__all__ = [
    "Draft",
    "Piece",
    "box_of",
    "empty",
    "extent",
    "floor_households",
    "name_of",
    "pack",
    "placed",
    "tower",
    "translate",
    "walk_up_block",
]


@dataclass
class Piece:
    """A building as drawn: its footprint (at the origin, or in its draft's frame), the
    households on each floor of each unit, its name, use and label."""

    footprint: Polygon
    units: list[tuple[int, ...]]  # per unit, households on each floor (index 0 = floor 1)
    name: str
    use: str
    label: str
    uneven: bool = False  # the floors differ (stilt floor, ground-floor shops): keep per_floor


@dataclass
class Draft:
    """A compound (or a site outside every compound) drawn in its own frame, origin at its
    south-west corner: its size, buildings and lanes."""

    name: str
    width: float
    height: float
    pieces: list[Piece]
    lanes: list[LineString] = field(default_factory=list)
    compound: bool = True  # False: a site whose buildings stand outside every compound


def floor_households(per_floor: int, floors: int, *, empty_ground: bool = False) -> tuple[int, ...]:
    return (0 if empty_ground else per_floor,) + (per_floor,) * (floors - 1)


def pack(
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


def tower(rng: np.random.Generator, number: int, *, stilts: float = 0.35) -> Piece:
    per_floor = int(rng.choice([2, 3, 4, 6], p=[0.25, 0.2, 0.4, 0.15]))
    unit_len, depth, (u_lo, u_hi) = _TOWER[per_floor]
    units = int(rng.integers(u_lo, u_hi + 1))
    floors = int(rng.integers(18, 34))
    stilt = bool(rng.random() < stilts)
    shape = box_of(units * unit_len, depth)
    per = floor_households(per_floor, floors, empty_ground=stilt)
    return Piece(shape, [per] * units, f"{number}栋", "residential", "tower", uneven=stilt)


def walk_up_block(rng: np.random.Generator, number: int, *, shops: float = 0.0) -> Piece:
    units = int(rng.integers(2, 4))
    floors = int(rng.integers(5, 8))
    shop = bool(rng.random() < shops)
    unit_len, depth = float(rng.uniform(13, 15)), float(rng.uniform(10, 12))
    per = floor_households(2, floors, empty_ground=shop)
    use = "mixed" if shop else "residential"
    return Piece(
        box_of(units * unit_len, depth), [per] * units, f"{number}栋", use, "walk_up", shop
    )


def box_of(length: float, depth: float) -> Polygon:
    """A box of ``length`` (x) by ``depth`` (y) at the origin (moved into place later)."""
    return shapely.box(0.0, 0.0, length, depth)


def empty(shape: Polygon, name: str, use: str, label: str, floors: int = 1) -> Piece:
    return Piece(shape, [(0,) * floors], name, use, label)


def placed(pieces: Sequence[Piece], corners: Sequence[tuple[float, float]]) -> list[Piece]:
    """``pieces`` (drawn at the origin) moved to ``corners``."""
    out = []
    for p, (x, y) in zip(pieces, corners, strict=True):
        moved = translate(p.footprint, x, y)
        out.append(Piece(moved, p.units, p.name, p.use, p.label, p.uneven))
    return out


def translate(geom, dx: float, dy: float):
    """``geom`` moved by (dx, dy), rigidly."""
    return shapely.transform(geom, lambda c: c + np.array([dx, dy]))


def extent(p: Piece) -> tuple[float, float]:
    x0, y0, x1, y1 = p.footprint.bounds
    return (x1 - x0, y1 - y0)


def name_of(names: Sequence[str], i: int) -> str:
    return names[i % len(names)] + (f"{i // len(names) + 1}期" if i >= len(names) else "")
