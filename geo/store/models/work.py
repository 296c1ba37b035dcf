"""The grid workers' field work: home visits (入户走访) with the opinion heard, and emergency
notices (应急通知) fanned out to micro-grids, their acknowledgements and the outbox of
messages to the workers."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from geo.store.models.base import Base, now, one_of
from geo.store.models.vocabularies import OPINIONS

__all__ = ["Notice", "NoticeOutbox", "NoticeTarget", "Visit"]


class Visit(Base):
    """A home visit by a grid worker: the household (by code, which survives re-partitioning;
    ``grid_code`` is its micro-grid at the visit), the date, a note and the opinion heard. A
    problem becomes an incident (``incident_id``)."""

    __tablename__ = "visit"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    household_code: Mapped[str] = mapped_column(String(64), index=True)
    grid_code: Mapped[str] = mapped_column(String(64), index=True)
    visit_date: Mapped[date] = mapped_column(Date)
    note: Mapped[str] = mapped_column(Text, server_default="")
    opinion: Mapped[str] = mapped_column(String(16))
    problem_category: Mapped[str | None] = mapped_column(String(32))
    incident_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("incident.id", ondelete="SET NULL"), index=True
    )
    visited_by: Mapped[str] = mapped_column(String(150))
    created_at: Mapped[datetime] = now()
    __table_args__ = (
        CheckConstraint(one_of("opinion", OPINIONS), name="opinion_known"),
        CheckConstraint("length(note) <= 2000", name="note_length"),
    )


class Notice(Base):
    """An emergency notice sent by a dispatcher to a street or a list of grids."""

    __tablename__ = "notice"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    street_code: Mapped[str | None] = mapped_column(String(64), index=True)
    grids: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    deadline_minutes: Mapped[int] = mapped_column(Integer, server_default="5")
    sent_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    sent_by: Mapped[str] = mapped_column(String(150))
    __table_args__ = (
        CheckConstraint("deadline_minutes BETWEEN 1 AND 1440", name="deadline_range"),
    )


class NoticeTarget(Base):
    """One micro-grid a notice reached, with the households it held when sent, and its
    acknowledgement (when, by whom, how many households reached)."""

    __tablename__ = "notice_target"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    notice_id: Mapped[int] = mapped_column(ForeignKey("notice.id", ondelete="CASCADE"), index=True)
    grid_code: Mapped[str] = mapped_column(String(64), index=True)
    households: Mapped[int] = mapped_column(Integer)
    acked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    acked_by: Mapped[str | None] = mapped_column(String(150))
    households_reached: Mapped[int | None] = mapped_column(Integer)
    __table_args__ = (
        UniqueConstraint("notice_id", "grid_code", name="uq_notice_target_notice_grid"),
        CheckConstraint(
            "households_reached IS NULL OR households_reached BETWEEN 0 AND households",
            name="reached_range",
        ),
    )


class NoticeOutbox(Base):
    """A message to one worker of a targeted micro-grid, for the configured sender
    (``WANGGE_NOTICE_SENDER``): pending until sent."""

    __tablename__ = "notice_outbox"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    notice_id: Mapped[int] = mapped_column(ForeignKey("notice.id", ondelete="CASCADE"), index=True)
    grid_code: Mapped[str] = mapped_column(String(64))
    worker_code: Mapped[str] = mapped_column(String(64))
    phone: Mapped[str] = mapped_column(String(32))
    message: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), server_default="pending")
    sender: Mapped[str | None] = mapped_column(String(64))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = now()
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'sent', 'failed')", name="status_known"),
    )
