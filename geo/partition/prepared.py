"""A community ready for grouping (:class:`Prepared`): its zones, its atoms with their cells,
and the atoms' adjacency graph, per zone or for the whole community."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import shapely
from shapely import Geometry

from geo.partition.graph import Graph, make_graph
from geo.partition.model import Atom

__all__ = ["Prepared"]


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
