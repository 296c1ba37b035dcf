"""The cell table of :class:`geo.core.kernels.PolygonIndex`: polygons flattened to arrays, and
a uniform grid over their extent that tells, for every cell, which polygons a point of the
cell must be tested against and which polygon holds it when none of them does. Pure: no
database; built with numpy and numba (no Python loop over polygons).

For each polygon the cells of its bounding box are classified: **touched** (the bounding box
of one of its segments meets the cell: the polygon's boundary may cross it) or, by the test
of the cell's centre, wholly **inside** or wholly **outside** (no segment comes near, so every
point of the cell answers as its centre does — the same arithmetic, see
:mod:`geo.core.rings`). A cell then keeps

* ``sure``: the first polygon (in rank order) that holds it wholly, or -1;
* its candidates: the polygons that touch it and rank before ``sure``, in rank order.

A point is tested against the candidates; the first that covers it wins; if none does, the
answer is ``sure`` — without any test for a cell that no edge comes near. A polygon that
covers a point of a cell either touches the cell or holds it wholly, so this is exactly the
covering polygon of smallest rank.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numba
import numpy as np
import shapely
from numba import prange
from shapely import Geometry

from geo.core.rings import covers

__all__ = ["Flat", "Grid", "build_grid", "flatten"]

MAX_SIDE = 8192  # cells along one side of the grid, at most
POLYGON = 3  # shapely's type id


@dataclass(frozen=True)
class Flat:
    """Polygons as arrays (see :mod:`geo.core.rings`) and their bounds (x0, y0, x1, y1)."""

    poly_part: np.ndarray
    part_ring: np.ndarray
    ring_start: np.ndarray
    xs: np.ndarray
    ys: np.ndarray
    bx0: np.ndarray
    by0: np.ndarray
    bx1: np.ndarray
    by1: np.ndarray

    def rings(self) -> tuple[np.ndarray, ...]:
        return (self.poly_part, self.part_ring, self.ring_start, self.xs, self.ys)


@dataclass(frozen=True)
class Grid:
    """The cell of a point is ``int((y - y0) * inv) * nx + int((x - x0) * inv)``."""

    x0: float
    y0: float
    inv: float
    nx: int
    ny: int
    cell_ptr: np.ndarray  # candidates of cell c: cell_items[cell_ptr[c]:cell_ptr[c + 1]]
    cell_items: np.ndarray
    sure: np.ndarray


def _offsets(counts: np.ndarray) -> np.ndarray:
    out = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=out[1:])
    return out


def flatten(polygons: Sequence[Geometry] | np.ndarray) -> Flat:
    """Polygon → parts → rings (shell first) → coordinates, vectorised (polygons without
    holes, the usual case, straight from their coordinates)."""
    polys = np.asarray(polygons, dtype=object)
    n = len(polys)
    if n and (shapely.get_type_id(polys) == POLYGON).all():
        parts, part_of = polys, np.arange(n)
    else:
        parts, part_of = shapely.get_parts(polys, return_index=True)
    if len(parts) and (shapely.get_num_interior_rings(parts) == 0).all():
        rings, ring_of = parts, np.arange(len(parts))
    else:
        rings, ring_of = shapely.get_rings(parts, return_index=True)
    coords, coord_of = shapely.get_coordinates(rings, return_index=True)
    b = shapely.bounds(polys) if n else np.zeros((0, 4))
    return Flat(
        _offsets(np.bincount(part_of, minlength=n)),
        _offsets(np.bincount(ring_of, minlength=len(parts))),
        _offsets(np.bincount(coord_of, minlength=len(rings))),
        np.ascontiguousarray(coords[:, 0], dtype=np.float64),
        np.ascontiguousarray(coords[:, 1], dtype=np.float64),
        *(np.ascontiguousarray(b[:, i], dtype=np.float64) for i in range(4)),
    )


@numba.njit(cache=True)
def _span(v0, v1, g0, inv, n):
    """The cells [i0, i1] that the interval [v0, v1] meets along one axis."""
    return max(int((v0 - g0) * inv), 0), min(int((v1 - g0) * inv), n - 1)


EPS = 1e-6  # in cells: the margin by which a segment's cells are widened


@numba.njit(cache=True)
def _mark(xa, ya, xb, yb, g, box, out):
    """Mark the cells of the polygon's box (``box``: ix0, iy0, ix1, iy1) that one segment
    passes through or comes within ``EPS`` cells of, row by row (rounding in the arithmetic
    is far below ``EPS``, so no cell the segment meets is missed)."""
    x0, y0, inv = g[0], g[1], g[2]
    ix0, iy0, ix1, iy1 = box
    w = ix1 - ix0 + 1
    ua, va, ub, vb = (xa - x0) * inv, (ya - y0) * inv, (xb - x0) * inv, (yb - y0) * inv
    vlo, vhi = min(va, vb), max(va, vb)
    ulo, uhi = min(ua, ub), max(ua, ub)
    slope = (ub - ua) / (vb - va) if vhi - vlo > EPS else 0.0
    margin = EPS * (1.0 + abs(slope))
    for r in range(max(math.floor(vlo - EPS), iy0), min(math.floor(vhi + EPS), iy1) + 1):
        if slope == 0.0:
            lo, hi = ulo, uhi
        else:  # the part of the segment within the row (widened by EPS)
            s0 = ua + (max(vlo, r - EPS) - va) * slope
            s1 = ua + (min(vhi, r + 1 + EPS) - va) * slope
            lo, hi = max(min(s0, s1) - margin, ulo), min(max(s0, s1) + margin, uhi)
        c0 = max(math.floor(lo - EPS), ix0)
        c1 = min(math.floor(hi + EPS), ix1)
        for c in range(c0, c1 + 1):
            out[(r - iy0) * w + (c - ix0)] = 1


@numba.njit(cache=True, parallel=True)
def _classify(bx0, by0, bx1, by1, box_start, rings, g, kind):
    """For every polygon, every cell of its bounding box: 1 touched, 2 inside, 0 outside.
    ``g`` is (x0, y0, inv, nx, ny)."""
    x0, y0, inv, nx, ny = g[0], g[1], g[2], int(g[3]), int(g[4])
    poly_part, part_ring, ring_start, xs, ys = rings
    size = 1.0 / inv
    for p in prange(bx0.shape[0]):
        if box_start[p + 1] == box_start[p]:
            continue  # empty
        ix0, ix1 = _span(bx0[p], bx1[p], x0, inv, nx)
        iy0, iy1 = _span(by0[p], by1[p], y0, inv, ny)
        box = (ix0, iy0, ix1, iy1)
        w = ix1 - ix0 + 1
        out = kind[box_start[p] : box_start[p + 1]]
        out[:] = 0
        r0 = part_ring[poly_part[p]]
        r1 = part_ring[poly_part[p + 1]]
        for r in range(r0, r1):
            for i in range(ring_start[r], ring_start[r + 1] - 1):
                _mark(xs[i], ys[i], xs[i + 1], ys[i + 1], g, box, out)
        # untouched cells side by side in a row lie on the same side of every edge: the
        # centre of the first of a run answers for the run
        for row in range(iy1 - iy0 + 1):
            cy = y0 + (iy0 + row + 0.5) * size
            state = -1
            for col in range(w):
                k = row * w + col
                if out[k] == 1:
                    state = -1
                    continue
                if state < 0:
                    cx = x0 + (ix0 + col + 0.5) * size
                    state = 2 if covers(p, poly_part, part_ring, ring_start, xs, ys, cx, cy) else 0
                out[k] = state


@numba.njit(cache=True)
def _table(order, rank, bx0, by0, bx1, by1, box_start, kind, g):
    """``sure`` per cell and the candidates per cell in rank order (``order``: the polygons
    by rank)."""
    x0, y0, inv, nx, ny = g[0], g[1], g[2], int(g[3]), int(g[4])
    sure = np.full(nx * ny, -1, dtype=np.int32)
    counts = np.zeros(nx * ny + 1, dtype=np.int64)
    for step in range(3):  # 0: sure, 1: count candidates, 2: fill them
        if step == 2:
            for c in range(nx * ny):
                counts[c + 1] += counts[c]
            items = np.empty(counts[nx * ny], dtype=np.int32)
            fill = counts[:-1].copy()
        for p in order:
            ix0, ix1 = _span(bx0[p], bx1[p], x0, inv, nx)
            iy0, iy1 = _span(by0[p], by1[p], y0, inv, ny)
            k = box_start[p]
            if k == box_start[p + 1]:
                continue  # empty
            for cy in range(iy0, iy1 + 1):
                for c in range(cy * nx + ix0, cy * nx + ix1 + 1):
                    v = kind[k]
                    k += 1
                    if step == 0:
                        if v == 2 and sure[c] < 0:
                            sure[c] = p
                    elif v == 1 and (sure[c] < 0 or rank[p] < rank[sure[c]]):
                        if step == 1:
                            counts[c + 1] += 1
                        else:
                            items[fill[c]] = p
                            fill[c] += 1
    return counts, items, sure


def _frame(flat: Flat, per_cell: float) -> tuple[float, float, float, int, int]:
    n = len(flat.bx0)
    x0, y0 = float(np.nanmin(flat.bx0)), float(np.nanmin(flat.by0))
    x1, y1 = float(np.nanmax(flat.bx1)), float(np.nanmax(flat.by1))
    w, h = max(x1 - x0, 1e-12), max(y1 - y0, 1e-12)
    size = math.sqrt(w * h / max(1.0, n / per_cell))
    size = max(size, w / MAX_SIDE, h / MAX_SIDE)
    inv = 1.0 / size
    # the same arithmetic as a point's cell, so that the far bounds fall inside the grid
    return x0, y0, inv, int((x1 - x0) * inv) + 1, int((y1 - y0) * inv) + 1


def build_grid(flat: Flat, rank_order: np.ndarray, per_cell: float) -> Grid:
    """The cell table, about ``1 / per_cell`` cells per polygon."""
    n = len(flat.bx0)
    if not np.isfinite(flat.bx0).any():
        empty = np.zeros(0, dtype=np.int32)
        return Grid(0.0, 0.0, 1.0, 1, 1, np.zeros(2, np.int32), empty, np.full(1, -1, np.int32))
    x0, y0, inv, nx, ny = _frame(flat, per_cell)
    g = np.array([x0, y0, inv, nx, ny], dtype=np.float64)

    def span(v0: np.ndarray, v1: np.ndarray, g0: float, m: int) -> np.ndarray:
        lo = np.maximum(((v0 - g0) * inv).astype(np.int64), 0)
        return np.minimum(((v1 - g0) * inv).astype(np.int64), m - 1) - lo + 1

    real = np.isfinite(flat.bx0)  # an empty polygon has no cells
    with np.errstate(invalid="ignore"):
        boxes = span(flat.bx0, flat.bx1, x0, nx) * span(flat.by0, flat.by1, y0, ny)
    boxes = np.where(real, boxes, 0)
    box_start = _offsets(boxes)
    kind = np.empty(int(box_start[-1]), dtype=np.int8)
    _classify(flat.bx0, flat.by0, flat.bx1, flat.by1, box_start, flat.rings(), g, kind)
    rank = np.empty(n, dtype=np.int64)
    rank[rank_order] = np.arange(n)
    order = np.asarray(rank_order, dtype=np.int64)
    ptr, items, sure = _table(
        order, rank, flat.bx0, flat.by0, flat.bx1, flat.by1, box_start, kind, g
    )
    if ptr[-1] < 2**31:  # 4 bytes a cell, not 8
        ptr = ptr.astype(np.int32)
    return Grid(x0, y0, inv, nx, ny, ptr, items, sure)
