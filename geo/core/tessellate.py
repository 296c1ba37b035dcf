"""Tessellating an area by the footprints in it: every point of the area goes to the nearest
footprint, so the cells tile the area with no gaps and no overlaps.

This is the "Voronoi diagram of polygons" (each cell holds the points nearer to its seed
polygon than to any other), approximated by a Voronoi diagram of points sampled along the
seeds' boundaries, as in momepy's morphological tessellation (Fleischmann et al. 2019, *Measuring
urban form: Overcoming terminological inconsistencies for a quantitative and comprehensive
morphologic analysis of cities*, EPB). Unlike a per-cell clip, the cells here come from one noded
arrangement of lines (the Voronoi edges, the area's boundary and the seeds' boundaries),
polygonised once, so neighbouring cells share their edges exactly and the cells form a valid
coverage whose union is the area:

1. sample each seed's boundary every ``spacing`` metres;
2. take the borders between different seeds' Voronoi regions from a Delaunay triangulation
   of the samples (the edge between two samples' regions joins the circumcentres of the two
   triangles on their Delaunay edge), merge them into chains and simplify them by
   ``SIMPLIFY_M``; node them together with the area's boundary and the seeds' boundaries
   (floating-point noding, one arrangement) and polygonise them into faces;
3. a face inside a seed belongs to that seed; any other face to the seed of the nearest sample;
4. a cell that falls apart into pieces keeps the piece holding its seed; the others go to the
   neighbour they share the longest edge with.

All inputs are in a metric CRS.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import Delaunay, cKDTree
from shapely import Geometry, MultiPolygon, Polygon

__all__ = ["Tessellation", "dissolve", "slice_polygon", "slice_polygons", "tessellate"]

# faces of the noded arrangement smaller than this are floating-point debris (a cut through a
# vertex, two nearly parallel lines): dropped, they cannot leave a gap that matters
MIN_FACE_M2 = 1e-6
SIMPLIFY_M = 0.2  # Voronoi borders simplified by up to this (metres): far fewer segments to node


class Tessellation(NamedTuple):
    """The cells (one per seed), the zones (union of their cells), and which cells border
    each other: ``touching`` rows are ``(seed_a, seed_b)`` with a < b, ``shared`` the length of
    their common border in metres."""

    cells: list[Geometry]
    zones: list[Geometry]
    touching: np.ndarray
    shared: np.ndarray


def _samples(
    seeds: Sequence[Geometry] | np.ndarray, spacing: float
) -> tuple[np.ndarray, np.ndarray]:
    """Points along every seed's boundary (at least its vertices) and the seed of each."""
    boundaries = shapely.boundary(np.asarray(seeds, dtype=object))
    dense = shapely.segmentize(boundaries, spacing)
    coords, owner = shapely.get_coordinates(dense, return_index=True)
    # drop repeated points (ring closures, shared vertices)
    key = np.round(coords, 3)
    _, first = np.unique(key, axis=0, return_index=True)
    first.sort()
    return coords[first], owner[first]


