"""多格合一: merging departmental grid layers (public order, city management, livelihood …)
with the unified micro-grids.

Given one community and several departmental layers (polygons with a code each):

* **crosswalk** — for each departmental grid, the unified micro-grids it overlaps, with
  their share of its households (by household position) and of its area;
* **conflicts** — households whose departmental grid differs from the one most households of
  their unified micro-grid are in, for one department or more (the departments' boundaries
  cut through the unified grid there); each names the departments and grids involved;
* **proposal** — a unified micro-grid layer from the partitioner that keeps apart the
  buildings every department separates (the departments' boundaries where they agree),
  written as a new draft plan for the planner to check, edit and publish.

A building belongs to the departmental grid holding most of its footprint; a household to
the one covering its position.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.core.crs import to_metric
from geo.errors import GeometryError, InputError, NotFoundError
from geo.partition import CommunityInput, pipeline
from geo.settings import band
from geo.store.versions import load_community, write_version

__all__ = ["merge_departments", "read_layer"]


def read_layer(layer: dict[str, Any]) -> tuple[str, list[str], np.ndarray]:
    """(department, codes, geometries in the storage CRS) of one departmental layer given
    as ``{"department", "features": FeatureCollection, "crs", "code_field"}``. Every bad
    feature is named by department and row."""
    from geo.plans import parse_drawn

    dept = str(layer.get("department") or "").strip()
    if not dept:
        raise InputError("部门图层缺少 department 名称 (a layer without a department name)")
    fc = layer.get("features") or {}
    feats = fc.get("features") if isinstance(fc, dict) else None
    if not isinstance(feats, list) or not feats:
        raise InputError(f"{dept}: 图层没有要素 (the layer has no features)")
    field = layer.get("code_field") or "code"
    named = (
        fc.get("crs", {}).get("properties", {}).get("name")
        if isinstance(fc.get("crs"), dict)
        else None
    )
    crs = layer.get("crs") or named
    codes, geoms, seen = [], [], set()
    for i, f in enumerate(feats, 1):
        props = (f or {}).get("properties") or {}
        code = str(props.get(field) or "").strip()
        where = f"{dept} 第 {i} 个要素 (feature {i})"
        if not code:
            raise InputError(f"{where}: 缺少编码字段 {field!r} (no {field!r})")
        if code in seen:
            raise InputError(f"{where}: 编码重复 (duplicate code) {code!r}")
        seen.add(code)
        try:
            g = parse_drawn((f or {}).get("geometry"), crs, kinds=("Polygon", "MultiPolygon"))
        except GeometryError as exc:
            raise GeometryError(f"{where} [{code}]: {exc.message}") from exc
        codes.append(code)
        geoms.append(g)
    return dept, codes, np.asarray(geoms, dtype=object)


def _point_owner(points: np.ndarray, polys: np.ndarray) -> np.ndarray:
    """Index of the polygon covering each point, -1 when none (the first when several)."""
    out = np.full(len(points), -1, dtype=np.int64)
    if len(points) == 0 or len(polys) == 0:
        return out
    tree = shapely.STRtree(polys)
    pi, gi = tree.query(points, predicate="covered_by")
    order = np.lexsort((gi, pi))
    pi, gi = pi[order], gi[order]
    first = np.r_[True, pi[1:] != pi[:-1]] if len(pi) else np.array([], dtype=bool)
    out[pi[first]] = gi[first]
    return out


def _area_owner(shapes: np.ndarray, polys: np.ndarray) -> np.ndarray:
    """Index of the polygon holding most of each shape's area, -1 when none."""
    out = np.full(len(shapes), -1, dtype=np.int64)
    if len(shapes) == 0 or len(polys) == 0:
        return out
    tree = shapely.STRtree(polys)
    si, gi = tree.query(shapes, predicate="intersects")
    if len(si) == 0:
        return out
    a = shapely.area(shapely.intersection(shapes[si], polys[gi]))
    best = np.zeros(len(shapes))
    for s, g, v in zip(si, gi, a, strict=True):
        if v > best[s]:
            best[s], out[s] = v, g
    return out


