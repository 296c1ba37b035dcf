"""``villa`` 别墅区: detached houses in plots on both sides of lanes off a spine lane."""

from __future__ import annotations

import math

import numpy as np
import shapely
from shapely import LineString, Polygon

from geo.synthetic.layouts.drawing import Draft, Piece, name_of

__all__ = ["draft_villa"]

_VILLA_NAMES = ["麓湖别墅", "青城山语", "紫薇花园", "香颂湖"]


def draft_villa(rng: np.random.Generator, scale: float) -> list[Draft]:
    n = max(1, round(int(rng.integers(2, 4)) * scale))
    return [
        _villa_compound(rng, name_of(_VILLA_NAMES, i), int(rng.integers(30, 201))) for i in range(n)
    ]


def _villa_compound(rng: np.random.Generator, name: str, houses: int) -> Draft:
    margin, lane_w, fence = 5.0, 6.0, 2.0
    plot_w, plot_d = float(rng.uniform(18, 24)), float(rng.uniform(22, 28))
    band = 2 * plot_d + lane_w
    per_row = int(np.clip(round(math.sqrt(houses * band / (2 * plot_w))), 5, 14))
    rows = math.ceil(houses / per_row)
    sizes = [houses // rows + (1 if r < houses % rows else 0) for r in range(rows)]  # even
    bands = math.ceil(rows / 2)
    x_plots = margin + lane_w + fence  # west of the plots: the spine lane
    spine_x = margin + lane_w / 2
    pieces: list[Piece] = []
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
    return Draft(name, width, height, pieces, lanes)


def _villa(
    rng: np.random.Generator, plot: tuple[float, float, float, float], *, facing: int, number: int
) -> Piece:
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
    return Piece(shape, [per], f"{number}号", "residential", "villa")
