"""plans: the draft's revision (for ETag / If-Match) and redo

``plan.revision`` counts the changes of a plan's draft (1 for a new plan; existing plans get
1). ``plan_edit.undone`` marks an edit that was undone and can be redone; ``plan_edit.after``
holds, once it is undone, the micro-grids it had written (the same parents as ``before``), so
that redo puts them back byte for byte.

Downgrading deletes the undone edits (the old schema has no redo: an undone edit there is
one that is no longer in the log).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "plan", sa.Column("revision", sa.Integer(), server_default=sa.text("1"), nullable=False)
    )
    op.create_check_constraint(op.f("ck_plan_revision_positive"), "plan", "revision >= 1")
    op.add_column(
        "plan_edit",
        sa.Column("undone", sa.Boolean(), server_default=sa.text("false"), nullable=False),
    )
    op.add_column(
        "plan_edit", sa.Column("after", postgresql.JSONB(astext_type=sa.Text()), nullable=True)
    )


def downgrade() -> None:
    op.execute("DELETE FROM plan_edit WHERE undone")
    op.drop_column("plan_edit", "after")
    op.drop_column("plan_edit", "undone")
    op.drop_constraint(op.f("ck_plan_revision_positive"), "plan", type_="check")
    op.drop_column("plan", "revision")
