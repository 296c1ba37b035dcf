"""The domain model, stored in PostGIS (SQLAlchemy 2 + GeoAlchemy2).

Every geometry column declares its type and the storage SRID (setting ``storage_srid``,
EPSG:4490 by default), carries a GiST index, and a check constraint that it is valid.
Areas are stored as MultiPolygon (a single polygon is promoted on import).

Tables::

    street ─< community ─< compound ─< building ─< building_unit ─< household ─ household_person
                         │            (shops along the street: building with no compound)
                         ├─< grid_version ─< grid (community > compound > micro) ─< grid_member
                         ├─< plan            (a draft grid_version against a base version)
    facility, open_resource, road, worker, incident ─< incident_event, incident_reporter,
    department, app_user, audit_log

Personal data (names and phones of residents and reporters) lives in ``household_person`` and
``incident_reporter`` only, so that access to it can be granted by role.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from geoalchemy2 import Geometry
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Computed,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from geo.settings import get_settings

__all__ = [
    "FACILITY_KINDS",
    "GRID_LEVELS",
    "INCIDENT_CATEGORIES",
    "INCIDENT_STATUSES",
    "PLAN_STATUSES",
    "PUBLIC_CELL_M",
    "RESOURCE_KINDS",
    "ROLES",
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
    "OpenResource",
    "Plan",
    "PlanEdit",
    "Road",
    "RoadEdge",
    "RoadVertex",
    "Street",
    "Worker",
]

SRID = get_settings().storage_srid
METRIC_SRID = get_settings().metric_srid
# the public sees an incident's position snapped to the nodes of a grid of this many metres
# in the metric CRS (at most 35 m from the true point; the same node every time)
PUBLIC_CELL_M = 50
PUBLIC_POSITION_SQL = (
    f"ST_Transform(ST_SnapToGrid(ST_Transform(position, {METRIC_SRID}), {PUBLIC_CELL_M}), {SRID})"
)

# Closed vocabularies (code → Chinese label, English label). Checked by the database.
GRID_LEVELS = {
    "community": ("社区网格", "community grid"),
    "compound": ("小区/院落网格", "compound grid"),
    "micro": ("楼栋/单元微网格", "micro-grid"),
}
FACILITY_KINDS = {
    "party_service_complex": ("党群服务综合体", "party-service complex"),
    "party_service_centre": ("党群服务中心", "party-service centre"),
    "party_service_station": ("小区(网格)党群服务站", "compound party-service station"),
    "convenience_centre": ("便民服务中心", "convenience service centre"),
    "convenience_station": ("便民服务站", "convenience service station"),
}
RESOURCE_KINDS = {
    "canteen": ("食堂", "canteen"),
    "sports_ground": ("运动场地", "sports ground"),
    "meeting_room": ("会议室", "meeting room"),
    "parking": ("停车场", "parking"),
    "activity_room": ("活动室", "activity room"),
    "library": ("图书室", "reading room"),
    "other": ("其他", "other"),
}
WORKER_ROLES = {
    "community_secretary": ("社区书记", "community party secretary"),
    "grid_worker": ("专职网格员", "grid worker"),
    "micro_grid_worker": ("微网格员", "micro-grid worker"),
    "building_head": ("楼栋长", "building head"),
    "volunteer": ("志愿者", "volunteer"),
}
INCIDENT_STATUSES = {
    "reported": ("已上报", "reported"),
    "accepted": ("网格已受理", "accepted by the grid"),
    "street_handling": ("街镇处置中", "handled by the street"),
    "department_handling": ("部门已报到", "department reported in"),
    "resolved": ("已办结", "resolved"),
    "closed": ("已关闭", "closed"),
    "rejected": ("不予受理", "rejected"),
    "duplicate": ("重复", "duplicate"),
    "reopened": ("已重启", "reopened"),
}
INCIDENT_CATEGORIES = {
    "cooking_fumes": ("油烟扰民", "cooking fumes"),
    "noise": ("噪音扰民", "noise"),
    "garbage": ("垃圾堆放", "garbage"),
    "illegal_parking": ("乱停乱放", "illegal parking"),
    "facility_damage": ("设施损坏", "damaged facility"),
    "elevator": ("电梯故障", "elevator failure"),
    "water_leak": ("漏水", "water leak"),
    "ebike_charging": ("飞线充电", "unsafe e-bike charging"),
    "neighbour_dispute": ("邻里纠纷", "neighbour dispute"),
    "greening": ("绿化养护", "greening"),
    "other": ("其他", "other"),
}
PLAN_STATUSES = {
    "draft": ("草稿", "draft"),
    "validated": ("已校验", "validated"),
    "published": ("已发布", "published"),
    "discarded": ("已放弃", "discarded"),
}
VERSION_STATUSES = {
    "draft": ("草稿", "draft"),
    "published": ("现行", "current"),
    "superseded": ("历史", "superseded"),
    "discarded": ("已放弃", "discarded"),
}
ROLES = {
    "public": ("公众", "public"),
    "worker": ("网格员", "grid worker"),
    "dispatcher": ("调度员", "dispatcher"),
    "planner": ("规划员", "planner"),
    "admin": ("管理员", "administrator"),
}
BUILDING_USES = {
    "residential": ("住宅", "residential"),
    "commercial": ("商业", "commercial"),
    "mixed": ("商住", "mixed"),
    "public": ("公共", "public"),
}
ROAD_KINDS = {
    "primary": ("主干路", "primary road"),
    "secondary": ("次干路", "secondary road"),
    "branch": ("支路", "branch road"),
    "footway": ("步行道", "footway"),
}

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def _in(column: str, values: dict[str, Any]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _valid(column: str) -> str:
    return f"ST_IsValid({column})"


def _area(nullable: bool = False) -> Mapped[Any]:
    return mapped_column(Geometry("MULTIPOLYGON", srid=SRID, spatial_index=True), nullable=nullable)


def _point(nullable: bool = False) -> Mapped[Any]:
    return mapped_column(Geometry("POINT", srid=SRID, spatial_index=True), nullable=nullable)


def _now() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Street(Base):
    """街道/镇: the tier that handles incidents (街镇处置)."""

    __tablename__ = "street"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    district: Mapped[str] = mapped_column(String(200))
    city: Mapped[str] = mapped_column(String(200), server_default="成都市")
    boundary: Mapped[Any] = _area(nullable=True)
    __table_args__ = (CheckConstraint(_valid("boundary"), name="boundary_valid"),)


class Community(Base):
    """社区: the community grid's area."""

    __tablename__ = "community"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    street_id: Mapped[int] = mapped_column(ForeignKey("street.id", ondelete="RESTRICT"), index=True)
    boundary: Mapped[Any] = _area()
    street: Mapped[Street] = relationship()
    __table_args__ = (CheckConstraint(_valid("boundary"), name="boundary_valid"),)


