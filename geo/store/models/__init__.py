"""The domain model, stored in PostGIS (SQLAlchemy 2 + GeoAlchemy2).

Every geometry column declares its type and the storage SRID (setting ``storage_srid``,
EPSG:4490 by default), carries a GiST index, and a check constraint that it is valid.
Areas are stored as MultiPolygon (a single polygon is promoted on import).

The model is split by domain: :mod:`~geo.store.models.places`, :mod:`~geo.store.models.grids`,
:mod:`~geo.store.models.services`, :mod:`~geo.store.models.incidents`,
:mod:`~geo.store.models.operations`, :mod:`~geo.store.models.work` (visits, notices); the
vocabularies in :mod:`~geo.store.models.vocabularies`
and the base with the column helpers in :mod:`~geo.store.models.base`. Every name is
imported from here.

Tables::

    street ─< community ─< compound ─< building ─< building_unit ─< household ─ household_person
                         │            (shops along the street: building with no compound)
                         ├─< grid_version ─< grid (community > compound > micro) ─< grid_member
                         ├─< plan            (a draft grid_version against a base version)
    facility, open_resource, road, worker, incident ─< incident_event, incident_reporter,
    department, app_user, audit_log, open311_app ─< open311_request (→ incident)
    visit (→ incident), notice ─< notice_target, notice_outbox

Personal data (names and phones of residents and reporters) lives in ``household_person`` and
``incident_reporter`` only, so that access to it can be granted by role.
"""

from __future__ import annotations

from geo.store.models.base import Base
from geo.store.models.grids import Grid, GridMember, GridVersion, Plan, PlanEdit
from geo.store.models.incidents import (
    PUBLIC_CELL_M,
    Department,
    Incident,
    IncidentCoOwner,
    IncidentEvent,
    IncidentReporter,
    ReportHit,
)
from geo.store.models.open311 import Open311App, Open311Request
from geo.store.models.operations import (
    AppUser,
    AuditLog,
    IdempotencyKey,
    Job,
    LoginAttempt,
    UserSession,
)
from geo.store.models.places import (
    Building,
    BuildingUnit,
    Community,
    Compound,
    Household,
    HouseholdPerson,
    Street,
)
from geo.store.models.services import Facility, OpenResource, Road, RoadEdge, RoadVertex, Worker
from geo.store.models.vocabularies import (
    BUILDING_USES,
    FACILITY_KINDS,
    GRID_LEVELS,
    INCIDENT_CATEGORIES,
    INCIDENT_STATUSES,
    OPINIONS,
    PLAN_STATUSES,
    RESOURCE_KINDS,
    ROAD_KINDS,
    ROLES,
    VERSION_STATUSES,
    WORKER_ROLES,
)
from geo.store.models.work import Notice, NoticeOutbox, NoticeTarget, Visit

__all__ = [
    "BUILDING_USES",
    "FACILITY_KINDS",
    "GRID_LEVELS",
    "INCIDENT_CATEGORIES",
    "INCIDENT_STATUSES",
    "OPINIONS",
    "PLAN_STATUSES",
    "PUBLIC_CELL_M",
    "RESOURCE_KINDS",
    "ROAD_KINDS",
    "ROLES",
    "VERSION_STATUSES",
    "WORKER_ROLES",
    "AppUser",
    "AuditLog",
    "Base",
    "Building",
    "BuildingUnit",
    "Community",
    "Compound",
    "Department",
    "Facility",
    "Grid",
    "GridMember",
    "GridVersion",
    "Household",
    "HouseholdPerson",
    "IdempotencyKey",
    "Incident",
    "IncidentCoOwner",
    "IncidentEvent",
    "IncidentReporter",
    "Job",
    "LoginAttempt",
    "Notice",
    "NoticeOutbox",
    "NoticeTarget",
    "Open311App",
    "Open311Request",
    "OpenResource",
    "Plan",
    "PlanEdit",
    "ReportHit",
    "Road",
    "RoadEdge",
    "RoadVertex",
    "Street",
    "UserSession",
    "Visit",
    "Worker",
]
