"""workers outlive their community: worker.community_id may be NULL (set so when the community
is deleted, `wangge delete --community`), instead of being deleted with it

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28

Downgrading needs every worker to have a community again (it fails otherwise, naming the
constraint): re-attach or delete the detached workers first.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

FK = "fk_worker_community_id_community"


def upgrade() -> None:
    op.alter_column("worker", "community_id", existing_type=sa.Integer(), nullable=True)
    op.drop_constraint(FK, "worker", type_="foreignkey")
    op.create_foreign_key(FK, "worker", "community", ["community_id"], ["id"], ondelete="SET NULL")


def downgrade() -> None:
    op.drop_constraint(FK, "worker", type_="foreignkey")
    op.create_foreign_key(FK, "worker", "community", ["community_id"], ["id"], ondelete="CASCADE")
    op.alter_column("worker", "community_id", existing_type=sa.Integer(), nullable=False)
