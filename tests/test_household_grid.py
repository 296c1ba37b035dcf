"""``household.grid_id`` without index or foreign key (migration 0020): assigning households
rewrites their rows in place (HOT updates), and the database's triggers still keep every
household's grid one that exists and is of its building's community, and clear it when the
grid or its version is deleted — as the foreign key did."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError

from geo.locate.bulk import _write_grid_ids
from geo.runtime.batch import partition_many
from geo.store.db import make_engine, session_scope
from geo.synthetic.city import synthetic_city

from .conftest import run_sql
from .test_citybatch import _city_db

pytestmark = [pytest.mark.db, pytest.mark.slow]

CITY = list(synthetic_city(2, seed=5, households=300))
A, B = (c.code for c in CITY)

HOUSEHOLDS_OF = (
    "SELECT h.id, h.code, h.grid_id FROM household h JOIN building b ON b.id = h.building_id "
    "JOIN community c ON c.id = b.community_id WHERE c.code = :c ORDER BY h.id"
)
MICRO_OF = (
    "SELECT g.id FROM grid g JOIN grid_version v ON v.id = g.version_id JOIN community c ON "
    "c.id = v.community_id WHERE c.code = :c AND v.status = 'published' AND g.level = 'micro' "
    "ORDER BY g.code"
)


@pytest.fixture
def city(server, empty_template) -> Iterator[str]:
    """Two communities written, partitioned and their households assigned (committed)."""
    gen, url = _city_db(server, empty_template, CITY)
    done = partition_many(url, [A, B])
    assert all("error" not in d for d in done), done
    yield url
    with pytest.raises(StopIteration):
        next(gen)


def _assigned(url: str, code: str) -> list[Any]:
    return run_sql(url, HOUSEHOLDS_OF, c=code)


def _updates(url: str, at_least: int) -> tuple[int, int]:
    """The household table's (updates, HOT updates) once the other backends have reported at
    least ``at_least`` updates (an idle backend reports its counts within 10 s)."""
    deadline = time.monotonic() + 30
    while True:
        upd, hot = run_sql(
            url,
            "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = 'household'",
        )[0]
        if upd >= at_least or time.monotonic() > deadline:
            return upd, hot
        time.sleep(0.5)


def test_assigning_rewrites_the_households_in_place(city):
    """Every row the assignment's writer changes is a HOT update (no index entry written): the
    first assignment of households as loaded, and a rewrite after it."""
    rows = _assigned(city, A) + _assigned(city, B)
    assert len(rows) > 500 and all(r.grid_id is not None for r in rows)
    assert _updates(city, len(rows)) == (len(rows), len(rows))  # the partitioning's own, first
    engine = make_engine(city)
    try:
        with session_scope(engine) as s:
            ids = np.array([r.id for r in rows], dtype=np.int64)
            _write_grid_ids(s, "household", ids, np.full(len(ids), -1, dtype=np.int64))
            upd, hot = s.execute(
                text(
                    "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_xact_user_tables "
                    "WHERE relname = 'household'"
                )
            ).one()
            assert upd == len(rows)
            assert hot == upd
            left = [s.execute(text(HOUSEHOLDS_OF), {"c": c}).all() for c in (A, B)]
            assert {r.grid_id for r in left[0] + left[1]} == {None}
            s.rollback()
    finally:
        engine.dispose()
    indexed = run_sql(
        city,
        "SELECT count(*) FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND "
        "a.attnum = ANY(i.indkey) WHERE i.indrelid = 'household'::regclass "
        "AND a.attname = 'grid_id'",
    )
    assert indexed[0][0] == 0


def _refused(url: str, household: str, grid: int) -> str:
    with pytest.raises(IntegrityError) as caught:
        run_sql(url, "UPDATE household SET grid_id = :g WHERE code = :h", g=grid, h=household)
    assert caught.value.orig.sqlstate == "23503"  # foreign_key_violation, as the key gave
    return str(caught.value.orig)


def test_a_grid_that_does_not_exist_is_refused(city):
    household = _assigned(city, A)[0]
    message = _refused(city, household.code, 987654321)
    assert household.code in message and "987654321" in message
    assert _assigned(city, A)[0] == household  # nothing written


def test_a_grid_of_another_community_is_refused(city):
    """A household's grid is one of its building's community: a grid of B for a household of
    A is refused, in an INSERT as in an UPDATE."""
    household = _assigned(city, A)[0]
    theirs = run_sql(city, MICRO_OF, c=B)[0][0]
    message = _refused(city, household.code, theirs)
    assert household.code in message and "社区" in message
    with pytest.raises(IntegrityError):
        run_sql(
            city,
            "INSERT INTO household (code, building_id, unit_id, floor, position, grid_id) "
            "SELECT 'x-new', building_id, unit_id, floor, position, :g FROM household "
            "WHERE code = :h",
            g=theirs,
            h=household.code,
        )
    assert not run_sql(city, "SELECT 1 FROM household WHERE code = 'x-new'")
    run_sql(  # with its own community's grid it is taken
        city,
        "INSERT INTO household (code, building_id, unit_id, floor, position, grid_id) "
        "SELECT 'x-new', building_id, unit_id, floor, position, grid_id FROM household "
        "WHERE code = :h",
        h=household.code,
    )
    assert run_sql(city, "SELECT grid_id FROM household WHERE code = 'x-new'")[0][0] == (
        household.grid_id
    )


def test_deleting_a_grid_clears_its_households_only(city):
    before = {r.code: r.grid_id for r in _assigned(city, A) + _assigned(city, B)}
    gone = run_sql(city, MICRO_OF, c=A)[0][0]
    assert gone in before.values()
    run_sql(city, "DELETE FROM grid WHERE id = :g", g=gone)
    after = {r.code: r.grid_id for r in _assigned(city, A) + _assigned(city, B)}
    assert after == {k: (None if v == gone else v) for k, v in before.items()}


def test_deleting_a_version_clears_the_households_of_its_grids(city):
    """The version's grids go by cascade, when the version is no longer there to name its
    community: its households are cleared before; the other community's are untouched."""
    theirs = _assigned(city, B)
    run_sql(
        city,
        "DELETE FROM grid_version v USING community c WHERE c.id = v.community_id AND c.code = :c",
        c=A,
    )
    assert {r.grid_id for r in _assigned(city, A)} == {None}
    assert _assigned(city, B) == theirs


