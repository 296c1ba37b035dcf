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
2. node the borders between different seeds' Voronoi regions together with the area's
   boundary and the seeds' boundaries (floating-point noding, one arrangement) and polygonise
   them into faces;
3. a face inside a seed belongs to that seed; any other face to the seed of the nearest sample;
4. a cell that falls apart into pieces keeps the piece holding its seed; the others go to the
   neighbour they share the longest edge with.

All inputs are in a metric CRS.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import shapely
from scipy.spatial import Voronoi
from shapely import Geometry, MultiPolygon, Polygon

__all__ = ["dissolve", "slice_polygon", "tessellate"]

# faces of the noded arrangement smaller than this are floating-point debris (a cut through a
# vertex, two nearly parallel lines): dropped, they cannot leave a gap that matters
MIN_FACE_M2 = 1e-6


def _samples(seeds: Sequence[Geometry], spacing: float) -> tuple[np.ndarray, np.ndarray]:
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
    divide: dict[int, Sequence[float]] | None = None,
) -> tuple[list[Geometry], list[Geometry], dict[int, list[Geometry]]]:
    """Cells, one per seed, that tile ``region`` exactly (see the module docstring).

    With ``zones`` (polygons tiling ``region``, e.g. compound grids) and ``zone_of_seed``, a
    seed's cell stays inside its zone: the zones are tessellated separately but noded in one
    arrangement, so that cells of neighbouring zones still share their edges exactly. Every
    zone needs at least one seed.

    ``divide`` asks for some cells to be cut across their long axis into parts proportional
    to the weights given (the floor ranges of a tall unit); the cuts are noded with everything
    else, so the parts tile their cell and their neighbours' edges stay matched.

    Returns ``(cells, zones, parts)``: the cells; the zones as the union of their cells (equal
    to the zones given, up to floating-point noise); and for each divided seed its parts. A cell
    is one Polygon unless its seed is in pieces.
    """
    n = len(seeds)
    if zones is None:
        zones = [region]
        zone_of_seed = [0] * n
    assert zone_of_seed is not None and len(zone_of_seed) == n
    zones_arr = np.asarray(zones, dtype=object)
    zone_of = np.asarray(zone_of_seed, dtype=np.int64)
    if n == 0:
        return [], list(zones_arr), {}
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
        sample_tree = shapely.STRtree(shapely.points(pts[mine]))
        nearest = sample_tree.query_nearest(reps[rest], return_distance=False, all_matches=False)
        label[rest[nearest[0]]] = owner[mine][nearest[1]]
    label = _mend_fragments(faces, label, inside_seeds, face_zone)
    cells = _dissolve_by(faces, label, n)
    parts: dict[int, list[Geometry]] = {}
    if divide:
        faces, label, face_zone, parts = _divide(noded, faces, label, face_zone, cells, divide)
        cells = _dissolve_by(faces, label, n)
    zones_out = _dissolve_by(faces, face_zone, len(zones_arr))
    return cells, zones_out, parts


def _dissolve_by(faces: np.ndarray, label: np.ndarray, n: int) -> list[Geometry]:
    """The union of the faces of each label 0..n-1 (one sort, then one union per label)."""
    order = np.argsort(label, kind="stable")
    ranked = label[order]
    starts = np.searchsorted(ranked, np.arange(n), side="left")
    ends = np.searchsorted(ranked, np.arange(n), side="right")
    return [dissolve(faces[order[a:b]]) for a, b in zip(starts, ends, strict=True)]


def _divide(
    noded: Geometry,
    faces: np.ndarray,
    label: np.ndarray,
    face_zone: np.ndarray,
    cells: list[Geometry],
    divide: dict[int, Sequence[float]],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[int, list[Geometry]]]:
    """Cut the cells named in ``divide`` across their long axis, re-node, and label the parts."""
    cuts: list[Geometry] = []
    frames: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    for i, weights in divide.items():
        if len(weights) < 2 or cells[i].is_empty:
            continue
        origin, u, positions, lines = _cut_lines(cells[i], weights)
        frames[i] = (origin, u, positions)
        cuts += lines
    if not cuts:
        return faces, label, face_zone, {}
    renoded = shapely.union_all([noded, *cuts])
    new = np.asarray(shapely.get_parts(shapely.polygonize([renoded])), dtype=object)
    new = new[shapely.area(new) > MIN_FACE_M2]
    reps = shapely.point_on_surface(new)
    owner = _nearest_index(reps, faces, predicate="within")
    keep = owner >= 0
    new, reps, owner = new[keep], reps[keep], owner[keep]
    new_label, new_zone = label[owner], face_zone[owner]
    part = np.zeros(len(new), dtype=np.int64)
    for i, (origin, u, positions) in frames.items():
        mine = np.flatnonzero(new_label == i)
        t = (shapely.get_coordinates(reps[mine]) - origin) @ u
        part[mine] = np.searchsorted(positions, t)
    # one piece per part: stray pieces go to the neighbouring part of the same cell
    composite = new_label * 1000 + part
    composite = _mend_fragments(
        new, composite, np.full(len(new), Polygon(), dtype=object), new_label, seeds_by_label=False
    )
    parts = {
        i: [dissolve(new[composite == i * 1000 + k]) for k in range(len(divide[i]))] for i in frames
    }
    return new, new_label, new_zone, parts


