"""Connecting to PostGIS: which database as which role, engines and sessions, the schema
migrations and the application role's privileges.

Two URLs (least privilege): :func:`admin_database_url`, the role that owns the schema, only
migrates (:func:`upgrade_schema`); :func:`database_url`, the application role, is what the API,
the jobs and the commands use. They are ``WANGGE_ADMIN_DATABASE_URL`` (default: the same as
``WANGGE_DATABASE_URL``) and ``WANGGE_DATABASE_URL`` when set; otherwise the project's own local
cluster (:mod:`geo.store.pgcluster`, started on demand), which has a role for each.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import InterfaceError, OperationalError, ProgrammingError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from geo.errors import DatabaseUnavailable, SetupError
from geo.settings import get_settings

__all__ = [
    "admin_database_url",
    "database_url",
    "fetch_value",
    "get_engine",
    "grant_application_role",
    "make_engine",
    "migrate",
    "postgis_version",
    "prepare_database",
    "session_scope",
    "strip_password",
    "upgrade_schema",
    "warm_connections",
    "with_password",
]

log = logging.getLogger("wangge.db")

MIGRATIONS = Path(__file__).parent / "migrations"


def database_url(*, start: bool = True, database: str | None = None) -> str:
    """The application role's URL, for everything but migrations: ``WANGGE_DATABASE_URL`` if
    set, else the local cluster's ``wangge_app`` (the cluster started when ``start`` is true;
    otherwise it must already run)."""
    return _url("app", start=start, database=database)


def admin_database_url(*, start: bool = True, database: str | None = None) -> str:
    """The schema owner's URL, for migrations only: ``WANGGE_ADMIN_DATABASE_URL``, else
    ``WANGGE_DATABASE_URL``, else the local cluster's ``wangge_owner``."""
    return _url("owner", start=start, database=database)


def _url(role: str, *, start: bool, database: str | None) -> str:
    settings = get_settings()
    if settings.admin_database_url and not settings.database_url:
        raise SetupError(
            "设置了 WANGGE_ADMIN_DATABASE_URL 却没有 WANGGE_DATABASE_URL (WANGGE_ADMIN_DATABASE_URL "
            "is set but WANGGE_DATABASE_URL is not): 应用角色的 URL 也要给出 (give the "
            "application role's URL too), 或两者都不设以使用本地集群 (or neither, for the local "
            "cluster)"
        )
    if settings.database_url:
        if role == "owner":
            return settings.admin_database_url or settings.database_url
        return settings.database_url
    from geo.store.pgcluster import (
        LocalCluster,  # local import: only needed for the embedded default
    )

    cluster = LocalCluster()
    if start:
        cluster.up(database=database, log=lambda _msg: None)
        return cluster.url(database, role=role)
    st = cluster.status()
    if not st.running:
        raise DatabaseUnavailable(
            "本地数据库未运行，请先执行 `wangge db up` "
            "(the local database is not running; run `wangge db up`, or set WANGGE_DATABASE_URL)"
        )
    return cluster.url(database, st.port, role=role)


