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
included. It is compiled with numba and runs on every core: a uniform grid over the polygons'
extent lists each cell's candidates in code order (the first that covers a point wins), and a
cell that lies wholly inside one polygon answers without any test.
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

__all__ = ["INSIDE", "NEAREST", "OUTSIDE", "Located", "PolygonIndex"]

INSIDE, NEAREST, OUTSIDE = 0, 1, 2


@dataclass(frozen=True)
class Located:
    """Per point: the index of its polygon (-1 when outside) and how it was found (INSIDE,
    NEAREST or OUTSIDE)."""

    index: np.ndarray
    how: np.ndarray


# --- compiled kernels ----------------------------------------------------------------------
@numba.njit(cache=True)
def _ring_position(xs, ys, start, end, px, py):
    """-1 outside, 0 on the boundary, 1 inside one ring (PostGIS's winding number)."""
    wn = 0
    x1 = xs[start]
    y1 = ys[start]
    for i in range(start + 1, end):
        x2 = xs[i]
        y2 = ys[i]
        if x1 == x2 and y1 == y2:
            continue
        if (py > y1 and py > y2) or (py < y1 and py < y2):
            x1 = x2
            y1 = y2
            continue
        side = (px - x1) * (y2 - y1) - (x2 - x1) * (py - y1)
        if side == 0.0 and (min(x1, x2) <= px <= max(x1, x2)):
            return 0
        if side < 0.0 and y1 <= py and py < y2:
            wn += 1
        elif side > 0.0 and y2 <= py and py < y1:
            wn -= 1
        x1 = x2
        y1 = y2
    return 1 if wn != 0 else -1


@numba.njit(cache=True)
def _covers(poly, poly_part, part_ring, ring_start, xs, ys, px, py):
    """Whether polygon ``poly`` (parts of rings; the first ring of a part is its shell)
    covers the point: inside, or on any of its rings."""
    for part in range(poly_part[poly], poly_part[poly + 1]):
        r0 = part_ring[part]
        r1 = part_ring[part + 1]
        pos = _ring_position(xs, ys, ring_start[r0], ring_start[r0 + 1], px, py)
        if pos == 0:
            return True
        if pos < 0:
            continue
        inside = True
        for r in range(r0 + 1, r1):
            h = _ring_position(xs, ys, ring_start[r], ring_start[r + 1], px, py)
            if h == 0:
                return True
            if h > 0:
                inside = False
                break
        if inside:
            return True
    return False


@numba.njit(cache=True, parallel=True)
def _locate_many(
    px,
    py,
    gx0,
    gy0,
    inv,
    nx,
    ny,
    cell_ptr,
    cell_items,
    full,
    bx0,
    by0,
    bx1,
    by1,
    poly_part,
    part_ring,
    ring_start,
    xs,
    ys,
    out,
):
    for i in prange(px.shape[0]):
        x = px[i]
        y = py[i]
        out[i] = -1
        if not (math.isfinite(x) and math.isfinite(y)):
            continue
        fx = (x - gx0) * inv
        fy = (y - gy0) * inv
        if fx < 0.0 or fy < 0.0 or fx >= nx or fy >= ny:
            continue
        c = int(fy) * nx + int(fx)
        f = full[c]
        if f >= 0:
            out[i] = f
            continue
        for k in range(cell_ptr[c], cell_ptr[c + 1]):
            p = cell_items[k]
            if x < bx0[p] or x > bx1[p] or y < by0[p] or y > by1[p]:
                continue
            if _covers(p, poly_part, part_ring, ring_start, xs, ys, x, y):
                out[i] = p
                break


@numba.njit(cache=True)
def _cell_of(px, py, gx0, gy0, inv, nx, ny, cells):
    """Cell of each point (nx * ny for none) and the points ordered by cell (counting sort),
    so that the lookups that follow walk the polygons in memory order."""
    n = px.shape[0]
    none = nx * ny
    counts = np.zeros(none + 2, dtype=np.int64)
    for i in range(n):
        x = px[i]
        y = py[i]
        c = none
        if math.isfinite(x) and math.isfinite(y):
            fx = (x - gx0) * inv
            fy = (y - gy0) * inv
            if 0.0 <= fx < nx and 0.0 <= fy < ny:
                c = int(fy) * nx + int(fx)
        cells[i] = c
        counts[c + 1] += 1
    for c in range(1, none + 2):
        counts[c] += counts[c - 1]
    order = np.empty(n, dtype=np.int64)
    for i in range(n):
        c = cells[i]
        order[counts[c]] = i
        counts[c] += 1
    return order


