"""Partitioning a community into compound grids and micro-grids of 30–50 households.

The three levels (社区网格 → 小区/院落网格 → 楼栋/单元微网格):

* the **community grid** is the community;
* **compound grids** follow the compound polygons; buildings outside every compound (shop
  fronts, street-side blocks) are grouped by proximity, never across a road, into street
  grids; the rest of the community (roads, open ground) goes to the nearest of these, so the
  compound grids tile the community;
* **micro-grids** are groups of whole building units (单元) whose households add up to the
  band. A unit is split only when it alone exceeds the maximum, and then by floors into
  balanced parts that share the unit's cell (floors are not places: the micro-grids of a
  tower's floor ranges have the same polygon there, told apart by floor range). Units
  without households (sheds, shops) are not units of their own: they go with a neighbour.

The flow, top-down: :mod:`~geo.partition.pipeline` (the one pipeline: :func:`~geo.partition.
pipeline.run` on a :class:`CommunityInput`, :func:`~geo.partition.pipeline.prepare` for the
zones, atoms and cells alone) → :mod:`~geo.partition.zoning` (the zones: compound grids, with
:mod:`~geo.partition.streets` for the street grids) → :mod:`~geo.partition.cells` (atoms, their
cells and neighbours) → :mod:`~geo.partition.prepared` (a community ready for grouping, its
graphs) → :mod:`~geo.partition.grouping` (micro-grids per zone, their polygons) →
:mod:`~geo.partition.zone` (one zone's grouping and the rule) → :mod:`~geo.partition.exact`
(the bounded exact search for small zones) or :mod:`~geo.partition.bisect` (spanning-tree
bisection for the others) → :mod:`~geo.partition.graph` (the atoms' adjacency graph). The data
classes and measures are in :mod:`~geo.partition.model`.

When a compound's units cannot make groups inside the band, the documented rule applies, in
order (and is reported per compound, never silently):

1. total below the minimum: one under-filled micro-grid;
2. otherwise as few under-filled micro-grids as possible, never an over-filled one (e.g. two
   single-unit buildings of 28: two micro-grids of 28) — except a single floor that alone
   holds more than the maximum, which becomes a micro-grid by itself (reported);
3. with ``allow_cross_compound``, the compound grid is merged with the neighbouring compound
   grid it shares the longest border with, and the two are partitioned together.

Every search is bounded in time and memory; a compound whose search reaches a limit gets
the best grouping found, ``proven = False`` and the reason. Deterministic for the same input
and seed. All geometry is in a metric CRS.
"""

from geo.partition.exact import count_groups
from geo.partition.graph import Graph, cell_adjacency, make_graph
from geo.partition.grouping import group_community, zone_rng
from geo.partition.model import (
    Atom,
    BuildingIn,
    CommunityInput,
    CompoundGrid,
    CompoundIn,
    MicroGrid,
    PartitionResult,
    UnitIn,
    buildings_units,
    polsby_popper,
    split_unit,
    spread_m,
)
from geo.partition.pipeline import partition_community, prepare_community
from geo.partition.prepared import Prepared
from geo.partition.zone import Solution, greedy_groups, solve_zone

__all__ = [
    "Atom",
    "BuildingIn",
    "CommunityInput",
    "CompoundGrid",
    "CompoundIn",
    "Graph",
    "MicroGrid",
    "PartitionResult",
    "Prepared",
    "Solution",
    "UnitIn",
    "buildings_units",
    "cell_adjacency",
    "count_groups",
    "greedy_groups",
    "group_community",
    "make_graph",
    "partition_community",
    "polsby_popper",
    "prepare_community",
    "solve_zone",
    "split_unit",
    "spread_m",
    "zone_rng",
]
