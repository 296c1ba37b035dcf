"""PostGIS's point-in-ring arithmetic, compiled with numba: whether one polygon of a flattened
set covers a point. Pure: no database. The lookups that use it are :mod:`geo.core.kernels`;
the cell table they walk is :mod:`geo.core.grid_index`.

A ring is tested with liblwgeom's winding number, the side of a segment computed as
``(q.x-p1.x)*(p2.y-p1.y) - (p2.x-p1.x)*(q.y-p1.y)`` in doubles, exactly zero meaning on the
line, so that the in-process engine and PostGIS give the same answer for the same
coordinates, boundary cases included.

The flattened form: polygon ``p`` has parts ``poly_part[p]:poly_part[p + 1]``; part ``q`` has
rings ``part_ring[q]:part_ring[q + 1]`` (its shell first, then its holes); ring ``r`` has the
closed coordinates ``xs[ring_start[r]:ring_start[r + 1]]`` (and ``ys``).
"""

from __future__ import annotations

import numba

__all__ = ["covers", "ring_position"]


@numba.njit(cache=True, inline="always")
def ring_position(xs, ys, start, end, px, py):
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


@numba.njit(cache=True, inline="always")
def covers(poly, poly_part, part_ring, ring_start, xs, ys, px, py):
    """Whether polygon ``poly`` covers the point: inside one of its parts, or on any of its
    rings."""
    for part in range(poly_part[poly], poly_part[poly + 1]):
        r0 = part_ring[part]
        r1 = part_ring[part + 1]
        pos = ring_position(xs, ys, ring_start[r0], ring_start[r0 + 1], px, py)
        if pos == 0:
            return True
        if pos < 0:
            continue
        inside = True
        for r in range(r0 + 1, r1):
            h = ring_position(xs, ys, ring_start[r], ring_start[r + 1], px, py)
            if h == 0:
                return True
            if h > 0:
                inside = False
                break
        if inside:
            return True
    return False
