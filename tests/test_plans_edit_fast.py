"""Fast edits: the edit engine checks only the grids an edit touches, with the community's
cells computed once per data version — and refuses and accepts exactly what the full check
(the old path: every edit re-tessellating and validating the whole draft twice) does."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import shapely
from sqlalchemy import text

from geo import plans
from geo.core.crs import from_metric, to_metric
from geo.plans import cache, checks
from geo.plans import engine as plan_engine
from geo.store.db import make_engine, session_scope

from .conftest import _clone
from .test_plans import C02, COMMUNITY, _border_building, _draft_bytes

pytestmark = pytest.mark.db


@pytest.fixture
def second_db(server, template) -> Iterator[str]:
    yield from _clone(server, template)


@pytest.fixture
def full_path() -> Iterator[Callable[[bool], None]]:
    """Switch between the fast path and the old one; back to the fast one afterwards."""

    def use(old: bool) -> None:
        plan_engine.CHECK_TOUCHED_ONLY = not old
        cache.ENABLED = not old

    yield use
    use(False)


# --- the incremental check against the full one, on drafts broken on purpose ---------------


def _load(s, pid):
    plan = plans._plan(s, pid)
    return plans._Context(s, plan), plans._load(s, plan.draft_version_id)


def _copy(state):
    from dataclasses import replace

    return {c: replace(g, members=list(g.members), cells=dict(g.cells)) for c, g in state.items()}


def _kids(state, parent):
    return sorted(c for c, g in state.items() if g.level == "micro" and g.parent == parent)


def _far_pair(ctx, state):
    """A whole unit of C02's last grid whose cell does not touch C02's first grid."""
    kids = _kids(state, C02)
    first, last = state[kids[0]], state[kids[-1]]
    uid = next(
        m[0]
        for m in last.members
        if m[1] is None
        and not shapely.intersects(ctx.cells[m[0]], shapely.buffer(first.geom, 1e-6))
    )
    return first, last, uid


def _piece_elsewhere(ctx, state):
    """The target ends up in two pieces (area and unit handed to a grid it does not touch)."""
    first, last, uid = _far_pair(ctx, state)
    last.members = [m for m in last.members if m[0] != uid]
    first.members = [*first.members, (uid, None, None, ctx.inp.units[uid].households)]
    first.geom = plans._clean(shapely.union_all([first.geom, ctx.cells[uid]]))
    last.geom = plans._clean(shapely.difference(last.geom, ctx.cells[uid]))
    first.touch(first.geom)
    last.touch(last.geom)


def _gap(ctx, state):
    """A grid gives up a unit's cell to nobody (and its unit to nobody)."""
    _, last, uid = _far_pair(ctx, state)
    last.members = [m for m in last.members if m[0] != uid]
    last.touch(shapely.difference(last.geom, ctx.cells[uid]))


def _overlap(ctx, state):
    """A grid takes a neighbour's unit cell without the neighbour giving it up, and the unit
    is in both."""
    kids = _kids(state, C02)
    a, b = state[kids[0]], state[kids[1]]
    m = next(m for m in b.members if m[1] is None)
    a.members = [*a.members, m]
    a.touch(shapely.union_all([a.geom, ctx.cells[m[0]]]))


def _emptied(ctx, state):
    """A grid loses all its area but keeps its buildings."""
    g = state[_kids(state, C02)[1]]
    g.geom = shapely.MultiPolygon()
    g.dirty = True


def _miscounted(ctx, state):
    g = state[_kids(state, C02)[0]]
    g.households += 1
    g.dirty = True


def _floor_cell_dropped(ctx, state):
    """A grid holding floors of a unit split by floors no longer covers the unit's cell."""
    g = next(g for g in state.values() if g.level == "micro" and g.cells)
    uid = next(iter(g.cells))
    g.touch(shapely.difference(g.geom, g.cells[uid]))


def _floor_twice(ctx, state):
    """A floor group of a unit split by floors copied into a sibling: floors in two grids."""
    g = next(g for g in state.values() if g.level == "micro" and g.cells)
    uid = next(iter(g.cells))
    m = next(m for m in g.members if m[0] == uid)
    other = next(x for x in state.values() if x.parent == g.parent and uid not in x.cells)
    other.members = [*other.members, m]
    other.cells[uid] = g.cells[uid]
    other.touch(shapely.union_all([other.geom, g.cells[uid]]))


