"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

from geo.settings import get_settings

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# The storage CRS is a setting, fixed when the database is created.
SRID = get_settings().storage_srid


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.create_table(
        "app_user",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("token_prefix", sa.String(length=16), nullable=False),
        sa.Column("grid_code", sa.String(length=64), nullable=True),
        sa.Column("street_code", sa.String(length=64), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "role IN ('public', 'worker', 'dispatcher', 'planner', 'admin')",
            name=op.f("ck_app_user_role_known"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_app_user")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_app_user_token_hash")),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column(
            "at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("entity", sa.String(length=64), nullable=False),
        sa.Column("entity_id", sa.String(length=64), nullable=True),
        sa.Column("detail", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index("ix_audit_log_entity", "audit_log", ["entity", "entity_id"], unique=False)
    op.create_geospatial_table(
        "road",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column(
            "geom",
            Geometry(
                geometry_type="MULTILINESTRING",
                srid=SRID,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.CheckConstraint(
            "kind IN ('primary', 'secondary', 'branch', 'footway')", name=op.f("ck_road_kind_known")
        ),
        sa.CheckConstraint("ST_IsValid(geom)", name=op.f("ck_road_geom_valid")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_road")),
        sa.UniqueConstraint("code", name=op.f("uq_road_code")),
    )
    op.create_geospatial_index(
        "idx_road_geom", "road", ["geom"], unique=False, postgresql_using="gist", postgresql_ops={}
    )
    op.create_geospatial_table(
        "street",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("district", sa.String(length=200), nullable=False),
        sa.Column("city", sa.String(length=200), server_default="成都市", nullable=False),
        sa.Column(
            "boundary",
            Geometry(
                geometry_type="MULTIPOLYGON",
                srid=SRID,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
            ),
            nullable=True,
        ),
        sa.CheckConstraint("ST_IsValid(boundary)", name=op.f("ck_street_boundary_valid")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_street")),
        sa.UniqueConstraint("code", name=op.f("uq_street_code")),
    )
    op.create_geospatial_index(
        "idx_street_boundary",
        "street",
        ["boundary"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={},
    )
    op.create_geospatial_table(
        "community",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("street_id", sa.Integer(), nullable=False),
        sa.Column(
            "boundary",
            Geometry(
                geometry_type="MULTIPOLYGON",
                srid=SRID,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.CheckConstraint("ST_IsValid(boundary)", name=op.f("ck_community_boundary_valid")),
        sa.ForeignKeyConstraint(
            ["street_id"],
            ["street.id"],
            name=op.f("fk_community_street_id_street"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_community")),
        sa.UniqueConstraint("code", name=op.f("uq_community_code")),
    )
    op.create_geospatial_index(
        "idx_community_boundary",
        "community",
        ["boundary"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={},
    )
    op.create_index(op.f("ix_community_street_id"), "community", ["street_id"], unique=False)
    op.create_table(
        "department",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("street_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["street_id"],
            ["street.id"],
            name=op.f("fk_department_street_id_street"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_department")),
        sa.UniqueConstraint("code", name=op.f("uq_department_code")),
    )
    op.create_geospatial_table(
        "compound",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("address", sa.String(length=400), nullable=True),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column(
            "boundary",
            Geometry(
                geometry_type="MULTIPOLYGON",
                srid=SRID,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.CheckConstraint("ST_IsValid(boundary)", name=op.f("ck_compound_boundary_valid")),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["community.id"],
            name=op.f("fk_compound_community_id_community"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_compound")),
        sa.UniqueConstraint("code", name=op.f("uq_compound_code")),
    )
    op.create_geospatial_index(
        "idx_compound_boundary",
        "compound",
        ["boundary"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={},
    )
    op.create_index(op.f("ix_compound_community_id"), "compound", ["community_id"], unique=False)
    op.create_geospatial_table(
        "facility",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("address", sa.String(length=400), nullable=True),
        sa.Column("phone", sa.String(length=32), nullable=True),
        sa.Column("opening_hours", sa.String(length=200), nullable=True),
        sa.Column("services", postgresql.ARRAY(sa.Text()), server_default="{}", nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=True),
        sa.Column(
            "position",
            Geometry(
                geometry_type="POINT",
                srid=SRID,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.CheckConstraint(
            "kind IN ('party_service_complex', 'party_service_centre', 'party_service_station', 'convenience_centre', 'convenience_station')",
            name=op.f("ck_facility_kind_known"),
        ),
        sa.CheckConstraint("ST_IsValid(position)", name=op.f("ck_facility_position_valid")),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["community.id"],
            name=op.f("fk_facility_community_id_community"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_facility")),
        sa.UniqueConstraint("code", name=op.f("uq_facility_code")),
    )
    op.create_geospatial_index(
        "idx_facility_position",
        "facility",
        ["position"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={},
    )
    op.create_index(op.f("ix_facility_community_id"), "facility", ["community_id"], unique=False)
    op.create_table(
        "grid_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("params", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("created_by", sa.String(length=100), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('draft', 'published', 'superseded', 'discarded')",
            name=op.f("ck_grid_version_status_known"),
        ),
        sa.CheckConstraint("number >= 1", name=op.f("ck_grid_version_number_positive")),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["community.id"],
            name=op.f("fk_grid_version_community_id_community"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_grid_version")),
        sa.UniqueConstraint("community_id", "number", name="uq_grid_version_number"),
    )
    op.create_index(
        op.f("ix_grid_version_community_id"), "grid_version", ["community_id"], unique=False
    )
    op.create_index(
        "uq_grid_version_one_current",
        "grid_version",
        ["community_id"],
        unique=True,
        postgresql_where=sa.text("status = 'published'"),
    )
    op.create_geospatial_table(
        "open_resource",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("owner_org", sa.String(length=200), nullable=False),
        sa.Column("address", sa.String(length=400), nullable=True),
        sa.Column("phone", sa.String(length=32), nullable=True),
        sa.Column("opening_hours", sa.String(length=200), nullable=True),
        sa.Column("booking", sa.String(length=400), nullable=True),
        sa.Column("capacity", sa.Integer(), nullable=True),
        sa.Column("community_id", sa.Integer(), nullable=True),
        sa.Column(
            "position",
            Geometry(
                geometry_type="POINT",
                srid=SRID,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.CheckConstraint(
            "kind IN ('canteen', 'sports_ground', 'meeting_room', 'parking', 'activity_room', 'library', 'other')",
            name=op.f("ck_open_resource_kind_known"),
        ),
        sa.CheckConstraint("ST_IsValid(position)", name=op.f("ck_open_resource_position_valid")),
        sa.CheckConstraint(
            "capacity IS NULL OR capacity >= 0", name=op.f("ck_open_resource_capacity_nonnegative")
        ),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["community.id"],
            name=op.f("fk_open_resource_community_id_community"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_open_resource")),
        sa.UniqueConstraint("code", name=op.f("uq_open_resource_code")),
    )
    op.create_geospatial_index(
        "idx_open_resource_position",
        "open_resource",
        ["position"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={},
    )
    op.create_index(
        op.f("ix_open_resource_community_id"), "open_resource", ["community_id"], unique=False
    )
    op.create_table(
        "worker",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("phone", sa.String(length=32), nullable=True),
        sa.Column("public_phone", sa.Boolean(), server_default="true", nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("grid_code", sa.String(length=64), nullable=True),
        sa.Column("building_code", sa.String(length=64), nullable=True),
        sa.Column("party_member", sa.Boolean(), server_default="false", nullable=False),
        sa.CheckConstraint(
            "role IN ('community_secretary', 'grid_worker', 'micro_grid_worker', 'building_head', 'volunteer')",
            name=op.f("ck_worker_role_known"),
        ),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["community.id"],
            name=op.f("fk_worker_community_id_community"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_worker")),
        sa.UniqueConstraint("code", name=op.f("uq_worker_code")),
    )
    op.create_index(op.f("ix_worker_community_id"), "worker", ["community_id"], unique=False)
    op.create_index(op.f("ix_worker_grid_code"), "worker", ["grid_code"], unique=False)
    op.create_geospatial_table(
        "building",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("address", sa.String(length=400), nullable=True),
        sa.Column("use", sa.String(length=32), server_default="residential", nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("compound_id", sa.Integer(), nullable=True),
        sa.Column("floors", sa.Integer(), nullable=False),
        sa.Column("units", sa.Integer(), nullable=False),
        sa.Column("households", sa.Integer(), nullable=False),
        sa.Column(
            "footprint",
            Geometry(
                geometry_type="MULTIPOLYGON",
                srid=SRID,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.CheckConstraint(
            "use IN ('residential', 'commercial', 'mixed', 'public')",
            name=op.f("ck_building_use_known"),
        ),
        sa.CheckConstraint("ST_IsValid(footprint)", name=op.f("ck_building_footprint_valid")),
        sa.CheckConstraint("floors >= 1", name=op.f("ck_building_floors_positive")),
        sa.CheckConstraint("households >= 0", name=op.f("ck_building_households_nonnegative")),
        sa.CheckConstraint("units >= 1", name=op.f("ck_building_units_positive")),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["community.id"],
            name=op.f("fk_building_community_id_community"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["compound_id"],
            ["compound.id"],
            name=op.f("fk_building_compound_id_compound"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_building")),
        sa.UniqueConstraint("code", name=op.f("uq_building_code")),
    )
    op.create_geospatial_index(
        "idx_building_footprint",
        "building",
        ["footprint"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={},
    )
    op.create_index(op.f("ix_building_community_id"), "building", ["community_id"], unique=False)
    op.create_index(op.f("ix_building_compound_id"), "building", ["compound_id"], unique=False)
    op.create_geospatial_table(
        "grid",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("compound_id", sa.Integer(), nullable=True),
        sa.Column("households", sa.Integer(), server_default="0", nullable=False),
        sa.Column("locked", sa.Boolean(), server_default="false", nullable=False),
        sa.Column(
            "boundary",
            Geometry(
                geometry_type="MULTIPOLYGON",
                srid=SRID,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.CheckConstraint(
            "(level = 'community') = (parent_id IS NULL)",
            name=op.f("ck_grid_parent_unless_community"),
        ),
        sa.CheckConstraint(
            "level IN ('community', 'compound', 'micro')", name=op.f("ck_grid_level_known")
        ),
        sa.CheckConstraint("ST_IsValid(boundary)", name=op.f("ck_grid_boundary_valid")),
        sa.CheckConstraint("households >= 0", name=op.f("ck_grid_households_nonnegative")),
        sa.ForeignKeyConstraint(
            ["compound_id"],
            ["compound.id"],
            name=op.f("fk_grid_compound_id_compound"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["grid.id"], name=op.f("fk_grid_parent_id_grid"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["grid_version.id"],
            name=op.f("fk_grid_version_id_grid_version"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_grid")),
        sa.UniqueConstraint("version_id", "code", name="uq_grid_version_code"),
    )
    op.create_geospatial_index(
        "idx_grid_boundary",
        "grid",
        ["boundary"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={},
    )
    op.create_index(op.f("ix_grid_parent_id"), "grid", ["parent_id"], unique=False)
    op.create_index(op.f("ix_grid_version_id"), "grid", ["version_id"], unique=False)
    op.create_table(
        "plan",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("author", sa.String(length=100), nullable=False),
        sa.Column("base_version_id", sa.Integer(), nullable=True),
        sa.Column("draft_version_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="draft", nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "status IN ('draft', 'validated', 'published', 'discarded')",
            name=op.f("ck_plan_status_known"),
        ),
        sa.ForeignKeyConstraint(
            ["base_version_id"],
            ["grid_version.id"],
            name=op.f("fk_plan_base_version_id_grid_version"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["community.id"],
            name=op.f("fk_plan_community_id_community"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["draft_version_id"],
            ["grid_version.id"],
            name=op.f("fk_plan_draft_version_id_grid_version"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plan")),
        sa.UniqueConstraint("draft_version_id", name=op.f("uq_plan_draft_version_id")),
    )
    op.create_index(op.f("ix_plan_community_id"), "plan", ["community_id"], unique=False)
    op.create_table(
        "building_unit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("building_id", sa.Integer(), nullable=False),
        sa.Column("unit_no", sa.Integer(), nullable=False),
        sa.Column("floors", sa.Integer(), nullable=False),
        sa.Column("households", sa.Integer(), nullable=False),
        sa.CheckConstraint("floors >= 1", name=op.f("ck_building_unit_floors_positive")),
        sa.CheckConstraint("households >= 0", name=op.f("ck_building_unit_households_nonnegative")),
        sa.CheckConstraint("unit_no >= 1", name=op.f("ck_building_unit_unit_no_positive")),
        sa.ForeignKeyConstraint(
            ["building_id"],
            ["building.id"],
            name=op.f("fk_building_unit_building_id_building"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_building_unit")),
        sa.UniqueConstraint("building_id", "unit_no", name="uq_building_unit_no"),
    )
    op.create_geospatial_table(
        "incident",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("address", sa.String(length=400), nullable=True),
        sa.Column(
            "position",
            Geometry(
                geometry_type="POINT",
                srid=SRID,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column("status", sa.String(length=32), server_default="reported", nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=True),
        sa.Column("grid_id", sa.Integer(), nullable=True),
        sa.Column("street_id", sa.Integer(), nullable=True),
        sa.Column("department_id", sa.Integer(), nullable=True),
        sa.Column("duplicate_of", sa.BigInteger(), nullable=True),
        sa.Column(
            "reported_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("accept_due", sa.DateTime(timezone=True), nullable=True),
        sa.Column("handle_due", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolve_due", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "status IN ('reported', 'accepted', 'street_handling', 'department_handling', 'resolved', 'closed', 'rejected', 'duplicate', 'reopened')",
            name=op.f("ck_incident_status_known"),
        ),
        sa.CheckConstraint("ST_IsValid(position)", name=op.f("ck_incident_position_valid")),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["community.id"],
            name=op.f("fk_incident_community_id_community"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["department.id"],
            name=op.f("fk_incident_department_id_department"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["duplicate_of"],
            ["incident.id"],
            name=op.f("fk_incident_duplicate_of_incident"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["grid_id"], ["grid.id"], name=op.f("fk_incident_grid_id_grid"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["street_id"],
            ["street.id"],
            name=op.f("fk_incident_street_id_street"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident")),
        sa.UniqueConstraint("code", name=op.f("uq_incident_code")),
    )
    op.create_geospatial_index(
        "idx_incident_position",
        "incident",
        ["position"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={},
    )
    op.create_index(op.f("ix_incident_community_id"), "incident", ["community_id"], unique=False)
    op.create_index(op.f("ix_incident_grid_id"), "incident", ["grid_id"], unique=False)
    op.create_index("ix_incident_status_category", "incident", ["status", "category"], unique=False)
    op.create_table(
        "grid_member",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("grid_id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("floor_min", sa.Integer(), nullable=True),
        sa.Column("floor_max", sa.Integer(), nullable=True),
        sa.Column("households", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "(floor_min IS NULL) = (floor_max IS NULL) AND (floor_min IS NULL OR (floor_min >= 1 AND floor_min <= floor_max))",
            name=op.f("ck_grid_member_floor_range"),
        ),
        sa.CheckConstraint("households >= 0", name=op.f("ck_grid_member_households_nonnegative")),
        sa.ForeignKeyConstraint(
            ["grid_id"], ["grid.id"], name=op.f("fk_grid_member_grid_id_grid"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"],
            ["building_unit.id"],
            name=op.f("fk_grid_member_unit_id_building_unit"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_grid_member")),
    )
    op.create_index(op.f("ix_grid_member_grid_id"), "grid_member", ["grid_id"], unique=False)
    op.create_index(op.f("ix_grid_member_unit_id"), "grid_member", ["unit_id"], unique=False)
    op.create_geospatial_table(
        "household",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("code", sa.String(length=80), nullable=False),
        sa.Column("building_id", sa.Integer(), nullable=True),
        sa.Column("unit_id", sa.Integer(), nullable=True),
        sa.Column("floor", sa.Integer(), nullable=True),
        sa.Column("room", sa.String(length=32), nullable=True),
        sa.Column("address", sa.String(length=400), nullable=True),
        sa.Column("members", sa.Integer(), nullable=True),
        sa.Column(
            "position",
            Geometry(
                geometry_type="POINT",
                srid=SRID,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column("grid_id", sa.Integer(), nullable=True),
        sa.CheckConstraint("ST_IsValid(position)", name=op.f("ck_household_position_valid")),
        sa.CheckConstraint(
            "members IS NULL OR members >= 0", name=op.f("ck_household_members_nonnegative")
        ),
        sa.ForeignKeyConstraint(
            ["building_id"],
            ["building.id"],
            name=op.f("fk_household_building_id_building"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["grid_id"], ["grid.id"], name=op.f("fk_household_grid_id_grid"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"],
            ["building_unit.id"],
            name=op.f("fk_household_unit_id_building_unit"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_household")),
        sa.UniqueConstraint("code", name=op.f("uq_household_code")),
    )
    op.create_geospatial_index(
        "idx_household_position",
        "household",
        ["position"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={},
    )
    op.create_index(op.f("ix_household_building_id"), "household", ["building_id"], unique=False)
    op.create_index(op.f("ix_household_grid_id"), "household", ["grid_id"], unique=False)
    op.create_index(op.f("ix_household_unit_id"), "household", ["unit_id"], unique=False)
    op.create_table(
        "incident_event",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("incident_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("from_status", sa.String(length=32), nullable=True),
        sa.Column("to_status", sa.String(length=32), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "from_status IS NULL OR from_status IN ('reported', 'accepted', 'street_handling', 'department_handling', 'resolved', 'closed', 'rejected', 'duplicate', 'reopened')",
            name=op.f("ck_incident_event_from_status_known"),
        ),
        sa.CheckConstraint(
            "to_status IN ('reported', 'accepted', 'street_handling', 'department_handling', 'resolved', 'closed', 'rejected', 'duplicate', 'reopened')",
            name=op.f("ck_incident_event_to_status_known"),
        ),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incident.id"],
            name=op.f("fk_incident_event_incident_id_incident"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_event")),
    )
    op.create_index(
        op.f("ix_incident_event_incident_id"), "incident_event", ["incident_id"], unique=False
    )
    op.create_table(
        "incident_reporter",
        sa.Column("incident_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=True),
        sa.Column("phone", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incident.id"],
            name=op.f("fk_incident_reporter_incident_id_incident"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("incident_id", name=op.f("pk_incident_reporter")),
    )
    op.create_table(
        "household_person",
        sa.Column("household_id", sa.BigInteger(), nullable=False),
        sa.Column("head_name", sa.String(length=100), nullable=False),
        sa.Column("phone", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["household_id"],
            ["household.id"],
            name=op.f("fk_household_person_household_id_household"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("household_id", name=op.f("pk_household_person")),
    )


def downgrade() -> None:
    op.drop_table("household_person")
    op.drop_table("incident_reporter")
    op.drop_index(op.f("ix_incident_event_incident_id"), table_name="incident_event")
    op.drop_table("incident_event")
    op.drop_index(op.f("ix_household_unit_id"), table_name="household")
    op.drop_index(op.f("ix_household_grid_id"), table_name="household")
    op.drop_index(op.f("ix_household_building_id"), table_name="household")
    op.drop_geospatial_index(
        "idx_household_position",
        table_name="household",
        postgresql_using="gist",
        column_name="position",
    )
    op.drop_geospatial_table("household")
    op.drop_index(op.f("ix_grid_member_unit_id"), table_name="grid_member")
    op.drop_index(op.f("ix_grid_member_grid_id"), table_name="grid_member")
    op.drop_table("grid_member")
    op.drop_index("ix_incident_status_category", table_name="incident")
    op.drop_index(op.f("ix_incident_grid_id"), table_name="incident")
    op.drop_index(op.f("ix_incident_community_id"), table_name="incident")
    op.drop_geospatial_index(
        "idx_incident_position",
        table_name="incident",
        postgresql_using="gist",
        column_name="position",
    )
    op.drop_geospatial_table("incident")
    op.drop_table("building_unit")
    op.drop_index(op.f("ix_plan_community_id"), table_name="plan")
    op.drop_table("plan")
    op.drop_index(op.f("ix_grid_version_id"), table_name="grid")
    op.drop_index(op.f("ix_grid_parent_id"), table_name="grid")
    op.drop_geospatial_index(
        "idx_grid_boundary", table_name="grid", postgresql_using="gist", column_name="boundary"
    )
    op.drop_geospatial_table("grid")
    op.drop_index(op.f("ix_building_compound_id"), table_name="building")
    op.drop_index(op.f("ix_building_community_id"), table_name="building")
    op.drop_geospatial_index(
        "idx_building_footprint",
        table_name="building",
        postgresql_using="gist",
        column_name="footprint",
    )
    op.drop_geospatial_table("building")
    op.drop_index(op.f("ix_worker_grid_code"), table_name="worker")
    op.drop_index(op.f("ix_worker_community_id"), table_name="worker")
    op.drop_table("worker")
    op.drop_index(op.f("ix_open_resource_community_id"), table_name="open_resource")
    op.drop_geospatial_index(
        "idx_open_resource_position",
        table_name="open_resource",
        postgresql_using="gist",
        column_name="position",
    )
    op.drop_geospatial_table("open_resource")
    op.drop_index(
        "uq_grid_version_one_current",
        table_name="grid_version",
        postgresql_where=sa.text("status = 'published'"),
    )
    op.drop_index(op.f("ix_grid_version_community_id"), table_name="grid_version")
    op.drop_table("grid_version")
    op.drop_index(op.f("ix_facility_community_id"), table_name="facility")
    op.drop_geospatial_index(
        "idx_facility_position",
        table_name="facility",
        postgresql_using="gist",
        column_name="position",
    )
    op.drop_geospatial_table("facility")
    op.drop_index(op.f("ix_compound_community_id"), table_name="compound")
    op.drop_geospatial_index(
        "idx_compound_boundary",
        table_name="compound",
        postgresql_using="gist",
        column_name="boundary",
    )
    op.drop_geospatial_table("compound")
    op.drop_table("department")
    op.drop_index(op.f("ix_community_street_id"), table_name="community")
    op.drop_geospatial_index(
        "idx_community_boundary",
        table_name="community",
        postgresql_using="gist",
        column_name="boundary",
    )
    op.drop_geospatial_table("community")
    op.drop_geospatial_index(
        "idx_street_boundary", table_name="street", postgresql_using="gist", column_name="boundary"
    )
    op.drop_geospatial_table("street")
    op.drop_geospatial_index(
        "idx_road_geom", table_name="road", postgresql_using="gist", column_name="geom"
    )
    op.drop_geospatial_table("road")
    op.drop_index("ix_audit_log_entity", table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_table("app_user")
