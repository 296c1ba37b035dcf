"""Test fixtures: a real PostGIS, real HTTP, real files.

The database server is the project's own local cluster (started with the same code as
``wangge db up``), or the server in ``WANGGE_TEST_DATABASE_URL`` when that is set (the tests
create and drop databases named ``wt_<pid>_…`` on it). If neither can be reached the run fails:
nothing is skipped for want of a database.

Databases:

* ``template`` — migrated and loaded with the fixture community, once per run;
* ``fixture_url`` — a clone of it shared by read-only tests (each test's writes rolled back);
  no test commits to it: at the end of the run it is compared with the template, table by
  table, and the run fails naming every table that changed;
* ``fresh_db`` / ``empty_db`` — a clone per test for tests that commit (CLI, imports), and
  ``fresh_http`` — the API on that test's ``fresh_db``; ``module_db`` — a clone per module.

The clones are used as the server's superuser (tests make tables and migrate). By hand,
``WANGGE_TEST_ROLE=app`` hands them out as the local cluster's application role instead, as the
API and the commands connect in production: every test that does not do DDL itself must pass
(``tests/test_pgcluster.py`` runs the commands and the API that way in every run).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

# imported here, at collection, not first by hypothesis's plugin at the end of a run that used
# no hypothesis test: that late import trips CPython 3.11's "AST constructor recursion depth
# mismatch" under pytest's assertion rewriting
import hypothesis  # noqa: F401
import psycopg
import pytest
import uvicorn
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from geo.settings import get_settings
from geo.store.db import make_engine, migrate, session_scope

ROOT = Path(__file__).resolve().parent.parent
RUN = f"wt_{os.getpid()}"
# every app a test starts warms two connections, not the ten a server warms: the suite starts
# dozens of apps, and PROJ's set-up costs about 0.4 s per connection (tests/test_api.py checks
# the warm-up itself)
os.environ.setdefault("WANGGE_WARM_CONNECTIONS", "2")
AS_APP = os.environ.get("WANGGE_TEST_ROLE") == "app"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "manual: a check run by hand with `-m manual`, never by `make test`: it shows that a "
        "test catches what it guards against (the old synchronous_commit = off losing reports)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Manual checks run only when asked for by ``-m``."""
    if "manual" in (config.getoption("markexpr") or ""):
        return
    manual = [item for item in items if item.get_closest_marker("manual")]
    if manual:
        config.hook.pytest_deselected(items=manual)
        items[:] = [item for item in items if not item.get_closest_marker("manual")]


@dataclass
class Server:
    """A PostgreSQL server on which tests may create databases."""

    admin_url: str  # libpq URL of the maintenance database
    app: tuple[str, str] | None = None  # (role, password) clones are handed out as, if any

    def url(self, database: str) -> str:
        return (
            make_url(self.admin_url)
            .set(database=database, drivername="postgresql+psycopg")
            .render_as_string(hide_password=False)
        )

    def libpq(self, database: str) -> str:
        return (
            make_url(self.admin_url)
            .set(database=database, drivername="postgresql")
            .render_as_string(hide_password=False)
        )

    def execute(self, sql: str) -> None:
        with psycopg.connect(self.libpq("postgres"), autocommit=True) as c:
            c.execute(sql)

    def create(self, name: str, template: str | None = None) -> str:
        tmpl = f' TEMPLATE "{template}" STRATEGY FILE_COPY' if template else ""
        for attempt in range(20):
            try:
                self.execute(f'CREATE DATABASE "{name}"{tmpl}')
                break
            except psycopg.errors.ObjectInUse:  # the template is still being closed
                time.sleep(0.1 * (attempt + 1))
        else:  # pragma: no cover
            raise RuntimeError(f"could not clone {template}")
        return self.url(name)

    def as_app(self, url: str) -> str:
        """``url`` as the application role when the run asks for it (``WANGGE_TEST_ROLE``)."""
        if self.app is None:
            return url
        user, password = self.app
        return make_url(url).set(username=user, password=password).render_as_string(False)

    def drop(self, name: str) -> None:
        self.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _drop_stale(server: Server) -> None:
    """Drop test databases left by runs whose process is gone."""
    with psycopg.connect(server.libpq("postgres"), autocommit=True) as c:
        names = [
            r[0] for r in c.execute("SELECT datname FROM pg_database WHERE datname LIKE 'wt\\_%'")
        ]
    for name in names:
        pid = name.split("_")[1]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            server.drop(name)


