"""Deleting a community and everything that exists only because of it, in one transaction.

A community is removed with its compounds, buildings, building units, households and their
personal data (``household_person``), grid versions, grids, grid memberships, plans and their
edits. What only stands *in* it is kept with its link cleared (set NULL) and listed: incidents,
facilities, open resources, and the workers and API users who served its grids (a worker or a
user names a grid by its code, not by a foreign key). Re-importing corrected data afterwards
is a plain import.

What happens to each row that points at a deleted one is declared once, in :data:`LINKS`
(foreign keys) and :data:`CODE_LINKS` (links by code), and the delete is driven by those
tables: rows to delete are collected from the community down the ``delete`` links, the
``clear`` links are set NULL, then the collected rows are deleted children first — the
database's own ``ON DELETE`` rules are never relied on. (``household.grid_id`` is no foreign
key: a grid's households are of its community, deleted with its buildings; the triggers of
migration 0020 keep it so.) Before anything is read,
:data:`LINKS` is compared with every foreign key in ``pg_constraint`` that references a table
the delete removes rows from: a table added later with such a key makes the delete refuse
(and its test fail) until it is declared here.

>>> preview = deletion_preview(session=session, code="510107013001")  # doctest: +SKIP
>>> preview.deleted["household"], [r["code"] for r in preview.kept["facility"]][:2]  # doctest: +SKIP
(4290, ['510107013001-F01', '510107013001-F02'])
>>> delete_community(session=session, code="510107013001", actor="cli:admin")  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass, field
from graphlib import TopologicalSorter
from typing import Any, Literal

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import ConflictError, NotFoundError, SetupError
from geo.store.audit import audit

__all__ = [
    "CODE_DELETES",
    "CODE_LINKS",
    "LINKS",
    "CodeLink",
    "CommunityDeletion",
    "Link",
    "delete_community",
    "deleted_tables",
    "deletion_preview",
    "unhandled_foreign_keys",
]


@dataclass(frozen=True)
class Link:
    """A foreign key ``table.column → parent.id`` and what deleting the parent row does to the
    rows that point at it: ``delete`` them too, or ``clear`` the link (set NULL) and keep
    them."""

    table: str
    column: str
    parent: str
    action: Literal["delete", "clear"]
    also: tuple[str, ...] = ()  # with ``clear``: columns cleared on the same rows


@dataclass(frozen=True)
class CodeLink:
    """A link by code rather than by foreign key (``worker.grid_code`` names a grid by its code,
    which survives re-versioning): cleared when the row it names is deleted."""

    table: str
    column: str
    parent: str


LINKS: tuple[Link, ...] = (
    Link("compound", "community_id", "community", "delete"),
    Link("building", "community_id", "community", "delete"),
    Link("building", "compound_id", "compound", "delete"),
    Link("building_unit", "building_id", "building", "delete"),
    Link("household", "building_id", "building", "delete"),
    Link("household", "unit_id", "building_unit", "delete"),
    # household.grid_id is no foreign key (migration 0020): a grid's households are of its
    # community (the database's triggers see to it) and go with the community's buildings
    Link("household_person", "household_id", "household", "delete"),
    Link("grid_version", "community_id", "community", "delete"),
    Link("grid", "version_id", "grid_version", "delete"),
    Link("grid", "parent_id", "grid", "delete"),
    Link("grid", "compound_id", "compound", "clear"),
    Link("grid_member", "grid_id", "grid", "delete"),
    Link("grid_member", "unit_id", "building_unit", "delete"),
    Link("plan", "community_id", "community", "delete"),
    Link("plan", "base_version_id", "grid_version", "delete"),
    Link("plan", "draft_version_id", "grid_version", "delete"),
    Link("plan_edit", "plan_id", "plan", "delete"),
    Link("incident", "community_id", "community", "clear"),
    Link("incident", "grid_id", "grid", "clear"),
    Link("incident_co_owner", "grid_id", "grid", "delete"),  # the co-owner link goes
    Link("facility", "community_id", "community", "clear"),
    Link("open_resource", "community_id", "community", "clear"),
    # a worker of the community keeps no link to it: its grid and building codes go too
    Link("worker", "community_id", "community", "clear", also=("grid_code", "building_code")),
)
CODE_LINKS: tuple[CodeLink, ...] = (
    CodeLink("worker", "grid_code", "grid"),
    CodeLink("worker", "building_code", "building"),
    CodeLink("app_user", "grid_code", "grid"),
)
# rows that name a deleted row by code and hold personal data: deleted with it (a home visit's
# note about a household; kept, it would come back with the household's code on re-import)
CODE_DELETES: tuple[CodeLink, ...] = (CodeLink("visit", "household_code", "household"),)
KEYS = {"household_person": "household_id"}  # a table's row key, where it is not ``id``
# what a kept row is listed with (before its links are cleared)
LISTED = {
    "incident": ("code", "status"),
    "facility": ("code", "name"),
    "open_resource": ("code", "name"),
    "worker": ("code", "name", "role", "grid_code"),
    "app_user": ("id", "name", "role", "grid_code"),
}


# a clearing UPDATE: table, the link column, other columns cleared with it, the values it
# matches (the deleted rows' keys, or codes)
Update = tuple[str, str, tuple[str, ...], list[Any]]


def _key(table: str) -> str:
    return KEYS.get(table, "id")


def _order() -> list[str]:
    """Tables reached by ``delete`` links, parents before children."""
    graph: dict[str, set[str]] = {"community": set()}
    for link in LINKS:
        if link.action == "delete":
            graph.setdefault(link.table, set())
            if link.parent != link.table:
                graph[link.table].add(link.parent)
    return list(TopologicalSorter(graph).static_order())


def deleted_tables() -> list[str]:
    """The tables a community's deletion removes rows from, parents first."""
    return _order()


