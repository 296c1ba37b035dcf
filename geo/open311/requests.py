"""Open311 service requests mapped onto :mod:`geo.incidents`: filing one is
:func:`geo.incidents.create_incident` (the same validation, duplicate and co-owner rules as
``POST /incidents``), reading and listing go through the incidents' records and views (the
public view for the public; the staff view, audited, for an app acting as staff in scope).

Open311 status: ``open`` is every state before the work is done (reported, accepted,
street_handling, department_handling, reopened); ``closed`` is resolved, closed, rejected and
duplicate. Times are ISO 8601 in Beijing time (``+08:00``)."""

from __future__ import annotations

import json
import re
import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import InputError, NotFoundError, PermissionDenied
from geo.incidents.access import require_scope
from geo.incidents.categories import category_key
from geo.incidents.reading import incident_scope
from geo.incidents.records import SELECT, load, staff_row
from geo.incidents.report import create_incident
from geo.incidents.rules import OPEN, STAFF_ROLES, TZ, clock
from geo.incidents.views import public_view
from geo.locate import Locator
from geo.open311.apps import AppCaller
from geo.open311.services import checked_attributes
from geo.settings import get_settings
from geo.store.audit import audit
from geo.store.models import INCIDENT_STATUSES

__all__ = [
    "MAX_DAYS",
    "MAX_REQUESTS",
    "check_jurisdiction",
    "file_request",
    "list_requests",
    "post_jurisdiction",
    "read_request",
    "request_of_token",
]

MAX_DAYS = 90  # the longest start_date..end_date span
MAX_REQUESTS = 1000  # the most requests one answer holds
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
FIELDS = {
    "api_key",
    "jurisdiction_id",
    "service_code",
    "lat",
    "long",
    "address_string",
    "address_id",
    "description",
    "media_url",
    "email",
    "phone",
    "first_name",
    "last_name",
    "device_id",
    "account_id",
}


def check_jurisdiction(value: str | None) -> None:
    """InputError unless ``value`` is absent or the configured jurisdiction."""
    own = get_settings().open311_jurisdiction
    if value not in (None, "", own):
        raise InputError(
            f"未知辖区 (unknown jurisdiction_id) {value!r}; 本服务 (this service): {own}"
        )


def post_jurisdiction(body: str | None, query: str | None) -> str | None:
    """The jurisdiction_id of a ``POST requests``: from its body or its query string (clients
    put it in either), InputError naming both when they differ; then checked as
    :func:`check_jurisdiction` does."""
    body, query = (body or "").strip() or None, (query or "").strip() or None
    if body is not None and query is not None and body != query:
        raise InputError(
            f"jurisdiction_id 不一致 (jurisdiction_id differs between the body and the query "
            f"string): {body[:80]!r} ≠ {query[:80]!r}"
        )
    value = body if body is not None else query
    check_jurisdiction(value)
    return value


def _staff(caller: AppCaller | None) -> bool:
    return bool(caller and caller.principal and caller.principal.has_role(*STAFF_ROLES))


def file_request(
    session: Session,
    locator: Locator,
    fields: dict[str, str],
    attributes: dict[str, str],
    caller: AppCaller | None,
) -> dict[str, Any]:
    """``POST requests``: store the report as an incident (one transaction: an InputError
    anywhere stores nothing); the Open311 answer with the incident's code, a lookup token
    and the reporter token."""
    unknown = sorted(set(fields) - FIELDS)
    if unknown:
        raise InputError(f"未知字段 (unknown field) {unknown[0]!r}")
    check_jurisdiction(fields.get("jurisdiction_id"))
    code = (fields.get("service_code") or "").strip()
    if not code:
        raise InputError("需要 service_code (service_code is required)")
    service = category_key(code)
    floor, values = checked_attributes(service, attributes)
    media_url = _media_url(fields.get("media_url"))
    email = _email(fields.get("email"))
    lon, lat = fields.get("long"), fields.get("lat")
    staff = _staff(caller)
    created = create_incident(
        session,
        locator,
        category=service,
        description=fields.get("description", ""),
        lon=lon or None,
        lat=lat or None,
        crs="wgs84",
        address=(fields.get("address_string") or "").strip() or None,
        reporter_name=_name(fields.get("first_name"), fields.get("last_name")),
        reporter_phone=_short("phone", fields.get("phone"), 32),
        reporter_email=email,
        floor=floor,
        actor=caller.actor if caller else "public",
        rooms=staff,
    )
    token = secrets.token_hex(16)
    session.execute(
        text(
            "INSERT INTO open311_request (incident_id, app_id, token, media_url, device_id, "
            "account_id, attributes) SELECT id, :app, :t, :m, :d, :a, CAST(:attrs AS jsonb) "
            "FROM incident WHERE code = :c"
        ),
        {
            "app": caller.id if caller else None,
            "t": token,
            "m": media_url,
            "d": _short("device_id", fields.get("device_id"), 100),
            "a": _short("account_id", fields.get("account_id"), 100),
            "attrs": _json(values),
            "c": created.incident["code"],
        },
    )
    return {
        "service_request_id": created.incident["code"],
        "service_notice": "已受理，请凭编号查询进度 (received; follow it by its id)",
        "account_id": None,
        "token": token,
        "reporter_token": created.reporter_token,
    }


