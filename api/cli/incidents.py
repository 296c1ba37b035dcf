"""``wangge incidents``: the overdue incidents escalated (from cron)."""

from __future__ import annotations

import typer

from api.cli.console import friendly, out
from api.cli.db import database

__all__ = ["app"]

app = typer.Typer(help="事件 (incidents).", no_args_is_help=True)


@app.command("escalate")
@friendly
def incidents_escalate() -> None:
    """超时升级 (move overdue incidents to the next tier; run it from cron every few minutes)."""
    from geo.incidents import escalate_overdue
    from geo.store.db import session_scope

    with session_scope(database()) as session:
        done = escalate_overdue(session)  # every street, signed "system", audited
    for d in done["escalated"]:
        out.print(f"{d['code']}: {d['from']} → {d['to']}")
    out.print(f"升级 (escalated): {done['count']} ({done['at']})")
