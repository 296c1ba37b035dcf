"""floors are not places: a floor-split unit's cell stored on its memberships; an incident's
floor and its co-owner grids (several: the floor groups of a tower, a grid near an edge)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry

from geo.settings import get_settings

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

SRID = get_settings().storage_srid


def upgrade() -> None:
    op.add_column(
        "grid_member",
        sa.Column(
            "cell",
            Geometry(
                geometry_type="MULTIPOLYGON",
                srid=SRID,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
            ),
            nullable=True,
        ),
    )
    op.create_index("idx_grid_member_cell", "grid_member", ["cell"], postgresql_using="gist")
    op.add_column("incident", sa.Column("floor", sa.Integer(), nullable=True))
    op.create_table(
        "incident_co_owner",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("incident_id", sa.BigInteger(), nullable=False),
        sa.Column("grid_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.CheckConstraint(
            "reason IN ('edge', 'floors')", name=op.f("ck_incident_co_owner_reason_known")
        ),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incident.id"],
            name=op.f("fk_incident_co_owner_incident_id_incident"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["grid_id"],
            ["grid.id"],
            name=op.f("fk_incident_co_owner_grid_id_grid"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_co_owner")),
        sa.UniqueConstraint(
            "incident_id", "grid_id", name=op.f("uq_incident_co_owner_incident_id")
        ),
    )
    op.create_index(
        op.f("ix_incident_co_owner_grid_id"), "incident_co_owner", ["grid_id"], unique=False
    )
    op.execute(
        "INSERT INTO incident_co_owner (incident_id, grid_id, reason) "
        "SELECT id, co_owner_grid_id, 'edge' FROM incident WHERE co_owner_grid_id IS NOT NULL"
    )
    op.drop_constraint(op.f("fk_incident_co_owner_grid_id_grid"), "incident", type_="foreignkey")
    op.drop_column("incident", "co_owner_grid_id")


def downgrade() -> None:
    op.add_column("incident", sa.Column("co_owner_grid_id", sa.Integer(), nullable=True))
    op.create_foreign_key(
        op.f("fk_incident_co_owner_grid_id_grid"),
        "incident",
        "grid",
        ["co_owner_grid_id"],
        ["id"],
        ondelete="SET NULL",
    )
    op.execute(
        "UPDATE incident i SET co_owner_grid_id = c.grid_id FROM (SELECT DISTINCT ON "
        "(incident_id) incident_id, grid_id FROM incident_co_owner ORDER BY incident_id, "
        "reason, id) c WHERE c.incident_id = i.id"
    )
    op.drop_index(op.f("ix_incident_co_owner_grid_id"), table_name="incident_co_owner")
    op.drop_table("incident_co_owner")
    op.drop_column("incident", "floor")
    op.drop_index("idx_grid_member_cell", table_name="grid_member", postgresql_using="gist")
    op.drop_column("grid_member", "cell")
