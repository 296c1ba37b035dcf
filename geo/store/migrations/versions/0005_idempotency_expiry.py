"""an index to purge expired idempotency keys without reading the whole table

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_idempotency_key_scope_created_at", "idempotency_key", ["scope", "created_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_idempotency_key_scope_created_at", table_name="idempotency_key")