class Compound(Base):
    """小区/院落: a gated compound or courtyard within a community."""

    __tablename__ = "compound"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    address: Mapped[str | None] = mapped_column(String(400))
    community_id: Mapped[int] = mapped_column(
        ForeignKey("community.id", ondelete="CASCADE"), index=True
    )
    boundary: Mapped[Any] = _area()
    community: Mapped[Community] = relationship()
    __table_args__ = (CheckConstraint(_valid("boundary"), name="boundary_valid"),)


class Building(Base):
    """楼栋: a building; shops along a street may have no compound."""

    __tablename__ = "building"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    address: Mapped[str | None] = mapped_column(String(400))
    use: Mapped[str] = mapped_column(String(32), server_default="residential")
    community_id: Mapped[int] = mapped_column(
        ForeignKey("community.id", ondelete="CASCADE"), index=True
    )
    compound_id: Mapped[int | None] = mapped_column(
        ForeignKey("compound.id", ondelete="CASCADE"), index=True
    )
    floors: Mapped[int] = mapped_column(Integer)
    units: Mapped[int] = mapped_column(Integer)
    households: Mapped[int] = mapped_column(Integer)
    footprint: Mapped[Any] = _area()
    compound: Mapped[Compound | None] = relationship()
    __table_args__ = (
        CheckConstraint("floors >= 1", name="floors_positive"),
        CheckConstraint("units >= 1", name="units_positive"),
        CheckConstraint("households >= 0", name="households_nonnegative"),
        CheckConstraint(_in("use", BUILDING_USES), name="use_known"),
        CheckConstraint(_valid("footprint"), name="footprint_valid"),
    )