def _cut_lines(cell: Geometry, weights: Sequence[float]):
    """Lines across the cell's long axis that cut it into parts of about the given area
    shares; with the axis frame (origin, direction) and the cut positions along it."""
    w = np.asarray(weights, dtype=float)
    w = np.where(w <= 0, max(float(w.sum()) * 0.02, 1e-6), w)
    rect = shapely.oriented_envelope(cell)
    ring = np.asarray(rect.exterior.coords)[:4]
    e1, e2 = ring[1] - ring[0], ring[2] - ring[1]
    axis, other = (e1, e2) if np.hypot(*e1) >= np.hypot(*e2) else (e2, e1)
    u = axis / max(float(np.hypot(*axis)), 1e-9)
    if u[0] < -1e-12 or (abs(u[0]) <= 1e-12 and u[1] < 0):  # lowest floors west (or south)
        u = -u
    v = other / max(float(np.hypot(*other)), 1e-9)
    coords = shapely.get_coordinates(cell)
    origin = coords.min(axis=0)
    t = (coords - origin) @ u
    t0, t1 = float(t.min()), float(t.max())
    span = float(np.abs((coords - origin) @ v).max()) + 10.0
    # positions by length along the axis, in proportion to the weights (areas then follow
    # closely enough; balanced areas are not a requirement, and a search costs more than
    # the whole tessellation of the unit)
    positions = list(t0 + (t1 - t0) * np.cumsum(w)[:-1] / w.sum())
    if not _strips_hold_their_share(cell, origin, u, v, span, [t0 - 1.0, *positions, t1 + 1.0], w):
        # the cell is in pieces, or has a spike, so that a cut by length would leave a part
        # with little or nothing in it: cut by area instead (a search, needed only then)
        positions = _area_positions(cell, origin, u, v, span, t0, t1, w)
    # clipped a little beyond the cell, so that a cut crosses its boundary for certain (a cut
    # ending exactly on it may stop a hair short and leave a dangle that splits nothing)
    reach = shapely.buffer(cell, 0.5)
    lines = [
        shapely.intersection(
            shapely.LineString([origin + u * p - v * span, origin + u * p + v * span]), reach
        )
        for p in positions
    ]
    return origin, u, np.asarray(positions), lines


def _strip(origin: np.ndarray, u: np.ndarray, v: np.ndarray, span: float, a: float, b: float):
    """The band of the plane between positions a and b along the axis u."""
    return Polygon(
        [
            origin + u * a - v * span,
            origin + u * b - v * span,
            origin + u * b + v * span,
            origin + u * a + v * span,
        ]
    )


def _strips_hold_their_share(cell, origin, u, v, span, cuts: Sequence[float], w) -> bool:
    """Does every band between consecutive cut positions hold at least a quarter of the
    area its weight asks for?"""
    strips = [_strip(origin, u, v, span, a, b) for a, b in itertools.pairwise(cuts)]
    areas = shapely.area(shapely.intersection(cell, np.asarray(strips, dtype=object)))
    wanted = float(cell.area) * np.asarray(w, dtype=float) / float(np.sum(w))
    return bool(np.all(areas >= 0.25 * wanted))


def _area_positions(cell, origin, u, v, span, t0: float, t1: float, w: np.ndarray) -> list[float]:
    """Cut positions along the axis that leave the cell's area in the given shares (by
    bisection on the area before each position)."""
    total = float(cell.area)
    out = []
    for share in np.cumsum(w)[:-1] / w.sum():
        lo, hi = t0, t1
        for _ in range(50):
            mid = (lo + hi) / 2
            before = float(
                shapely.intersection(cell, _strip(origin, u, v, span, t0 - 1.0, mid)).area
            )
            if before < share * total:
                lo = mid
            else:
                hi = mid
            if hi - lo < 1e-4:
                break
        out.append((lo + hi) / 2)
    return out


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


def dissolve(parts: Sequence[Geometry]) -> Geometry:
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
    *,
    seeds_by_label: bool = True,
) -> np.ndarray:
    """Give every piece of a cell that is cut off from its seed to the neighbouring cell (of
    the same zone) it shares the longest edge with, until every cell is one piece."""
    tree: shapely.STRtree | None = None
    for _ in range(5):
        broken = [
            int(c)
            for c in np.unique(label)
            if c >= 0 and dissolve(faces[label == c]).geom_type != "Polygon"
        ]
        if not broken:
            break
        if tree is None:
            tree = shapely.STRtree(faces)
        for cell in broken:
            members = np.flatnonzero(label == cell)
            neighbours = _touching(tree, faces, members)
            comps = _components(members, neighbours)
            if len(comps) <= 1:
                continue
            seed = seeds[cell] if seeds_by_label else Polygon()

            def weight(comp: list[int], seed=seed) -> tuple[bool, float]:
                touches = not seed.is_empty and bool(np.any(shapely.intersects(faces[comp], seed)))
                return touches, float(shapely.area(faces[comp]).sum())

            comps.sort(key=weight, reverse=True)
            for comp in comps[1:]:
                comp_set = set(comp)
                shape = dissolve(faces[comp])
                cands = _touching(tree, faces, np.asarray(comp))
                best, best_len = None, 0.0
                for f in comp:
                    for g in cands.get(f, ()):
                        if g in comp_set or label[g] == cell or face_zone[g] != face_zone[f]:
                            continue
                        length = float(shapely.length(shapely.intersection(shape, faces[g])))
                        if length > best_len:
                            best, best_len = int(label[g]), length
                if best is not None:
                    label[comp] = best
    return label


