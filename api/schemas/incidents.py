"""Response schemas of the incident routes, one per audience (``geo.incidents.views``): the
public, the holder of the reporter token, staff in scope. A field an audience is not given
is not in its model, so an answer can carry no more than its audience may see."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Discriminator, Field, Tag

from api.schemas.locate import WorkerPublic

__all__ = [
    "Categories",
    "Escalation",
    "IncidentList",
    "IncidentPublic",
    "IncidentRead",
    "IncidentReported",
    "IncidentReporter",
    "IncidentStaff",
    "IncidentStaffRow",
    "IncidentTransitioned",
    "PhotoAdded",
]

OUTCOME = Field(
    default=None,
    description="how it ended, once closed: solved (已解决), not_solved (未解决), referred (已转交)",
)


class EventPublic(BaseModel):
    at: str
    to_status: str


class EventReporter(BaseModel):
    at: str
    from_status: str | None
    to_status: str
    by: str = Field(description="the role that acted (no staff names)")
    note: str | None = Field(default=None, description="the reporter's own notes only")


class EventStaff(BaseModel):
    at: str
    actor: str
    from_status: str | None
    to_status: str
    note: str | None


class IncidentPublic(BaseModel):
    """What anyone may know: no description, address, floor, exact point, name or note."""

    code: str
    category: str
    category_name: str
    status: str
    status_name: str
    outcome: str | None = OUTCOME
    outcome_name: str | None = None
    referred_to: str | None = Field(default=None, description="where it was referred to")
    reported_at: str
    micro_grid: str | None
    compound_grid: str | None
    community: str | None
    street: str | None
    lon: float | None = Field(description="snapped to the nodes of a 50 m grid")
    lat: float | None
    position_precision_m: int
    history: list[EventPublic]


class IncidentReporter(BaseModel):
    """What the holder of the reporter token sees of its own report."""

    code: str
    category: str
    category_name: str
    description: str
    address: str | None
    floor: int | None
    status: str
    status_name: str
    outcome: str | None = OUTCOME
    outcome_name: str | None = None
    referred_to: str | None = None
    reported_at: str
    updated_at: str
    closed_at: str | None
    due: str | None = Field(description="the deadline of the tier the incident waits on")
    overdue: bool
    micro_grid: str | None
    compound_grid: str | None
    compound_name: str | None
    community: str | None
    community_name: str | None
    street: str | None
    street_name: str | None
    lon: float
    lat: float
    history: list[EventReporter]
    allowed: list[str] = Field(description="the transitions the reporter may make")


class IncidentReported(IncidentReporter):
    """The answer to a report: the reporter view, the token to follow it, and the workers
    responsible."""

    reporter_token: str
    workers: list[WorkerPublic]


class IncidentStaffRow(BaseModel):
    """An incident as staff in scope list it: the whole record."""

    id: int
    code: str
    category: str
    category_name: str
    description: str
    address: str | None
    floor: int | None
    status: str
    status_name: str
    outcome: str | None = OUTCOME
    outcome_name: str | None = None
    referred_to: str | None = None
    reported_at: str
    updated_at: str
    accept_due: str | None
    handle_due: str | None
    resolve_due: str | None
    closed_at: str | None
    due: str | None
    overdue: bool
    escalations: int
    lon: float
    lat: float
    micro_grid: str | None
    compound_grid: str | None
    compound_name: str | None
    community: str | None
    community_name: str | None
    street: str | None
    street_name: str | None
    duplicate_of: str | None = Field(description="the code of the incident it may duplicate")
    co_owner_grids: list[str]
    co_owner_grid: str | None = Field(description="the first of co_owner_grids")


class ReporterContact(BaseModel):
    name: str | None
    phone: str | None
    email: str | None = Field(default=None, description="given through Open311, if any")


class AllowedStep(BaseModel):
    to: str
    name: str = Field(description="the state's Chinese name")


class CoOwner(BaseModel):
    grid: str
    reason: str = Field(description="edge (near a grid edge) or floors (a tower's floor groups)")


class ChainLink(BaseModel):
    level: str = Field(description="micro_grid, compound_grid, community, street")
    level_name: str
    code: str
    name: str | None


class IncidentStaff(IncidentStaffRow):
    """One incident for staff in scope, with its history; the reporter's name and phone
    only in the answer to ``GET /incidents/{code}`` (and that read is audited), which also
    carries what the caller needs to act: co-owners, grid chain, workers, photo numbers."""

    history: list[EventStaff]
    allowed: list[AllowedStep] = Field(description="the transitions this caller may make now")
    reporter: ReporterContact | None = None
    co_owners: list[CoOwner] | None = None
    grid_chain: list[ChainLink] | None = None
    workers: list[WorkerPublic] | None = None
    photos: list[int] | None = Field(default=None, description="GET /incidents/{code}/photos/{n}")


class IncidentList(BaseModel):
    numberMatched: int
    numberReturned: int
    incidents: list[IncidentStaffRow]


class Category(BaseModel):
    key: str
    name: str = Field(description="the Chinese label (also accepted as the category)")
    name_en: str
    group: str = Field(description="the Chinese group it is listed under")


class Categories(BaseModel):
    categories: list[Category]


class PhotoAdded(BaseModel):
    photo: int = Field(description="its number (1–3)")
    bytes: int = Field(description="the size stored, re-encoded without metadata")
    width: int
    height: int


class EscalationStep(BaseModel):
    code: str
    from_: str = Field(alias="from")
    to: str
    note: str | None = Field(default=None, description="top tier: counted, not moved")


class Escalation(BaseModel):
    at: str = Field(description="the server's time the run judged by")
    street: str | None = Field(description="the street escalated (null: every street)")
    escalated: list[EscalationStep]
    count: int


def _audience(value: Any) -> str:
    """Which view an answer is (the public view alone has ``position_precision_m``, the
    staff view alone the numeric ``id``)."""
    keys = value if isinstance(value, dict) else vars(value)
    if "position_precision_m" in keys:
        return "public"
    return "staff" if "id" in keys else "reporter"


IncidentRead = Annotated[
    Annotated[IncidentPublic, Tag("public")]
    | Annotated[IncidentReporter, Tag("reporter")]
    | Annotated[IncidentStaff, Tag("staff")],
    Discriminator(_audience),
]
IncidentTransitioned = Annotated[
    Annotated[IncidentReporter, Tag("reporter")] | Annotated[IncidentStaff, Tag("staff")],
    Discriminator(_audience),
]
