"""Atoms and their cells: each unit's slice of its building's footprint, its cell of its zone
(the tessellation, all zones noded together), and which atoms are neighbours — across a way
or not."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import shapely
from shapely import Geometry

from geo.core.tessellate import Tessellation, tessellate
from geo.partition.model import Atom, BuildingIn, UnitIn, buildings_units

__all__ = ["UNIT_SPACING_M", "AtomCells", "atom_cells"]

UNIT_SPACING_M = 8.0  # samples along the units' footprints for their cells

# a unit of a building: the building's code, the unit, its slice, its parts (split_unit)
_UnitRow = tuple[str, UnitIn, Geometry, list[tuple[int | None, int | None, int]]]


@dataclass
class AtomCells:
    """The atoms of a community with their cells and zones; ``zones``: the zones' polygons
    as the tessellation noded them; ``edges`` (m, 2): atoms whose cells share a border,
    ``cross`` per edge: the two atoms stand on either side of a way."""

    atoms: list[Atom]
    cells: list[Geometry]
    atom_zone: list[int]
    zones: list[Geometry]
    edges: np.ndarray
    cross: np.ndarray


def atom_cells(
    boundary: Geometry,
    zone_cells: list[Geometry],
    members: list[list[BuildingIn]],
    hi: int,
    ways: Sequence[Geometry],
) -> AtomCells:
    """Units and their cells, all zones noded together. A unit over the maximum ``hi`` is
    split by floors into several atoms that share the unit's cell (floors are not places);
    they are neighbours of each other and of the unit's neighbours. A zone without units
    gets a seed of its own, so that its area is still covered."""
    unit_rows: list[_UnitRow] = []
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
    edges, cross = _atom_edges(tess, atoms_of, unit_rows, ways)
    return AtomCells(atoms, cells, atom_zone, tess.zones, edges, cross)


def _atom_edges(
    tess: Tessellation,
    atoms_of: list[list[int]],
    unit_rows: list[_UnitRow],
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
    across = _across(pairs, unit_rows, ways)
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


def _across(
    pairs: list[tuple[int, int]], unit_rows: list[_UnitRow], ways: Sequence[Geometry]
) -> np.ndarray:
    """Per pair of neighbouring units: the segment between their slices crosses a way (never
    for two units of one building)."""
    across = np.zeros(len(pairs), dtype=bool)
    if not pairs or not len(ways):
        return across
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
    return across & ~same