def _json(values: dict[str, str]) -> str:
    return json.dumps(values, ensure_ascii=False)


def _short(label: str, value: str | None, most: int) -> str | None:
    value = (value or "").strip() or None
    if value is not None and len(value) > most:
        raise InputError(f"{label} 过长 (too long): {len(value)} > {most}")
    return value


def _name(first: str | None, last: str | None) -> str | None:
    """The reporter's name: 姓 then 名 for a Chinese name, else first then last."""
    first, last = (first or "").strip(), (last or "").strip()
    if not (first or last):
        return None
    chinese = any("\u4e00" <= ch <= "\u9fff" for ch in first + last)
    return (last + first) if chinese else " ".join(p for p in (first, last) if p)


def _email(value: str | None) -> str | None:
    value = (value or "").strip() or None
    if value is not None and (len(value) > 254 or not EMAIL.match(value)):
        raise InputError(f"电子邮箱无效 (invalid email): {value[:80]!r}")
    return value


def _media_url(value: str | None) -> str | None:
    """A link to the reporter's photo, kept as text (never fetched): http(s), at most 2,000
    characters, else InputError naming it."""
    value = (value or "").strip() or None
    if value is None:
        return None
    if len(value) > 2000:
        raise InputError(f"media_url 过长 (too long): {len(value)} > 2000")
    if not re.match(r"^https?://[^\s/]+", value, re.IGNORECASE) or any(c.isspace() for c in value):
        raise InputError(f"media_url 应为 http(s) 地址 (must be an http(s) URL): {value[:80]!r}")
    return value


def _iso(value: str | None) -> str | None:
    """A stored time (ISO text) in Beijing time: ``2026-12-01T18:30:00+08:00``."""
    if not value:
        return None
    return datetime.fromisoformat(value).astimezone(TZ).isoformat(timespec="seconds")


def _status_notes(inc: dict[str, Any]) -> str:
    notes = inc["status_name"]
    if inc.get("outcome_name"):
        notes += f" · {inc['outcome_name']}"
    if inc.get("referred_to"):
        notes += f" → {inc['referred_to']}"
    return str(notes)


def _view(inc: dict[str, Any], extra: dict[str, Any] | None) -> dict[str, Any]:
    """One incident as an Open311 request: ``extra`` (media_url, attributes) given for staff
    only, who get the description, address and exact point too; the public the public view's
    fields alone (the 50 m position)."""
    pub = public_view(inc, [])
    lon, lat = (inc["lon"], inc["lat"]) if extra is not None else (pub["lon"], pub["lat"])
    out: dict[str, Any] = {
        "service_request_id": pub["code"],
        "status": "open" if pub["status"] in OPEN else "closed",
        "status_notes": _status_notes(pub),
        "service_name": pub["category_name"],
        "service_code": pub["category"],
        "agency_responsible": inc["street_name"],
        "service_notice": None,
        "requested_datetime": _iso(pub["reported_at"]),
        "updated_datetime": _iso(inc["updated_at"]),
        "expected_datetime": _iso(inc["due"]),
        "zipcode": None,
        "lat": lat,
        "long": lon,
    }
    if extra is not None:
        out |= {
            "description": inc["description"],
            "address": inc["address"],
            "media_url": extra.get("media_url"),
            "attributes": extra.get("attributes") or {},
        }
    else:
        out["position_precision_m"] = pub["position_precision_m"]
    return out


def _extras(session: Session, ids: list[int]) -> dict[int, dict[str, Any]]:
    rows = session.execute(
        text(
            "SELECT incident_id, media_url, attributes FROM open311_request "
            "WHERE incident_id = ANY(:ids)"
        ),
        {"ids": ids},
    ).all()
    return {int(r[0]): {"media_url": r[1], "attributes": r[2]} for r in rows}


def _audit_read(session: Session, caller: AppCaller, incs: list[dict[str, Any]]) -> None:
    """The staff read of incidents through Open311 (description, exact point), audited."""
    if incs:
        audit(
            session,
            f"app:{caller.name}/{caller.actor}",
            "open311_read",
            "incident",
            incs[0]["id"] if len(incs) == 1 else None,
            {"app": caller.name, "codes": [i["code"] for i in incs]},
        )


def read_request(session: Session, ref: str, caller: AppCaller | None) -> list[dict[str, Any]]:
    """``GET requests/{id}``: an array of one. An app acting as staff gets the staff view of
    an incident in its scope (audited), the public view of another; anyone else the public
    view. A numeric id is no request to the public (ids are not walkable)."""
    now = clock()
    staff = _staff(caller)
    inc = load(session, ref, numeric=staff, now=now)
    if staff and caller is not None and caller.principal is not None:
        try:
            require_scope(session, caller.principal, inc)
        except PermissionDenied:
            if ref.strip().isdigit():  # numeric ids are for staff in scope only
                raise NotFoundError(f"没有该诉求 (no such request): {ref!r}") from None
            return [_view(inc, None)]
        _audit_read(session, caller, [inc])
        return [_view(inc, _extras(session, [inc["id"]]).get(inc["id"], {}))]
    return [_view(inc, None)]


