"""Importing service facilities (服务场所) and open resources (开放资源): points, each
optionally in a stored community."""

from __future__ import annotations

import numpy as np
from sqlalchemy.orm import Session

from geo.io.kinds.handler import KindHandler, Prepared, Rows, in_community
from geo.io.write import copy_rows
from geo.store.layers import get_layer
from geo.store.wkb import ewkb

__all__ = ["FACILITIES", "RESOURCES"]


def _point_layer(kind: str) -> KindHandler:
    """The handler of a point layer whose table has its attributes' columns (the community as
    ``community_id``)."""

    def write(session: Session, rows: Rows, geoms: np.ndarray, found: Prepared) -> dict[str, int]:
        comms = found.communities
        spec = get_layer(kind)
        cols = [a.name for a in spec.attrs if a.name != "community_code"]
        copy_rows(
            session,
            spec.table,
            [*cols, "community_id", "position"],
            (
                [
                    *(r.get(c) for c in cols),
                    comms[r["community_code"]][0] if r.get("community_code") else None,
                    g,
                ]
                for r, g in zip(rows, ewkb(geoms), strict=True)
            ),
        )
        return {}

    return KindHandler(in_community, write)


FACILITIES = _point_layer("facilities")
RESOURCES = _point_layer("resources")
