"""The grids: versions of a community's grids, the grids (community > compound > micro), the
units a micro-grid holds, and the plans drafted against a version with their edits."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from geo.store.models.base import Base, area, is_valid, now, one_of
from geo.store.models.vocabularies import GRID_LEVELS, PLAN_STATUSES, VERSION_STATUSES

__all__ = ["Grid", "GridMember", "GridVersion", "Plan", "PlanEdit"]


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
    created_at: Mapped[datetime] = now()
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    __table_args__ = (
        UniqueConstraint("community_id", "number", name="uq_grid_version_number"),
        CheckConstraint(one_of("status", VERSION_STATUSES), name="status_known"),
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
    boundary: Mapped[Any] = area()
    __table_args__ = (
        UniqueConstraint("version_id", "code", name="uq_grid_version_code"),
        CheckConstraint(one_of("level", GRID_LEVELS), name="level_known"),
        CheckConstraint("households >= 0", name="households_nonnegative"),
        CheckConstraint(
            "(level = 'community') = (parent_id IS NULL)", name="parent_unless_community"
        ),
        CheckConstraint(is_valid("boundary"), name="boundary_valid"),
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
    cell: Mapped[Any] = area(nullable=True)
    __table_args__ = (
        CheckConstraint("households >= 0", name="households_nonnegative"),
        CheckConstraint(
            "(floor_min IS NULL) = (floor_max IS NULL) AND (floor_min IS NULL OR "
            "(floor_min >= 1 AND floor_min <= floor_max))",
            name="floor_range",
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
    # counts the changes of the draft (edits, undo, redo, validate, publish, discard): the
    # ETag of the plan's routes, checked against If-Match
    revision: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    created_at: Mapped[datetime] = now()
    updated_at: Mapped[datetime] = now()
    __table_args__ = (
        CheckConstraint(one_of("status", PLAN_STATUSES), name="status_known"),
        CheckConstraint("revision >= 1", name="revision_positive"),
    )


class PlanEdit(Base):
    """One edit of a plan's draft, with the draft's micro-grids as they were before it (so
    that undo restores them byte for byte); an undone edit (``undone``) keeps in ``after``
    the same parents' micro-grids as the edit left them, for redo."""

    __tablename__ = "plan_edit"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plan.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    op: Mapped[str] = mapped_column(String(32))
    params: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    actor: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime] = now()
    before: Mapped[list[Any]] = mapped_column(JSONB)
    undone: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    after: Mapped[Any | None] = mapped_column(JSONB)
    __table_args__ = (UniqueConstraint("plan_id", "seq", name="uq_plan_edit_seq"),)
