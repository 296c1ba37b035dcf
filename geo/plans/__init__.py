"""Planner workflow: versioned plans (drafts) of one community's grids, edits, validation,
diffs by household, publishing.

A plan is a draft copy (a ``grid_version`` with status ``draft``) of the community's current
version, with an author and its base version. Every edit runs in one transaction, keeps the
invariants (nesting, coverage with no gaps or overlaps, contiguity, every household in exactly
one micro-grid) or is refused with the reason, and is written to the plan's edit log (with the
micro-grids it replaced, for undo) and to the audit log. Band violations are warnings: a
planner may pass through them between edits. Validation adds the workers' findings.
Publishing makes the draft the current version atomically, refuses a draft whose base is no
longer current, and re-assigns only the households and incidents of the area that changed.

Geometry edits happen in the storage CRS so that untouched vertices stay bit-identical;
checks run in the metric CRS.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import shapely
from shapely import Geometry
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.core.crs import check_lonlat, from_metric, parse_crs, to_metric, transform_geometries
from geo.core.validate import Finding, GridRecord, ValidationReport, validate_grids
from geo.errors import ConflictError, GeometryError, InputError, NotFoundError
from geo.partition import cell_adjacency, make_graph, pipeline, solve_zone, zone_rng
from geo.settings import get_settings
from geo.store.versions import CommunityInput, load_community, load_version, reassign_after

__all__ = [
    "EditRefused",
    "attach_plan",
    "create_plan",
    "diff_versions",
    "discard",
    "get_plan",
    "list_plans",
    "lock",
    "merge_grids",
    "move",
    "plan_grids",
    "plan_report",
    "publish",
    "redraw",
    "repartition",
    "split",
    "undo",
    "validate_plan",
    "versions",
]

TOL_M2 = 0.01  # the validator's tolerance for gaps and overlaps
_UNIT = re.compile(r"^(?P<b>.+)-U(?P<n>\d+)$")


class EditRefused(ConflictError):
    """An edit that would break an invariant; nothing was changed. ``detail`` lists why."""

    code = "edit_refused"


# --- state ----------------------------------------------------------------------------------
@dataclass
class G:
    """A grid of the draft: geometry in the storage CRS."""

    code: str
    level: str
    parent: str | None
    name: str | None
    compound_id: int | None
    households: int
    locked: bool
    geom: Geometry
    members: list[tuple[int, int | None, int | None, int]] = field(default_factory=list)
    dirty: bool = False
    # unit id → cell (storage CRS) of each unit split by floors whose floors the grid holds:
    # it covers that cell whole, as every grid holding the unit's other floors does
    cells: dict[int, Geometry] = field(default_factory=dict)

    def touch(self, geom: Geometry | None = None) -> None:
        if geom is not None:
            self.geom = _clean(geom)
        self.households = sum(m[3] for m in self.members)
        self.dirty = True


def _clean(g: Geometry) -> Geometry:
    """Polygons only, valid, as a MultiPolygon (the column's type)."""
    if not shapely.is_valid(g):
        g = shapely.make_valid(g, method="structure", keep_collapsed=False)
    parts = [p for p in shapely.get_parts(g) if p.geom_type == "Polygon" and not p.is_empty]
    parts += [
        q
        for p in shapely.get_parts(g)
        if p.geom_type in ("MultiPolygon", "GeometryCollection")
        for q in shapely.get_parts(p)
        if q.geom_type == "Polygon"
    ]
    return shapely.MultiPolygon(parts) if parts else shapely.MultiPolygon()


@dataclass
class _Plan:
    id: int
    name: str
    community: str
    community_id: int
    author: str
    status: str
    base_version_id: int | None
    base_number: int | None
    draft_version_id: int
    draft_number: int


class _Context:
    """What the edits need about the community, loaded once per edit, lazily."""

    def __init__(self, session: Session, plan: _Plan) -> None:
        self.session = session
        self.plan = plan
        self._inp: CommunityInput | None = None
        self._cells: dict[int, Geometry] | None = None
        params = session.execute(
            text("SELECT params FROM grid_version WHERE id = :v"), {"v": plan.draft_version_id}
        ).scalar()
        params = params or {}  # the band the grids were partitioned with
        self.lo = int(params.get("min", 30))
        self.hi = int(params.get("max", 50))

    @property
    def inp(self) -> CommunityInput:
        if self._inp is None:
            self._inp = load_community(self.session, self.plan.community)
        return self._inp

    @property
    def footprints(self) -> dict[str, Geometry]:
        """Building code → footprint in the storage CRS."""
        if not hasattr(self, "_fp"):
            rows = self.session.execute(
                text("SELECT code, ST_AsBinary(footprint) FROM building WHERE community_id = :c"),
                {"c": self.plan.community_id},
            ).all()
            self._fp = {r[0]: shapely.from_wkb(bytes(r[1])) for r in rows}
        return self._fp

    @property
    def unit_building(self) -> dict[int, str]:
        return {uid: u.building for uid, u in self.inp.units.items()}

    def units_of(self, refs: Iterable[str]) -> set[int]:
        """Unit ids for building codes or unit codes (``<building>-U<n>``)."""
        by_building: dict[str, list[int]] = defaultdict(list)
        by_unit: dict[tuple[str, int], int] = {}
        for uid, u in self.inp.units.items():
            by_building[u.building].append(uid)
            by_unit[(u.building, u.unit_no)] = uid
        out: set[int] = set()
        for ref in refs:
            ref = str(ref).strip()
            if ref in by_building:
                out.update(by_building[ref])
                continue
            m = _UNIT.match(ref)
            if m and (m["b"], int(m["n"])) in by_unit:
                out.add(by_unit[(m["b"], int(m["n"]))])
                continue
            raise NotFoundError(
                f"楼栋或单元不存在或没有住户 (no such building or unit with households): {ref!r}"
            )
        return out

    @property
    def cells(self) -> dict[int, Geometry]:
        """Unit id → its share of the community (the partitioner's tessellation), in the
        storage CRS."""
        if self._cells is None:
            inp = self.inp
            prep = pipeline.prepare(inp, (self.lo, self.hi))
            parts: dict[int, list[Geometry]] = defaultdict(list)
            for a, c in zip(prep.atoms, prep.cells, strict=True):
                parts[a.unit_id].append(c)
            uids = list(parts)
            metric = [shapely.union_all(parts[u]) for u in uids]
            back = from_metric(np.asarray(metric, dtype=object)) if metric else []
            self._cells = dict(zip(uids, back, strict=True))
            self._prep = prep
        return self._cells


def _plan(session: Session, plan_id: int, *, for_update: bool = False) -> _Plan:
    row = session.execute(
        text(
            "SELECT p.id, p.name, c.code, c.id, p.author, p.status, p.base_version_id, "
            "b.number, p.draft_version_id, d.number FROM plan p JOIN community c ON "
            "c.id = p.community_id JOIN grid_version d ON d.id = p.draft_version_id "
            "LEFT JOIN grid_version b ON b.id = p.base_version_id WHERE p.id = :p"
            + (" FOR UPDATE OF p" if for_update else "")
        ),
        {"p": plan_id},
    ).first()
    if row is None:
        raise NotFoundError(f"方案不存在 (no such plan): {plan_id}")
    return _Plan(*row)


def _editable(plan: _Plan) -> None:
    if plan.status not in ("draft", "validated"):
        raise ConflictError(
            f"方案 {plan.id} 已{_STATUS_ZH.get(plan.status, plan.status)}，不能再修改 "
            f"(plan {plan.id} is {plan.status}; only drafts can be edited)"
        )


_STATUS_ZH = {"published": "发布", "discarded": "放弃", "draft": "是草稿", "validated": "校验"}


def _load(session: Session, vid: int) -> dict[str, G]:
    rows = session.execute(
        text(
            "SELECT g.id, g.code, g.level, p.code, g.name, g.compound_id, g.households, "
            "g.locked, ST_AsBinary(g.boundary) FROM grid g LEFT JOIN grid p ON "
            "p.id = g.parent_id WHERE g.version_id = :v ORDER BY g.code"
        ),
        {"v": vid},
    ).all()
    members: dict[int, list[tuple[int, int | None, int | None, int]]] = defaultdict(list)
    cells: dict[int, dict[int, Geometry]] = defaultdict(dict)
    for gid, uid, a, b, h, cell in session.execute(
        text(
            "SELECT m.grid_id, m.unit_id, m.floor_min, m.floor_max, m.households, "
            "ST_AsBinary(m.cell) FROM grid_member m JOIN grid g ON g.id = m.grid_id "
            "WHERE g.version_id = :v ORDER BY m.unit_id, m.floor_min NULLS FIRST"
        ),
        {"v": vid},
    ):
        members[gid].append((uid, a, b, h))
        if cell is not None:
            cells[gid][uid] = shapely.from_wkb(bytes(cell))
    return {
        r[1]: G(
            r[1],
            r[2],
            r[3],
            r[4],
            r[5],
            int(r[6]),
            bool(r[7]),
            shapely.from_wkb(bytes(r[8])),
            members.get(r[0], []),
            cells=cells.get(r[0], {}),
        )
        for r in rows
    }


def _snapshot(session: Session, vid: int) -> list[dict[str, Any]]:
    """The draft's micro-grids exactly as stored (boundaries as EWKB hex)."""
    rows = session.execute(
        text(
            "SELECT g.code, p.code, g.name, g.compound_id, g.households, g.locked, "
            "encode(ST_AsEWKB(g.boundary), 'hex'), coalesce((SELECT json_agg(json_build_array("
            "m.unit_id, m.floor_min, m.floor_max, m.households, encode(ST_AsEWKB(m.cell), "
            "'hex')) ORDER BY m.id) FROM grid_member m WHERE m.grid_id = g.id), '[]') "
            "FROM grid g JOIN grid p ON p.id = g.parent_id "
            "WHERE g.version_id = :v AND g.level = 'micro' ORDER BY g.id"
        ),
        {"v": vid},
    ).all()
    return [
        {
            "code": r[0],
            "parent": r[1],
            "name": r[2],
            "compound_id": r[3],
            "households": r[4],
            "locked": r[5],
            "ewkb": r[6],
            "members": r[7],
        }
        for r in rows
    ]


def _restore(session: Session, vid: int, snap: list[dict[str, Any]]) -> None:
    session.execute(text("DELETE FROM grid WHERE version_id = :v AND level = 'micro'"), {"v": vid})
    parents = dict(
        session.execute(
            text("SELECT code, id FROM grid WHERE version_id = :v AND level = 'compound'"),
            {"v": vid},
        ).all()
    )
    for g in snap:
        gid = session.execute(
            text(
                "INSERT INTO grid (version_id, level, code, name, parent_id, compound_id, "
                "households, locked, boundary) VALUES (:v, 'micro', :c, :n, :p, :cp, :h, :l, "
                "ST_GeomFromEWKB(decode(:g, 'hex'))) RETURNING id"
            ),
            {
                "v": vid,
                "c": g["code"],
                "n": g["name"],
                "p": parents[g["parent"]],
                "cp": g["compound_id"],
                "h": g["households"],
                "l": g["locked"],
                "g": g["ewkb"],
            },
        ).scalar_one()
        _insert_members(
            session,
            gid,
            [tuple(m[:4]) for m in g["members"]],
            {m[0]: m[4] for m in g["members"] if len(m) > 4 and m[4]},
        )


def _insert_members(
    session: Session,
    gid: int,
    members: Sequence[Sequence[Any]],
    cells: dict[int, str] | None = None,
) -> None:
    """Write a grid's members; ``cells`` (unit id → EWKB hex) for its floor-split units."""
    cells = cells or {}
    if members:
        session.execute(
            text(
                "INSERT INTO grid_member (grid_id, unit_id, floor_min, floor_max, households, "
                "cell) VALUES (:g, :u, :a, :b, :h, ST_GeomFromEWKB(decode(:c, 'hex')))"
            ),
            [
                {
                    "g": gid,
                    "u": m[0],
                    "a": m[1],
                    "b": m[2],
                    "h": m[3],
                    "c": cells.get(m[0]) if m[1] is not None else None,
                }
                for m in members
            ],
        )


def _ewkb(g: Geometry) -> str:
    g = shapely.set_srid(_clean(g), get_settings().storage_srid)
    return shapely.to_wkb(g, hex=True, include_srid=True)


def _save(session: Session, vid: int, before: set[str], state: dict[str, G]) -> None:
    """Write the micro-grids that changed (only those: the others keep their bytes)."""
    gone = sorted(before - set(state))
    if gone:
        session.execute(
            text("DELETE FROM grid WHERE version_id = :v AND code = ANY(:c)"),
            {"v": vid, "c": gone},
        )
    ids = dict(
        session.execute(text("SELECT code, id FROM grid WHERE version_id = :v"), {"v": vid}).all()
    )
    for g in state.values():
        if not g.dirty:
            continue
        params = {
            "v": vid,
            "c": g.code,
            "n": g.name,
            "p": ids[g.parent],
            "cp": g.compound_id,
            "h": g.households,
            "l": g.locked,
            "g": _ewkb(g.geom),
        }
        if g.code in ids:
            session.execute(
                text(
                    "UPDATE grid SET parent_id = :p, households = :h, locked = :l, "
                    "boundary = ST_GeomFromEWKB(decode(:g, 'hex')) WHERE version_id = :v AND "
                    "code = :c"
                ),
                params,
            )
            gid = ids[g.code]
            session.execute(text("DELETE FROM grid_member WHERE grid_id = :g"), {"g": gid})
        else:
            gid = session.execute(
                text(
                    "INSERT INTO grid (version_id, level, code, name, parent_id, compound_id, "
                    "households, locked, boundary) VALUES (:v, 'micro', :c, :n, :p, :cp, :h, :l, "
                    "ST_GeomFromEWKB(decode(:g, 'hex'))) RETURNING id"
                ),
                params,
            ).scalar_one()
        _insert_members(
            session,
            gid,
            g.members,
            {u: _ewkb(c) for u, c in g.cells.items() if any(m[0] == u for m in g.members)},
        )


def _records(state: dict[str, G]) -> list[GridRecord]:
    geoms = to_metric([g.geom for g in state.values()])
    # a geometry valid where it is stored (checked by PostGIS) can come out of the projection
    # with a vertex a hair across an edge: repair that here, where it is only measured
    # (slivers of less than the tolerance it leaves behind are measurement noise)
    bad = ~shapely.is_valid(geoms)
    for i in np.flatnonzero(bad):
        parts = [p for p in shapely.get_parts(_clean(geoms[i])) if p.area >= TOL_M2]
        geoms[i] = shapely.MultiPolygon(parts) if parts else _clean(geoms[i])
    cells = [_metric_cells(g) for g in state.values()]
    return [
        GridRecord(g.code, g.level, g.parent, m, g.households, list(g.members), cells=c)
        for g, m, c in zip(state.values(), geoms, cells, strict=True)
    ]


def _metric_cells(g: G) -> dict[int, Geometry]:
    """The grid's floor-split units' cells in the metric CRS (for the validator)."""
    held = {m[0] for m in g.members if m[1] is not None}
    uids = [u for u in g.cells if u in held]
    if not uids:
        return {}
    return dict(zip(uids, to_metric([g.cells[u] for u in uids]), strict=True))


def _check(ctx: _Context, state: dict[str, G]) -> ValidationReport:
    return validate_grids(
        _records(state),
        units=ctx.inp.units,
        households=ctx.inp.households,
        min_households=ctx.lo,
        max_households=ctx.hi,
        tolerance_m2=TOL_M2,
    )


def _key(f: Finding) -> tuple[str, str | None]:
    return (f.check, f.grid)


def _audit(session: Session, actor: str, action: str, plan_id: int, detail: Any) -> None:
    session.execute(
        text(
            "INSERT INTO audit_log (actor, action, entity, entity_id, detail) VALUES "
            "(:a, :act, 'plan', :p, CAST(:d AS jsonb))"
        ),
        {
            "a": actor,
            "act": action,
            "p": str(plan_id),
            "d": json.dumps(detail, ensure_ascii=False, default=str),
        },
    )


def _edit(
    session: Session,
    plan_id: int,
    op: str,
    params: dict[str, Any],
    actor: str,
    fn: Callable[[_Context, dict[str, G]], dict[str, Any]],
) -> dict[str, Any]:
    """Run one edit: load the draft, apply ``fn``, refuse it when it breaks an invariant the
    draft held, write the changed grids, the edit log (with what it replaced) and the audit
    log. The caller's transaction makes it all-or-nothing."""
    plan = _plan(session, plan_id, for_update=True)
    _editable(plan)
    ctx = _Context(session, plan)
    state = _load(session, plan.draft_version_id)
    codes_before = {c for c, g in state.items() if g.level == "micro"}
    before_errors = {_key(f) for f in _check(ctx, state).errors}
    snap = _snapshot(session, plan.draft_version_id)
    summary = fn(ctx, state)
    for g in state.values():
        if g.dirty and g.level == "micro":
            _coalesce_floors(ctx, g)
    report = _check(ctx, state)
    new = [f for f in report.errors if _key(f) not in before_errors]
    if new:
        raise EditRefused(
            f"修改被拒绝，未做任何更改 (edit refused, nothing changed): {op}: "
            + "; ".join(f.message if not f.grid else f"{f.grid}: {f.message}" for f in new[:5]),
            detail=[{"check": f.check, "grid": f.grid, "message": f.message} for f in new],
        )
    _save(session, plan.draft_version_id, codes_before, state)
    seq = session.execute(
        text("SELECT coalesce(max(seq), 0) + 1 FROM plan_edit WHERE plan_id = :p"),
        {"p": plan_id},
    ).scalar_one()
    summary = {"op": op, "seq": seq, **summary, "warnings": len(report.warnings)}
    session.execute(
        text(
            "INSERT INTO plan_edit (plan_id, seq, op, params, summary, actor, before) VALUES "
            "(:p, :s, :op, CAST(:params AS jsonb), CAST(:sum AS jsonb), :a, CAST(:b AS jsonb))"
        ),
        {
            "p": plan_id,
            "s": seq,
            "op": op,
            "params": json.dumps(params, ensure_ascii=False, default=str),
            "sum": json.dumps(summary, ensure_ascii=False, default=str),
            "a": actor,
            "b": json.dumps(snap),
        },
    )
    session.execute(
        text("UPDATE plan SET status = 'draft', updated_at = now() WHERE id = :p"),
        {"p": plan_id},
    )
    _audit(session, actor, f"plan_{op}", plan_id, {"params": params, "summary": summary})
    return summary


def _micro(state: dict[str, G], code: str, *, unlocked: bool = True) -> G:
    g = state.get(code)
    if g is None or g.level != "micro":
        raise NotFoundError(f"草稿中没有该微网格 (no such micro-grid in the draft): {code!r}")
    if unlocked and g.locked:
        raise EditRefused(f"网格 {code} 已锁定 (grid {code} is locked; unlock it first)")
    return g


def _new_code(session: Session, plan: _Plan, state: dict[str, G], parent: str) -> str:
    """The next micro-grid code under ``parent`` never used in any version of the
    community (a code is never reused for a different area)."""
    used = set(
        session.execute(
            text(
                "SELECT g.code FROM grid g JOIN grid_version v ON v.id = g.version_id WHERE "
                "v.community_id = :c AND g.code LIKE :p"
            ),
            {"c": plan.community_id, "p": parent + "-M%"},
        ).scalars()
    ) | {c for c in state if c.startswith(parent + "-M")}
    nums = [int(c.rsplit("-M", 1)[1]) for c in used if c.rsplit("-M", 1)[1].isdigit()]
    return f"{parent}-M{(max(nums) if nums else 0) + 1:02d}"


# --- geometry input -------------------------------------------------------------------------
def parse_drawn(geojson: Any, crs: str | None, *, kinds: tuple[str, ...]) -> Geometry:
    """A drawn GeoJSON geometry (or Feature) in ``crs`` (default CRS84, or the ``crs`` member)
    → a valid geometry in the storage CRS. Refuses empty, invalid, wrong-type geometry and
    coordinates that are out of range, swapped or outside the served area."""
    if isinstance(geojson, str):
        try:
            geojson = json.loads(geojson)
        except ValueError as exc:
            raise GeometryError(f"不是有效的 GeoJSON (not valid GeoJSON): {exc}") from exc
    if not isinstance(geojson, dict):
        raise GeometryError("几何应为 GeoJSON 对象 (geometry must be a GeoJSON object)")
    if geojson.get("type") == "Feature":
        geojson = geojson.get("geometry") or {}
    named = (
        geojson.get("crs", {}).get("properties", {}).get("name")
        if isinstance(geojson.get("crs"), dict)
        else None
    )
    spec = parse_crs(crs or named or "OGC:CRS84")
    try:
        geom = shapely.geometry.shape(geojson)
    except Exception as exc:  # shapely raises several kinds for malformed input
        raise GeometryError(f"无法读取几何 (cannot read the geometry): {exc}") from exc
    if geom.is_empty:
        raise GeometryError("几何为空 (empty geometry)")
    if geom.geom_type not in kinds:
        raise GeometryError(
            f"几何类型应为 {'/'.join(kinds)} (expected {'/'.join(kinds)}), 收到 (got) "
            f"{geom.geom_type}"
        )
    xy = shapely.get_coordinates(geom)
    if not np.isfinite(xy).all():
        raise GeometryError("坐标含 NaN 或无穷大 (coordinates contain NaN or infinity)")
    problems = check_lonlat(xy[:, 0], xy[:, 1], spec)
    if problems:
        i, why = problems[0]
        raise GeometryError(
            f"坐标 {xy[i].tolist()} ({spec}) 有误 (bad coordinate): {why}"
            + (
                f"；另有 {len(problems) - 1} 处 (and {len(problems) - 1} more)"
                if len(problems) > 1
                else ""
            )
        )
    if not shapely.is_valid(geom):
        raise GeometryError(f"几何无效 (invalid geometry): {shapely.is_valid_reason(geom)}")
    out = transform_geometries([geom], spec)[0]
    if not shapely.is_valid(out):
        out = shapely.make_valid(out)
    return out


def _metric_area(g: Geometry) -> float:
    return float(shapely.area(to_metric([g])[0]))


def _parent(state: dict[str, G], g: G) -> G:
    return state[g.parent or ""]


def _minor_lobes(geom: Geometry) -> list[Geometry]:
    """All but the largest piece of a grid, in the storage CRS — pieces as measured in
    metres, so that two lobes joined by a neck thinner than a hair count as two."""
    m = to_metric([geom])[0]
    if not shapely.is_valid(m):
        m = _clean(m)
    parts = sorted(
        (p for p in shapely.get_parts(m) if p.area >= TOL_M2), key=lambda p: p.area, reverse=True
    )
    if len(parts) <= 1:
        return []
    out = []
    for p in parts[1:]:
        near = from_metric([shapely.buffer(p, 0.01)])[0]
        piece = _clean(shapely.intersection(geom, near))
        if not piece.is_empty:
            out.append(piece)
    return out


def _siblings(state: dict[str, G], parent: str) -> list[G]:
    return [x for x in state.values() if x.level == "micro" and x.parent == parent]


def _most_bordered(piece: Geometry, grids: Sequence[G]) -> G | None:
    """The grid sharing the longest border with ``piece`` (None when it touches none)."""
    border = [
        float(shapely.length(shapely.intersection(shapely.boundary(piece), g.geom))) for g in grids
    ]
    if not border or max(border) <= 0:
        return None
    return grids[int(np.argmax(border))]


def _coalesce_floors(ctx: _Context, g: G) -> None:
    """Floor ranges of one unit that an edit brought into one grid become one range; all of
    them, the whole unit again (the unit is no longer split by floors: its cell is just the
    grid's). So a grid never holds two ranges of a unit side by side, and locating never
    lists a grid as its own co-owner."""
    ranges: dict[int, list[tuple[int, int | None, int | None, int]]] = defaultdict(list)
    for m in g.members:
        if m[1] is not None:
            ranges[m[0]].append(m)
    if not any(len(ms) > 1 for ms in ranges.values()):
        return
    out = [m for m in g.members if m[1] is None]
    for uid, ms in ranges.items():
        ms.sort(key=lambda m: m[1] or 0)
        joined = [list(ms[0])]
        for m in ms[1:]:
            if m[1] == joined[-1][2] + 1:
                joined[-1][2], joined[-1][3] = m[2], joined[-1][3] + m[3]
            else:
                joined.append(list(m))
        unit = ctx.inp.units.get(uid)
        whole = (
            unit is not None
            and len(joined) == 1
            and joined[0][1] == 1
            and joined[0][2] >= unit.floors
            and joined[0][3] == unit.households
        )
        if whole:
            out.append((uid, None, None, joined[0][3]))
            g.cells.pop(uid, None)
        else:
            out += [(m[0], m[1], m[2], m[3]) for m in joined]
    g.members = sorted(out, key=lambda m: (m[0], m[1] or 0))
    g.touch()


def _unit_region(ctx: _Context, grids: Sequence[G], uids: Iterable[int]) -> Geometry:
    """The area the units stand on (storage CRS): the stored cell of a unit split by floors,
    else its cell of the partitioner's tessellation."""
    stored = {u: c for g in grids for u, c in g.cells.items()}
    cells = ctx.cells
    parts = [stored.get(u, cells.get(u)) for u in uids]
    return shapely.union_all([p for p in parts if p is not None])


def _refuse_cutting_floor_cells(
    ctx: _Context,
    state: dict[str, G],
    grids: Sequence[G],
    shape: Geometry,
    what: tuple[str, str],
) -> None:
    """Refuse an edit whose line or changed area passes through the cell of a unit split by
    floors: its floor groups share that cell whole (floors are not places); the unit is
    moved whole instead (``move``)."""
    ub = ctx.unit_building
    inside_m = to_metric([shape])[0]
    for g in grids:
        for uid, cell in sorted(g.cells.items()):
            core = shapely.buffer(to_metric([cell])[0], -0.05)
            hit = shapely.intersection(inside_m, core)
            if float(shapely.area(hit)) > TOL_M2 or float(shapely.length(hit)) > 0.05:
                unit = ctx.inp.units.get(uid)
                name = f"{ub.get(uid, '?')}-U{unit.unit_no if unit else '?'}"
                holders = sorted(
                    f"{x.code} {m[1]}–{m[2]}层"
                    for x in state.values()
                    if x.level == "micro" and uid in x.cells
                    for m in x.members
                    if m[0] == uid
                )
                raise EditRefused(
                    f"{what[0]}穿过按楼层划分的单元 {name} ({', '.join(holders)})：楼层不是地块，"
                    f"请整体移动该单元 ({what[1]} passes through unit {name}, split by floors; its "
                    "floor groups share one cell — move the unit whole instead)",
                    detail=[{"check": "floors", "grid": g.code, "unit": name}],
                )


def _owner_by_footprint(fp: Geometry, grids: Sequence[G]) -> G | None:
    shares = [float(shapely.area(shapely.intersection(fp, g.geom))) for g in grids]
    if not shares or max(shares) <= 0:
        return None
    return grids[int(np.argmax(shares))]


def _reassign_members(
    ctx: _Context, changed: Sequence[G], grids: Sequence[G], moved_area: Geometry
) -> dict[str, Any]:
    """Atoms of buildings whose footprint meets ``moved_area`` go to the grid (among
    ``grids``) that holds most of the footprint; the others stay where they are."""
    ub = ctx.unit_building
    fps = ctx.footprints
    moves: dict[str, list[str]] = defaultdict(list)
    for g in changed:
        keep = []
        for m in g.members:
            b = ub[m[0]]
            fp = fps[b]
            target = g
            if shapely.intersects(fp, moved_area):
                target = _owner_by_footprint(fp, grids) or g
            if target is g:
                keep.append(m)
            else:
                target.members.append(m)
                target.dirty = True
                moves[target.code].append(b)
        g.members = keep
    for g in grids:
        g.members.sort(key=lambda m: (m[0], m[1] or 0))
        g.touch()
    return {code: sorted(set(bs)) for code, bs in moves.items()}


# --- edits ----------------------------------------------------------------------------------
def move(
    session: Session, plan_id: int, *, buildings: Sequence[str], to: str, actor: str
) -> dict[str, Any]:
    """Move buildings or building units (``<building>-U<n>``) into micro-grid ``to``; the
    area they stand on (their cells of the tessellation) goes with them."""
    if not buildings:
        raise InputError("请给出要移动的楼栋或单元 (name the buildings or units to move)")

    def fn(ctx: _Context, state: dict[str, G]) -> dict[str, Any]:
        target = _micro(state, to)
        uids = ctx.units_of(buildings)
        sources = [
            g for g in state.values() if g.level == "micro" and any(m[0] in uids for m in g.members)
        ]
        if not sources:
            raise InputError(
                f"这些楼栋不在任何微网格 (none of {list(buildings)} is in a micro-grid)"
            )
        for s in sources:
            if s.locked:
                raise EditRefused(f"网格 {s.code} 已锁定 (grid {s.code} is locked)")
            if s.parent != target.parent:
                raise EditRefused(
                    f"{s.code} 与 {to} 不在同一网格 {target.parent} 内：跨网格移动会改变上级网格边界 "
                    f"(moving from {s.code} to {to} crosses compound grids; compound grids follow "
                    "the compounds)"
                )
        region = _unit_region(ctx, sources, uids)
        moved_hh = 0
        for s in sources:
            if s is target:
                continue
            # every member of a named unit goes: the floor groups of a unit split by floors
            # move together, with the unit's cell
            go = [m for m in s.members if m[0] in uids]
            s.members = [m for m in s.members if m[0] not in uids]
            target.members += go
            for u in {m[0] for m in go} & set(s.cells):
                target.cells[u] = s.cells.pop(u)
            moved_hh += sum(m[3] for m in go)
            piece = shapely.intersection(s.geom, region)
            s.touch(shapely.difference(s.geom, piece))
            target.geom = shapely.union_all([target.geom, piece])
        target.members.sort(key=lambda m: (m[0], m[1] or 0))
        target.touch(target.geom)
        removed = [s.code for s in sources if s is not target and not s.members]
        for code in removed:  # a grid left with no building is absorbed by the target
            target.geom = shapely.union_all([target.geom, state[code].geom])
            del state[code]
        target.touch(target.geom)
        return {
            "moved_households": moved_hh,
            "from": sorted(s.code for s in sources if s is not target),
            "to": to,
            "removed": removed,
            "changed": sorted({to} | {s.code for s in sources} - set(removed)),
        }

    return _edit(session, plan_id, "move", {"buildings": list(buildings), "to": to}, actor, fn)


def redraw(
    session: Session, plan_id: int, *, grid: str, geometry: Any, crs: str | None, actor: str
) -> dict[str, Any]:
    """Replace a micro-grid's boundary with a drawn polygon (clipped to its parent grid);
    the neighbours give up what it now covers and take what it left; buildings go to the
    grid holding most of their footprint."""
    drawn = parse_drawn(geometry, crs, kinds=("Polygon", "MultiPolygon"))

    def fn(ctx: _Context, state: dict[str, G]) -> dict[str, Any]:
        g = _micro(state, grid)
        parent = _parent(state, g)
        community = next(x for x in state.values() if x.level == "community")
        inside = _metric_area(shapely.intersection(drawn, community.geom))
        total = _metric_area(drawn)
        if inside < 0.5 * total:
            raise GeometryError(
                f"所画边界大部分在社区之外 (the drawn boundary lies mostly outside the community "
                f"{community.code}: {inside:.0f} of {total:.0f} m² inside)"
            )
        new = _clean(shapely.intersection(drawn, parent.geom))
        if _metric_area(new) < 1.0 or not shapely.intersects(new, parent.geom):
            raise GeometryError(
                f"所画边界与上级网格 {parent.code} 不相交 (the drawn boundary does not overlap "
                f"its parent grid {parent.code})"
            )
        sibs = [s for s in _siblings(state, parent.code) if s is not g]
        taken = []
        for s in sibs:
            cut = _metric_area(shapely.intersection(s.geom, new))
            if cut > TOL_M2:
                if s.locked:
                    raise EditRefused(
                        f"所画边界覆盖了已锁定网格 {s.code} 的 {cut:.0f} m² (the drawn boundary "
                        f"takes {cut:.0f} m² of locked grid {s.code})"
                    )
                taken.append(s)
        old = g.geom
        changed = set()
        for s in taken:
            s.geom = _clean(shapely.difference(s.geom, new))
            changed.add(s.code)
        g.geom = new
        # what the grid gave up goes, piece by piece, to the neighbour it borders most
        left = shapely.difference(old, new)
        pieces = [p for p in shapely.get_parts(_clean(left)) if _metric_area(p) > TOL_M2]
        alive = [s for s in sibs if not s.geom.is_empty]
        for p in pieces:
            best = _most_bordered(p, alive)
            if best is None:
                g.geom = shapely.union_all([g.geom, p])  # enclosed: stays with the grid
                continue
            if best.locked:
                raise EditRefused(
                    f"让出的区域只能并入已锁定网格 {best.code} (the area given up would go to "
                    f"locked grid {best.code})"
                )
            best.geom = shapely.union_all([best.geom, p])
            changed.add(best.code)
        # a neighbour the new boundary cut in pieces keeps its largest; the others go to the
        # grid they border most (usually the redrawn one)
        for s in [x for x in sibs if x.code in changed]:
            for p in _minor_lobes(s.geom):
                s.geom = _clean(shapely.difference(s.geom, p))
                others = [g] + [x for x in sibs if x is not s and not x.geom.is_empty]
                best = _most_bordered(p, others) or others[0]
                if best.locked:
                    raise EditRefused(
                        f"网格 {s.code} 被切下的部分只能并入已锁定网格 {best.code} (a piece cut "
                        f"off {s.code} would go to locked grid {best.code})"
                    )
                best.geom = _clean(shapely.union_all([best.geom, p]))
                changed.add(best.code)
        changed.discard(grid)
        moved_area = shapely.symmetric_difference(old, g.geom)
        involved = [g] + [s for s in sibs if s.code in changed]
        _refuse_cutting_floor_cells(
            ctx, state, involved, moved_area, "所画边界 (the drawn boundary)"
        )
        moves = _reassign_members(
            ctx, involved, [x for x in involved if not x.geom.is_empty], moved_area
        )
        for x in involved:
            x.touch(x.geom)
        removed = [x.code for x in involved if x.geom.is_empty or (not x.members and x is not g)]
        for code in removed:
            leftover = state[code]
            if leftover.members:
                raise EditRefused(
                    f"网格 {code} 会失去全部面积但仍有楼栋 (grid {code} would lose all its area "
                    "but still hold buildings)"
                )
            del state[code]
            # its area (without buildings now) goes, piece by piece, to the grid it borders
            # most: the redrawn one, or another neighbour when it does not touch that one
            others = [g] + [x for x in sibs if x.code in state and not x.geom.is_empty]
            for p in shapely.get_parts(_clean(leftover.geom)):
                if _metric_area(p) <= TOL_M2:
                    continue
                best = _most_bordered(p, others) or g
                if best.locked:
                    raise EditRefused(
                        f"网格 {code} 剩下的区域只能并入已锁定网格 {best.code} (what is left of "
                        f"{code} would go to locked grid {best.code})"
                    )
                best.geom = _clean(shapely.union_all([best.geom, p]))
                best.touch(best.geom)
                changed.add(best.code)
        return {
            "grid": grid,
            "area_m2": round(_metric_area(g.geom), 1),
            "clipped_m2": round(total - _metric_area(new), 1),
            "moved_buildings": moves,
            "changed": sorted({grid} | changed - set(removed)),
            "removed": removed,
        }

    return _edit(session, plan_id, "redraw", {"grid": grid, "crs": crs}, actor, fn)


def split(
    session: Session,
    plan_id: int,
    *,
    grid: str,
    line: Any = None,
    buildings: Sequence[str] | None = None,
    crs: str | None = None,
    actor: str,
) -> dict[str, Any]:
    """Split a micro-grid in two, by a drawn line across it or by a list of its buildings
    (they form the new grid, with their share of the area)."""
    if (line is None) == (not buildings):
        raise InputError("请给出分割线或楼栋清单之一 (give either a line or a building list)")
    cut = parse_drawn(line, crs, kinds=("LineString", "MultiLineString")) if line else None

    def fn(ctx: _Context, state: dict[str, G]) -> dict[str, Any]:
        g = _micro(state, grid)
        code = _new_code(session, ctx.plan, state, g.parent or "")
        new = G(code, "micro", g.parent, None, g.compound_id, 0, False, shapely.MultiPolygon())
        if cut is not None:
            halves = [
                p
                for p in shapely.get_parts(shapely.ops.split(shapely.union_all([g.geom]), cut))
                if _metric_area(p) > TOL_M2
            ]
            if len(halves) != 2:
                raise GeometryError(
                    f"分割线应把网格 {grid} 分成两块，实际 {len(halves)} 块 (the line must cut "
                    f"{grid} into two pieces, it makes {len(halves)})"
                )
            _refuse_cutting_floor_cells(ctx, state, [g], cut, ("分割线", "the line"))
            # each unit goes to the side holding most of its share of the area
            cells = ctx.cells | g.cells
            mine, theirs = [], []
            for m in g.members:
                cell = cells.get(m[0], shapely.MultiPolygon())
                a = [float(shapely.area(shapely.intersection(cell, h))) for h in halves]
                (mine if a[0] >= a[1] else theirs).append(m)
            if sum(m[3] for m in theirs) > sum(m[3] for m in mine):
                mine, theirs, halves = theirs, mine, halves[::-1]
            g.members, new.members = mine, theirs
            g.geom, new.geom = _clean(halves[0]), _clean(halves[1])
            for u in {m[0] for m in theirs} & set(g.cells):
                new.cells[u] = g.cells.pop(u)
        else:
            uids = ctx.units_of(buildings or [])
            mine = {m[0] for m in g.members}
            stray = sorted({ctx.unit_building[u] for u in uids - mine})
            if stray:
                raise InputError(f"这些楼栋不在网格 {grid} 内 (not in {grid}): {', '.join(stray)}")
            region = shapely.intersection(g.geom, _unit_region(ctx, [g], uids))
            new.members = [m for m in g.members if m[0] in uids]
            g.members = [m for m in g.members if m[0] not in uids]
            for u in uids & set(g.cells):
                new.cells[u] = g.cells.pop(u)
            if not g.members:
                raise EditRefused(
                    f"清单包含网格 {grid} 的全部楼栋 (the list holds every building of {grid})"
                )
            g.geom = _clean(shapely.difference(g.geom, region))
            new.geom = _clean(region)
        state[code] = new
        g.touch(g.geom)
        new.touch(new.geom)
        if not new.members or not g.members:
            raise EditRefused(
                f"分割后有一块没有楼栋 (one side of the split holds no building: "
                f"{grid} {g.households} / {code} {new.households} households)"
            )
        return {
            "grid": grid,
            "new": code,
            "households": {grid: g.households, code: new.households},
            "changed": [grid, code],
        }

    return _edit(
        session,
        plan_id,
        "split",
        {"grid": grid, "buildings": list(buildings or []), "line": bool(line), "crs": crs},
        actor,
        fn,
    )


def merge_grids(
    session: Session, plan_id: int, *, grids: Sequence[str], actor: str
) -> dict[str, Any]:
    """Merge two adjacent micro-grids of the same parent; the smaller code is kept."""
    if len(set(grids)) != 2:
        raise InputError(f"合并需要两个不同的网格 (merge needs two different grids): {list(grids)}")

    def fn(ctx: _Context, state: dict[str, G]) -> dict[str, Any]:
        a, b = sorted((_micro(state, c) for c in grids), key=lambda g: g.code)
        if a.parent != b.parent:
            raise EditRefused(
                f"{a.code} 与 {b.code} 上级网格不同 (they belong to different parents: "
                f"{a.parent}, {b.parent})"
            )
        shared = to_metric(
            [shapely.intersection(shapely.boundary(a.geom), shapely.boundary(b.geom))]
        )[0]
        if float(shapely.length(shared)) < 0.5:
            raise EditRefused(f"{a.code} 与 {b.code} 不相邻 (the grids are not adjacent)")
        a.members = sorted(a.members + b.members, key=lambda m: (m[0], m[1] or 0))
        a.cells.update(b.cells)
        a.touch(shapely.union_all([a.geom, b.geom]))
        del state[b.code]
        return {
            "kept": a.code,
            "removed": [b.code],
            "households": a.households,
            "changed": [a.code],
        }

    return _edit(session, plan_id, "merge", {"grids": list(grids)}, actor, fn)


def repartition(
    session: Session, plan_id: int, *, compound: str, seed: int = 0, actor: str
) -> dict[str, Any]:
    """Re-partition one compound grid with the partitioner, keeping its locked micro-grids
    as they are."""

    def fn(ctx: _Context, state: dict[str, G]) -> dict[str, Any]:
        parent = state.get(compound)
        if parent is None or parent.level != "compound":
            raise NotFoundError(f"草稿中没有该小区网格 (no such compound grid): {compound!r}")
        kids = _siblings(state, compound)
        locked = [k for k in kids if k.locked]
        free = [k for k in kids if not k.locked]
        if not free:
            raise EditRefused(f"{compound} 的微网格全部锁定 (every micro-grid is locked)")
        _ = ctx.cells
        prep = ctx._prep
        # the free grids' atoms: whole units, and the floor ranges they hold of split units
        free_atoms = {(m[0], m[1]) for k in free for m in k.members}
        held_cells = {u: c for k in free for u, c in k.cells.items()}
        region = shapely.union_all([k.geom for k in free])
        idx = [i for i, a in enumerate(prep.atoms) if (a.unit_id, a.floor_min) in free_atoms]
        cells = from_metric(np.asarray([prep.cells[i] for i in idx], dtype=object))
        cells = [shapely.intersection(c, region) for c in cells]
        atoms = [prep.atoms[i] for i in idx]
        mcells = to_metric(np.asarray(cells, dtype=object))
        edges = cell_adjacency(list(mcells))
        bidx = {c: i for i, c in enumerate(sorted({a.building for a in atoms}))}
        xy = shapely.get_coordinates(shapely.centroid(mcells)).reshape(-1, 2)
        g = make_graph([a.households for a in atoms], xy, [bidx[a.building] for a in atoms], edges)
        sol = solve_zone(g, ctx.lo, ctx.hi, zone_rng(seed, compound))
        groups = sorted(
            (sorted(grp.tolist(), key=lambda i: atoms[i].key) for grp in sol.groups),
            key=lambda grp: atoms[grp[0]].key,
        )
        for k in free:
            del state[k.code]
        # the area of the free grids not in any cell (rounding) goes to the nearest group
        made = []
        for grp in groups:
            code = _new_code(session, ctx.plan, state, compound)
            members = sorted(
                (
                    (atoms[i].unit_id, atoms[i].floor_min, atoms[i].floor_max, atoms[i].households)
                    for i in grp
                ),
                key=lambda m: (m[0], m[1] or 0),
            )
            new = G(
                code,
                "micro",
                compound,
                None,
                parent.compound_id,
                0,
                False,
                shapely.union_all([cells[i] for i in grp]),
                members,
                cells={
                    atoms[i].unit_id: held_cells.get(atoms[i].unit_id, cells[i])
                    for i in grp
                    if atoms[i].floor_min is not None
                },
            )
            new.touch(new.geom)
            state[code] = new
            made.append(new)
        rest = _clean(shapely.difference(region, shapely.union_all([m.geom for m in made])))
        for p in shapely.get_parts(rest):
            if _metric_area(p) <= 0:
                continue
            best = _most_bordered(p, made) or made[0]
            best.touch(shapely.union_all([best.geom, p]))
        return {
            "compound": compound,
            "kept_locked": sorted(k.code for k in locked),
            "removed": sorted(k.code for k in free),
            "new": [m.code for m in made],
            "households": {m.code: m.households for m in made},
            "status": sol.status,
            "reason": sol.reason,
            "changed": [m.code for m in made],
        }

    return _edit(session, plan_id, "repartition", {"compound": compound, "seed": seed}, actor, fn)


def lock(
    session: Session, plan_id: int, *, grids: Sequence[str], locked: bool = True, actor: str
) -> dict[str, Any]:
    """Lock (or unlock) micro-grids: other edits and re-partitioning leave them as they are."""

    def fn(ctx: _Context, state: dict[str, G]) -> dict[str, Any]:
        for c in grids:
            g = _micro(state, c, unlocked=False)
            g.locked = locked
            g.dirty = True
        return {"locked" if locked else "unlocked": sorted(grids), "changed": sorted(grids)}

    return _edit(
        session, plan_id, "lock" if locked else "unlock", {"grids": list(grids)}, actor, fn
    )


def undo(session: Session, plan_id: int, *, actor: str) -> dict[str, Any]:
    """Undo the plan's last edit: its micro-grids come back exactly as they were."""
    plan = _plan(session, plan_id, for_update=True)
    _editable(plan)
    row = session.execute(
        text(
            "SELECT id, seq, op, before FROM plan_edit WHERE plan_id = :p ORDER BY seq DESC LIMIT 1"
        ),
        {"p": plan_id},
    ).first()
    if row is None:
        raise ConflictError(f"方案 {plan_id} 没有可撤销的修改 (nothing to undo)")
    _restore(session, plan.draft_version_id, row[3])
    session.execute(text("DELETE FROM plan_edit WHERE id = :i"), {"i": row[0]})
    session.execute(
        text("UPDATE plan SET status = 'draft', updated_at = now() WHERE id = :p"),
        {"p": plan_id},
    )
    _audit(session, actor, "plan_undo", plan_id, {"seq": row[1], "op": row[2]})
    return {"undone": row[2], "seq": row[1]}


# --- plans ----------------------------------------------------------------------------------
def create_plan(
    session: Session, community: str, *, author: str, name: str | None = None
) -> dict[str, Any]:
    """A new draft: a copy of the community's current version."""
    base = session.execute(
        text(
            "SELECT v.id, v.number, c.id, v.params FROM grid_version v JOIN community c ON "
            "c.id = v.community_id WHERE c.code = :c AND v.status = 'published'"
        ),
        {"c": community},
    ).first()
    if base is None:
        exists = session.execute(
            text("SELECT 1 FROM community WHERE code = :c"), {"c": community}
        ).first()
        if exists is None:
            raise NotFoundError(f"社区不存在 (no such community): {community!r}")
        raise ConflictError(
            f"社区 {community} 还没有现行网格，请先划分 (no current grids yet: run "
            "`wangge partition` first)"
        )
    bid, _, cid, params = base
    number = session.execute(
        text("SELECT coalesce(max(number), 0) + 1 FROM grid_version WHERE community_id = :c"),
        {"c": cid},
    ).scalar_one()
    vid = session.execute(
        text(
            "INSERT INTO grid_version (community_id, number, status, source, params, created_by) "
            "VALUES (:c, :n, 'draft', 'plan', CAST(:p AS jsonb), :a) RETURNING id"
        ),
        {"c": cid, "n": number, "p": json.dumps(params or {}, ensure_ascii=False), "a": author},
    ).scalar_one()
    # copy every grid level by level (parents first), and the members
    for level in ("community", "compound", "micro"):
        session.execute(
            text(
                "INSERT INTO grid (version_id, level, code, name, parent_id, compound_id, "
                "households, locked, boundary) SELECT :v, o.level, o.code, o.name, np.id, "
                "o.compound_id, o.households, o.locked, o.boundary FROM grid o LEFT JOIN grid op "
                "ON op.id = o.parent_id LEFT JOIN grid np ON np.code = op.code AND "
                "np.version_id = :v WHERE o.version_id = :b AND o.level = :l ORDER BY o.id"
            ),
            {"v": vid, "b": bid, "l": level},
        )
    session.execute(
        text(
            "INSERT INTO grid_member (grid_id, unit_id, floor_min, floor_max, households, cell) "
            "SELECT n.id, m.unit_id, m.floor_min, m.floor_max, m.households, m.cell "
            "FROM grid_member m "
            "JOIN grid o ON o.id = m.grid_id JOIN grid n ON n.code = o.code AND n.version_id = :v "
            "WHERE o.version_id = :b ORDER BY m.id"
        ),
        {"v": vid, "b": bid},
    )
    return attach_plan(session, community, vid, author=author, name=name)


def attach_plan(
    session: Session, community: str, draft_version_id: int, *, author: str, name: str | None
) -> dict[str, Any]:
    """A plan for a draft version already written, based on the current version."""
    cid, number = session.execute(
        text("SELECT community_id, number FROM grid_version WHERE id = :v"),
        {"v": draft_version_id},
    ).one()
    base = session.execute(
        text(
            "SELECT id, number FROM grid_version WHERE community_id = :c AND status = 'published'"
        ),
        {"c": cid},
    ).first()
    pid = session.execute(
        text(
            "INSERT INTO plan (name, community_id, author, base_version_id, draft_version_id, "
            "status) VALUES (:n, :c, :a, :b, :d, 'draft') RETURNING id"
        ),
        {
            "n": name or f"{community} 草稿 {number}",
            "c": cid,
            "a": author,
            "b": base[0] if base else None,
            "d": draft_version_id,
        },
    ).scalar_one()
    _audit(
        session,
        author,
        "plan_create",
        pid,
        {"community": community, "base": base[1] if base else None, "draft": number},
    )
    return get_plan(session, pid)


def get_plan(session: Session, plan_id: int) -> dict[str, Any]:
    p = _plan(session, plan_id)
    edits = (
        session.execute(
            text(
                "SELECT seq, op, actor, at, params, summary FROM plan_edit WHERE plan_id = :p "
                "ORDER BY seq"
            ),
            {"p": plan_id},
        )
        .mappings()
        .all()
    )
    current = session.execute(
        text("SELECT number FROM grid_version WHERE community_id = :c AND status = 'published'"),
        {"c": p.community_id},
    ).scalar()
    return {
        "id": p.id,
        "name": p.name,
        "community": p.community,
        "author": p.author,
        "status": p.status,
        "base_version": p.base_number,
        "draft_version": p.draft_number,
        "current_version": current,
        "stale": p.status in ("draft", "validated") and current != p.base_number,
        "edits": [dict(e) | {"at": e["at"].isoformat()} for e in edits],
    }


def list_plans(
    session: Session, *, community: str | None = None, status: str | None = None
) -> list[dict[str, Any]]:
    rows = session.execute(
        text(
            "SELECT p.id, p.name, c.code, p.author, p.status, b.number, d.number, p.updated_at "
            "FROM plan p JOIN community c ON c.id = p.community_id JOIN grid_version d ON "
            "d.id = p.draft_version_id LEFT JOIN grid_version b ON b.id = p.base_version_id "
            "WHERE (CAST(:c AS text) IS NULL OR c.code = :c) AND "
            "(CAST(:s AS text) IS NULL OR p.status = :s) ORDER BY p.id"
        ),
        {"c": community, "s": status},
    ).all()
    return [
        {
            "id": r[0],
            "name": r[1],
            "community": r[2],
            "author": r[3],
            "status": r[4],
            "base_version": r[5],
            "draft_version": r[6],
            "updated_at": r[7].isoformat(),
        }
        for r in rows
    ]


def plan_grids(session: Session, plan_id: int, *, level: str | None = None) -> dict[str, Any]:
    """The draft's grids as a GeoJSON FeatureCollection (CRS84)."""
    p = _plan(session, plan_id)
    rows = session.execute(
        text(
            "SELECT g.code, g.level, pg.code, g.households, g.locked, ST_AsGeoJSON(g.boundary, 7) "
            "FROM grid g LEFT JOIN grid pg ON pg.id = g.parent_id WHERE g.version_id = :v AND "
            "(CAST(:l AS text) IS NULL OR g.level = :l) ORDER BY g.level, g.code"
        ),
        {"v": p.draft_version_id, "l": level},
    ).all()
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "id": r[0],
                "geometry": json.loads(r[5]),
                "properties": {
                    "code": r[0],
                    "level": r[1],
                    "parent_code": r[2],
                    "households": r[3],
                    "locked": r[4],
                },
            }
            for r in rows
        ],
        "numberReturned": len(rows),
        "plan": p.id,
        "version": p.draft_number,
    }


