"""tokens expire and record their last use

Tokens issued before this revision expire WANGGE_TOKEN_DAYS (default 90) after the upgrade,
not after their creation, so that an upgrade locks nobody out at once.

Revision ID: 0011
Revises: 0008
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from geo.settings import get_settings

revision = "0011"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    days = get_settings().token_days
    op.add_column("app_user", sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("app_user", sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(
        sa.text("UPDATE app_user SET expires_at = now() + make_interval(secs => :s)").bindparams(
            s=days * 86400
        )
    )
    op.alter_column("app_user", "expires_at", nullable=False)


def downgrade() -> None:
    op.drop_column("app_user", "last_used_at")
    op.drop_column("app_user", "expires_at")
