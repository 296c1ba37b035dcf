"""Moving an incident to another micro-grid (改派): a report near a boundary that went to the
wrong grid is given to the right one — one of its co-owner grids, or any current micro-grid
of the dispatcher's street. A dispatcher of the incident's street or an admin; the move is
an event in the history and an audit row."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import InputError, PermissionDenied
from geo.incidents.access import require_scope
from geo.incidents.detail import staff_extras
from geo.incidents.history import record_event
from geo.incidents.reading import get_incident
from geo.incidents.records import load
from geo.incidents.rules import clock
from geo.runtime.auth import Principal
from geo.store.audit import audit

__all__ = ["reassign"]


def _target(session: Session, code: str) -> Any:
    """The current micro-grid ``code``: id, community id, street code; InputError when there
    is none."""
    row = session.execute(
        text("""
        SELECT g.id, v.community_id, s.code FROM grid g
        JOIN grid_version v ON v.id = g.version_id AND v.status = 'published'
        JOIN community c ON c.id = v.community_id
        LEFT JOIN street s ON s.id = c.street_id
        WHERE g.code = :c AND g.level = 'micro'"""),
        {"c": code},
    ).first()
    if row is None:
        raise InputError(
            f"未知微网格 (unknown micro-grid) {code!r}; 改派只能到现行微网格 (reassign to a "
            "current micro-grid)"
        )
    return row


def reassign(
    session: Session,
    ref: int | str,
    grid: str,
    *,
    principal: Principal,
    note: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Give incident ``ref`` to micro-grid ``grid`` (its compound grid, community and street
    follow). PermissionDenied for another role, an incident outside the dispatcher's street
    or a grid that is neither a co-owner nor in the dispatcher's street; InputError for an
    unknown grid or the grid it is in. The answer: the incident as ``read_incident`` gives it
    to the caller (the public view when the incident went to a co-owner grid of another
    street, outside the dispatcher's scope)."""
    now = now or clock()
    if principal.role not in ("dispatcher", "admin"):
        raise PermissionDenied(
            f"角色 {principal.role} 不能改派事件 (only a dispatcher or an admin may reassign)"
        )
    grid = (grid or "").strip()
    inc = load(session, ref, numeric=True, now=now)
    require_scope(session, principal, inc)
    gid, community_id, street = _target(session, grid)
    if grid == inc["micro_grid"]:
        raise InputError(f"事件已在微网格 {grid} (the incident is already in {grid})")
    co_owner = grid in (inc["co_owner_grids"] or [])
    if principal.role != "admin" and not co_owner and street != principal.street_code:
        raise PermissionDenied(
            f"微网格 {grid} 不在你的街道 {principal.street_code}，也不是共管网格 (grid {grid} is "
            f"neither in your street {principal.street_code} nor a co-owner; it is in {street})"
        )
    locked = session.execute(
        text("SELECT status FROM incident WHERE id = :i FOR UPDATE"), {"i": inc["id"]}
    ).scalar_one()
    session.execute(
        text("""
        UPDATE incident SET grid_id = :g, community_id = :c, updated_at = :now,
            street_id = (SELECT street_id FROM community WHERE id = :c)
        WHERE id = :i"""),
        {"g": gid, "c": community_id, "now": now, "i": inc["id"]},
    )
    session.execute(
        text("DELETE FROM incident_co_owner WHERE incident_id = :i AND grid_id = :g"),
        {"i": inc["id"], "g": gid},
    )
    actor = f"{principal.role}:{principal.name}"
    moved = f"改派 (reassigned) {inc['micro_grid']} → {grid}"
    record_event(
        session, inc["id"], actor, locked, locked, f"{moved}: {note}" if note else moved, now
    )
    audit(
        session,
        actor,
        "reassign",
        "incident",
        str(inc["id"]),
        {"from": inc["micro_grid"], "to": grid, "co_owner": co_owner, "note": note},
    )
    try:  # the staff view without the reporter's contact (as a transition answers it)
        out = get_incident(session, inc["id"], audience="staff", principal=principal, now=now)
        return out | staff_extras(
            session, principal, load(session, inc["id"], numeric=True, now=now)
        )
    except PermissionDenied:  # given to a co-owner grid of another street: out of scope now
        return get_incident(session, inc["code"], audience="public", now=now)