def _worker_findings(session: Session, plan: _Plan, state: dict[str, G]) -> list[Finding]:
    workers = session.execute(
        text(
            "SELECT code, name, role, grid_code, building_code FROM worker WHERE "
            "community_id = :c ORDER BY code"
        ),
        {"c": plan.community_id},
    ).all()
    codes = set(state)
    out = []
    served_grids = {w[3] for w in workers if w[3]}
    served_buildings = {w[4] for w in workers if w[4]}
    for w in workers:
        if w[3] and w[3] not in codes:
            out.append(
                Finding(
                    "warning",
                    "workers",
                    w[3],
                    f"网格员 {w[1]} ({w[0]}) 所属网格 {w[3]} 在方案中不存在 (worker {w[0]} is "
                    f"assigned to grid {w[3]}, which the plan no longer has)",
                    {"worker": w[0], "role": w[2]},
                )
            )
    ub = None
    for g in state.values():
        if g.level == "community":
            continue
        if g.code in served_grids:
            continue
        if g.level == "micro":
            if ub is None:
                ub = dict(
                    session.execute(
                        text(
                            "SELECT u.id, b.code FROM building_unit u JOIN building b ON "
                            "b.id = u.building_id WHERE b.community_id = :c"
                        ),
                        {"c": plan.community_id},
                    ).all()
                )
            bs = sorted({ub[m[0]] for m in g.members if m[0] in ub})
            if any(b in served_buildings for b in bs):
                continue
            detail = {"buildings": bs}
        else:
            detail = {}
        out.append(
            Finding(
                "warning",
                "workers",
                g.code,
                f"网格 {g.code} 没有网格员或楼栋长 (grid {g.code} has no assigned worker)",
                detail,
            )
        )
    return out


