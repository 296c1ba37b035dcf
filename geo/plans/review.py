"""Reviewing a draft: the validator's findings plus the workers' (grids nobody serves, workers
assigned to grids the plan no longer has), each naming its grid and buildings; validating marks
the plan."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.core.validate import Finding, GridRecord, ValidationReport
from geo.plans.checks import _check
from geo.plans.state import G, _Context, _Plan, _plan
from geo.plans.storage import _load
from geo.store.audit import audit
from geo.store.versions import load_version


def plan_report(session: Session, plan_id: int) -> ValidationReport:
    """The partition validator on the draft, plus the workers' findings; each finding names
    its grid and the buildings involved. Reads only (the planner map shows it)."""
    return _report(session, _plan(session, plan_id))


def validate_plan(session: Session, plan_id: int, *, actor: str = "cli") -> ValidationReport:
    """:func:`plan_report`, and the plan marked validated when there is no error (audited)."""
    plan = _plan(session, plan_id, for_update=True)
    report = _report(session, plan)
    if plan.status in ("draft", "validated"):
        session.execute(
            text("UPDATE plan SET status = :s, updated_at = now() WHERE id = :p"),
            {"s": "validated" if report.ok else "draft", "p": plan_id},
        )
    audit(
        session,
        actor,
        "plan_validate",
        "plan",
        plan_id,
        {"errors": len(report.errors), "warnings": len(report.warnings)},
    )
    return report


def _report(session: Session, plan: _Plan) -> ValidationReport:
    ctx = _Context(session, plan)
    state = _load(session, plan.draft_version_id)
    report = _check(ctx, state)
    report.findings += _worker_findings(session, plan, state)
    ub = ctx.unit_building
    for f in report.findings:
        g = state.get(f.grid or "")
        if g is not None and g.level == "micro" and "buildings" not in f.detail:
            f.detail["buildings"] = sorted({ub[m[0]] for m in g.members if m[0] in ub})
            f.detail["households"] = g.households
    return report


def _worker_findings(session: Session, plan: _Plan, state: dict[str, G]) -> list[Finding]:
    """Warnings: workers assigned to grids the plan no longer has, and grids (micro-grids:
    and their buildings) nobody serves."""
    workers = session.execute(
        text(
            "SELECT code, name, role, grid_code, building_code FROM worker WHERE "
            "community_id = :c ORDER BY code"
        ),
        {"c": plan.community_id},
    ).all()
    codes = set(state)
    out = []
    served_grids = {w[3] for w in workers if w[3]}
    served_buildings = {w[4] for w in workers if w[4]}
    for w in workers:
        if w[3] and w[3] not in codes:
            out.append(
                Finding(
                    "warning",
                    "workers",
                    w[3],
                    f"网格员 {w[1]} ({w[0]}) 所属网格 {w[3]} 在方案中不存在 (worker {w[0]} is "
                    f"assigned to grid {w[3]}, which the plan no longer has)",
                    {"worker": w[0], "role": w[2]},
                )
            )
    ub: dict[int, str] | None = None
    for g in state.values():
        if g.level == "community":
            continue
        if g.code in served_grids:
            continue
        if g.level == "micro":
            if ub is None:
                ub = dict(
                    session.execute(
                        text(
                            "SELECT u.id, b.code FROM building_unit u JOIN building b ON "
                            "b.id = u.building_id WHERE b.community_id = :c"
                        ),
                        {"c": plan.community_id},
                    ).all()
                )
            bs = sorted({ub[m[0]] for m in g.members if m[0] in ub})
            if any(b in served_buildings for b in bs):
                continue
            detail = {"buildings": bs}
        else:
            detail = {}
        out.append(
            Finding(
                "warning",
                "workers",
                g.code,
                f"网格 {g.code} 没有网格员或楼栋长 (grid {g.code} has no assigned worker)",
                detail,
            )
        )
    return out


def stored_records(session: Session, plan_id: int) -> list[GridRecord]:
    """The draft's grids as validator records (metric), for other modules."""
    p = _plan(session, plan_id)
    records, _ = load_version(session, p.community, p.draft_number)
    return records
