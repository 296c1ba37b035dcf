"""Importing communities (社区): no overlaps; their streets (街道) are created as named."""

from __future__ import annotations

from typing import Any

import numpy as np
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import RowProblem
from geo.io.checks.overlaps import check_overlaps, stored_areas
from geo.io.checks.parents import COMMUNITY
from geo.io.kinds.handler import KindHandler, Prepared, Rows
from geo.io.write import copy_rows, ids_by_code
from geo.store.layers import LayerSpec
from geo.store.wkb import ewkb

__all__ = ["COMMUNITIES"]


def _prepare(
    rows: Rows, geoms: np.ndarray, session: Session, spec: LayerSpec, problems: list[RowProblem]
) -> Prepared:
    stored = stored_areas(session, "community", "boundary", geoms)
    check_overlaps(geoms, rows, spec, stored, problems, what=COMMUNITY)
    return Prepared()


def _write(session: Session, rows: Rows, geoms: np.ndarray, found: Prepared) -> dict[str, int]:
    streets: dict[str, dict[str, Any]] = {}
    for r in rows:
        streets.setdefault(r["street_code"], r)
    for code, r in streets.items():
        session.execute(
            text(
                "INSERT INTO street (code, name, district, city) VALUES (:c, :n, :d, "
                "COALESCE(:city, '成都市')) ON CONFLICT (code) DO NOTHING"
            ),
            {"c": code, "n": r["street_name"], "d": r["district"], "city": r.get("city")},
        )
    sid = ids_by_code(session, "street", list(streets))
    copy_rows(
        session,
        "community",
        ["code", "name", "street_id", "boundary"],
        (
            [r["code"], r["name"], sid[r["street_code"]], g]
            for r, g in zip(rows, ewkb(geoms), strict=True)
        ),
    )
    return {}


COMMUNITIES = KindHandler(_prepare, _write)
