"""A plan's life: create (a draft copy of the current version) or attach, read, list, show its
grids, publish (atomically, re-assigning what changed) or discard; a community's versions."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import ConflictError, NotFoundError
from geo.plans.history import bump, counts, revision
from geo.plans.review import validate_plan
from geo.plans.state import _editable, _plan
from geo.store.audit import audit
from geo.store.versions import reassign_after


def create_plan(
    session: Session, community: str, *, author: str, name: str | None = None
) -> dict[str, Any]:
    """A new draft: a copy of the community's current version."""
    base = session.execute(
        text(
            "SELECT v.id, v.number, c.id, v.params FROM grid_version v JOIN community c ON "
            "c.id = v.community_id WHERE c.code = :c AND v.status = 'published'"
        ),
        {"c": community},
    ).first()
    if base is None:
        exists = session.execute(
            text("SELECT 1 FROM community WHERE code = :c"), {"c": community}
        ).first()
        if exists is None:
            raise NotFoundError(f"社区不存在 (no such community): {community!r}")
        raise ConflictError(
            f"社区 {community} 还没有现行网格，请先划分 (no current grids yet: run "
            "`wangge partition` first)"
        )
    bid, _, cid, params = base
    number = session.execute(
        text("SELECT coalesce(max(number), 0) + 1 FROM grid_version WHERE community_id = :c"),
        {"c": cid},
    ).scalar_one()
    vid = session.execute(
        text(
            "INSERT INTO grid_version (community_id, number, status, source, params, created_by) "
            "VALUES (:c, :n, 'draft', 'plan', CAST(:p AS jsonb), :a) RETURNING id"
        ),
        {"c": cid, "n": number, "p": json.dumps(params or {}, ensure_ascii=False), "a": author},
    ).scalar_one()
    # copy every grid level by level (parents first), and the members
    for level in ("community", "compound", "micro"):
        session.execute(
            text(
                "INSERT INTO grid (version_id, level, code, name, parent_id, compound_id, "
                "households, locked, boundary) SELECT :v, o.level, o.code, o.name, np.id, "
                "o.compound_id, o.households, o.locked, o.boundary FROM grid o LEFT JOIN grid op "
                "ON op.id = o.parent_id LEFT JOIN grid np ON np.code = op.code AND "
                "np.version_id = :v WHERE o.version_id = :b AND o.level = :l ORDER BY o.id"
            ),
            {"v": vid, "b": bid, "l": level},
        )
    session.execute(
        text(
            "INSERT INTO grid_member (grid_id, unit_id, floor_min, floor_max, households, cell) "
            "SELECT n.id, m.unit_id, m.floor_min, m.floor_max, m.households, m.cell "
            "FROM grid_member m "
            "JOIN grid o ON o.id = m.grid_id JOIN grid n ON n.code = o.code AND n.version_id = :v "
            "WHERE o.version_id = :b ORDER BY m.id"
        ),
        {"v": vid, "b": bid},
    )
    return attach_plan(session, community, vid, author=author, name=name)


def attach_plan(
    session: Session, community: str, draft_version_id: int, *, author: str, name: str | None
) -> dict[str, Any]:
    """A plan for a draft version already written, based on the current version."""
    cid, number = session.execute(
        text("SELECT community_id, number FROM grid_version WHERE id = :v"),
        {"v": draft_version_id},
    ).one()
    base = session.execute(
        text(
            "SELECT id, number FROM grid_version WHERE community_id = :c AND status = 'published'"
        ),
        {"c": cid},
    ).first()
    pid = session.execute(
        text(
            "INSERT INTO plan (name, community_id, author, base_version_id, draft_version_id, "
            "status) VALUES (:n, :c, :a, :b, :d, 'draft') RETURNING id"
        ),
        {
            "n": name or f"{community} 草稿 {number}",
            "c": cid,
            "a": author,
            "b": base[0] if base else None,
            "d": draft_version_id,
        },
    ).scalar_one()
    audit(
        session,
        author,
        "plan_create",
        "plan",
        pid,
        {"community": community, "base": base[1] if base else None, "draft": number},
    )
    return get_plan(session, pid)


def get_plan(session: Session, plan_id: int) -> dict[str, Any]:
    """A plan, its revision (read first: what follows is at least as new), the edits in
    effect (not the undone ones) and how many can be undone and redone."""
    rev = revision(session, plan_id)
    p = _plan(session, plan_id)
    edits = (
        session.execute(
            text(
                "SELECT seq, op, actor, at, params, summary FROM plan_edit WHERE plan_id = :p "
                "AND NOT undone ORDER BY seq"
            ),
            {"p": plan_id},
        )
        .mappings()
        .all()
    )
    current = session.execute(
        text("SELECT number FROM grid_version WHERE community_id = :c AND status = 'published'"),
        {"c": p.community_id},
    ).scalar()
    return {
        "id": p.id,
        "name": p.name,
        "community": p.community,
        "author": p.author,
        "status": p.status,
        "base_version": p.base_number,
        "draft_version": p.draft_number,
        "current_version": current,
        "stale": p.status in ("draft", "validated") and current != p.base_number,
        "revision": rev,
        **counts(session, plan_id),
        "edits": [dict(e) | {"at": e["at"].isoformat()} for e in edits],
    }