def merge_departments(
    session: Session,
    community: str,
    layers: Sequence[dict[str, Any]],
    *,
    propose: bool = True,
    seed: int = 0,
    actor: str = "cli",
) -> dict[str, Any]:
    """Crosswalk, conflicts and (with ``propose``) a proposed unified layer as a new draft
    plan; see the module docstring."""
    cid = session.execute(
        text("SELECT id FROM community WHERE code = :c"), {"c": community}
    ).scalar()
    if cid is None:
        raise NotFoundError(f"社区不存在 (no such community): {community!r}")
    parsed = [read_layer(dict(layer)) for layer in layers]
    names = [p[0] for p in parsed]
    if len(set(names)) != len(names):
        raise InputError(f"部门名称重复 (duplicate department names): {names}")
    unified = _Unified.load(session, community, cid)
    crosswalk: list[dict[str, Any]] = []
    dept_of_household: dict[str, np.ndarray] = {}
    for dept, codes, geoms in parsed:
        polys = to_metric(geoms)
        dept_of_household[dept] = _point_owner(unified.hpts, polys)
        crosswalk += _crosswalk(dept, codes, polys, dept_of_household[dept], unified)
    dept_codes = {dept: codes for dept, codes, _ in parsed}
    conflict_list = _conflicts(dept_of_household, dept_codes, unified)
    out: dict[str, Any] = {
        "community": community,
        "departments": names,
        "crosswalk": crosswalk,
        "conflicts": conflict_list,
        "summary": {
            "departmental_grids": len(crosswalk),
            "unified_grids": len(unified.codes),
            "households": len(unified.hcodes),
            "households_in_conflict": len(conflict_list),
            "households_in_conflict_with_2_or_more": sum(
                1 for c in conflict_list if c["disagreeing"] >= 2
            ),
        },
    }
    if propose:
        out["proposal"] = _propose(session, community, cid, parsed, seed=seed, actor=actor)
    return out


@dataclass
class _Unified:
    """The community's current micro-grids (metric) and its households: their codes, their
    micro-grid (None: in none) and positions (metric)."""

    codes: list[str]
    polys: np.ndarray
    hcodes: list[str]
    hgrid: list[str | None]
    hpts: np.ndarray

    @classmethod
    def load(cls, session: Session, community: str, cid: int) -> _Unified:
        grid_rows = session.execute(
            text(
                "SELECT g.code, ST_AsBinary(g.boundary) FROM grid g JOIN grid_version v ON "
                "v.id = g.version_id AND v.status = 'published' WHERE v.community_id = :c AND "
                "g.level = 'micro' ORDER BY g.code"
            ),
            {"c": cid},
        ).all()
        if not grid_rows:
            raise NotFoundError(f"社区 {community} 还没有现行网格 (no current grids)")
        hh_rows = session.execute(
            text(
                "SELECT h.code, g.code, ST_AsBinary(h.position), bd.code FROM household h JOIN "
                "building bd ON bd.id = h.building_id LEFT JOIN grid g ON g.id = h.grid_id "
                "WHERE bd.community_id = :c ORDER BY h.code"
            ),
            {"c": cid},
        ).all()
        return cls(
            [r[0] for r in grid_rows],
            to_metric(shapely.from_wkb([bytes(r[1]) for r in grid_rows])),
            [r[0] for r in hh_rows],
            [r[1] for r in hh_rows],
            to_metric(shapely.from_wkb([bytes(r[2]) for r in hh_rows])),
        )


def _crosswalk(
    dept: str, codes: list[str], polys: np.ndarray, owner: np.ndarray, unified: _Unified
) -> list[dict[str, Any]]:
    """For each grid of one department, the unified micro-grids it overlaps, with their
    share of its households and of its area."""
    tree = shapely.STRtree(unified.polys)
    uarea = shapely.area(unified.polys)
    out = []
    for j, (code, poly) in enumerate(zip(codes, polys, strict=True)):
        mine = np.flatnonzero(owner == j)
        total_area = float(shapely.area(poly))
        counts = Counter(unified.hgrid[i] for i in mine)
        rows = []
        for u in tree.query(poly, predicate="intersects"):
            a = float(shapely.area(shapely.intersection(poly, unified.polys[u])))
            n = counts.get(unified.codes[u], 0)
            if a < 1.0 and n == 0:
                continue
            rows.append(
                {
                    "grid": unified.codes[u],
                    "households": n,
                    "household_share": round(n / len(mine), 4) if len(mine) else 0.0,
                    "area_m2": round(a, 1),
                    "area_share": round(a / total_area, 4) if total_area else 0.0,
                    "share_of_grid_area": round(a / float(uarea[u]), 4),
                }
            )
        rows.sort(key=lambda x: (-x["households"], -x["area_m2"], x["grid"]))
        out.append(
            {
                "department": dept,
                "grid": code,
                "households": len(mine),
                "area_m2": round(total_area, 1),
                "unified": rows,
            }
        )
    return out


