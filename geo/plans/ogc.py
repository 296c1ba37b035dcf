"""OGC API – Features Part 4 on a draft plan: its micro-grids as the collection
``plan-{id}-micro``, and the OGC writes mapped onto the plan's own edits (never a second
implementation: a new boundary is :func:`geo.plans.redraw`, ``locked`` is
:func:`geo.plans.lock`, a delete is :func:`geo.plans.merge_grids` into the one neighbour),
each with its invariants, edit log, undo and audit row.

* Feature id: the micro-grid's code (an edit never renames a grid: split adds a new code,
  merge keeps the smaller one).
* Properties: ``code``, ``name``, ``parent_code``, ``households``, ``buildings`` (derived,
  read-only: sent back unchanged they are ignored, changed they are a 409 saying so) and
  ``locked`` (editable).
* ``ETag`` / ``If-Match``: the draft's revision as ``"plan-{id}-r{revision}"`` (the plans
  API's ``"7"`` is understood too); another revision → :class:`PreconditionFailed` (HTTP 412),
  nothing changed; so is ``If-Match: *`` on a feature the draft does not have (RFC 9110: no
  current representation); without ``If-Match`` a write applies to the current revision.
"""

from __future__ import annotations

import re
from typing import Any

import shapely
import shapely.geometry
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo import ogc
from geo.errors import ConflictError, GeometryError, InputError, NotFoundError
from geo.plans.drawn import parse_drawn
from geo.plans.edits import lock, merge_grids
from geo.plans.history import StaleRevision, check_revision, revision
from geo.plans.redrawing import redraw
from geo.plans.state import _editable, _plan
from geo.settings import get_settings
from geo.store.layers import LayerSpec

__all__ = [
    "DERIVED",
    "DRAFT_GRIDS",
    "EDITABLE",
    "DerivedProperty",
    "PreconditionFailed",
    "check_if_match",
    "delete",
    "draft_collection",
    "draft_collections",
    "etag",
    "neighbours",
    "plan_id_of",
    "queryables",
    "refuse_create",
    "update",
]

_CID = re.compile(r"^plan-(\d{1,12})-micro$")
_TAG = re.compile(r"^(?:plan-(\d+)-r)?(\d+)$")
OPEN = ("draft", "validated")
SAME_GEOMETRY_DEG = 1e-6  # a boundary sent back within ~0.1 m of the stored one is unchanged

DRAFT_GRIDS = LayerSpec(
    kind="plan-micro-grids",
    label=("草稿微网格", "draft micro-grids"),
    table="grid",
    geom="area",
    geom_column="boundary",
    attrs=(),
    select=(
        "t.code",
        "t.name",
        "pg.code AS parent_code",
        "t.households",
        # buildings with households in it, as GET /plans/{id}/grids counts them
        "(SELECT count(DISTINCT bu.building_id) FROM grid_member bm JOIN building_unit bu "
        "ON bu.id = bm.unit_id WHERE bm.grid_id = t.id AND bm.households > 0) AS buildings",
        "t.locked",
    ),
    joins="LEFT JOIN grid pg ON pg.id = t.parent_id",
)
# why each derived property cannot be written, and what to do instead
DERIVED: dict[str, str] = {
    "code": "code 是要素编号，不能修改 (the feature id; it cannot change)",
    "name": "name 在草稿中不可修改 (read-only: no plan edit sets a grid's name)",
    "parent_code": "parent_code 由小区网格决定 (derived: a micro-grid stays in its compound grid)",
    "households": "households 由楼栋计算 (derived; move buildings instead: POST "
    "/plans/{plan}/move)",
    "buildings": "buildings 由楼栋计算 (derived; move buildings instead: POST /plans/{plan}/move)",
}
EDITABLE = ("locked",)


class PreconditionFailed(ConflictError):
    """``If-Match`` names another revision of the draft (HTTP 412); nothing changed."""

    code = "precondition_failed"


class DerivedProperty(ConflictError):
    """A write changes a property computed from the draft (HTTP 409); nothing changed."""

    code = "derived_property"


def plan_id_of(cid: str) -> int | None:
    """The plan id of a draft collection id (``plan-7-micro`` → 7), else None."""
    m = _CID.match(cid)
    return int(m.group(1)) if m else None


def _collection(plan_id: int, community: str, version_id: int) -> ogc.Collection:
    return ogc.Collection(
        f"plan-{plan_id}-micro",
        f"方案 {plan_id} 草稿微网格 (draft micro-grids of plan {plan_id}, {community})",
        DRAFT_GRIDS,
        f"t.version_id = {int(version_id)} AND t.level = 'micro'",
    )