class BuildingUnit(Base):
    """单元: a stairwell/entrance of a building, the unit micro-grids are made of."""

    __tablename__ = "building_unit"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    building_id: Mapped[int] = mapped_column(ForeignKey("building.id", ondelete="CASCADE"))
    unit_no: Mapped[int] = mapped_column(Integer)
    floors: Mapped[int] = mapped_column(Integer)
    households: Mapped[int] = mapped_column(Integer)
    __table_args__ = (
        UniqueConstraint("building_id", "unit_no", name="uq_building_unit_no"),
        CheckConstraint("unit_no >= 1", name="unit_no_positive"),
        CheckConstraint("floors >= 1", name="floors_positive"),
        CheckConstraint("households >= 0", name="households_nonnegative"),
    )


class Household(Base):
    """户: a dwelling (室) in a building unit. Personal data is in ``household_person``."""

    __tablename__ = "household"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    code: Mapped[str] = mapped_column(String(80), unique=True)
    building_id: Mapped[int | None] = mapped_column(
        ForeignKey("building.id", ondelete="CASCADE"), index=True
    )
    unit_id: Mapped[int | None] = mapped_column(
        ForeignKey("building_unit.id", ondelete="CASCADE"), index=True
    )
    floor: Mapped[int | None] = mapped_column(Integer)
    room: Mapped[str | None] = mapped_column(String(32))
    address: Mapped[str | None] = mapped_column(String(400))
    members: Mapped[int | None] = mapped_column(Integer)
    position: Mapped[Any] = _point()
    grid_id: Mapped[int | None] = mapped_column(
        ForeignKey("grid.id", ondelete="SET NULL"), index=True
    )
    __table_args__ = (
        CheckConstraint("members IS NULL OR members >= 0", name="members_nonnegative"),
        CheckConstraint(_valid("position"), name="position_valid"),
    )


class HouseholdPerson(Base):
    """Personal data of a household (户主 name, phone): only roles that need it may read it."""

    __tablename__ = "household_person"
    household_id: Mapped[int] = mapped_column(
        ForeignKey("household.id", ondelete="CASCADE"), primary_key=True
    )
    head_name: Mapped[str] = mapped_column(String(100))
    phone: Mapped[str | None] = mapped_column(String(32))


class GridVersion(Base):
    """A version of one community's grids: published (current), superseded, or a draft."""

    __tablename__ = "grid_version"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    community_id: Mapped[int] = mapped_column(
        ForeignKey("community.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(32))  # partition | plan | import
    params: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    created_by: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = _now()
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    __table_args__ = (
        UniqueConstraint("community_id", "number", name="uq_grid_version_number"),
        CheckConstraint(_in("status", VERSION_STATUSES), name="status_known"),
        CheckConstraint("number >= 1", name="number_positive"),
        Index(
            "uq_grid_version_one_current",
            "community_id",
            unique=True,
            postgresql_where=text("status = 'published'"),
        ),
    )


class Grid(Base):
    """网格: a community, compound or micro grid of one version."""

    __tablename__ = "grid"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version_id: Mapped[int] = mapped_column(
        ForeignKey("grid_version.id", ondelete="CASCADE"), index=True
    )
    level: Mapped[str] = mapped_column(String(16))
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(String(200))
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("grid.id", ondelete="CASCADE"), index=True
    )
    compound_id: Mapped[int | None] = mapped_column(ForeignKey("compound.id", ondelete="SET NULL"))
    households: Mapped[int] = mapped_column(Integer, server_default="0")
    locked: Mapped[bool] = mapped_column(Boolean, server_default="false")
    boundary: Mapped[Any] = _area()
    __table_args__ = (
        UniqueConstraint("version_id", "code", name="uq_grid_version_code"),
        CheckConstraint(_in("level", GRID_LEVELS), name="level_known"),
        CheckConstraint("households >= 0", name="households_nonnegative"),
        CheckConstraint(
            "(level = 'community') = (parent_id IS NULL)", name="parent_unless_community"
        ),
        CheckConstraint(_valid("boundary"), name="boundary_valid"),
    )


class GridMember(Base):
    """Which building units (or floor ranges of an oversized unit) a micro-grid holds."""

    __tablename__ = "grid_member"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    grid_id: Mapped[int] = mapped_column(ForeignKey("grid.id", ondelete="CASCADE"), index=True)
    unit_id: Mapped[int] = mapped_column(
        ForeignKey("building_unit.id", ondelete="CASCADE"), index=True
    )
    floor_min: Mapped[int | None] = mapped_column(Integer)
    floor_max: Mapped[int | None] = mapped_column(Integer)
    households: Mapped[int] = mapped_column(Integer)
    # a unit split by floors: the unit's whole cell, which every micro-grid holding one of its
    # floor ranges covers (floors are not places); NULL for a whole unit
    cell: Mapped[Any] = _area(nullable=True)
    __table_args__ = (
        CheckConstraint("households >= 0", name="households_nonnegative"),
        CheckConstraint(
            "(floor_min IS NULL) = (floor_max IS NULL) AND (floor_min IS NULL OR "
            "(floor_min >= 1 AND floor_min <= floor_max))",
            name="floor_range",
        ),
    )


class Worker(Base):
    """A grid worker (网格员, 微网格员, 楼栋长 …). ``grid_code`` names the grid by its code, which
    survives re-versioning; a worker whose grid no longer exists is a validation finding."""

    __tablename__ = "worker"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(32))
    phone: Mapped[str | None] = mapped_column(String(32))
    public_phone: Mapped[bool] = mapped_column(Boolean, server_default="true")
    # NULL once its community is deleted: the worker is kept, detached (geo.communities)
    community_id: Mapped[int | None] = mapped_column(
        ForeignKey("community.id", ondelete="SET NULL"), index=True
    )
    grid_code: Mapped[str | None] = mapped_column(String(64), index=True)
    building_code: Mapped[str | None] = mapped_column(String(64))  # a building head's building
    party_member: Mapped[bool] = mapped_column(Boolean, server_default="false")
    __table_args__ = (CheckConstraint(_in("role", WORKER_ROLES), name="role_known"),)


