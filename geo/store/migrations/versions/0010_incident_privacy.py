"""what the public sees of incidents, and whose idempotency keys: an incident's public
position (snapped to 50 m, a generated column with its GiST index); idempotency keys scoped
per client, stored answers that hold a reporter token in clear deleted; an index for the
service-wide count of public reports

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry

from geo.settings import get_settings

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

SRID = get_settings().storage_srid
METRIC_SRID = get_settings().metric_srid
CELL_M = (
    50  # geo.store.models.PUBLIC_CELL_M when this was written; a later change needs its own step
)


def upgrade() -> None:
    op.add_column(
        "incident",
        sa.Column(
            "public_position",
            Geometry(
                geometry_type="POINT",
                srid=SRID,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
            ),
            sa.Computed(
                f"ST_Transform(ST_SnapToGrid(ST_Transform(position, {METRIC_SRID}), {CELL_M}), "
                f"{SRID})",
                persisted=True,
            ),
            nullable=True,
        ),
    )
    op.create_index(
        "idx_incident_public_position", "incident", ["public_position"], postgresql_using="gist"
    )
    # answers stored before keys were scoped per client hold the reporter token in clear:
    # deleted (a retry of one of them is then carried out again)
    op.execute("DELETE FROM idempotency_key WHERE response ->> 'reporter_token' IS NOT NULL")
    op.add_column(
        "idempotency_key",
        sa.Column("client", sa.String(length=200), server_default="", nullable=False),
    )
    op.drop_constraint("uq_idempotency_key_scope_key", "idempotency_key", type_="unique")
    op.create_unique_constraint(
        "uq_idempotency_key_scope_client_key", "idempotency_key", ["scope", "client", "key"]
    )
    op.create_index("ix_report_hit_at", "report_hit", ["at"])


def downgrade() -> None:
    op.drop_index("ix_report_hit_at", table_name="report_hit")
    op.drop_constraint("uq_idempotency_key_scope_client_key", "idempotency_key", type_="unique")
    # one key per scope again: the oldest record of a key is kept
    op.execute(
        "DELETE FROM idempotency_key a USING idempotency_key b WHERE a.scope = b.scope "
        "AND a.key = b.key AND a.id > b.id"
    )
    op.create_unique_constraint("uq_idempotency_key_scope_key", "idempotency_key", ["scope", "key"])
    op.drop_column("idempotency_key", "client")
    op.drop_index("idx_incident_public_position", table_name="incident", postgresql_using="gist")
    op.drop_column("incident", "public_position")
