"""tokens expire and record their last use; jobs belong to the user who started them, one
queued or running job per kind

Tokens issued before this revision expire WANGGE_TOKEN_DAYS (default 90) after the upgrade,
not after their creation, so that an upgrade locks nobody out at once. Jobs from before it
have no owner (admins only). Queued or running jobs whose process stopped writing are marked
failed; of the live ones only the newest of each kind stays queued or running.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from geo.settings import get_settings

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

STALE_S = 120  # geo.runtime.jobs.STALE_S when this was written


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

    op.add_column("job", sa.Column("started_by_id", sa.Integer(), nullable=True))
    op.create_foreign_key(
        op.f("fk_job_started_by_id_app_user"),
        "job",
        "app_user",
        ["started_by_id"],
        ["id"],
        ondelete="SET NULL",
    )
    op.execute(
        sa.text(
            "UPDATE job SET status = 'failed', finished_at = now(), error = '任务中断：处理它的进程"
            "已停止 (the process running it stopped: ' || worker || ')' WHERE status IN "
            "('queued', 'running') AND updated_at < now() - make_interval(secs => :s)"
        ).bindparams(s=STALE_S)
    )
    op.execute(
        "UPDATE job j SET status = 'failed', finished_at = now(), error = '升级时停止：同类任务"
        "只能运行一个 (stopped at the upgrade to 0011: one running job per kind)' WHERE status IN "
        "('queued', 'running') AND EXISTS (SELECT 1 FROM job k WHERE k.kind = j.kind AND "
        "k.status IN ('queued', 'running') AND (k.created_at, k.id) > (j.created_at, j.id))"
    )
    op.create_index(
        "uq_job_kind_active",
        "job",
        ["kind"],
        unique=True,
        postgresql_where=sa.text("status IN ('queued', 'running')"),
    )


def downgrade() -> None:
    op.drop_index("uq_job_kind_active", table_name="job")
    op.drop_constraint(op.f("fk_job_started_by_id_app_user"), "job", type_="foreignkey")
    op.drop_column("job", "started_by_id")
    op.drop_column("app_user", "last_used_at")
    op.drop_column("app_user", "expires_at")
