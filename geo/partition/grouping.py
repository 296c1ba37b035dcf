"""Grouping a prepared community: each zone's atoms into micro-grids (the search of
:mod:`geo.partition.zone`), and the micro-grids' polygons (the union of their atoms' cells)."""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import Any

import numpy as np
from shapely import Geometry

from geo.core.stages import stage
from geo.core.tessellate import dissolve
from geo.partition.model import Atom, CompoundGrid, MicroGrid, PartitionResult
from geo.partition.prepared import Prepared
from geo.partition.zone import solve_zone

__all__ = ["group_community", "zone_rng"]


def zone_rng(seed: int, key: str) -> np.random.Generator:
    """The random generator of one zone's search: from the seed and the zone's code, so that a
    zone's grids do not depend on the other zones."""
    return np.random.default_rng([seed, zlib.crc32(key.encode())])


def group_community(
    prep: Prepared,
    *,
    seed: int = 0,
    params: dict[str, Any] | None = None,
    separate: Callable[[str, str], bool] | None = None,
) -> PartitionResult:
    """Group each zone's atoms into micro-grids (the search) and build their polygons;
    ``separate(a, b)`` true keeps buildings a and b in different micro-grids. ``params``
    (default: the band and the seed) are recorded with the result."""
    params = params or {"min": prep.lo, "max": prep.hi, "seed": seed}
    result = [_group_zone(prep, z, seed, separate) for z in range(len(prep.zone_codes))]
    return PartitionResult(prep.code, prep.geometry, result, params)


def _group_zone(
    prep: Prepared, z: int, seed: int, separate: Callable[[str, str], bool] | None
) -> CompoundGrid:
    """The compound grid of zone ``z`` with its micro-grids, status and reason."""
    zcode = prep.zone_codes[z]
    idx, g = prep.zone_graph(z, separate)
    cg = CompoundGrid(zcode, prep.zone_names[z], prep.zone_compounds[z], prep.zone_polys[z])
    cg.note = (prep.zone_notes or [""] * len(prep.zone_codes))[z]
    if not idx:
        cg.micro = [MicroGrid(f"{zcode}-M01", zcode, prep.zone_polys[z], [])]
        cg.status, cg.reason = "no_households", "没有楼栋 (no buildings)"
        return cg
    zone_atoms = [prep.atoms[i] for i in idx]
    with stage("search"):
        sol = solve_zone(g, prep.lo, prep.hi, zone_rng(seed, zcode))
    cg.status, cg.reason, cg.proven = sol.status, sol.reason, sol.proven
    if zcode in prep.merged:
        cg.status = "merged" if sol.status == "ok" else sol.status
        cg.reason = (
            "跨小区合并 (merged across a compound boundary: "
            f"{' + '.join(prep.zone_compounds[z])}) " + sol.reason
        ).strip()
    groups = sorted(
        (sorted(grp.tolist(), key=lambda i: zone_atoms[i].key) for grp in sol.groups),
        key=lambda grp: zone_atoms[grp[0]].key,
    )
    cells = [prep.cells[i] for i in idx]
    with stage("polygons"):
        cg.micro = [
            _micro_grid(
                f"{zcode}-M{n:02d}", zcode, [zone_atoms[i] for i in grp], [cells[i] for i in grp]
            )
            for n, grp in enumerate(groups, 1)
        ]
    owners: dict[str, set[int]] = {}
    for n, grp in enumerate(groups):
        for i in grp:
            owners.setdefault(zone_atoms[i].building, set()).add(n)
    cg.split_buildings = sum(1 for s in owners.values() if len(s) > 1)
    return cg


def _micro_grid(code: str, parent: str, atoms: list[Atom], cells: list[Geometry]) -> MicroGrid:
    """A micro-grid of ``atoms`` (with their cells): its polygon the union of one cell per
    unit; the cells of units split by floors recorded as such."""
    own = {a.unit_id: c for a, c in zip(atoms, cells, strict=True)}  # one cell per unit
    floors = {a.unit_id: c for a, c in zip(atoms, cells, strict=True) if a.floor_min is not None}
    return MicroGrid(code, parent, dissolve(list(own.values())), atoms, floors)
