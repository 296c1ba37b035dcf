"""Stored incidents as staff rows: the one query that reads them, and loading one by code
(or by numeric id, for staff only)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import NotFoundError
from geo.incidents.outcomes import outcome_name
from geo.incidents.rules import TIER
from geo.store.models import INCIDENT_CATEGORIES, INCIDENT_STATUSES

__all__ = ["SELECT", "load", "staff_row"]

SELECT = """
    SELECT i.id, i.code, i.category, i.description, i.address, i.status, i.reported_at,
        i.updated_at, i.accept_due, i.handle_due, i.resolve_due, i.closed_at, i.escalations,
        ST_X(i.position) AS lon, ST_Y(i.position) AS lat,
        ST_X(i.public_position) AS public_lon, ST_Y(i.public_position) AS public_lat,
        g.code AS micro_grid, cg.code AS compound_grid, cg.name AS compound_name,
        c.code AS community, c.name AS community_name, s.code AS street, s.name AS street_name,
        d.code AS duplicate_of, i.floor, i.outcome, i.referred_to,
        (SELECT coalesce(array_agg(xg.code ORDER BY x.reason DESC, xg.code), '{}')
           FROM incident_co_owner x JOIN grid xg ON xg.id = x.grid_id
           WHERE x.incident_id = i.id) AS co_owner_grids
    FROM incident i
    LEFT JOIN grid g ON g.id = i.grid_id
    LEFT JOIN grid cg ON cg.id = g.parent_id
    LEFT JOIN community c ON c.id = i.community_id
    LEFT JOIN street s ON s.id = i.street_id
    LEFT JOIN incident d ON d.id = i.duplicate_of
"""


def staff_row(r: Any, now: datetime) -> dict[str, Any]:
    """A stored incident as a staff row (the public position kept apart, under ``_public``)."""
    d = dict(r._mapping)
    d["_public"] = (d.pop("public_lon"), d.pop("public_lat"))
    d["co_owner_grids"] = list(d.get("co_owner_grids") or [])
    # the first co-owner, as before there could be several (kept for existing clients)
    d["co_owner_grid"] = d["co_owner_grids"][0] if d["co_owner_grids"] else None
    d["category_name"] = INCIDENT_CATEGORIES.get(d["category"], (d["category"],))[0]
    d["status_name"] = INCIDENT_STATUSES[d["status"]][0]
    d["outcome_name"] = outcome_name(d.get("outcome"))
    due_col = TIER.get(d["status"])
    due = d.get(due_col) if due_col else None
    d["due"] = due.isoformat() if due else None
    d["overdue"] = bool(due and due < now)
    for k in ("reported_at", "updated_at", "accept_due", "handle_due", "resolve_due", "closed_at"):
        if d.get(k) is not None:
            d[k] = d[k].isoformat()
    return d


def load(session: Session, ref: int | str, *, numeric: bool, now: datetime) -> dict[str, Any]:
    """The stored incident ``ref`` (a code; or a numeric id when ``numeric``: for staff only,
    so that the public cannot walk the sequential ids — to it a number is no incident)."""
    by_id = isinstance(ref, int) or str(ref).isdigit()
    if by_id and not numeric:
        raise NotFoundError(
            f"事件不存在 (no such incident): {str(ref)!r}; 请用事件编号 (use its code)"
        )
    row = session.execute(
        text(SELECT + (" WHERE i.id = :i" if by_id else " WHERE i.code = :i")),
        {"i": int(ref) if by_id else str(ref)},
    ).first()
    if row is None:
        raise NotFoundError(f"事件不存在 (no such incident): {str(ref)!r}")
    return staff_row(row, now)
