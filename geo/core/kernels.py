"""The point-in-polygon kernels (numba): which polygon of an index holds each point, in bulk
and one at a time. Pure: no database. Assigning households and incidents to their grids is
:mod:`geo.locate.bulk`, which uses these kernels through :class:`geo.locate.index.Locator`.

The rule at the edges (the same here and in SQL, see :mod:`geo.locate.sql`):

* a grid **covers** a point inside it or on its boundary (PostGIS ``ST_Covers``);
* a point covered by several grids (on a shared edge or vertex) goes to the grid with the
  **smallest code**;
* a point covered by none (a gap, or just outside the served area) goes to the **nearest**
  grid when it lies within ``tolerance_m`` metres (flagged ``NEAREST``; ties to the smallest
  code); beyond that it is **outside** the served area (``OUTSIDE``, index -1).

The in-process engine (:class:`PolygonIndex`) follows PostGIS's own point-in-ring test
(liblwgeom's winding number, the side of a segment computed as
``(q.x-p1.x)*(p2.y-p1.y) - (p2.x-p1.x)*(q.y-p1.y)`` in doubles, exactly zero meaning on the
line), so that both engines give the same answer for the same coordinates, boundary cases
included (the arithmetic is :mod:`geo.core.rings`). It is compiled with numba and runs on
every core: a uniform grid over the polygons' extent (:mod:`geo.core.grid_index`) lists each
cell's candidates in code order (the first that covers a point wins) and the polygon that
holds the cell wholly, if any, which answers without any test when no candidate covers the
point. In bulk, points are first grouped by blocks of cells (a parallel counting sort of their
coordinates), so that each thread walks the polygons of one neighbourhood at a time, reading
the points in order.
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

from geo.core.crs import to_metric
from geo.core.grid_index import Grid, build_grid, flatten
from geo.core.rings import covers

__all__ = ["INSIDE", "NEAREST", "OUTSIDE", "Located", "PolygonIndex"]

INSIDE, NEAREST, OUTSIDE = 0, 1, 2


@dataclass(frozen=True)
class Located:
    """Per point: the index of its polygon (-1 when outside) and how it was found (INSIDE,
    NEAREST or OUTSIDE)."""

    index: np.ndarray
    how: np.ndarray


# --- compiled kernels ----------------------------------------------------------------------
@numba.njit(cache=True, inline="always")
def _cell(x, y, g0x, g0y, inv, nx, ny):
    """The cell of a point, -1 for none (outside the grid, NaN)."""
    if not (math.isfinite(x) and math.isfinite(y)):
        return -1
    fx = (x - g0x) * inv
    fy = (y - g0y) * inv
    if fx < 0.0 or fy < 0.0 or fx >= nx or fy >= ny:
        return -1
    return int(fy) * nx + int(fx)


@numba.njit(cache=True, inline="always")
def _in_cell(c, x, y, cell_ptr, cell_items, sure, bx0, by0, bx1, by1, rings):
    """The covering polygon of smallest rank for a point of cell ``c``: the first candidate
    that covers it, else the polygon that holds the cell (or -1)."""
    poly_part, part_ring, ring_start, xs, ys = rings
    for k in range(cell_ptr[c], cell_ptr[c + 1]):
        p = cell_items[k]
        if x < bx0[p] or x > bx1[p] or y < by0[p] or y > by1[p]:
            continue
        if covers(p, poly_part, part_ring, ring_start, xs, ys, x, y):
            return p
    return sure[c]


@numba.njit(cache=True, parallel=True)
def _locate_few(px, py, frame, table, bounds, rings, out):
    """A few points, each on its own."""
    g0x, g0y, inv, nx, ny = frame
    cell_ptr, cell_items, sure = table
    bx0, by0, bx1, by1 = bounds
    for i in prange(px.shape[0]):
        c = _cell(px[i], py[i], g0x, g0y, inv, nx, ny)
        out[i] = (
            -1
            if c < 0
            else _in_cell(c, px[i], py[i], cell_ptr, cell_items, sure, bx0, by0, bx1, by1, rings)
        )


PER_CELL = 1 / 64  # polygons per cell of the grid, by default (64 cells a polygon)
CHUNK = 1 << 16  # points a thread takes at a time
SLICES = 16  # the grouping splits the points in at most this many slices
BLOCK_SHIFT = 4  # points are grouped by blocks of 16 x 16 cells


@numba.njit(cache=True, parallel=True)
def _group(px, py, frame):
    """Points grouped by block of cells (a counting sort, parallel by slices): the sorted
    coordinates, where each point went, and how many have a cell (those come first)."""
    g0x, g0y, inv, nx, ny = frame
    n = px.shape[0]
    bnx = (nx >> BLOCK_SHIFT) + 1
    nblocks = bnx * ((ny >> BLOCK_SHIFT) + 1) + 1  # the last: no cell
    slices = max(1, min(SLICES, n // CHUNK))
    step = (n + slices - 1) // slices
    block = np.empty(n, dtype=np.int32)
    hist = np.zeros((slices, nblocks), dtype=np.int64)  # a row a slice: stays in cache
    for sl in prange(slices):
        for i in range(sl * step, min(n, (sl + 1) * step)):
            b = nblocks - 1
            x = px[i]
            y = py[i]
            if math.isfinite(x) and math.isfinite(y):
                fx = (x - g0x) * inv
                fy = (y - g0y) * inv
                if 0.0 <= fx < nx and 0.0 <= fy < ny:
                    b = (int(fy) >> BLOCK_SHIFT) * bnx + (int(fx) >> BLOCK_SHIFT)
            block[i] = b
            hist[sl, b] += 1
    # where each slice's points of each block go: blocks in order, slices in order within
    run = np.zeros(nblocks, dtype=np.int64)
    for sl in range(slices):
        run += hist[sl]
    total = 0
    for b in range(nblocks):
        k = run[b]
        run[b] = total
        total += k
    m = run[nblocks - 1]  # the points with a cell come first
    for sl in range(slices):
        for b in range(nblocks):
            k = hist[sl, b]
            hist[sl, b] = run[b]
            run[b] += k
    sx = np.empty(n, dtype=np.float64)
    sy = np.empty(n, dtype=np.float64)
    src = np.empty(n, dtype=np.int64)
    for sl in prange(slices):
        for i in range(sl * step, min(n, (sl + 1) * step)):
            b = block[i]
            j = hist[sl, b]
            hist[sl, b] = j + 1
            sx[j] = px[i]
            sy[j] = py[i]
            src[i] = j
    return sx, sy, src, m


@numba.njit(cache=True, parallel=True)
def _locate_grouped(sx, sy, m, frame, table, bounds, rings, res):
    """Look the grouped points up in order, chunk by chunk (the first ``m`` have a cell)."""
    g0x, g0y, inv, nx, _ = frame
    cell_ptr, cell_items, sure = table
    bx0, by0, bx1, by1 = bounds
    for ch in prange((m + CHUNK - 1) // CHUNK):
        for j in range(ch * CHUNK, min(m, (ch + 1) * CHUNK)):
            x = sx[j]
            y = sy[j]
            # the first m are finite and in the grid (_group checked): the cell at once
            res[j] = _in_cell(
                int((y - g0y) * inv) * nx + int((x - g0x) * inv),
                x,
                y,
                cell_ptr,
                cell_items,
                sure,
                bx0,
                by0,
                bx1,
                by1,
                rings,
            )


@numba.njit(cache=True, parallel=True)
def _scatter(res, src, m, out):
    for i in prange(src.shape[0]):
        j = src[i]
        out[i] = res[j] if j < m else -1


# --- the index -------------------------------------------------------------------------------
class PolygonIndex:
    """Polygons (storage CRS) ready for fast point lookups.

    ``ranks`` orders the polygons for the edge rule (lower wins); by default their order.
    ``per_cell``: polygons per cell of the grid (about ``1 / per_cell`` cells a polygon).

    >>> from shapely.geometry import box
    >>> idx = PolygonIndex([box(0, 0, 1, 1), box(1, 0, 2, 1)])
    >>> idx.locate([0.5, 1.0, 5.0], [0.5, 0.5, 0.5]).index.tolist()
    [0, 0, -1]
    """

    def __init__(
        self,
        polygons: Sequence[Geometry],
        ranks: Sequence[int] | None = None,
        *,
        per_cell: float = PER_CELL,
    ) -> None:
        polys = np.asarray(polygons, dtype=object)
        n = len(polys)
        order = np.argsort(np.asarray(ranks if ranks is not None else np.arange(n)), kind="stable")
        self.polygons = polys
        self.rank_order = order  # candidates are listed in this order
        self._flat = flatten(polys)
        self._grid: Grid = build_grid(self._flat, order, per_cell)
        self._metric: np.ndarray | None = None
        self._metric_tree: shapely.STRtree | None = None

    def __len__(self) -> int:
        return len(self.polygons)

    # --- lookups ---------------------------------------------------------------------------
    def covering(
        self, x: np.ndarray | Sequence[float], y: np.ndarray | Sequence[float]
    ) -> np.ndarray:
        """Index of the covering polygon with the smallest rank, -1 for none."""
        px = np.ascontiguousarray(x, dtype=np.float64)
        py = np.ascontiguousarray(y, dtype=np.float64)
        g, f = self._grid, self._flat
        frame = (g.x0, g.y0, g.inv, g.nx, g.ny)
        table = (g.cell_ptr, g.cell_items, g.sure)
        bounds = (f.bx0, f.by0, f.bx1, f.by1)
        out = np.empty(len(px), dtype=np.int64)
        if len(px) < 4096:  # a few points: grouping them would not pay
            _locate_few(px, py, frame, table, bounds, f.rings(), out)
            return out
        sx, sy, src, m = _group(px, py, frame)
        res = np.empty(m, dtype=np.int64)
        _locate_grouped(sx, sy, m, frame, table, bounds, f.rings(), res)
        _scatter(res, src, m, out)
        return out

    def locate(
        self,
        x: np.ndarray | Sequence[float],
        y: np.ndarray | Sequence[float],
        *,
        tolerance_m: float = 0.0,
    ) -> Located:
        """The edge rule in full: covering polygon, else the nearest within ``tolerance_m``
        metres (measured in the metric CRS), else outside."""
        px = np.asarray(x, dtype=np.float64)
        py = np.asarray(y, dtype=np.float64)
        index = self.covering(px, py)
        how = np.where(index >= 0, INSIDE, OUTSIDE).astype(np.int8)
        missing = np.flatnonzero((index < 0) & np.isfinite(px) & np.isfinite(py))
        if tolerance_m > 0 and missing.size and len(self):
            near, _ = self.nearest(px[missing], py[missing], tolerance_m)
            found = near >= 0
            index[missing[found]] = near[found]
            how[missing[found]] = NEAREST
        return Located(index, how)

    def nearest(self, x: np.ndarray, y: np.ndarray, max_m: float) -> tuple[np.ndarray, np.ndarray]:
        """Nearest polygon within ``max_m`` metres of each point (-1 if none); ties go to the
        lowest rank. Returns (index, distance in metres)."""
        if self._metric is None:
            self._metric = to_metric(self.polygons)
            self._metric_tree = shapely.STRtree(self._metric)
        assert self._metric_tree is not None
        pts = to_metric(shapely.points(np.asarray(x), np.asarray(y)))
        which, dist = self._metric_tree.query_nearest(
            pts, max_distance=max_m, return_distance=True, all_matches=True
        )
        out = np.full(len(pts), -1, dtype=np.int64)
        out_d = np.full(len(pts), np.inf)
        rank = np.empty(len(self), dtype=np.int64)
        rank[self.rank_order] = np.arange(len(self))
        for p, g, d in zip(which[0], which[1], dist, strict=True):
            if out[p] < 0 or (d, rank[g]) < (out_d[p], rank[out[p]]):
                out[p], out_d[p] = g, d
        return out, out_d
