"""The edit engine: every edit runs through :func:`_edit` (one transaction; refused when it
breaks an invariant the draft held; written to the edit log with what it replaced, and to the
audit log; a new revision of the draft, and the undone edits can no longer be redone).
Undo and redo are in :mod:`geo.plans.history`."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.core.validate import Finding, ValidationReport
from geo.errors import NotFoundError
from geo.plans.checks import _check, _check_parents, _key, _touched, _units_of, _warnings
from geo.plans.geometry import _coalesce_floors
from geo.plans.history import bump, counts, drop_redo
from geo.plans.state import EditRefused, G, _Context, _editable, _Plan, _plan
from geo.plans.storage import _load, _save, _snapshot
from geo.store.audit import audit


def _edit(
    session: Session,
    plan_id: int,
    op: str,
    params: dict[str, Any],
    actor: str,
    fn: Callable[[_Context, dict[str, G]], dict[str, Any]],
) -> dict[str, Any]:
    """Run one edit: load the draft, apply ``fn``, refuse it when it breaks an invariant the
    draft held, write the changed grids, the edit log (with what it replaced) and the audit
    log. The caller's transaction makes it all-or-nothing."""
    t = _Timer()
    plan = _plan(session, plan_id, for_update=True)
    _editable(plan)
    ctx = _Context(session, plan)
    state = _load(session, plan.draft_version_id)
    t.lap("load")
    codes_before = {c for c, g in state.items() if g.level == "micro"}
    before = {c: replace(g, members=list(g.members), cells=dict(g.cells)) for c, g in state.items()}
    full_before = None if CHECK_TOUCHED_ONLY else _check(ctx, state)
    t.lap("check_before")
    summary = fn(ctx, state)
    for g in state.values():
        if g.dirty and g.level == "micro":
            _coalesce_floors(ctx, g)
    t.lap("edit")
    new, warnings = _new_errors(ctx, before, state, full_before)
    t.lap("check")
    # what the edit replaces, for undo (read before the grids are written): the micro-grids
    # of the parents it touched, or all of them (the old path, or an edit above them)
    parents = None if full_before is not None else _touched(before, state)
    snap: Any = _snapshot(session, plan.draft_version_id, parents)
    if parents is not None:
        snap = {"parents": sorted(parents), "grids": snap}
    t.lap("snapshot")
    if new:
        raise EditRefused(
            f"修改被拒绝，未做任何更改 (edit refused, nothing changed): {op}: "
            + "; ".join(f.message if not f.grid else f"{f.grid}: {f.message}" for f in new[:5]),
            detail=[{"check": f.check, "grid": f.grid, "message": f.message} for f in new],
        )
    _save(session, plan.draft_version_id, codes_before, state)
    drop_redo(session, plan_id)
    seq = session.execute(
        text("SELECT coalesce(max(seq), 0) + 1 FROM plan_edit WHERE plan_id = :p"),
        {"p": plan_id},
    ).scalar_one()
    summary = {"op": op, "seq": seq, **summary, "warnings": warnings}
    session.execute(
        text(
            "INSERT INTO plan_edit (plan_id, seq, op, params, summary, actor, before) VALUES "
            "(:p, :s, :op, CAST(:params AS jsonb), CAST(:sum AS jsonb), :a, CAST(:b AS jsonb))"
        ),
        {
            "p": plan_id,
            "s": seq,
            "op": op,
            "params": json.dumps(params, ensure_ascii=False, default=str),
            "sum": json.dumps(summary, ensure_ascii=False, default=str),
            "a": actor,
            "b": json.dumps(snap),
        },
    )
    rev = bump(session, plan_id, "draft")
    audit(session, actor, f"plan_{op}", "plan", plan_id, {"params": params, "summary": summary})
    t.lap("save")
    LAST_TIMES.clear()
    LAST_TIMES.update(t.times)
    return summary | {"revision": rev} | counts(session, plan_id)


# False: every edit validates the whole draft before and after (the old path; benchmarks)
CHECK_TOUCHED_ONLY = True
# the stages of the last edit of this process and their seconds (benchmarks)
LAST_TIMES: dict[str, float] = {}


class _Timer:
    def __init__(self) -> None:
        self.times: dict[str, float] = {}
        self._t = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.times[stage] = now - self._t
        self._t = now


def _new_errors(
    ctx: _Context, before: dict[str, G], after: dict[str, G], full_before: ValidationReport | None
) -> tuple[list[Finding], int]:
    """The errors the edit brings that the draft did not have (by check and grid), and the
    number of warnings the draft has after it. Checked on the grids the edit touched
    (:func:`~geo.plans.checks._check_parents`), or on the whole draft when ``full_before``
    (the old path) is given or the edit changed a grid above the micro-grids."""
    parents = None if full_before is not None else _touched(before, after)
    if parents is None:
        was = full_before if full_before is not None else _check(ctx, before)
        report = _check(ctx, after)
        had = {_key(f) for f in was.errors}
        return [f for f in report.errors if _key(f) not in had], len(report.warnings)
    units = _units_of(before, parents) | _units_of(after, parents)
    had = {_key(f) for f in _check_parents(ctx, before, parents, units)}
    new = [f for f in _check_parents(ctx, after, parents, units) if _key(f) not in had]
    return new, _warnings(ctx, after)


def _micro(state: dict[str, G], code: str, *, unlocked: bool = True) -> G:
    g = state.get(code)
    if g is None or g.level != "micro":
        raise NotFoundError(f"草稿中没有该微网格 (no such micro-grid in the draft): {code!r}")
    if unlocked and g.locked:
        raise EditRefused(f"网格 {code} 已锁定 (grid {code} is locked; unlock it first)")
    return g


def _new_code(session: Session, plan: _Plan, state: dict[str, G], parent: str) -> str:
    """The next micro-grid code under ``parent`` never used in any version of the
    community (a code is never reused for a different area)."""
    used = set(
        session.execute(
            text(
                "SELECT g.code FROM grid g JOIN grid_version v ON v.id = g.version_id WHERE "
                "v.community_id = :c AND g.code LIKE :p"
            ),
            {"c": plan.community_id, "p": parent + "-M%"},
        ).scalars()
    ) | {c for c in state if c.startswith(parent + "-M")}
    nums = [int(c.rsplit("-M", 1)[1]) for c in used if c.rsplit("-M", 1)[1].isdigit()]
    return f"{parent}-M{(max(nums) if nums else 0) + 1:02d}"