def list_plans(
    session: Session, *, community: str | None = None, status: str | None = None
) -> list[dict[str, Any]]:
    rows = session.execute(
        text(
            "SELECT p.id, p.name, c.code, p.author, p.status, b.number, d.number, p.updated_at "
            "FROM plan p JOIN community c ON c.id = p.community_id JOIN grid_version d ON "
            "d.id = p.draft_version_id LEFT JOIN grid_version b ON b.id = p.base_version_id "
            "WHERE (CAST(:c AS text) IS NULL OR c.code = :c) AND "
            "(CAST(:s AS text) IS NULL OR p.status = :s) ORDER BY p.id"
        ),
        {"c": community, "s": status},
    ).all()
    return [
        {
            "id": r[0],
            "name": r[1],
            "community": r[2],
            "author": r[3],
            "status": r[4],
            "base_version": r[5],
            "draft_version": r[6],
            "updated_at": r[7].isoformat(),
        }
        for r in rows
    ]


def publish(session: Session, plan_id: int, *, actor: str) -> dict[str, Any]:
    """Make the draft the current version, atomically; refused when its base is no longer
    current or it has validation errors. Re-assigns the affected households and incidents."""
    plan = _plan(session, plan_id, for_update=True)
    _editable(plan)
    current = session.execute(
        text(
            "SELECT id, number FROM grid_version WHERE community_id = :c AND "
            "status = 'published' FOR UPDATE"
        ),
        {"c": plan.community_id},
    ).first()
    if current is None or current[0] != plan.base_version_id:
        raise ConflictError(
            f"方案 {plan_id} 的基础版本 {plan.base_number} 已不是现行版本（现行 "
            f"{current[1] if current else '无'}），请基于现行版本重新起草 (the plan's base "
            f"version {plan.base_number} is no longer current: version "
            f"{current[1] if current else None} is; draft again from it)",
            detail={
                "base_version": plan.base_number,
                "current_version": current[1] if current else None,
            },
        )
    report = validate_plan(session, plan_id, actor=actor)
    if not report.ok:
        raise ConflictError(
            f"方案有 {len(report.errors)} 个错误，不能发布 (the plan has {len(report.errors)} "
            "validation errors; fix them first): "
            + "; ".join(f"{f.grid or ''} {f.message}" for f in report.errors[:5]),
            detail=report.as_dict()["findings"],
        )
    session.execute(
        text("UPDATE grid_version SET status = 'superseded' WHERE id = :v"), {"v": current[0]}
    )
    session.execute(
        text("UPDATE grid_version SET status = 'published', published_at = :t WHERE id = :v"),
        {"v": plan.draft_version_id, "t": datetime.now(UTC)},
    )
    rev = bump(session, plan_id, "published")
    reassigned = reassign_after(session, plan.community, current[1], actor=actor)
    audit(
        session,
        actor,
        "plan_publish",
        "plan",
        plan_id,
        {"version": plan.draft_number, "previous": current[1], **reassigned},
    )
    return {
        "plan": plan_id,
        "version": plan.draft_number,
        "previous": current[1],
        "warnings": len(report.warnings),
        "reassigned": reassigned,
        "revision": rev,
    }


def discard(session: Session, plan_id: int, *, actor: str) -> dict[str, Any]:
    plan = _plan(session, plan_id, for_update=True)
    _editable(plan)
    session.execute(
        text("UPDATE grid_version SET status = 'discarded' WHERE id = :v"),
        {"v": plan.draft_version_id},
    )
    rev = bump(session, plan_id, "discarded")
    audit(session, actor, "plan_discard", "plan", plan_id, {})
    return {"plan": plan_id, "status": "discarded", "revision": rev}


def versions(session: Session, community: str) -> list[dict[str, Any]]:
    """The history of a community's versions, newest first."""
    rows = session.execute(
        text(
            "SELECT v.number, v.status, v.source, v.created_by, v.created_at, v.published_at, "
            "(SELECT count(*) FROM grid g WHERE g.version_id = v.id AND g.level = 'micro'), "
            "(SELECT p.id FROM plan p WHERE p.draft_version_id = v.id) FROM grid_version v "
            "JOIN community c ON c.id = v.community_id WHERE c.code = :c ORDER BY v.number DESC"
        ),
        {"c": community},
    ).all()
    if not rows:
        raise NotFoundError(f"社区 {community} 没有任何版本 (no versions for {community!r})")
    return [
        {
            "version": r[0],
            "status": r[1],
            "source": r[2],
            "created_by": r[3],
            "created_at": r[4].isoformat(),
            "published_at": r[5].isoformat() if r[5] else None,
            "micro_grids": r[6],
            "plan": r[7],
        }
        for r in rows
    ]
