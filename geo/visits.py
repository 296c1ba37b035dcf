"""Home visits (入户走访) by grid workers: the household, the date, a note and the opinion
heard (建议 suggestion, 诉求 request, 问题 problem, 表扬 praise, 无 none). A problem becomes an
incident at the household's building, in the same transaction, and the visit links it.

A grid worker records and reads visits of its own grids' households (an admin anywhere; a
dispatcher reads its street's). Household heads' names come with the visits exactly as
``GET /households`` gives them (a worker of the grid, an admin), each such read audited."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import InputError, NotFoundError, PermissionDenied
from geo.incidents import create_incident, own_grid_codes
from geo.incidents.categories import category_key, vocabulary_key
from geo.incidents.rules import TZ, clock
from geo.locate import Locator
from geo.runtime.auth import Principal
from geo.store.audit import audit
from geo.store.models import OPINIONS
from geo.store.versions.read import micro_grids_under

__all__ = ["list_visits", "parse_category", "parse_opinion", "record_visit"]


def parse_opinion(value: str | None) -> str:
    """An opinion's key from its key or its Chinese (or English) label."""
    return vocabulary_key(value, OPINIONS, "意见类别 opinion")


def parse_category(value: str | None) -> str:
    """A problem's incident category, typed as for incidents (:func:`category_key`)."""
    return category_key(value or "")


def _household(session: Session, code: str) -> Any:
    row = session.execute(
        text(
            "SELECT h.code, h.floor, g.code AS grid, ST_X(ST_PointOnSurface(b.footprint)) AS x, "
            "ST_Y(ST_PointOnSurface(b.footprint)) AS y FROM household h JOIN building b ON "
            "b.id = h.building_id JOIN grid g ON g.id = h.grid_id WHERE h.code = :c"
        ),
        {"c": code},
    ).first()
    if row is None:
        raise NotFoundError(f"住户不存在 (no such household): {code!r}")
    return row


def _visit_date(value: str | date | None, today: date) -> date:
    if value is None or value == "":
        return today
    try:
        d = value if isinstance(value, date) else date.fromisoformat(str(value))
    except ValueError:
        raise InputError(f"日期无效 (invalid date, YYYY-MM-DD): {value!r}") from None
    if d > today:
        raise InputError(f"走访日期不能在未来 (visit date in the future): {d} > {today}")
    return d