@pytest.fixture(scope="session")
def server() -> Server:
    given = os.environ.get("WANGGE_TEST_DATABASE_URL")
    if given:
        server = Server(
            make_url(given).set(drivername="postgresql").render_as_string(hide_password=False)
        )
    else:
        from geo.store.pgcluster import LocalCluster

        cluster = LocalCluster()
        cluster.up(log=lambda _m: None)
        server = Server(
            cluster.url("postgres", role="superuser").replace(
                "postgresql+psycopg://", "postgresql://"
            )
        )
        if AS_APP:
            from geo.store.pgcluster import APP

            server.app = (APP, cluster.password(APP))
    if AS_APP and server.app is None:
        raise RuntimeError(
            "WANGGE_TEST_ROLE=app needs the local cluster (WANGGE_TEST_DATABASE_URL set)"
        )
    _drop_stale(server)
    return server


@pytest.fixture(scope="session")
def empty_template(server: Server) -> Iterator[str]:
    """A migrated, empty database (used as a template)."""
    name = f"{RUN}_empty"
    server.drop(name)
    url = server.create(name)
    server.execute(f"ALTER DATABASE \"{name}\" SET timezone TO 'Asia/Shanghai'")
    with psycopg.connect(server.libpq(name), autocommit=True) as c:
        c.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    engine = make_engine(url)
    migrate(engine)
    engine.dispose()
    if server.app is not None:
        from geo.store.db import grant_application_role

        with psycopg.connect(server.libpq(name), autocommit=True) as c:
            # as `wangge db up` makes them: the extensions, then the role's privileges
            if c.execute(
                "SELECT 1 FROM pg_available_extensions WHERE name = 'pgrouting'"
            ).fetchone():
                c.execute("CREATE EXTENSION IF NOT EXISTS pgrouting")
            grant_application_role(c, server.app[0])
    yield name
    server.drop(name)


@pytest.fixture(scope="session")
def template(server: Server, empty_template: str) -> Iterator[str]:
    """A migrated database with the fixture community loaded and partitioned (used as a
    template), as `wangge demo` leaves it."""
    from geo.io.fixture import load_fixture
    from geo.store.db import session_scope
    from geo.store.versions import partition_and_store

    name = f"{RUN}_fixture"
    server.drop(name)
    url = server.create(name, template=empty_template)
    engine = make_engine(url)
    with session_scope(engine) as session:
        load_fixture(session=session)
    with session_scope(engine) as session:
        _, report, version = partition_and_store(session, "510107013001", actor="tests")
        assert report.ok and version is not None, report.rows()
    engine.dispose()
    yield name
    server.drop(name)


@pytest.fixture(scope="session")
def fixture_url(server: Server, template: str) -> Iterator[str]:
    """A clone of the fixture database shared by tests that do not commit. At the end of the
    run it must still equal the template: a test that committed to it fails the run."""
    name = f"{RUN}_shared"
    url = server.create(name, template=template)
    yield server.as_app(url)
    try:
        changed = changed_tables(server.url(template), url)
    finally:
        server.drop(name)
    assert not changed, (
        "tests committed to the shared fixture database (fixture_url); use fresh_db or "
        "module_db for tests that commit. Changed: " + "; ".join(changed)
    )


@pytest.fixture(scope="session")
def fixture_engine(fixture_url: str) -> Iterator[Engine]:
    engine = make_engine(fixture_url)
    yield engine
    engine.dispose()


@pytest.fixture
def session(fixture_engine: Engine) -> Iterator[Session]:
    """A session on the shared fixture database whose work is rolled back after the test."""
    with fixture_engine.connect() as conn:
        outer = conn.begin()
        factory = sessionmaker(bind=conn, join_transaction_mode="create_savepoint")
        with factory() as s:
            yield s
        outer.rollback()


_counter = iter(range(10**6))


def _clone(server: Server, template: str) -> Iterator[str]:
    name = f"{RUN}_{next(_counter)}"
    url = server.create(name, template=template)
    try:
        yield server.as_app(url)
    finally:
        server.drop(name)


@pytest.fixture
def fresh_db(server: Server, template: str) -> Iterator[str]:
    """URL of a private copy of the fixture database (tests may commit)."""
    yield from _clone(server, template)


@pytest.fixture(scope="module")
def module_db(server: Server, template: str) -> Iterator[str]:
    """URL of a private copy of the fixture database shared by one test module."""
    yield from _clone(server, template)


@pytest.fixture
def empty_db(server: Server, empty_template: str) -> Iterator[str]:
    """URL of a private migrated, empty database (tests may commit)."""
    yield from _clone(server, empty_template)


# --- database state, to prove that a refused change left nothing behind -----------------
DATA_TABLES = (
    "street",
    "community",
    "compound",
    "building",
    "building_unit",
    "household",
    "household_person",
    "road",
    "facility",
    "open_resource",
    "worker",
    "incident",
    "incident_event",
    "incident_reporter",
    "grid_version",
    "grid",
    "grid_member",
    "plan",
    "audit_log",
    "app_user",
)


