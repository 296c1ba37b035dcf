"""The batch pipeline (geo.runtime.batch.partition_batch): a batch of communities read,
partitioned, written and assigned in one transaction gives exactly what the per-community
path gives — the same grids byte for byte, the same members, the same household
assignments —, first time and again; on a pool of local processes too; and a community
whose partition or whose writing fails is reported with its error while the rest of its
batch is written, nothing of it half-written."""

from __future__ import annotations

import gc
import os
from typing import Any

import numba
import pytest
from sqlalchemy import text

from geo.runtime.batch import partition_many
from geo.store.db import make_engine, session_scope
from geo.synthetic.changes import move_a_building
from geo.synthetic.city import synthetic_city, write_city

from .conftest import run_sql

pytestmark = [pytest.mark.db, pytest.mark.slow]

CITY = list(synthetic_city(4, seed=11, households=500))
CODES = [c.code for c in CITY]


def _city_db(server, empty_template, city=CITY):
    """A fresh database with ``city`` written: the clone's generator (exhausted to drop it)
    and its URL."""
    from .conftest import _clone

    gen = _clone(server, empty_template)
    url = next(gen)
    engine = make_engine(url)
    with session_scope(engine) as s:
        write_city(s, city)
    engine.dispose()
    return gen, url


@pytest.fixture
def two_cities(server, empty_template):
    """The same city written into two fresh databases (same rows, same ids)."""
    a_gen, a = _city_db(server, empty_template)
    b_gen, b = _city_db(server, empty_template)
    yield a, b
    for gen in (a_gen, b_gen):
        with pytest.raises(StopIteration):
            next(gen)


def _state(url: str) -> dict[str, Any]:
    """Everything partitioning and assignment wrote, by code (ids may differ): each current
    grid with its parent, households and boundary bytes, each membership, each household's
    micro-grid, and the versions' numbers."""
    engine = make_engine(url)
    with session_scope(engine) as s:
        grids = s.execute(
            text(
                "SELECT c.code, v.number, g.level, g.code, p.code, g.name, g.households, "
                "g.compound_id, encode(ST_AsEWKB(g.boundary), 'hex') FROM grid g "
                "JOIN grid_version v ON v.id = g.version_id JOIN community c ON c.id = "
                "v.community_id LEFT JOIN grid p ON p.id = g.parent_id "
                "WHERE v.status = 'published' ORDER BY 1, 4"
            )
        ).all()
        members = s.execute(
            text(
                "SELECT g.code, m.unit_id, m.floor_min, m.floor_max, m.households, "
                "encode(ST_AsEWKB(m.cell), 'hex') FROM grid_member m JOIN grid g ON "
                "g.id = m.grid_id JOIN grid_version v ON v.id = g.version_id "
                "WHERE v.status = 'published' ORDER BY 1, 2, 3"
            )
        ).all()
        households = dict(
            s.execute(
                text("SELECT h.code, g.code FROM household h LEFT JOIN grid g ON g.id = h.grid_id")
            ).all()
        )
        versions = s.execute(
            text(
                "SELECT c.code, v.number, v.status, v.params FROM grid_version v "
                "JOIN community c ON c.id = v.community_id ORDER BY 1, 2"
            )
        ).all()
    engine.dispose()
    return {"grids": grids, "members": members, "households": households, "versions": versions}


def _move_a_building(url: str, code: str) -> None:
    engine = make_engine(url)
    with session_scope(engine) as s:
        move_a_building(s, code)
    engine.dispose()


def _assigned_as_from_the_database(url: str, done: list[dict[str, Any]]) -> None:
    from geo.locate import Locator, assign_households

    engine = make_engine(url)
    with session_scope(engine) as s:
        for r in done:
            locator = Locator.load(s, community=r["community"])
            report = assign_households(s, locator, community=r["community"])
            assert report.total == r["assigned"] > 0
            assert report.changed == 0 and report.outside == 0, report
        s.rollback()
    engine.dispose()


