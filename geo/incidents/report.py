"""Reporting an incident: the report checked and placed (position in any CRS, or an
address), its grid chain, deadlines, a possible duplicate, its co-owners (the other floor
groups of a tower, the neighbour grid near an edge), the reporter and the first event."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.core.crs import degrees_covering
from geo.errors import InputError, NotFoundError
from geo.incidents.access import new_reporter_token, token_digest
from geo.incidents.categories import category_key
from geo.incidents.history import record_event
from geo.incidents.reading import get_incident
from geo.incidents.rules import OPEN, clock, deadlines
from geo.locate import Locator, locate_address, locate_point, parse_point
from geo.locate.lookup import LocateResult
from geo.settings import get_settings

__all__ = ["Created", "create_incident", "reissue_reporter_token"]


@dataclass
class Created:
    """A stored report: as its reporter sees it, the reporter token (given back this once)
    and the workers responsible."""

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
    reporter_email: str | None = None,
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
    not looked up (see :func:`geo.locate.locate_address`). ``reporter_email`` (from Open311)
    is kept with the name and phone."""
    category = category_key(category)  # the key, the Chinese label or the English one
    description = _checked(description, reporter_name, reporter_phone, floor)
    if reporter_email is not None and len(reporter_email) > 254:
        raise InputError(f"email 过长 (too long): {len(reporter_email)} > 254")
    located = _place(session, locator, lon, lat, crs, address, floor, rooms)
    now = now or clock()
    dup = _possible_duplicate(session, category, located, now)
    co_owners = _co_owners(session, located)
    code = f"E{now.strftime('%Y%m%d%H%M%S')}-{secrets.token_hex(3)}"
    token = new_reporter_token()
    iid = _store(
        session,
        located,
        code=code,
        category=category,
        description=description,
        address=address,
        floor=floor,
        duplicate_of=dup[0] if dup else None,
        now=now,
    )
    _store_co_owners(session, iid, co_owners)
    session.execute(
        text(
            "INSERT INTO incident_reporter (incident_id, name, phone, email, token_hash) "
            "VALUES (:i, :n, :p, :e, :t)"
        ),
        {
            "i": iid,
            "n": reporter_name,
            "p": reporter_phone,
            "e": reporter_email,
            "t": token_digest(token),
        },
    )
    note = "上报 (reported)"
    if dup:
        note += f"; 疑似重复 (possible duplicate of) {dup[1]}"
    record_event(session, iid, actor, None, "reported", note, now)
    return Created(get_incident(session, code, audience="reporter"), token, located.workers)


def reissue_reporter_token(session: Session, code: str) -> str:
    """A new reporter token for an incident (the old one stops working): the answer to a
    retried report, whose first token is stored nowhere (see :mod:`geo.runtime.idempotency`)."""
    token = new_reporter_token()
    done = session.execute(
        text(
            "UPDATE incident_reporter SET token_hash = :t WHERE incident_id = "
            "(SELECT id FROM incident WHERE code = :c) RETURNING incident_id"
        ),
        {"t": token_digest(token), "c": code},
    ).first()
    if done is None:
        raise NotFoundError(f"事件不存在 (no such incident): {code!r}")
    return token


def _checked(
    description: str,
    reporter_name: str | None,
    reporter_phone: str | None,
    floor: int | None,
) -> str:
    """The report's description, stripped, once description, reporter and floor are valid
    (InputError naming the value otherwise)."""
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
    return description


def _place(
    session: Session,
    locator: Locator,
    lon: Any,
    lat: Any,
    crs: str | None,
    address: str | None,
    floor: int | None,
    rooms: bool,
) -> LocateResult:
    """Where the report is: at its address, or else at its position."""
    if address:
        return locate_address(session, locator, address, floor=floor, rooms=rooms)
    if lon is not None and lat is not None:
        x, y = parse_point(lon, lat, crs)
        return locate_point(locator, x, y, floor=floor)
    raise InputError("需要位置 lon/lat 或地址 address (give lon/lat or address)")


def _possible_duplicate(
    session: Session, category: str, located: LocateResult, now: datetime
) -> tuple[int, str] | None:
    """The latest open incident of the same category reported within the duplicate window
    and distance (its id and code), if any."""
    s = get_settings()
    row = session.execute(
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
    return (int(row[0]), str(row[1])) if row else None


def _co_owners(session: Session, located: LocateResult) -> list[tuple[int, str]]:
    """The grids sharing the incident, with why: the other floor groups of its tower
    (``floors``) and the nearest other grid near an edge (``edge``)."""
    co_owners = [(c["id"], "floors") for c in located.co_owners]
    # the floor groups of the tower the point is in share its cell: none is a neighbour
    # across an edge
    floor_groups = [g["id"] for g in (located.floors or {}).get("groups", [])]
    held = {located.chain["micro_grid"]["id"], *floor_groups}
    edge = _neighbour_grid(session, located.lon, located.lat, sorted(held))
    if edge is not None:
        co_owners.append((edge, "edge"))
    return co_owners


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


def _store(
    session: Session,
    located: LocateResult,
    *,
    code: str,
    category: str,
    description: str,
    address: str | None,
    floor: int | None,
    duplicate_of: int | None,
    now: datetime,
) -> int:
    """Insert the incident in its micro-grid, community and street, with its deadlines;
    its id."""
    s = get_settings()
    micro = located.chain["micro_grid"]
    due = deadlines(category, now)
    community_id = session.execute(
        text(
            "SELECT v.community_id FROM grid g JOIN grid_version v ON v.id = g.version_id "
            "WHERE g.id = :g"
        ),
        {"g": micro["id"]},
    ).scalar_one()
    iid: int = session.execute(
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
            "dup": duplicate_of,
            "floor": floor,
            "now": now,
            "a": due["accept_due"],
            "h": due["handle_due"],
            "r": due["resolve_due"],
        },
    ).scalar_one()
    return iid


def _store_co_owners(session: Session, iid: int, co_owners: list[tuple[int, str]]) -> None:
    """Record the grids sharing incident ``iid`` (each once)."""
    if co_owners:
        session.execute(
            text(
                "INSERT INTO incident_co_owner (incident_id, grid_id, reason) VALUES (:i, :g, :r) "
                "ON CONFLICT (incident_id, grid_id) DO NOTHING"
            ),
            [{"i": iid, "g": g, "r": r} for g, r in co_owners],
        )
