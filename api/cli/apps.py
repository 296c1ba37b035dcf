"""``wangge apps``: registered Open311 apps and their api keys (add, list, revoke). A key is
printed once; only its SHA-256 is stored."""

from __future__ import annotations

from typing import Annotated

import typer
from rich import box
from rich.table import Table

from api.cli.console import err, friendly, out
from api.cli.db import database

__all__ = ["app"]

app = typer.Typer(
    help="Open311 应用与密钥 (Open311 apps and their api keys).", no_args_is_help=True
)


@app.command("add")
@friendly
def apps_add(
    name: Annotated[str, typer.Argument(help="the app's name (unique)")],
    user: Annotated[
        str | None,
        typer.Option(help="a staff user's name: the app then acts in that user's role and scope"),
    ] = None,
) -> None:
    """登记应用并打印 api_key (register an app and print its api_key once; only its hash is
    stored). With --user STAFF it reads and files as that worker, dispatcher or admin."""
    from geo.open311 import add_app
    from geo.store.db import session_scope

    with session_scope(database()) as session:
        registered, key = add_app(session, name, user)
        aid, shown = registered.id, registered.name
    who = f"; 以 {user} 的角色与范围 (acting as {user})" if user else "; 公众 (public)"
    err.print(f"应用 (app) #{aid} {shown}{who}; api_key 只显示一次 (shown once):", highlight=False)
    print(key)


@app.command("list")
@friendly
def apps_list() -> None:
    """列出应用 (list apps: the linked user, created, revoked, last use; keys never shown)."""
    from geo.open311 import list_apps
    from geo.runtime.auth import local_time
    from geo.store.db import session_scope

    with session_scope(database()) as session:
        apps = list_apps(session)
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, title="Open311 应用 (apps)")
    for col in ("id", "name", "user", "created", "revoked", "last used"):
        table.add_column(col, no_wrap=col == "id")
    for a, user in apps:
        table.add_row(
            str(a.id),
            a.name,
            user or "公众 public",
            local_time(a.created_at)[:10],
            local_time(a.revoked_at)[:10] or "-",
            local_time(a.last_used_at)[:16] or "从未 never",
        )
    out.print(table)


@app.command("revoke")
@friendly
def apps_revoke(ref: Annotated[str, typer.Argument(help="the app's id or name")]) -> None:
    """撤销应用 (revoke an app: its api_key is refused from now on)."""
    from geo.open311 import revoke_app
    from geo.store.db import session_scope

    with session_scope(database()) as session:
        revoked = revoke_app(session, ref)
        aid, shown = revoked.id, revoked.name
    out.print(f"已撤销 (revoked) #{aid} {shown}")
