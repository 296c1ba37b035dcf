"""Writing checked rows: COPY into a table inside the session's transaction, and the ids of
the rows written."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

__all__ = ["copy_rows", "ids_by_code"]


def copy_rows(
    session: Session, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]
) -> int:
    """COPY rows into ``table`` inside the session's transaction; return how many."""
    raw = session.connection().connection.driver_connection
    if raw is None:  # pragma: no cover - a live session always has its driver connection
        raise RuntimeError("no database connection")
    n = 0
    with raw.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as cp:
        for row in rows:
            cp.write_row(row)
            n += 1
    return n


def ids_by_code(session: Session, table: str, codes: Sequence[str]) -> dict[str, int]:
    """code → id of the given rows of ``table``."""
    res = session.execute(
        text(f"SELECT code, id FROM {table} WHERE code = ANY(:codes)"), {"codes": list(codes)}
    ).all()
    return {str(code): int(ident) for code, ident in res}
