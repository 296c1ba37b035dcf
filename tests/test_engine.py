"""A synthetic city in PostGIS and GeoParquet; partitioning and assignment per community with
the local engine and on a Dask LocalCluster give identical grids; a community whose task
fails is retried on its own and nothing is half-written."""

from __future__ import annotations

import cloudpickle
import geopandas as gpd
import pytest
from distributed.diagnostics.plugin import SchedulerPlugin
from sqlalchemy import text
from sqlalchemy.engine import make_url

from geo.runtime.batch import partition_many
from geo.store.db import make_engine, session_scope
from geo.synthetic.city import synthetic_city, write_city, write_geoparquet

pytestmark = [pytest.mark.db, pytest.mark.slow]


@pytest.fixture(scope="module")
def city_db(server, empty_template):
    from .conftest import _clone

    gen = _clone(server, empty_template)
    url = next(gen)
    city = list(synthetic_city(3, seed=5, households=500))
    engine = make_engine(url)
    with session_scope(engine) as s:
        counts = write_city(s, city, chunk=2)  # two chunks: one of two communities, one of one
    engine.dispose()
    yield url, city, counts
    with pytest.raises(StopIteration):
        next(gen)


def test_synthetic_city_in_postgis_and_geoparquet(city_db, tmp_path):
    url, city, counts = city_db
    assert counts["communities"] == 3 and counts["compounds"] == 18
    assert counts["households"] == sum(c.households for c in city)
    engine = make_engine(url)
    with session_scope(engine) as s:
        n, bad = s.execute(
            text(
                "SELECT count(*), count(*) FILTER (WHERE NOT ST_Covers(b.footprint, h.position)) "
                "FROM household h JOIN building b ON b.id = h.building_id"
            )
        ).one()
        units = s.execute(text("SELECT sum(households) FROM building_unit")).scalar_one()
        # ids follow the city's order in every table; each row points at its own parents
        communities = s.execute(text("SELECT code FROM community ORDER BY id")).scalars().all()
        buildings = s.execute(text("SELECT code FROM building ORDER BY id")).scalars().all()
        crossed = s.execute(
            text(
                "SELECT count(*) FROM household h JOIN building_unit u ON u.id = h.unit_id "
                "JOIN building b ON b.id = u.building_id JOIN compound p ON p.id = b.compound_id "
                "WHERE h.building_id <> b.id OR p.community_id <> b.community_id "
                "OR h.code NOT LIKE b.code || '-U' || u.unit_no || '-' || h.room "
                "OR h.room NOT LIKE h.floor || '__' OR h.floor NOT BETWEEN 1 AND u.floors"
            )
        ).scalar_one()
        per_unit = s.execute(
            text(
                "SELECT count(*) FROM building_unit u WHERE u.households <> (SELECT count(*) "
                "FROM household h WHERE h.unit_id = u.id)"
            )
        ).scalar_one()
        in_order = s.execute(
            text(
                "SELECT bool_and(ordered) FROM (SELECT h.id > lag(h.id) OVER w "
                "OR lag(h.id) OVER w IS NULL AS ordered FROM household h JOIN building_unit u "
                "ON u.id = h.unit_id WINDOW w AS (ORDER BY u.id, h.floor, h.room)) o"
            )
        ).scalar_one()
        srids = s.execute(
            text(
                "SELECT array_agg(DISTINCT ST_SRID(position)) || array_agg(DISTINCT "
                "ST_SRID(b.footprint)) FROM household h JOIN building b ON b.id = h.building_id"
            )
        ).scalar_one()
    engine.dispose()
    assert n == counts["households"] == units and bad == 0
    assert communities == [c.code for c in city]
    assert buildings == [b.code for c in city for b in c.buildings]
    assert crossed == 0 and per_unit == 0 and in_order is True
    assert srids == [4490, 4490]
    files = write_geoparquet(city, tmp_path)
    b = gpd.read_parquet(files["buildings"])
    assert len(b) == counts["buildings"] and b.crs.to_epsg() == 4490
    assert int(b["households"].sum()) == counts["households"]
    # deterministic: the same seed gives the same city
    again = list(synthetic_city(3, seed=5, households=500))
    assert [c.households for c in again] == [c.households for c in city]


def _grids(url: str, number_of: dict[str, int]) -> dict[str, list[tuple]]:
    engine = make_engine(url)
    out = {}
    with session_scope(engine) as s:
        for code, number in number_of.items():
            out[code] = s.execute(
                text(
                    "SELECT g.code, g.households, encode(ST_AsEWKB(g.boundary), 'hex'), (SELECT "
                    "array_agg(m.unit_id || ':' || coalesce(m.floor_min, 0) ORDER BY m.unit_id, "
                    "m.floor_min) FROM grid_member m WHERE m.grid_id = g.id) FROM grid g JOIN "
                    "grid_version v ON v.id = g.version_id JOIN community c ON c.id = "
                    "v.community_id WHERE c.code = :c AND v.id = :n ORDER BY g.code"
                ),
                {"c": code, "n": number},
            ).all()
    engine.dispose()
    return out


