"""Incidents through the closed loop: the grid calls, the street handles, the department
reports in (网格呼叫、街镇处置、部门报到).

The lifecycle is a state machine (:data:`TRANSITIONS`); every transition is written to the
event history with who, when and a note, in the same transaction as the change. Each tier has a
deadline by category (setting ``incident_deadlines``); an incident past its tier's deadline is
overdue and :func:`escalate_overdue` moves it to the next tier.

Who may do what (:data:`WHO`, :func:`_require_scope`):

* the public reports (``POST /incidents``) and, with the token given back at reporting,
  confirms (closes) or reopens its own resolved incident;
* a grid worker acts on incidents of its own grids and of those it co-owns (accept, reject,
  mark duplicate, resolve at the grid, pass to the street, confirm closed);
* a dispatcher acts on every incident of its street (all of the above, the street and
  department tiers, and escalation of its street's overdue incidents);
* an admin may do everything.

Who sees what — one view per audience (:data:`AUDIENCES`):

* ``public`` (:func:`public_view`): category, status, grid chain, the reporting time and
  history of statuses, and the position snapped to a 50 m grid in the metric CRS
  (``incident.public_position``). Never the description, address, floor, the exact point, a
  name or a note. Found by code only: a numeric id is "no such incident" to the public, so
  that the sequential ids cannot be walked.
* ``reporter`` (:func:`reporter_view`), for the holder of the reporter token: its own
  description, address, floor and exact point, the status, deadlines and history — who acted
  by role only, and no notes but its own.
* ``staff`` (:func:`staff_view`), for a grid worker, dispatcher or admin in scope: the whole
  record; the reporter's name and phone only in the answer to ``GET /incidents/{code}``, and
  each such read is written to the audit log (``read_personal``).
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.core.crs import degrees_covering
from geo.errors import ConflictError, InputError, NotFoundError, PermissionDenied
from geo.locate import Locator, locate_address, locate_point, parse_point
from geo.runtime.auth import Principal
from geo.settings import get_settings
from geo.store.models import INCIDENT_CATEGORIES, INCIDENT_STATUSES, PUBLIC_CELL_M

__all__ = [
    "AUDIENCES",
    "TRANSITIONS",
    "count_public_report",
    "create_incident",
    "escalate_overdue",
    "get_incident",
    "list_incidents",
    "public_view",
    "read_incident",
    "reissue_reporter_token",
    "reporter_view",
    "staff_view",
    "transition",
]

TZ = ZoneInfo("Asia/Shanghai")

TRANSITIONS: dict[str, tuple[str, ...]] = {
    "reported": ("accepted", "rejected", "duplicate", "street_handling"),
    "accepted": ("street_handling", "resolved", "rejected", "duplicate"),
    "street_handling": ("department_handling", "resolved"),
    "department_handling": ("resolved",),
    "resolved": ("closed", "reopened"),
    "reopened": ("accepted", "street_handling"),
    "closed": (),
    "rejected": (),
    "duplicate": (),
}
OPEN = ("reported", "accepted", "street_handling", "department_handling", "reopened")
# the tier each status waits on, and its deadline column
TIER = {
    "reported": "accept_due",
    "reopened": "accept_due",
    "accepted": "handle_due",
    "street_handling": "handle_due",
    "department_handling": "resolve_due",
}
NEXT_TIER = {
    "reported": "street_handling",
    "reopened": "street_handling",
    "accepted": "street_handling",
    "street_handling": "department_handling",
}
# which roles may make each transition (the grid: worker; the street: dispatcher)
WHO = {
    "accepted": ("worker", "dispatcher"),
    "rejected": ("worker", "dispatcher"),
    "duplicate": ("worker", "dispatcher"),
    "street_handling": ("worker", "dispatcher"),
    "department_handling": ("dispatcher",),
    "resolved": ("worker", "dispatcher"),
    "closed": ("worker", "dispatcher", "reporter"),
    "reopened": ("worker", "dispatcher", "reporter"),
}
AUDIENCES = ("public", "reporter", "staff")
STAFF_ROLES = ("worker", "dispatcher")  # and admin: the roles that see incidents in scope


def _now() -> datetime:
    """The service's clock: the server's, or ``WANGGE_TEST_CLOCK`` in tests."""
    fixed = get_settings().test_clock
    return fixed.astimezone(TZ) if fixed is not None else datetime.now(TZ)


def deadlines(category: str, start: datetime) -> dict[str, datetime]:
    """Due times of the three tiers for a category, counted from ``start``."""
    table = get_settings().incident_deadlines
    g, s, d = table.get(category, table.get("default", (2.0, 24.0, 72.0)))
    return {
        "accept_due": start + timedelta(hours=g),
        "handle_due": start + timedelta(hours=g + s),
        "resolve_due": start + timedelta(hours=g + s + d),
    }


@dataclass
class Created:
    incident: dict[str, Any]
    reporter_token: str
    workers: list[dict[str, Any]]


def create_incident(
    session: Session,
    locator: Locator,
    *,
    category: str,
    description: str,
    lon: Any = None,
    lat: Any = None,
    crs: str | None = None,
    address: str | None = None,
    reporter_name: str | None = None,
    reporter_phone: str | None = None,
    floor: int | None = None,
    actor: str = "public",
    rooms: bool = False,
    now: datetime | None = None,
) -> Created:
    """Validate and store a report: position (any CRS, or an address) inside the served area,
    its grid chain, deadlines, duplicate and grid-edge flags, the first event. At a tower
    split by floors, ``floor`` (or, with ``rooms`` — staff entering a report — the
    household's floor of an address) picks the floor group; without one, the lowest floors'
    group answers and the others are co-owners. Without ``rooms`` a room in the address is
    not looked up (see :func:`geo.locate.locate_address`)."""
    if category not in INCIDENT_CATEGORIES:
        raise InputError(
            f"未知类别 (unknown category) {category!r}; 可选 (one of): "
            f"{', '.join(INCIDENT_CATEGORIES)}"
        )
    description = (description or "").strip()
    if not description:
        raise InputError("描述不能为空 (description must not be empty)")
    if len(description) > 2000:
        raise InputError(f"描述过长 (description too long): {len(description)} > 2000")
    for label, value in (("reporter_name", reporter_name), ("reporter_phone", reporter_phone)):
        if value is not None and len(value) > 100:
            raise InputError(f"{label} 过长 (too long): {len(value)} > 100")
    if floor is not None and (
        isinstance(floor, bool) or not isinstance(floor, int) or not -5 <= floor <= 200
    ):
        raise InputError(
            f"楼层无效 (invalid floor): {floor!r}; 应为 -5 到 200 的整数 (an integer -5..200)"
        )
    if address:
        located = locate_address(session, locator, address, floor=floor, rooms=rooms)
    elif lon is not None and lat is not None:
        x, y = parse_point(lon, lat, crs)
        located = locate_point(locator, x, y, floor=floor)
    else:
        raise InputError("需要位置 lon/lat 或地址 address (give lon/lat or address)")
    now = now or _now()
    s = get_settings()
    micro = located.chain["micro_grid"]
    due = deadlines(category, now)
    dup = session.execute(
        text(f"""
        SELECT i.id, i.code FROM incident i
        WHERE i.category = :c AND i.status = ANY(:open) AND i.reported_at >= :since
          AND i.position && ST_Expand(ST_SetSRID(ST_MakePoint(:x, :y), {s.storage_srid}), :deg)
          AND ST_DWithin(ST_Transform(i.position, {s.metric_srid}),
                         ST_Transform(ST_SetSRID(ST_MakePoint(:x, :y), {s.storage_srid}),
                                      {s.metric_srid}), :d)
        ORDER BY i.reported_at DESC LIMIT 1"""),
        {
            "c": category,
            "open": list(OPEN),
            "since": now - timedelta(hours=s.duplicate_window_h),
            "x": located.lon,
            "y": located.lat,
            "d": s.duplicate_distance_m,
            "deg": degrees_covering(s.duplicate_distance_m, located.lat),
        },
    ).first()
    co_owners = [(c["id"], "floors") for c in located.co_owners]
    # the floor groups of the tower the point is in share its cell: none is a neighbour
    # across an edge
    floor_groups = [g["id"] for g in (located.floors or {}).get("groups", [])]
    held = {micro["id"], *floor_groups}
    edge = _neighbour_grid(session, located.lon, located.lat, sorted(held))
    if edge is not None:
        co_owners.append((edge, "edge"))
    code = f"E{now.strftime('%Y%m%d%H%M%S')}-{secrets.token_hex(3)}"
    token = "rp_" + secrets.token_urlsafe(24)
    community_id = session.execute(
        text(
            "SELECT v.community_id FROM grid g JOIN grid_version v ON v.id = g.version_id "
            "WHERE g.id = :g"
        ),
        {"g": micro["id"]},
    ).scalar_one()
    iid = session.execute(
        text(f"""
        INSERT INTO incident (code, category, description, address, position, status,
            community_id, grid_id, street_id, duplicate_of, floor, reported_at,
            updated_at, accept_due, handle_due, resolve_due)
        VALUES (:code, :cat, :desc, :addr, ST_SetSRID(ST_MakePoint(:x, :y), {s.storage_srid}),
            'reported', :comm, :grid, (SELECT street_id FROM community WHERE id = :comm), :dup,
            :floor, :now, :now, :a, :h, :r) RETURNING id"""),
        {
            "code": code,
            "cat": category,
            "desc": description,
            "addr": address,
            "x": located.lon,
            "y": located.lat,
            "comm": community_id,
            "grid": micro["id"],
            "dup": dup[0] if dup else None,
            "floor": floor,
            "now": now,
            "a": due["accept_due"],
            "h": due["handle_due"],
            "r": due["resolve_due"],
        },
    ).scalar_one()
    if co_owners:
        session.execute(
            text(
                "INSERT INTO incident_co_owner (incident_id, grid_id, reason) VALUES (:i, :g, :r) "
                "ON CONFLICT (incident_id, grid_id) DO NOTHING"
            ),
            [{"i": iid, "g": g, "r": r} for g, r in co_owners],
        )
    session.execute(
        text(
            "INSERT INTO incident_reporter (incident_id, name, phone, token_hash) "
            "VALUES (:i, :n, :p, :t)"
        ),
        {
            "i": iid,
            "n": reporter_name,
            "p": reporter_phone,
            "t": hashlib.sha256(token.encode()).hexdigest(),
        },
    )
    note = "上报 (reported)"
    if dup:
        note += f"; 疑似重复 (possible duplicate of) {dup[1]}"
    _event(session, iid, actor, None, "reported", note, now)
    return Created(get_incident(session, code, audience="reporter"), token, located.workers)


def reissue_reporter_token(session: Session, code: str) -> str:
    """A new reporter token for an incident (the old one stops working): the answer to a
    retried report, whose first token is stored nowhere (see :mod:`geo.runtime.idempotency`)."""
    token = "rp_" + secrets.token_urlsafe(24)
    done = session.execute(
        text(
            "UPDATE incident_reporter SET token_hash = :t WHERE incident_id = "
            "(SELECT id FROM incident WHERE code = :c) RETURNING incident_id"
        ),
        {"t": hashlib.sha256(token.encode()).hexdigest(), "c": code},
    ).first()
    if done is None:
        raise NotFoundError(f"事件不存在 (no such incident): {code!r}")
    return token


def count_public_report(
    session: Session, client: str, *, per_client: int, ceiling: int
) -> str | None:
    """Count a public report from ``client`` (its address) against ``per_client`` a minute
    and the whole service's ``ceiling`` a minute: None when it may go ahead (and it is
    counted); ``"client"`` when this client is over its limit, ``"service"`` when all
    clients together are over the ceiling (the backstop against clients that rotate their
    addresses). Kept in the database, so the limits hold across API processes; call it in a
    transaction of its own, so that a report let through counts even if it is then refused
    as invalid. Nothing waits for a lock (expired rows another request is deleting are
    skipped): reports at the very same moment may pass a limit by the few that overlap."""
    key = client[:200]
    session.execute(  # expired rows of any client: clients that never come back leave nothing
        text(
            "DELETE FROM report_hit WHERE id IN (SELECT id FROM report_hit "
            "WHERE at < now() - interval '60 seconds' LIMIT 100 FOR UPDATE SKIP LOCKED)"
        )
    )
    recent = session.execute(
        text(
            "SELECT count(*) FROM report_hit WHERE client = :k "
            "AND at >= now() - interval '60 seconds'"
        ),
        {"k": key},
    ).scalar_one()
    if recent >= per_client:
        return "client"
    everyone = session.execute(
        text("SELECT count(*) FROM report_hit WHERE at >= now() - interval '60 seconds'")
    ).scalar_one()
    if everyone >= ceiling:
        return "service"
    session.execute(text("INSERT INTO report_hit (client) VALUES (:k)"), {"k": key})
    return None


def _neighbour_grid(session: Session, lon: float, lat: float, own: list[int]) -> int | None:
    """The nearest other current micro-grid (not one of ``own``) within ``edge_distance_m``
    (the co-owner near a grid edge)."""
    s = get_settings()
    row = session.execute(
        text(f"""
        WITH p AS (SELECT ST_Transform(ST_SetSRID(ST_MakePoint(:x, :y), {s.storage_srid}),
                                       {s.metric_srid}) AS g)
        SELECT g.id FROM grid g JOIN grid_version v ON v.id = g.version_id
            AND v.status = 'published', p
        WHERE g.level = 'micro' AND g.id <> ALL(:own)
          AND g.boundary && ST_Expand(ST_SetSRID(ST_MakePoint(:x, :y), {s.storage_srid}), :deg)
          AND ST_DWithin(ST_Transform(g.boundary, {s.metric_srid}), p.g, :d)
        ORDER BY ST_Distance(ST_Transform(g.boundary, {s.metric_srid}), p.g), g.code LIMIT 1"""),
        {
            "x": lon,
            "y": lat,
            "own": own,
            "d": s.edge_distance_m,
            "deg": degrees_covering(s.edge_distance_m, lat),
        },
    ).first()
    return int(row[0]) if row else None


def _event(
    session: Session, iid: int, actor: str, frm: str | None, to: str, note: str | None, at: datetime
) -> None:
    session.execute(
        text(
            "INSERT INTO incident_event (incident_id, at, actor, from_status, to_status, note) "
            "VALUES (:i, :at, :a, :f, :t, :n)"
        ),
        {"i": iid, "at": at, "a": actor, "f": frm, "t": to, "n": note},
    )


# --- reading ----------------------------------------------------------------------------------
_SELECT = """
    SELECT i.id, i.code, i.category, i.description, i.address, i.status, i.reported_at,
        i.updated_at, i.accept_due, i.handle_due, i.resolve_due, i.closed_at, i.escalations,
        ST_X(i.position) AS lon, ST_Y(i.position) AS lat,
        ST_X(i.public_position) AS public_lon, ST_Y(i.public_position) AS public_lat,
        g.code AS micro_grid, cg.code AS compound_grid, cg.name AS compound_name,
        c.code AS community, c.name AS community_name, s.code AS street, s.name AS street_name,
        d.code AS duplicate_of, i.floor,
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