def plan_report(session: Session, plan_id: int) -> ValidationReport:
    """The partition validator on the draft, plus the workers' findings; each finding names
    its grid and the buildings involved. Reads only (the planner map shows it)."""
    return _report(session, _plan(session, plan_id))


def validate_plan(session: Session, plan_id: int, *, actor: str = "cli") -> ValidationReport:
    """:func:`plan_report`, and the plan marked validated when there is no error (audited)."""
    plan = _plan(session, plan_id, for_update=True)
    report = _report(session, plan)
    if plan.status in ("draft", "validated"):
        session.execute(
            text("UPDATE plan SET status = :s, updated_at = now() WHERE id = :p"),
            {"s": "validated" if report.ok else "draft", "p": plan_id},
        )
    _audit(
        session,
        actor,
        "plan_validate",
        plan_id,
        {"errors": len(report.errors), "warnings": len(report.warnings)},
    )
    return report


def _report(session: Session, plan: _Plan) -> ValidationReport:
    ctx = _Context(session, plan)
    state = _load(session, plan.draft_version_id)
    report = _check(ctx, state)
    report.findings += _worker_findings(session, plan, state)
    ub = ctx.unit_building
    for f in report.findings:
        g = state.get(f.grid or "")
        if g is not None and g.level == "micro" and "buildings" not in f.detail:
            f.detail["buildings"] = sorted({ub[m[0]] for m in g.members if m[0] in ub})
            f.detail["households"] = g.households
    return report


