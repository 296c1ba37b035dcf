"""incidents: the outcome of a closed incident (solved, not solved, referred — and where to)
and its photos (re-encoded without metadata, shown to staff in scope only)

Existing closed incidents keep a null outcome (nobody recorded one); the views show it as
unknown.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("incident", sa.Column("outcome", sa.String(length=16), nullable=True))
    op.add_column("incident", sa.Column("referred_to", sa.String(length=200), nullable=True))
    op.create_check_constraint(
        op.f("ck_incident_outcome_known"),
        "incident",
        "outcome IS NULL OR outcome IN ('solved', 'not_solved', 'referred')",
    )
    op.create_table(
        "incident_photo",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("incident_id", sa.BigInteger(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("mime", sa.String(length=32), nullable=False),
        sa.Column("bytes", sa.LargeBinary(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("n BETWEEN 1 AND 3", name=op.f("ck_incident_photo_n_range")),
        sa.CheckConstraint(
            "mime IN ('image/jpeg', 'image/png')", name=op.f("ck_incident_photo_mime_known")
        ),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incident.id"],
            name=op.f("fk_incident_photo_incident_id_incident"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_photo")),
        sa.UniqueConstraint("incident_id", "n", name=op.f("uq_incident_photo_incident_id")),
    )


def downgrade() -> None:
    op.drop_table("incident_photo")
    op.drop_constraint(op.f("ck_incident_outcome_known"), "incident", type_="check")
    op.drop_column("incident", "referred_to")
    op.drop_column("incident", "outcome")