def _row(r: Any, now: datetime) -> dict[str, Any]:
    """A stored incident as a staff row (the public position kept apart, under ``_public``)."""
    d = dict(r._mapping)
    d["_public"] = (d.pop("public_lon"), d.pop("public_lat"))
    d["co_owner_grids"] = list(d.get("co_owner_grids") or [])
    # the first co-owner, as before there could be several (kept for existing clients)
    d["co_owner_grid"] = d["co_owner_grids"][0] if d["co_owner_grids"] else None
    d["category_name"] = INCIDENT_CATEGORIES.get(d["category"], (d["category"],))[0]
    d["status_name"] = INCIDENT_STATUSES[d["status"]][0]
    due_col = TIER.get(d["status"])
    due = d.get(due_col) if due_col else None
    d["due"] = due.isoformat() if due else None
    d["overdue"] = bool(due and due < now)
    for k in ("reported_at", "updated_at", "accept_due", "handle_due", "resolve_due", "closed_at"):
        if d.get(k) is not None:
            d[k] = d[k].isoformat()
    return d


def _load(session: Session, ref: int | str, *, numeric: bool, now: datetime) -> dict[str, Any]:
    """The stored incident ``ref`` (a code; or a numeric id when ``numeric``: for staff only,
    so that the public cannot walk the sequential ids — to it a number is no incident)."""
    by_id = isinstance(ref, int) or str(ref).isdigit()
    if by_id and not numeric:
        raise NotFoundError(
            f"事件不存在 (no such incident): {str(ref)!r}; 请用事件编号 (use its code)"
        )
    row = session.execute(
        text(_SELECT + (" WHERE i.id = :i" if by_id else " WHERE i.code = :i")),
        {"i": int(ref) if by_id else str(ref)},
    ).first()
    if row is None:
        raise NotFoundError(f"事件不存在 (no such incident): {str(ref)!r}")
    return _row(row, now)


