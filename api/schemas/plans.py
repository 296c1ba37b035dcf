"""Response schemas of the plans routes (``/plans``): what :mod:`geo.plans` and
:func:`geo.departments.merge_departments` return, field for field. Times are ISO 8601
strings as the library writes them."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

PlanStatus = Literal["draft", "validated", "published", "discarded"]


# --- plans ------------------------------------------------------------------------------------
class PlanEdit(BaseModel):
    """One entry of a plan's edit log."""

    seq: int
    op: str = Field(examples=["move"])
    actor: str
    at: str = Field(description="ISO 8601")
    params: dict[str, Any] = Field(description="the edit's request, as given")
    summary: dict[str, Any] = Field(description="the edit's result, as returned (differs by op)")


class PlanPublic(BaseModel):
    id: int
    name: str
    community: str
    author: str
    status: PlanStatus
    base_version: int | None
    draft_version: int
    current_version: int | None
    stale: bool = Field(description="an open plan whose base is no longer the current version")
    revision: int = Field(description='the draft\'s revision, also the ETag (`"7"`)')
    undo: int = Field(description="edits that can be undone now")
    redo: int = Field(description="undone edits that can be redone now")
    edits: list[PlanEdit] = Field(description="the edits in effect (not the undone ones)")


class PlanListed(BaseModel):
    id: int
    name: str
    community: str
    author: str
    status: PlanStatus
    base_version: int | None
    draft_version: int
    updated_at: str = Field(description="ISO 8601")


class PlanList(BaseModel):
    plans: list[PlanListed]


class VersionPublic(BaseModel):
    version: int
    status: str = Field(examples=["published", "superseded", "draft", "discarded"])
    source: str | None
    created_by: str | None
    created_at: str = Field(description="ISO 8601")
    published_at: str | None = Field(description="ISO 8601")
    micro_grids: int
    plan: int | None = Field(description="the plan whose draft the version is")


class History(BaseModel):
    community: str
    versions: list[VersionPublic] = Field(description="newest first")


# --- edits ------------------------------------------------------------------------------------
class _Revised(BaseModel):
    """The draft's revision after the change (also the answer's ETag)."""

    revision: int


class _Stacked(_Revised):
    """The revision, and how many edits can be undone and redone after the change."""

    undo: int = Field(description="edits that can be undone now")
    redo: int = Field(description="undone edits that can be redone now")


class _Edit(_Stacked):
    """What every edit returns: its place in the edit log, the micro-grids it changed and
    the draft's band warnings after it; the revision, undo and redo counts after it."""

    op: str
    seq: int
    changed: list[str]
    warnings: int


class MoveResult(_Edit):
    moved_households: int
    from_: list[str] = Field(alias="from")
    to: str
    removed: list[str] = Field(description="grids left with no building, absorbed by the target")


class RedrawResult(_Edit):
    grid: str
    area_m2: float
    clipped_m2: float = Field(description="what the parent grid clipped off the drawn polygon")
    moved_buildings: dict[str, list[str]] = Field(description="grid → buildings it received")
    removed: list[str]


class SplitResult(_Edit):
    grid: str
    new: str
    households: dict[str, int]


class MergeResult(_Edit):
    kept: str
    removed: list[str]
    households: int


class RepartitionResult(_Edit):
    compound: str
    kept_locked: list[str]
    removed: list[str]
    new: list[str]
    households: dict[str, int]
    status: str = Field(description="the partitioner's status for the compound")
    reason: str


class LockResult(_Edit):
    locked: list[str]


class UnlockResult(_Edit):
    unlocked: list[str]


class UndoResult(_Stacked):
    undone: str = Field(description="the op undone")
    seq: int
    changed: list[str] = Field(
        description="every micro-grid the undo changed (added, removed, or with another "
        "boundary, households, lock or members): refetch these, drop the ones that no longer "
        "exist"
    )


# --- validation, diff, publishing -------------------------------------------------------------
class FindingPublic(BaseModel):
    severity: Literal["error", "warning"]
    check: str
    grid: str | None
    message: str
    detail: dict[str, Any]


class ReportPublic(_Revised):
    ok: bool
    errors: int
    warnings: int
    stats: dict[str, Any]
    findings: list[FindingPublic]