def tessellate(
    region: Geometry,
    seeds: Sequence[Geometry],
    *,
    zones: Sequence[Geometry] | None = None,
    zone_of_seed: Sequence[int] | None = None,
    spacing: float = 5.0,
    keep_seed_pieces: bool = False,
) -> Tessellation:
    """Cells, one per seed, that tile ``region`` exactly (see the module docstring).

    With ``zones`` (polygons tiling ``region``, e.g. compound grids) and ``zone_of_seed``, a
    seed's cell stays inside its zone: the zones are tessellated separately but noded in one
    arrangement, so that cells of neighbouring zones still share their edges exactly. Every
    zone needs at least one seed.

    A cell that falls apart keeps the piece holding (most of) its seed; the other pieces go to
    their neighbours. With ``keep_seed_pieces``, a seed in pieces (several buildings) keeps
    every piece of its cell that holds part of it, so that no part of the seed ends up in
    another cell: the cell is then a MultiPolygon, for the caller to deal with.

    Returns a :class:`Tessellation`: the cells; the zones as the union of their cells (equal
    to the zones given, up to floating-point noise); and the borders between cells, read off
    their shared edges. A cell is one Polygon unless its seed is in pieces.
    """
    n = len(seeds)
    if zones is None:
        zones = [region]
        zone_of_seed = [0] * n
    assert zone_of_seed is not None and len(zone_of_seed) == n
    zones_arr = np.asarray(zones, dtype=object)
    zone_of = np.asarray(zone_of_seed, dtype=np.int64)
    if n == 0:
        return Tessellation([], list(zones_arr), np.empty((0, 2), np.int64), np.empty(0))
    seeds_arr = np.asarray(seeds, dtype=object)
    pts, owner = _samples(seeds_arr, spacing)
    lines = [shapely.boundary(region)]
    lines += [shapely.boundary(z) for z in zones_arr]
    inside_seeds = shapely.intersection(seeds_arr, zones_arr[zone_of])
    lines += [shapely.boundary(s) for s in inside_seeds if not s.is_empty]
    for z, zone in enumerate(zones_arr):
        lines += _voronoi_borders(pts, owner, np.flatnonzero(zone_of == z), zone)
    noded = shapely.union_all(lines)
    faces = np.asarray(shapely.get_parts(shapely.polygonize([noded])), dtype=object)
    faces = faces[shapely.area(faces) > MIN_FACE_M2]
    reps = shapely.point_on_surface(faces)
    # each face to a zone, then to a seed of that zone
    face_zone = _nearest_index(reps, zones_arr, predicate="within")
    keep = face_zone >= 0
    faces, reps, face_zone = faces[keep], reps[keep], face_zone[keep]
    label = np.full(len(faces), -1, dtype=np.int64)
    seed_tree = shapely.STRtree(inside_seeds)
    f_idx, s_idx = seed_tree.query(reps, predicate="within")
    ok = zone_of[s_idx] == face_zone[f_idx]
    label[f_idx[ok]] = s_idx[ok]
    for z in range(len(zones_arr)):
        rest = np.flatnonzero((label < 0) & (face_zone == z))
        if rest.size == 0:
            continue
        mine = np.isin(owner, np.flatnonzero(zone_of == z))
        if not mine.any():
            seeds_here = np.flatnonzero(zone_of == z)
            label[rest] = seeds_here[0] if seeds_here.size else -1
            continue
        _, nearest = cKDTree(pts[mine]).query(shapely.get_coordinates(reps[rest]))
        label[rest] = owner[mine][nearest]
    borders = _face_borders(faces)
    label = _mend_fragments(faces, label, inside_seeds, face_zone, borders, keep_seed_pieces)
    cells = _dissolve_by(faces, label, n)
    zones_out = _dissolve_by(faces, face_zone, len(zones_arr))
    fa, fb, length = _face_borders(np.asarray(cells, dtype=object))
    return Tessellation(cells, zones_out, np.stack([fa, fb], axis=1), length)