def foreign_keys(session: Session) -> set[tuple[str, str, str]]:
    """(table, column, referenced table) of every foreign key in the database that references
    a table a community's deletion removes rows from (read from ``pg_constraint``)."""
    rows = session.execute(
        text(
            "SELECT c.conrelid::regclass::text, a.attname, c.confrelid::regclass::text, "
            "cardinality(c.conkey) FROM pg_constraint c JOIN pg_attribute a "
            "ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1] "
            "WHERE c.contype = 'f' AND c.confrelid::regclass::text = ANY(:t)"
        ),
        {"t": deleted_tables()},
    ).all()
    return {(t, col if n == 1 else f"{col}+{n - 1}", ref) for t, col, ref, n in rows}


def unhandled_foreign_keys(session: Session) -> list[str]:
    """Foreign keys the database has and :data:`LINKS` does not declare, and the reverse,
    as ``table.column → referenced``; empty when the delete handles every one."""
    declared = {(x.table, x.column, x.parent) for x in LINKS}
    found = foreign_keys(session)
    return [
        f"{t}.{c} → {r}" + ("" if (t, c, r) in found else " (declared, not in the database)")
        for t, c, r in sorted(found ^ declared)
    ]


def _check_catalogue(session: Session) -> None:
    missing = unhandled_foreign_keys(session)
    if missing:
        raise SetupError(
            "表结构中有删除社区未处理的外键，未删除 (the schema has foreign keys the community "
            f"delete does not handle; nothing deleted): {', '.join(missing)}; "
            "请在 geo/communities.py 的 LINKS 中声明 (declare them in LINKS)",
            detail={"foreign_keys": missing},
        )


