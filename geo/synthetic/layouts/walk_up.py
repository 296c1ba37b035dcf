"""``walk_up`` 老旧院落: small old courtyards of walk-ups with their sheds."""

from __future__ import annotations

import numpy as np
from shapely import LineString

from geo.synthetic.layouts.drawing import Draft, box_of, empty, extent, pack, placed, walk_up_block

__all__ = ["draft_walk_up"]


def draft_walk_up(rng: np.random.Generator, scale: float) -> list[Draft]:
    n = max(1, round(int(rng.integers(12, 19)) * scale))
    return [_courtyard(rng, f"老旧院落{i + 1}号院") for i in range(n)]


def _courtyard(rng: np.random.Generator, name: str) -> Draft:
    margin = float(rng.uniform(6, 8))
    blocks = [walk_up_block(rng, i + 1) for i in range(int(rng.integers(2, 7)))]
    sizes = [extent(p) for p in blocks]
    per_row = int(rng.integers(1, 3))
    rows = [sizes[i : i + per_row] for i in range(0, len(sizes), per_row)]
    inner = max(sum(s[0] for s in row) + 10 * (len(row) - 1) for row in rows)
    corners, top = pack(
        sizes,
        width=inner,
        x0=margin,
        y0=margin,
        gap_x=(8, 10),
        gap_y=(12, 18),
        rng=rng,
        per_row=per_row,
    )
    pieces = placed(blocks, corners)
    extras = [empty(box_of(float(rng.uniform(10, 16)), 3.5), "车棚", "public", "shed")]
    if rng.random() < 0.3:
        extras.append(empty(box_of(6, 5), "锅炉房", "public", "boiler_room"))
    if extras:
        e_corners, top = pack(
            [extent(p) for p in extras],
            width=max(inner, 30),
            x0=margin,
            y0=top + 6,
            gap_x=(4, 6),
            gap_y=(4, 4),
            rng=rng,
            per_row=len(extras),
        )
        pieces += placed(extras, e_corners)
    width = max(inner, sum(extent(p)[0] + 6 for p in extras)) + 2 * margin
    height = top + margin
    path = LineString([(margin / 2, 0.0), (margin / 2, height - margin / 2)])  # from the gate
    return Draft(name, width, height, pieces, [path])
