"""Importing grid workers (网格员): a table without geometry, each in a stored community."""

from __future__ import annotations

import numpy as np
from sqlalchemy.orm import Session

from geo.io.kinds.handler import KindHandler, Prepared, Rows, in_community
from geo.io.write import copy_rows

__all__ = ["WORKERS"]

COLUMNS = [
    "code",
    "name",
    "role",
    "phone",
    "public_phone",
    "community_id",
    "grid_code",
    "building_code",
    "party_member",
]


def _write(session: Session, rows: Rows, geoms: np.ndarray, found: Prepared) -> dict[str, int]:
    comms = found.communities
    copy_rows(
        session,
        "worker",
        COLUMNS,
        (
            [
                r["code"],
                r["name"],
                r["role"],
                r.get("phone"),
                True if r.get("public_phone") is None else r["public_phone"],
                comms[r["community_code"]][0],
                r.get("grid_code"),
                r.get("building_code"),
                bool(r.get("party_member")),
            ]
            for r in rows
        ),
    )
    return {}


WORKERS = KindHandler(in_community, _write)
