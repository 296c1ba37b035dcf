"""Plans (规划方案): planners draft, edit, validate, diff and publish grid boundaries; merge
departmental grid layers. Planner role (and admin) only."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Query, Response
from pydantic import BaseModel, Field

from api.deps import SessionDep, require_role
from api.routes.layers import BBox
from api.schemas.plans import (
    DepartmentMergePublic,
    DiffPublic,
    DiscardResult,
    History,
    LockResult,
    MergeResult,
    MoveResult,
    PlanBuildings,
    PlanList,
    PlanPublic,
    PlanStatus,
    PreviewResult,
    PublishResult,
    RedoResult,
    RedrawResult,
    RepartitionResult,
    ReportPublic,
    SplitResult,
    UndoResult,
    UnlockResult,
)
from geo import plans as gp
from geo.departments import merge_departments
from geo.plans.reading import MAX_BUILDINGS, parse_codes
from geo.runtime.auth import Principal
from geo.store.features import parse_bbox

router = APIRouter(prefix="/plans", tags=["plans"])
Planner = Annotated[Principal, Depends(require_role("planner"))]
Code = Annotated[str, Field(max_length=64)]
Codes = Annotated[
    str | None, Query(description="逗号分隔的编码 (comma-separated codes), at most 500")
]
# the diff routes answer JSON (the model) or, with `format`, a file
DIFF_FORMATS: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {
            "text/csv": {},
            "application/geo+json": {},
            "application/geopackage+sqlite3": {},
        }
    }
}


IfMatch = Annotated[
    str | None,
    Header(
        max_length=200,
        description='the draft\'s revision the request is based on (the ETag: "7", W/"7" or *); '
        "another one → 409 `stale_revision`, nothing changed; without it the request applies "
        "to the current revision",
    ),
]


def _actor(p: Principal) -> str:
    return f"{p.role}:{p.name}"


def _tagged(response: Response, result: dict[str, Any]) -> dict[str, Any]:
    """The answer with the draft's revision as its ETag (strong, quoted: ``"7"``)."""
    response.headers["ETag"] = f'"{result["revision"]}"'
    return result


class PlanCreate(BaseModel):
    community: Code
    name: str | None = Field(default=None, max_length=200)


class Move(BaseModel):
    buildings: list[Code] = Field(min_length=1, max_length=500, examples=[["510107013001-C02-B03"]])
    to: Code


class Redraw(BaseModel):
    grid: Code
    geometry: dict[str, Any] = Field(description="GeoJSON Polygon / MultiPolygon or Feature")
    crs: str | None = Field(default=None, max_length=120, description="默认 CRS84 (default)")


class Split(BaseModel):
    grid: Code
    line: dict[str, Any] | None = Field(default=None, description="GeoJSON LineString")
    buildings: list[Code] | None = Field(default=None, max_length=500)
    crs: str | None = Field(default=None, max_length=120)


class Merge(BaseModel):
    grids: list[Code] = Field(min_length=2, max_length=2)


class Repartition(BaseModel):
    compound: Code
    seed: int = Field(default=0, ge=0, le=2**31)


class Lock(BaseModel):
    grids: list[Code] = Field(min_length=1, max_length=500)


class DepartmentLayer(BaseModel):
    department: str = Field(max_length=100, examples=["综治"])
    code_field: str = Field(default="code", max_length=64)
    crs: str | None = Field(default=None, max_length=120)
    features: dict[str, Any] = Field(description="GeoJSON FeatureCollection of grid polygons")


class DepartmentMerge(BaseModel):
    community: Code
    layers: list[DepartmentLayer] = Field(min_length=1, max_length=12)
    propose: bool = True
    seed: int = Field(default=0, ge=0, le=2**31)


@router.post("", status_code=201, response_model=PlanPublic)
def create(
    body: PlanCreate, session: SessionDep, who: Planner, response: Response
) -> dict[str, Any]:
    """起草 (create a draft): a copy of the community's current grids."""
    return _tagged(
        response, gp.create_plan(session, body.community, author=_actor(who), name=body.name)
    )


@router.get("", response_model=PlanList)
def index(
    session: SessionDep,
    who: Planner,
    community: Annotated[str | None, Query(max_length=64)] = None,
    status: PlanStatus | None = None,
) -> dict[str, Any]:
    return {"plans": gp.list_plans(session, community=community, status=status)}


@router.get("/history", response_model=History)
def history(
    session: SessionDep, who: Planner, community: Annotated[str, Query(max_length=64)]
) -> dict[str, Any]:
    """版本历史 (the community's versions; published ones are queryable at
    `/grids?community_code=&version=`)."""
    return {"community": community, "versions": gp.versions(session, community)}