def request_of_token(session: Session, token: str) -> list[dict[str, Any]]:
    """``GET tokens/{token}``: the request a lookup token names."""
    row = session.execute(
        text(
            "SELECT i.code FROM open311_request r JOIN incident i ON i.id = r.incident_id "
            "WHERE r.token = :t"
        ),
        {"t": token},
    ).first()
    if row is None:
        raise NotFoundError(f"未知令牌 (unknown token) {token[:80]!r}")
    return [{"service_request_id": row[0], "token": token}]


# a time whose UTC offset lost its "+": sent unencoded in a query string, it reads as a space
# (``2026-12-01T10:00:00 08:00``), as FixMyStreet sends it
_PLUS_AS_SPACE = re.compile(
    r"^(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?) (\d{2}(?::?\d{2})?)$"
)


def _when(label: str, value: str | None) -> datetime | None:
    """A start_date or end_date as an aware time (Beijing time when it names no offset); a
    space where the offset's ``+`` was meant is read as that ``+``."""
    if not value:
        return None
    try:
        at = datetime.fromisoformat(_PLUS_AS_SPACE.sub(r"\1+\2", value.strip()))
    except ValueError:
        raise InputError(
            f"{label} 不是 ISO 8601 时间 (not an ISO 8601 time): {value[:40]!r}"
        ) from None
    return at if at.tzinfo is not None else at.replace(tzinfo=TZ)


def _span(start: str | None, end: str | None) -> tuple[datetime, datetime]:
    """The requested_datetime span: at most :data:`MAX_DAYS`, the last 90 days by default."""
    s, e = _when("start_date", start), _when("end_date", end)
    days = timedelta(days=MAX_DAYS)
    try:
        if s is None:
            e = e or clock()
            s = e - days
        elif e is None:
            e = s + days
    except OverflowError:  # 90 days before year 1 or after 9999
        raise InputError(
            f"日期超出范围 (start_date/end_date out of range): {start!r} .. {end!r}"
        ) from None
    if e < s:
        raise InputError(f"end_date {end!r} 早于 start_date {start!r} (end before start)")
    if e - s > days:
        raise InputError(
            f"时间跨度超过 {MAX_DAYS} 天 (start_date..end_date spans more than {MAX_DAYS} "
            f"days): {start} .. {end}"
        )
    return s, e


def _statuses(value: str | None) -> list[str] | None:
    """The incident states of Open311's ``status`` (open, closed, or both comma-separated)."""
    if not value:
        return None
    out: list[str] = []
    for part in (p.strip() for p in value.split(",") if p.strip()):
        if part == "open":
            out += OPEN
        elif part == "closed":
            out += [s for s in INCIDENT_STATUSES if s not in OPEN]
        else:
            raise InputError(f"未知状态 (unknown status) {part!r}; 可选 (one of): open, closed")
    return out


def list_requests(
    session: Session, caller: AppCaller | None, params: dict[str, str | None]
) -> list[dict[str, Any]]:
    """``GET requests``: by ``service_request_id`` (a comma list: overrides the others), or
    by ``service_code`` (comma list), ``start_date``/``end_date`` (at most 90 days; the last
    90 by default) and ``status``; newest first, at most :data:`MAX_REQUESTS`. An app acting
    as staff lists its scope (staff view, audited); anyone else every incident (public
    view)."""
    staff = _staff(caller)
    conds, args = (
        incident_scope(session, caller.principal)
        if staff and caller and caller.principal
        else ([], {})
    )
    conds = list(conds) or ["TRUE"]
    ids = [c.strip() for c in (params.get("service_request_id") or "").split(",") if c.strip()]
    if ids:
        if len(ids) > MAX_REQUESTS:
            raise InputError(f"service_request_id 过多 (too many): {len(ids)} > {MAX_REQUESTS}")
        conds.append("i.code = ANY(:codes)")
        args["codes"] = ids
    else:
        start, end = _span(params.get("start_date"), params.get("end_date"))
        conds.append("i.reported_at >= :start AND i.reported_at <= :end")
        args |= {"start": start, "end": end}
        codes = [c.strip() for c in (params.get("service_code") or "").split(",") if c.strip()]
        if codes:
            conds.append("i.category = ANY(:cats)")
            args["cats"] = [category_key(c) for c in codes]
        statuses = _statuses(params.get("status"))
        if statuses is not None:
            conds.append("i.status = ANY(:statuses)")
            args["statuses"] = statuses
    now = clock()
    rows = session.execute(
        text(
            SELECT + f" WHERE {' AND '.join(conds)} ORDER BY i.reported_at DESC, i.id LIMIT "
            f"{MAX_REQUESTS}"
        ),
        args,
    ).all()
    incs = [staff_row(r, now) for r in rows]
    if not staff or caller is None:
        return [_view(i, None) for i in incs]
    _audit_read(session, caller, incs)
    extras = _extras(session, [i["id"] for i in incs])
    return [_view(i, extras.get(i["id"], {})) for i in incs]
