"""what the public sees of incidents: an incident's public position (snapped to 50 m,
a generated column with its GiST index); an index for the service-wide count of public
reports

Revision ID: 0010
Revises: 0008 (0009 is another change under way: whichever is merged second revises the other)
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry

from geo.settings import get_settings

revision = "0010"
down_revision = "0008"
branch_labels = None
depends_on = None

SRID = get_settings().storage_srid
METRIC_SRID = get_settings().metric_srid
CELL_M = 50  # geo.models.PUBLIC_CELL_M when this was written; a later change needs its own step


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
    op.create_index("ix_report_hit_at", "report_hit", ["at"])


def downgrade() -> None:
    op.drop_index("ix_report_hit_at", table_name="report_hit")
    op.drop_index("idx_incident_public_position", table_name="incident", postgresql_using="gist")
    op.drop_column("incident", "public_position")