def test_a_batch_gives_what_each_community_alone_gives(two_cities):
    alone, batched = two_cities
    one = partition_many(alone, CODES, batch=1)
    threads_here = numba.get_num_threads()
    many = partition_many(batched, CODES, batch=3)  # a batch of 3 and a batch of 1
    for r in one + many:
        assert "error" not in r and r["errors"] == 0, r
    assert [r["assigned"] for r in one] == [r["assigned"] for r in many]
    assert {r["batch_seconds"] for r in many[:3]} and "batch_seconds" not in one[0]
    a, b = _state(alone), _state(batched)
    assert len(a["grids"]) > 4 * 20 and any(m[2] is not None for m in a["members"])
    assert all(a["households"].values())  # every household assigned
    assert a == b
    # the locator and memberships built from the rows written are those read back: the
    # assignment from the database (Locator.load, memberships by SQL) changes nothing
    _assigned_as_from_the_database(batched, many)
    # again, after a building moved (a new version: only the changed area re-assigned), the
    # batch this time on a pool of two local processes
    for url in (alone, batched):
        _move_a_building(url, CODES[1])
    again_one = partition_many(alone, CODES, batch=1)
    again_many = partition_many(batched, CODES, batch=2, workers=2)
    for r in again_one + again_many:
        assert "error" not in r and r["version"] is not None, r
    assert all(r["pid"] != os.getpid() for r in again_many)  # on the pool
    # the pool's two processes share the cores out among their kernels' threads; in this
    # process the batches left numba's default alone and the cycle collector on again
    assert {r["threads"] for r in again_many} == {max(1, numba.config.NUMBA_NUM_THREADS // 2)}
    assert {r["threads"] for r in many} == {threads_here} and gc.isenabled()
    assert all("gc" in r["stages"] for r in many)  # the batch's one collection, timed apart
    a, b = _state(alone), _state(batched)
    assert [v[1] for v in a["versions"]] == [1, 2] * 4
    assert a == b


def test_a_failing_community_does_not_take_its_batch_down(two_cities, server):
    url, other = two_cities
    owner = server.url(url.rsplit("/", 1)[1])  # the tables' owner may add a constraint
    engine = make_engine(owner)
    with session_scope(engine) as s:
        # the grids of the second community cannot be written
        s.execute(
            text(f"ALTER TABLE grid ADD CONSTRAINT wt_refuse CHECK (code NOT LIKE '{CODES[1]}%')")
        )
    engine.dispose()
    done = partition_many(url, [*CODES[:3], "NOSUCH"], batch=4)
    by = {r["community"]: r for r in done}
    assert "wt_refuse" in by[CODES[1]]["error"] and "NOSUCH" in by["NOSUCH"]["error"]
    assert all(by[c]["version"] is not None for c in (CODES[0], CODES[2]))
    versions = dict(
        run_sql(
            url,
            "SELECT c.code, count(v.id) FROM community c LEFT JOIN grid_version v ON "
            "v.community_id = c.id GROUP BY 1",
        )
    )
    unassigned = dict(
        run_sql(
            url,
            "SELECT c.code, count(*) FILTER (WHERE h.grid_id IS NULL) FROM household h "
            "JOIN building b ON b.id = h.building_id JOIN community c ON "
            "c.id = b.community_id GROUP BY 1",
        )
    )
    # the refused community: no version, no assignment; the others of its batch: written
    assert versions == {CODES[0]: 1, CODES[1]: 0, CODES[2]: 1, CODES[3]: 0}
    assert unassigned[CODES[0]] == unassigned[CODES[2]] == 0
    assert unassigned[CODES[1]] > 0
    # and what was written is what the per-community path writes
    partition_many(other, [CODES[0], CODES[2]], batch=1)
    a, b = _state(url), _state(other)
    assert a["grids"] == b["grids"] and a["members"] == b["members"]


def test_the_cli_partitions_in_batches_on_a_pool(cli, two_cities):
    """`wangge partition --batch 3 --workers 2`: the city in batches on two local processes,
    the same grids as one transaction a community; a bad --engine is refused by name."""
    url, other = two_cities
    ran = cli("partition", "--batch", "3", "--workers", "2", url=url)
    assert ran.code == 0, ran.err
    assert "4 完成 (done), 0 失败 (failed)" in ran.out
    partition_many(other, CODES, batch=1)
    assert _state(url) == _state(other)
    bad = cli("partition", "--engine", "spark", url=url)
    assert bad.code != 0 and "spark" in bad.err + bad.out


def _dies_once(url: str, chunk: list[str], *, marker: str, runs: str) -> list[dict[str, Any]]:
    """A batch task (in a pool's process) that kills its process the first time it runs at
    all, and records each run."""
    from pathlib import Path

    with open(runs, "a") as fh:
        fh.write(",".join(chunk) + "\n")
    if not Path(marker).exists():
        Path(marker).write_text("died")
        os._exit(3)
    return [{"community": c} for c in chunk]


def test_a_pool_a_worker_died_in_is_replaced_and_a_batch_done_never_runs_again(tmp_path):
    from geo.runtime.batch import _run_local

    codes = [f"C{i}" for i in range(6)]
    chunks = [codes[i : i + 2] for i in range(0, 6, 2)]
    kw = {"marker": str(tmp_path / "died"), "runs": str(tmp_path / "runs")}
    done = _run_local("x", codes, chunks, _dies_once, 2, 2, None, kw)
    assert [d["community"] for d in done] == codes and not any("error" in d for d in done)
    assert max(d["attempts"] for d in done) == 2  # what the dead worker left went again
    # a report (progress) that raises stops the run: the batch it reports is not run again
    (tmp_path / "runs").unlink()
    seen = []

    def progress(i, n, r):
        seen.append(r["community"])
        raise RuntimeError("report failed")

    with pytest.raises(RuntimeError, match="report failed"):
        _run_local("x", codes[:2], [codes[:2]], _dies_once, 2, 2, progress, kw)
    assert (tmp_path / "runs").read_text().splitlines() == ["C0,C1"] and seen == ["C0"]
