"""Validating a set of grids: nesting, coverage, contiguity, size band, every household once.

Used on a fresh partition before it is written, on a stored version, and on a planner's
draft. Siblings tile their parent with no gap or overlap, except that the micro-grids holding
the floor ranges of one unit split by floors share that unit's cell exactly (floors are not
places): a grid record lists those cells (``cells``), and only there may siblings overlap. Each finding names the grid and the units or households involved, with a
severity: ``error`` (the grids are wrong: a gap, an overlap, a grid in pieces, a household in
no grid or in two) or ``warning`` (legal but worth a look: a micro-grid outside the band).

Geometry must be in a metric CRS; areas are in square metres. The checks one by one
(``check_structure`` … ``check_households``) serve the plan edits' check of touched grids.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import shapely
from shapely import Geometry

from geo.settings import band

__all__ = ["Finding", "GridRecord", "UnitRecord", "ValidationReport", "validate_grids"]

LEVELS = ("community", "compound", "micro")


@dataclass(frozen=True)
class UnitRecord:
    id: int
    building: str
    unit_no: int
    floors: int
    households: int


@dataclass
class GridRecord:
    code: str
    level: str
    parent: str | None
    geometry: Geometry
    households: int
    # (unit id, floor_min, floor_max, households); floors None = the whole unit
    members: list[tuple[int, int | None, int | None, int]] = field(default_factory=list)
    note: str = ""  # e.g. why a compound cannot fill the band
    # unit id → cell of each unit split by floors that the grid holds floors of: the
    # micro-grids holding a unit's floor ranges share its whole cell (floors are not places)
    cells: dict[int, Geometry] = field(default_factory=dict)


@dataclass
class Finding:
    severity: str  # error | warning
    check: str  # structure | nesting | coverage | contiguity | band | households
    grid: str | None
    message: str
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class ValidationReport:
    findings: list[Finding]
    stats: dict[str, Any]

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "stats": self.stats,
            "findings": [asdict(f) for f in self.findings],
        }

    def rows(self) -> list[tuple[str, str, str, str]]:
        """(severity, check, grid, message) for a readable table."""
        return [(f.severity, f.check, f.grid or "-", f.message) for f in self.findings]


def validate_grids(
    grids: Sequence[GridRecord],
    *,
    units: Mapping[int, UnitRecord],
    households: Sequence[tuple[str, int, int | None]] = (),
    min_households: int | None = None,
    max_households: int | None = None,
    tolerance_m2: float = 0.01,
) -> ValidationReport:
    """Check ``grids`` (all levels of one or more communities).

    ``units`` are the building units that must be covered; ``households`` (code, unit id,
    floor), when given, are checked one by one against the floor ranges. Micro-grids outside
    the band (each missing bound from the settings, :func:`geo.settings.band`) are warned of.
    """
    lo, hi = band(min_households, max_households)
    by_code = {g.code: g for g in grids}
    findings, children = check_structure(grids, by_code)
    for g in grids:
        findings += check_contiguity(g)
    for parent_code, kids in children.items():
        findings += check_coverage(by_code[parent_code], kids, tolerance_m2)
    micro = [g for g in grids if g.level == "micro"]
    findings += check_band(micro, lo, hi)
    findings += check_households(micro, units, households)
    sizes = np.array([g.households for g in micro])
    stats = {
        "grids": len(grids),
        "by_level": {lv: sum(1 for g in grids if g.level == lv) for lv in LEVELS},
        "micro_in_band": int(((sizes >= lo) & (sizes <= hi)).sum()),
        "households": int(sizes.sum()),
        "band": [lo, hi],
    }
    return ValidationReport(findings, stats)


def check_structure(
    grids: Sequence[GridRecord], by_code: Mapping[str, GridRecord]
) -> tuple[list[Finding], dict[str, list[GridRecord]]]:
    """Known levels, each grid's parent one level up (a community grid has none); the
    children of each parent that passes."""
    findings: list[Finding] = []
    children: dict[str, list[GridRecord]] = defaultdict(list)

    def wrong(g: GridRecord, message: str) -> None:
        findings.append(Finding("error", "structure", g.code, message))

    for g in grids:
        if g.level not in LEVELS:
            wrong(g, f"未知层级 (unknown level) {g.level!r}")
            continue
        if g.level == "community":
            if g.parent is not None:
                wrong(g, "社区网格不应有上级 (a community grid has no parent)")
            continue
        parent = by_code.get(g.parent or "")
        if parent is None:
            wrong(g, f"上级网格不存在 (parent {g.parent!r} does not exist)")
            continue
        expected = LEVELS[LEVELS.index(g.level) - 1]
        if parent.level != expected:
            wrong(
                g,
                f"上级网格层级应为 {expected} (parent level should be "
                f"{expected}, is {parent.level})",
            )
            continue
        children[parent.code].append(g)
    return findings, children


def check_contiguity(g: GridRecord) -> list[Finding]:
    parts = [p for p in shapely.get_parts(g.geometry) if not p.is_empty]
    if g.geometry.is_empty:
        return [Finding("error", "contiguity", g.code, "网格几何为空 (empty grid geometry)")]
    if not shapely.is_valid(g.geometry):
        return [
            Finding(
                "error",
                "contiguity",
                g.code,
                f"几何无效 (invalid geometry): {shapely.is_valid_reason(g.geometry)}",
            )
        ]
    if len(parts) > 1:
        areas = sorted((round(float(p.area), 1) for p in parts), reverse=True)
        return [
            Finding(
                "error",
                "contiguity",
                g.code,
                f"网格分成 {len(parts)} 块 (the grid is in {len(parts)} pieces)",
                {"piece_areas_m2": areas},
            )
        ]
    return []


def check_coverage(parent: GridRecord, kids: list[GridRecord], tol: float) -> list[Finding]:
    out: list[Finding] = []
    geoms = np.asarray([k.geometry for k in kids], dtype=object)
    tol_p = tol + 1e-9 * float(parent.geometry.area)
    # nesting: each child within its parent
    outside = shapely.area(shapely.difference(geoms, parent.geometry))
    for k, a in zip(kids, outside, strict=True):
        if a > tol_p:
            out.append(
                Finding(
                    "error",
                    "nesting",
                    k.code,
                    f"超出上级网格 {parent.code} {a:.2f} m² (sticks out of its parent "
                    f"by {a:.2f} m²)",
                    {"parent": parent.code, "area_m2": float(a)},
                )
            )
    out += _shared_cells(kids, tol_p)
    # overlaps between siblings: none, except the cell of a unit split by floors, which every
    # grid holding some of its floors covers whole. A valid coverage (GEOS: no overlaps, the
    # edges of neighbours matching) has none to look for, pair by pair
    valid = bool(shapely.coverage_is_valid(geoms))
    left, right = ([], []) if valid else shapely.STRtree(geoms).query(geoms, predicate="intersects")
    for i, j in zip(left, right, strict=True):
        if i >= j:
            continue
        both = shapely.intersection(geoms[i], geoms[j])
        shared = sorted(set(kids[i].cells) & set(kids[j].cells))
        if shared and float(shapely.area(both)) > tol_p:
            both = shapely.difference(both, shapely.union_all([kids[i].cells[u] for u in shared]))
        a = float(shapely.area(both))
        if a > tol_p:
            out.append(
                Finding(
                    "error",
                    "coverage",
                    kids[i].code,
                    f"与 {kids[j].code} 重叠 {a:.2f} m² (overlaps {kids[j].code} by {a:.2f} m²)",
                    {"other": kids[j].code, "area_m2": a},
                )
            )
    # gaps
    union = shapely.coverage_union_all(geoms) if valid else shapely.union_all(geoms)
    gap = shapely.difference(parent.geometry, union)
    gap_area = float(shapely.area(gap))
    if gap_area > tol_p:
        where = shapely.get_coordinates(shapely.point_on_surface(gap))[0].round(1).tolist()
        out.append(
            Finding(
                "error",
                "coverage",
                parent.code,
                f"下级网格未覆盖 {gap_area:.2f} m² (its {kids[0].level} grids leave a "
                f"gap of {gap_area:.2f} m²)",
                {"area_m2": gap_area, "at": where},
            )
        )
    return out


def _shared_cells(kids: list[GridRecord], tol: float) -> list[Finding]:
    """A unit split by floors: each grid holding some of its floors covers the unit's cell,
    and they all hold the same cell."""
    out: list[Finding] = []
    first: dict[int, tuple[str, Geometry]] = {}
    claimed = {uid for k in kids for uid in k.cells}
    for k in kids:
        floors_of = {m[0] for m in k.members if m[1] is not None}
        for uid in sorted(set(k.cells) - floors_of):
            out.append(
                Finding(
                    "error",
                    "coverage",
                    k.code,
                    f"声称单元 {uid} 的分层区域但不含其楼层 (claims the cell of unit {uid} "
                    "but holds none of its floors)",
                    {"unit_id": uid},
                )
            )
        for uid in sorted((floors_of & claimed) - set(k.cells)):
            out.append(
                Finding(
                    "error",
                    "coverage",
                    k.code,
                    f"含单元 {uid} 的楼层但未覆盖其区域 (holds floors of unit {uid}, split by "
                    "floors, but not its shared cell)",
                    {"unit_id": uid},
                )
            )
        for uid, cell in sorted(k.cells.items()):
            outside = float(shapely.area(shapely.difference(cell, k.geometry)))
            if outside > tol:
                out.append(
                    Finding(
                        "error",
                        "coverage",
                        k.code,
                        f"未完整覆盖分层单元 {uid} 的区域，差 {outside:.2f} m² (does not cover the "
                        f"cell of unit {uid}, split by floors, by {outside:.2f} m²)",
                        {"unit_id": uid, "area_m2": outside},
                    )
                )
            if uid not in first:
                first[uid] = (k.code, cell)
                continue
            other, seen = first[uid]
            differ = float(shapely.area(shapely.symmetric_difference(cell, seen)))
            if differ > tol:
                out.append(
                    Finding(
                        "error",
                        "coverage",
                        k.code,
                        f"分层单元 {uid} 的区域与 {other} 不一致 {differ:.2f} m² (its cell of unit "
                        f"{uid} differs from {other}'s by {differ:.2f} m²; the floors of one unit "
                        "share one cell)",
                        {"unit_id": uid, "other": other, "area_m2": differ},
                    )
                )
    return out


def check_band(micro: list[GridRecord], lo: int, hi: int) -> list[Finding]:
    out = []
    for g in micro:
        n = sum(m[3] for m in g.members)
        if n != g.households:
            out.append(
                Finding(
                    "error",
                    "households",
                    g.code,
                    f"户数 {g.households} 与所含单元合计 {n} 不符 (household count "
                    f"{g.households} differs from its units' total {n})",
                )
            )
        if not lo <= g.households <= hi:
            why = f" — {g.note}" if g.note else ""
            kind = "不足 (under-filled)" if g.households < lo else "超出 (over-filled)"
            out.append(
                Finding(
                    "warning",
                    "band",
                    g.code,
                    f"{g.households} 户，{kind}，应为 {lo}–{hi} ({g.households} "
                    f"households, outside {lo}-{hi}){why}",
                    {"households": g.households, "band": [lo, hi]},
                )
            )
    return out


# a micro-grid's hold on a unit: (grid code, floor_min, floor_max, households)
_Held = tuple[str, int | None, int | None, int]


def check_households(
    micro: list[GridRecord],
    units: Mapping[int, UnitRecord],
    households: Sequence[tuple[str, int, int | None]],
) -> list[Finding]:
    out: list[Finding] = []
    holders: dict[int, list[_Held]] = defaultdict(list)
    for g in micro:
        for uid, fmin, fmax, n in g.members:
            if uid not in units:
                out.append(
                    Finding(
                        "error",
                        "households",
                        g.code,
                        f"含有不存在的单元 (holds an unknown unit id {uid})",
                    )
                )
                continue
            holders[uid].append((g.code, fmin, fmax, n))
    for uid, unit in units.items():
        out += _unit_held(unit, holders.get(uid, []))
    if households:
        out += _each_household(holders, households)
    return out


def _unit_held(unit: UnitRecord, held: list[_Held]) -> list[Finding]:
    """One unit: in exactly one micro-grid, or its floors each in one; its households all
    counted."""
    name = f"{unit.building} {unit.unit_no}单元"
    if not held:
        if unit.households <= 0:
            return []
        return [
            Finding(
                "error",
                "households",
                None,
                f"{name} 的 {unit.households} 户不在任何微网格 (households of "
                f"{name} are in no micro-grid)",
                {"building": unit.building, "unit_no": unit.unit_no},
            )
        ]
    grids = [h[0] for h in held]
    whole = [h for h in held if h[1] is None]
    if whole and len(held) > 1:
        return [
            Finding(
                "error",
                "households",
                grids[0],
                f"{name} 同时属于 {', '.join(grids)} (unit in several micro-grids)",
                {"grids": grids},
            )
        ]
    out = [] if whole else _floors_held(name, unit, held, grids)
    total = sum(h[3] for h in held)
    if total != unit.households:
        out.append(
            Finding(
                "error",
                "households",
                grids[0],
                f"{name} 有 {unit.households} 户，微网格合计 {total} 户 (unit has "
                f"{unit.households} households, its micro-grids count {total})",
            )
        )
    return out


def _floors_held(name: str, unit: UnitRecord, held: list[_Held], grids: list[str]) -> list[Finding]:
    """A unit split by floors: no floor in two micro-grids; floors in none warned of."""
    out: list[Finding] = []
    ranges = sorted((a, b) for _, a, b, _ in held if a is not None and b is not None)
    covered = [f for a, b in ranges for f in range(a, b + 1)]
    missing = sorted(set(range(1, unit.floors + 1)) - set(covered))
    twice = sorted({f for f in covered if covered.count(f) > 1})
    if twice:
        out.append(
            Finding(
                "error",
                "households",
                grids[0],
                f"{name} 第 {twice} 层在多个微网格 (floors {twice} in several "
                f"micro-grids: {', '.join(grids)})",
                {"grids": grids},
            )
        )
    if missing and len(missing) < unit.floors:
        out.append(
            Finding(
                "warning",
                "households",
                grids[0],
                f"{name} 第 {missing} 层不在任何微网格 (floors {missing} in no "
                "micro-grid; fine when they hold no households)",
            )
        )
    return out


def _holds(h: _Held, floor: int | None) -> bool:
    """The hold ``h`` covers a household on ``floor``: the whole unit, or its floor range."""
    if h[1] is None:
        return True
    return floor is not None and h[2] is not None and h[1] <= floor <= h[2]


def _each_household(
    holders: Mapping[int, list[_Held]],
    households: Sequence[tuple[str, int, int | None]],
) -> list[Finding]:
    none, many = [], []
    for code, uid, floor in households:
        hits = [h[0] for h in holders.get(uid, []) if _holds(h, floor)]
        if not hits:
            none.append(code)
        elif len(hits) > 1:
            many.append((code, hits))
    out = []
    if none:
        out.append(
            Finding(
                "error",
                "households",
                None,
                f"{len(none)} 户不在任何微网格 ({len(none)} households in no "
                f"micro-grid), e.g. {', '.join(none[:5])}",
                {"households": none[:100]},
            )
        )
    if many:
        out.append(
            Finding(
                "error",
                "households",
                many[0][1][0],
                f"{len(many)} 户属于多个微网格 ({len(many)} households in several "
                f"micro-grids), e.g. {many[0][0]} in {many[0][1]}",
                {"households": [c for c, _ in many[:100]]},
            )
        )
    return out