def _moved_legally(ctx, state):
    """A unit and its cell handed to a neighbour that borders it: no new error at all."""
    kids = _kids(state, C02)
    for code in kids:
        g = state[code]
        for m in g.members:
            if m[1] is not None or len(g.members) < 2:
                continue
            cell = ctx.cells[m[0]]
            rest = plans._clean(shapely.difference(g.geom, cell))
            if len(shapely.get_parts(rest)) != 1:
                continue
            for n in (state[c] for c in kids if c != code):
                shared = shapely.intersection(shapely.boundary(cell), shapely.boundary(n.geom))
                if to_metric([shared])[0].length > 5:
                    g.members = [x for x in g.members if x != m]
                    n.members = sorted([*n.members, m], key=lambda x: (x[0], x[1] or 0))
                    g.touch(rest)
                    n.touch(shapely.union_all([n.geom, cell]))
                    return
    raise AssertionError("no legal move found")


BREAKS: dict[str, tuple[Callable[[Any, dict], None], str | None]] = {
    "a grid in two pieces": (_piece_elsewhere, "contiguity"),
    "a gap": (_gap, "coverage"),
    "an overlap and a unit in two grids": (_overlap, "coverage"),
    "a grid with no area": (_emptied, "contiguity"),
    "a wrong household count": (_miscounted, "households"),
    "a floor group off its cell": (_floor_cell_dropped, "coverage"),
    "floors in two grids": (_floor_twice, "households"),
    "a legal move": (_moved_legally, None),
}


@pytest.mark.parametrize("case", list(BREAKS))
def test_the_touched_grids_check_finds_what_the_full_check_finds(session, case):
    """On a draft changed by hand (as a faulty edit would), the check of the touched grids
    reports exactly the new errors that validating the whole draft does, with the same
    messages; each break here is caught (and the legal change is not)."""
    pid = plans.create_plan(session, COMMUNITY, author="t")["id"]
    ctx, before = _load(session, pid)
    after = _copy(before)
    breaking, check = BREAKS[case][0], BREAKS[case][1]
    breaking(ctx, after)
    parents = checks._touched(before, after)
    assert parents and len(parents) == 1  # one compound grid's micro-grids
    units = checks._units_of(before, parents) | checks._units_of(after, parents)

    def new(found_before, found_after):
        had = {checks._key(f) for f in found_before}
        return sorted(
            (f.check, f.grid, f.message) for f in found_after if checks._key(f) not in had
        )

    full = new(checks._check(ctx, before).errors, checks._check(ctx, after).errors)
    touched = new(
        checks._check_parents(ctx, before, parents, units),
        checks._check_parents(ctx, after, parents, units),
    )
    assert touched == full
    if check is None:
        assert full == []
    else:
        assert check in {f[0] for f in full}, full
    assert checks._warnings(ctx, after) == len(checks._check(ctx, after).warnings)


# --- a sequence of real edits, fast and old path, on two copies of the fixture --------------


def _outcome(call: Callable[[], dict]) -> tuple:
    try:
        return ("ok", call())
    except plans.EditRefused as e:
        return ("refused", str(e), e.detail)


def _sequence(engine, pid: int) -> list[tuple]:
    """Edits of every kind, accepted and refused, each chosen from the draft as it is."""
    out: list[tuple] = []

    def edit(fn: Callable[..., dict], **kw) -> None:
        with session_scope(engine) as s:
            out.append(_outcome(lambda: fn(s, pid, actor="t", **kw)))

    grid, building, neighbour, _ = _border_building(engine, pid)
    edit(plans.move, buildings=[building], to=neighbour)
    with session_scope(engine) as s:
        ctx, state = _load(s, pid)
        first, _, uid = _far_pair(ctx, state)
        far = f"{ctx.unit_building[uid]}"
        other = next(c for c, g in state.items() if g.level == "micro" and g.parent != C02)
        split_grid, split_units = next(
            (c, [m[0] for m in g.members])
            for c, g in sorted(state.items())
            if g.parent == C02 and len(g.members) >= 2 and all(m[1] is None for m in g.members)
        )
        names = {u: f"{x.building}-U{x.unit_no}" for u, x in ctx.inp.units.items()}
        holder = next(g for g in state.values() if g.level == "micro" and g.cells)
        tower = next(iter(holder.cells))
        tower_target = next(
            x.code
            for x in state.values()
            if x.level == "micro" and x.parent == holder.parent and tower not in x.cells
        )
    edit(plans.move, buildings=[far], to=first.code)  # refused: the target in two pieces
    edit(plans.move, buildings=[far], to=other)  # refused: across compound grids
    edit(plans.split, grid=split_grid, buildings=[names[split_units[0]]])
    new = out[-1][1]["new"] if out[-1][0] == "ok" else None
    edit(plans.merge_grids, grids=[new or split_grid, split_grid])
    edit(plans.lock, grids=[neighbour])
    edit(plans.move, buildings=[building], to=grid)  # refused: its grid is locked
    edit(plans.lock, grids=[neighbour], locked=False)
    edit(plans.move, buildings=[names[tower]], to=tower_target)  # every floor group goes
    with session_scope(engine) as s:
        state = plans._load(s, plans._plan(s, pid).draft_version_id)
        m = to_metric([state[f"{C02}-M03"].geom])[0]
        drawn = from_metric([shapely.buffer(m, 8.0, join_style="mitre")])[0]
    edit(plans.redraw, grid=f"{C02}-M03", geometry=shapely.geometry.mapping(drawn), crs="cgcs2000")
    with session_scope(engine) as s:
        out.append(("ok", plans.undo(s, pid, actor="t")))
    # every building of the grid the first move emptied most: the grid is absorbed
    with session_scope(engine) as s:
        ctx, state = _load(s, pid)
        g = state[grid]
        whole = sorted({ctx.unit_building[m[0]] for m in g.members})
    edit(plans.move, buildings=whole, to=neighbour)
    return out