class Facility(Base):
    """A service place residents look for (党群服务综合体/中心/站, 便民服务中心/站)."""

    __tablename__ = "facility"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))
    address: Mapped[str | None] = mapped_column(String(400))
    phone: Mapped[str | None] = mapped_column(String(32))
    opening_hours: Mapped[str | None] = mapped_column(String(200))  # OSM opening_hours syntax
    services: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    community_id: Mapped[int | None] = mapped_column(
        ForeignKey("community.id", ondelete="SET NULL"), index=True
    )
    position: Mapped[Any] = _point()
    __table_args__ = (
        CheckConstraint(_in("kind", FACILITY_KINDS), name="kind_known"),
        CheckConstraint(_valid("position"), name="position_valid"),
    )


class OpenResource(Base):
    """An open resource an organisation opens to residents (canteen, sports ground …)."""

    __tablename__ = "open_resource"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))
    owner_org: Mapped[str] = mapped_column(String(200))
    address: Mapped[str | None] = mapped_column(String(400))
    phone: Mapped[str | None] = mapped_column(String(32))
    opening_hours: Mapped[str | None] = mapped_column(String(200))
    booking: Mapped[str | None] = mapped_column(String(400))
    capacity: Mapped[int | None] = mapped_column(Integer)
    community_id: Mapped[int | None] = mapped_column(
        ForeignKey("community.id", ondelete="SET NULL"), index=True
    )
    position: Mapped[Any] = _point()
    __table_args__ = (
        CheckConstraint(_in("kind", RESOURCE_KINDS), name="kind_known"),
        CheckConstraint("capacity IS NULL OR capacity >= 0", name="capacity_nonnegative"),
        CheckConstraint(_valid("position"), name="position_valid"),
    )


class Road(Base):
    """A road or footway centre-line (the walking network)."""

    __tablename__ = "road"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str | None] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))
    geom: Mapped[Any] = mapped_column(
        Geometry("MULTILINESTRING", srid=SRID, spatial_index=True), nullable=False
    )
    __table_args__ = (
        CheckConstraint(_in("kind", ROAD_KINDS), name="kind_known"),
        CheckConstraint(_valid("geom"), name="geom_valid"),
    )


class RoadVertex(Base):
    """A node of the walking network (ends of the noded road segments)."""

    __tablename__ = "road_vertex"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    geom: Mapped[Any] = mapped_column(
        Geometry("POINT", srid=SRID, spatial_index=True), nullable=False
    )