def publish(session: Session, plan_id: int, *, actor: str) -> dict[str, Any]:
    """Make the draft the current version, atomically; refused when its base is no longer
    current or it has validation errors. Re-assigns the affected households and incidents."""
    plan = _plan(session, plan_id, for_update=True)
    _editable(plan)
    current = session.execute(
        text(
            "SELECT id, number FROM grid_version WHERE community_id = :c AND "
            "status = 'published' FOR UPDATE"
        ),
        {"c": plan.community_id},
    ).first()
    if current is None or current[0] != plan.base_version_id:
        raise ConflictError(
            f"方案 {plan_id} 的基础版本 {plan.base_number} 已不是现行版本（现行 "
            f"{current[1] if current else '无'}），请基于现行版本重新起草 (the plan's base "
            f"version {plan.base_number} is no longer current: version "
            f"{current[1] if current else None} is; draft again from it)",
            detail={
                "base_version": plan.base_number,
                "current_version": current[1] if current else None,
            },
        )
    report = validate_plan(session, plan_id, actor=actor)
    if not report.ok:
        raise ConflictError(
            f"方案有 {len(report.errors)} 个错误，不能发布 (the plan has {len(report.errors)} "
            "validation errors; fix them first): "
            + "; ".join(f"{f.grid or ''} {f.message}" for f in report.errors[:5]),
            detail=report.as_dict()["findings"],
        )
    session.execute(
        text("UPDATE grid_version SET status = 'superseded' WHERE id = :v"), {"v": current[0]}
    )
    session.execute(
        text("UPDATE grid_version SET status = 'published', published_at = :t WHERE id = :v"),
        {"v": plan.draft_version_id, "t": datetime.now(UTC)},
    )
    session.execute(
        text("UPDATE plan SET status = 'published', updated_at = now() WHERE id = :p"),
        {"p": plan_id},
    )
    counts = reassign_after(session, plan.community, current[1], actor=actor)
    _audit(
        session,
        actor,
        "plan_publish",
        plan_id,
        {"version": plan.draft_number, "previous": current[1], **counts},
    )
    return {
        "plan": plan_id,
        "version": plan.draft_number,
        "previous": current[1],
        "warnings": len(report.warnings),
        "reassigned": counts,
    }


