"""The event history of an incident: every transition with who, when and a note."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

__all__ = ["history", "record_event"]


def record_event(
    session: Session, iid: int, actor: str, frm: str | None, to: str, note: str | None, at: datetime
) -> None:
    """Write one event, in the transaction of the change it records."""
    session.execute(
        text(
            "INSERT INTO incident_event (incident_id, at, actor, from_status, to_status, note) "
            "VALUES (:i, :at, :a, :f, :t, :n)"
        ),
        {"i": iid, "at": at, "a": actor, "f": frm, "t": to, "n": note},
    )


def history(session: Session, iid: int) -> list[dict[str, Any]]:
    """An incident's events, oldest first, as staff see them."""
    return [
        {
            "at": r[0].isoformat(),
            "actor": r[1],
            "from_status": r[2],
            "to_status": r[3],
            "note": r[4],
        }
        for r in session.execute(
            text(
                "SELECT at, actor, from_status, to_status, note FROM incident_event "
                "WHERE incident_id = :i ORDER BY at, id"
            ),
            {"i": iid},
        )
    ]
