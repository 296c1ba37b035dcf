"""Open311 GeoReport v2: registered apps and what an Open311 report carries

``open311_app``: a registered client (``wangge apps add``), its key's SHA-256 only, optionally
linked to a staff user whose role and scope it acts in. ``open311_request``: per incident filed
through Open311, the app, the lookup token of ``GET tokens/{token}``, ``media_url`` (text),
device and account ids and the attribute values. ``incident_reporter.email``: the reporter's
e-mail (personal data, like its name and phone).

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "open311_app",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("key_prefix", sa.String(length=16), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["app_user.id"], name=op.f("fk_open311_app_user_id_app_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_open311_app")),
        sa.UniqueConstraint("name", name=op.f("uq_open311_app_name")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_open311_app_key_hash")),
    )
    op.create_table(
        "open311_request",
        sa.Column("incident_id", sa.BigInteger(), nullable=False),
        sa.Column("app_id", sa.Integer(), nullable=True),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("media_url", sa.Text(), nullable=True),
        sa.Column("device_id", sa.String(length=100), nullable=True),
        sa.Column("account_id", sa.String(length=100), nullable=True),
        sa.Column(
            "attributes",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incident.id"],
            name=op.f("fk_open311_request_incident_id_incident"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["app_id"], ["open311_app.id"], name=op.f("fk_open311_request_app_id_open311_app")
        ),
        sa.PrimaryKeyConstraint("incident_id", name=op.f("pk_open311_request")),
        sa.UniqueConstraint("token", name=op.f("uq_open311_request_token")),
    )
    op.create_index(op.f("ix_open311_request_app_id"), "open311_request", ["app_id"])
    op.add_column("incident_reporter", sa.Column("email", sa.String(length=254), nullable=True))


def downgrade() -> None:
    op.drop_column("incident_reporter", "email")
    op.drop_index(op.f("ix_open311_request_app_id"), table_name="open311_request")
    op.drop_table("open311_request")
    op.drop_table("open311_app")