def discard(session: Session, plan_id: int, *, actor: str) -> dict[str, Any]:
    plan = _plan(session, plan_id, for_update=True)
    _editable(plan)
    session.execute(
        text("UPDATE grid_version SET status = 'discarded' WHERE id = :v"),
        {"v": plan.draft_version_id},
    )
    session.execute(
        text("UPDATE plan SET status = 'discarded', updated_at = now() WHERE id = :p"),
        {"p": plan_id},
    )
    _audit(session, actor, "plan_discard", plan_id, {})
    return {"plan": plan_id, "status": "discarded"}


def versions(session: Session, community: str) -> list[dict[str, Any]]:
    """The history of a community's versions, newest first."""
    rows = session.execute(
        text(
            "SELECT v.number, v.status, v.source, v.created_by, v.created_at, v.published_at, "
            "(SELECT count(*) FROM grid g WHERE g.version_id = v.id AND g.level = 'micro'), "
            "(SELECT p.id FROM plan p WHERE p.draft_version_id = v.id) FROM grid_version v "
            "JOIN community c ON c.id = v.community_id WHERE c.code = :c ORDER BY v.number DESC"
        ),
        {"c": community},
    ).all()
    if not rows:
        raise NotFoundError(f"社区 {community} 没有任何版本 (no versions for {community!r})")
    return [
        {
            "version": r[0],
            "status": r[1],
            "source": r[2],
            "created_by": r[3],
            "created_at": r[4].isoformat(),
            "published_at": r[5].isoformat() if r[5] else None,
            "micro_grids": r[6],
            "plan": r[7],
        }
        for r in rows
    ]