def draft_collection(session: Session, plan_id: int) -> ogc.Collection:
    """The draft's micro-grids as a collection; 404 for an unknown plan or one that is no
    longer a draft (published or discarded: its grids are a version now, or gone)."""
    p = _plan(session, plan_id)
    if p.status not in OPEN:
        raise NotFoundError(
            f"方案 {plan_id} 不是草稿 ({p.status})，没有可编辑的集合 (plan {plan_id} is "
            f"{p.status}, not a draft: no collection plan-{plan_id}-micro)"
        )
    return _collection(p.id, p.community, p.draft_version_id)


def draft_collections(session: Session) -> list[ogc.Collection]:
    """Every open draft's collection, by plan id."""
    rows = session.execute(
        text(
            "SELECT p.id, c.code, p.draft_version_id FROM plan p JOIN community c ON "
            "c.id = p.community_id WHERE p.status IN ('draft', 'validated') ORDER BY p.id"
        )
    ).all()
    return [_collection(int(r[0]), str(r[1]), int(r[2])) for r in rows]


def etag(plan_id: int, rev: int) -> str:
    """The strong entity tag of the draft at a revision: ``"plan-7-r12"``."""
    return f'"plan-{plan_id}-r{rev}"'


def check_if_match(session: Session, plan_id: int, if_match: str | None) -> int:
    """The draft's revision, its plan row locked for the write that follows
    (:func:`geo.plans.check_revision`). ``If-Match`` may be ``"plan-7-r12"``, the plans
    API's ``"12"``, a list of them, or ``*``; none naming the current revision (or naming
    another plan) → :class:`PreconditionFailed`."""
    if if_match is None or if_match.strip() == "*":
        return check_revision(session, plan_id, None)
    revs = []
    for part in if_match.split(","):
        tag = part.strip()
        if tag[:2] in ("W/", "w/"):  # If-Match compares strongly (RFC 9110 13.1.1): no match
            continue
        m = _TAG.match(tag.strip('"'))
        if m and (m.group(1) is None or int(m.group(1)) == plan_id):
            revs.append(m.group(2))
    try:
        return check_revision(session, plan_id, ", ".join(f'"{r}"' for r in revs) or '"-"')
    except StaleRevision as exc:
        current = exc.detail["revision"]
        raise PreconditionFailed(
            f"If-Match 与草稿当前修订不符，未做任何更改 (precondition failed: the draft is at "
            f"{etag(plan_id, current)}, If-Match was {if_match.strip()}; nothing changed — "
            "reload the layer)",
            detail={"revision": current, "etag": etag(plan_id, current), "given": if_match},
        ) from None


def queryables(c: ogc.Collection, base: str) -> dict[str, Any]:
    """The collection's queryables with the types and which properties are read-only."""
    out = ogc.queryables(c, base)  # typed already (integer, string, boolean locked)
    for name in ("households", "buildings", "code", "name", "parent_code"):
        out["properties"][name]["readOnly"] = True
    return out


def _current(
    session: Session, plan_id: int, version_id: int, fid: str, if_match: str | None = None
) -> dict[str, Any]:
    """The draft micro-grid's properties and boundary (storage CRS); 404 naming it — but 412
    for ``If-Match: *``, which asks for a current representation (RFC 9110 13.1.1)."""
    sql = (
        f"SELECT {', '.join(DRAFT_GRIDS.select)}, ST_AsBinary(t.boundary) AS wkb FROM grid t "
        f"{DRAFT_GRIDS.joins} WHERE t.version_id = :v AND t.level = 'micro' AND t.code = :c"
    )
    row = session.execute(text(sql), {"v": version_id, "c": fid}).mappings().first()
    if row is None and (if_match or "").strip() == "*":
        tag = etag(plan_id, revision(session, plan_id))
        raise PreconditionFailed(
            f"If-Match: * 但草稿中没有该微网格，未做任何更改 (precondition failed: If-Match: * "
            f"and no micro-grid {fid!r} in the draft; nothing changed)",
            detail={"etag": tag, "given": if_match, "feature": fid},
        )
    if row is None:
        raise NotFoundError(f"草稿中没有该微网格 (no such micro-grid in the draft): {fid!r}")
    return dict(row)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return float(a) == float(b)
    if a is None or b is None:
        return a is b
    return str(a) == str(b)


