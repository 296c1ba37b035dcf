"""Connecting to PostGIS: which database, engines and sessions, and the schema migrations.

The database is ``WANGGE_DATABASE_URL`` when set; otherwise the project's own local cluster
(:mod:`geo.pgcluster`), started on demand.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import InterfaceError, OperationalError, ProgrammingError
from sqlalchemy.orm import Session, sessionmaker

from geo.errors import DatabaseUnavailable
from geo.settings import get_settings

__all__ = [
    "database_url",
    "get_engine",
    "make_engine",
    "migrate",
    "postgis_version",
    "session_scope",
    "warm_connections",
]

log = logging.getLogger("wangge.db")

MIGRATIONS = Path(__file__).parent / "migrations"


def database_url(*, start: bool = True, database: str | None = None) -> str:
    """The URL to use: ``WANGGE_DATABASE_URL`` if set, else the local cluster's (started when
    ``start`` is true; otherwise it must already run)."""
    settings = get_settings()
    if settings.database_url:
        return settings.database_url
    from geo.pgcluster import LocalCluster  # local import: only needed for the embedded default

    cluster = LocalCluster()
    if start:
        cluster.up(database=database, log=lambda _msg: None)
        return cluster.url(database)
    st = cluster.status()
    if not st.running:
        raise DatabaseUnavailable(
            "本地数据库未运行，请先执行 `wangge db up` "
            "(the local database is not running; run `wangge db up`, or set WANGGE_DATABASE_URL)"
        )
    return cluster.url(database, st.port)


def make_engine(url: str, **kw: object) -> Engine:
    """A SQLAlchemy engine for ``url`` (psycopg 3), pinging pooled connections."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    opts: dict[str, object] = {"pool_pre_ping": True, "connect_args": {"connect_timeout": 10}}
    opts.update(kw)
    return create_engine(url, **opts)  # type: ignore[arg-type]


@lru_cache(maxsize=8)
def get_engine(url: str | None = None) -> Engine:
    """The process-wide engine for ``url`` (default: :func:`database_url`)."""
    return make_engine(url or database_url())


@contextlib.contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """One transaction: committed when the block ends, rolled back on any error."""
    factory = sessionmaker(engine, expire_on_commit=False)
    with factory() as session, session.begin():
        yield session


def postgis_version(engine: Engine) -> tuple[str, str]:
    """(server version, PostGIS version); raises :class:`DatabaseUnavailable`."""
    try:
        with engine.connect() as conn:
            server = conn.execute(text("SHOW server_version")).scalar_one()
            postgis = conn.execute(text("SELECT postgis_full_version()")).scalar_one()
    except OperationalError as exc:
        raise DatabaseUnavailable(
            f"数据库不可达 (database unreachable): {exc.orig or exc}".splitlines()[0]
        ) from exc
    return str(server), str(postgis).split('"')[1] if '"' in postgis else str(postgis)


def include_object(obj, name, type_, reflected, compare_to):
    """What Alembic compares: our tables, not PostGIS's own (spatial_ref_sys)."""
    from geoalchemy2 import alembic_helpers

    if type_ == "table" and name == "spatial_ref_sys":
        return False
    return alembic_helpers.include_object(obj, name, type_, reflected, compare_to)


def _alembic_config(engine: Engine):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (Alembic upgrade)."""
    from alembic import command

    command.upgrade(_alembic_config(engine), revision)


def downgrade(engine: Engine, revision: str = "base") -> None:
    from alembic import command

    command.downgrade(_alembic_config(engine), revision)


def warm_connections(engine: Engine, n: int) -> None:
    """Open ``n`` pooled connections and have each backend set up what its first spatial query
    would otherwise set up while a client waits: PROJ's transformations between the storage,
    metric and web-map CRSs, about 0.1 s each per backend (the first vector tile on a new
    connection spent 0.1 s planning). Without it the first requests after a start took up to
    2 s under load. A database that is down is left for the requests to report (503)."""
    s = get_settings()
    here = f"ST_SetSRID(ST_MakePoint(104.06, 30.66), {s.storage_srid})"
    warm = text(
        f"SELECT ST_Transform(ST_Transform({here}, {s.metric_srid}), {s.storage_srid}), "
        f"ST_Transform(ST_Transform({here}, 3857), {s.storage_srid})"
    )

    def one(_: int) -> None:
        with engine.connect() as conn:
            conn.execute(warm)

    if n <= 0:
        return
    try:
        with ThreadPoolExecutor(n) as pool:
            list(pool.map(one, range(n)))
    except (OperationalError, InterfaceError, ProgrammingError) as exc:
        log.warning("could not warm the database connections: %s", exc)
