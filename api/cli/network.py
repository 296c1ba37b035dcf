"""``wangge network``: the walking network of roads and footways."""

from __future__ import annotations

import typer

from api.cli.console import friendly, out
from api.cli.db import database

__all__ = ["app"]

app = typer.Typer(
    help="步行网络 (the walking network of roads and footways).", no_args_is_help=True
)


@app.command("build")
@friendly
def network_build() -> None:
    """把道路连成步行网络 (build the walking network from the roads, for walking distances)."""
    from geo.network import build_network, pgrouting_available
    from geo.store.db import session_scope

    with session_scope(database()) as session:
        counts = build_network(session)
        routing = pgrouting_available(session)
    out.print(
        f"网络 (network): {counts['vertices']} 节点 (nodes), {counts['edges']} 边 (edges); "
        f"pgRouting: {'可用 (available)' if routing else '不可用，用直线距离 (absent: straight lines)'}"
    )
