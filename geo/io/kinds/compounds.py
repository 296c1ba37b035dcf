"""Importing compounds (小区/院落): inside their community, no overlaps."""

from __future__ import annotations

import numpy as np
from sqlalchemy.orm import Session

from geo.errors import RowProblem
from geo.io.checks.overlaps import check_overlaps, stored_areas
from geo.io.checks.parents import COMMUNITY, check_inside, parent_geoms, require_communities
from geo.io.kinds.handler import KindHandler, Prepared, Rows
from geo.io.write import copy_rows
from geo.settings import get_settings
from geo.store.layers import LayerSpec
from geo.store.wkb import ewkb

__all__ = ["COMPOUNDS"]


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
    stored = stored_areas(session, "compound", "boundary", geoms)
    check_overlaps(geoms, rows, spec, stored, problems, what="小区 compound")
    return Prepared(communities=comms)


def _write(session: Session, rows: Rows, geoms: np.ndarray, found: Prepared) -> dict[str, int]:
    comms = found.communities
    copy_rows(
        session,
        "compound",
        ["code", "name", "address", "community_id", "boundary"],
        (
            [r["code"], r["name"], r.get("address"), comms[r["community_code"]][0], g]
            for r, g in zip(rows, ewkb(geoms), strict=True)
        ),
    )
    return {}


COMPOUNDS = KindHandler(_prepare, _write)
