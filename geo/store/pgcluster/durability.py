"""Durable commits (``synchronous_commit = on``), for clusters made by older versions too:
their postgresql.conf had it off, and a crash lost commits already acknowledged."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import psycopg
from psycopg import sql

from geo.store.db import fetch_value

__all__ = ["OFF", "fix_conf", "reset_overrides"]

OFF = {"off", "false", "no", "0"}  # what PostgreSQL reads as a boolean setting off


def fix_conf(conf: Path, log: Callable[[str], object] = print) -> bool:
    """Turn a ``synchronous_commit = off`` line of ``conf`` (postgresql.conf) on; whether the
    file changed."""
    text = conf.read_text()
    fixed = re.sub(
        r"^([ \t]*)synchronous_commit[ \t]*=[ \t]*'?(off|false|no|0)'?[ \t]*(#.*)?$",
        r"\1synchronous_commit = on  # wangge: was off, which lost acknowledged commits",
        text,
        flags=re.IGNORECASE | re.MULTILINE,
    )
    if fixed != text:
        conf.write_text(fixed)  # an existing file: its owner and mode are kept
        log(f"synchronous_commit = on in {conf} (was off)")
    return fixed != text


def reset_overrides(
    c: psycopg.Connection, changed: bool, log: Callable[[str], object] = print
) -> None:
    """Through the superuser's connection ``c``: an override by ALTER SYSTEM or per database
    or role reset, and the configuration reloaded when something changed (``changed``: the
    file was fixed) or the running server still has it off."""
    # what the files now say, read afresh (postgresql.auto.conf of ALTER SYSTEM included)
    bad_files = c.execute(
        "SELECT sourcefile, sourceline, setting FROM pg_file_settings "
        "WHERE name = 'synchronous_commit' AND applied"
    ).fetchall()
    if any(str(v).strip().lower() in OFF for _, _, v in bad_files):
        c.execute("ALTER SYSTEM SET synchronous_commit = on")
        log("ALTER SYSTEM SET synchronous_commit = on")
        changed = True
    overrides = c.execute(
        "SELECT d.datname, r.rolname, x FROM pg_db_role_setting s "
        "LEFT JOIN pg_database d ON d.oid = s.setdatabase "
        "LEFT JOIN pg_roles r ON r.oid = s.setrole, unnest(s.setconfig) x "
        "WHERE x ILIKE 'synchronous_commit=%%'"
    ).fetchall()
    for datname, rolname, setting in overrides:
        if setting.split("=", 1)[1].strip().strip("'\"").lower() not in OFF:
            continue
        stmt = sql.SQL("ALTER {} {}{} RESET synchronous_commit").format(
            sql.SQL("ROLE") if rolname else sql.SQL("DATABASE"),
            sql.Identifier(rolname or datname),
            sql.SQL(" IN DATABASE {}").format(sql.Identifier(datname))
            if rolname and datname
            else sql.SQL(""),
        )
        c.execute(stmt)
        log(f"{stmt.as_string(c)} (was {setting})")
    running = fetch_value(c, "SHOW synchronous_commit")
    if changed or running.lower() in OFF:  # the files were right, not yet reloaded
        c.execute("SELECT pg_reload_conf()")
