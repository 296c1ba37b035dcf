"""``wangge users``: API users, their bearer tokens and passwords (add, list, revoke,
passwd). A password is read from standard input (``--password-stdin``, or ``passwd`` without
a terminal) or asked for twice without echo; it is never printed or logged."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich import box
from rich.table import Table

from api.cli.console import err, friendly, out
from api.cli.db import database

__all__ = ["app"]

app = typer.Typer(help="API 用户与令牌 (API users and tokens).", no_args_is_help=True)


@app.command("add")
@friendly
def users_add(
    role: Annotated[str, typer.Option(help="public | worker | dispatcher | planner | admin")],
    name: Annotated[str, typer.Option(help="the user's name (unique; signs in with it)")],
    grid: Annotated[str | None, typer.Option(help="grid code the user works in")] = None,
    street: Annotated[str | None, typer.Option(help="street (街道) code the user works in")] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="read a password (first line) from stdin")
    ] = False,
) -> None:
    """新建用户并打印令牌 (create a user and print its bearer token once; only its hash is
    stored). The token is valid for WANGGE_TOKEN_DAYS days (default 90). With
    --password-stdin the user may also sign in at /login (the password is argon2-hashed)."""
    from geo.runtime.auth import create_user, local_time
    from geo.store.db import session_scope

    password = _stdin_password() if password_stdin else None
    engine = database()
    with session_scope(engine) as session:
        user, token = create_user(
            session=session,
            name=name,
            role=role,
            grid_code=grid,
            street_code=street,
            password=password,
        )
        uid, shown, expires = user.id, user.name, local_time(user.expires_at)
    err.print(
        f"用户 (user) #{uid} {shown} ({role}); 有效期至 (valid until) {expires}; "
        "令牌只显示一次 (the token is shown once):",
        highlight=False,
    )
    print(token)


@app.command("list")
@friendly
def users_list() -> None:
    """列出用户 (list users: scope, token expiry, last use; tokens are never shown). The last
    use is recorded at most once a minute."""
    from geo.runtime.auth import list_users, local_time, token_state
    from geo.store.db import session_scope

    with session_scope(database()) as session:
        users = list_users(session=session)
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, title="用户 (users)")
    for col in ("id", "name", "role", "scope", "token", "expires", "last used"):
        table.add_column(col, no_wrap=col in ("id", "token"))
    for u in users:
        state = token_state(u)
        table.add_row(
            str(u.id),
            u.name,
            u.role,
            " ".join(c for c in (u.grid_code, u.street_code) if c),
            u.token_prefix + "…",
            {"revoked": "已撤销 revoked", "expired": "已过期 expired"}.get(state, "")
            or local_time(u.expires_at)[:10],
            local_time(u.last_used_at)[:16] or "从未 never",
        )
    out.print(table)


@app.command("revoke")
@friendly
def users_revoke(user_id: Annotated[int, typer.Argument(help="user id")]) -> None:
    """撤销用户令牌 (revoke a user's token)."""
    from geo.runtime.auth import revoke_user
    from geo.store.db import session_scope

    with session_scope(database()) as session:
        revoke_user(session=session, user_id=user_id)
    out.print(f"已撤销 (revoked) #{user_id}")


@app.command("passwd")
@friendly
def users_passwd(name: Annotated[str, typer.Argument(help="the user's name")]) -> None:
    """设置密码 (set a user's password, from stdin or asked for twice; the user's browser
    sessions end)."""
    from geo.runtime.passwords import set_password
    from geo.store.db import session_scope

    password = _stdin_password() if not sys.stdin.isatty() else _prompted_password()
    with session_scope(database()) as session:
        uid = set_password(session=session, name=name, password=password, actor="cli:passwd")
    out.print(f"已设置密码 (password set) #{uid} {name}")


def _stdin_password() -> str:
    from geo.errors import InputError

    line = sys.stdin.readline()
    if not line:
        raise InputError("标准输入没有密码 (no password on standard input)")
    return line.rstrip("\r\n")


def _prompted_password() -> str:
    from geo.errors import InputError

    first = typer.prompt("新密码 (new password)", hide_input=True)
    if typer.prompt("再输入一次 (again)", hide_input=True) != first:
        raise InputError("两次输入的密码不同 (the two passwords differ)")
    return str(first)