def _conflicts(
    dept_of_household: dict[str, np.ndarray],
    dept_codes: dict[str, list[str]],
    unified: _Unified,
) -> list[dict[str, Any]]:
    """Households whose departmental grid is not the one most of their unified grid's
    households are in, by household code, each with the departments that disagree."""
    conflicts: dict[str, dict[str, Any]] = {}
    by_unified: dict[str | None, list[int]] = defaultdict(list)
    for i, g in enumerate(unified.hgrid):
        by_unified[g].append(i)
    for dept, owner in dept_of_household.items():
        codes = dept_codes[dept]
        for ugrid, members in by_unified.items():
            if ugrid is None:
                continue
            votes = Counter(int(owner[i]) for i in members)
            majority, _ = max(votes.items(), key=lambda kv: (kv[1], -kv[0]))
            if len(votes) == 1:
                continue
            for i in (i for i in members if owner[i] != majority):
                hcode = unified.hcodes[i]
                c = conflicts.setdefault(
                    hcode, {"household": hcode, "unified_grid": ugrid, "departments": {}}
                )
                c["departments"][dept] = {
                    "grid": codes[owner[i]] if owner[i] >= 0 else None,
                    "majority": codes[majority] if majority >= 0 else None,
                }
    conflict_list = sorted(conflicts.values(), key=lambda c: c["household"])
    for c in conflict_list:
        c["disagreeing"] = len(c["departments"])
    return conflict_list


def _separator(
    inp: CommunityInput, parsed: list[tuple[str, list[str], np.ndarray]]
) -> Callable[[str, str], bool]:
    """``separate(a, b)``: every department that has both buildings a and b puts them in
    different grids (and at least one has both)."""
    fps = np.asarray([b.footprint for b in inp.buildings], dtype=object)
    owners = {dept: _area_owner(fps, to_metric(geoms)) for dept, _, geoms in parsed}
    index = {b.code: i for i, b in enumerate(inp.buildings)}

    def separate(a: str, b: str) -> bool:
        ia, ib = index[a], index[b]
        opinions = [o[ia] != o[ib] for o in owners.values() if o[ia] >= 0 and o[ib] >= 0]
        return bool(opinions) and all(opinions)

    return separate


def _propose(
    session: Session,
    community: str,
    cid: int,
    parsed: list[tuple[str, list[str], np.ndarray]],
    *,
    seed: int,
    actor: str,
) -> dict[str, Any]:
    """A unified layer that keeps apart the buildings every department separates, as a new
    draft plan, in the band of the current version."""
    from geo.plans import attach_plan

    inp = load_community(session, community)
    separate = _separator(inp, parsed)
    params = (
        session.execute(
            text(
                "SELECT params FROM grid_version WHERE community_id = :c AND status = 'published'"
            ),
            {"c": cid},
        ).scalar()
        or {}
    )
    lo, hi = band(params.get("min"), params.get("max"))
    result, report = pipeline.run(
        inp,
        band=(lo, hi),
        seed=seed,
        separate=separate,
        params={"min": lo, "max": hi, "seed": seed, "departments": [p[0] for p in parsed]},
    )
    if not report.ok:  # never expected: the partitioner's output is valid by construction
        raise InputError(
            "合并方案未通过校验 (the proposed layer failed validation): "
            + "; ".join(f.message for f in report.errors[:5])
        )
    crossing = 0
    for m in result.micro:
        bs = sorted({a.building for a in m.atoms if a.households > 0})
        crossing += any(separate(a, b) for i, a in enumerate(bs) for b in bs[i + 1 :])
    vid = write_version(session, cid, result, actor=actor, source="plan", status="draft")
    plan = attach_plan(
        session,
        community,
        vid,
        author=actor,
        name=f"多格合一方案 ({' + '.join(p[0] for p in parsed)})",
    )
    summary = result.summary()
    return {
        "plan": plan["id"],
        "draft_version": plan["draft_version"],
        "micro_grids": summary["micro_grids"],
        "in_band": summary["in_band"],
        "grids_across_an_agreed_boundary": int(crossing),
        "warnings": len(report.warnings),
    }
