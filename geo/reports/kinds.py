"""The five reports, each from SQL on the real tables over one scope and period: households per
area, incidents by category / status / tier, SLA compliance, coverage (visits) and emergency
reach. Counts only: no names, phones or residents' words.

Rows are at the scope's level: one per street, community or micro-grid (``area``). An
incident's **tier** (层级) is the one that handles it now (an open incident: the tier its
status waits on) or that ended it (the status before its last resolved / rejected / duplicate
step): 网格 grid (reported, accepted, reopened), 街镇 street (street_handling), 部门
department (department_handling). Its deadline is that tier's (``geo.incidents.rules.TIER``);
an ended incident is within it when it ended by then, an open one overdue when the service's
clock is past it. A grid's workers are those who answer for it: its own, its compound and
community grids', and its buildings' heads.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import InputError
from geo.incidents.rules import OPEN, TIER, clock
from geo.notices.core import FULL_MOBILISATION_H
from geo.reports.scope import LEVELS, Period, Scope
from geo.store.models import INCIDENT_CATEGORIES, INCIDENT_STATUSES
from geo.store.versions.read import HOUSEHOLDS_OF_GRIDS

__all__ = ["KINDS", "TIERS", "Report", "build_report", "check_kind"]

TIERS = {
    "grid": ("网格", "grid"),
    "street": ("街镇", "street"),
    "department": ("部门", "department"),
}


@dataclass(frozen=True)
class Report:
    """A table: ``columns`` as (Chinese, English) headers, ``rows`` of plain values."""

    kind: str
    title: tuple[str, str]
    columns: list[tuple[str, str]]
    rows: list[list[Any]]
    scope: Scope
    period: Period

    def headers(self) -> list[str]:
        return [f"{zh} {en}" for zh, en in self.columns]

    def subtitle(self) -> str:
        return f"{self.scope.label()}; {self.period.label()}"


# the area a row is about, per level: code, name, parent
AREA_COLUMNS = {
    "grid": ("g.code", "coalesce(g.name, g.code)", "pg.code"),
    "community": ("c.code", "c.name", "s.code"),
    "street": ("s.code", "s.name", "s.district"),
}
AREA_HEADERS = {
    "grid": [("网格编码", "grid code"), ("网格名称", "grid name"), ("上级网格", "parent grid")],
    "community": [
        ("社区编码", "community code"),
        ("社区名称", "community name"),
        ("所属街道", "street"),
    ],
    "street": [("街道编码", "street code"), ("街道名称", "street name"), ("所属区", "district")],
}


def _area(level: str) -> str:
    code, name, parent = AREA_COLUMNS[level]
    return (
        f"area AS (SELECT g.id AS gid, g.code AS grid_code, {code} AS code, {name} AS name, "
        f"{parent} AS parent FROM grid g JOIN grid_version v ON v.id = g.version_id "
        "JOIN community c ON c.id = v.community_id JOIN street s ON s.id = c.street_id "
        "LEFT JOIN grid pg ON pg.id = g.parent_id WHERE g.id = ANY(:mg)), "
        "units AS (SELECT DISTINCT code, name, parent FROM area)"
    )


# the workers answering for each area's micro-grids: theirs, their compound and community
# grids' (a worker of a compound grid answers for its micro-grids), their buildings' heads
WORKERS = """
wk AS (SELECT code, count(DISTINCT wid) AS n FROM (
  SELECT a.code, w.id AS wid FROM area a JOIN grid g ON g.id = a.gid
    JOIN worker w ON w.grid_code = g.code
  UNION ALL SELECT a.code, w.id FROM area a JOIN grid g ON g.id = a.gid
    JOIN grid p1 ON p1.id = g.parent_id JOIN worker w ON w.grid_code = p1.code
  UNION ALL SELECT a.code, w.id FROM area a JOIN grid g ON g.id = a.gid
    JOIN grid p1 ON p1.id = g.parent_id JOIN grid p2 ON p2.id = p1.parent_id
    JOIN worker w ON w.grid_code = p2.code
  UNION ALL SELECT a.code, w.id FROM area a JOIN grid_member m ON m.grid_id = a.gid
    JOIN building_unit u ON u.id = m.unit_id JOIN building b ON b.id = u.building_id
    JOIN worker w ON w.building_code = b.code) x
  GROUP BY code)"""


# households per area (households of grids found through their community's buildings)
HOUSEHOLDS = f"""hh AS (SELECT a.code, count(h.id) AS n FROM area a JOIN ({HOUSEHOLDS_OF_GRIDS})
          ON g.id = a.gid GROUP BY a.code),"""


def _rows(session: Session, scope: Scope, sql: str, **params: Any) -> list[list[Any]]:
    query = "WITH " + _area(scope.level) + ", " + sql
    result = session.execute(text(query), {"mg": list(scope.grid_ids), **params})
    return [list(r) for r in result.all()]


def households(session: Session, scope: Scope, period: Period) -> Report:
    rows = _rows(
        session,
        scope,
        HOUSEHOLDS
        + """
        bu AS (SELECT a.code, count(DISTINCT u.building_id) AS b, count(DISTINCT u.id) AS u
          FROM area a JOIN grid_member m ON m.grid_id = a.gid
          JOIN building_unit u ON u.id = m.unit_id GROUP BY a.code),"""
        + WORKERS
        + """ SELECT u.code, u.name, u.parent, coalesce(hh.n, 0), coalesce(bu.b, 0),
          coalesce(bu.u, 0), coalesce(wk.n, 0) FROM units u LEFT JOIN hh USING (code)
          LEFT JOIN bu USING (code) LEFT JOIN wk USING (code) ORDER BY u.code""",
    )
    level = LEVELS[scope.level][0]
    h = AREA_HEADERS[scope.level]
    return Report(
        "households",
        ("住户统计", "households per area"),
        [
            *h[:2],
            ("层级", "level"),
            h[2],
            ("户数", "households"),
            ("楼栋数", "buildings"),
            ("单元数", "units"),
            ("网格员数", "workers"),
        ],
        [[r[0], r[1], level, *r[2:]] for r in rows],
        scope,
        period,
    )


def _incidents_cte() -> str:
    tier_due = " ".join(f"WHEN '{s}' THEN i.{col}" for s, col in TIER.items())
    return f"""le AS (SELECT DISTINCT ON (e.incident_id) e.incident_id, e.at, e.from_status
      FROM incident_event e JOIN incident i ON i.id = e.incident_id JOIN area a ON a.gid = i.grid_id
      WHERE e.to_status IN ('resolved', 'rejected', 'duplicate')
      ORDER BY e.incident_id, e.at DESC, e.id DESC),
    base AS (SELECT a.code, i.category, i.status, i.status = ANY(:open) AS open,
      CASE WHEN i.status = ANY(:open) THEN i.status ELSE le.from_status END AS ts,
      coalesce(le.at, i.closed_at) AS ended_at, i.accept_due, i.handle_due, i.resolve_due
      FROM incident i JOIN area a ON a.gid = i.grid_id LEFT JOIN le ON le.incident_id = i.id
      WHERE i.reported_at >= :t0 AND i.reported_at < :t1),
    inc AS (SELECT i.*, CASE ts WHEN 'street_handling' THEN 'street'
      WHEN 'department_handling' THEN 'department' ELSE 'grid' END AS tier,
      CASE ts {tier_due} END AS due FROM base i)"""


def _name(vocabulary: dict[str, tuple[str, str]], key: str) -> str:
    return vocabulary.get(key, (key, key))[0]


def incidents(session: Session, scope: Scope, period: Period) -> Report:
    rows = _rows(
        session,
        scope,
        _incidents_cte()
        + """ SELECT inc.code, u.name, inc.category, inc.status, inc.tier, count(*)
        FROM inc JOIN units u USING (code) GROUP BY inc.code, u.name, inc.category, inc.status,
        inc.tier ORDER BY inc.code, inc.category, inc.status, inc.tier""",
        open=list(OPEN),
        t0=period.start,
        t1=period.end,
    )
    h = AREA_HEADERS[scope.level]
    return Report(
        "incidents",
        ("事件统计", "incidents by category, status and tier"),
        [*h[:2], ("类别", "category"), ("状态", "status"), ("层级", "tier"), ("件数", "incidents")],
        [
            [c, n, _name(INCIDENT_CATEGORIES, cat), _name(INCIDENT_STATUSES, st), TIERS[t][0], k]
            for c, n, cat, st, t, k in rows
        ],
        scope,
        period,
    )


def _share(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


def sla(session: Session, scope: Scope, period: Period) -> Report:
    rows = _rows(
        session,
        scope,
        _incidents_cte()
        + """ SELECT inc.code, u.name, inc.category, inc.tier,
          count(*) FILTER (WHERE NOT open AND (due IS NULL OR ended_at <= due)),
          count(*) FILTER (WHERE NOT open AND ended_at > due),
          count(*) FILTER (WHERE open AND due < :now),
          count(*) FILTER (WHERE open AND (due IS NULL OR due >= :now))
        FROM inc JOIN units u USING (code) GROUP BY inc.code, u.name, inc.category, inc.tier
        ORDER BY inc.code, inc.category, inc.tier""",
        open=list(OPEN),
        t0=period.start,
        t1=period.end,
        now=clock(),
    )
    h = AREA_HEADERS[scope.level]
    return Report(
        "sla",
        ("时限达标", "SLA compliance per category and tier"),
        [
            *h[:2],
            ("类别", "category"),
            ("层级", "tier"),
            ("按时办结", "closed within deadline"),
            ("超时办结", "closed late"),
            ("超时未办", "open overdue"),
            ("未超时在办", "open in time"),
            ("达标率%", "compliance %"),
        ],
        [
            [
                c,
                n,
                _name(INCIDENT_CATEGORIES, cat),
                TIERS[t][0],
                ok,
                late,
                over,
                fine,
                _share(ok, ok + late + over),
            ]
            for c, n, cat, t, ok, late, over, fine in rows
        ],
        scope,
        period,
    )


def coverage(session: Session, scope: Scope, period: Period) -> Report:
    rows = _rows(
        session,
        scope,
        HOUSEHOLDS
        + """
        planned AS (SELECT a.code, sum(g.households) AS n FROM area a JOIN grid g ON g.id = a.gid
          GROUP BY a.code),
        vi AS (SELECT a.code, count(v.id) AS n, count(DISTINCT v.household_code) AS h
          FROM area a JOIN visit v ON v.grid_code = a.grid_code
          WHERE v.visit_date BETWEEN :d0 AND :d1 GROUP BY a.code),"""
        + WORKERS
        + """ SELECT u.code, u.name, u.parent, coalesce(planned.n, 0), coalesce(hh.n, 0),
          coalesce(wk.n, 0), coalesce(vi.n, 0), coalesce(vi.h, 0) FROM units u
          LEFT JOIN planned USING (code) LEFT JOIN hh USING (code) LEFT JOIN wk USING (code)
          LEFT JOIN vi USING (code) ORDER BY u.code""",
        d0=period.first,
        d1=period.last,
    )
    return Report(
        "coverage",
        ("走访覆盖", "coverage: households, workers and visits"),
        [
            *AREA_HEADERS[scope.level],
            ("网格户数", "households (grid)"),
            ("已落户数", "assigned households"),
            ("网格员数", "workers"),
            ("走访次数", "visits"),
            ("走访户数", "households visited"),
            ("走访覆盖率%", "households visited %"),
        ],
        [[*r, _share(int(r[7]), int(r[4]))] for r in rows],
        scope,
        period,
    )


def reach(session: Session, scope: Scope, period: Period) -> Report:
    rows = _rows(
        session,
        scope,
        """t AS (SELECT n.id, n.title, n.sent_at, n.deadline_minutes, a.code, nt.households,
          nt.households_reached, nt.acked_at FROM notice n JOIN notice_target nt
          ON nt.notice_id = n.id JOIN area a ON a.grid_code = nt.grid_code
          WHERE n.sent_at >= :t0 AND n.sent_at < :t1)
        SELECT t.id, t.title, to_char(t.sent_at AT TIME ZONE 'Asia/Shanghai',
          'YYYY-MM-DD HH24:MI'), t.deadline_minutes, t.code, u.name, count(*),
          sum(t.households), sum(coalesce(t.households_reached, 0)), count(t.acked_at),
          round(CAST(max(extract(epoch FROM t.acked_at - t.sent_at)) / 60 AS numeric), 1),
          bool_and(t.acked_at IS NOT NULL
            AND t.acked_at <= t.sent_at + t.deadline_minutes * interval '1 minute'),
          bool_and(t.acked_at IS NOT NULL AND t.acked_at <= t.sent_at + :full)
        FROM t JOIN units u USING (code)
        GROUP BY t.id, t.title, t.sent_at, t.deadline_minutes, t.code, u.name
        ORDER BY t.sent_at, t.id, t.code""",
        t0=period.start,
        t1=period.end,
        full=timedelta(hours=FULL_MOBILISATION_H),
    )
    yes = {True: "是", False: "否"}
    return Report(
        "reach",
        ("应急触达", "emergency notices: reach and acknowledgements"),
        [
            ("通知编号", "notice"),
            ("标题", "title"),
            ("发送时间", "sent at"),
            ("时限分钟", "deadline minutes"),
            *AREA_HEADERS[scope.level][:2],
            ("网格数", "grids"),
            ("户数", "households"),
            ("已触达户数", "households reached"),
            ("触达率%", "reached %"),
            ("已确认网格", "grids acknowledged"),
            ("确认率%", "acknowledged %"),
            ("最晚确认分钟", "minutes to last acknowledgement"),
            ("时限内全部确认", "all acknowledged within the deadline"),
            ("3小时内全部确认", "all acknowledged within 3 hours"),
        ],
        [
            [
                nid,
                title,
                sent,
                dl,
                code,
                name,
                grids,
                hh,
                reached,
                _share(int(reached), int(hh)),
                acked,
                _share(int(acked), int(grids)),
                None if minutes is None else float(minutes),
                yes[bool(ok)],
                yes[bool(full)],
            ]
            for nid, title, sent, dl, code, name, grids, hh, reached, acked, minutes, ok, full in rows
        ],
        scope,
        period,
    )


KINDS: dict[str, Callable[[Session, Scope, Period], Report]] = {
    "households": households,
    "incidents": incidents,
    "sla": sla,
    "coverage": coverage,
    "reach": reach,
}


def check_kind(kind: str) -> None:
    """An InputError naming ``kind`` unless it is one of :data:`KINDS`."""
    if kind not in KINDS:
        raise InputError(f"未知报表 (unknown report kind) {kind!r}; 可用 (use): {', '.join(KINDS)}")


def build_report(session: Session, kind: str, scope: Scope, period: Period) -> Report:
    """The report ``kind`` over ``scope`` and ``period`` (an InputError for an unknown kind)."""
    check_kind(kind)
    return KINDS[kind](session, scope, period)