# --- diff -----------------------------------------------------------------------------------
@dataclass
class Diff:
    community: str
    old: int
    new: int
    grids: list[dict[str, Any]]
    households: list[dict[str, Any]]
    buildings: list[dict[str, Any]]
    geometries: dict[str, tuple[Geometry | None, Geometry | None]]

    @property
    def summary(self) -> dict[str, Any]:
        by = defaultdict(int)
        for g in self.grids:
            by[g["change"]] += 1
        return {
            "community": self.community,
            "from": self.old,
            "to": self.new,
            "grids_added": by["added"],
            "grids_removed": by["removed"],
            "grids_changed": by["changed"],
            "grids_unchanged": by["unchanged"],
            "households_moved": len(self.households),
            "buildings_moved": len(self.buildings),
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            "summary": self.summary,
            "grids": [g for g in self.grids if g["change"] != "unchanged"],
            "households": self.households,
            "buildings": self.buildings,
        }


def _household_grids(session: Session, vid: int, community_id: int) -> dict[str, str]:
    rows = session.execute(
        text(
            "SELECT h.code, g.code FROM household h JOIN building b ON b.id = h.building_id "
            "JOIN grid_member m ON m.unit_id = h.unit_id AND (m.floor_min IS NULL OR "
            "h.floor BETWEEN m.floor_min AND m.floor_max) JOIN grid g ON g.id = m.grid_id "
            "WHERE g.version_id = :v AND b.community_id = :c"
        ),
        {"v": vid, "c": community_id},
    ).all()
    return dict(rows)


