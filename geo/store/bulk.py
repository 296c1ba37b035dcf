"""Bulk writing in the session's transaction: ids reserved from a table's own sequence (so
that rows referring to each other can be written with COPY, parents first), COPY from Python
rows, and a TEMP staging table for set-based updates (the application role has TEMP, not
CREATE)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

__all__ = ["copy_rows", "fetch_rows", "reserve_ids", "staging"]


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
