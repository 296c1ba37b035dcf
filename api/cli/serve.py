"""``wangge serve`` (the API under uvicorn) and ``wangge demo`` (the sample community loaded,
partitioned, summarised, its maps written, then served)."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from api.cli.console import friendly, out, progress_bar, spinner
from api.cli.db import database
from api.cli.maps import write_map_files
from api.cli.reports import print_partition
from geo.settings import get_settings

__all__ = ["demo", "listening_socket", "serve"]


@friendly
def demo(
    serve_api: Annotated[
        bool, typer.Option("--serve/--no-serve", help="serve the API after the summary")
    ] = True,
    host: Annotated[str | None, typer.Option(help="API host (default 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(help="API port (default 8000)")] = None,
) -> None:
    """演示 (demo): start the local PostGIS, load the sample community 吉福社区, print a summary,
    then serve the API on http://127.0.0.1:8000 until interrupted."""
    from geo.io.fixture import fixture_loaded, load_fixture, summary
    from geo.store.db import session_scope

    engine = database()
    with session_scope(engine) as session:
        if fixture_loaded(session):
            out.print("示例社区已载入 (the sample community is already loaded)")
        else:
            with progress_bar() as bar:
                task = bar.add_task("载入示例社区 (loading the fixture)", total=1)

                def progress(kind: str, i: int, n: int) -> None:
                    bar.update(task, total=n, completed=i, description=f"载入 (loading) {kind}")

                load_fixture(session=session, progress=progress)
    with session_scope(engine) as session:  # the fixture only, never the others at start-up
        from geo.io.fixture import fixture_communities, partition_fixture
        from geo.store.versions import community_codes

        with spinner("划分网格 (partitioning) the sample community"):
            done = partition_fixture(session, actor="demo")
        for _code, res, rep, version in done:
            print_partition(res, rep, version, dry_run=False)
        mine = set(fixture_communities(session))
        others = [c for c in community_codes(session, unpartitioned=True) if c not in mine]
    if others:
        out.print(
            f"另有 {len(others)} 个社区尚未划分，启动时不处理 ({len(others)} other communities "
            f"have no grids; start-up leaves them alone, run `wangge partition`): "
            + ", ".join(others[:20])
            + (" …" if len(others) > 20 else ""),
            highlight=False,
        )
    with session_scope(engine) as session:
        _print_summary(summary(session))
        write_map_files(session, Path(get_settings().pg_dir).parent / "maps", None, None, None)
    if serve_api:
        s = get_settings()
        base = f"http://{host or s.api_host}:{port or s.api_port}"
        out.print(f"地图也由 API 提供 (the maps are served too): {base}/maps/resident")
        serve(host=host, port=port)


def _print_summary(s: dict[str, Any]) -> None:
    table = Table(title="数据库概况 (database summary)")
    table.add_column("表 (table)")
    table.add_column("行数 (rows)", justify="right")
    for name, n in s["counts"].items():
        table.add_row(name, f"{n:,}")
    out.print(table)
    out.print(f"社区范围 (community bounds, lon/lat): {s['bounds']}")
    out.print(f"登记户数 (households declared by buildings): {s['declared_households']:,}")


@friendly
def serve(
    host: Annotated[
        str | None, typer.Option(help="host (default WANGGE_API_HOST, 127.0.0.1)")
    ] = None,
    port: Annotated[int | None, typer.Option(help="port (default WANGGE_API_PORT, 8000)")] = None,
    workers: Annotated[
        int, typer.Option(min=1, max=64, help="uvicorn worker processes (e.g. one per core)")
    ] = 1,
) -> None:
    """启动 API 服务 (serve the API with uvicorn; OpenAPI at /openapi.json, docs at /docs).
    Several workers share the database: jobs, the report rate limit and idempotency keys are
    kept there; each worker keeps its own locator and tile cache."""
    import uvicorn

    from api.app import MAX_REQUEST_HEAD_BYTES, create_app
    from geo.store.db import database_url

    settings = get_settings()
    database()
    url = database_url(start=True)
    host = host or settings.api_host
    port = port or settings.api_port
    out.print(f"API: http://{host}:{port}  (docs: http://{host}:{port}/docs; Ctrl-C 停止 to stop)")
    # forwarded headers are the app's to judge (WANGGE_TRUSTED_PROXIES, default none):
    # uvicorn's own default believes X-Forwarded-For from loopback, where any local client
    # (or a proxy passing the header on) could name itself anything
    if workers == 1:
        uvicorn.run(
            create_app(url),
            host=host,
            port=port,
            log_level="info",
            proxy_headers=False,
            h11_max_incomplete_event_size=MAX_REQUEST_HEAD_BYTES,
        )
        return
    os.environ["WANGGE_DATABASE_URL"] = url  # each worker process builds its own app
    from uvicorn.supervisors import Multiprocess

    config = uvicorn.Config(
        "api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        proxy_headers=False,
        h11_max_incomplete_event_size=MAX_REQUEST_HEAD_BYTES,
    )
    # what uvicorn.run does for several workers, with the listening socket fixed first
    Multiprocess(config, sockets=[listening_socket(config)]).run()


def listening_socket(config: Any) -> socket.socket:
    """The socket several uvicorn workers share, with TCP_NODELAY (which the connections it
    accepts inherit). uvicorn makes it without IPPROTO_TCP, so asyncio does not turn Nagle's
    algorithm off for its connections: each answer written in two parts then waited for the
    client's delayed ACK — 44 ms for every /ping on a kept-alive connection with 2 workers
    against 1.7 ms with one (bench/openloop.py)."""
    sock: socket.socket = config.bind_socket()
    if sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock
