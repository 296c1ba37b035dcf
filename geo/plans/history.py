"""A draft's history: its revision (the ETag of the plan's routes, checked against
``If-Match`` under the plan row's lock), undo and redo.

Every change of a draft (an edit, undo, redo, validate, publish, discard) adds one to
``plan.revision``. The edit log is a stack: the edits in effect (``undone`` false, by ``seq``)
and above them the undone ones, which redo puts back in the order they were undone; a new
edit drops those. Undo keeps in ``after`` what it replaced (the same parents' micro-grids as
``before``), so redo restores them byte for byte."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import ConflictError, NotFoundError
from geo.plans.review import validate_plan
from geo.plans.state import _editable, _plan
from geo.plans.storage import _restore, _snapshot
from geo.store.audit import audit


class StaleRevision(ConflictError):
    """``If-Match`` names a revision of the draft that is no longer the current one."""

    code = "stale_revision"


def _tags(if_match: str) -> list[str]:
    """The entity tags of an ``If-Match`` value, without ``W/`` and quotes: ``"7"``,
    ``W/"7"``, ``7`` → ``7``; a list (``"7", "8"``) → each."""
    out = []
    for part in if_match.split(","):
        tag = part.strip()
        if tag[:2] in ("W/", "w/"):
            tag = tag[2:].strip()
        if len(tag) >= 2 and tag[0] == tag[-1] == '"':
            tag = tag[1:-1]
        if tag:
            out.append(tag)
    return out


def check_revision(session: Session, plan_id: int, if_match: str | None) -> int:
    """The plan's current revision, the plan row locked (``FOR UPDATE``) until the end of the
    transaction, so that the change that follows is based on it. ``if_match`` (an
    ``If-Match`` header: ``"7"``, ``W/"7"`` or ``*``; None: any revision) not naming it →
    :class:`StaleRevision`, nothing changed."""
    current = session.execute(
        text("SELECT revision FROM plan WHERE id = :p FOR UPDATE"), {"p": plan_id}
    ).scalar()
    if current is None:
        raise NotFoundError(f"方案不存在 (no such plan): {plan_id}")
    if if_match is None or if_match.strip() == "*":
        return int(current)
    tags = _tags(if_match)
    if str(current) in tags:
        return int(current)
    given = ", ".join(tags) or if_match.strip()
    raise StaleRevision(
        f"草稿已被修改（现为第 {current} 版修订，请求基于第 {given} 版），请重新载入 (the draft "
        f"changed: revision {current}, your request was based on {given}; reload it)",
        detail={"revision": int(current), "given": given},
    )


def revision(session: Session, plan_id: int) -> int:
    """The plan's current revision (read without a lock)."""
    current = session.execute(
        text("SELECT revision FROM plan WHERE id = :p"), {"p": plan_id}
    ).scalar()
    if current is None:
        raise NotFoundError(f"方案不存在 (no such plan): {plan_id}")
    return int(current)


def bump(session: Session, plan_id: int, status: str | None = None) -> int:
    """One more revision (and the plan's new status, if given); the new revision."""
    return int(
        session.execute(
            text(
                "UPDATE plan SET revision = revision + 1, status = coalesce(:s, status), "
                "updated_at = now() WHERE id = :p RETURNING revision"
            ),
            {"p": plan_id, "s": status},
        ).scalar_one()
    )


def counts(session: Session, plan_id: int) -> dict[str, int]:
    """``{"undo": edits that can be undone, "redo": undone edits that can be redone}``."""
    row = session.execute(
        text(
            "SELECT count(*) FILTER (WHERE NOT undone), count(*) FILTER (WHERE undone) "
            "FROM plan_edit WHERE plan_id = :p"
        ),
        {"p": plan_id},
    ).one()
    return {"undo": int(row[0]), "redo": int(row[1])}


def drop_redo(session: Session, plan_id: int) -> None:
    """A new edit: the undone edits can no longer be redone."""
    session.execute(text("DELETE FROM plan_edit WHERE plan_id = :p AND undone"), {"p": plan_id})