def _building_grids(session: Session, vid: int) -> dict[str, set[str]]:
    out: dict[str, set[str]] = defaultdict(set)
    for b, g in session.execute(
        text(
            "SELECT b.code, g.code FROM grid g JOIN grid_member m ON m.grid_id = g.id JOIN "
            "building_unit u ON u.id = m.unit_id JOIN building b ON b.id = u.building_id "
            "WHERE g.version_id = :v"
        ),
        {"v": vid},
    ):
        out[b].add(g)
    return out


def diff_versions(session: Session, community: str, old: int, new: int) -> Diff:
    """Per grid added/removed/changed (shape or members), per household and building the old
    and new micro-grid, between two versions (numbers) of a community (drafts included)."""
    cid = session.execute(
        text("SELECT id FROM community WHERE code = :c"), {"c": community}
    ).scalar()
    if cid is None:
        raise NotFoundError(f"社区不存在 (no such community): {community!r}")
    vids = {}
    for n in (old, new):
        vids[n] = session.execute(
            text("SELECT id FROM grid_version WHERE community_id = :c AND number = :n"),
            {"c": cid, "n": n},
        ).scalar()
        if vids[n] is None:
            raise NotFoundError(f"社区 {community} 没有版本 {n} (no version {n})")
    shapes: dict[int, dict[str, tuple[bytes, list[str], int]]] = {}
    geoms: dict[int, dict[str, Geometry]] = {}
    for n in (old, new):
        rows = session.execute(
            text(
                "SELECT g.code, ST_AsBinary(g.boundary), g.households, (SELECT coalesce("
                "array_agg(m.unit_id::text || ':' || coalesce(m.floor_min, 0) || '-' || "
                "coalesce(m.floor_max, 0) ORDER BY m.unit_id, m.floor_min), '{}') FROM grid_member "
                "m WHERE m.grid_id = g.id) FROM grid g WHERE g.version_id = :v AND "
                "g.level = 'micro'"
            ),
            {"v": vids[n]},
        ).all()
        shapes[n] = {r[0]: (bytes(r[1]), list(r[3]), int(r[2])) for r in rows}
        geoms[n] = {r[0]: shapely.from_wkb(bytes(r[1])) for r in rows}
    grids = []
    for code in sorted(set(shapes[old]) | set(shapes[new])):
        a, b = shapes[old].get(code), shapes[new].get(code)
        if a is None:
            change = "added"
        elif b is None:
            change = "removed"
        elif a[1] != b[1] or not shapely.equals_exact(geoms[old][code], geoms[new][code], 0.0):
            change = "changed"
        else:
            change = "unchanged"
        grids.append(
            {
                "code": code,
                "change": change,
                "households_old": a[2] if a else None,
                "households_new": b[2] if b else None,
                "shape_changed": bool(
                    a and b and not shapely.equals_exact(geoms[old][code], geoms[new][code], 0.0)
                ),
            }
        )
    h_old = _household_grids(session, vids[old], cid)
    h_new = _household_grids(session, vids[new], cid)
    households = [
        {"household": h, "old": h_old.get(h), "new": h_new.get(h)}
        for h in sorted(set(h_old) | set(h_new))
        if h_old.get(h) != h_new.get(h)
    ]
    b_old = _building_grids(session, vids[old])
    b_new = _building_grids(session, vids[new])
    buildings = [
        {"building": b, "old": sorted(b_old[b]), "new": sorted(b_new[b])}
        for b in sorted(set(b_old) | set(b_new))
        if b_old[b] != b_new[b]
    ]
    geometries = {g["code"]: (geoms[old].get(g["code"]), geoms[new].get(g["code"])) for g in grids}
    return Diff(community, old, new, grids, households, buildings, geometries)


