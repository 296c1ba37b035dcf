"""The ``wangge`` command: database, import/export, demo, API server and users.

Every subcommand that needs the database uses ``WANGGE_DATABASE_URL`` when it is set, and
otherwise starts the project's own local PostGIS (``wangge db up``) and brings the schema up to
date first. Errors print a message naming the bad value or row and exit with status 1.

One module per command group (``db``, ``data``, ``grids``, ``plans``, ``maps``, ``serve``,
``users``, ``network``, ``incidents``, ``notices``, ``apps``, ``report``); this one puts them together in the order ``--help``
lists them.
"""

from __future__ import annotations

import typer

from api.cli.console import settings_or_exit

settings_or_exit()

from api.cli import (  # noqa: E402  (after the settings are checked: the models read them when imported)
    apps,
    data,
    db,
    grids,
    incidents,
    maps,
    network,
    notices,
    plans,
    report,
    serve,
    users,
)

__all__ = ["app", "main"]

app = typer.Typer(
    name="wangge",
    help="网格 Wangge: 社区网格治理空间服务 (community grid governance: grids, households, "
    "service places, incidents). Run `wangge demo` to see it working on the sample community.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
)
app.command("import")(data.import_cmd)
app.command("export")(data.export_cmd)
app.command("delete")(data.delete_cmd)
app.command()(grids.partition)
app.command()(grids.validate)
app.command()(grids.assign)
app.command()(serve.demo)
app.command("maps")(maps.maps_cmd)
app.command()(serve.serve)
app.command("report")(report.report_cmd)
app.add_typer(db.app, name="db")
app.add_typer(users.app, name="users")
app.add_typer(network.app, name="network")
app.add_typer(incidents.app, name="incidents")
app.add_typer(notices.app, name="notices")
app.add_typer(plans.app, name="plan")
app.add_typer(apps.app, name="apps")


def main() -> None:
    """The console script ``wangge``."""
    app()