def test_a_sequence_of_edits_ends_the_same_fast_or_by_the_old_path(fresh_db, second_db, full_path):
    """The same edits on two copies of the fixture, one through the fast path, one through
    the old one: each accepted with the same summary or refused with the same reason, the
    drafts byte for byte the same after each, and validation gives the same findings."""
    results = {}
    for old, url in ((False, fresh_db), (True, second_db)):
        full_path(old)
        cache.clear()
        engine = make_engine(url)
        with session_scope(engine) as s:
            pid = plans.create_plan(s, COMMUNITY, author="t")["id"]
        outcomes = _sequence(engine, pid)
        with session_scope(engine) as s:
            report = plans.validate_plan(s, pid, actor="t").as_dict()
        results[old] = (pid, outcomes, _draft_bytes(engine, pid), report)
        engine.dispose()
    fast, slow = results[False], results[True]
    assert fast[1] == slow[1]
    kinds = [o[0] for o in fast[1]]
    assert kinds.count("refused") == 3 and kinds.count("ok") == len(kinds) - 3
    assert "pieces" in fast[1][1][1] and "crosses compound" in fast[1][2][1]
    assert "locked" in fast[1][6][1]
    assert fast[1][-1][1]["removed"]  # the emptied grid went
    assert fast[2] == slow[2]
    assert fast[3] == slow[3] and fast[3]["ok"], fast[3]["findings"]


# --- the community's cells, once per data version --------------------------------------


def test_the_cells_are_built_once_per_data_version_and_database(fresh_db, second_db):
    cache.clear()
    builds = cache._CACHE.builds
    engine = make_engine(fresh_db)
    with session_scope(engine) as s:
        pid = plans.create_plan(s, COMMUNITY, author="t")["id"]
    grid, building, neighbour, _ = _border_building(engine, pid)
    for to in (neighbour, grid, neighbour):
        with session_scope(engine) as s:
            plans.move(s, pid, buildings=[building], to=to, actor="t")
    assert cache._CACHE.builds == builds + 1  # the three edits shared one tessellation
    # a unit's row rewritten (same values: a new row version) is new data: built again
    with session_scope(engine) as s:
        s.execute(
            text(
                "UPDATE building_unit SET households = households WHERE id = "
                "(SELECT min(id) FROM building_unit)"
            )
        )
    with session_scope(engine) as s:
        plans.move(s, pid, buildings=[building], to=grid, actor="t")
    assert cache._CACHE.builds == builds + 2
    engine.dispose()
    # another database with the same rows has entries of its own
    other = make_engine(second_db)
    with session_scope(other) as s:
        plans.plan_report(s, plans.create_plan(s, COMMUNITY, author="t")["id"])
    assert cache._CACHE.builds == builds + 3
    other.dispose()


def test_an_edit_keeps_for_undo_only_the_grids_of_its_compound(fresh_db):
    engine = make_engine(fresh_db)
    with session_scope(engine) as s:
        pid = plans.create_plan(s, COMMUNITY, author="t")["id"]
    grid, building, neighbour, _ = _border_building(engine, pid)
    before = _draft_bytes(engine, pid)
    with session_scope(engine) as s:
        plans.move(s, pid, buildings=[building], to=neighbour, actor="t")
        kept = s.execute(
            text("SELECT before FROM plan_edit WHERE plan_id = :p"), {"p": pid}
        ).scalar_one()
        state = plans._load(s, plans._plan(s, pid).draft_version_id)
    parent = state[grid].parent
    assert kept["parents"] == [parent]
    assert sorted(g["code"] for g in kept["grids"]) == _kids(state, parent)
    assert len(kept["grids"]) < sum(1 for g in state.values() if g.level == "micro")
    with session_scope(engine) as s:
        plans.undo(s, pid, actor="t")
    assert _draft_bytes(engine, pid) == before
    engine.dispose()
