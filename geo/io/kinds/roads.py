"""Importing roads (道路): lines, nothing to check against what is stored."""

from __future__ import annotations

import numpy as np
from sqlalchemy.orm import Session

from geo.errors import RowProblem
from geo.io.kinds.handler import KindHandler, Prepared, Rows
from geo.io.write import copy_rows
from geo.store.layers import LayerSpec
from geo.store.wkb import ewkb

__all__ = ["ROADS"]


def _prepare(
    rows: Rows, geoms: np.ndarray, session: Session, spec: LayerSpec, problems: list[RowProblem]
) -> Prepared:
    return Prepared()


def _write(session: Session, rows: Rows, geoms: np.ndarray, found: Prepared) -> dict[str, int]:
    copy_rows(
        session,
        "road",
        ["code", "name", "kind", "geom"],
        ([r["code"], r.get("name"), r["kind"], g] for r, g in zip(rows, ewkb(geoms), strict=True)),
    )
    return {}


ROADS = KindHandler(_prepare, _write)