def record_visit(
    session: Session,
    principal: Principal,
    locator: Locator,
    *,
    household: str,
    visit_date: str | date | None = None,
    note: str = "",
    opinion: str = "none",
    problem_category: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Store a visit (a worker: a household of its own grids; an admin: any). A problem
    opinion files an incident at the household's building (floor included), reported by
    nobody (entered by staff), its description the note."""
    now = now or clock()
    h = _household(session, household)
    if principal.role == "worker":
        if h.grid not in own_grid_codes(session, principal):
            raise PermissionDenied(
                f"住户 {household} 所在网格 {h.grid} 不归你负责 (household {household} is in "
                f"grid {h.grid}, not yours; yours: {principal.grid_code})"
            )
    elif principal.role != "admin":
        raise PermissionDenied(f"角色 {principal.role} 不能登记走访 (may not record visits)")
    day = _visit_date(visit_date, now.astimezone(TZ).date())
    note = (note or "").strip()
    if len(note) > 2000:
        raise InputError(f"备注过长 (note too long): {len(note)} > 2000")
    kind = parse_opinion(opinion)
    category = parse_category(problem_category) if kind == "problem" else None
    incident = None
    if category is not None:
        created = create_incident(
            session,
            locator,
            category=category,
            description=note or f"入户走访发现问题 (problem found on a visit to {household})",
            lon=h.x,
            lat=h.y,
            crs="EPSG:4490",
            floor=h.floor,
            actor=f"{principal.role}:{principal.name}",
            rooms=True,
            now=now,
        )
        incident = created.incident["code"]
    vid = session.execute(
        text(
            "INSERT INTO visit (household_code, grid_code, visit_date, note, opinion, "
            "problem_category, incident_id, visited_by) VALUES (:h, :g, :d, :n, :o, :c, "
            "(SELECT id FROM incident WHERE code = :i), :by) RETURNING id"
        ),
        {
            "h": household,
            "g": h.grid,
            "d": day,
            "n": note,
            "o": kind,
            "c": category,
            "i": incident,
            "by": f"{principal.role}:{principal.name}",
        },
    ).scalar_one()
    audit(
        session,
        f"{principal.role}:{principal.name}",
        "visit",
        "visit",
        vid,
        {"household": household, "opinion": kind, "incident": incident},
    )
    return _one(session, vid)


SELECT = """
SELECT v.id, v.household_code, v.grid_code, v.visit_date, v.note, v.opinion,
       v.problem_category, i.code AS incident, v.visited_by, v.created_at
FROM visit v LEFT JOIN incident i ON i.id = v.incident_id"""
KEYS = (
    "id", "household", "grid", "date", "note", "opinion", "problem_category", "incident",
    "visited_by", "created_at",
)  # fmt: skip


def _row(r: Any) -> dict[str, Any]:
    d = dict(zip(KEYS, r, strict=True))
    d["date"] = d["date"].isoformat()
    d["created_at"] = d["created_at"].astimezone(TZ).isoformat()
    d["opinion_label"] = OPINIONS[d["opinion"]][0]
    return d


def _one(session: Session, vid: int) -> dict[str, Any]:
    return _row(session.execute(text(SELECT + " WHERE v.id = :i"), {"i": vid}).one())


def _scope(session: Session, principal: Principal) -> tuple[str, dict[str, Any], bool]:
    """The visits a caller may read (a condition), and whether it sees household heads."""
    if principal.role == "admin":
        return "TRUE", {}, True
    if principal.role == "worker":
        return "v.grid_code = ANY(:own)", {"own": own_grid_codes(session, principal)}, True
    if principal.role == "dispatcher":
        return (
            "v.grid_code IN (SELECT g.code FROM grid g JOIN grid_version gv ON gv.id = "
            "g.version_id AND gv.status = 'published' JOIN community c ON c.id = "
            "gv.community_id JOIN street s ON s.id = c.street_id WHERE s.code = :street)",
            {"street": principal.street_code},
            False,
        )
    raise PermissionDenied(f"角色 {principal.role} 无权查看走访 (may not read visits)")


def list_visits(
    session: Session,
    principal: Principal,
    *,
    grid: str | None = None,
    household: str | None = None,
    since: str | None = None,
    limit: int = 200,
) -> dict[str, Any]:
    """Visits in the caller's scope, newest first; with the household head's name for a
    worker (its grids) and an admin, audited like ``GET /households``."""
    where, params, personal = _scope(session, principal)
    conds = [where]
    if grid:
        conds.append("v.grid_code = ANY(:under)")
        params["under"] = micro_grids_under(session, grid) or []
        if (
            principal.role == "worker"
            and grid != principal.grid_code
            and grid not in own_grid_codes(session, principal)
        ):
            raise PermissionDenied(
                f"网格 {grid} 不归你负责 (grid {grid} is not yours; yours: {principal.grid_code})"
            )
    if household:
        conds.append("v.household_code = :household")
        params["household"] = household
    if since:
        try:
            params["since"] = date.fromisoformat(since)
        except ValueError:
            raise InputError(f"since 日期无效 (invalid date, YYYY-MM-DD): {since!r}") from None
        conds.append("v.visit_date >= :since")
    params["limit"] = limit
    rows = session.execute(
        text(
            SELECT + " WHERE " + " AND ".join(conds) + " ORDER BY v.visit_date DESC, v.id DESC "
            "LIMIT :limit"
        ),
        params,
    ).all()
    visits = [_row(r) for r in rows]
    if not personal:  # a worker's free text about a household: not for the street's dispatcher
        for v in visits:
            v["note"] = None
    if personal and visits:
        names: dict[str, str | None] = dict(
            session.execute(
                text(
                    "SELECT h.code, hp.head_name FROM household h JOIN household_person hp ON "
                    "hp.household_id = h.id WHERE h.code = ANY(:c)"
                ),
                {"c": sorted({v["household"] for v in visits})},
            ).all()
        )
        for v in visits:
            v["head_name"] = names.get(v["household"])
        audit(
            session,
            f"{principal.role}:{principal.name}",
            "read_personal",
            "household_person",
            grid or household or "visits",
            {"visits": len(visits), "households": len(names)},
        )
    return {"personal": personal, "numberReturned": len(visits), "visits": visits}