class RoadEdge(Base):
    """A segment of the walking network between two vertices; ``cost`` in metres (both ways:
    people walk either way)."""

    __tablename__ = "road_edge"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    road_id: Mapped[int | None] = mapped_column(ForeignKey("road.id", ondelete="CASCADE"))
    source: Mapped[int] = mapped_column(
        ForeignKey("road_vertex.id", ondelete="CASCADE"), index=True
    )
    target: Mapped[int] = mapped_column(
        ForeignKey("road_vertex.id", ondelete="CASCADE"), index=True
    )
    cost: Mapped[float] = mapped_column(Float)
    reverse_cost: Mapped[float] = mapped_column(Float)
    geom: Mapped[Any] = mapped_column(
        Geometry("LINESTRING", srid=SRID, spatial_index=True), nullable=False
    )
    __table_args__ = (CheckConstraint("cost >= 0 AND reverse_cost >= 0", name="cost_nonnegative"),)


class Department(Base):
    """A department that reports in on incidents (城管, 综治, 民生 …)."""

    __tablename__ = "department"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    street_id: Mapped[int | None] = mapped_column(ForeignKey("street.id", ondelete="SET NULL"))


class Incident(Base):
    """A reported incident (事件), routed grid → street → department until closed.

    ``public_position`` is what the public sees of ``position``: kept by the database
    (a generated column, :data:`PUBLIC_POSITION_SQL`), indexed, so public maps, tiles and
    bounding boxes never touch the exact point."""

    __tablename__ = "incident"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    category: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(Text)
    address: Mapped[str | None] = mapped_column(String(400))
    position: Mapped[Any] = _point()
    public_position: Mapped[Any] = mapped_column(
        Geometry("POINT", srid=SRID, spatial_index=True),
        Computed(PUBLIC_POSITION_SQL, persisted=True),
        nullable=True,
    )
    status: Mapped[str] = mapped_column(String(32), server_default="reported")
    community_id: Mapped[int | None] = mapped_column(
        ForeignKey("community.id", ondelete="SET NULL"), index=True
    )
    grid_id: Mapped[int | None] = mapped_column(
        ForeignKey("grid.id", ondelete="SET NULL"), index=True
    )
    street_id: Mapped[int | None] = mapped_column(ForeignKey("street.id", ondelete="SET NULL"))
    department_id: Mapped[int | None] = mapped_column(
        ForeignKey("department.id", ondelete="SET NULL")
    )
    duplicate_of: Mapped[int | None] = mapped_column(ForeignKey("incident.id", ondelete="SET NULL"))
    floor: Mapped[int | None] = mapped_column(Integer)  # the floor the reporter gave, if any
    escalations: Mapped[int] = mapped_column(Integer, server_default="0")
    reported_at: Mapped[datetime] = _now()
    accept_due: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    handle_due: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolve_due: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = _now()
    __table_args__ = (
        CheckConstraint(_in("status", INCIDENT_STATUSES), name="status_known"),
        CheckConstraint(_valid("position"), name="position_valid"),
        Index("ix_incident_status_category", "status", "category"),
    )


class IncidentCoOwner(Base):
    """A micro-grid that shares an incident with the one it is assigned to: the other floor
    groups of a tower split by floors (``floors``), or the neighbouring grid when the incident
    lies near a grid edge (``edge``)."""

    __tablename__ = "incident_co_owner"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incident.id", ondelete="CASCADE"))
    grid_id: Mapped[int] = mapped_column(ForeignKey("grid.id", ondelete="CASCADE"), index=True)
    reason: Mapped[str] = mapped_column(String(16))
    __table_args__ = (
        UniqueConstraint("incident_id", "grid_id"),
        CheckConstraint("reason IN ('edge', 'floors')", name="reason_known"),
    )


class IncidentReporter(Base):
    """Who reported an incident (personal data, access-controlled)."""

    __tablename__ = "incident_reporter"
    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incident.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str | None] = mapped_column(String(100))
    phone: Mapped[str | None] = mapped_column(String(32))
    token_hash: Mapped[str | None] = mapped_column(String(64))  # lets the reporter confirm


