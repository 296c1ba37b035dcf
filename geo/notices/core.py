"""Emergency notices (应急通知): sent by a dispatcher to its street or grids in it (an admin:
anywhere), fanned out along the reach tree to every micro-grid in scope — a target per
micro-grid with the households it holds, a message per worker with a phone in the outbox,
delivered after commit by :mod:`geo.notices.outbox` through the configured
:class:`~geo.notices.sender.Sender` — then acknowledged per
micro-grid by its worker with the households reached (never more than it holds). The
dispatcher's live view: the share reached, whether every grid acknowledged within the
notice's deadline (5 minutes by default), the full mobilisation due 3 hours after sending,
and the grids not yet acknowledged.

Every function takes ``now`` (default :func:`geo.incidents.rules.clock`), so tests move the
clock without waiting."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import InputError, NotFoundError, PermissionDenied
from geo.incidents import own_grid_codes
from geo.incidents.rules import TZ, clock
from geo.people import check_reach_scope, grid_streets, micro_codes, street_grids
from geo.runtime.auth import Principal
from geo.store.audit import audit
from geo.store.versions.read import household_count

__all__ = ["FULL_MOBILISATION_H", "acknowledge", "list_notices", "read_notice", "send_notice"]


FULL_MOBILISATION_H = 3  # every household reached within 3 hours (全员动员)


def _iso(at: datetime | None) -> str | None:
    return at.astimezone(TZ).isoformat() if at else None


def _actor(principal: Principal) -> str:
    return f"{principal.role}:{principal.name}"


def _checked(title: str, body: str, deadline_minutes: int) -> tuple[str, str]:
    title, body = (title or "").strip(), (body or "").strip()
    if not title or len(title) > 200:
        raise InputError(f"标题应为 1–200 字 (title must be 1–200 characters): {title[:20]!r}")
    if not body or len(body) > 4000:
        raise InputError(f"正文应为 1–4000 字 (body must be 1–4000 characters): {len(body)}")
    if isinstance(deadline_minutes, bool) or not 1 <= int(deadline_minutes) <= 1440:
        raise InputError(f"deadline_minutes 应为 1 到 1440 (must be 1..1440): {deadline_minutes!r}")
    return title, body


def _scope_micro(
    session: Session, principal: Principal, street: str | None, grids: list[str] | None
) -> tuple[list[str], str | None]:
    """The micro-grids a notice reaches and the street it belongs to (None: several)."""
    if bool(street) == bool(grids):
        raise InputError("需要 street 或 grids 之一 (give either street or grids)")
    if principal.role not in ("dispatcher", "admin"):
        raise PermissionDenied(f"角色 {principal.role} 无权发送应急通知 (may not send notices)")
    check_reach_scope(session, principal, grids=grids, street=street)
    if street:
        tops = street_grids(session, street)
        streets = {street}
    else:
        tops = list(grids or [])
        streets = set(grid_streets(session, tops).values())
    micro = sorted({m for g in tops for m in micro_codes(session, g)})
    if not micro:
        raise InputError(f"范围内没有微网格 (no micro-grid in scope): {street or grids}")
    return micro, streets.pop() if len(streets) == 1 else None


def _households(session: Session, micro: list[str]) -> dict[str, int]:
    counts: dict[str, int] = dict(
        session.execute(
            text(
                f"SELECT g.code, CAST(sum({household_count()}) AS bigint) FROM grid g JOIN grid_version v "
                "ON v.id = g.version_id AND v.status = 'published' WHERE g.code = ANY(:m) "
                "GROUP BY g.code"
            ),
            {"m": micro},
        ).all()
    )
    return {m: int(counts.get(m, 0)) for m in micro}


def _recipients(session: Session, micro: list[str]) -> dict[str, list[tuple[str, str, str]]]:
    """Per micro-grid, its workers with a phone (code, name, phone): the micro-grid's own
    and the building heads of its buildings, as the reach tree fans out."""
    rows = session.execute(
        text("""
        WITH m AS (SELECT unnest(CAST(:m AS text[])) AS grid),
        heads AS (
          SELECT DISTINCT g.code AS grid, b.code AS building FROM grid g
          JOIN grid_version v ON v.id = g.version_id AND v.status = 'published'
          JOIN building b ON b.community_id = v.community_id
          JOIN household h ON h.building_id = b.id AND h.grid_id = g.id
          WHERE g.code = ANY(:m))
        SELECT m.grid, w.code, w.name, w.phone FROM m JOIN worker w ON w.grid_code = m.grid
          WHERE w.phone IS NOT NULL AND w.phone <> ''
        UNION
        SELECT heads.grid, w.code, w.name, w.phone FROM heads
          JOIN worker w ON w.building_code = heads.building
          WHERE w.phone IS NOT NULL AND w.phone <> ''
        ORDER BY 1, 2"""),
        {"m": micro},
    ).all()
    out: dict[str, list[tuple[str, str, str]]] = {m: [] for m in micro}
    for grid, code, name, phone in rows:
        out[grid].append((code, name, phone))
    return out


def _queue(
    session: Session, nid: int, message: str, recipients: dict[str, list[tuple[str, str, str]]]
) -> int:
    """A pending outbox row per recipient (delivered after commit by
    :func:`geo.notices.outbox.deliver`); their number."""
    rows = [
        {"n": nid, "g": grid, "w": code, "p": phone, "m": message}
        for grid, workers in recipients.items()
        for code, _name, phone in workers
    ]
    if rows:
        session.execute(
            text(
                "INSERT INTO notice_outbox (notice_id, grid_code, worker_code, phone, message, "
                "status) VALUES (:n, :g, :w, :p, :m, 'pending')"
            ),
            rows,
        )
    return len(rows)


def send_notice(
    session: Session,
    principal: Principal,
    *,
    title: str,
    body: str,
    street: str | None = None,
    grids: list[str] | None = None,
    deadline_minutes: int = 5,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Store a notice, its targets and its outbox (pending: nothing leaves before the
    caller commits; then :func:`geo.notices.outbox.deliver`). One transaction: a refused
    notice stores nothing."""
    title, body = _checked(title, body, deadline_minutes)
    micro, in_street = _scope_micro(session, principal, street, grids)
    now = now or clock()
    households = _households(session, micro)
    recipients = _recipients(session, micro)
    nid = session.execute(
        text(
            "INSERT INTO notice (title, body, street_code, grids, deadline_minutes, sent_at, "
            "sent_by) VALUES (:t, :b, :s, :g, :d, :at, :by) RETURNING id"
        ),
        {
            "t": title,
            "b": body,
            "s": street or in_street,
            "g": list(grids or []),
            "d": int(deadline_minutes),
            "at": now,
            "by": _actor(principal),
        },
    ).scalar_one()
    session.execute(
        text("INSERT INTO notice_target (notice_id, grid_code, households) VALUES (:n, :g, :h)"),
        [{"n": nid, "g": m, "h": households[m]} for m in micro],
    )
    messages = _queue(session, nid, f"【应急通知 {nid}】{title}：{body}", recipients)
    without = [m for m in micro if not recipients[m]]
    audit(
        session,
        _actor(principal),
        "notice_send",
        "notice",
        nid,
        {"street": street, "grids": grids, "targets": len(micro), "messages": messages},
    )
    return {
        "id": nid,
        "title": title,
        "sent_at": _iso(now),
        "targets": len(micro),
        "households": sum(households.values()),
        "messages": messages,
        "without_worker": without,
    }


