"""The cluster's three roles (least privilege) and what each may do: the owner and the
application role made or brought back to no privilege beyond logging in, and what an older
cluster's superuser owns handed to the owner."""

from __future__ import annotations

from collections.abc import Callable

import psycopg
from psycopg import sql

__all__ = ["APP", "OWNER", "PASSWORD_KEYS", "ROLES", "SUPERUSER", "ensure_role", "hand_over"]

SUPERUSER = "wangge"  # initdb's bootstrap superuser: manages the cluster, nothing else
OWNER = "wangge_owner"  # owns the database and the schema: migrations
APP = "wangge_app"  # the API, jobs and commands: data only
ROLES = {"superuser": SUPERUSER, "owner": OWNER, "app": APP}
PASSWORD_KEYS = {SUPERUSER: "password", OWNER: "owner_password", APP: "app_password"}
# what the owner and the application role are not (checked and fixed at every `up`)
_LEAST = {
    "rolsuper": "NOSUPERUSER",
    "rolcreatedb": "NOCREATEDB",
    "rolcreaterole": "NOCREATEROLE",
    "rolreplication": "NOREPLICATION",
    "rolbypassrls": "NOBYPASSRLS",
}


def ensure_role(
    c: psycopg.Connection,
    role: str,
    password: str,
    *,
    new_password: bool,
    log: Callable[[str], object] = print,
) -> None:
    """``role`` exists, can log in with ``password``, and has no privilege beyond that: not
    superuser, no CREATEDB, CREATEROLE, REPLICATION or BYPASSRLS, member of no role
    (``pg_execute_server_program`` would allow ``COPY … TO PROGRAM``). The password is set
    when the role is made or ``new_password`` says it is new. ``c``: the superuser's."""
    ident = sql.Identifier(role)
    row = c.execute(
        "SELECT rolcanlogin, " + ", ".join(_LEAST) + " FROM pg_roles WHERE rolname = %s",
        (role,),
    ).fetchone()
    # the verifier, not the password, goes to the server (and to any log)
    verifier = c.pgconn.encrypt_password(
        password.encode(), role.encode(), b"scram-sha-256"
    ).decode()
    if row is None:
        c.execute(
            sql.SQL("CREATE ROLE {} LOGIN {} PASSWORD {}").format(
                ident, sql.SQL(" ".join(_LEAST.values())), sql.Literal(verifier)
            )
        )
        log(f"created role {role}")
        return
    if not row[0] or any(row[1:]):
        c.execute(
            sql.SQL("ALTER ROLE {} LOGIN {}").format(ident, sql.SQL(" ".join(_LEAST.values())))
        )
        log(f"role {role}: {' '.join(_LEAST.values())}")
    if new_password:
        c.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(ident, sql.Literal(verifier)))
    for (parent,) in c.execute(
        "SELECT g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid "
        "JOIN pg_roles u ON u.oid = m.member WHERE u.rolname = %s",
        (role,),
    ).fetchall():
        c.execute(sql.SQL("REVOKE {} FROM {}").format(sql.Identifier(parent), ident))
        log(f"role {role}: no longer a member of {parent}")


def hand_over(c: psycopg.Connection, log: Callable[[str], object] = print) -> None:
    """Give the owner role what the superuser owns in schema public (an older cluster
    migrated as the superuser), extensions' own objects excepted. ALTER TABLE … OWNER
    also moves the table's indexes and the sequences of its columns."""
    schema_owner = c.execute(
        "SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = 'public'"
    ).fetchone()
    if schema_owner and schema_owner[0] == SUPERUSER:
        c.execute(sql.SQL("ALTER SCHEMA public OWNER TO {}").format(sql.Identifier(OWNER)))
    moved = []
    for relname, kind in c.execute(
        "SELECT c.relname, c.relkind FROM pg_class c "
        "WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r','p','v','m','f','S') "
        "AND pg_get_userbyid(c.relowner) = %s AND NOT EXISTS (SELECT 1 FROM pg_depend d "
        "WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype IN ('e','a','i')) "
        "ORDER BY c.relkind <> 'r', c.relname",
        (SUPERUSER,),
    ).fetchall():
        what = {"S": "SEQUENCE", "v": "VIEW", "m": "MATERIALIZED VIEW", "f": "FOREIGN TABLE"}
        c.execute(
            sql.SQL("ALTER {} public.{} OWNER TO {}").format(
                sql.SQL(what.get(kind, "TABLE")), sql.Identifier(relname), sql.Identifier(OWNER)
            )
        )
        moved.append(relname)
    for kind, rows in (
        (
            "FUNCTION",
            "SELECT p.oid::regprocedure::text FROM pg_proc p WHERE "
            "p.pronamespace = 'public'::regnamespace AND pg_get_userbyid(p.proowner) = %s AND "
            "p.prokind = 'f' AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = "
            "'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')",
        ),
        (
            "TYPE",
            "SELECT t.oid::regtype::text FROM pg_type t WHERE t.typnamespace = "
            "'public'::regnamespace AND pg_get_userbyid(t.typowner) = %s AND t.typtype IN "
            "('e','d','c') AND t.typrelid = 0 AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE "
            "d.classid = 'pg_type'::regclass AND d.objid = t.oid AND d.deptype = 'e')",
        ),
    ):
        for (obj,) in c.execute(rows, (SUPERUSER,)).fetchall():
            c.execute(
                sql.SQL("ALTER {} {} OWNER TO {}").format(
                    sql.SQL(kind), sql.SQL(obj), sql.Identifier(OWNER)
                )
            )
            moved.append(obj)
    if moved:
        log(f"{len(moved)} objects handed to {OWNER} (were {SUPERUSER}'s)")