class IncidentEvent(Base):
    """One step in an incident's history: who moved it from which status to which, and why."""

    __tablename__ = "incident_event"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incident.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = _now()
    actor: Mapped[str] = mapped_column(String(100))
    from_status: Mapped[str | None] = mapped_column(String(32))
    to_status: Mapped[str] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(Text)
    __table_args__ = (
        CheckConstraint(_in("to_status", INCIDENT_STATUSES), name="to_status_known"),
        CheckConstraint(
            "from_status IS NULL OR " + _in("from_status", INCIDENT_STATUSES),
            name="from_status_known",
        ),
    )


class Plan(Base):
    """A planner's draft of one community's grids against a base version."""

    __tablename__ = "plan"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    community_id: Mapped[int] = mapped_column(
        ForeignKey("community.id", ondelete="CASCADE"), index=True
    )
    author: Mapped[str] = mapped_column(String(100))
    base_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("grid_version.id", ondelete="RESTRICT")
    )
    draft_version_id: Mapped[int] = mapped_column(
        ForeignKey("grid_version.id", ondelete="RESTRICT"), unique=True
    )
    status: Mapped[str] = mapped_column(String(16), server_default="draft")
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()
    __table_args__ = (CheckConstraint(_in("status", PLAN_STATUSES), name="status_known"),)


class PlanEdit(Base):
    """One edit of a plan's draft, with the draft's micro-grids as they were before it (so
    that undo restores them byte for byte)."""

    __tablename__ = "plan_edit"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plan.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    op: Mapped[str] = mapped_column(String(32))
    params: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    actor: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime] = _now()
    before: Mapped[list[Any]] = mapped_column(JSONB)
    __table_args__ = (UniqueConstraint("plan_id", "seq", name="uq_plan_edit_seq"),)


class IdempotencyKey(Base):
    """A client's Idempotency-Key and the answer given to it, so a retried request is answered
    again instead of being carried out twice (kept 24 hours)."""

    __tablename__ = "idempotency_key"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    scope: Mapped[str] = mapped_column(String(32))
    # whose key: a user ("user:ID") or, for the public, a client address ("addr:IP")
    client: Mapped[str] = mapped_column(String(200), server_default="")
    key: Mapped[str] = mapped_column(String(200))
    request_hash: Mapped[str] = mapped_column(String(64))
    response: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    created_at: Mapped[datetime] = _now()
    __table_args__ = (
        UniqueConstraint("scope", "client", "key", name="uq_idempotency_key_scope_client_key"),
        Index("ix_idempotency_key_scope_created_at", "scope", "created_at"),
    )


class Job(Base):
    """A background job (bulk assignment) started through the API: kept in the database so
    that every API process can report on it, whichever started it."""

    __tablename__ = "job"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    community: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    progress: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    error: Mapped[str | None] = mapped_column(String(2000))
    started_by: Mapped[str] = mapped_column(String(100))
    # the user who started it: the only one, with admins, who may read it (NULL: jobs from
    # before 0011, admins only)
    started_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("app_user.id", ondelete="SET NULL")
    )
    worker: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    __table_args__ = (
        CheckConstraint("status IN ('queued', 'running', 'done', 'failed')", name="status_known"),
        # one queued or running job per kind, across every API process
        Index(
            "uq_job_kind_active",
            "kind",
            unique=True,
            postgresql_where=text("status IN ('queued', 'running')"),
        ),
    )


class ReportHit(Base):
    """A public incident report (or attempt) by a client, for the rate limit shared by every
    API process; rows older than a minute are purged as the client reports again."""

    __tablename__ = "report_hit"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    client: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = _now()
    __table_args__ = (
        Index("ix_report_hit_client_at", "client", "at"),
        Index("ix_report_hit_at", "at"),  # the service-wide count
    )


class AuditLog(Base):
    """Who did what, when: every plan edit, import and incident transition."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    at: Mapped[datetime] = _now()
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(64))
    entity: Mapped[str] = mapped_column(String(64))
    entity_id: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    __table_args__ = (Index("ix_audit_log_entity", "entity", "entity_id"),)


class AppUser(Base):
    """An API user. Only the SHA-256 of the bearer token is stored. The token is refused
    after ``expires_at``; ``last_used_at`` is written at most once a minute."""

    __tablename__ = "app_user"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    token_prefix: Mapped[str] = mapped_column(String(16))
    grid_code: Mapped[str | None] = mapped_column(String(64))
    street_code: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = _now()
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    __table_args__ = (CheckConstraint(_in("role", ROLES), name="role_known"),)
