"""Households as people see them, by role, and emergency reach.

Residents' names and phones (``household_person``) are shown only to a grid worker for the
households of its own grids (and to an admin); every such read is written to the audit log.
Planners see households without them; the public sees none.

Emergency reach lists every household of a street, so a dispatcher asks it of its own street
(``street_code`` of its account) and of grids in it only; an admin of any street.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import InputError, NotFoundError, PermissionDenied
from geo.incidents import own_grid_codes
from geo.runtime.auth import Principal
from geo.store.audit import audit
from geo.store.versions.read import HOUSEHOLDS_OF_GRIDS, micro_grids_under

__all__ = [
    "check_reach_scope",
    "emergency_reach",
    "grid_streets",
    "list_households",
    "micro_codes",
    "street_grids",
]


def list_households(
    session: Session, principal: Principal, *, grid: str, limit: int = 500, offset: int = 0
) -> dict[str, Any]:
    """The households of a grid (any level) for a caller allowed to see them."""
    micro = micro_codes(session, grid)
    personal = False
    if principal.role == "worker":
        own = set(own_grid_codes(session, principal))
        if not micro or not set(micro) <= own:
            raise PermissionDenied(
                f"网格 {grid} 不归你负责 (grid {grid} is not yours; yours: {principal.grid_code})"
            )
        personal = True
    elif principal.role == "admin":
        personal = True
    elif principal.role != "planner":
        raise PermissionDenied(f"角色 {principal.role} 无权查看住户 (may not read households)")
    cols = "h.code, b.code, u.unit_no, h.floor, h.room, h.members, g.code"
    join = ""
    if personal:
        cols += ", hp.head_name, hp.phone"
        join = " LEFT JOIN household_person hp ON hp.household_id = h.id"
    rows = session.execute(
        text(
            f"SELECT {cols} FROM {HOUSEHOLDS_OF_GRIDS} "
            f"JOIN building_unit u ON u.id = h.unit_id{join} "
            "WHERE g.code = ANY(:m) ORDER BY h.code LIMIT :l OFFSET :o"
        ),
        {"m": micro, "l": limit, "o": offset},
    ).all()
    total = session.execute(
        text(f"SELECT count(*) FROM {HOUSEHOLDS_OF_GRIDS} WHERE g.code = ANY(:m)"),
        {"m": micro},
    ).scalar_one()
    keys = ["code", "building", "unit_no", "floor", "room", "members", "micro_grid"]
    if personal:
        keys += ["head_name", "phone"]
        audit(
            session,
            f"{principal.role}:{principal.name}",
            "read_personal",
            "household_person",
            grid,
            {"households": len(rows), "offset": offset},
        )
    return {
        "grid": grid,
        "numberMatched": int(total),
        "numberReturned": len(rows),
        "personal": personal,
        "households": [dict(zip(keys, r, strict=True)) for r in rows],
    }


def micro_codes(session: Session, code: str) -> list[str]:
    """The micro-grids of a published grid (itself when it is one); an unknown code is a 404."""
    codes = micro_grids_under(session, code)
    if codes is None:
        raise NotFoundError(f"网格不存在 (no such grid): {code!r}")
    return codes


def grid_streets(session: Session, grids: list[str]) -> dict[str, str]:
    """The street of each grid code (published versions); an unknown code is a 404."""
    rows: dict[str, str] = dict(
        session.execute(
            text(
                "SELECT DISTINCT g.code, s.code FROM grid g JOIN grid_version v ON v.id = "
                "g.version_id AND v.status = 'published' JOIN community c ON c.id = "
                "v.community_id JOIN street s ON s.id = c.street_id WHERE g.code = ANY(:g)"
            ),
            {"g": grids},
        ).all()
    )
    missing = [g for g in grids if g not in rows]
    if missing:
        raise NotFoundError(f"网格不存在 (no such grid): {missing[0]!r}")
    return rows


def check_reach_scope(
    session: Session, principal: Principal, *, grids: list[str] | None, street: str | None
) -> None:
    """A dispatcher may reach its own street (and grids in it) only; an admin any street.
    :class:`PermissionDenied` names the street or grid that is not the caller's."""
    if principal.role == "admin":
        return
    own = principal.street_code
    if principal.role != "dispatcher":
        raise PermissionDenied(f"角色 {principal.role} 无权应急触达 (may not use emergency reach)")
    if not own:
        raise PermissionDenied(
            f"你的账号没有所属街道，不能应急触达 (your account {principal.name!r} has no street; "
            "an admin gives one: wangge users add --street CODE)"
        )
    if street and street != own:
        raise PermissionDenied(
            f"街道 {street} 不归你负责 (street {street} is not yours; yours: {own})"
        )
    for grid, in_street in grid_streets(session, grids or []).items():
        if in_street != own:
            raise PermissionDenied(
                f"网格 {grid} 属于街道 {in_street}，不归你负责 (grid {grid} is in street "
                f"{in_street}, not yours; yours: {own})"
            )


