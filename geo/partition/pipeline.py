"""The partition pipeline of one community, the one every caller goes through: zones
(compound grids) → atoms and their cells (the tessellation) → grouping per zone →
micro-grid polygons → validation.

Compound grids follow the compound polygons; buildings outside every compound are grouped by
proximity, never across a road, into street grids; the rest of the community (roads, open
ground) goes to the nearest of these, so the compound grids tile the community
(:func:`geo.core.tessellate.tessellate`). Each unit has a slice of its building's footprint and a
cell of its compound grid (the tessellation again, by slices); a micro-grid's polygon is the
union of its units' cells, so the micro-grids tile their compound grid — except that the
floor ranges of a unit split by floors share that unit's whole cell.

:func:`run` does it all on a :class:`~geo.partition.model.CommunityInput`; :func:`prepare`
stops before the grouping (for callers that need only the zones, atoms and cells);
:func:`partition_community` and :func:`prepare_community` take the community's parts one by
one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from shapely import Geometry

from geo.core.stages import stage
from geo.core.tessellate import dissolve
from geo.core.validate import ValidationReport, validate_grids
from geo.partition.cells import atom_cells
from geo.partition.grouping import group_community
from geo.partition.model import BuildingIn, CommunityInput, CompoundIn, PartitionResult
from geo.partition.prepared import Prepared
from geo.partition.zoning import make_zones
from geo.settings import band as size_band

__all__ = ["partition", "partition_community", "prepare", "prepare_community", "run"]


def run(
    inp: CommunityInput,
    *,
    band: tuple[int | None, int | None] | None = None,
    seed: int = 0,
    allow_cross_compound: bool = False,
    separate: Callable[[str, str], bool] | None = None,
    params: dict[str, Any] | None = None,
) -> tuple[PartitionResult, ValidationReport]:
    """Partition ``inp`` (:func:`partition`) and validate the grids against its units and
    households, in the same band."""
    lo, hi = size_band(*(band or (None, None)))
    result = partition(
        inp,
        band=(lo, hi),
        seed=seed,
        allow_cross_compound=allow_cross_compound,
        separate=separate,
        params=params,
    )
    with stage("validate"):
        report = validate_grids(
            result.records(),
            units=inp.units,
            households=inp.households,
            min_households=lo,
            max_households=hi,
        )
    return result, report


def partition(
    inp: CommunityInput,
    *,
    band: tuple[int | None, int | None] | None = None,
    seed: int = 0,
    allow_cross_compound: bool = False,
    separate: Callable[[str, str], bool] | None = None,
    params: dict[str, Any] | None = None,
) -> PartitionResult:
    """The three-level partition of ``inp`` (see :mod:`geo.partition`) in ``band`` (min, max
    households; each missing one from the settings, :func:`geo.settings.band`);
    ``separate(a, b)`` true keeps buildings a and b in different micro-grids. ``params``
    recorded with the result (default: the band, the seed and ``allow_cross_compound``)."""
    lo, hi = size_band(*(band or (None, None)))
    with stage("prepare"):
        prep = prepare(inp, (lo, hi), allow_cross_compound=allow_cross_compound)
    if params is None:
        params = {"min": lo, "max": hi, "seed": seed, "allow_cross_compound": allow_cross_compound}
    return group_community(prep, seed=seed, params=params, separate=separate)


def prepare(
    inp: CommunityInput,
    band: tuple[int | None, int | None] | None = None,
    *,
    allow_cross_compound: bool = False,
) -> Prepared:
    """Zones (compound-level grids) and atoms with their cells: everything but the grouping.

    A unit over the maximum is split by floors into several atoms that share the unit's
    cell (floors are not places); they are neighbours of each other and of the unit's
    neighbours."""
    lo, hi = size_band(*(band or (None, None)))
    zones = make_zones(inp, lo, hi, allow_cross_compound=allow_cross_compound)
    ways = inp.ways if inp.ways is not None else inp.roads
    ac = atom_cells(inp.boundary, zones.cells, zones.members, hi, ways)
    return Prepared(
        inp.code,
        dissolve(ac.zones),
        zones.codes,
        zones.names,
        zones.compounds,
        ac.zones,
        zones.merged,
        ac.atoms,
        ac.cells,
        ac.atom_zone,
        ac.edges,
        lo,
        hi,
        ac.cross,
        zones.notes,
    )


def partition_community(
    code: str,
    boundary: Geometry,
    compounds: Sequence[CompoundIn],
    buildings: Sequence[BuildingIn],
    *,
    roads: Sequence[Geometry] = (),
    street_names: Sequence[str] = (),
    ways: Sequence[Geometry] | None = None,
    min_households: int | None = None,
    max_households: int | None = None,
    seed: int = 0,
    allow_cross_compound: bool = False,
) -> PartitionResult:
    """:func:`partition` of a community given by its parts: ``roads`` (with
    ``street_names``) separate the street grids of buildings outside the compounds; ``ways``
    are every line of the road layer, lanes and footways inside compounds included, that
    micro-grids should not straddle when avoidable (default: the roads)."""
    inp = CommunityInput(code, boundary, compounds, buildings, roads, street_names, ways)
    return partition(
        inp,
        band=(min_households, max_households),
        seed=seed,
        allow_cross_compound=allow_cross_compound,
    )


def prepare_community(
    code: str,
    boundary: Geometry,
    compounds: Sequence[CompoundIn],
    buildings: Sequence[BuildingIn],
    *,
    roads: Sequence[Geometry] = (),
    street_names: Sequence[str] = (),
    ways: Sequence[Geometry] | None = None,
    min_households: int | None = None,
    max_households: int | None = None,
    allow_cross_compound: bool = False,
) -> Prepared:
    """:func:`prepare` of a community given by its parts (as :func:`partition_community`)."""
    inp = CommunityInput(code, boundary, compounds, buildings, roads, street_names, ways)
    return prepare(inp, (min_households, max_households), allow_cross_compound=allow_cross_compound)
