"""Moving incidents through the lifecycle: one transition by whoever may make it, and the
escalation of overdue incidents to the next tier. Each change is written to the event
history and the audit log in its transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import ConflictError, InputError, PermissionDenied
from geo.incidents.access import authorise
from geo.incidents.history import record_event
from geo.incidents.outcomes import checked_outcome
from geo.incidents.reading import get_incident
from geo.incidents.records import load
from geo.incidents.rules import NEXT_TIER, STAFF_ROLES, TRANSITIONS, clock, deadlines
from geo.runtime.auth import Principal
from geo.store.audit import audit
from geo.store.models import INCIDENT_STATUSES

__all__ = ["escalate_overdue", "transition"]


def transition(
    session: Session,
    ref: int | str,
    to: str,
    *,
    principal: Principal | None,
    note: str | None = None,
    reporter_token: str | None = None,
    outcome: str | None = None,
    referred_to: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Move an incident to ``to``: 409 (ConflictError) naming the allowed transitions when it
    is not one; 403 when the caller may not make it; 400 when the outcome a close needs is
    missing or wrong (:mod:`geo.incidents.outcomes`). The answer is the mover's view: the
    reporter view for the reporter, the staff view (without the reporter's name or phone)
    for staff."""
    now = now or clock()
    staff = principal is not None and principal.has_role(*STAFF_ROLES)
    inc = load(session, ref, numeric=staff, now=now)
    frm = inc["status"]
    if to not in INCIDENT_STATUSES:
        raise InputError(f"未知状态 (unknown status) {to!r}")
    if to not in TRANSITIONS[frm]:
        allowed = ", ".join(TRANSITIONS[frm]) or "无 (none)"
        raise ConflictError(
            f"不能从 {frm} 转到 {to} (cannot go from {frm} to {to}); 允许 (allowed): {allowed}",
            detail={"from": frm, "to": to, "allowed": list(TRANSITIONS[frm])},
        )
    actor = authorise(session, inc, to, principal, reporter_token)
    ended = checked_outcome(to, actor, outcome, referred_to)
    row = session.execute(
        text("SELECT status FROM incident WHERE id = :i FOR UPDATE"), {"i": inc["id"]}
    ).scalar_one()
    if row != frm:  # changed meanwhile
        raise ConflictError(f"事件状态已变为 {row} (the incident is now {row})")
    _set_status(session, inc, to, now, ended)
    record_event(session, inc["id"], actor, frm, to, note, now)
    detail: dict[str, Any] = {"from": frm, "to": to}
    if ended[0] is not None:
        detail |= {"outcome": ended[0], "referred_to": ended[1]}
    audit(session, actor, "transition", "incident", str(inc["id"]), detail)
    audience = "reporter" if actor == "reporter" else "staff"
    return get_incident(
        session,
        inc["id"] if staff else inc["code"],
        audience=audience,
        principal=principal if audience == "staff" else None,
        now=now,
    )


def _set_status(
    session: Session,
    inc: dict[str, Any],
    to: str,
    now: datetime,
    ended: tuple[str | None, str | None] = (None, None),
) -> None:
    """Store the new status: a final one closes the incident (with its outcome), a reopened
    one starts the clock again and clears the outcome."""
    sets = ["status = :to", "updated_at = :now"]
    params: dict[str, Any] = {"to": to, "now": now, "i": inc["id"]}
    if to in ("closed", "rejected", "duplicate"):
        sets += ["closed_at = :now", "outcome = :outcome", "referred_to = :where"]
        params |= {"outcome": ended[0], "where": ended[1]}
    if to == "reopened":  # the clock starts again
        due = deadlines(inc["category"], now)
        sets += ["accept_due = :a", "handle_due = :h", "resolve_due = :r", "closed_at = NULL"]
        sets += ["outcome = NULL", "referred_to = NULL"]
        params.update({"a": due["accept_due"], "h": due["handle_due"], "r": due["resolve_due"]})
    session.execute(text(f"UPDATE incident SET {', '.join(sets)} WHERE id = :i"), params)


def escalate_overdue(
    session: Session, *, principal: Principal | None = None, now: datetime | None = None
) -> dict[str, Any]:
    """Move every incident past its tier's deadline to the next tier (the grid → the street →
    a department); an overdue incident at the top tier is counted (escalations) and listed.

    Judged by the service's clock (``now`` is for library callers and tests; the API never
    takes it from a request). Without ``principal`` (the cron job, ``wangge incidents
    escalate``) and for an admin: every street; for a dispatcher: its own street only (one
    without a street may not). The events are signed by the principal (``system`` for the
    cron job), and each run writes one audit row (who, when, which incidents), even when
    nothing was overdue. Returns the time judged by, the street (None: all) and what was
    done."""
    now = now or clock()
    street = _escalation_street(principal)
    actor = "system" if principal is None else f"{principal.role}:{principal.name}"
    rows = session.execute(
        text(
            """
        SELECT i.id, i.code, i.status FROM incident i WHERE (
          (i.status IN ('reported', 'reopened') AND i.accept_due < :now) OR
          (i.status IN ('accepted', 'street_handling') AND i.handle_due < :now) OR
          (i.status = 'department_handling' AND i.resolve_due < :now))"""
            + (
                " AND i.street_id = (SELECT id FROM street WHERE code = :street)"
                if street is not None
                else ""
            )
            + " ORDER BY i.id FOR UPDATE"
        ),
        {"now": now, "street": street},
    ).all()
    done = [_escalate(session, iid, code, status, actor, now) for iid, code, status in rows]
    audit(
        session,
        actor,
        "escalate",
        "incident",
        street,
        {"at": now.isoformat(), "street": street, "incidents": done},
    )
    return {"at": now.isoformat(), "street": street, "escalated": done, "count": len(done)}


def _escalate(
    session: Session, iid: int, code: str, status: str, actor: str, now: datetime
) -> dict[str, Any]:
    """Move one overdue incident to the next tier (at the top tier: count it only); what
    was done."""
    nxt = NEXT_TIER.get(status)
    if nxt and nxt != status:
        session.execute(
            text(
                "UPDATE incident SET status = :to, updated_at = :now, escalations = escalations "
                "+ 1 WHERE id = :i"
            ),
            {"to": nxt, "now": now, "i": iid},
        )
        record_event(session, iid, actor, status, nxt, "超时升级 (overdue: escalated)", now)
        return {"code": code, "from": status, "to": nxt}
    session.execute(
        text("UPDATE incident SET escalations = escalations + 1 WHERE id = :i"), {"i": iid}
    )
    return {"code": code, "from": status, "to": status, "note": "top tier"}


def _escalation_street(principal: Principal | None) -> str | None:
    """The street a principal may escalate (None: every street), or PermissionDenied."""
    if principal is None or principal.role == "admin":
        return None
    if principal.role != "dispatcher":
        raise PermissionDenied(
            f"角色 {principal.role} 不能执行超时升级 (role may not escalate incidents)"
        )
    if not principal.street_code:
        raise PermissionDenied(
            f"调度员 {principal.name} 没有街道，不能升级 (the dispatcher has no street to escalate)"
        )
    return principal.street_code
