"""Checks of rows against the stored rows they name: the parent exists, and the row's
geometry lies within the parent's (in metres, with a tolerance)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.core.crs import to_metric
from geo.errors import RowProblem
from geo.store.layers import LayerSpec

__all__ = ["Found", "check_inside", "lookup", "require_communities", "require_parent"]

# code → (id, storage geometry or None): the stored rows a file's rows name
Found = dict[str, tuple[int, BaseGeometry | None]]

COMMUNITY = "社区 community"


def lookup(
    session: Session, table: str, geom_col: str | None, codes: Iterable[str | None]
) -> Found:
    """code → (id, storage geometry or None) for the given codes of ``table``."""
    wanted = sorted({c for c in codes if c})
    if not wanted:
        return {}
    geo_sql = f", ST_AsBinary({geom_col})" if geom_col else ", NULL"
    res = session.execute(
        text(f"SELECT code, id{geo_sql} FROM {table} WHERE code = ANY(:codes)"), {"codes": wanted}
    ).all()
    return {
        code: (ident, shapely.from_wkb(bytes(wkb)) if wkb is not None else None)
        for code, ident, wkb in res
    }


def require_parent(
    rows: Sequence[dict[str, Any]],
    spec: LayerSpec,
    field_name: str,
    parents: dict[str, Any],
    problems: list[RowProblem],
    label: str,
) -> None:
    """Every code in ``field_name`` names a stored parent (one of ``parents``)."""
    for i, r in enumerate(rows):
        code = r.get(field_name)
        if code and code not in parents:
            problems.append(
                RowProblem(
                    i,
                    r.get(spec.key),
                    field_name,
                    f"{label} {code!r} 不存在 (no such {label}); 请先导入 (import it first)",
                    reason="unknown_parent",
                )
            )


def require_communities(
    rows: Sequence[dict[str, Any]], spec: LayerSpec, session: Session, problems: list[RowProblem]
) -> Found:
    """The communities the rows name (``community_code``), each one required to exist."""
    comms = lookup(session, "community", "boundary", (r.get("community_code") for r in rows))
    require_parent(rows, spec, "community_code", comms, problems, COMMUNITY)
    return comms


def parent_geoms(rows: Sequence[dict[str, Any]], field_name: str, found: Found) -> list[Any]:
    """Per row, the geometry of the parent named in ``field_name`` (None when none is)."""
    return [found.get(r.get(field_name) or "", (None, None))[1] for r in rows]


def check_inside(
    geoms: np.ndarray,
    parents: Sequence[Any],
    rows: Sequence[dict[str, Any]],
    spec: LayerSpec,
    problems: list[RowProblem],
    *,
    what: str,
    tolerance_m: float,
) -> None:
    """Each geometry must lie within its parent (buffered by ``tolerance_m``), in metres."""
    pairs = [
        (i, g, p)
        for i, (g, p) in enumerate(zip(geoms, parents, strict=True))
        if g is not None and p is not None
    ]
    if not pairs:
        return
    ii, gg, pp = zip(*pairs, strict=True)
    gm = to_metric(np.array(gg, dtype=object))
    pm = to_metric(np.array(pp, dtype=object))
    inside = shapely.covers(shapely.buffer(pm, tolerance_m), gm)
    for k in np.flatnonzero(~inside):
        out = shapely.difference(gm[k], pm[k])
        detail = (
            f"超出面积 {shapely.area(out):.1f} m²"
            if shapely.area(gm[k]) > 0
            else f"距离 {shapely.distance(gm[k], pm[k]):.1f} m"
        )
        problems.append(
            RowProblem(
                ii[k],
                rows[ii[k]].get(spec.key),
                "geometry",
                f"不在所属{what}范围内 (outside its {what}; {detail}, tolerance {tolerance_m} m)",
                reason="outside_parent",
            )
        )