@dataclass
class CommunityDeletion:
    """What deleting a community removes (rows per table), clears (rows per ``table.column``)
    and keeps (the rows whose links are cleared, per table, as they were before)."""

    code: str
    name: str
    deleted: dict[str, int]
    cleared: dict[str, int]
    kept: dict[str, list[dict[str, Any]]]
    done: bool = False
    _ids: dict[str, list[int]] = field(default_factory=dict, repr=False)
    _updates: list[Update] = field(default_factory=list, repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {
            "community": self.code,
            "name": self.name,
            "deleted": self.deleted,
            "cleared": self.cleared,
            "kept": self.kept,
            "done": self.done,
        }

    def same_as(self, other: CommunityDeletion) -> bool:
        """Whether two previews would delete and keep the same rows."""
        return (self.code, self.deleted, self.cleared, self.kept) == (
            other.code,
            other.deleted,
            other.cleared,
            other.kept,
        )


def _community(session: Session, code: str, *, lock: bool) -> tuple[int, str]:
    row = session.execute(
        text("SELECT id, name FROM community WHERE code = :c" + (" FOR UPDATE" if lock else "")),
        {"c": code},
    ).first()
    if row is None:
        raise NotFoundError(f"社区不存在 (no such community): {code!r}", detail={"code": code})
    return int(row[0]), str(row[1])


def _collect(session: Session, cid: int) -> dict[str, list[int]]:
    """The keys of every row to delete, per table, following the ``delete`` links."""
    doomed: dict[str, list[int]] = {"community": [cid]}
    for table in _order():
        if table == "community":
            continue
        key = _key(table)
        found: set[int] = set()
        links = [x for x in LINKS if x.action == "delete" and x.table == table]
        for link in links:
            if link.parent != table:
                found |= _select(session, table, key, link.column, doomed.get(link.parent, []))
        frontier = found
        for link in [x for x in links if x.parent == table]:  # a tree (grid.parent_id)
            while frontier:
                frontier = _select(session, table, key, link.column, sorted(frontier)) - found
                found |= frontier
        doomed[table] = sorted(found)
    for x in CODE_DELETES:
        codes = _codes(session, x.parent, doomed.get(x.parent, []))
        rows = session.execute(
            text(f"SELECT {_key(x.table)} FROM {x.table} WHERE {x.column} = ANY(:c)"),
            {"c": codes},
        ).scalars()
        doomed[x.table] = sorted(int(r) for r in rows)
    return doomed


def _select(session: Session, table: str, key: str, column: str, ids: list[int]) -> set[int]:
    if not ids:
        return set()
    rows = session.execute(
        text(f"SELECT {key} FROM {table} WHERE {column} = ANY(:ids)"), {"ids": ids}
    ).scalars()
    return {int(r) for r in rows}


def _codes(session: Session, table: str, ids: list[int]) -> list[str]:
    if not ids:
        return []
    rows = session.execute(
        text(f"SELECT DISTINCT code FROM {table} WHERE id = ANY(:ids)"), {"ids": ids}
    ).scalars()
    return sorted(rows)


def _kept(
    session: Session, doomed: dict[str, list[int]]
) -> tuple[
    dict[str, int],
    dict[str, list[dict[str, Any]]],
    list[Update],
]:
    """Rows that point at a doomed row but are not doomed themselves: per ``table.column`` the
    number to clear, per table the rows as they are now, and the updates that clear them."""
    cleared: dict[str, int] = {}
    kept: dict[str, dict[Any, dict[str, Any]]] = {}
    updates: list[Update] = []
    targets: list[Update] = [
        (x.table, x.column, x.also, doomed.get(x.parent, [])) for x in LINKS if x.action == "clear"
    ]
    targets += [
        (x.table, x.column, (), _codes(session, x.parent, doomed.get(x.parent, [])))
        for x in CODE_LINKS
    ]
    for table, column, also, values in targets:
        if not values:
            continue
        key = _key(table)
        cols = LISTED.get(table, ("code",))
        select = ", ".join(dict.fromkeys((key, *cols)))
        rows = (
            session.execute(
                text(
                    f"SELECT {select} FROM {table} WHERE {column} = ANY(:v) "
                    f"AND NOT {key} = ANY(:mine) ORDER BY {key}"
                ),
                {"v": values, "mine": doomed.get(table, [])},
            )
            .mappings()
            .all()
        )
        if not rows:
            continue
        cleared[f"{table}.{column}"] = len(rows)
        mine = kept.setdefault(table, {})
        for r in rows:
            mine.setdefault(r[key], {c: _plain(r[c]) for c in cols})
        updates.append((table, column, also, values))
    listed = {
        t: sorted(rows.values(), key=lambda r: str(r.get("code", r.get("id"))))
        for t, rows in kept.items()
    }
    return cleared, listed, updates


def _plain(v: Any) -> Any:
    return v if v is None or isinstance(v, int | float | str | bool) else str(v)


def _preview(session: Session, code: str, *, lock: bool) -> CommunityDeletion:
    _check_catalogue(session)
    cid, name = _community(session, code, lock=lock)
    doomed = _collect(session, cid)
    cleared, kept, updates = _kept(session, doomed)
    deleted = {t: len(doomed[t]) for t in [*_order(), *(x.table for x in CODE_DELETES)]}
    return CommunityDeletion(code, name, deleted, cleared, kept, _ids=doomed, _updates=updates)


def deletion_preview(*, session: Session, code: str) -> CommunityDeletion:
    """What :func:`delete_community` would delete, clear and keep; changes nothing.

    Raises :class:`~geo.errors.NotFoundError` for an unknown community code."""
    return _preview(session, code, lock=False)


def delete_community(
    *,
    session: Session,
    code: str,
    actor: str,
    expected: CommunityDeletion | None = None,
) -> CommunityDeletion:
    """Delete community ``code`` in the session's transaction (the caller commits) and write
    one audit_log row with the counts and the kept rows; return what was done.

    With ``expected`` (a preview shown to a user who then confirmed), the delete is refused
    (:class:`~geo.errors.ConflictError`, nothing changed) when the community's data changed
    since. Raises :class:`~geo.errors.NotFoundError` for an unknown code."""
    plan = _preview(session, code, lock=True)
    if expected is not None and not plan.same_as(expected):
        raise ConflictError(
            f"社区 {code} 的数据在确认期间已变化，未删除 (community {code} changed since the "
            "preview; nothing deleted): 请重新运行 (run it again)",
            detail={"preview": expected.as_dict(), "now": plan.as_dict()},
        )
    doomed = plan._ids
    for table, column, also, values in plan._updates:
        sets = ", ".join(f"{c} = NULL" for c in (column, *also))
        session.execute(
            text(
                f"UPDATE {table} SET {sets} WHERE {column} = ANY(:v) "
                f"AND NOT {_key(table)} = ANY(:mine)"
            ),
            {"v": values, "mine": doomed.get(table, [])},
        )
    for table in [*(x.table for x in CODE_DELETES), *reversed(_order())]:  # children first
        if doomed[table]:
            session.execute(
                text(f"DELETE FROM {table} WHERE {_key(table)} = ANY(:ids)"),
                {"ids": doomed[table]},
            )
    plan.done = True
    audit(session, actor, "delete", "community", code, plan.as_dict())
    return plan
