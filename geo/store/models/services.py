"""The services residents look for: grid workers, service facilities, open resources, and the
walking network (roads, its vertices and edges)."""

from __future__ import annotations

from typing import Any

from geoalchemy2 import Geometry
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from geo.store.models.base import SRID, Base, is_valid, one_of, point
from geo.store.models.vocabularies import FACILITY_KINDS, RESOURCE_KINDS, ROAD_KINDS, WORKER_ROLES

__all__ = ["Facility", "OpenResource", "Road", "RoadEdge", "RoadVertex", "Worker"]


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
    __table_args__ = (CheckConstraint(one_of("role", WORKER_ROLES), name="role_known"),)


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
    position: Mapped[Any] = point()
    __table_args__ = (
        CheckConstraint(one_of("kind", FACILITY_KINDS), name="kind_known"),
        CheckConstraint(is_valid("position"), name="position_valid"),
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
    services: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    community_id: Mapped[int | None] = mapped_column(
        ForeignKey("community.id", ondelete="SET NULL"), index=True
    )
    position: Mapped[Any] = point()
    __table_args__ = (
        CheckConstraint(one_of("kind", RESOURCE_KINDS), name="kind_known"),
        CheckConstraint("capacity IS NULL OR capacity >= 0", name="capacity_nonnegative"),
        CheckConstraint(is_valid("position"), name="position_valid"),
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
        CheckConstraint(one_of("kind", ROAD_KINDS), name="kind_known"),
        CheckConstraint(is_valid("geom"), name="geom_valid"),
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