def _property_changes(
    plan_id: int, fid: str, current: dict[str, Any], props: Any
) -> dict[str, Any]:
    """The editable properties the client changes; derived ones must be sent unchanged
    (409 naming the first that is not), unknown ones are a 400 naming them."""
    if props is None:
        return {}
    if not isinstance(props, dict):
        raise InputError("properties 应为对象 (properties must be a JSON object)")
    unknown = sorted(set(props) - set(DERIVED) - set(EDITABLE) - {"id"})
    if unknown:
        raise InputError(
            f"未知属性 (unknown properties) {unknown}: 可用 (known) {sorted([*DERIVED, *EDITABLE])}"
        )
    if "id" in props and props["id"] is not None and str(props["id"]) != fid:
        raise DerivedProperty(f"id {props['id']!r} ≠ {fid!r}: {DERIVED['code']}")
    for name, why in DERIVED.items():
        if name in props and not _same(props[name], current[name]):
            raise DerivedProperty(
                f"{why.format(plan=plan_id)}: {name} = {current[name]!r}, 收到 (got) "
                f"{props[name]!r}；未做任何更改 (nothing changed)",
                detail={"property": name, "current": current[name], "given": props[name]},
            )
    changes = {}
    if "locked" in props:
        if not isinstance(props["locked"], bool):
            raise InputError(
                f"locked 应为 true 或 false (locked must be a boolean): {props['locked']!r}"
            )
        if props["locked"] is not current["locked"]:
            changes["locked"] = props["locked"]
    return changes


def _content_crs(value: str | None) -> tuple[str, bool]:
    """The CRS of a ``Content-Crs`` header (``<uri>`` or a bare URI; default CRS84) as
    :func:`geo.plans.parse_drawn` takes it, and whether its axes come latitude/northing
    first (as EPSG:4490 and EPSG:4544 define them, and QGIS sends them)."""
    v = (value or "").strip()
    if v.startswith("<") and v.endswith(">"):
        v = v[1:-1].strip()
    _, srid, flip = ogc.parse_crs_uri(v or None, "Content-Crs")
    return ("OGC:CRS84" if srid == 4326 else f"EPSG:{srid}"), flip


def _xy(geometry: Any, flip: bool) -> Any:
    """The GeoJSON geometry with x first (longitude/easting), as the plan edits take it."""
    if not flip:
        return geometry
    try:
        g = shapely.geometry.shape(geometry)
    except Exception as exc:  # shapely raises several kinds for malformed input
        raise GeometryError(f"无法读取几何 (cannot read the geometry): {exc}") from exc
    return shapely.geometry.mapping(shapely.transform(g, lambda c: c[:, ::-1]))


def _new_boundary(current: dict[str, Any], geometry: Any, content_crs: str | None) -> Any:
    """The geometry to redraw with (x first, with its CRS), or None when it is the stored
    boundary again (within :data:`SAME_GEOMETRY_DEG`). Invalid geometry (self-intersecting,
    wrong type, out of range) is a 400 naming the problem."""
    if geometry is None:
        raise GeometryError("微网格必须有边界 (a micro-grid needs a boundary: geometry is null)")
    if not isinstance(geometry, dict):
        raise GeometryError("geometry 应为 GeoJSON 对象 (geometry must be a GeoJSON object)")
    crs, flip = _content_crs(content_crs)
    xy = _xy(geometry, flip)
    drawn = parse_drawn(xy, crs, kinds=("Polygon", "MultiPolygon"))
    stored = shapely.from_wkb(bytes(current["wkb"]))
    if float(shapely.hausdorff_distance(drawn, stored)) < SAME_GEOMETRY_DEG:
        return None
    return xy, crs


