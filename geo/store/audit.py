"""The audit log: one row per thing a person did or read — plan edits, imports, incident
transitions, reads of personal data, deletes. Every module writes it through :func:`audit`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from geo.store.models import AuditLog

__all__ = ["audit", "audit_many"]


def audit(
    session: Session,
    actor: str,
    action: str,
    entity: str,
    entity_id: str | int | None = None,
    detail: Mapping[str, Any] | None = None,
) -> None:
    """Write one audit row in the session's transaction (so it commits or rolls back with
    the change it records). ``detail`` is stored as JSON; a value JSON does not know (a
    numpy number, a path, a time) is stored as its text."""
    audit_many(session, [(actor, action, entity, entity_id, detail)])


def audit_many(
    session: Session,
    rows: Iterable[tuple[str, str, str, str | int | None, Mapping[str, Any] | None]],
) -> None:
    """Write several audit rows at once: ``(actor, action, entity, entity_id, detail)``."""
    values = [
        {
            "actor": actor,
            "action": action,
            "entity": entity,
            "entity_id": None if entity_id is None else str(entity_id),
            "detail": None if detail is None else json.loads(json.dumps(dict(detail), default=str)),
        }
        for actor, action, entity, entity_id, detail in rows
    ]
    if values:
        session.execute(insert(AuditLog), values)