def _touching(
    tree: shapely.STRtree, faces: np.ndarray, members: np.ndarray
) -> dict[int, list[int]]:
    """Faces sharing an edge (or a point) with each member face."""
    left, right = tree.query(faces[members], predicate="intersects")
    out: dict[int, list[int]] = {}
    for a, b in zip(members[left], right, strict=True):
        if a != b:
            out.setdefault(int(a), []).append(int(b))
    return out


def _voronoi_borders(
    pts: np.ndarray, owner: np.ndarray, seeds_here: np.ndarray, zone: Geometry
) -> list[Geometry]:
    """The Voronoi edges that separate samples of different seeds (not those between samples
    of one seed), inside ``zone``. Qhull gives each edge's two samples directly; four far
    corners are added so that every edge between real samples is finite."""
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
    vor = Voronoi(np.vstack([p, far]), qhull_options="Qbb Qc Qz")
    ridges = vor.ridge_points
    verts = np.asarray(vor.ridge_vertices)
    n = len(p)
    keep = (ridges[:, 0] < n) & (ridges[:, 1] < n) & (verts.min(axis=1) >= 0)
    keep &= own[np.minimum(ridges[:, 0], n - 1)] != own[np.minimum(ridges[:, 1], n - 1)]
    if not keep.any():
        return []
    seg = vor.vertices[verts[keep]]  # (m, 2, 2)
    lines = shapely.linestrings(seg)
    return [shapely.intersection(shapely.multilinestrings(lines), zone)]


def _components(members: np.ndarray, neighbours: dict[int, list[int]]) -> list[list[int]]:
    todo = {int(m) for m in members}
    comps = []
    while todo:
        start = todo.pop()
        comp, stack = [start], [start]
        while stack:
            f = stack.pop()
            for g in neighbours.get(f, ()):
                if g in todo:
                    todo.remove(g)
                    comp.append(g)
                    stack.append(g)
        comps.append(comp)
    return comps


def slice_polygon(poly: Geometry, weights: Sequence[float]) -> list[Geometry]:
    """Cut a footprint across its long axis into consecutive slices whose lengths are
    proportional to ``weights`` (units of a building; floor-parts of a unit).

    The slices are pieces of ``poly`` and tile it, the first at the west end (the south end
    when the long axis runs north-south): unit 1 is taken to be the westernmost, the usual
    numbering. Zero weights get thin slices of their own so that every unit keeps a place on
    the map.
    """
    k = len(weights)
    if k <= 1:
        return [poly]
    w = np.asarray(weights, dtype=float)
    w = np.where(w <= 0, max(float(w.sum()) * 0.02, 1e-6), w)
    rect = shapely.oriented_envelope(poly)
    ring = np.asarray(rect.exterior.coords)[:4]
    e1, e2 = ring[1] - ring[0], ring[2] - ring[1]
    axis, other = (e1, e2) if np.hypot(*e1) >= np.hypot(*e2) else (e2, e1)
    length = float(np.hypot(*axis))
    u = axis / length
    if u[0] < -1e-12 or (abs(u[0]) <= 1e-12 and u[1] < 0):  # point the axis east (or north)
        u = -u
    v = other / max(float(np.hypot(*other)), 1e-9)
    # project the polygon on the axis
    coords = shapely.get_coordinates(poly)
    origin = coords.min(axis=0)
    t = (coords - origin) @ u
    t0, t1 = float(t.min()), float(t.max())
    cuts = t0 + (t1 - t0) * np.concatenate([[0.0], np.cumsum(w) / w.sum()])
    span = float(np.abs((coords - origin) @ v).max()) + 10.0
    base = origin - v * span
    out = []
    for a, b in itertools.pairwise(cuts):
        lo = a - 1.0 if a == cuts[0] else a
        hi = b + 1.0 if b == cuts[-1] else b
        strip = Polygon(
            [
                base + u * lo,
                base + u * hi,
                base + u * hi + v * 2 * span,
                base + u * lo + v * 2 * span,
            ]
        )
        piece = shapely.intersection(poly, strip)
        if isinstance(piece, MultiPolygon) or piece.geom_type == "GeometryCollection":
            polys = [g for g in shapely.get_parts(piece) if g.geom_type == "Polygon"]
            piece = (
                max(polys, key=lambda g: g.area) if len(polys) == 1 else shapely.union_all(polys)
            )
        out.append(piece)
    return out