@router.get("/diff", response_model=DiffPublic, responses=DIFF_FORMATS)
def diff_any(
    session: SessionDep,
    who: Planner,
    community: Annotated[str, Query(max_length=64)],
    from_version: Annotated[int, Query(alias="from", ge=1)],
    to_version: Annotated[int, Query(alias="to", ge=1)],
    format: Literal["json", "csv", "geojson", "gpkg"] = "json",
) -> Any:
    """两个版本的差异 (the difference between any two versions)."""
    return _diff_response(gp.diff_versions(session, community, from_version, to_version), format)


@router.post(
    "/merge-departments",
    response_model=DepartmentMergePublic,
    response_model_exclude_unset=True,  # no "proposal" without `propose`
)
def departments(body: DepartmentMerge, session: SessionDep, who: Planner) -> dict[str, Any]:
    """多格合一 (merge departmental grids): crosswalk, conflicts, and a proposed unified
    micro-grid layer as a new draft."""
    return merge_departments(
        session,
        body.community,
        [layer.model_dump() for layer in body.layers],
        propose=body.propose,
        seed=body.seed,
        actor=_actor(who),
    )


@router.get("/{plan_id}", response_model=PlanPublic)
def show(plan_id: int, session: SessionDep, who: Planner, response: Response) -> dict[str, Any]:
    """方案与修改记录 (the plan, its revision — also the ETag — and the edits in effect)."""
    return _tagged(response, gp.get_plan(session, plan_id))


@router.get("/{plan_id}/grids")
def grids(
    plan_id: int,
    session: SessionDep,
    who: Planner,
    response: Response,
    level: Literal["community", "compound", "micro"] | None = None,
    codes: Codes = None,
    bbox: BBox = None,
) -> dict[str, Any]:
    """草稿的网格 (the draft's grids, GeoJSON, with the draft's revision: also the ETag):
    with name, households, buildings (with households) and workers (who serves it); the body
    names the community and the band."""
    revision = gp.revision(session, plan_id)  # first: the grids are at least as new
    out = gp.plan_grids(
        session, plan_id, level=level, codes=parse_codes(codes), bbox=parse_bbox(bbox)
    )
    return _tagged(response, out | {"revision": revision})


# Every POST on a plan: `If-Match` checked under the plan row's lock (the transaction of the
# change), the answer's ETag the draft's new revision.
@router.post("/{plan_id}/move", response_model=MoveResult)
def move(
    plan_id: int,
    body: Move,
    session: SessionDep,
    who: Planner,
    response: Response,
    if_match: IfMatch = None,
) -> dict[str, Any]:
    """移动楼栋/单元 (move buildings or units to another micro-grid)."""
    gp.check_revision(session, plan_id, if_match)
    out = gp.move(session, plan_id, buildings=body.buildings, to=body.to, actor=_actor(who))
    return _tagged(response, out)


@router.post("/{plan_id}/redraw", response_model=RedrawResult)
def redraw(
    plan_id: int,
    body: Redraw,
    session: SessionDep,
    who: Planner,
    response: Response,
    if_match: IfMatch = None,
) -> dict[str, Any]:
    """重画边界 (replace a grid's boundary with a drawn polygon)."""
    gp.check_revision(session, plan_id, if_match)
    out = gp.redraw(
        session, plan_id, grid=body.grid, geometry=body.geometry, crs=body.crs, actor=_actor(who)
    )
    return _tagged(response, out)


@router.post("/{plan_id}/split", response_model=SplitResult)
def split(
    plan_id: int,
    body: Split,
    session: SessionDep,
    who: Planner,
    response: Response,
    if_match: IfMatch = None,
) -> dict[str, Any]:
    """拆分网格 (split a grid by a line or a building list)."""
    gp.check_revision(session, plan_id, if_match)
    out = gp.split(
        session,
        plan_id,
        grid=body.grid,
        line=body.line,
        buildings=body.buildings,
        crs=body.crs,
        actor=_actor(who),
    )
    return _tagged(response, out)


@router.post("/{plan_id}/merge", response_model=MergeResult)
def merge(
    plan_id: int,
    body: Merge,
    session: SessionDep,
    who: Planner,
    response: Response,
    if_match: IfMatch = None,
) -> dict[str, Any]:
    """合并网格 (merge two adjacent grids)."""
    gp.check_revision(session, plan_id, if_match)
    return _tagged(response, gp.merge_grids(session, plan_id, grids=body.grids, actor=_actor(who)))


@router.post("/{plan_id}/repartition", response_model=RepartitionResult)
def repartition(
    plan_id: int,
    body: Repartition,
    session: SessionDep,
    who: Planner,
    response: Response,
    if_match: IfMatch = None,
) -> dict[str, Any]:
    """重新划分小区 (re-partition a compound, keeping locked grids)."""
    gp.check_revision(session, plan_id, if_match)
    out = gp.repartition(
        session, plan_id, compound=body.compound, seed=body.seed, actor=_actor(who)
    )
    return _tagged(response, out)