def emergency_reach(
    session: Session,
    principal: Principal,
    *,
    grids: list[str] | None = None,
    street: str | None = None,
    hop_minutes: tuple[float, ...] = (1, 1, 1, 1),
    households_per_minute: float = 30.0,
    target_minutes: float = 5.0,
) -> dict[str, Any]:
    """The fan-out of an instruction: district → street → community → grid (compound grid
    worker) → micro-grid worker or building head → households. ``hop_minutes`` are the
    minutes of the first four hops; a worker then reaches ``households_per_minute`` households
    a minute. Lists households whose micro-grid has no worker who can reach them, and the
    share reached within ``target_minutes`` (the city's 5-minute aim) and within 3 hours.
    Only within the caller's scope (:func:`check_reach_scope`)."""
    if not (grids or street):
        raise InputError("需要 grids 或 street (give grids or street)")
    check_reach_scope(session, principal, grids=grids, street=street)
    if len(hop_minutes) != 4 or any(h < 0 for h in hop_minutes):
        raise InputError(f"hop_minutes 应为 4 个非负数 (four non-negative numbers): {hop_minutes}")
    if households_per_minute <= 0:
        raise InputError(f"households_per_minute 应大于 0 (must be > 0): {households_per_minute}")
    if street:
        grids = street_grids(session, street)
    micro: list[str] = sorted({m for g in grids or [] for m in micro_codes(session, g)})
    rows = session.execute(
        text(
            """
        SELECT h.code, b.code, g.code, cg.code, c.code, c.name, s.code, s.name, s.district
        FROM """
            + HOUSEHOLDS_OF_GRIDS
            + """ JOIN grid cg ON cg.id = g.parent_id
        JOIN community c ON c.id = gv.community_id JOIN street s ON s.id = c.street_id
        WHERE g.code = ANY(:m) ORDER BY g.code, b.code, h.code"""
        ),
        {"m": micro},
    ).all()
    tree, unreachable, times = _fan_out(
        rows, _workers_by_place(session), sum(hop_minutes), households_per_minute
    )
    total = len(rows)
    return {
        "grids": grids,
        "households": total,
        "reachable": total - len(unreachable),
        "unreachable": unreachable[:500],
        "unreachable_count": len(unreachable),
        "within_target": sum(t <= target_minutes for t in times),
        "within_target_share": (sum(t <= target_minutes for t in times) / total) if total else None,
        "within_3h_share": (sum(t <= 180 for t in times) / total) if total else None,
        "slowest_minutes": max(times) if times else None,
        "parameters": {
            "hop_minutes": list(hop_minutes),
            "households_per_minute": households_per_minute,
            "target_minutes": target_minutes,
        },
        "tree": tree,
    }


def street_grids(session: Session, street: str) -> list[str]:
    """The community grids (current versions) of a street; an unknown street is a 404."""
    ok = session.execute(text("SELECT 1 FROM street WHERE code = :s"), {"s": street}).first()
    if not ok:
        raise NotFoundError(f"街道不存在 (no such street): {street!r}")
    return list(
        session.execute(
            text(
                "SELECT g.code FROM grid g JOIN grid_version v ON v.id = g.version_id AND "
                "v.status = 'published' JOIN community c ON c.id = v.community_id JOIN street s "
                "ON s.id = c.street_id WHERE s.code = :s AND g.level = 'community'"
            ),
            {"s": street},
        ).scalars()
    )


def _workers_by_place(session: Session) -> dict[str, list[str]]:
    """Worker codes by the grid code and the building code they serve."""
    workers: dict[str, list[str]] = {}
    for code, grid_code, building in session.execute(
        text("SELECT code, grid_code, building_code FROM worker")
    ):
        for k in (grid_code, building):
            if k:
                workers.setdefault(k, []).append(code)
    return workers


def _fan_out(
    rows: Sequence[Sequence[Any]],
    workers: dict[str, list[str]],
    base: float,
    households_per_minute: float,
) -> tuple[dict[str, Any], list[str], list[float]]:
    """The reach tree (district → street → community → compound grid → micro-grid, with its
    workers and counts), the households no worker reaches, and the minutes at which each
    reached household is reached: after the ``base`` minutes of the hops, in the order of its
    worker's queue (the micro-grid's first worker, else the building head)."""
    tree: dict[str, Any] = {}
    queue: dict[str, int] = {}
    unreachable: list[str] = []
    times: list[float] = []
    for hcode, bcode, mcode, ccode, comm, comm_name, scode, sname, district in rows:
        serving = workers.get(mcode) or workers.get(bcode)
        who = serving[0] if serving else None
        node = (
            tree.setdefault(district, {})
            .setdefault(f"{scode} {sname}", {})
            .setdefault(f"{comm} {comm_name}", {})
            .setdefault(ccode, {})
            .setdefault(
                mcode,
                {
                    "workers": sorted(set(workers.get(mcode, [])) | set(workers.get(bcode, []))),
                    "households": 0,
                    "unreachable": 0,
                },
            )
        )
        node["households"] += 1
        if who is None:
            node["unreachable"] += 1
            unreachable.append(hcode)
            continue
        queue[who] = queue.get(who, 0) + 1
        times.append(base + queue[who] / households_per_minute)
    return tree, unreachable, times