def test_local_and_dask_engines_agree_and_a_failure_is_retried_alone(city_db, tmp_path):
    url, city, counts = city_db
    codes = [c.code for c in city]
    local = partition_many(url, codes, engine="local")
    assert all("error" not in r and r["errors"] == 0 for r in local)
    assert sum(r["assigned"] for r in local) == counts["households"]
    # where each community's time went (geo.core.stages): every stage of the path, each
    # counted once, adding up to no more than the community's time
    for r in local:
        st = r["stages"]
        assert set(st) == {
            "read",
            "prepare",
            "search",
            "polygons",
            "validate",
            "write grids",
            "assign",
            "write assignments",
            "commit",
            "gc",  # a batch's one cycle collection, after its commit
        }, st
        assert all(v >= 0 for v in st.values()) and sum(st.values()) <= r["seconds"] + 1e-3
    marker = tmp_path / "failed-once"
    seen = []
    dask = partition_many(
        url,
        codes,
        engine="dask",
        workers=2,
        fail_once=str(marker),
        progress=lambda i, n, r: seen.append((i, n, r["community"])),
    )
    assert all("error" not in r for r in dask), dask
    assert marker.exists()  # one task failed once, was retried, and succeeded
    assert sorted(c for _, _, c in seen) == sorted(codes) and seen[-1][:2] == (3, 3)
    assert len({r["pid"] for r in dask}) >= 1
    # each community got exactly one new version: the failed attempt left nothing behind
    engine = make_engine(url)
    with session_scope(engine) as s:
        versions = dict(
            s.execute(
                text(
                    "SELECT c.code, count(*) FROM grid_version v JOIN community c ON "
                    "c.id = v.community_id GROUP BY 1"
                )
            ).all()
        )
        assigned = s.execute(
            text("SELECT count(*) FROM household WHERE grid_id IS NULL")
        ).scalar_one()
    engine.dispose()
    assert versions == dict.fromkeys(codes, 2) and assigned == 0
    # identical grids, member by member and byte by byte
    a = _grids(url, {r["community"]: r["version"] for r in local})
    b = _grids(url, {r["community"]: r["version"] for r in dask})
    assert a == b and all(len(v) > 10 for v in a.values())


class _Submitted(SchedulerPlugin):
    """Every task as the scheduler received it (its run_spec, pickled)."""

    name = "wangge-submitted"

    def __init__(self) -> None:
        self.seen: list[bytes] = []

    def update_graph(self, scheduler, *, keys, tasks=None, **kwargs) -> None:
        for key in tasks or keys:
            ts = scheduler.tasks.get(key)
            if ts is not None and ts.run_spec is not None:
                self.seen.append(cloudpickle.dumps(ts.run_spec))


def test_dask_tasks_carry_no_password(server, empty_template):
    """What reaches the scheduler names the database without its password; the workers fill
    it in from their own configuration (here WANGGE_DATABASE_URL in their environment)."""
    from dask.distributed import Client, LocalCluster

    from .conftest import _clone

    gen = _clone(server, empty_template)
    url = next(gen)
    password = make_url(url).password
    assert password and password in url  # a URL with a secret goes in
    try:
        city = list(synthetic_city(1, seed=7, households=300))
        engine = make_engine(url)
        with session_scope(engine) as s:
            write_city(s, city)
        engine.dispose()
        with (
            LocalCluster(
                n_workers=1,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                env={"WANGGE_DATABASE_URL": url},
            ) as cluster,
            Client(cluster) as client,
        ):
            client.register_plugin(_Submitted())
            done = partition_many(
                url, [c.code for c in city], engine="dask", scheduler=cluster.scheduler_address
            )
            seen = client.run_on_scheduler(
                lambda dask_scheduler: dask_scheduler.plugins["wangge-submitted"].seen
            )
        assert all("error" not in d for d in done), done
        assert len(seen) == len(city)
        public = url.replace(f":{password}@", "@")
        assert public != url
        assert all(public.encode() in spec for spec in seen)  # the URL is there ...
        assert not any(password.encode() in spec for spec in seen)  # ... its secret is not
    finally:
        with pytest.raises(StopIteration):
            next(gen)


def test_stages_count_their_own_time_only():
    import time as _time

    from geo.core.stages import stage, timing

    with stage("ignored"):  # nobody is timing: nothing kept anywhere
        pass
    t0 = _time.perf_counter()
    with timing() as t, stage("outer"):
        _time.sleep(0.05)
        with stage("inner"):
            _time.sleep(0.1)
        with stage("inner"):
            _time.sleep(0.1)
    wall = _time.perf_counter() - t0
    assert set(t) == {"outer", "inner"}
    assert t["inner"] >= 0.2 and t["outer"] >= 0.05, t
    # the inner stages' time is not counted in the outer one too
    assert t["inner"] + t["outer"] <= wall, (t, wall)


def _household_schema(url: str) -> list[tuple]:
    engine = make_engine(url)
    with session_scope(engine) as s:
        rows = s.execute(
            text(
                "SELECT 'index', indexname, indexdef FROM pg_indexes WHERE tablename = 'household' "
                "UNION ALL SELECT 'key', conname, pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE conrelid = 'household'::regclass ORDER BY 1, 2"
            )
        ).all()
    engine.dispose()
    return [tuple(r) for r in rows]


def test_a_load_into_an_empty_table_builds_its_keys_and_indexes_after(server, empty_template):
    """write_city into an empty household table drops its foreign keys and secondary indexes
    for the load and makes them again after it: the same names and definitions, the keys
    checked (a household whose unit is missing is refused and nothing is left)."""
    from .conftest import _clone

    gen = _clone(server, empty_template)
    url = next(gen)
    try:
        before = _household_schema(url)
        assert any("gist" in r[2] for r in before) and any(r[0] == "key" for r in before)
        engine = make_engine(url)
        with session_scope(engine) as s:
            write_city(s, list(synthetic_city(2, seed=3, households=300)))
        assert _household_schema(url) == before
        with session_scope(engine) as s:  # the keys hold again
            with pytest.raises(Exception, match="fk_household"), s.begin_nested():
                s.execute(
                    text(
                        "UPDATE household SET unit_id = -1 WHERE id = (SELECT min(id) FROM household)"
                    )
                )
            n = s.execute(text("SELECT count(*) FROM household")).scalar_one()
        engine.dispose()
        assert n > 0
    finally:
        with pytest.raises(StopIteration):
            next(gen)
