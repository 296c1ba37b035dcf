"""The partition pipeline of one community: zones (compound grids) → atoms and their cells
(the tessellation) → grouping per zone → micro-grid polygons.

Compound grids follow the compound polygons; buildings outside every compound are grouped by
proximity, never across a road, into street grids; the rest of the community (roads, open
ground) goes to the nearest of these, so the compound grids tile the community
(:func:`geo.core.tessellate.tessellate`). Each unit has a slice of its building's footprint and a
cell of its compound grid (the tessellation again, by slices); a micro-grid's polygon is the
union of its units' cells, so the micro-grids tile their compound grid — except that the
floor ranges of a unit split by floors share that unit's whole cell.
"""

from __future__ import annotations

import math
import zlib
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from shapely import Geometry

from geo.core.tessellate import dissolve, tessellate
from geo.partition.graph import Graph, make_graph
from geo.partition.model import (
    Atom,
    BuildingIn,
    CompoundGrid,
    CompoundIn,
    MicroGrid,
    PartitionResult,
    UnitIn,
    buildings_units,
    split_unit,
)
from geo.partition.zone import solve_zone

__all__ = [
    "Prepared",
    "group_community",
    "partition_community",
    "prepare_community",
    "zone_rng",
]


# --- the community ------------------------------------------------------------------------
def _street_clusters(
    buildings: list[BuildingIn], roads: Sequence[Geometry], gap: float = 30.0
) -> list[list[BuildingIn]]:
    """Buildings outside every compound, grouped by proximity without crossing a road."""
    if not buildings:
        return []
    fps = np.asarray([b.footprint for b in buildings], dtype=object)
    tree = shapely.STRtree(fps)
    a_idx, b_idx = tree.query(fps, predicate="dwithin", distance=gap)
    road_union = shapely.union_all(list(roads)) if len(roads) else None
    parent = list(range(len(buildings)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a, b in zip(a_idx, b_idx, strict=True):
        if a >= b:
            continue
        link = shapely.shortest_line(fps[a], fps[b])
        if road_union is not None and shapely.intersects(link, road_union):
            continue
        parent[find(a)] = find(b)
    groups: dict[int, list[BuildingIn]] = {}
    for i, b in enumerate(buildings):
        groups.setdefault(find(i), []).append(b)
    return sorted(groups.values(), key=lambda grp: min(b.code for b in grp))


def zone_rng(seed: int, key: str) -> np.random.Generator:
    """The random generator of one zone's search: from the seed and the zone's code, so that a
    zone's grids do not depend on the other zones."""
    return np.random.default_rng([seed, zlib.crc32(key.encode())])


def partition_community(
    code: str,
    boundary: Geometry,
    compounds: Sequence[CompoundIn],
    buildings: Sequence[BuildingIn],
    *,
    roads: Sequence[Geometry] = (),
    street_names: Sequence[str] = (),
    ways: Sequence[Geometry] | None = None,
    min_households: int = 30,
    max_households: int = 50,
    seed: int = 0,
    allow_cross_compound: bool = False,
) -> PartitionResult:
    """The three-level partition of one community (see :mod:`geo.partition`).

    ``roads`` (with ``street_names``) separate the street grids of buildings outside the
    compounds; ``ways`` are every line of the road layer, lanes and footways inside
    compounds included, that micro-grids should not straddle when avoidable (default: the
    roads)."""
    lo, hi = int(min_households), int(max_households)
    if not 1 <= lo <= hi:
        raise ValueError(f"band must satisfy 1 <= min <= max, got {lo}-{hi}")
    params = {"min": lo, "max": hi, "seed": seed, "allow_cross_compound": allow_cross_compound}
    prep = prepare_community(
        code,
        boundary,
        compounds,
        buildings,
        roads=roads,
        street_names=street_names,
        ways=ways,
        max_households=hi,
        min_households=lo,
        allow_cross_compound=allow_cross_compound,
    )
    return group_community(prep, seed=seed, params=params)


@dataclass
class Prepared:
    """A community ready for grouping: its compound-level zones and its atoms with their
    cells (the tessellation), before any grouping."""

    code: str
    geometry: Geometry
    zone_codes: list[str]
    zone_names: list[str]
    zone_compounds: list[list[str]]
    zone_polys: list[Geometry]
    merged: set[str]
    atoms: list[Atom]
    cells: list[Geometry]
    atom_zone: list[int]
    edges: np.ndarray  # (m, 2) atoms whose cells share a border
    lo: int
    hi: int
    cross: np.ndarray | None = None  # per edge: the two atoms stand on either side of a way
    zone_notes: list[str] | None = None  # per zone: what was done to its area (parts, …)

    def zone_graph(
        self, z: int, separate: Callable[[str, str], bool] | None = None
    ) -> tuple[list[int], Graph]:
        """The atoms of zone ``z`` (indices) and their adjacency graph; ``separate(a, b)``
        true removes the edges between buildings a and b (a boundary to respect)."""
        idx = [i for i, zz in enumerate(self.atom_zone) if zz == z]
        zone_atoms = [self.atoms[i] for i in idx]
        local = np.full(len(self.atoms), -1, dtype=np.int64)
        local[idx] = np.arange(len(idx))
        pairs = local[self.edges]
        inside = (pairs >= 0).all(axis=1)
        cross = self.cross if self.cross is not None else np.zeros(len(self.edges), dtype=bool)
        edges = [(a, b) for a, b in pairs[inside].tolist()]
        crossing = [(a, b) for a, b in pairs[inside & cross].tolist()]
        if separate is not None:
            edges = [
                (a, b)
                for a, b in edges
                if not separate(zone_atoms[a].building, zone_atoms[b].building)
            ]
        bidx = {c: i for i, c in enumerate(sorted({a.building for a in zone_atoms}))}
        xy = shapely.get_coordinates(shapely.centroid([a.slice for a in zone_atoms])).reshape(-1, 2)
        g = make_graph(
            [a.households for a in zone_atoms],
            xy,
            [bidx[a.building] for a in zone_atoms],
            edges,
            crossing,
        )
        return idx, g

    def community_graph(self) -> Graph:
        """All atoms of the community and their adjacency, across zone borders too (what a
        general-purpose partitioner would be given)."""
        edges = self.edges.tolist()
        cross = self.cross if self.cross is not None else np.zeros(len(edges), dtype=bool)
        bidx = {c: i for i, c in enumerate(sorted({a.building for a in self.atoms}))}
        xy = shapely.get_coordinates(shapely.centroid(self.cells)).reshape(-1, 2)
        return make_graph(
            [a.households for a in self.atoms],
            xy,
            [bidx[a.building] for a in self.atoms],
            edges,
            [e for e, c in zip(edges, cross.tolist(), strict=True) if c],
        )


ZONE_SPACING_M = 10.0  # samples along compound walls for the compound-level cells
UNIT_SPACING_M = 8.0  # samples along the units' footprints for their cells


def prepare_community(
    code: str,
    boundary: Geometry,
    compounds: Sequence[CompoundIn],
    buildings: Sequence[BuildingIn],
    *,
    roads: Sequence[Geometry] = (),
    street_names: Sequence[str] = (),
    ways: Sequence[Geometry] | None = None,
    min_households: int = 30,
    max_households: int = 50,
    allow_cross_compound: bool = False,
) -> Prepared:
    """Zones (compound-level grids) and atoms with their cells: everything but the grouping.

    A unit over the maximum is split by floors into several atoms that share the unit's
    cell (floors are not places); they are neighbours of each other and of the unit's
    neighbours."""
    lo, hi = int(min_households), int(max_households)
    comps = sorted(compounds, key=lambda c: c.code)
    by_code = {c.code: c for c in comps}
    inside = [b for b in buildings if b.compound in by_code]
    outside = sorted((b for b in buildings if b.compound not in by_code), key=lambda b: b.code)
    # buildings outside the compounds with households make street grids; shops and other
    # buildings without households join the grid whose area they stand in
    clusters = _street_clusters([b for b in outside if b.households > 0], roads)
    loose = [b for b in outside if b.households == 0]
    # zones (compound-level grids): compounds, then street clusters
    zone_seeds = [c.boundary for c in comps] + [
        shapely.union_all([b.footprint for b in cl]) for cl in clusters
    ]
    members: list[list[BuildingIn]] = [
        sorted((b for b in inside if b.compound == c.code), key=lambda b: b.code) for c in comps
    ] + [sorted(cl, key=lambda b: b.code) for cl in clusters]
    if loose and zone_seeds:  # each joins the nearest compound (or street grid), footprint and all
        where = shapely.STRtree(np.asarray(zone_seeds, dtype=object))
        extra: dict[int, list[Geometry]] = defaultdict(list)
        for b in loose:
            hit = int(where.query_nearest(b.footprint, all_matches=False)[0])
            members[hit].append(b)
            extra[hit].append(b.footprint)
        for z, fps in extra.items():
            zone_seeds[z] = shapely.union_all([zone_seeds[z], *fps])
        members = [sorted(m, key=lambda b: b.code) for m in members]
    if zone_seeds:
        # compounds' walls sampled every 10 m: the border between two compounds runs down a
        # street, where a coarser sampling wobbles it by a few decimetres at most
        zone_cells = tessellate(
            boundary, zone_seeds, spacing=ZONE_SPACING_M, keep_seed_pieces=True
        ).cells
        zone_cells, members, origin, notes = _connected_zones(zone_cells, members, comps, lo)
    else:  # no compound, no house: one grid of the whole community (sheds and all)
        zone_cells, members, origin, notes = (
            [boundary],
            [sorted(loose, key=lambda b: b.code)],
            [-1],
            [""],
        )
    zone_codes, zone_names, zone_compounds = _zone_names(
        code, origin, members, comps, roads, street_names
    )
    if allow_cross_compound:
        zone_cells, zone_codes, zone_names, zone_compounds, members, merged, notes = (
            _merge_infeasible(
                zone_cells, zone_codes, zone_names, zone_compounds, members, notes, lo, hi
            )
        )
    else:
        merged = set()
    # units and their cells, all zones noded together
    unit_rows: list[tuple[str, UnitIn, Geometry, list]] = []
    unit_zone: list[int] = []
    every = [(z, b) for z, bs in enumerate(members) for b in bs]
    for (z, b), rows in zip(every, buildings_units([b for _, b in every], hi), strict=True):
        for unit, sl, parts in rows:
            unit_rows.append((b.code, unit, sl, parts))
            unit_zone.append(z)
    empty_zones = [z for z in range(len(zone_cells)) if z not in set(unit_zone)]
    seeds = [r[2] for r in unit_rows] + [
        shapely.point_on_surface(zone_cells[z]) for z in empty_zones
    ]
    tess = tessellate(
        boundary,
        seeds,
        zones=zone_cells,
        zone_of_seed=unit_zone + empty_zones,
        spacing=UNIT_SPACING_M,
    )
    atoms: list[Atom] = []
    cells: list[Geometry] = []
    atom_zone: list[int] = []
    atoms_of: list[list[int]] = []  # per unit row, its atoms (several when split by floors)
    for i, (bcode, unit, sl, parts) in enumerate(unit_rows):
        atoms_of.append([])
        for fmin, fmax, n in parts:
            atoms_of[i].append(len(atoms))
            atoms.append(Atom(bcode, unit.id, unit.unit_no, fmin, fmax, n, sl))
            cells.append(tess.cells[i])
            atom_zone.append(unit_zone[i])
    edges, cross = _atom_edges(tess, atoms_of, unit_rows, ways if ways is not None else roads)
    return Prepared(
        code,
        dissolve(tess.zones),
        zone_codes,
        zone_names,
        zone_compounds,
        tess.zones,
        merged,
        atoms,
        cells,
        atom_zone,
        edges,
        lo,
        hi,
        cross,
        notes,
    )


def _atom_edges(
    tess: Any,
    atoms_of: list[list[int]],
    unit_rows: list[tuple[str, UnitIn, Geometry, list]],
    ways: Sequence[Geometry],
) -> tuple[np.ndarray, np.ndarray]:
    """Atoms whose cells share a border (of more than a millimetre, from the tessellation),
    the floor ranges of one unit with each other, and which of these pairs stand on either
    side of a way: the segment between their units' footprint slices crosses it (never
    between units of one building)."""
    pairs = [
        (a, b)
        for (a, b), length in zip(tess.touching.tolist(), tess.shared.tolist(), strict=True)
        if length > 1e-3 and a < len(atoms_of) and b < len(atoms_of)
    ]
    across = np.zeros(len(pairs), dtype=bool)
    if pairs and len(ways):
        a_idx, b_idx = np.array(pairs).T
        reps = shapely.point_on_surface(np.asarray([r[2] for r in unit_rows], dtype=object))
        segs = shapely.linestrings(
            np.stack(
                [shapely.get_coordinates(reps[a_idx]), shapely.get_coordinates(reps[b_idx])],
                axis=1,
            )
        )
        hit, _ = shapely.STRtree(np.asarray(ways, dtype=object)).query(segs, predicate="intersects")
        across[np.unique(hit)] = True
        same = np.array([unit_rows[a][0] == unit_rows[b][0] for a, b in pairs])
        across &= ~same
    edges: list[tuple[int, int]] = []
    cross: list[bool] = []
    for (a, b), c in zip(pairs, across.tolist(), strict=True):
        for x in atoms_of[a]:
            for y in atoms_of[b]:
                edges.append((x, y))
                cross.append(c)
    for group in atoms_of:  # the floor ranges of one unit share its cell
        for i, x in enumerate(group):
            for y in group[i + 1 :]:
                edges.append((x, y))
                cross.append(False)
    return (
        np.asarray(edges, dtype=np.int64).reshape(-1, 2),
        np.asarray(cross, dtype=bool),
    )


def _zone_names(
    code: str,
    origin: list[int],
    members: list[list[BuildingIn]],
    comps: Sequence[CompoundIn],
    roads: Sequence[Geometry],
    street_names: Sequence[str],
) -> tuple[list[str], list[str], list[list[str]]]:
    """Codes, names and compounds of the zones: a compound's code and name (its further
    parts, when it is in several, ``-2``, ``（2）`` …), then the street grids ``S01`` … named
    after their road."""
    codes, names, compounds = [], [], []
    parts: dict[int, int] = defaultdict(int)
    street = 0
    for o, grp in zip(origin, members, strict=True):
        if 0 <= o < len(comps):
            c = comps[o]
            parts[o] += 1
            k = parts[o]
            codes.append(c.code if k == 1 else f"{c.code}-{k}")
            names.append(c.name if k == 1 else f"{c.name}（{k}）")
            compounds.append([c.code])
        elif o < 0:
            codes.append(f"{code}-S01")
            names.append("社区网格")
            compounds.append([])
        else:
            street += 1
            codes.append(f"{code}-S{street:02d}")
            homes = [b for b in grp if b.households > 0] or grp
            names.append(_street_name(homes, roads, street_names, street))
            compounds.append([])
    return codes, names, compounds


def _connected_zones(
    cells: list[Geometry], members: list[list[BuildingIn]], comps: Sequence[CompoundIn], lo: int
) -> tuple[list[Geometry], list[list[BuildingIn]], list[int], list[str]]:
    """Zones of one piece each. A zone's seed may be in pieces (a street cluster of separate
    buildings; a compound with a shop that stands apart), and another zone may lie between
    them, so its cell comes out in pieces. Each building goes to the piece holding most of its
    footprint. A piece holding at least ``lo`` households is a zone of its own: a street
    grid, or a further part of its compound (a compound drawn in two parts, a road between
    them, makes two compound grids); a compound keeps at least its piece with the most
    households. Any other piece goes, buildings and all, to the zone it shares the longest
    border with, which says so in its note. Returns the cells, the members, the zone each
    came from (its index in ``cells``) and the notes."""
    n_comp = len(comps)
    kept_cells: list[Geometry] = []
    kept_members: list[list[BuildingIn]] = []
    origin: list[int] = []
    orphans: list[tuple[Geometry, list[BuildingIn], int]] = []  # pieces to hand over
    split: dict[int, int] = {}
    for z, (cell, bs) in enumerate(zip(cells, members, strict=True)):
        parts = [p for p in shapely.get_parts(cell) if p.area > 1e-6]
        if len(parts) <= 1:
            kept_cells.append(cell)
            kept_members.append(bs)
            origin.append(z)
            continue
        held: list[list[BuildingIn]] = [[] for _ in parts]
        arr = np.asarray(parts, dtype=object)
        for b in bs:
            held[int(np.argmax(shapely.area(shapely.intersection(arr, b.footprint))))].append(b)
        homes = [sum(b.households for b in grp) for grp in held]
        keep = {k for k, n in enumerate(homes) if n >= lo}
        if z < n_comp and not keep:  # a compound keeps its piece with the most households
            keep = {max(range(len(parts)), key=lambda k: (homes[k], parts[k].area))}
        if z < n_comp and len(keep) > 1:
            split[z] = len(keep)
        # the kept pieces in order: the one with the most households first (it keeps the code)
        for k in sorted(keep, key=lambda k: (-homes[k], -parts[k].area)):
            kept_cells.append(parts[k])
            kept_members.append(held[k])
            origin.append(z)
        orphans += [(parts[k], held[k], z) for k in range(len(parts)) if k not in keep]
    notes = [""] * len(kept_cells)
    for z, n in split.items():
        for j in (j for j, o in enumerate(origin) if o == z):
            notes[j] = f"小区分为 {n} 块，各成一个网格 (the compound is in {n} parts, a grid each)"
    while orphans:  # each to the kept zone it borders most (one beside others waits a round)
        waiting = []
        for part, bs, z in orphans:
            shared = shapely.length(
                shapely.intersection(
                    shapely.boundary(part), shapely.boundary(np.asarray(kept_cells, dtype=object))
                )
            )
            if not len(shared) or shared.max() <= 0:
                waiting.append((part, bs, z))
                continue
            j = int(np.argmax(shared))
            kept_cells[j] = dissolve([kept_cells[j], part])
            kept_members[j] = kept_members[j] + bs
            if origin[j] != z and any(b.households for b in bs):
                what = comps[z].code if z < n_comp else "沿街 (street side)"
                names = ", ".join(b.code for b in bs[:3]) + ("…" if len(bs) > 3 else "")
                notes[j] = "; ".join(
                    x
                    for x in (
                        notes[j],
                        f"含 {what} 隔开的 {len(bs)} 栋楼 (holds {len(bs)} buildings cut off "
                        f"from {what}: {names})",
                    )
                    if x
                )
        if len(waiting) == len(orphans):  # touching no kept zone at all: a zone of its own
            for part, bs, z in waiting:
                kept_cells.append(part)
                kept_members.append(bs)
                origin.append(z)
                notes.append("")
            break
        orphans = waiting
    # zones in the order of what they came from: compounds first, then street clusters
    order = sorted(range(len(kept_cells)), key=lambda j: (origin[j], j))
    return (
        [kept_cells[j] for j in order],
        [sorted(kept_members[j], key=lambda b: b.code) for j in order],
        [origin[j] for j in order],
        [notes[j] for j in order],
    )


def group_community(
    prep: Prepared,
    *,
    seed: int = 0,
    params: dict[str, Any] | None = None,
    separate: Callable[[str, str], bool] | None = None,
) -> PartitionResult:
    """Group each zone's atoms into micro-grids (the search) and build their polygons;
    ``separate(a, b)`` true keeps buildings a and b in different micro-grids."""
    lo, hi = prep.lo, prep.hi
    params = params or {"min": lo, "max": hi, "seed": seed}
    result: list[CompoundGrid] = []
    for z, zcode in enumerate(prep.zone_codes):
        idx, g = prep.zone_graph(z, separate)
        cg = CompoundGrid(zcode, prep.zone_names[z], prep.zone_compounds[z], prep.zone_polys[z])
        cg.note = (prep.zone_notes or [""] * len(prep.zone_codes))[z]
        if not idx:
            cg.micro = [MicroGrid(f"{zcode}-M01", zcode, prep.zone_polys[z], [])]
            cg.status, cg.reason = "no_households", "没有楼栋 (no buildings)"
            result.append(cg)
            continue
        zone_atoms = [prep.atoms[i] for i in idx]
        cells = prep.cells
        zone_compounds, merged = prep.zone_compounds, prep.merged
        sol = solve_zone(g, lo, hi, zone_rng(seed, zcode))
        cg.status, cg.reason, cg.proven = sol.status, sol.reason, sol.proven
        if zcode in merged:
            cg.status = "merged" if sol.status == "ok" else sol.status
            cg.reason = (
                "跨小区合并 (merged across a compound boundary: "
                f"{' + '.join(zone_compounds[z])}) " + sol.reason
            ).strip()
        groups = sorted(
            (sorted(grp.tolist(), key=lambda i: zone_atoms[i].key) for grp in sol.groups),
            key=lambda grp: zone_atoms[grp[0]].key,
        )
        for n, grp in enumerate(groups, 1):
            own = {zone_atoms[i].unit_id: cells[idx[i]] for i in grp}  # one cell per unit
            floors = {
                zone_atoms[i].unit_id: cells[idx[i]]
                for i in grp
                if zone_atoms[i].floor_min is not None
            }
            cg.micro.append(
                MicroGrid(
                    f"{zcode}-M{n:02d}",
                    zcode,
                    dissolve(list(own.values())),
                    [zone_atoms[i] for i in grp],
                    floors,
                )
            )
        owners: dict[str, set[int]] = {}
        for n, grp in enumerate(groups):
            for i in grp:
                owners.setdefault(zone_atoms[i].building, set()).add(n)
        cg.split_buildings = sum(1 for s in owners.values() if len(s) > 1)
        result.append(cg)
    return PartitionResult(prep.code, prep.geometry, result, params)


def _street_name(
    cluster: list[BuildingIn], roads: Sequence[Geometry], names: Sequence[str], i: int
) -> str:
    if roads and names:
        hull = shapely.union_all([b.footprint for b in cluster])
        d = shapely.distance(np.asarray(roads, dtype=object), hull)
        return f"{names[int(np.argmin(d))]}沿街网格{i}"
    return f"沿街网格{i}"


def _merge_infeasible(cells, codes, names, compounds, members, notes, lo, hi):
    """With allow_cross_compound: merge each zone whose households cannot fill the band (a
    total below the minimum, or units that cannot be grouped) with the neighbouring zone it
    shares the longest border with."""
    cells, codes, names, notes = list(cells), list(codes), list(names), list(notes)
    compounds, members = [list(c) for c in compounds], [list(m) for m in members]
    merged: set[str] = set()
    changed = True
    while changed:
        changed = False
        for z in range(len(cells)):
            total = sum(b.households for b in members[z])
            if total == 0 or _zone_feasible(members[z], lo, hi):
                continue
            best, best_len = None, 0.0
            for o in range(len(cells)):
                if o == z:
                    continue
                shared = shapely.length(
                    shapely.intersection(shapely.boundary(cells[z]), shapely.boundary(cells[o]))
                )
                if shared > best_len and sum(b.households for b in members[o]) > 0:
                    best, best_len = o, float(shared)
            if best is None:
                continue
            keep, drop = (z, best) if codes[z] < codes[best] else (best, z)
            cells[keep] = dissolve([cells[keep], cells[drop]])
            if not shapely.is_valid(cells[keep]) or cells[keep].geom_type != "Polygon":
                cells[keep] = shapely.union_all([cells[keep]])
            names[keep] = f"{names[keep]}+{names[drop]}"
            compounds[keep] += compounds[drop]
            members[keep] += members[drop]
            merged.add(codes[keep])
            notes[keep] = "; ".join(x for x in (notes[keep], notes[drop]) if x)
            for lst in (cells, codes, names, compounds, members, notes):
                del lst[drop]
            changed = True
            break
    return cells, codes, names, compounds, members, merged, notes


def _zone_feasible(bs: list[BuildingIn], lo: int, hi: int) -> bool:
    """Quick test: can the units of these buildings be grouped within the band, ignoring
    adjacency? (a subset-sum style bound: enough for the merge decision)."""
    weights = [n for b in bs for u in b.units for _, _, n in split_unit(u, hi)]
    total = sum(weights)
    if total == 0:
        return True
    if total < lo:
        return False
    if total <= hi:
        return True
    kmin, kmax = math.ceil(total / hi), total // lo
    return kmin <= kmax and max(weights) <= hi