def public_view(inc: dict[str, Any], history: list[dict[str, Any]]) -> dict[str, Any]:
    """What anyone may know of an incident: category, status, grid chain, the reporting
    time, the statuses it went through, and its position snapped to the nodes of a
    ``PUBLIC_CELL_M`` grid in the metric CRS (the same point every time, at most 35 m from
    the true one). No description, address, floor, exact point, name or note."""
    lon, lat = inc["_public"]
    return {
        "code": inc["code"],
        "category": inc["category"],
        "category_name": inc["category_name"],
        "status": inc["status"],
        "status_name": inc["status_name"],
        "reported_at": inc["reported_at"],
        "micro_grid": inc["micro_grid"],
        "compound_grid": inc["compound_grid"],
        "community": inc["community"],
        "street": inc["street"],
        "lon": lon,
        "lat": lat,
        "position_precision_m": PUBLIC_CELL_M,
        "history": [{"at": e["at"], "to_status": e["to_status"]} for e in history],
    }


def reporter_view(inc: dict[str, Any], history: list[dict[str, Any]]) -> dict[str, Any]:
    """What the holder of the reporter token sees: its own report (description, address,
    floor, exact point), the status, the deadline of the tier it waits on, the grid chain
    and the history — who acted by role only (``by``), no staff names and no internal
    notes (only the reporter's own)."""
    keep = (
        "code",
        "category",
        "category_name",
        "description",
        "address",
        "floor",
        "status",
        "status_name",
        "reported_at",
        "updated_at",
        "closed_at",
        "due",
        "overdue",
        "micro_grid",
        "compound_grid",
        "compound_name",
        "community",
        "community_name",
        "street",
        "street_name",
        "lon",
        "lat",
    )
    out = {k: inc[k] for k in keep}
    out["history"] = [
        {
            "at": e["at"],
            "from_status": e["from_status"],
            "to_status": e["to_status"],
            "by": _role_of(e["actor"]),
        }
        | ({"note": e["note"]} if e["actor"] == "reporter" else {})
        for e in history
    ]
    out["allowed"] = [t for t in TRANSITIONS[inc["status"]] if "reporter" in WHO.get(t, ())]
    return out


