"""``urban_village`` 城中村: self-built houses packed in back-to-back rows between narrow lanes."""

from __future__ import annotations

import math

import numpy as np
from shapely import LineString, Polygon

from geo.synthetic.layouts.drawing import Draft, Piece, empty, name_of

__all__ = ["draft_urban_village"]

_VILLAGE_NAMES = ["石羊村", "簇桥村", "金花村", "永丰村"]


_MAX_TILT = 0.1  # radians (about 5.7 degrees)


def draft_urban_village(rng: np.random.Generator, scale: float) -> list[Draft]:
    total = max(30, round(float(rng.uniform(580, 720)) * scale))
    sizes: list[int] = []
    while total > 0:
        n = int(rng.integers(400, 461)) if not sizes else int(rng.integers(150, 321))
        if total - n < 60:
            n = total
        sizes.append(n)
        total -= n
    return [_village(rng, name_of(_VILLAGE_NAMES, i), n) for i, n in enumerate(sizes)]


def _village(rng: np.random.Generator, name: str, houses: int) -> Draft:
    """Back-to-back rows of houses between east-west lanes, cut by cross lanes."""
    width = float(np.clip(math.sqrt(135 * houses) * rng.uniform(0.8, 1.25), 50, 500))
    margin = 1.5
    pieces: list[Piece] = []
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
    return Draft(name, width, height, pieces, lanes)


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
) -> list[Piece]:
    """Houses side by side in plots filling ``bounds`` (at most ``left`` of them), each
    rotated a little and kept 0.25–0.5 m inside its plot."""
    x0, y0, x1, y1 = bounds
    depth = y1 - y0
    out: list[Piece] = []
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


def _public_toilets(rng: np.random.Generator, pieces: list[Piece]) -> None:
    """One house in every 150 (at least one) made a public toilet, in place."""
    for i in rng.choice(len(pieces), size=max(1, len(pieces) // 150), replace=False):
        p = pieces[int(i)]
        pieces[int(i)] = empty(p.footprint, f"{p.name}公厕", "public", "toilet")


def _house(rng: np.random.Generator, shape: Polygon, number: int) -> Piece:
    """A self-built house: one unit of 2–10 households, or (6%) a shed of none."""
    if rng.random() < 0.06:
        label, name, use = [
            ("shed", "杂物间", "residential"),
            ("warehouse", "仓库", "commercial"),
            ("toilet", "公厕", "public"),
        ][int(rng.integers(0, 3))]
        return empty(shape, f"{number}号{name}", use, label, floors=int(rng.integers(1, 3)))
    floors = int(rng.choice([2, 3, 4, 5, 6], p=[0.1, 0.25, 0.3, 0.25, 0.1]))
    shop = floors >= 3 and bool(rng.random() < 0.25)
    living = floors - shop
    households = int(np.clip(round(shape.area * living / float(rng.uniform(30, 55))), 2, 10))
    base, extra = divmod(households, living)
    upper = [base + (1 if f < extra else 0) for f in range(living)]
    per = tuple([0] * shop + upper)
    return Piece(shape, [per], f"{number}号", "mixed" if shop else "residential", "house", shop)
