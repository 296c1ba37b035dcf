"""``mixed`` 混合小区: a mixed compound of towers, walk-ups with shops and a shop front, street
shops along the main road, and a school."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import shapely

from geo.synthetic.layouts.drawing import (
    Draft,
    Piece,
    box_of,
    empty,
    extent,
    pack,
    placed,
    tower,
    walk_up_block,
)

__all__ = ["draft_mixed", "street_shops"]


def draft_mixed(rng: np.random.Generator, scale: float) -> list[Draft]:
    n = max(1, round(scale))
    drafts = [_mixed_compound(rng, f"混合小区{i + 1}") for i in range(n)]
    return [*drafts, _school(rng)]


def _mixed_compound(rng: np.random.Generator, name: str) -> Draft:
    margin = 8.0
    shops = [_shop(rng, k + 1) for k in range(int(rng.integers(8, 13)))]
    towers = [tower(rng, k + 1, stilts=0.5) for k in range(int(rng.integers(1, 3)))]
    walk_ups = [
        walk_up_block(rng, len(towers) + k + 1, shops=0.5) for k in range(int(rng.integers(3, 7)))
    ]
    sub = empty(box_of(8, 6), "配电房", "public", "substation")
    front = sum(extent(p)[0] + 2 for p in shops)
    longest = max(extent(p)[0] for p in towers + walk_ups)
    width = max(float(rng.uniform(200, 260)), front + 2 * margin, longest + 2 * margin)
    inner = width - 2 * margin
    s_corners, top = pack(
        [extent(p) for p in shops],
        width=inner,
        x0=margin,
        y0=margin,
        gap_x=(0.5, 2),
        gap_y=(3, 3),
        rng=rng,
        per_row=len(shops),
    )
    rest = [*towers, *walk_ups, sub]
    r_corners, top = pack(
        [extent(p) for p in rest],
        width=inner,
        x0=margin,
        y0=top + 14,
        gap_x=(14, 20),
        gap_y=(18, 26),
        rng=rng,
    )
    pieces = placed(shops, s_corners) + placed(rest, r_corners)
    return Draft(name, width, top + margin, pieces)


def _shop(rng: np.random.Generator, number: int) -> Piece:
    shape = box_of(float(rng.uniform(8, 14)), float(rng.uniform(10, 12)))
    return empty(shape, f"商铺{number}", "commercial", "shop", floors=int(rng.integers(1, 3)))


def _school(rng: np.random.Generator) -> Draft:
    """A school's grounds (no compound): two teaching blocks and a gym by a sports ground."""
    width, height = float(rng.uniform(120, 140)), float(rng.uniform(95, 110))
    blocks = [
        empty(box_of(60, 16), "教学楼", "public", "school", floors=5),
        empty(box_of(40, 14), "综合楼", "public", "school", floors=4),
        empty(box_of(30, 24), "体育馆", "public", "school", floors=2),
    ]
    corners = [(8.0, height - 24.0), (8.0, height - 50.0), (width - 38.0, 8.0)]
    return Draft("学校", width, height, placed(blocks, corners), compound=False)


def street_shops(rng: np.random.Generator, drafts: Sequence[Draft]) -> list[Piece]:
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
        shops.append(empty(shape, f"商铺{inside + k + 1}", "commercial", "shop", floors))
        x += length + float(rng.uniform(0.5, 3))
    return shops