def export_diff(diff: Diff, fmt: str) -> tuple[bytes, str, str]:
    """The diff as CSV (households), GeoJSON (changed grids, new shape or old when removed)
    or GeoPackage (grids + households + buildings). Returns (bytes, media type, suffix)."""
    import io
    import tempfile
    from pathlib import Path

    import geopandas as gpd
    import pandas as pd

    fmt = fmt.lower()
    if fmt == "csv":
        from geo.io.csvcells import safe_frame  # no cell a spreadsheet would run as a formula

        frame = pd.DataFrame(diff.households, columns=["household", "old", "new"])
        buf = io.StringIO()
        safe_frame(frame).to_csv(buf, index=False)
        return buf.getvalue().encode("utf-8-sig"), "text/csv; charset=utf-8", "csv"
    rows = [g for g in diff.grids if g["change"] != "unchanged"]
    geoms = [diff.geometries[g["code"]][1] or diff.geometries[g["code"]][0] for g in rows]
    frame = gpd.GeoDataFrame(rows, geometry=list(geoms), crs=f"EPSG:{get_settings().storage_srid}")
    if fmt == "geojson":
        return (
            frame.to_crs("OGC:CRS84").to_json(ensure_ascii=False, drop_id=True).encode(),
            "application/geo+json",
            "geojson",
        )
    if fmt == "gpkg":
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "diff.gpkg"
            frame.to_file(path, layer="grids", driver="GPKG", engine="pyogrio")
            import pyogrio

            pyogrio.write_dataframe(
                pd.DataFrame(diff.households, columns=["household", "old", "new"]),
                path,
                layer="households",
                driver="GPKG",
            )
            pyogrio.write_dataframe(
                pd.DataFrame(
                    [
                        {
                            "building": b["building"],
                            "old": ",".join(b["old"]),
                            "new": ",".join(b["new"]),
                        }
                        for b in diff.buildings
                    ],
                    columns=["building", "old", "new"],
                ),
                path,
                layer="buildings",
                driver="GPKG",
            )
            return path.read_bytes(), "application/geopackage+sqlite3", "gpkg"
    raise InputError(f"格式应为 csv|geojson|gpkg (format must be csv, geojson or gpkg): {fmt!r}")


def stored_records(session: Session, plan_id: int) -> list[GridRecord]:
    """The draft's grids as validator records (metric), for other modules."""
    p = _plan(session, plan_id)
    records, _ = load_version(session, p.community, p.draft_number)
    return records
