"""visits and emergency notices

``visit``: a grid worker's home visit (入户走访) — household, date, note, opinion, and the
incident a problem became. ``notice``: an emergency notice (应急通知) to a street or grids;
``notice_target``: one row per micro-grid it reached (households, acknowledgement);
``notice_outbox``: one message per worker with a phone, for the configured sender.

Revision ID: 0017
Revises: 0015
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0017"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "visit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("household_code", sa.String(length=64), nullable=False),
        sa.Column("grid_code", sa.String(length=64), nullable=False),
        sa.Column("visit_date", sa.Date(), nullable=False),
        sa.Column("note", sa.Text(), server_default="", nullable=False),
        sa.Column("opinion", sa.String(length=16), nullable=False),
        sa.Column("problem_category", sa.String(length=32), nullable=True),
        sa.Column("incident_id", sa.BigInteger(), nullable=True),
        sa.Column("visited_by", sa.String(length=150), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(
            "opinion IN ('suggestion', 'request', 'problem', 'praise', 'none')",
            name=op.f("ck_visit_opinion_known"),
        ),
        sa.CheckConstraint("length(note) <= 2000", name=op.f("ck_visit_note_length")),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incident.id"],
            name=op.f("fk_visit_incident_id_incident"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_visit")),
    )
    op.create_index(op.f("ix_visit_household_code"), "visit", ["household_code"])
    op.create_index(op.f("ix_visit_grid_code"), "visit", ["grid_code"])
    op.create_index(op.f("ix_visit_incident_id"), "visit", ["incident_id"])
    op.create_table(
        "notice",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("street_code", sa.String(length=64), nullable=True),
        sa.Column("grids", postgresql.ARRAY(sa.Text()), server_default="{}", nullable=False),
        sa.Column("deadline_minutes", sa.Integer(), server_default="5", nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_by", sa.String(length=150), nullable=False),
        sa.CheckConstraint(
            "deadline_minutes BETWEEN 1 AND 1440", name=op.f("ck_notice_deadline_range")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notice")),
    )
    op.create_index(op.f("ix_notice_street_code"), "notice", ["street_code"])
    op.create_table(
        "notice_target",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("notice_id", sa.Integer(), nullable=False),
        sa.Column("grid_code", sa.String(length=64), nullable=False),
        sa.Column("households", sa.Integer(), nullable=False),
        sa.Column("acked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acked_by", sa.String(length=150), nullable=True),
        sa.Column("households_reached", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "households_reached IS NULL OR households_reached BETWEEN 0 AND households",
            name=op.f("ck_notice_target_reached_range"),
        ),
        sa.ForeignKeyConstraint(
            ["notice_id"],
            ["notice.id"],
            name=op.f("fk_notice_target_notice_id_notice"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notice_target")),
        sa.UniqueConstraint("notice_id", "grid_code", name="uq_notice_target_notice_grid"),
    )
    op.create_index(op.f("ix_notice_target_notice_id"), "notice_target", ["notice_id"])
    op.create_index(op.f("ix_notice_target_grid_code"), "notice_target", ["grid_code"])
    op.create_table(
        "notice_outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("notice_id", sa.Integer(), nullable=False),
        sa.Column("grid_code", sa.String(length=64), nullable=False),
        sa.Column("worker_code", sa.String(length=64), nullable=False),
        sa.Column("phone", sa.String(length=32), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="pending", nullable=False),
        sa.Column("sender", sa.String(length=64), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'sent', 'failed')", name=op.f("ck_notice_outbox_status_known")
        ),
        sa.ForeignKeyConstraint(
            ["notice_id"],
            ["notice.id"],
            name=op.f("fk_notice_outbox_notice_id_notice"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notice_outbox")),
    )
    op.create_index(op.f("ix_notice_outbox_notice_id"), "notice_outbox", ["notice_id"])


def downgrade() -> None:
    op.drop_table("notice_outbox")
    op.drop_table("notice_target")
    op.drop_table("notice")
    op.drop_table("visit")
