"""Household and incident assignment in bulk: every household (or incident) of one community,
or of all, to its micro-grid, written back in one statement per table and audit-logged.

This is where assignment lives; the point-in-polygon work under it is done by the numba
kernels of :mod:`geo.core.kernels`, through the in-process locator
(:meth:`geo.locate.index.Locator.resolve`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.core.kernels import INSIDE, NEAREST
from geo.core.stages import stage
from geo.errors import NotFoundError
from geo.locate.index import Locator, Resolved
from geo.store.audit import audit, audit_many
from geo.store.bulk import copy_rows, fetch_rows, staging

__all__ = [
    "AssignReport",
    "Progress",
    "assign_households",
    "assign_households_of",
    "assign_incidents",
    "would_assign",
    "write_floor_co_owners",
]

Progress = Callable[[str, int, int], None]


@dataclass
class AssignReport:
    kind: str
    total: int = 0
    by_membership: int = 0
    by_position: int = 0
    nearest: int = 0
    outside: int = 0
    changed: int = 0
    floor_split: int = 0  # in a unit split by floors: position and membership differ, by design
    disagreements: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _no_progress(_what: str, _done: int, _of: int) -> None:
    return None


# --- households ------------------------------------------------------------------------------
def assign_households(
    session: Session,
    locator: Locator,
    *,
    community: str | None = None,
    ids: Sequence[int] | None = None,
    progress: Progress | None = None,
    actor: str = "cli",
) -> AssignReport:
    """Assign every household (of one community, or all) to its micro-grid: by membership of
    its unit (and floor) when known, by position otherwise; where both are known they must
    agree, and every disagreement is reported. Writes ``household.grid_id``."""
    t0 = time.perf_counter()
    step = progress or _no_progress
    report, rows, final = _resolve_households(session, locator, community, ids, step)
    if not rows:
        return report
    old = np.array([r[7] if r[7] is not None else -1 for r in rows], dtype=np.int64)
    report.changed = int((old != final).sum())
    step("写入 (writing)", 3, 4)
    _write_grid_ids(session, "household", np.array([r[0] for r in rows], dtype=np.int64), final)
    report.seconds = round(time.perf_counter() - t0, 3)
    _audit(session, actor, "assign", "household", report)
    step("完成 (done)", 4, 4)
    return report


# (grid id, unit id, floor_min, floor_max, ...): a membership row of a current version
MemberRow = Sequence[Any]


def assign_households_of(
    session: Session,
    jobs: Sequence[tuple[str, int, Locator, Sequence[MemberRow]]],
    *,
    actor: str = "engine",
) -> dict[str, AssignReport]:
    """:func:`assign_households` of several communities at once — ``jobs``: (code, id, the
    locator of its current grids, the memberships of its current version) — with one
    reading of their households and one write for them all; each community's households
    resolved against its own grids and memberships, as :func:`assign_households` does, and
    audited on its own. Reports by community code."""
    t0 = time.perf_counter()
    reports = {code: AssignReport("households") for code, *_ in jobs}
    if not jobs:
        return reports
    rows = fetch_rows(
        session,
        "SELECT h.id, h.code, b.code, h.unit_id, h.floor, ST_X(h.position), ST_Y(h.position), "
        "h.grid_id, b.community_id FROM household h JOIN building b ON b.id = h.building_id "
        "WHERE b.community_id = ANY(%(batch)s) ORDER BY b.community_id, h.id",
        {"batch": [job[1] for job in jobs]},
    )
    by_community: dict[int, list[Any]] = {}
    for r in rows:
        by_community.setdefault(r[8], []).append(r)
    ids: list[np.ndarray] = []
    finals: list[np.ndarray] = []
    for code, cid, locator, members in jobs:
        mine = by_community.get(cid, [])
        member = _members_of(mine, members)
        report = reports[code]
        report.total = len(mine)
        if not mine:
            continue
        x = np.array([r[5] for r in mine], dtype=float)
        y = np.array([r[6] for r in mine], dtype=float)
        loc = locator.resolve(x, y, [r[4] for r in mine])
        final = _reconcile(locator, mine, loc, member, report)
        old = np.array([r[7] if r[7] is not None else -1 for r in mine], dtype=np.int64)
        report.changed = int((old != final).sum())
        ids.append(np.array([r[0] for r in mine], dtype=np.int64))
        finals.append(final)
    if ids:
        _write_grid_ids(session, "household", np.concatenate(ids), np.concatenate(finals))
    seconds = round(time.perf_counter() - t0, 3)
    for report in reports.values():
        report.seconds = seconds
    audit_many(
        session,
        [(actor, "assign", "household", None, _detail(r)) for r in reports.values() if r.total],
    )
    return reports


def _resolve_households(
    session: Session,
    locator: Locator,
    community: str | None,
    ids: Sequence[int] | None,
    step: Progress,
    version: int | None = None,
) -> tuple[AssignReport, Sequence[Any], np.ndarray]:
    """The households (of one community, or ``ids``) and the micro-grid id each gets (-1:
    none), counted in the report; memberships of the current versions, or of ``version``."""
    report = AssignReport("households")
    if community is not None:
        _require_community(session, community)
    cond, params = _buildings_of(community)
    if ids is not None:
        cond += " AND h.id = ANY(:only)"
        params["only"] = list(ids)
    step("读取住户 (reading households)", 0, 4)
    rows = session.execute(
        text(
            "SELECT h.id, h.code, b.code, h.unit_id, h.floor, ST_X(h.position), ST_Y(h.position), "
            "h.grid_id, c.code FROM household h JOIN building b ON b.id = h.building_id "
            "JOIN community c ON c.id = b.community_id WHERE TRUE" + cond + " ORDER BY h.id"
        ),
        params,
    ).all()
    report.total = len(rows)
    if not rows:
        return report, rows, np.empty(0, dtype=np.int64)
    x = np.array([r[5] for r in rows], dtype=float)
    y = np.array([r[6] for r in rows], dtype=float)
    step("位置定位 (point in polygon)", 1, 4)
    loc = locator.resolve(x, y, [r[4] for r in rows])
    _only_own_community(session, locator, loc, rows, x, y)
    step("单元归属 (unit membership)", 2, 4)
    member = _memberships(session, cond, params, version)
    return report, rows, _reconcile(locator, rows, loc, member, report)


def _only_own_community(
    session: Session,
    locator: Locator,
    loc: Resolved,
    rows: Sequence[Any],
    x: np.ndarray,
    y: np.ndarray,
) -> None:
    """A household's grid is one of its building's community's (the database checks it,
    migration 0020). A locator of every community's grids may find a household near its
    community's edge in, or nearest to, its neighbour's grid: those households (their
    community's code is ``rows[k][8]``) are located again among their own community's grids
    only, the nearest within the tolerance included."""
    ids = sorted(set(loc.grid.tolist()) - {-1})
    if not ids:
        return
    of: dict[int, str] = dict(
        session.execute(
            text(
                "SELECT g.id, c.code FROM grid g JOIN grid_version v ON v.id = g.version_id "
                "JOIN community c ON c.id = v.community_id WHERE g.id = ANY(:g)"
            ),
            {"g": ids},
        ).all()
    )
    wrong: dict[str, list[int]] = {}
    for k, g in enumerate(loc.grid.tolist()):
        if g >= 0 and of.get(g) != rows[k][8]:
            wrong.setdefault(rows[k][8], []).append(k)
    for code, ks in wrong.items():
        again = Locator.load(session, community=code).resolve(
            x[ks], y[ks], [rows[k][4] for k in ks]
        )
        loc.grid[ks] = again.grid
        loc.how[ks] = again.how


def _buildings_of(community: str | None) -> tuple[str, dict[str, Any]]:
    if community is None:
        return "", {}
    return " AND b.community_id = (SELECT id FROM community WHERE code = :cc)", {"cc": community}


def _memberships(
    session: Session, cond: str, params: dict[str, Any], version: int | None = None
) -> dict[int, tuple[int, bool]]:
    """Household id → the current micro-grid (or the one of grid version ``version``) its
    unit (and floor) is a member of, and whether that membership is by floors."""
    which = "v.status = 'published'" if version is None else "v.id = :member_version"
    rows = session.execute(
        text(
            "SELECT h.id, m.grid_id, m.floor_min IS NOT NULL FROM household h "
            "JOIN building b ON b.id = h.building_id "
            "JOIN grid_member m ON m.unit_id = h.unit_id AND (m.floor_min IS NULL OR "
            "h.floor BETWEEN m.floor_min AND m.floor_max) JOIN grid g ON g.id = m.grid_id "
            # the versions of the household's own community only: without it the planner
            # walked every published version's members for each community (a city's worth)
            "JOIN grid_version v ON v.id = g.version_id AND v.community_id = b.community_id "
            f"AND {which} WHERE TRUE" + cond
        ),
        params | {"member_version": version},
    )
    return {r[0]: (r[1], r[2]) for r in rows}


def _members_of(
    rows: Sequence[Sequence[Any]], members: Sequence[MemberRow]
) -> dict[int, tuple[int, bool]]:
    """:func:`_memberships` of the households ``rows`` (id, code, building, unit id, floor,
    ...) from a version's membership rows rather than the database: the micro-grid whose
    unit (and floor range) holds each, and whether by floors."""
    by_unit: dict[int, list[tuple[int, int | None, int | None]]] = {}
    for m in members:
        by_unit.setdefault(m[1], []).append((m[0], m[2], m[3]))
    out: dict[int, tuple[int, bool]] = {}
    for r in rows:
        for gid, lo, hi in by_unit.get(r[3], ()):
            if lo is None:
                out[r[0]] = (gid, False)
            elif r[4] is not None and hi is not None and lo <= r[4] <= hi:
                out[r[0]] = (gid, True)
    return out


def _reconcile(
    locator: Locator,
    rows: Sequence[Sequence[Any]],
    loc: Resolved,
    member: dict[int, tuple[int, bool]],
    report: AssignReport,
) -> np.ndarray:
    """The micro-grid of each household: its membership when known, else its position;
    counted in ``report``, with every disagreement between the two."""
    final = np.empty(len(rows), dtype=np.int64)
    for k, r in enumerate(rows):
        m, by_floors = member.get(r[0], (None, False))
        p = int(loc.grid[k])
        if m is not None:
            final[k] = m
            report.by_membership += 1
            if p >= 0 and p != m and by_floors:
                # a tall unit split by floors: the floors above share the footprint, so the
                # position cannot tell them apart (expected, counted, not a disagreement)
                report.floor_split += 1
            elif p >= 0 and p != m:
                report.disagreements.append(
                    {
                        "household": r[1],
                        "building": r[2],
                        "by_membership": locator.grids[m].code if m in locator.grids else m,
                        "by_position": locator.grids[p].code if p in locator.grids else p,
                    }
                )
        else:
            final[k] = p
            if p >= 0:
                report.by_position += 1
        if m is None and loc.how[k] == NEAREST:
            report.nearest += 1
        if final[k] < 0:
            report.outside += 1
    return final


# --- incidents -------------------------------------------------------------------------------
def assign_incidents(
    session: Session,
    locator: Locator,
    *,
    community: str | None = None,
    ids: Sequence[int] | None = None,
    progress: Progress | None = None,
    actor: str = "cli",
) -> AssignReport:
    """Assign every incident (of one community, or all) to the micro-grid at its position,
    with its community and street. Writes ``incident.grid_id``, ``community_id``,
    ``street_id``."""
    t0 = time.perf_counter()
    report, rows, loc = _resolve_incidents(session, locator, community, ids)
    if not rows:
        return report
    found = np.array([r[0] for r in rows], dtype=np.int64)
    final = loc.grid
    old = np.array([r[3] if r[3] is not None else -1 for r in rows], dtype=np.int64)
    report.changed = int((old != final).sum())
    _write_grid_ids(session, "incident", found, final)
    write_floor_co_owners(session, found.tolist(), loc.co_owners)
    session.execute(
        text(
            "UPDATE incident i SET community_id = v.community_id, street_id = c.street_id "
            "FROM grid g JOIN grid_version v ON v.id = g.version_id JOIN community c "
            "ON c.id = v.community_id WHERE g.id = i.grid_id AND i.id = ANY(:ids)"
        ),
        {"ids": found.tolist()},
    )
    report.seconds = round(time.perf_counter() - t0, 3)
    _audit(session, actor, "assign", "incident", report)
    return report


def _resolve_incidents(
    session: Session, locator: Locator, community: str | None, ids: Sequence[int] | None
) -> tuple[AssignReport, Sequence[Any], Resolved]:
    """The incidents (of one community, or ``ids``) and where each lies (the micro-grid at its
    position), counted in the report."""
    report = AssignReport("incidents")
    params: dict[str, Any] = {}
    cond = ""
    if community is not None:
        _require_community(session, community)
        cond = (
            " AND (community_id IS NULL OR community_id = "
            "(SELECT id FROM community WHERE code = :cc))"
        )
        params = {"cc": community}
    if ids is not None:
        cond += " AND id = ANY(:only)"
        params["only"] = list(ids)
    rows = session.execute(
        text(
            "SELECT id, ST_X(position), ST_Y(position), grid_id, floor FROM incident WHERE TRUE"
            + cond
            + " ORDER BY id"
        ),
        params,
    ).all()
    report.total = len(rows)
    if not rows:
        none = np.empty(0, dtype=np.int64)
        return report, rows, Resolved(none, none.copy(), [])
    x = np.array([r[1] for r in rows], dtype=float)
    y = np.array([r[2] for r in rows], dtype=float)
    loc = locator.resolve(x, y, [r[4] for r in rows])
    report.by_position = int((loc.how == INSIDE).sum())
    report.nearest = int((loc.how == NEAREST).sum())
    report.outside = int((loc.grid < 0).sum())
    return report, rows, loc


def would_assign(
    session: Session,
    locator: Locator,
    table: str,
    *,
    version: int,
    community: str | None = None,
    ids: Sequence[int] | None = None,
) -> tuple[AssignReport, dict[int, str | None]]:
    """What :func:`assign_households` (``table`` "household") or :func:`assign_incidents`
    ("incident") would do with a ``locator`` loaded with grid version ``version``
    (:meth:`Locator.load`) once that version is current — writing nothing: the report, and
    the code of the micro-grid each row would get (None: none)."""
    if table == "household":
        report, rows, grid = _resolve_households(
            session, locator, community, ids, _no_progress, version
        )
    else:
        report, rows, loc = _resolve_incidents(session, locator, community, ids)
        grid = loc.grid
    codes = {
        r[0]: locator.grids[int(g)].code if g >= 0 else None
        for r, g in zip(rows, grid, strict=True)
    }
    return report, codes


def write_floor_co_owners(
    session: Session, incident_ids: Sequence[int], co_owners: Sequence[Sequence[int]]
) -> None:
    """Replace the incidents' ``floors`` co-owners (the other floor groups of the floor-split
    unit they lie in) with ``co_owners`` (one list per incident)."""
    if not incident_ids:
        return
    session.execute(
        text("DELETE FROM incident_co_owner WHERE reason = 'floors' AND incident_id = ANY(:i)"),
        {"i": list(incident_ids)},
    )
    rows = [{"i": i, "g": g} for i, gs in zip(incident_ids, co_owners, strict=True) for g in gs]
    if rows:
        session.execute(
            text(
                "INSERT INTO incident_co_owner (incident_id, grid_id, reason) VALUES "
                "(:i, :g, 'floors') ON CONFLICT (incident_id, grid_id) DO UPDATE SET "
                "reason = 'floors'"
            ),
            rows,
        )


# --- shared ----------------------------------------------------------------------------------
def _require_community(session: Session, code: str) -> None:
    if not session.execute(text("SELECT 1 FROM community WHERE code = :c"), {"c": code}).first():
        raise NotFoundError(f"社区不存在 (no such community): {code!r}")


# above this many rows the new grid ids go through a TEMP staging table filled with COPY
# rather than as two array parameters
_STAGED = 5_000


def _write_grid_ids(session: Session, table: str, ids: np.ndarray, grid_ids: np.ndarray) -> None:
    """Set ``grid_id`` of the rows of ``table`` (-1: none), touching only the rows it changes."""
    with stage("write assignments"):
        if len(ids) <= _STAGED:
            source = "unnest(CAST(:ids AS bigint[]), CAST(:gids AS bigint[])) AS u(i, g)"
            params: dict[str, Any] = {"ids": ids.tolist(), "gids": grid_ids.tolist()}
        else:
            name = staging(session, "wg_new_grid", "i bigint PRIMARY KEY, g bigint")
            order = np.argsort(ids, kind="stable")
            copy_rows(
                session,
                name,
                ("i", "g"),
                zip(ids[order].tolist(), grid_ids[order].tolist(), strict=True),
            )
            session.execute(text(f"ANALYZE {name}"))
            source, params = f"{name} u", {}
        # the id range bounds the planner's scan of the table (a city's households, not the
        # whole table, hashed for each batch)
        session.execute(
            text(
                f"UPDATE {table} t SET grid_id = NULLIF(u.g, -1) FROM {source} WHERE t.id = u.i "
                "AND t.id BETWEEN :lo AND :hi AND t.grid_id IS DISTINCT FROM NULLIF(u.g, -1)"
            ),
            params | {"lo": int(ids.min()), "hi": int(ids.max())},
        )


def _detail(report: AssignReport) -> dict[str, Any]:
    """The report as the audit log keeps it: the number of disagreements, not the list."""
    detail = report.as_dict()
    detail["disagreements"] = len(report.disagreements)
    return detail


def _audit(session: Session, actor: str, action: str, entity: str, report: AssignReport) -> None:
    """The report in the audit log."""
    audit(session, actor, action, entity, detail=_detail(report))
