"""What staff in scope see besides the record, to act on an incident from the console: the
transitions they may make now, its co-owning grids, its grid chain, the workers responsible
and the numbers of its photos. Never given to the public or the reporter."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.incidents.photos import photo_numbers
from geo.incidents.rules import TRANSITIONS, WHO
from geo.locate.lookup import worker_view
from geo.runtime.auth import Principal
from geo.store.models import INCIDENT_STATUSES, WORKER_ROLES

__all__ = ["allowed_for", "co_owners", "grid_chain", "responsible_workers", "staff_extras"]

SERVES = ("micro_grid", "building", "compound_grid", "community_grid")


def allowed_for(principal: Principal | None, status: str) -> list[dict[str, str]]:
    """The transitions ``principal`` (in scope) may make from ``status`` — exactly those
    :func:`geo.incidents.transition` accepts from it — each with its Chinese name. Without a
    principal: every transition of the state machine."""
    return [
        {"to": t, "name": INCIDENT_STATUSES[t][0]}
        for t in TRANSITIONS[status]
        if principal is None or principal.role == "admin" or principal.role in WHO.get(t, ())
    ]


def co_owners(session: Session, iid: int) -> list[dict[str, str]]:
    """The grids sharing an incident, with why (``edge``, ``floors``)."""
    rows = session.execute(
        text(
            "SELECT g.code, x.reason FROM incident_co_owner x JOIN grid g ON g.id = x.grid_id "
            "WHERE x.incident_id = :i ORDER BY x.reason DESC, g.code"
        ),
        {"i": iid},
    ).all()
    return [{"grid": r[0], "reason": r[1]} for r in rows]


def _chain_row(session: Session, iid: int) -> Any:
    return session.execute(
        text("""
        SELECT g.code, g.name, cg.code, cg.name, kg.code, c.code, c.name, s.code, s.name,
            (SELECT b.code FROM building b WHERE ST_Intersects(b.footprint, i.position)
             ORDER BY b.code LIMIT 1)
        FROM incident i
        LEFT JOIN grid g ON g.id = i.grid_id
        LEFT JOIN grid cg ON cg.id = g.parent_id
        LEFT JOIN grid kg ON kg.id = cg.parent_id
        LEFT JOIN community c ON c.id = i.community_id
        LEFT JOIN street s ON s.id = i.street_id
        WHERE i.id = :i"""),
        {"i": iid},
    ).one()


def grid_chain(session: Session, iid: int) -> list[dict[str, Any]]:
    """micro-grid → compound grid → community → street of an incident, codes and names."""
    r = _chain_row(session, iid)
    levels = [
        ("micro_grid", "微网格", r[0], r[1]),
        ("compound_grid", "小区网格", r[2], r[3]),
        ("community", "社区", r[5], r[6]),
        ("street", "街道", r[7], r[8]),
    ]
    return [
        {"level": lv, "level_name": ln, "code": code, "name": name}
        for lv, ln, code, name in levels
        if code is not None
    ]


def responsible_workers(session: Session, iid: int, *, show_phones: bool) -> list[dict[str, Any]]:
    """The workers responsible for an incident, nearest first: its micro-grid's, the head
    of the building it is in, its compound grid's and its community grid's — phones as
    :func:`geo.locate.lookup.worker_view` shows them."""
    r = _chain_row(session, iid)
    keys = {"micro_grid": r[0], "building": r[9], "compound_grid": r[2], "community_grid": r[4]}
    rows = session.execute(
        text(
            "SELECT code, name, role, phone, public_phone, grid_code, building_code FROM worker "
            "WHERE grid_code = ANY(:g) OR building_code = :b ORDER BY code"
        ),
        {"g": [k for k in (r[0], r[2], r[4]) if k], "b": r[9]},
    ).mappings()
    found = [dict(w) for w in rows]
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for level in SERVES:
        for w in found:
            hit = w["building_code"] if level == "building" else w["grid_code"]
            if keys[level] and hit == keys[level] and w["code"] not in seen:
                seen.add(w["code"])
                w["role_name"] = WORKER_ROLES.get(w["role"], (w["role"],))[0]
                out.append(worker_view(w | {"serves": level}, show_phones=show_phones))
    return out


def staff_extras(session: Session, principal: Principal, inc: dict[str, Any]) -> dict[str, Any]:
    """What ``read_incident`` adds for staff in scope."""
    return {
        "allowed": allowed_for(principal, inc["status"]),
        "co_owners": co_owners(session, inc["id"]),
        "grid_chain": grid_chain(session, inc["id"]),
        "workers": responsible_workers(session, inc["id"], show_phones=True),
        "photos": photo_numbers(session, inc["id"]),
    }
