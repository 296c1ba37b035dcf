"""Re-partitioning one compound grid with the partitioner, keeping its locked micro-grids."""

from __future__ import annotations

from typing import Any

import numpy as np
import shapely
from shapely import Geometry
from sqlalchemy.orm import Session

from geo.core.crs import from_metric, to_metric
from geo.errors import NotFoundError
from geo.partition import Atom, Solution, cell_adjacency, make_graph, solve_zone, zone_rng
from geo.plans.engine import _edit, _new_code
from geo.plans.geometry import _metric_area, _most_bordered, _siblings
from geo.plans.state import EditRefused, G, _clean, _Context


def repartition(
    session: Session, plan_id: int, *, compound: str, seed: int = 0, actor: str
) -> dict[str, Any]:
    """Re-partition one compound grid with the partitioner, keeping its locked micro-grids
    as they are."""

    def fn(ctx: _Context, state: dict[str, G]) -> dict[str, Any]:
        parent = state.get(compound)
        if parent is None or parent.level != "compound":
            raise NotFoundError(f"草稿中没有该小区网格 (no such compound grid): {compound!r}")
        kids = _siblings(state, compound)
        locked = [k for k in kids if k.locked]
        free = [k for k in kids if not k.locked]
        if not free:
            raise EditRefused(f"{compound} 的微网格全部锁定 (every micro-grid is locked)")
        region = shapely.union_all([k.geom for k in free])
        atoms, cells = _free_atoms(ctx, free, region)
        sol, groups = _group(ctx, atoms, cells, zone_rng(seed, compound))
        held_cells = {u: c for k in free for u, c in k.cells.items()}
        for k in free:
            del state[k.code]
        made = []
        for grp in groups:
            code = _new_code(session, ctx.plan, state, compound)
            new = _grid_of(
                code, parent, [atoms[i] for i in grp], [cells[i] for i in grp], held_cells
            )
            new.touch(new.geom)
            state[code] = new
            made.append(new)
        _fill_rest(region, made)
        return {
            "compound": compound,
            "kept_locked": sorted(k.code for k in locked),
            "removed": sorted(k.code for k in free),
            "new": [m.code for m in made],
            "households": {m.code: m.households for m in made},
            "status": sol.status,
            "reason": sol.reason,
            "changed": [m.code for m in made],
        }

    return _edit(session, plan_id, "repartition", {"compound": compound, "seed": seed}, actor, fn)


def _free_atoms(
    ctx: _Context, free: list[G], region: Geometry
) -> tuple[list[Atom], list[Geometry]]:
    """The free grids' atoms (whole units, and the floor ranges they hold of split units)
    and their cells of the tessellation, in the storage CRS, clipped to the free grids."""
    prep = ctx.prep
    free_atoms = {(m[0], m[1]) for k in free for m in k.members}
    idx = [i for i, a in enumerate(prep.atoms) if (a.unit_id, a.floor_min) in free_atoms]
    cells = from_metric(np.asarray([prep.cells[i] for i in idx], dtype=object))
    return [prep.atoms[i] for i in idx], [shapely.intersection(c, region) for c in cells]


def _group(
    ctx: _Context, atoms: list[Atom], cells: list[Geometry], rng: np.random.Generator
) -> tuple[Solution, list[list[int]]]:
    """The partitioner's grouping of the atoms under the plan's band: the solution, and its
    groups (atom indexes) in the atoms' order."""
    mcells = to_metric(np.asarray(cells, dtype=object))
    edges = cell_adjacency(list(mcells))
    bidx = {c: i for i, c in enumerate(sorted({a.building for a in atoms}))}
    xy = shapely.get_coordinates(shapely.centroid(mcells)).reshape(-1, 2)
    g = make_graph([a.households for a in atoms], xy, [bidx[a.building] for a in atoms], edges)
    sol = solve_zone(g, ctx.lo, ctx.hi, rng)
    groups = sorted(
        (sorted(grp.tolist(), key=lambda i: atoms[i].key) for grp in sol.groups),
        key=lambda grp: atoms[grp[0]].key,
    )
    return sol, groups


def _grid_of(
    code: str,
    parent: G,
    atoms: list[Atom],
    cells: list[Geometry],
    held_cells: dict[int, Geometry],
) -> G:
    """A new micro-grid of ``parent`` holding ``atoms``, on their cells; a unit split by
    floors keeps the cell the free grids held of it (``held_cells``), else takes its own."""
    members = sorted(
        ((a.unit_id, a.floor_min, a.floor_max, a.households) for a in atoms),
        key=lambda m: (m[0], m[1] or 0),
    )
    return G(
        code,
        "micro",
        parent.code,
        None,
        parent.compound_id,
        0,
        False,
        shapely.union_all(cells),
        members,
        cells={
            a.unit_id: held_cells.get(a.unit_id, c)
            for a, c in zip(atoms, cells, strict=True)
            if a.floor_min is not None
        },
    )


def _fill_rest(region: Geometry, made: list[G]) -> None:
    """The area of the free grids not in any cell (rounding) goes to the group it borders
    most."""
    rest = _clean(shapely.difference(region, shapely.union_all([m.geom for m in made])))
    for p in shapely.get_parts(rest):
        if _metric_area(p) <= 0:
            continue
        best = _most_bordered(p, made) or made[0]
        best.touch(shapely.union_all([best.geom, p]))
