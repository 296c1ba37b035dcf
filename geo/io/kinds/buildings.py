"""Importing buildings (楼栋): in their compound (or, without one, their community), not
astride compounds, no overlaps; units and their households (``unit_households``, or spread
evenly)."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

import numpy as np
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.core.crs import to_metric
from geo.errors import RowProblem
from geo.io.checks.overlaps import check_overlaps, stored_areas
from geo.io.checks.parents import (
    COMMUNITY,
    Found,
    check_inside,
    lookup,
    parent_geoms,
    require_communities,
    require_parent,
)
from geo.io.kinds.handler import KindHandler, Prepared, Rows
from geo.io.write import copy_rows, ids_by_code
from geo.settings import get_settings
from geo.store.layers import LayerSpec
from geo.store.wkb import ewkb

__all__ = ["BUILDINGS"]

COMPOUND = "小区 compound"
COLUMNS = [
    "code",
    "name",
    "address",
    "use",
    "community_id",
    "compound_id",
    "floors",
    "units",
    "households",
    "footprint",
]


def _prepare(
    rows: Rows, geoms: np.ndarray, session: Session, spec: LayerSpec, problems: list[RowProblem]
) -> Prepared:
    comms = require_communities(rows, spec, session, problems)
    comps = lookup(session, "compound", "boundary", (r.get("compound_code") for r in rows))
    require_parent(rows, spec, "compound_code", comps, problems, COMPOUND)
    _check_compound_community(rows, session, list(comps), problems)
    tolerance = get_settings().parent_tolerance_m
    check_inside(
        geoms,
        parent_geoms(rows, "compound_code", comps),
        rows,
        spec,
        problems,
        what=COMPOUND,
        tolerance_m=tolerance,
    )
    no_compound = [
        None if r.get("compound_code") else g
        for r, g in zip(rows, parent_geoms(rows, "community_code", comms), strict=True)
    ]
    check_inside(geoms, no_compound, rows, spec, problems, what=COMMUNITY, tolerance_m=tolerance)
    _check_compounds_around(
        rows, geoms, stored_areas(session, "compound", "boundary", geoms), problems
    )
    stored = stored_areas(session, "building", "footprint", geoms)
    check_overlaps(geoms, rows, spec, stored, problems, what="楼栋 building")
    counts = {i: c for i, r in enumerate(rows) if (c := _unit_counts(i, r, problems)) is not None}
    return Prepared(communities=comms, compounds=comps, unit_counts=counts)


def _check_compound_community(
    rows: Rows, session: Session, compounds: list[str], problems: list[RowProblem]
) -> None:
    """The compound named must belong to the community named."""
    comp_comm: dict[str, str] = {
        str(p): str(c)
        for p, c in session.execute(
            text(
                "SELECT p.code, c.code FROM compound p JOIN community c ON c.id = p.community_id "
                "WHERE p.code = ANY(:codes)"
            ),
            {"codes": compounds},
        ).all()
    }
    for i, r in enumerate(rows):
        cc = r.get("compound_code")
        if cc in comp_comm and r.get("community_code") and comp_comm[cc] != r["community_code"]:
            problems.append(
                RowProblem(
                    i,
                    r.get("code"),
                    "compound_code",
                    f"小区 {cc!r} 属于社区 {comp_comm[cc]!r}，不是 {r['community_code']!r} "
                    f"(compound belongs to community {comp_comm[cc]!r})",
                    reason="wrong_parent",
                )
            )


def _check_compounds_around(
    rows: Rows, geoms: np.ndarray, stored: Found, problems: list[RowProblem]
) -> None:
    """A building may not lie astride stored compounds, nor inside one it does not name."""
    if not stored:
        return
    cnames = list(stored)
    cm = to_metric(np.array([stored[c][1] for c in cnames], dtype=object))
    tree = shapely.STRtree(cm)
    for i, g in enumerate(geoms):
        if g is None:
            continue
        gm = to_metric(np.array([g], dtype=object))[0]
        hits = tree.query(gm, predicate="intersects")
        shares = {
            cnames[h]: shapely.area(shapely.intersection(gm, cm[h])) / max(gm.area, 1e-9)
            for h in hits
        }
        shares = {c: v for c, v in shares.items() if v > 0.01}
        if len(shares) > 1:
            desc = ", ".join(f"{c} {v:.0%}" for c, v in sorted(shares.items()))
            problems.append(
                RowProblem(
                    i,
                    rows[i].get("code"),
                    "geometry",
                    f"楼栋跨越多个小区 (building astride compounds): {desc}; "
                    "请修正边界或楼栋 (fix the boundary or the footprint)",
                    reason="astride_compounds",
                )
            )
        elif shares and not rows[i].get("compound_code"):
            ((c, v),) = shares.items()
            problems.append(
                RowProblem(
                    i,
                    rows[i].get("code"),
                    "compound_code",
                    f"楼栋位于小区 {c!r} 内 ({v:.0%})，但未填写 compound_code "
                    f"(building lies in compound {c!r} but compound_code is empty)",
                    reason="compound_missing",
                )
            )


def _unit_counts(i: int, r: dict[str, Any], problems: list[RowProblem]) -> list[int] | None:
    """The households of each unit of row ``i``: as ``unit_households`` lists them (which
    must add up), or spread evenly; None when the row lacks the numbers or they are wrong."""
    if r.get("units") is None or r.get("households") is None:
        return None
    units, total = r["units"], r["households"]
    if not r.get("unit_households"):
        base, extra = divmod(total, units)
        return [base + (1 if u < extra else 0) for u in range(units)]
    parts = [p for p in re.split(r"[,，;；\s]+", r["unit_households"]) if p]
    try:
        counts = [int(unicodedata.normalize("NFKC", p)) for p in parts]
    except ValueError:
        problems.append(
            RowProblem(
                i,
                r.get("code"),
                "unit_households",
                f"应为逗号分隔的整数 (expected comma-separated integers): {r['unit_households']!r}",
                reason="unit_households",
            )
        )
        return None
    if len(counts) != units or sum(counts) != total or min(counts) < 0:
        problems.append(
            RowProblem(
                i,
                r.get("code"),
                "unit_households",
                f"{r['unit_households']!r} 应为 {units} 个单元、合计 {total} 户 "
                f"(must list {units} units summing to {total} households)",
                reason="unit_households",
            )
        )
        return None
    return counts


def _write(session: Session, rows: Rows, geoms: np.ndarray, found: Prepared) -> dict[str, int]:
    comms, comps = found.communities, found.compounds
    copy_rows(
        session,
        "building",
        COLUMNS,
        (
            [
                r["code"],
                r["name"],
                r.get("address"),
                r.get("use") or "residential",
                comms[r["community_code"]][0],
                comps[r["compound_code"]][0] if r.get("compound_code") else None,
                r["floors"],
                r["units"],
                r["households"],
                g,
            ]
            for r, g in zip(rows, ewkb(geoms), strict=True)
        ),
    )
    bid = ids_by_code(session, "building", [r["code"] for r in rows])
    units = copy_rows(
        session,
        "building_unit",
        ["building_id", "unit_no", "floors", "households"],
        (
            [bid[r["code"]], u + 1, r["floors"], n]
            for i, r in enumerate(rows)
            for u, n in enumerate(found.unit_counts[i])
        ),
    )
    return {"units": units}


BUILDINGS = KindHandler(_prepare, _write)