def _notice(session: Session, nid: int) -> Any:
    row = session.execute(
        text(
            "SELECT id, title, body, street_code, grids, deadline_minutes, sent_at, sent_by "
            "FROM notice WHERE id = :i"
        ),
        {"i": nid},
    ).first()
    if row is None:
        raise NotFoundError(f"通知不存在 (no such notice): {nid}")
    return row


def _targets(session: Session, nid: int) -> list[Any]:
    return list(
        session.execute(
            text(
                "SELECT t.grid_code, t.households, t.acked_at, t.households_reached, t.acked_by, "
                "(SELECT string_agg(w.name, '、' ORDER BY w.code) FROM worker w "
                " WHERE w.grid_code = t.grid_code) FROM notice_target t WHERE t.notice_id = :i "
                "ORDER BY t.grid_code"
            ),
            {"i": nid},
        ).all()
    )


def _may_read(session: Session, principal: Principal, notice: Any, grids: list[str]) -> None:
    if principal.role == "admin":
        return
    if principal.role == "dispatcher":
        if principal.street_code and notice.street_code == principal.street_code:
            return
        raise PermissionDenied(
            f"通知 {notice.id} 不属于你的街道 (notice {notice.id} is not of your street; "
            f"yours: {principal.street_code})"
        )
    if principal.role == "worker" and set(grids) & set(own_grid_codes(session, principal)):
        return
    raise PermissionDenied(f"无权查看通知 {notice.id} (may not read notice {notice.id})")


def read_notice(
    session: Session, principal: Principal, nid: int, *, now: datetime | None = None
) -> dict[str, Any]:
    """The live view of a notice: per grid its households and acknowledgement, the share of
    households reached, whether every grid acknowledged within the deadline, the grids not
    acknowledged."""
    notice = _notice(session, nid)
    targets = _targets(session, nid)
    _may_read(session, principal, notice, [t[0] for t in targets])
    now = now or clock()
    due = notice.sent_at + timedelta(minutes=notice.deadline_minutes)
    total = sum(t[1] for t in targets)
    reached = sum(t[3] or 0 for t in targets)
    on_time = sum(t[3] or 0 for t in targets if t[2] is not None and t[2] <= due)
    all_on_time = all(t[2] is not None and t[2] <= due for t in targets)
    return {
        "id": notice.id,
        "title": notice.title,
        "body": notice.body,
        "street": notice.street_code,
        "sent_at": _iso(notice.sent_at),
        "sent_by": notice.sent_by,
        "deadline_minutes": notice.deadline_minutes,
        "target_due": _iso(due),
        "full_mobilisation_due": _iso(notice.sent_at + timedelta(hours=FULL_MOBILISATION_H)),
        "grids": [
            {
                "grid": g,
                "households": h,
                "acked_at": _iso(at),
                "households_reached": n,
                "acked_by": by,
                "worker": workers,
            }
            for g, h, at, n, by, workers in targets
        ],
        "households": total,
        "reached": reached,
        "share": reached / total if total else None,
        "target_share": on_time / total if total else None,
        "within_target": all_on_time,
        "target_passed": now > due,
        "not_acknowledged": [t[0] for t in targets if t[2] is None],
    }