class DiffSummary(BaseModel):
    community: str
    from_: int = Field(alias="from")
    to: int
    grids_added: int
    grids_removed: int
    grids_changed: int
    grids_unchanged: int
    households_moved: int
    buildings_moved: int


class GridChange(BaseModel):
    code: str
    change: Literal["added", "removed", "changed", "unchanged"]
    households_old: int | None
    households_new: int | None
    shape_changed: bool


class HouseholdMove(BaseModel):
    household: str
    old: str | None
    new: str | None


class BuildingMove(BaseModel):
    building: str
    old: list[str]
    new: list[str]


class DiffPublic(BaseModel):
    summary: DiffSummary
    grids: list[GridChange] = Field(description="the grids that changed")
    households: list[HouseholdMove]
    buildings: list[BuildingMove]


class PublishResult(_Revised):
    plan: int
    version: int
    previous: int
    warnings: int
    reassigned: dict[str, int] = Field(description="households and incidents re-assigned")


class DiscardResult(_Revised):
    plan: int
    status: Literal["discarded"]


# --- departmental grids -----------------------------------------------------------------------
class UnifiedShare(BaseModel):
    grid: str
    households: int
    household_share: float
    area_m2: float
    area_share: float
    share_of_grid_area: float


class CrosswalkRow(BaseModel):
    department: str
    grid: str
    households: int
    area_m2: float
    unified: list[UnifiedShare]


class DepartmentVote(BaseModel):
    grid: str | None
    majority: str | None


class Conflict(BaseModel):
    household: str
    unified_grid: str
    departments: dict[str, DepartmentVote]
    disagreeing: int


class DepartmentSummary(BaseModel):
    departmental_grids: int
    unified_grids: int
    households: int
    households_in_conflict: int
    households_in_conflict_with_2_or_more: int


class Proposal(BaseModel):
    plan: int
    draft_version: int
    micro_grids: int
    in_band: int
    grids_across_an_agreed_boundary: int
    warnings: int


class DepartmentMergePublic(BaseModel):
    community: str
    departments: list[str]
    crosswalk: list[CrosswalkRow]
    conflicts: list[Conflict]
    summary: DepartmentSummary
    proposal: Proposal | None = Field(default=None, description="absent without `propose`")


# --- redo -------------------------------------------------------------------------------------
class RedoResult(_Stacked):
    redone: str = Field(description="the op redone")
    seq: int
    changed: list[str] = Field(
        description="every micro-grid the redo changed (added, removed, or with another "
        "boundary, households, lock or members): refetch these, drop the ones that no longer "
        "exist"
    )


# --- the browser editor's reading (geo.plans.reading) -----------------------------------------
class PlanUnit(BaseModel):
    code: str = Field(description="`<building>-U<n>`, as `move` takes it")
    households: int
    grid: str | None = Field(description="the draft micro-grid holding most of its households")
    grids: list[str] = Field(description="every draft micro-grid holding it (floor groups)")


class PlanBuildingProperties(BaseModel):
    code: str
    name: str
    households: int
    grid: str | None = Field(description="the draft micro-grid holding most of its households")
    grids: list[str] = Field(description="every draft micro-grid holding some of them")
    units: list[PlanUnit]


class PlanBuilding(BaseModel):
    type: Literal["Feature"] = "Feature"
    id: str
    geometry: dict[str, Any] = Field(description="the footprint, CRS84, 7 decimals")
    properties: PlanBuildingProperties


class PlanBuildings(BaseModel):
    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[PlanBuilding]
    numberMatched: int
    numberReturned: int
    plan: int
    version: int = Field(description="the draft version")
    community: str


class PreviewGrids(BaseModel):
    added: int
    removed: int
    changed: int


class PreviewResult(BaseModel):
    plan: int
    stale: bool = Field(description="its base is no longer the current version: publish refuses")
    base_version: int | None
    current_version: int | None
    draft_version: int
    households: int = Field(description="households whose micro-grid publishing would change")
    incidents: int = Field(description="incidents whose micro-grid publishing would change")
    grids: PreviewGrids = Field(description="micro-grids against the current version")
    errors: int = Field(description="validation errors (publish refuses them)")
    warnings: int
    reassigned: dict[str, int] = Field(
        description="publish's `reassigned` counts, as it would report them"
    )