def _changed(a: Any, b: Any) -> list[str]:
    """The micro-grid codes of two snapshots of the same scope that are in one only or
    differ in anything stored (boundary bytes, households, lock, members, name): every grid
    an undo or redo changes (those outside the scope it does not touch)."""
    ga = {g["code"]: g for g in (a["grids"] if isinstance(a, dict) else a)}
    gb = {g["code"]: g for g in (b["grids"] if isinstance(b, dict) else b)}
    return sorted(c for c in ga.keys() | gb.keys() if ga.get(c) != gb.get(c))


def _same_scope(session: Session, vid: int, snap: Any) -> Any:
    """The draft's micro-grids now, over the same parents as ``snap`` (all of them for a
    snapshot of the whole draft)."""
    if isinstance(snap, dict):
        return {"parents": snap["parents"], "grids": _snapshot(session, vid, set(snap["parents"]))}
    return _snapshot(session, vid)


def undo(session: Session, plan_id: int, *, actor: str) -> dict[str, Any]:
    """Undo the plan's last edit in effect: its micro-grids come back exactly as they were;
    what it had written is kept for :func:`redo`."""
    plan = _plan(session, plan_id, for_update=True)
    _editable(plan)
    row = session.execute(
        text(
            "SELECT id, seq, op, before FROM plan_edit WHERE plan_id = :p AND NOT undone "
            "ORDER BY seq DESC LIMIT 1"
        ),
        {"p": plan_id},
    ).first()
    if row is None:
        raise ConflictError(f"方案 {plan_id} 没有可撤销的修改 (nothing to undo)")
    eid, seq, op, before = row
    after = _same_scope(session, plan.draft_version_id, before)
    _restore(session, plan.draft_version_id, before)
    session.execute(
        text("UPDATE plan_edit SET undone = true, after = CAST(:a AS jsonb) WHERE id = :i"),
        {"i": eid, "a": json.dumps(after)},
    )
    rev = bump(session, plan_id, "draft")
    audit(session, actor, "plan_undo", "plan", plan_id, {"seq": seq, "op": op})
    changed = _changed(before, after)
    return {"undone": op, "seq": seq, "changed": changed, "revision": rev} | counts(
        session, plan_id
    )


def redo(session: Session, plan_id: int, *, actor: str) -> dict[str, Any]:
    """Redo the most recently undone edit: its micro-grids come back exactly as it had left
    them."""
    plan = _plan(session, plan_id, for_update=True)
    _editable(plan)
    row = session.execute(
        text(
            "SELECT id, seq, op, before, after FROM plan_edit WHERE plan_id = :p AND undone "
            "ORDER BY seq LIMIT 1"
        ),
        {"p": plan_id},
    ).first()
    if row is None:
        raise ConflictError(f"方案 {plan_id} 没有可重做的修改 (nothing to redo)")
    eid, seq, op, before, after = row
    changed = _changed(before, after)
    _restore(session, plan.draft_version_id, after)
    session.execute(
        text("UPDATE plan_edit SET undone = false, after = NULL WHERE id = :i"), {"i": eid}
    )
    rev = bump(session, plan_id, "draft")
    audit(session, actor, "plan_redo", "plan", plan_id, {"seq": seq, "op": op})
    return {"redone": op, "seq": seq, "changed": changed, "revision": rev} | counts(
        session, plan_id
    )


def validate(session: Session, plan_id: int, *, actor: str) -> dict[str, Any]:
    """:func:`~geo.plans.review.validate_plan` as a change of the draft: its report, and
    the plan's new revision (an open plan's status may change)."""
    report, rev = validate_revised(session, plan_id, actor=actor)
    return report.as_dict() | {"revision": rev}


def validate_revised(session: Session, plan_id: int, *, actor: str) -> tuple[Any, int]:
    """The validation report and the plan's revision after it (one more for an open plan):
    what the API and the command line both run."""
    report = validate_plan(session, plan_id, actor=actor)
    open_ = _plan(session, plan_id).status in ("draft", "validated")
    rev = bump(session, plan_id) if open_ else revision(session, plan_id)
    return report, rev