def acknowledge(
    session: Session,
    principal: Principal,
    nid: int,
    *,
    grid: str,
    households_reached: int,
    now: datetime | None = None,
) -> dict[str, Any]:
    """A micro-grid's acknowledgement by its worker (or an admin): the households reached,
    at most the grid's. A second acknowledgement updates the count (the first time stays
    the time of acknowledgement); each is audited."""
    notice = _notice(session, nid)
    if principal.role == "worker":
        if grid not in own_grid_codes(session, principal):
            raise PermissionDenied(
                f"网格 {grid} 不归你负责 (grid {grid} is not yours; yours: {principal.grid_code})"
            )
    elif principal.role != "admin":
        raise PermissionDenied(f"角色 {principal.role} 不能确认通知 (may not acknowledge)")
    target = session.execute(
        text(
            "SELECT households, acked_at, households_reached FROM notice_target "
            "WHERE notice_id = :n AND grid_code = :g FOR UPDATE"
        ),
        {"n": nid, "g": grid},
    ).first()
    if target is None:
        raise NotFoundError(f"通知 {nid} 未发往网格 {grid} (notice {nid} was not sent to {grid})")
    n = households_reached
    if isinstance(n, bool) or not isinstance(n, int) or n < 0 or n > target.households:
        raise InputError(
            f"已通知户数 {n!r} 超出网格 {grid} 的住户数 {target.households} (households_reached "
            f"{n!r} is not between 0 and the grid's {target.households} households)"
        )
    now = now or clock()
    session.execute(
        text(
            "UPDATE notice_target SET households_reached = :r, acked_by = :by, "
            "acked_at = COALESCE(acked_at, :at) WHERE notice_id = :n AND grid_code = :g"
        ),
        {"r": n, "by": principal.name, "at": now, "n": nid, "g": grid},
    )
    audit(
        session,
        _actor(principal),
        "notice_ack" if target.acked_at is None else "notice_ack_update",
        "notice",
        nid,
        {"grid": grid, "households_reached": n, "previous": target.households_reached},
    )
    return read_notice(session, principal, notice.id, now=now)


def list_notices(
    session: Session, principal: Principal, *, limit: int = 50
) -> list[dict[str, Any]]:
    """Notices the caller may see, newest first: a dispatcher its street's, a worker those
    sent to its grids (with its own grids' acknowledgements in ``mine``), an admin all."""
    params: dict[str, Any] = {"l": limit}
    own: list[str] = []
    if principal.role == "admin":
        where = "TRUE"
    elif principal.role == "dispatcher":
        where, params["s"] = "n.street_code = :s", principal.street_code
    elif principal.role == "worker":
        own = own_grid_codes(session, principal)
        where = "EXISTS (SELECT 1 FROM notice_target t WHERE t.notice_id = n.id AND t.grid_code = ANY(:o))"
        params["o"] = own
    else:
        raise PermissionDenied(f"角色 {principal.role} 无权查看通知 (may not read notices)")
    rows = session.execute(
        text(
            "SELECT n.id, n.title, n.body, n.sent_at, n.deadline_minutes, sum(t.households), "
            "coalesce(sum(t.households_reached), 0), count(*) FILTER (WHERE t.acked_at IS NULL) "
            f"FROM notice n JOIN notice_target t ON t.notice_id = n.id WHERE {where} "
            "GROUP BY n.id ORDER BY n.sent_at DESC, n.id DESC LIMIT :l"
        ),
        params,
    ).all()
    out = []
    for nid, title, body, at, minutes, total, reached, missing in rows:
        item: dict[str, Any] = {
            "id": nid,
            "title": title,
            "body": body,
            "sent_at": _iso(at),
            "deadline_minutes": minutes,
            "households": int(total),
            "reached": int(reached),
            "share": int(reached) / int(total) if total else None,
            "not_acknowledged": int(missing),
        }
        if principal.role == "worker":
            item["mine"] = [
                {"grid": g, "households": h, "acked_at": _iso(a), "households_reached": r}
                for g, h, a, r, *_ in _targets(session, nid)
                if g in own
            ]
        out.append(item)
    return out