@numba.njit(cache=True, parallel=True)
def _locate_sorted(
    order,
    cells,
    px,
    py,
    none,
    cell_ptr,
    cell_items,
    full,
    bx0,
    by0,
    bx1,
    by1,
    poly_part,
    part_ring,
    ring_start,
    xs,
    ys,
    out,
):
    """Look points up in cell order (neighbouring points test the same polygons, which stay
    in cache), in chunks per thread: gather a chunk, test it, scatter the answers back."""
    n = order.shape[0]
    chunk = 65536
    for b in prange((n + chunk - 1) // chunk):
        lo = b * chunk
        hi = min(n, lo + chunk)
        for j in range(lo, hi):
            i = order[j]
            c = cells[i]
            res = -1
            if c != none:
                f = full[c]
                if f >= 0:
                    res = f
                else:
                    x = px[i]
                    y = py[i]
                    for k in range(cell_ptr[c], cell_ptr[c + 1]):
                        p = cell_items[k]
                        if x < bx0[p] or x > bx1[p] or y < by0[p] or y > by1[p]:
                            continue
                        if _covers(p, poly_part, part_ring, ring_start, xs, ys, x, y):
                            res = p
                            break
            out[i] = res


@numba.njit(cache=True)
def _touched_cells(xs, ys, ring_start, gx0, gy0, inv, nx, ny, touched):
    """Mark every cell that the bounding box of some ring segment overlaps."""
    for r in range(ring_start.shape[0] - 1):
        for i in range(ring_start[r], ring_start[r + 1] - 1):
            x1, y1, x2, y2 = xs[i], ys[i], xs[i + 1], ys[i + 1]
            ix0 = max(int((min(x1, x2) - gx0) * inv), 0)
            ix1 = min(int((max(x1, x2) - gx0) * inv), nx - 1)
            iy0 = max(int((min(y1, y2) - gy0) * inv), 0)
            iy1 = min(int((max(y1, y2) - gy0) * inv), ny - 1)
            for cy in range(iy0, iy1 + 1):
                for cx in range(ix0, ix1 + 1):
                    touched[cy * nx + cx] = True


@numba.njit(cache=True, parallel=True)
def _full_cells(
    touched,
    gx0,
    gy0,
    size,
    nx,
    cell_ptr,
    cell_items,
    poly_part,
    part_ring,
    ring_start,
    xs,
    ys,
    full,
):
    """A cell no segment comes near lies wholly inside one polygon or outside all: its
    centre says which."""
    for c in prange(touched.shape[0]):
        full[c] = -1
        if touched[c] or cell_ptr[c] == cell_ptr[c + 1]:
            continue
        cx = gx0 + ((c % nx) + 0.5) * size
        cy = gy0 + ((c // nx) + 0.5) * size
        for k in range(cell_ptr[c], cell_ptr[c + 1]):
            p = cell_items[k]
            if _covers(p, poly_part, part_ring, ring_start, xs, ys, cx, cy):
                full[c] = p
                break


# --- the index -------------------------------------------------------------------------------
class PolygonIndex:
    """Polygons (storage CRS) ready for fast point lookups.

    ``ranks`` orders the polygons for the edge rule (lower wins); by default their order.

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
        per_cell: float = 0.25,
    ) -> None:
        polys = np.asarray(polygons, dtype=object)
        n = len(polys)
        order = np.argsort(np.asarray(ranks if ranks is not None else np.arange(n)), kind="stable")
        self.polygons = polys
        self.rank_order = order  # candidates are listed in this order
        # flatten: polygon -> parts -> rings -> coordinates
        poly_part, part_ring, ring_start = [0], [0], [0]
        xs_list, ys_list = [], []
        for g in polys:
            for part in shapely.get_parts(g):
                rings = [part.exterior, *part.interiors]
                for ring in rings:
                    c = np.asarray(ring.coords)[:, :2]
                    xs_list.append(c[:, 0])
                    ys_list.append(c[:, 1])
                    ring_start.append(ring_start[-1] + len(c))
                part_ring.append(part_ring[-1] + len(rings))
            poly_part.append(len(part_ring) - 1)
        self._poly_part = np.asarray(poly_part, dtype=np.int64)
        self._part_ring = np.asarray(part_ring, dtype=np.int64)
        self._ring_start = np.asarray(ring_start, dtype=np.int64)
        self._xs = np.concatenate(xs_list) if xs_list else np.zeros(0)
        self._ys = np.concatenate(ys_list) if ys_list else np.zeros(0)
        b = shapely.bounds(polys) if n else np.zeros((0, 4))
        self._bx0, self._by0, self._bx1, self._by1 = (
            np.ascontiguousarray(b[:, i]) for i in range(4)
        )
        self._build_grid(per_cell)
        self._metric: np.ndarray | None = None
        self._metric_tree: shapely.STRtree | None = None

    def __len__(self) -> int:
        return len(self.polygons)

    def _build_grid(self, per_cell: float) -> None:
        n = len(self.polygons)
        if n == 0:
            self._gx0 = self._gy0 = 0.0
            self._inv = 1.0
            self._nx = self._ny = 1
            self._cell_ptr = np.zeros(2, dtype=np.int64)
            self._cell_items = np.zeros(0, dtype=np.int64)
            self._full = np.full(1, -1, dtype=np.int64)
            return
        x0, y0 = float(self._bx0.min()), float(self._by0.min())
        x1, y1 = float(self._bx1.max()), float(self._by1.max())
        w, h = max(x1 - x0, 1e-12), max(y1 - y0, 1e-12)
        cells = max(1.0, n / per_cell)
        size = math.sqrt(w * h / cells)
        size = max(size, w / 4096, h / 4096)
        nx, ny = int(w / size) + 1, int(h / size) + 1
        inv = 1.0 / size
        ix0 = np.floor((self._bx0 - x0) * inv).astype(np.int64)
        ix1 = np.minimum(np.floor((self._bx1 - x0) * inv).astype(np.int64), nx - 1)
        iy0 = np.floor((self._by0 - y0) * inv).astype(np.int64)
        iy1 = np.minimum(np.floor((self._by1 - y0) * inv).astype(np.int64), ny - 1)
        counts = (ix1 - ix0 + 1) * (iy1 - iy0 + 1)
        poly = np.repeat(np.arange(n), counts)
        k = np.arange(len(poly)) - np.repeat(np.cumsum(counts) - counts, counts)
        span = np.repeat(ix1 - ix0 + 1, counts)
        cx = np.repeat(ix0, counts) + k % span
        cy = np.repeat(iy0, counts) + k // span
        cell = cy * nx + cx
        rank = np.empty(n, dtype=np.int64)
        rank[self.rank_order] = np.arange(n)
        order = np.lexsort((rank[poly], cell))
        cell, poly = cell[order], poly[order]
        ptr = np.zeros(nx * ny + 1, dtype=np.int64)
        np.add.at(ptr, cell + 1, 1)
        ptr = np.cumsum(ptr)
        # a cell no polygon edge comes near lies wholly inside one polygon: it answers directly
        touched = np.zeros(nx * ny, dtype=np.bool_)
        _touched_cells(self._xs, self._ys, self._ring_start, x0, y0, inv, nx, ny, touched)
        full = np.empty(nx * ny, dtype=np.int64)
        _full_cells(
            touched,
            x0,
            y0,
            size,
            nx,
            ptr,
            poly.astype(np.int64),
            self._poly_part,
            self._part_ring,
            self._ring_start,
            self._xs,
            self._ys,
            full,
        )
        self._gx0, self._gy0, self._inv, self._nx, self._ny = x0, y0, inv, nx, ny
        self._cell_ptr, self._cell_items, self._full = ptr, poly.astype(np.int64), full

    # --- lookups ---------------------------------------------------------------------------
    def covering(
        self, x: np.ndarray | Sequence[float], y: np.ndarray | Sequence[float]
    ) -> np.ndarray:
        """Index of the covering polygon with the smallest rank, -1 for none."""
        px = np.ascontiguousarray(x, dtype=np.float64)
        py = np.ascontiguousarray(y, dtype=np.float64)
        out = np.empty(len(px), dtype=np.int64)
        cand = (
            self._cell_ptr,
            self._cell_items,
            self._full,
            self._bx0,
            self._by0,
            self._bx1,
            self._by1,
        )
        rings = (self._poly_part, self._part_ring, self._ring_start, self._xs, self._ys)
        if len(px) < 64:  # one point at a time: no need to sort
            _locate_many(
                px, py, self._gx0, self._gy0, self._inv, self._nx, self._ny, *cand, *rings, out
            )
            return out
        cells = np.empty(len(px), dtype=np.int64)
        order = _cell_of(px, py, self._gx0, self._gy0, self._inv, self._nx, self._ny, cells)
        _locate_sorted(order, cells, px, py, self._nx * self._ny, *cand, *rings, out)
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
