"""The zones of a community (compound-level grids): the compounds, then the street grids of
the buildings outside them; the tessellation of the community between them, each zone of one
piece; their codes and names; with ``allow_cross_compound``, the merge of zones that cannot
fill the band."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import shapely
from shapely import Geometry

from geo.core.tessellate import dissolve, tessellate
from geo.partition.model import BuildingIn, CommunityInput, CompoundIn, split_unit
from geo.partition.streets import street_clusters, street_name

__all__ = ["ZONE_SPACING_M", "Zones", "make_zones"]

ZONE_SPACING_M = 10.0  # samples along compound walls for the compound-level cells


@dataclass
class Zones:
    """The zones of a community, in order (compounds first, then street grids): their cells
    (which tile the community), codes, names, compounds, buildings and notes; ``merged``:
    the codes of zones merged across a compound boundary."""

    cells: list[Geometry]
    codes: list[str]
    names: list[str]
    compounds: list[list[str]]
    members: list[list[BuildingIn]]
    notes: list[str]
    merged: set[str] = field(default_factory=set)


def make_zones(inp: CommunityInput, lo: int, hi: int, *, allow_cross_compound: bool) -> Zones:
    """The zones of ``inp`` for the band ``lo``–``hi``. Buildings outside the compounds with
    households make street grids; shops and other buildings without households join the zone
    whose area they stand in."""
    comps = sorted(inp.compounds, key=lambda c: c.code)
    seeds, members, loose = _zone_seeds(comps, inp.buildings, inp.roads)
    if seeds:
        # compounds' walls sampled every 10 m: the border between two compounds runs down a
        # street, where a coarser sampling wobbles it by a few decimetres at most
        cells = tessellate(inp.boundary, seeds, spacing=ZONE_SPACING_M, keep_seed_pieces=True).cells
        cells, members, origin, notes = _connected_zones(cells, members, comps, lo)
    else:  # no compound, no house: one grid of the whole community (sheds and all)
        cells, members, origin, notes = [inp.boundary], [_by_code(loose)], [-1], [""]
    codes, names, compounds = _zone_names(
        inp.code, origin, members, comps, inp.roads, inp.road_names
    )
    zones = Zones(cells, codes, names, compounds, members, notes)
    return _merge_infeasible(zones, lo, hi) if allow_cross_compound else zones


def _by_code(bs: Sequence[BuildingIn]) -> list[BuildingIn]:
    return sorted(bs, key=lambda b: b.code)


def _zone_seeds(
    comps: Sequence[CompoundIn], buildings: Sequence[BuildingIn], roads: Sequence[Geometry]
) -> tuple[list[Geometry], list[list[BuildingIn]], list[BuildingIn]]:
    """The seed of each zone (a compound's polygon, a street cluster's footprints), its
    buildings, and the buildings without households outside the compounds (each joins the
    nearest zone, footprint and all)."""
    by_code = {c.code: c for c in comps}
    inside = [b for b in buildings if b.compound in by_code]
    outside = _by_code([b for b in buildings if b.compound not in by_code])
    clusters = street_clusters([b for b in outside if b.households > 0], roads)
    loose = [b for b in outside if b.households == 0]
    seeds = [c.boundary for c in comps] + [
        shapely.union_all([b.footprint for b in cl]) for cl in clusters
    ]
    members = [_by_code([b for b in inside if b.compound == c.code]) for c in comps] + [
        _by_code(cl) for cl in clusters
    ]
    if loose and seeds:
        where = shapely.STRtree(np.asarray(seeds, dtype=object))
        extra: dict[int, list[Geometry]] = defaultdict(list)
        for b in loose:
            hit = int(where.query_nearest(b.footprint, all_matches=False)[0])
            members[hit].append(b)
            extra[hit].append(b.footprint)
        for z, fps in extra.items():
            seeds[z] = shapely.union_all([seeds[z], *fps])
        members = [_by_code(m) for m in members]
    return seeds, members, loose


# --- zones of one piece each ----------------------------------------------------------------
_Piece = tuple[Geometry, list[BuildingIn]]


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
    kept_cells: list[Geometry] = []
    kept_members: list[list[BuildingIn]] = []
    origin: list[int] = []
    orphans: list[tuple[Geometry, list[BuildingIn], int]] = []  # pieces to hand over
    split: dict[int, int] = {}
    for z, (cell, bs) in enumerate(zip(cells, members, strict=True)):
        kept, dropped = _split_zone(cell, bs, z < len(comps), lo)
        if z < len(comps) and len(kept) > 1:
            split[z] = len(kept)
        for part, held in kept:
            kept_cells.append(part)
            kept_members.append(held)
            origin.append(z)
        orphans += [(part, held, z) for part, held in dropped]
    notes = [""] * len(kept_cells)
    for z, n in split.items():
        for j in (j for j, o in enumerate(origin) if o == z):
            notes[j] = f"小区分为 {n} 块，各成一个网格 (the compound is in {n} parts, a grid each)"
    _hand_over(orphans, kept_cells, kept_members, origin, notes, comps)
    # zones in the order of what they came from: compounds first, then street clusters
    order = sorted(range(len(kept_cells)), key=lambda j: (origin[j], j))
    return (
        [kept_cells[j] for j in order],
        [_by_code(kept_members[j]) for j in order],
        [origin[j] for j in order],
        [notes[j] for j in order],
    )


def _split_zone(
    cell: Geometry, bs: list[BuildingIn], compound: bool, lo: int
) -> tuple[list[_Piece], list[_Piece]]:
    """The pieces of one zone's cell that stay zones (the one with the most households first:
    it keeps the code) and those to hand over, each with the buildings it holds most of."""
    parts = [p for p in shapely.get_parts(cell) if p.area > 1e-6]
    if len(parts) <= 1:
        return [(cell, bs)], []
    held: list[list[BuildingIn]] = [[] for _ in parts]
    arr = np.asarray(parts, dtype=object)
    for b in bs:
        held[int(np.argmax(shapely.area(shapely.intersection(arr, b.footprint))))].append(b)
    homes = [sum(b.households for b in grp) for grp in held]
    keep = {k for k, n in enumerate(homes) if n >= lo}
    if compound and not keep:  # a compound keeps its piece with the most households
        keep = {max(range(len(parts)), key=lambda k: (homes[k], parts[k].area))}
    kept = [(parts[k], held[k]) for k in sorted(keep, key=lambda k: (-homes[k], -parts[k].area))]
    return kept, [(parts[k], held[k]) for k in range(len(parts)) if k not in keep]


def _hand_over(
    orphans: list[tuple[Geometry, list[BuildingIn], int]],
    cells: list[Geometry],
    members: list[list[BuildingIn]],
    origin: list[int],
    notes: list[str],
    comps: Sequence[CompoundIn],
) -> None:
    """Each orphan piece to the kept zone it borders most (one beside others waits a round);
    pieces touching no kept zone at all become zones of their own. Updates the lists."""
    while orphans:
        waiting = []
        for part, bs, z in orphans:
            shared = shapely.length(
                shapely.intersection(
                    shapely.boundary(part), shapely.boundary(np.asarray(cells, dtype=object))
                )
            )
            if not len(shared) or shared.max() <= 0:
                waiting.append((part, bs, z))
                continue
            j = int(np.argmax(shared))
            cells[j] = dissolve([cells[j], part])
            members[j] = members[j] + bs
            if origin[j] != z and any(b.households for b in bs):
                notes[j] = "; ".join(x for x in (notes[j], _cut_off_note(bs, z, comps)) if x)
        if len(waiting) == len(orphans):
            for part, bs, z in waiting:
                cells.append(part)
                members.append(bs)
                origin.append(z)
                notes.append("")
            return
        orphans = waiting


def _cut_off_note(bs: list[BuildingIn], z: int, comps: Sequence[CompoundIn]) -> str:
    """The note of a zone that was given buildings cut off from zone ``z``."""
    what = comps[z].code if z < len(comps) else "沿街 (street side)"
    names = ", ".join(b.code for b in bs[:3]) + ("…" if len(bs) > 3 else "")
    return (
        f"含 {what} 隔开的 {len(bs)} 栋楼 (holds {len(bs)} buildings cut off from {what}: {names})"
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
    codes, names = [], []
    compounds: list[list[str]] = []
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
            names.append(street_name(homes, roads, street_names, street))
            compounds.append([])
    return codes, names, compounds


# --- across compound boundaries -------------------------------------------------------------
def _merge_infeasible(zones: Zones, lo: int, hi: int) -> Zones:
    """With allow_cross_compound: merge each zone whose households cannot fill the band (a
    total below the minimum, or units that cannot be grouped) with the neighbouring zone it
    shares the longest border with."""
    z = Zones(
        list(zones.cells),
        list(zones.codes),
        list(zones.names),
        [list(c) for c in zones.compounds],
        [list(m) for m in zones.members],
        list(zones.notes),
        set(),
    )
    while (pair := _next_merge(z, lo, hi)) is not None:
        keep, drop = pair
        z.cells[keep] = dissolve([z.cells[keep], z.cells[drop]])
        if not shapely.is_valid(z.cells[keep]) or z.cells[keep].geom_type != "Polygon":
            z.cells[keep] = shapely.union_all([z.cells[keep]])
        z.names[keep] = f"{z.names[keep]}+{z.names[drop]}"
        z.compounds[keep] += z.compounds[drop]
        z.members[keep] += z.members[drop]
        z.merged.add(z.codes[keep])
        z.notes[keep] = "; ".join(x for x in (z.notes[keep], z.notes[drop]) if x)
        for lst in (z.cells, z.codes, z.names, z.compounds, z.members, z.notes):
            del lst[drop]
    return z


def _next_merge(z: Zones, lo: int, hi: int) -> tuple[int, int] | None:
    """The first zone that cannot fill the band and has a neighbour with households: (the
    zone that keeps its code, the one merged into it), the lower code keeping it."""
    for a in range(len(z.cells)):
        total = sum(b.households for b in z.members[a])
        if total == 0 or _zone_feasible(z.members[a], lo, hi):
            continue
        best, best_len = None, 0.0
        for o in range(len(z.cells)):
            if o == a:
                continue
            shared = shapely.length(
                shapely.intersection(shapely.boundary(z.cells[a]), shapely.boundary(z.cells[o]))
            )
            if shared > best_len and sum(b.households for b in z.members[o]) > 0:
                best, best_len = o, float(shared)
        if best is not None:
            return (a, best) if z.codes[a] < z.codes[best] else (best, a)
    return None


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