@router.post("/{plan_id}/lock", response_model=LockResult)
def lock(
    plan_id: int,
    body: Lock,
    session: SessionDep,
    who: Planner,
    response: Response,
    if_match: IfMatch = None,
) -> dict[str, Any]:
    """锁定网格 (lock grids: every edit that would change them is refused)."""
    gp.check_revision(session, plan_id, if_match)
    out = gp.lock(session, plan_id, grids=body.grids, locked=True, actor=_actor(who))
    return _tagged(response, out)


@router.post("/{plan_id}/unlock", response_model=UnlockResult)
def unlock(
    plan_id: int,
    body: Lock,
    session: SessionDep,
    who: Planner,
    response: Response,
    if_match: IfMatch = None,
) -> dict[str, Any]:
    """解锁网格 (unlock grids)."""
    gp.check_revision(session, plan_id, if_match)
    out = gp.lock(session, plan_id, grids=body.grids, locked=False, actor=_actor(who))
    return _tagged(response, out)


@router.post("/{plan_id}/undo", response_model=UndoResult)
def undo(
    plan_id: int, session: SessionDep, who: Planner, response: Response, if_match: IfMatch = None
) -> dict[str, Any]:
    """撤销上一步 (undo the last edit in effect)."""
    gp.check_revision(session, plan_id, if_match)
    return _tagged(response, gp.undo(session, plan_id, actor=_actor(who)))


@router.post("/{plan_id}/redo", response_model=RedoResult)
def redo(
    plan_id: int, session: SessionDep, who: Planner, response: Response, if_match: IfMatch = None
) -> dict[str, Any]:
    """重做 (redo the most recently undone edit); 409 when there is none."""
    gp.check_revision(session, plan_id, if_match)
    return _tagged(response, gp.redo(session, plan_id, actor=_actor(who)))


@router.post("/{plan_id}/validate", response_model=ReportPublic)
def validate(
    plan_id: int, session: SessionDep, who: Planner, response: Response, if_match: IfMatch = None
) -> dict[str, Any]:
    """校验 (validate): errors block publishing, warnings do not."""
    gp.check_revision(session, plan_id, if_match)
    return _tagged(response, gp.validate(session, plan_id, actor=_actor(who)))


@router.get("/{plan_id}/diff", response_model=DiffPublic, responses=DIFF_FORMATS)
def diff(
    plan_id: int,
    session: SessionDep,
    who: Planner,
    format: Literal["json", "csv", "geojson", "gpkg"] = "json",
) -> Any:
    """与基础版本的差异 (the draft against its base, per grid, household and building)."""
    p = gp.get_plan(session, plan_id)
    d = gp.diff_versions(session, p["community"], p["base_version"], p["draft_version"])
    return _diff_response(d, format)


@router.post("/{plan_id}/publish", response_model=PublishResult)
def publish(
    plan_id: int, session: SessionDep, who: Planner, response: Response, if_match: IfMatch = None
) -> dict[str, Any]:
    """发布 (publish): the draft becomes the current version."""
    gp.check_revision(session, plan_id, if_match)
    return _tagged(response, gp.publish(session, plan_id, actor=_actor(who)))


@router.post("/{plan_id}/discard", response_model=DiscardResult)
def discard(
    plan_id: int, session: SessionDep, who: Planner, response: Response, if_match: IfMatch = None
) -> dict[str, Any]:
    """放弃草稿 (discard the draft)."""
    gp.check_revision(session, plan_id, if_match)
    return _tagged(response, gp.discard(session, plan_id, actor=_actor(who)))


@router.get("/{plan_id}/buildings", response_model=PlanBuildings)
def buildings(
    plan_id: int,
    session: SessionDep,
    who: Planner,
    bbox: BBox = None,
    codes: Codes = None,
    limit: Annotated[
        int, Query(description=f"at most {MAX_BUILDINGS} (默认 5000, default)")
    ] = 5000,
) -> dict[str, Any]:
    """草稿中的楼栋 (the community's buildings, GeoJSON footprints): each with its households,
    the draft micro-grid holding most of them, and its units (`<building>-U<n>`, as `move`
    takes them) with theirs."""
    return gp.plan_buildings(
        session, plan_id, bbox=parse_bbox(bbox), codes=parse_codes(codes), limit=limit
    )


@router.get("/{plan_id}/preview", response_model=PreviewResult)
def preview(plan_id: int, session: SessionDep, who: Planner) -> dict[str, Any]:
    """发布预览 (what publishing now would do, writing nothing): the households and incidents
    it would re-assign — the counts publishing then reports — grids added / removed /
    changed, validation errors and warnings, and whether the base is still current."""
    return gp.plan_preview(session, plan_id)


def _diff_response(d: gp.Diff, fmt: str) -> Any:
    if fmt == "json":
        return d.as_dict()
    data, media, suffix = gp.export_diff(d, fmt)
    name = f"diff-{d.community}-v{d.old}-v{d.new}.{suffix}"
    return Response(
        data, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )
