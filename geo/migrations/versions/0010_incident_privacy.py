"""an index for the service-wide count of public reports

Revision ID: 0010
Revises: 0008 (0009 is another change under way: whichever is merged second revises the other)
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_report_hit_at", "report_hit", ["at"])


def downgrade() -> None:
    op.drop_index("ix_report_hit_at", table_name="report_hit")