def staff_view(
    inc: dict[str, Any],
    history: list[dict[str, Any]],
    reporter: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The whole record, for staff in scope: with ``reporter`` (name and phone) only when
    the caller read them (see :func:`read_incident`)."""
    out = {k: v for k, v in inc.items() if not k.startswith("_")}
    out["history"] = history
    out["allowed"] = list(TRANSITIONS[inc["status"]])
    if reporter is not None:
        out["reporter"] = reporter
    return out


def _role_of(actor: str) -> str:
    """The role in an event's actor (``dispatcher:张三`` → ``dispatcher``); a public reporter
    is the ``reporter``."""
    role = actor.split(":", 1)[0]
    return "reporter" if role == "public" else role


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
    inc = _load(session, ref, numeric=audience == "staff", now=now or _now())
    if principal is not None and audience == "staff":
        _require_scope(session, principal, inc)
    history = _history(session, inc["id"])
    if audience == "public":
        return public_view(inc, history)
    if audience == "reporter":
        return reporter_view(inc, history)
    return staff_view(inc, history)


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
    audited; outside its scope, PermissionDenied. The holder of the reporter token gets the
    reporter view (a wrong token: PermissionDenied); anyone else the public view."""
    now = now or _now()
    if principal.has_role(*STAFF_ROLES):
        inc = _load(session, ref, numeric=True, now=now)
        _require_scope(session, principal, inc)
        rep = session.execute(
            text("SELECT name, phone FROM incident_reporter WHERE incident_id = :i"),
            {"i": inc["id"]},
        ).first()
        reporter = {"name": rep[0], "phone": rep[1]} if rep else None
        if rep and (rep[0] or rep[1]):
            _audit_personal(session, principal, "incident_reporter", str(inc["id"]))
        return staff_view(inc, _history(session, inc["id"]), reporter)
    if reporter_token is not None:
        inc = _load(session, ref, numeric=False, now=now)
        _check_reporter_token(session, inc["id"], reporter_token)
        return reporter_view(inc, _history(session, inc["id"]))
    return get_incident(session, ref, audience="public", now=now)


def _check_reporter_token(session: Session, iid: int, token: str) -> None:
    digest = hashlib.sha256(token.encode()).hexdigest()
    ok = session.execute(
        text("SELECT 1 FROM incident_reporter WHERE incident_id = :i AND token_hash = :t"),
        {"i": iid, "t": digest},
    ).first()
    if not ok:
        raise PermissionDenied("上报人凭证无效 (invalid reporter token)")


def _history(session: Session, iid: int) -> list[dict[str, Any]]:
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


def _audit_personal(
    session: Session,
    principal: Principal,
    entity: str,
    entity_id: str,
    detail: dict[str, Any] | None = None,
) -> None:
    session.execute(
        text(
            "INSERT INTO audit_log (actor, action, entity, entity_id, detail) VALUES (:a, "
            "'read_personal', :e, :i, CAST(:d AS jsonb))"
        ),
        {
            "a": f"{principal.role}:{principal.name}",
            "e": entity,
            "i": entity_id,
            "d": json.dumps(detail or {}, ensure_ascii=False),
        },
    )


def own_grid_codes(session: Session, principal: Principal) -> list[str]:
    """The current micro-grid codes a grid worker answers for: its grid and every grid under
    it (a worker of a compound grid answers for its micro-grids)."""
    if not principal.grid_code:
        return []
    rows = session.execute(
        text("""
        WITH RECURSIVE t AS (
          SELECT g.id, g.code, g.level FROM grid g JOIN grid_version v ON v.id = g.version_id
            AND v.status = 'published' WHERE g.code = :c
          UNION ALL SELECT g.id, g.code, g.level FROM grid g JOIN t ON g.parent_id = t.id)
        SELECT code FROM t WHERE level = 'micro'"""),
        {"c": principal.grid_code},
    ).scalars()
    return sorted(set(rows))


def _require_scope(session: Session, principal: Principal, inc: dict[str, Any]) -> None:
    if principal.role == "admin":
        return
    if principal.role == "dispatcher":
        if principal.street_code and inc.get("street") == principal.street_code:
            return
        raise PermissionDenied(
            f"事件不在你的街道 (incident not in your street {principal.street_code})"
        )
    if principal.role == "worker":
        own = own_grid_codes(session, principal)
        if inc.get("micro_grid") in own or set(inc.get("co_owner_grids") or ()) & set(own):
            return
        raise PermissionDenied(
            f"事件不在你的网格 (incident not in your grids {principal.grid_code})"
        )
    raise PermissionDenied(f"角色 {principal.role} 无权查看事件详情 (may not read incidents)")


def list_incidents(
    session: Session,
    principal: Principal,
    *,
    bbox: tuple | None = None,
    grid: str | None = None,
    status: str | None = None,
    category: str | None = None,
    overdue: bool | None = None,
    limit: int = 100,
    offset: int = 0,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Incidents a caller may see: a grid worker those of its grids, a dispatcher those of
    its street, an admin all."""
    now = now or _now()
    conds, params = ["TRUE"], {"limit": limit, "offset": offset}
    if principal.role == "worker":
        conds.append(
            "(g.code = ANY(:own) OR EXISTS (SELECT 1 FROM incident_co_owner x JOIN grid xg "
            "ON xg.id = x.grid_id WHERE x.incident_id = i.id AND xg.code = ANY(:own)))"
        )
        params["own"] = own_grid_codes(session, principal)
    elif principal.role == "dispatcher":
        conds.append("s.code = :street")
        params["street"] = principal.street_code
    elif principal.role != "admin":
        raise PermissionDenied(f"角色 {principal.role} 无权查看事件列表 (may not list incidents)")
    if status:
        if status not in INCIDENT_STATUSES:
            raise InputError(f"未知状态 (unknown status) {status!r}")
        conds.append("i.status = :status")
        params["status"] = status
    if category:
        conds.append("i.category = :category")
        params["category"] = category
    if grid:
        conds.append("(g.code = :grid OR cg.code = :grid)")
        params["grid"] = grid
    if bbox:
        s = get_settings()
        conds.append(f"i.position && ST_MakeEnvelope(:x0, :y0, :x1, :y1, {s.storage_srid})")
        params.update(zip(("x0", "y0", "x1", "y1"), bbox, strict=True))
    if overdue:
        conds.append(
            "(CASE WHEN i.status IN ('reported', 'reopened') THEN i.accept_due "
            "WHEN i.status IN ('accepted', 'street_handling') THEN i.handle_due "
            "WHEN i.status = 'department_handling' THEN i.resolve_due END) < :now"
        )
        params["now"] = now
    where = " AND ".join(conds)
    total = session.execute(
        text("SELECT count(*) FROM (" + _SELECT + f" WHERE {where}) q"), params
    ).scalar_one()
    rows = session.execute(
        text(
            _SELECT + f" WHERE {where} ORDER BY i.reported_at DESC, i.id "
            "LIMIT :limit OFFSET :offset"
        ),
        params,
    ).all()
    return {
        "numberMatched": int(total),
        "numberReturned": len(rows),
        "incidents": [
            {k: v for k, v in _row(r, now).items() if not k.startswith("_")} for r in rows
        ],
    }


# --- the lifecycle ------------------------------------------------------------------------------
def transition(
    session: Session,
    ref: int | str,
    to: str,
    *,
    principal: Principal | None,
    note: str | None = None,
    reporter_token: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Move an incident to ``to``: 409 (ConflictError) naming the allowed transitions when it
    is not one; 403 when the caller may not make it. The answer is the mover's view: the
    reporter view for the reporter, the staff view (without the reporter's name or phone)
    for staff."""
    now = now or _now()
    staff = principal is not None and principal.has_role(*STAFF_ROLES)
    inc = _load(session, ref, numeric=staff, now=now)
    frm = inc["status"]
    if to not in INCIDENT_STATUSES:
        raise InputError(f"未知状态 (unknown status) {to!r}")
    if to not in TRANSITIONS[frm]:
        allowed = ", ".join(TRANSITIONS[frm]) or "无 (none)"
        raise ConflictError(
            f"不能从 {frm} 转到 {to} (cannot go from {frm} to {to}); 允许 (allowed): {allowed}",
            detail={"from": frm, "to": to, "allowed": list(TRANSITIONS[frm])},
        )
    actor = _authorise(session, inc, to, principal, reporter_token)
    row = session.execute(
        text("SELECT status FROM incident WHERE id = :i FOR UPDATE"), {"i": inc["id"]}
    ).scalar_one()
    if row != frm:  # changed meanwhile
        raise ConflictError(f"事件状态已变为 {row} (the incident is now {row})")
    sets = ["status = :to", "updated_at = :now"]
    params: dict[str, Any] = {"to": to, "now": now, "i": inc["id"]}
    if to in ("closed", "rejected", "duplicate"):
        sets.append("closed_at = :now")
    if to == "reopened":  # the clock starts again
        due = deadlines(inc["category"], now)
        sets += ["accept_due = :a", "handle_due = :h", "resolve_due = :r", "closed_at = NULL"]
        params.update({"a": due["accept_due"], "h": due["handle_due"], "r": due["resolve_due"]})
    session.execute(text(f"UPDATE incident SET {', '.join(sets)} WHERE id = :i"), params)
    _event(session, inc["id"], actor, frm, to, note, now)
    session.execute(
        text(
            "INSERT INTO audit_log (actor, action, entity, entity_id, detail) VALUES (:a, "
            "'transition', 'incident', :i, CAST(:d AS jsonb))"
        ),
        {"a": actor, "i": str(inc["id"]), "d": json.dumps({"from": frm, "to": to})},
    )
    audience = "reporter" if actor == "reporter" else "staff"
    return get_incident(session, inc["id"] if staff else inc["code"], audience=audience, now=now)


def _authorise(
    session: Session,
    inc: dict[str, Any],
    to: str,
    principal: Principal | None,
    reporter_token: str | None,
) -> str:
    """Who is making the transition (for the history), or PermissionDenied."""
    if reporter_token is not None and "reporter" in WHO.get(to, ()):
        _check_reporter_token(session, inc["id"], reporter_token)
        return "reporter"
    if principal is None or principal.id is None:
        raise PermissionDenied("需要登录 (sign in, or give the reporter token)")
    if principal.role != "admin" and principal.role not in WHO.get(to, ()):
        raise PermissionDenied(
            f"角色 {principal.role} 不能转到 {to} (role may not move it to {to})"
        )
    _require_scope(session, principal, inc)
    return f"{principal.role}:{principal.name}"


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
    now = now or _now()
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
    done = []
    for iid, code, status in rows:
        nxt = NEXT_TIER.get(status)
        if nxt and nxt != status:
            session.execute(
                text(
                    "UPDATE incident SET status = :to, updated_at = :now, escalations = escalations "
                    "+ 1 WHERE id = :i"
                ),
                {"to": nxt, "now": now, "i": iid},
            )
            _event(session, iid, actor, status, nxt, "超时升级 (overdue: escalated)", now)
            done.append({"code": code, "from": status, "to": nxt})
        else:
            session.execute(
                text("UPDATE incident SET escalations = escalations + 1 WHERE id = :i"), {"i": iid}
            )
            done.append({"code": code, "from": status, "to": status, "note": "top tier"})
    session.execute(
        text(
            "INSERT INTO audit_log (actor, action, entity, entity_id, detail) VALUES (:a, "
            "'escalate', 'incident', :s, CAST(:d AS jsonb))"
        ),
        {
            "a": actor,
            "s": street,
            "d": json.dumps(
                {"at": now.isoformat(), "street": street, "incidents": done}, ensure_ascii=False
            ),
        },
    )
    return {"at": now.isoformat(), "street": street, "escalated": done, "count": len(done)}


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
