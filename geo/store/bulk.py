"""Bulk writing in the session's transaction: ids reserved from a table's own sequence (so
that rows referring to each other can be written with COPY, parents first), COPY from Python
rows, and a TEMP staging table for set-based updates (the application role has TEMP, not
CREATE)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

__all__ = ["checked_after", "copy_rows", "fetch_rows", "reserve_ids", "staging"]


def reserve_ids(session: Session, table: str, n: int) -> list[int]:
    """``n`` ids from the sequence of ``table``'s ``id`` column, in increasing order."""
    if n <= 0:
        return []
    return list(
        session.execute(
            text(
                "SELECT nextval(pg_get_serial_sequence(:t, 'id')) FROM generate_series(1, :n) "
                "ORDER BY 1"
            ),
            {"t": table, "n": n},
        ).scalars()
    )


def copy_rows(
    session: Session, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]
) -> None:
    """COPY ``rows`` (tuples in the order of ``columns``; geometries as hex EWKB, None as
    NULL) into ``table`` on the session's connection, in its transaction."""
    raw = session.connection().connection.driver_connection
    assert raw is not None  # a live psycopg connection
    with raw.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as cp:
        for row in rows:
            cp.write_row(row)


def staging(session: Session, name: str, columns: str) -> str:
    """An empty TEMP table ``name`` (``columns``: its column definitions), kept for the
    session's connection and emptied at each commit; its name back."""
    session.execute(
        text(f"CREATE TEMP TABLE IF NOT EXISTS {name} ({columns}) ON COMMIT DELETE ROWS")
    )
    session.execute(text(f"DELETE FROM {name}"))  # used before in this transaction
    return name


def fetch_rows(session: Session, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    """The rows of ``sql`` (parameters as ``%(name)s``) as plain tuples, straight from the
    driver on the session's connection, in its transaction: for reads of many thousand rows,
    where building SQLAlchemy rows costs more than the query."""
    raw = session.connection().connection.driver_connection
    assert raw is not None  # a live psycopg connection
    with raw.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall()


@contextmanager
def checked_after(session: Session, table: str) -> Iterator[None]:
    """A bulk load into ``table`` (a constant of the code, not input): when it is empty and
    the caller owns it, its foreign keys and the indexes behind no constraint dropped for
    the load and made again after it, with the same names and definitions (PostgreSQL's
    advice for populating a table: one build and one check instead of one a row — the
    household table's keys and GiST index were most of the time of a city's load). In the
    caller's transaction, so a load that fails, or rows a key refuses, leave nothing;
    otherwise (rows there already, another role) a plain load."""
    owner = session.execute(
        text(
            "SELECT pg_has_role(c.relowner, 'USAGE') OR (SELECT rolsuper FROM pg_roles "
            "WHERE rolname = current_user) FROM pg_class c WHERE c.oid = CAST(:t AS regclass)"
        ),
        {"t": table},
    ).scalar_one()
    if owner:  # nobody writes into it while it is found empty and reshaped
        session.execute(text(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"))
    if not owner or session.execute(text(f"SELECT EXISTS (SELECT 1 FROM {table})")).scalar():
        yield
        return
    keys = session.execute(
        text(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = CAST(:t AS regclass) AND contype = 'f' ORDER BY conname"
        ),
        {"t": table},
    ).all()
    indexes = session.execute(
        text(
            "SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i JOIN pg_class c "
            "ON c.oid = i.indexrelid WHERE i.indrelid = CAST(:t AS regclass) AND NOT "
            "i.indisprimary AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE "
            "k.conindid = i.indexrelid) ORDER BY 1"
        ),
        {"t": table},
    ).all()
    for name, _ in keys:
        session.execute(text(f"ALTER TABLE {table} DROP CONSTRAINT {_quoted(name)}"))
    for name, _ in indexes:
        session.execute(text(f"DROP INDEX {_quoted(name)}"))
    yield
    for _, definition in indexes:
        session.execute(text(definition))
    for name, definition in keys:
        session.execute(text(f"ALTER TABLE {table} ADD CONSTRAINT {_quoted(name)} {definition}"))


def _quoted(name: str) -> str:
    """An SQL identifier, quoted."""
    return '"' + name.replace('"', '""') + '"'
