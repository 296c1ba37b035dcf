"""What a report covers: the period (Asia/Shanghai days), the area (a street, a community or a
grid, as the current micro-grids in it), the level its rows are at, and whether the caller may
ask for it (a dispatcher: its street; a grid worker: its grids; planners and admins: any)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import InputError, NotFoundError, PermissionDenied
from geo.incidents.access import own_grid_codes
from geo.incidents.rules import TZ, clock
from geo.runtime.auth import Principal
from geo.store.versions import micro_grids_under

__all__ = ["LEVELS", "READERS", "Period", "Scope", "parse_period", "resolve_scope"]

# level → (Chinese, English) of its rows
LEVELS = {
    "street": ("街道", "street"),
    "community": ("社区", "community"),
    "grid": ("微网格", "micro-grid"),
}
AREA = {"street": "街道", "community": "社区", "grid": "网格"}  # what a scope code names
READERS = ("planner", "dispatcher", "worker")  # and admin
DEFAULT_DAYS = 30
MAX_DAYS = 3660


@dataclass(frozen=True)
class Period:
    """Whole days ``first``..``last`` (Beijing time); ``start``/``end`` bound them half-open."""

    first: date
    last: date

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first, time(), TZ)

    @property
    def end(self) -> datetime:
        return datetime.combine(self.last + timedelta(days=1), time(), TZ)

    def label(self) -> str:
        return f"{self.first.isoformat()} – {self.last.isoformat()}"


def _day(value: str, what: str) -> date:
    try:
        day = date.fromisoformat(value.strip())
    except ValueError:
        raise InputError(
            f"{what} 不是日期 (not a date, use YYYY-MM-DD): {value!r}", detail={"field": what}
        ) from None
    if not 1900 <= day.year <= 2200:  # the date arithmetic stays in the calendar
        raise InputError(
            f"{what} 超出范围 (date out of range, years 1900–2200): {value!r}",
            detail={"field": what},
        )
    return day


def parse_period(start: str | None, end: str | None) -> Period:
    """``from``/``to`` ISO dates; default the last 30 days up to today (the service's clock).
    A value that is not a date, or ``from`` after ``to``, is an InputError naming it."""
    last = _day(end, "to") if end else clock().date()
    first = _day(start, "from") if start else last - timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        raise InputError(f"from 晚于 to (from {first} is after to {last})")
    if (last - first).days > MAX_DAYS:
        raise InputError(f"时间段过长 (period over {MAX_DAYS} days): {first} – {last}")
    return Period(first, last)


@dataclass(frozen=True)
class Scope:
    """The area of a report: ``kind`` street / community / grid / all, its code, and the ids
    and codes of the current (published) micro-grids in it."""

    kind: str
    code: str | None
    level: str
    grid_ids: tuple[int, ...]
    grid_codes: tuple[str, ...]

    def label(self) -> str:
        where = "全部 (all)" if self.code is None else f"{AREA[self.kind]} {self.code}"
        return f"{where}, 按{LEVELS[self.level][0]} (by {LEVELS[self.level][1]})"


MICRO = (
    "SELECT g.id, g.code FROM grid g JOIN grid_version v ON v.id = g.version_id "
    "AND v.status = 'published' JOIN community c ON c.id = v.community_id "
    "JOIN street s ON s.id = c.street_id WHERE g.level = 'micro'"
)
EXISTS = {
    "street": "SELECT 1 FROM street WHERE code = :code",
    "community": "SELECT 1 FROM community WHERE code = :code",
    "grid": "SELECT 1 FROM grid g JOIN grid_version v ON v.id = g.version_id "
    "AND v.status = 'published' WHERE g.code = :code",
}


def _exists(session: Session, kind: str, code: str) -> bool:
    return session.execute(text(EXISTS[kind]), {"code": code}).first() is not None


def _kind_of(session: Session, code: str) -> str:
    """Which kind of area a bare code names: a street, a community or a current grid."""
    for kind in EXISTS:
        if _exists(session, kind, code):
            return kind
    raise NotFoundError(f"没有该街道、社区或网格 (no such street, community or grid): {code!r}")


def _micro(session: Session, kind: str, code: str | None) -> list[Any]:
    if code is None:
        return list(session.execute(text(MICRO + " ORDER BY g.code")).all())
    if kind == "grid":
        codes = micro_grids_under(session, code) or []
        return list(
            session.execute(
                text(MICRO + " AND g.code = ANY(:codes) ORDER BY g.code"), {"codes": codes}
            ).all()
        )
    column = "s.code" if kind == "street" else "c.code"
    return list(
        session.execute(text(f"{MICRO} AND {column} = :code ORDER BY g.code"), {"code": code}).all()
    )


STREET_OF = {
    "street": "SELECT code FROM street WHERE code = :code",
    "community": "SELECT s.code FROM community c JOIN street s ON s.id = c.street_id "
    "WHERE c.code = :code",
    "grid": "SELECT DISTINCT s.code FROM grid g JOIN grid_version v ON v.id = g.version_id "
    "AND v.status = 'published' JOIN community c ON c.id = v.community_id "
    "JOIN street s ON s.id = c.street_id WHERE g.code = :code",
}


def _check(session: Session, principal: Principal | None, scope: Scope) -> None:
    """PermissionDenied unless the caller may read the scope (None: the command line): a
    dispatcher an area of its street, a grid worker an area wholly within its grids."""
    if principal is None or principal.role in ("admin", "planner"):
        return
    where = scope.code or "全部 (all)"
    if principal.role == "worker":
        own = set(own_grid_codes(session, principal))
        outside = sorted(set(scope.grid_codes) - own)
        if outside or not scope.grid_codes:
            raise PermissionDenied(
                f"{where} 不在你的网格 (not within your grids {principal.grid_code})"
                + (f": {', '.join(outside[:3])}" if outside else "")
            )
        return
    if principal.role == "dispatcher":
        streets = (
            set(session.execute(text(STREET_OF[scope.kind]), {"code": scope.code}).scalars())
            if scope.code
            else set()
        )
        if not principal.street_code or streets != {principal.street_code}:
            raise PermissionDenied(
                f"{where} 不在你的街道 (not within your street {principal.street_code}; "
                f"it is in {', '.join(sorted(streets)) or 'all streets'})"
            )
        return
    raise PermissionDenied(f"角色 {principal.role} 无权查看报表 (role may not read reports)")


def resolve_scope(
    session: Session,
    principal: Principal | None,
    *,
    level: str,
    street: str | None = None,
    community: str | None = None,
    grid: str | None = None,
    code: str | None = None,
) -> Scope:
    """The scope asked for (at most one of street / community / grid / a bare ``code``); none:
    a dispatcher's street, a grid worker's grid, everything for planners, admins and the
    command line. Unknown codes are a NotFoundError naming them; a scope outside the
    caller's a PermissionDenied."""
    if level not in LEVELS:
        raise InputError(f"未知层级 (unknown level) {level!r}; 可用 (use): {', '.join(LEVELS)}")
    given = [(k, v) for k, v in (("street", street), ("community", community), ("grid", grid)) if v]
    if code:
        given.append((_kind_of(session, code), code))
    if len(given) > 1:
        raise InputError(f"只能给一个范围 (give one scope, not {', '.join(v for _, v in given)})")
    if not given and principal is not None and principal.role in ("dispatcher", "worker"):
        own = principal.street_code if principal.role == "dispatcher" else principal.grid_code
        if not own:
            raise PermissionDenied(
                f"你的账号没有所属{'街道' if principal.role == 'dispatcher' else '网格'} "
                f"(your account {principal.name!r} has no "
                f"{'street' if principal.role == 'dispatcher' else 'grid'})"
            )
        given = [("street" if principal.role == "dispatcher" else "grid", own)]
    kind, value = given[0] if given else ("all", None)
    if value is not None and not _exists(session, kind, value):
        raise NotFoundError(f"没有该{AREA[kind]} (no such {kind}): {value!r}")
    rows = _micro(session, kind, value)
    scope = Scope(kind, value, level, tuple(r[0] for r in rows), tuple(r[1] for r in rows))
    _check(session, principal, scope)
    return scope