def fingerprint(url: str, tables: Iterable[str] | None = None) -> dict[str, tuple[int, str]]:
    """(row count, md5 of all rows) per table: of ``tables``, by default :data:`DATA_TABLES`."""
    out = {}
    with psycopg.connect(
        make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    ) as c:
        for t in DATA_TABLES if tables is None else tables:
            n, digest = c.execute(
                f"SELECT count(*), coalesce(md5(string_agg(x::text, '|' ORDER BY x::text)), '') "
                f"FROM {t} x"
            ).fetchone()
            out[t] = (n, digest)
    return out


def all_tables(url: str) -> list[str]:
    """Every table of the application's schema (PostGIS's own ``spatial_ref_sys`` aside)."""
    with psycopg.connect(
        make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    ) as c:
        rows = c.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' "
            "AND table_type = 'BASE TABLE' AND table_name <> 'spatial_ref_sys' ORDER BY 1"
        ).fetchall()
    return [r[0] for r in rows]


def changed_tables(before_url: str, after_url: str) -> list[str]:
    """The tables whose rows differ between two databases of the same schema, each with its
    row counts (``app_user: 12 rows, now 13``), and any table only one of them has."""
    old, new = set(all_tables(before_url)), set(all_tables(after_url))
    both = sorted(old & new)
    before, after = fingerprint(before_url, both), fingerprint(after_url, both)
    return (
        [f"{t}: dropped" for t in sorted(old - new)]
        + [f"{t}: created" for t in sorted(new - old)]
        + [
            f"{t}: {before[t][0]} rows, now {after[t][0]}"
            + (" (as many rows, other values)" if before[t][0] == after[t][0] else "")
            for t in both
            if before[t] != after[t]
        ]
    )


def run_sql(url: str, query: str, **params: Any) -> list[Any]:
    """One statement on database ``url`` in its own transaction (committed); its rows, if any."""
    engine = make_engine(url)
    try:
        with session_scope(engine) as s:
            result = s.execute(text(query), params)
            return list(result.all()) if result.returns_rows else []
    finally:
        engine.dispose()


# --- the API over real HTTP -------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def serve_app(url: str) -> Iterator[str]:
    """Run the app with uvicorn in a thread; yield its base URL."""
    from api.app import MAX_REQUEST_HEAD_BYTES, create_app

    port = free_port()
    config = uvicorn.Config(
        create_app(url),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="on",
        h11_max_incomplete_event_size=MAX_REQUEST_HEAD_BYTES,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the API did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@contextlib.contextmanager
def serve_app_process(url: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """Run the app in a separate process (for clients in this process that hold the GIL while
    they wait for an answer, such as GDAL through pyogrio); yield its base URL."""
    port = free_port()
    code = (
        "import sys, uvicorn; from api.app import MAX_REQUEST_HEAD_BYTES, create_app; "
        "uvicorn.run(create_app(sys.argv[1]), host='127.0.0.1', port=int(sys.argv[2]), "
        "log_level='warning', h11_max_incomplete_event_size=MAX_REQUEST_HEAD_BYTES)"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, url, str(port)], cwd=ROOT, env=dict(os.environ) | (env or {})
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base + "/ping", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("the API process did not start")
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(scope="session")
def api_base(fixture_url: str) -> Iterator[str]:
    with serve_app(fixture_url) as base:
        yield base


@pytest.fixture
def http(api_base: str) -> Iterator[httpx.Client]:
    """A client of the API on the shared fixture database (for requests that do not write)."""
    with httpx.Client(base_url=api_base, timeout=30) as client:
        yield client


@pytest.fixture
def fresh_http(fresh_db: str) -> Iterator[httpx.Client]:
    """A client of the API on the test's own copy of the fixture database (``fresh_db``: the
    test may write through it, and read what it wrote with that URL)."""
    with serve_app(fresh_db) as base, httpx.Client(base_url=base, timeout=30) as client:
        yield client


# --- the CLI ----------------------------------------------------------------------------
@dataclass
class Ran:
    code: int
    out: str
    err: str


def run_cli(
    *args: str, url: str | None = None, env: dict[str, str] | None = None, timeout: float = 300
) -> Ran:
    """Run ``wangge ARGS`` in a subprocess (with WANGGE_DATABASE_URL=url when given)."""
    e = dict(os.environ) | {"COLUMNS": "200", "NO_COLOR": "1"}
    if url:
        e["WANGGE_DATABASE_URL"] = url
    e.update(env or {})
    proc = subprocess.run(
        [sys.executable, "-m", "api.cli", *args],
        cwd=ROOT,
        env=e,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return Ran(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def cli() -> Callable[..., Ran]:
    return run_cli


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(autouse=True)
def _fresh_settings() -> Iterator[None]:
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()
