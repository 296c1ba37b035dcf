"""Grids in PostGIS: loading a community for partitioning, writing a partition as a new
version, reading versions back (for validation and the API).

A version holds all three levels of one community. Writing a new version supersedes the
current one, which stays queryable as history.

The modules: :mod:`~geo.store.versions.community` (a community as the partitioner takes it),
:mod:`~geo.store.versions.partitioning` (partition, validate, write, re-assign),
:mod:`~geo.store.versions.write` (a new version), :mod:`~geo.store.versions.read` (a version
back), :mod:`~geo.store.versions.floors` (units split by floors), :mod:`~geo.store.versions.
layer` (the grids as a feature layer).
"""

from geo.partition import CommunityInput
from geo.store.versions.community import community_codes, load_communities, load_community
from geo.store.versions.floors import FLOOR_UNITS, FloorGroup, FloorUnit, floor_units
from geo.store.versions.layer import GRIDS, grid_features
from geo.store.versions.partitioning import (
    partition_and_store,
    preview_reassign,
    reassign_after,
    store_partitions,
)
from geo.store.versions.read import load_version, micro_grids_under
from geo.store.versions.write import Written, write_version, write_versions

__all__ = [
    "FLOOR_UNITS",
    "GRIDS",
    "CommunityInput",
    "FloorGroup",
    "FloorUnit",
    "Written",
    "community_codes",
    "floor_units",
    "grid_features",
    "load_communities",
    "load_community",
    "load_version",
    "micro_grids_under",
    "partition_and_store",
    "preview_reassign",
    "reassign_after",
    "store_partitions",
    "write_version",
    "write_versions",
]