def _face_borders(faces: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs of polygons (indices a < b) that share edges, with the length they share. They
    are faces of one polygonised arrangement (or cells dissolved from them, with the cuts'
    ends snapped in), so a shared edge has the very same vertices on both sides: segments are
    matched by their end points (no geometry operation)."""
    polys, poly_face = shapely.get_parts(faces, return_index=True)
    rings, ring_poly = shapely.get_rings(polys, return_index=True)
    ring_face = poly_face[ring_poly]
    xy, ring_of = shapely.get_coordinates(rings, return_index=True)
    go_on = ring_of[1:] == ring_of[:-1]
    p, q = xy[:-1][go_on], xy[1:][go_on]
    face = ring_face[ring_of[:-1][go_on]]
    flip = (p[:, 0] > q[:, 0]) | ((p[:, 0] == q[:, 0]) & (p[:, 1] > q[:, 1]))
    a, b = np.where(flip[:, None], q, p), np.where(flip[:, None], p, q)
    order = np.lexsort((b[:, 1], b[:, 0], a[:, 1], a[:, 0]))
    key = np.hstack([a, b])[order]
    twin = np.flatnonzero(np.all(key[1:] == key[:-1], axis=1))
    fa, fb = face[order[twin]], face[order[twin + 1]]
    length = np.hypot(*(key[twin, 2:] - key[twin, :2]).T)
    ok = fa != fb
    lo, hi = np.minimum(fa, fb)[ok], np.maximum(fa, fb)[ok]
    pair, inv = np.unique(lo * len(faces) + hi, return_inverse=True)
    return pair // len(faces), pair % len(faces), np.bincount(inv, weights=length[ok])


def _dissolve_by(faces: np.ndarray, label: np.ndarray, n: int) -> list[Geometry]:
    """The union of the faces of each label 0..n-1 (one sort, then one union per label)."""
    order = np.argsort(label, kind="stable")
    ranked = label[order]
    starts = np.searchsorted(ranked, np.arange(n), side="left")
    ends = np.searchsorted(ranked, np.arange(n), side="right")
    return [dissolve(faces[order[a:b]]) for a, b in zip(starts, ends, strict=True)]


def _nearest_index(points: np.ndarray, polys: np.ndarray, *, predicate: str) -> np.ndarray:
    """For each point, the polygon it lies in (or the nearest one), -1 when none is near."""
    out = np.full(len(points), -1, dtype=np.int64)
    tree = shapely.STRtree(polys)
    p_idx, g_idx = tree.query(points, predicate=predicate)
    out[p_idx] = g_idx
    rest = np.flatnonzero(out < 0)
    if rest.size:
        near, dist = tree.query_nearest(points[rest], return_distance=True, all_matches=False)
        close = dist < 0.05
        out[rest[near[0][close]]] = near[1][close]
    return out


def dissolve(parts: Sequence[Geometry] | np.ndarray) -> Geometry:
    """Union of polygons that share edges exactly (a coverage): fast and exact."""
    arr = np.asarray(parts, dtype=object)
    if arr.size == 0:
        return Polygon()
    if arr.size == 1:
        return arr[0]
    try:
        out = shapely.coverage_union_all(arr)
    except shapely.errors.GEOSException:  # not an exact coverage after all
        out = shapely.union_all(arr)
    if out.geom_type == "MultiPolygon":  # without pieces of no area (debris)
        parts = [p for p in shapely.get_parts(out) if p.area > MIN_FACE_M2]
        if len(parts) == 1:
            return parts[0]
        if parts:
            return MultiPolygon(parts)
    return out


def _mend_fragments(
    faces: np.ndarray,
    label: np.ndarray,
    seeds: np.ndarray,
    face_zone: np.ndarray,
    borders: tuple[np.ndarray, np.ndarray, np.ndarray],
    keep_seed_pieces: bool = False,
) -> np.ndarray:
    """Give every piece of a cell that is cut off from its seed to the neighbouring cell (of
    the same zone) it shares the longest border with, until every cell is one piece (or, with
    ``keep_seed_pieces``, until every piece holds part of its seed). Pieces are connected
    faces of one label, found on the graph of the faces' shared edges."""
    fa, fb, length = borders
    n = len(faces)
    for _ in range(5):
        same = (label[fa] == label[fb]) & (label[fa] >= 0)
        graph = coo_matrix((np.ones(int(same.sum())), (fa[same], fb[same])), shape=(n, n))
        _, piece = connected_components(graph, directed=False)
        valid = label >= 0
        pairs = np.unique(np.stack([label[valid], piece[valid]], 1), axis=0)
        cells, count = np.unique(pairs[:, 0], return_counts=True)
        broken = cells[count > 1]
        if keep_seed_pieces and len(broken):  # pieces holding part of their seed are fine
            broken = np.array(
                [c for c in broken.tolist() if not _pieces_hold_seed(faces, label, piece, seeds, c)]
            )
        if not len(broken):
            break
        for cell in broken.tolist():
            members = np.flatnonzero(label == cell)
            comps = [members[piece[members] == p] for p in np.unique(piece[members])]
            seed = seeds[cell]

            def weight(comp: np.ndarray, seed=seed) -> tuple[bool, float]:
                touches = not seed.is_empty and bool(np.any(shapely.intersects(faces[comp], seed)))
                return touches, float(shapely.area(faces[comp]).sum())

            comps.sort(key=weight, reverse=True)
            for comp in comps[1:]:
                if keep_seed_pieces and weight(comp)[0]:
                    continue  # it holds part of the seed: it stays
                inside = np.zeros(n, dtype=bool)
                inside[comp] = True
                out_a = inside[fa] & ~inside[fb]
                out_b = inside[fb] & ~inside[fa]
                other = np.concatenate([fb[out_a], fa[out_b]])
                mine = np.concatenate([fa[out_a], fb[out_b]])
                size = np.concatenate([length[out_a], length[out_b]])
                ok = (label[other] != cell) & (label[other] >= 0)
                ok &= face_zone[other] == face_zone[mine]
                if not ok.any():
                    continue
                labs, inv = np.unique(label[other[ok]], return_inverse=True)
                label[comp] = labs[int(np.argmax(np.bincount(inv, weights=size[ok])))]
    return label


def _pieces_hold_seed(
    faces: np.ndarray, label: np.ndarray, piece: np.ndarray, seeds: np.ndarray, cell: int
) -> bool:
    """Every piece of the cell holds part of its seed."""
    members = np.flatnonzero(label == cell)
    seed = seeds[cell]
    return not seed.is_empty and all(
        bool(np.any(shapely.intersects(faces[members[piece[members] == p]], seed)))
        for p in np.unique(piece[members])
    )


def _voronoi_borders(
    pts: np.ndarray, owner: np.ndarray, seeds_here: np.ndarray, zone: Geometry
) -> list[Geometry]:
    """The Voronoi edges that separate samples of different seeds (not those between samples
    of one seed), inside ``zone``, from a Delaunay triangulation (qhull) of the samples; four
    far corners are added so that every edge between real samples is finite."""
    mine = np.isin(owner, seeds_here)
    if mine.sum() < 3 or len(np.unique(owner[mine])) < 2:
        return []
    p = pts[mine]
    own = owner[mine]
    x0, y0 = p.min(axis=0)
    x1, y1 = p.max(axis=0)
    zx0, zy0, zx1, zy1 = shapely.bounds(zone)
    span = 10 * max(x1 - x0, y1 - y0, zx1 - zx0, zy1 - zy0, 1.0)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    far = np.array(
        [
            [cx - span, cy - span],
            [cx + span, cy - span],
            [cx + span, cy + span],
            [cx - span, cy + span],
        ]
    )
    # the Voronoi edge between two samples joins the circumcentres of the two Delaunay
    # triangles sharing the edge between them (a Delaunay triangulation costs half a Voronoi
    # diagram in scipy, which also builds every region)
    # coordinates relative to the middle, so that qhull's lifted paraboloid keeps its
    # precision (projected coordinates are in the millions)
    mid = np.array([cx, cy])
    tri = Delaunay(np.vstack([p, far]) - mid, qhull_options="Qbb Qc Qz")
    simp, across = tri.simplices, tri.neighbors
    centre = _circumcentres(tri.points[simp]) + mid
    a, b = simp[:, [1, 2, 0]].ravel(), simp[:, [2, 0, 1]].ravel()
    t, o = np.repeat(np.arange(len(simp)), 3), across.ravel()
    n = len(p)
    keep = (o > t) & (a < n) & (b < n)
    keep[keep] &= own[a[keep]] != own[b[keep]]
    if not keep.any():
        return []
    seg = np.stack([centre[t[keep]], centre[o[keep]]], axis=1)  # (m, 2, 2)
    seg = seg[np.any(seg[:, 0] != seg[:, 1], axis=1)]  # co-circular samples: no edge
    if not len(seg):
        return []
    lines = shapely.linestrings(seg)
    merged = shapely.simplify(shapely.line_merge(shapely.multilinestrings(lines)), SIMPLIFY_M)
    return [shapely.intersection(merged, zone)]


def _circumcentres(tri: np.ndarray) -> np.ndarray:
    """Circumcentres of triangles given as (t, 3, 2) corner coordinates."""
    a = tri[:, 0]
    b, c = tri[:, 1] - a, tri[:, 2] - a
    d = 2.0 * (b[:, 0] * c[:, 1] - b[:, 1] * c[:, 0])
    bb, cc = (b * b).sum(axis=1), (c * c).sum(axis=1)
    ux = (c[:, 1] * bb - b[:, 1] * cc) / d
    uy = (b[:, 0] * cc - c[:, 0] * bb) / d
    return a + np.stack([ux, uy], axis=1)


def slice_polygon(poly: Geometry, weights: Sequence[float]) -> list[Geometry]:
    """Cut a footprint across its long axis into consecutive slices whose lengths are
    proportional to ``weights`` (units of a building; floor-parts of a unit).

    The slices are pieces of ``poly`` and tile it, the first at the west end (the south end
    when the long axis runs north-south): unit 1 is taken to be the westernmost, the usual
    numbering. Zero weights get thin slices of their own so that every unit keeps a place on
    the map.

    >>> from shapely.geometry import box
    >>> [p.bounds for p in slice_polygon(box(0, 0, 30, 10), [1, 2])]
    [(0.0, 0.0, 10.0, 10.0), (10.0, 0.0, 30.0, 10.0)]
    """
    return slice_polygons([poly], [weights])[0]


def slice_polygons(
    polys: Sequence[Geometry], weights: Sequence[Sequence[float]]
) -> list[list[Geometry]]:
    """:func:`slice_polygon` for many footprints at once (one call per GEOS operation)."""
    out: list[list[Geometry]] = [[p] for p in polys]
    todo = [i for i, w in enumerate(weights) if len(w) > 1]
    if not todo:
        return out
    arr = np.asarray([polys[i] for i in todo], dtype=object)
    rects = shapely.oriented_envelope(arr)
    flat = shapely.get_type_id(rects) != 3  # a footprint with no area: cut along its extent
    ring = np.zeros((len(todo), 4, 2))
    ring[~flat] = shapely.get_coordinates(rects[~flat]).reshape(-1, 5, 2)[:, :4]
    for j in np.flatnonzero(flat).tolist():
        x0, y0, x1, y1 = shapely.bounds(arr[j])
        ring[j] = [[x0, y0], [x1, y0], [x1, y1 + 1e-9], [x0, y1 + 1e-9]]
    e1, e2 = ring[:, 1] - ring[:, 0], ring[:, 2] - ring[:, 1]
    longer = np.hypot(*e1.T) >= np.hypot(*e2.T)
    axis = np.where(longer[:, None], e1, e2)
    other = np.where(longer[:, None], e2, e1)
    u = axis / np.maximum(np.hypot(*axis.T), 1e-12)[:, None]
    west = (u[:, 0] < -1e-12) | ((np.abs(u[:, 0]) <= 1e-12) & (u[:, 1] < 0))
    u[west] = -u[west]  # point the axis east (or north)
    v = other / np.maximum(np.hypot(*other.T), 1e-9)[:, None]
    # project each footprint on its axis
    coords, of = shapely.get_coordinates(arr, return_index=True)
    starts = np.searchsorted(of, np.arange(len(todo)))
    origin = np.stack(
        [np.minimum.reduceat(coords[:, 0], starts), np.minimum.reduceat(coords[:, 1], starts)], 1
    )
    rel = coords - origin[of]
    t = (rel * u[of]).sum(axis=1)
    t0, t1 = np.minimum.reduceat(t, starts), np.maximum.reduceat(t, starts)
    span = np.maximum.reduceat(np.abs((rel * v[of]).sum(axis=1)), starts) + 10.0
    # one strip across the footprint per slice
    owner, lo, hi = [], [], []
    for j, i in enumerate(todo):
        w = np.asarray(weights[i], dtype=float)
        w = np.where(w <= 0, max(float(w.sum()) * 0.02, 1e-6), w)
        cuts = t0[j] + (t1[j] - t0[j]) * np.concatenate([[0.0], np.cumsum(w) / w.sum()])
        a, b = cuts[:-1].copy(), cuts[1:].copy()
        a[0] -= 1.0  # the end slices reach past the ends
        b[-1] += 1.0
        owner += [j] * len(w)
        lo.append(a)
        hi.append(b)
    own = np.asarray(owner)
    a, b = np.concatenate(lo), np.concatenate(hi)
    base = origin[own] - v[own] * span[own, None]
    across = v[own] * 2 * span[own, None]
    corners = np.stack(
        [
            base + u[own] * a[:, None],
            base + u[own] * b[:, None],
            base + u[own] * b[:, None] + across,
            base + u[own] * a[:, None] + across,
        ],
        axis=1,
    )
    pieces = list(shapely.intersection(arr[own], shapely.polygons(corners)))
    for k, piece in enumerate(pieces):
        if piece.geom_type in ("MultiPolygon", "GeometryCollection"):
            parts = [g for g in shapely.get_parts(piece) if g.geom_type == "Polygon"]
            pieces[k] = parts[0] if len(parts) == 1 else shapely.union_all(parts)
    for j, i in enumerate(todo):
        out[i] = [pieces[k] for k in np.flatnonzero(own == j)]
    return out