def test_a_grid_being_assigned_waits_for_the_commit_to_be_deleted(city):
    """The check locks the grids it names (FOR KEY SHARE, as a foreign key does): deleting one
    while a household is being assigned to it waits for that transaction."""
    household = _assigned(city, A)[0]
    grid = run_sql(city, MICRO_OF, c=A)[-1][0]
    assert household.grid_id != grid  # the wait is for the check's lock, not the row's update
    first, second = make_engine(city), make_engine(city)
    try:
        with session_scope(first) as s1:
            s1.execute(
                text("UPDATE household SET grid_id = :g WHERE code = :h"),
                {"g": grid, "h": household.code},
            )
            with pytest.raises(DBAPIError) as caught, session_scope(second) as s2:
                s2.execute(text("SET LOCAL lock_timeout = '300ms'"))
                s2.execute(text("DELETE FROM grid WHERE id = :g"), {"g": grid})
            assert caught.value.orig.sqlstate == "55P03"  # lock_not_available
    finally:
        first.dispose()
        second.dispose()
    assert {r.code: r.grid_id for r in _assigned(city, A)}[household.code] == grid


def test_a_household_in_its_neighbours_grid_is_left_without_one(city):
    """A household found by position only (its unit in no grid) that lies in a grid of the
    neighbouring community is located again among its own community's grids — none within
    the tolerance here: no grid, counted outside —, not given the neighbour's grid, which the
    database refuses."""
    from geo.locate import Locator, assign_households

    household = _assigned(city, A)[0]
    theirs = run_sql(city, MICRO_OF, c=B)[0][0]
    run_sql(
        city,
        "UPDATE household SET unit_id = NULL, grid_id = NULL, position = (SELECT "
        "ST_PointOnSurface(boundary) FROM grid WHERE id = :g) WHERE code = :h",
        g=theirs,
        h=household.code,
    )
    engine = make_engine(city)
    try:
        with session_scope(engine) as s:
            report = assign_households(s, Locator.load(s), community=A)
    finally:
        engine.dispose()
    assert report.outside == 1 and report.total == len(_assigned(city, A))
    grids = {r.code: r.grid_id for r in _assigned(city, A)}
    assert grids.pop(household.code) is None
    assert None not in grids.values()


def test_households_found_by_position_keep_a_grid_when_partitioned_again(city):
    """A building moved, its households' units in no grid (found by position only): the
    community partitioned again (its new version's locator holds its grids only) gives them
    a grid of it."""
    from geo.runtime.batch import partition_one
    from geo.synthetic.changes import move_a_building

    engine = make_engine(city)
    try:
        with session_scope(engine) as s:
            moved = move_a_building(s, A)
            s.execute(
                text("UPDATE household SET unit_id = NULL WHERE building_id = :b"), {"b": moved}
            )
    finally:
        engine.dispose()
    assert partition_one(city, A)["version"] is not None
    grids = run_sql(
        city,
        "SELECT h.grid_id, v.number FROM household h LEFT JOIN grid g ON g.id = h.grid_id "
        "LEFT JOIN grid_version v ON v.id = g.version_id WHERE h.building_id = :b",
        b=moved,
    )
    assert grids and all(g is not None and n == 2 for g, n in grids)  # the new version's


def test_deleting_a_compound_grid_clears_the_households_of_its_micro_grids(city):
    """A compound grid's micro-grids go with it by cascade (grid.parent_id): their households
    are cleared, the rest kept."""
    before = {r.code: r.grid_id for r in _assigned(city, A)}
    compound, micro = run_sql(
        city,
        "SELECT g.parent_id, array_agg(g.id) FROM grid g WHERE g.id = ANY(:m) "
        "GROUP BY g.parent_id ORDER BY g.parent_id LIMIT 1",
        m=[r[0] for r in run_sql(city, MICRO_OF, c=A)],
    )[0]
    assert set(micro) & set(before.values())
    run_sql(city, "DELETE FROM grid WHERE id = :g", g=compound)
    after = {r.code: r.grid_id for r in _assigned(city, A)}
    assert after == {k: (None if v in micro else v) for k, v in before.items()}


def test_truncating_the_grids_clears_every_household(city):
    run_sql(city, "TRUNCATE grid, grid_member, incident_co_owner, grid_version CASCADE")
    assert {r.grid_id for r in _assigned(city, A) + _assigned(city, B)} == {None}
