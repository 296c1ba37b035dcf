"""Reading incidents: one incident as an audience sees it, the answer to ``GET
/incidents/{ref}`` for whoever asks (staff reads of the reporter's name and phone audited),
and the list of incidents a member of staff may see."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import InputError, PermissionDenied
from geo.incidents.access import check_reporter_token, own_grid_codes, require_scope
from geo.incidents.categories import category_key
from geo.incidents.detail import allowed_for, staff_extras
from geo.incidents.history import history
from geo.incidents.records import SELECT, load, staff_row
from geo.incidents.rules import AUDIENCES, STAFF_ROLES, clock
from geo.incidents.views import public_view, reporter_view, staff_view
from geo.runtime.auth import Principal
from geo.settings import get_settings
from geo.store.audit import audit
from geo.store.models import INCIDENT_STATUSES

__all__ = ["get_incident", "incident_scope", "list_incidents", "read_incident"]

# the deadline of the tier each open status waits on (see rules.TIER; null once ended)
DUE = (
    "(CASE WHEN i.status IN ('reported', 'reopened') THEN i.accept_due "
    "WHEN i.status IN ('accepted', 'street_handling') THEN i.handle_due "
    "WHEN i.status = 'department_handling' THEN i.resolve_due END)"
)
OVERDUE = DUE + " < :now"  # ... is past


def get_incident(
    session: Session,
    ref: int | str,
    *,
    audience: str,
    principal: Principal | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """One incident with its history, as ``audience`` sees it (:data:`AUDIENCES`). For
    ``staff`` with a principal, only within its grids or street (PermissionDenied); numeric
    ids are taken for staff only. Never the reporter's name or phone (see
    :func:`read_incident`). The caller has checked the audience (the reporter token)."""
    if audience not in AUDIENCES:
        raise ValueError(f"unknown audience {audience!r}")
    inc = load(session, ref, numeric=audience == "staff", now=now or clock())
    if principal is not None and audience == "staff":
        require_scope(session, principal, inc)
    events = history(session, inc["id"])
    if audience == "public":
        return public_view(inc, events)
    if audience == "reporter":
        return reporter_view(inc, events)
    return staff_view(inc, events, allowed=allowed_for(principal, inc["status"]))


def read_incident(
    session: Session,
    ref: int | str,
    *,
    principal: Principal,
    reporter_token: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The answer to ``GET /incidents/{ref}``, for whoever asks: a grid worker, dispatcher or
    admin in scope gets the staff view with the reporter's name and phone, and that read is
    audited, and what it needs to act (:func:`geo.incidents.detail.staff_extras`: allowed
    transitions, co-owners, grid chain, workers, photos); outside its scope,
    PermissionDenied. The holder of the reporter token gets the
    reporter view (a wrong token: PermissionDenied); anyone else the public view."""
    now = now or clock()
    if principal.has_role(*STAFF_ROLES):
        inc = load(session, ref, numeric=True, now=now)
        require_scope(session, principal, inc)
        rep = session.execute(
            text("SELECT name, phone, email FROM incident_reporter WHERE incident_id = :i"),
            {"i": inc["id"]},
        ).first()
        reporter = {"name": rep[0], "phone": rep[1]} if rep else None
        if rep and rep[2]:  # an e-mail given through Open311
            reporter = (reporter or {}) | {"email": rep[2]}
        if rep and (rep[0] or rep[1] or rep[2]):
            actor = f"{principal.role}:{principal.name}"
            audit(session, actor, "read_personal", "incident_reporter", str(inc["id"]), {})
        out = staff_view(inc, history(session, inc["id"]), reporter)
        return out | staff_extras(session, principal, inc)
    if reporter_token is not None:
        inc = load(session, ref, numeric=False, now=now)
        check_reporter_token(session, inc["id"], reporter_token)
        return reporter_view(inc, history(session, inc["id"]))
    return get_incident(session, ref, audience="public", now=now)


def list_incidents(
    session: Session,
    principal: Principal,
    *,
    bbox: tuple[float, float, float, float] | None = None,
    grid: str | None = None,
    status: str | None = None,
    category: str | None = None,
    overdue: bool | None = None,
    since: datetime | None = None,
    sort: str | None = None,
    limit: int = 100,
    offset: int = 0,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Incidents a caller may see: a grid worker those of its grids, a dispatcher those of
    its street, an admin all. ``since``: only those reported or changed (a transition, a
    reassignment) at or after it. ``sort``: ``newest`` (the default) or ``deadline`` (the
    due time of the tier each open one waits on, earliest — so the overdue — first; then
    the ended ones; newest first among equals)."""
    now = now or clock()
    if sort not in (None, "newest", "deadline"):
        raise InputError(f"未知排序 (unknown sort) {sort!r}; 可选 (one of): newest, deadline")
    conds, params = incident_scope(session, principal)
    params |= {"limit": limit, "offset": offset}
    if since is not None:
        conds.append("(i.reported_at >= :since OR i.updated_at >= :since)")
        params["since"] = since
    if status:
        if status not in INCIDENT_STATUSES:
            raise InputError(f"未知状态 (unknown status) {status!r}")
        conds.append("i.status = :status")
        params["status"] = status
    if category:
        conds.append("i.category = :category")
        params["category"] = category_key(category)
    if grid:
        conds.append("(g.code = :grid OR cg.code = :grid)")
        params["grid"] = grid
    if bbox:
        srid = get_settings().storage_srid
        conds.append(f"i.position && ST_MakeEnvelope(:x0, :y0, :x1, :y1, {srid})")
        params.update(zip(("x0", "y0", "x1", "y1"), bbox, strict=True))
    if overdue:
        conds.append(OVERDUE)
        params["now"] = now
    where = " AND ".join(conds)
    total = session.execute(
        text("SELECT count(*) FROM (" + SELECT + f" WHERE {where}) q"), params
    ).scalar_one()
    order = (DUE + " ASC NULLS LAST, " if sort == "deadline" else "") + "i.reported_at DESC, i.id"
    rows = session.execute(
        text(SELECT + f" WHERE {where} ORDER BY {order} LIMIT :limit OFFSET :offset"),
        params,
    ).all()
    return {
        "numberMatched": int(total),
        "numberReturned": len(rows),
        "incidents": [
            {k: v for k, v in staff_row(r, now).items() if not k.startswith("_")} for r in rows
        ],
    }


def incident_scope(session: Session, principal: Principal) -> tuple[list[str], dict[str, Any]]:
    """The condition (and its parameters) on the incidents a principal may list: a grid
    worker's grids and those it co-owns, a dispatcher's street, everything for an admin."""
    if principal.role == "worker":
        cond = (
            "(g.code = ANY(:own) OR EXISTS (SELECT 1 FROM incident_co_owner x JOIN grid xg "
            "ON xg.id = x.grid_id WHERE x.incident_id = i.id AND xg.code = ANY(:own)))"
        )
        return ["TRUE", cond], {"own": own_grid_codes(session, principal)}
    if principal.role == "dispatcher":
        return ["TRUE", "s.code = :street"], {"street": principal.street_code}
    if principal.role != "admin":
        raise PermissionDenied(f"角色 {principal.role} 无权查看事件列表 (may not list incidents)")
    return ["TRUE"], {}
