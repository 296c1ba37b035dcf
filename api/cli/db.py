"""``wangge db``: the project's own PostGIS (up, down, status, migrate), and :func:`database`,
the database every other command uses."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer

from api.cli.console import err, friendly, out
from geo.settings import get_settings

if TYPE_CHECKING:
    from sqlalchemy import Engine

__all__ = ["app", "database"]

app = typer.Typer(
    help="项目自带的 PostGIS (the project's own PostGIS): up, down, status, migrate.",
    no_args_is_help=True,
)


def database() -> Engine:
    """The engine of the database to use, started and migrated (as the schema's owner); the
    engine connects as the application role."""
    from geo.store.db import get_engine, prepare_database

    return get_engine(prepare_database(start=True))


@app.command("up")
@friendly
def db_up() -> None:
    """启动本地 PostGIS (start the local PostGIS cluster; create it on first use) and print the
    application role's URL.

    The cluster lives in WANGGE_PG_DIR (default .wangge/pg) on a free loopback port. Running it
    twice is harmless; a stale pid file after a crash is recovered. As root, the cluster runs as
    WANGGE_PG_OS_USER (default postgres). Each run also checks the roles (wangge_owner migrates,
    wangge_app is what everything else uses: no superuser, no DDL) and synchronous_commit = on,
    and fixes a cluster made by an older version. Does nothing when WANGGE_DATABASE_URL is set.
    """
    settings = get_settings()
    if settings.database_url:
        out.print("WANGGE_DATABASE_URL 已设置，不启动本地数据库 (is set; nothing started)")
        return
    from geo.store.db import upgrade_schema
    from geo.store.pgcluster import APP, OWNER, LocalCluster

    cluster = LocalCluster()
    st = cluster.up(log=lambda m: err.print(f"[dim]{m}[/]", highlight=False))
    upgrade_schema(cluster.url(role="owner"), cluster.url())
    err.print(f"PostgreSQL {st.server_version} + PostGIS {st.postgis_version} in {st.data_dir}")
    err.print(
        f"角色 (roles): {APP} (应用 the API and commands), {OWNER} (迁移 migrations); "
        f"synchronous_commit = {st.synchronous_commit}",
        highlight=False,
    )
    print(cluster.url())


@app.command("down")
@friendly
def db_down() -> None:
    """停止本地 PostGIS (stop the local cluster; harmless when it is not running)."""
    from geo.store.pgcluster import LocalCluster

    stopped = LocalCluster().down()
    out.print("已停止 (stopped)" if stopped else "未在运行 (was not running)")


@app.command("status")
@friendly
def db_status(
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """本地 PostGIS 状态 (status of the local cluster: running, port, versions). Exit 3 when
    it is not running."""
    from geo.store.pgcluster import LocalCluster

    settings = get_settings()
    if settings.database_url:
        out.print("使用 (using) WANGGE_DATABASE_URL")
        return
    st = LocalCluster().status()
    if as_json:
        print(json.dumps(st.as_dict()))
    else:
        for k, v in st.as_dict().items():
            out.print(f"{k:16} {v}")
    if not st.running:
        raise typer.Exit(3)


@app.command("migrate")
@friendly
def db_migrate() -> None:
    """把表结构升级到最新 (bring the schema up to date: Alembic upgrade head)."""
    database()
    out.print("表结构已是最新 (schema is up to date)")
