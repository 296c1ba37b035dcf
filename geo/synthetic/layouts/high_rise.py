"""``high_rise`` 高层小区: compounds of towers in rows behind a gate strip."""

from __future__ import annotations

import numpy as np

from geo.synthetic.layouts.drawing import Draft, box_of, empty, extent, name_of, pack, placed, tower

__all__ = ["draft_high_rise"]

_HIGH_RISE_NAMES = ["锦绣花园", "天府名居", "蓝湾国际", "翠堤春晓", "金域蓝湾", "望江名门"]


def draft_high_rise(rng: np.random.Generator, scale: float) -> list[Draft]:
    n = max(1, round(int(rng.integers(3, 6)) * scale))
    return [_high_rise_compound(rng, name_of(_HIGH_RISE_NAMES, i)) for i in range(n)]


def _high_rise_compound(rng: np.random.Generator, name: str) -> Draft:
    margin, width = 12.0, float(rng.uniform(160, 240))
    towers = [tower(rng, i + 1) for i in range(int(rng.integers(4, 11)))]
    # the gate strip: substation, guard house, garage ramps
    service = [
        empty(box_of(8, 6), "配电房", "public", "substation"),
        empty(box_of(5, 4), "门卫室", "public", "guard_house"),
    ] + [
        empty(box_of(12, 6), f"地库出入口{k + 1}", "public", "garage_ramp")
        for k in range(int(rng.integers(1, 3)))
    ]
    s_corners, s_top = pack(
        [extent(p) for p in service],
        width=width - 2 * margin,
        x0=margin,
        y0=margin,
        gap_x=(10, 20),
        gap_y=(4, 4),
        rng=rng,
        per_row=len(service),
    )
    t_corners, top = pack(
        [extent(p) for p in towers],
        width=width - 2 * margin,
        x0=margin,
        y0=s_top + 16,
        gap_x=(18, 26),
        gap_y=(32, 45),
        rng=rng,
    )
    pieces = placed(service, s_corners) + placed(towers, t_corners)
    return Draft(name, width, top + margin, pieces)
