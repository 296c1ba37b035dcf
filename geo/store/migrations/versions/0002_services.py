"""services: walking network, incident co-owner and escalations, reporter confirmation token

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry

from geo.settings import get_settings

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

SRID = get_settings().storage_srid


def upgrade() -> None:
    op.add_column("incident", sa.Column("co_owner_grid_id", sa.Integer(), nullable=True))
    op.create_foreign_key(
        op.f("fk_incident_co_owner_grid_id_grid"),
        "incident",
        "grid",
        ["co_owner_grid_id"],
        ["id"],
        ondelete="SET NULL",
    )
    op.add_column(
        "incident", sa.Column("escalations", sa.Integer(), server_default="0", nullable=False)
    )
    op.add_column("incident_reporter", sa.Column("token_hash", sa.String(length=64), nullable=True))
    op.create_table(
        "road_vertex",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column(
            "geom",
            Geometry(
                geometry_type="POINT",
                srid=SRID,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_road_vertex")),
    )
    op.create_index("idx_road_vertex_geom", "road_vertex", ["geom"], postgresql_using="gist")
    op.create_table(
        "road_edge",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("road_id", sa.Integer(), nullable=True),
        sa.Column("source", sa.BigInteger(), nullable=False),
        sa.Column("target", sa.BigInteger(), nullable=False),
        sa.Column("cost", sa.Float(), nullable=False),
        sa.Column("reverse_cost", sa.Float(), nullable=False),
        sa.Column(
            "geom",
            Geometry(
                geometry_type="LINESTRING",
                srid=SRID,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.CheckConstraint(
            "cost >= 0 AND reverse_cost >= 0", name=op.f("ck_road_edge_cost_nonnegative")
        ),
        sa.ForeignKeyConstraint(
            ["road_id"], ["road.id"], name=op.f("fk_road_edge_road_id_road"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["source"],
            ["road_vertex.id"],
            name=op.f("fk_road_edge_source_road_vertex"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["target"],
            ["road_vertex.id"],
            name=op.f("fk_road_edge_target_road_vertex"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_road_edge")),
    )
    op.create_index("idx_road_edge_geom", "road_edge", ["geom"], postgresql_using="gist")
    op.create_index(op.f("ix_road_edge_source"), "road_edge", ["source"])
    op.create_index(op.f("ix_road_edge_target"), "road_edge", ["target"])


def downgrade() -> None:
    op.drop_table("road_edge")
    op.drop_table("road_vertex")
    op.drop_column("incident_reporter", "token_hash")
    op.drop_column("incident", "escalations")
    op.drop_constraint(op.f("fk_incident_co_owner_grid_id_grid"), "incident", type_="foreignkey")
    op.drop_column("incident", "co_owner_grid_id")