def update(
    session: Session,
    plan_id: int,
    fid: str,
    body: Any,
    *,
    partial: bool,
    content_crs: str | None,
    if_match: str | None,
    actor: str,
) -> dict[str, Any]:
    """PUT (``partial`` False: a whole Feature) or PATCH (a JSON merge patch: only the
    members sent) of one draft micro-grid, as the plan's edits: a new boundary → redraw,
    ``locked`` → lock / unlock (unlocking first, locking last, so a locked grid can be
    unlocked and redrawn in one request). Everything is checked before the first edit; one
    transaction (the caller's). ``{"edits": [...], "revision"}``."""
    check_if_match(session, plan_id, if_match)
    p = _plan(session, plan_id)
    _editable(p)
    if not isinstance(body, dict):
        raise InputError("请求体应为 GeoJSON 要素 (the body must be a GeoJSON Feature object)")
    if not partial and body.get("type") != "Feature":
        raise InputError(
            f"PUT 需要 GeoJSON Feature (PUT needs a Feature), got type {body.get('type')!r}"
        )
    if "id" in body and body["id"] is not None and str(body["id"]) != fid:
        raise InputError(f"要素 id {body['id']!r} 与地址中的 {fid!r} 不符 (the body's id differs)")
    current = _current(session, plan_id, p.draft_version_id, fid, if_match)
    changes = _property_changes(plan_id, fid, current, body.get("properties"))
    drawn = None
    if not partial or "geometry" in body:
        drawn = _new_boundary(current, body.get("geometry"), content_crs)
    edits = []
    if changes.get("locked") is False:
        lock(session, plan_id, grids=[fid], locked=False, actor=actor)
        edits.append("unlock")
    if drawn is not None:
        redraw(session, plan_id, grid=fid, geometry=drawn[0], crs=drawn[1], actor=actor)
        edits.append("redraw")
    if changes.get("locked") is True:
        lock(session, plan_id, grids=[fid], locked=True, actor=actor)
        edits.append("lock")
    return {"edits": edits, "revision": revision(session, plan_id)}


def neighbours(session: Session, version_id: int, fid: str) -> list[str]:
    """The draft micro-grids of the same compound grid sharing a border (at least 0.5 m, as
    merge requires) with ``fid``."""
    metric = int(get_settings().metric_srid)
    rows = session.execute(
        text(
            "SELECT n.code FROM grid g JOIN grid n ON n.version_id = g.version_id AND "
            "n.parent_id = g.parent_id AND n.level = 'micro' AND n.id <> g.id AND "
            "n.boundary && g.boundary WHERE g.version_id = :v AND g.level = 'micro' AND "
            "g.code = :c AND ST_Length(ST_Transform(ST_Intersection(ST_Boundary(g.boundary), "
            f"ST_Boundary(n.boundary)), {metric})) >= 0.5 ORDER BY n.code"
        ),
        {"v": version_id, "c": fid},
    ).scalars()
    return [str(c) for c in rows]


def delete(
    session: Session, plan_id: int, fid: str, *, if_match: str | None, actor: str
) -> dict[str, Any]:
    """DELETE of a draft micro-grid: merged into its neighbour when it has exactly one (the
    one obvious target; the merged grid keeps the smaller code, as merge does); with none or
    several, a 409 naming them and the merge to send instead."""
    check_if_match(session, plan_id, if_match)
    p = _plan(session, plan_id)
    _editable(p)
    _current(session, plan_id, p.draft_version_id, fid, if_match)
    near = neighbours(session, p.draft_version_id, fid)
    if len(near) != 1:
        raise ConflictError(
            f"微网格 {fid} 有 {len(near)} 个相邻微网格 {near}，无法确定并入哪一个，未做任何更改 "
            f"(grid {fid} borders {len(near)} micro-grids of its compound grid, so a delete "
            f"has no single target; merge it instead: POST /plans/{plan_id}/merge "
            f'{{"grids": ["{fid}", "<neighbour>"]}})',
            detail={"neighbours": near},
        )
    if fid < near[0]:  # merge keeps the smaller code: fid would stay and its neighbour go
        raise ConflictError(
            f"微网格 {fid} 与唯一相邻的 {near[0]} 合并时保留的是 {fid}（编码较小），删除它会删掉 "
            f"{near[0]}，未做任何更改 (deleting {fid} would merge it with its one neighbour "
            f"{near[0]} and keep {fid}, the smaller code — the feature deleted would stay; "
            f"delete {near[0]} instead, or POST /plans/{plan_id}/merge "
            f'{{"grids": ["{fid}", "{near[0]}"]}})',
            detail={"neighbours": near, "delete_instead": near[0]},
        )
    return merge_grids(session, plan_id, grids=[fid, near[0]], actor=actor)


def refuse_create(plan_id: int) -> ConflictError:
    """POST of a new feature: a micro-grid is made by splitting one, never drawn from
    nothing (every household must stay in exactly one)."""
    return ConflictError(
        "新建微网格请在编辑器中拆分 (a new micro-grid comes from a split: use split in "
        f"/app/planner or POST /plans/{plan_id}/split with a line or a building list); "
        "未做任何更改 (nothing changed)",
        detail={"use": f"/plans/{plan_id}/split"},
    )
