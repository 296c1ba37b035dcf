"""Importing incidents (事件): inside their community when one is named; ``reported_at`` as an
ISO 8601 time (Asia/Shanghai when it has no offset); each gets its first event (``import``)
and, when named, its reporter (personal data, ``incident_reporter``)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy.orm import Session

from geo.errors import RowProblem
from geo.io.checks.parents import COMMUNITY, check_inside, parent_geoms, require_communities
from geo.io.kinds.handler import KindHandler, Prepared, Rows
from geo.io.write import copy_rows, ids_by_code
from geo.settings import get_settings
from geo.store.layers import LayerSpec
from geo.store.wkb import ewkb

__all__ = ["INCIDENTS"]

TZ = ZoneInfo("Asia/Shanghai")
COLUMNS = [
    "code",
    "category",
    "description",
    "address",
    "status",
    "reported_at",
    "updated_at",
    "community_id",
    "position",
]


def _prepare(
    rows: Rows, geoms: np.ndarray, session: Session, spec: LayerSpec, problems: list[RowProblem]
) -> Prepared:
    comms = require_communities(rows, spec, session, problems)
    check_inside(
        geoms,
        parent_geoms(rows, "community_code", comms),
        rows,
        spec,
        problems,
        what=COMMUNITY,
        tolerance_m=get_settings().parent_tolerance_m,
    )
    for i, r in enumerate(rows):
        if not r.get("reported_at"):
            continue
        try:
            t = datetime.fromisoformat(r["reported_at"])
        except ValueError:
            problems.append(
                RowProblem(
                    i,
                    r.get("code"),
                    "reported_at",
                    f"时间格式错误 (not an ISO 8601 time): {r['reported_at']!r}",
                    reason="bad_value",
                )
            )
            continue
        r["reported_at"] = t if t.tzinfo else t.replace(tzinfo=TZ)
    return Prepared(communities=comms)


def _write(session: Session, rows: Rows, geoms: np.ndarray, found: Prepared) -> dict[str, int]:
    comms = found.communities
    now = datetime.now(TZ)
    copy_rows(
        session,
        "incident",
        COLUMNS,
        (
            [
                r["code"],
                r["category"],
                r["description"],
                r.get("address"),
                r.get("status") or "reported",
                r.get("reported_at") or now,
                now,
                comms[r["community_code"]][0] if r.get("community_code") else None,
                g,
            ]
            for r, g in zip(rows, ewkb(geoms), strict=True)
        ),
    )
    iid = ids_by_code(session, "incident", [r["code"] for r in rows])
    copy_rows(
        session,
        "incident_event",
        ["incident_id", "at", "actor", "to_status", "note"],
        (
            [
                iid[r["code"]],
                r.get("reported_at") or now,
                "import",
                r.get("status") or "reported",
                "导入 (imported)",
            ]
            for r in rows
        ),
    )
    personal = ("reporter_name", "reporter_phone", "reporter_email")
    reporters = [r for r in rows if any(r.get(k) for k in personal)]
    if reporters:
        copy_rows(
            session,
            "incident_reporter",
            ["incident_id", "name", "phone", "email"],
            ([iid[r["code"]], *(r.get(k) for k in personal)] for r in reporters),
        )
    return {}


INCIDENTS = KindHandler(_prepare, _write)