def libpq_url(url: str) -> str:
    """``url`` as libpq (psycopg) takes it: ``postgresql://…``, the password kept."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def strip_password(url: str) -> tuple[str, str | None]:
    """(``url`` without its password, the password): what may travel, what may not."""
    u = make_url(url)
    password = None if u.password is None else str(u.password)
    bare = URL.create(  # (URL.set(password=None) would keep the password)
        u.drivername,
        username=u.username,
        host=u.host,
        port=u.port,
        database=u.database,
        query=u.query,
    )
    return bare.render_as_string(hide_password=False), password


def with_password(url: str) -> str:
    """``url`` with the password filled in from this process's own configuration when it has
    none (a Dask worker's task names the database, never the secret): from
    ``WANGGE_DATABASE_URL`` or ``WANGGE_ADMIN_DATABASE_URL`` when one names the same user,
    host and port, else from the local cluster's ``cluster.json`` when it is that server; else
    unchanged, for libpq to find (``PGPASSWORD``, ``~/.pgpass``)."""
    u = make_url(url)
    if u.password:
        return url
    settings = get_settings()
    for known in (settings.database_url, settings.admin_database_url):
        if not known:
            continue
        k = make_url(known)
        if (k.username, k.host, k.port) == (u.username, u.host, u.port) and k.password:
            return u.set(password=k.password).render_as_string(hide_password=False)
    if u.host in ("127.0.0.1", "localhost") and u.username:
        from geo.store.pgcluster import LocalCluster

        with contextlib.suppress(SetupError, OSError, ValueError):
            password = LocalCluster().password(u.username, port=u.port)
            return u.set(password=password).render_as_string(hide_password=False)
    return url


def make_engine(url: str, **kw: Any) -> Engine:
    """A SQLAlchemy engine for ``url`` (psycopg 3), pinging pooled connections."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    opts: dict[str, Any] = {"pool_pre_ping": True, "connect_args": {"connect_timeout": 10}}
    opts.update(kw)
    return create_engine(url, **opts)


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


def fetch_value(conn: psycopg.Connection, query: str) -> Any:
    """The first column of the first row of ``query``, a query that always returns a row
    (``SHOW …``, ``SELECT current_database()``)."""
    row = conn.execute(query).fetchone()
    assert row is not None, query
    return row[0]


def grant_application_role(
    conn: psycopg.Connection, role: str, *, owner: str | None = None
) -> None:
    """Give ``role`` what the application needs in schema ``public``, and no more: USAGE on the
    schema (no CREATE: no tables, no DDL), SELECT/INSERT/UPDATE/DELETE on the data tables and
    USAGE on their sequences, SELECT only on ``alembic_version``, CONNECT and TEMPORARY on the
    database (staging tables), and the same on the tables later migrations create (default
    privileges of ``owner``, default: the connected role). Run by the owner after migrating, or
    by a superuser; idempotent. Extensions' own tables (``spatial_ref_sys``) are left alone."""

    def q(name: str) -> sql.Composable:
        return sql.Identifier(name)

    r = q(role)
    conn.execute(sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(r))
    conn.execute(sql.SQL("REVOKE CREATE ON SCHEMA public FROM PUBLIC, {}").format(r))
    database = fetch_value(conn, "SELECT current_database()")
    conn.execute(sql.SQL("GRANT CONNECT, TEMPORARY ON DATABASE {} TO {}").format(q(database), r))
    conn.execute(sql.SQL("REVOKE CREATE ON DATABASE {} FROM {}").format(q(database), r))
    rows = conn.execute(
        "SELECT c.relname, c.relkind FROM pg_class c WHERE c.relnamespace = "
        "'public'::regnamespace AND c.relkind IN ('r','p','v','m','f','S') AND NOT EXISTS "
        "(SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid "
        "AND d.deptype = 'e') ORDER BY 1"
    ).fetchall()
    for relname, kind in rows:
        rel = sql.SQL("public.{}").format(q(relname))
        if kind == "S":
            conn.execute(sql.SQL("GRANT USAGE, SELECT ON SEQUENCE {} TO {}").format(rel, r))
        elif relname == "alembic_version":  # the schema's version is the owner's business
            conn.execute(sql.SQL("GRANT SELECT ON {} TO {}").format(rel, r))
            conn.execute(
                sql.SQL("REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON {} FROM {}").format(rel, r)
            )
        else:
            conn.execute(sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON {} TO {}").format(rel, r))
    for_role = sql.SQL(" FOR ROLE {}").format(q(owner)) if owner else sql.SQL("")
    conn.execute(
        sql.SQL(
            "ALTER DEFAULT PRIVILEGES{} IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE "
            "ON TABLES TO {}"
        ).format(for_role, r)
    )
    conn.execute(
        sql.SQL(
            "ALTER DEFAULT PRIVILEGES{} IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {}"
        ).format(for_role, r)
    )


def upgrade_schema(admin_url: str, app_url: str | None = None) -> None:
    """Migrate as the schema's owner (``admin_url``) and, when the application connects as
    another role (``app_url``'s user), give that role its privileges on the tables."""
    engine = make_engine(admin_url, poolclass=NullPool)
    try:
        migrate(engine)
    finally:
        engine.dispose()
    role = make_url(app_url).username if app_url else None
    if role and role != make_url(admin_url).username:
        with psycopg.connect(libpq_url(admin_url), connect_timeout=10) as conn:
            grant_application_role(conn, role)


def prepare_database(*, start: bool = True) -> str:
    """The database ready for the application: the schema migrated by its owner, the
    application role granted; returns the application role's URL (:func:`database_url`)."""
    app = database_url(start=start)
    upgrade_schema(admin_database_url(start=False), app)
    return app


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
