"""The incidents: reports routed grid → street → department, their co-owning grids, reporters
(personal data, access-controlled), history, and the public reports' rate-limit hits."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from geoalchemy2 import Geometry
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Computed,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from geo.store.models.base import METRIC_SRID, SRID, Base, is_valid, now, one_of, point
from geo.store.models.vocabularies import INCIDENT_OUTCOMES, INCIDENT_STATUSES

__all__ = [
    "PUBLIC_CELL_M",
    "PUBLIC_POSITION_SQL",
    "Department",
    "Incident",
    "IncidentCoOwner",
    "IncidentEvent",
    "IncidentPhoto",
    "IncidentReporter",
    "ReportHit",
]

# the public sees an incident's position snapped to the nodes of a grid of this many metres
# in the metric CRS (at most 35 m from the true point; the same node every time)
PUBLIC_CELL_M = 50
PUBLIC_POSITION_SQL = (
    f"ST_Transform(ST_SnapToGrid(ST_Transform(position, {METRIC_SRID}), {PUBLIC_CELL_M}), {SRID})"
)


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
    position: Mapped[Any] = point()
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
    reported_at: Mapped[datetime] = now()
    accept_due: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    handle_due: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolve_due: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = now()
    # how it ended (set on closing, see geo.incidents.outcomes); where it was referred to
    outcome: Mapped[str | None] = mapped_column(String(16))
    referred_to: Mapped[str | None] = mapped_column(String(200))
    __table_args__ = (
        CheckConstraint(one_of("status", INCIDENT_STATUSES), name="status_known"),
        CheckConstraint(
            "outcome IS NULL OR " + one_of("outcome", INCIDENT_OUTCOMES), name="outcome_known"
        ),
        CheckConstraint(is_valid("position"), name="position_valid"),
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
    email: Mapped[str | None] = mapped_column(String(254))  # given through Open311 (0019)
    token_hash: Mapped[str | None] = mapped_column(String(64))  # lets the reporter confirm


class IncidentEvent(Base):
    """One step in an incident's history: who moved it from which status to which, and why."""

    __tablename__ = "incident_event"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incident.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = now()
    actor: Mapped[str] = mapped_column(String(100))
    from_status: Mapped[str | None] = mapped_column(String(32))
    to_status: Mapped[str] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(Text)
    __table_args__ = (
        CheckConstraint(one_of("to_status", INCIDENT_STATUSES), name="to_status_known"),
        CheckConstraint(
            "from_status IS NULL OR " + one_of("from_status", INCIDENT_STATUSES),
            name="from_status_known",
        ),
    )


class IncidentPhoto(Base):
    """A photo of an incident, re-encoded without any metadata (``geo.incidents.photos``);
    shown to staff in scope only."""

    __tablename__ = "incident_photo"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incident.id", ondelete="CASCADE"))
    n: Mapped[int] = mapped_column(Integer)
    mime: Mapped[str] = mapped_column(String(32))
    bytes: Mapped[bytes] = mapped_column(LargeBinary)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = now()
    __table_args__ = (
        UniqueConstraint("incident_id", "n"),
        CheckConstraint("n BETWEEN 1 AND 3", name="n_range"),
        CheckConstraint("mime IN ('image/jpeg', 'image/png')", name="mime_known"),
    )


class ReportHit(Base):
    """A public incident report (or attempt) by a client, for the rate limit shared by every
    API process; rows older than a minute are purged as the client reports again."""

    __tablename__ = "report_hit"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    client: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = now()
    __table_args__ = (
        Index("ix_report_hit_client_at", "client", "at"),
        Index("ix_report_hit_at", "at"),  # the service-wide count
    )
