"""The schema in PostGIS: migrations match the models, round trips, constraints, indexes."""

from __future__ import annotations

import geopandas as gpd
import pytest
import shapely
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from geoalchemy2 import Geometry
from geoalchemy2.shape import from_shape, to_shape
from shapely.geometry import MultiPolygon, Polygon, box
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from geo.store.db import downgrade, include_object, make_engine, migrate
from geo.store.models import Base, Community, Facility, Grid, GridVersion, Street

pytestmark = pytest.mark.db


def test_migration_matches_the_models(empty_db):
    engine = make_engine(empty_db)
    with engine.connect() as conn:
        ctx = MigrationContext.configure(
            conn, opts={"include_object": include_object, "compare_type": True}
        )
        diff = compare_metadata(ctx, Base.metadata)
    engine.dispose()
    assert diff == []


def test_downgrade_and_upgrade_again(empty_db):
    engine = make_engine(empty_db)
    downgrade(engine, "base")
    assert "community" not in inspect(engine).get_table_names()
    migrate(engine)
    assert {"community", "grid", "incident", "audit_log"} <= set(inspect(engine).get_table_names())
    engine.dispose()


def test_every_geometry_column_has_an_srid_and_a_gist_index(session):
    everything = session.execute(
        text(
            "SELECT f_table_name, f_geometry_column, srid, type, k.relkind FROM geometry_columns "
            "JOIN pg_class k ON k.relname = f_table_name AND k.relnamespace = 'public'::regnamespace "
            "WHERE f_table_schema = 'public'"
        )
    ).all()
    rows = [r[:4] for r in everything if r[4] == "r"]
    # views (not in the models): floor_unit shows grid_member.cell, whose index serves it
    views = {(r[0], r[1]): (r[2], r[3]) for r in everything if r[4] != "r"}
    assert views == {("floor_unit", "cell"): (4490, "MULTIPOLYGON")}
    declared = {
        (t.name, c.name)
        for t in Base.metadata.tables.values()
        for c in t.columns
        if isinstance(c.type, Geometry)
    }
    assert {(r[0], r[1]) for r in rows} == declared and len(declared) == 14
    for table, column, srid, _type in rows:
        assert srid == 4490, (table, column)
        idx = session.execute(
            text("SELECT indexdef FROM pg_indexes WHERE tablename = :t AND indexdef ~* :p"),
            {"t": table, "p": f'USING gist \\("?{column}"?\\)'},
        ).all()
        assert idx, f"no GiST index on {table}.{column}"


def _square(x: float, y: float, d: float = 0.001) -> MultiPolygon:
    return MultiPolygon([box(x, y, x + d, y + d)])


def test_geoalchemy2_round_trip(session):
    street = Street(code="T-S1", name="测试街道", district="武侯区")
    shape = _square(104.05, 30.60)
    comm = Community(
        code="T-C1", name="测试社区", street=street, boundary=from_shape(shape, srid=4490)
    )
    session.add(comm)
    session.flush()
    session.expire_all()
    got = session.execute(select(Community).where(Community.code == "T-C1")).scalar_one()
    assert to_shape(got.boundary).equals_exact(shape, 1e-12)
    assert got.street.name == "测试街道"
    srid = session.execute(text("SELECT ST_SRID(boundary) FROM community WHERE code='T-C1'"))
    assert srid.scalar_one() == 4490


def test_geopandas_round_trip(session):
    conn = session.connection()
    compounds = gpd.read_postgis(
        "SELECT code, name, boundary FROM compound ORDER BY code", conn, geom_col="boundary"
    )
    assert len(compounds) == 11 and compounds.crs.to_epsg() == 4490
    compounds.to_postgis("tmp_roundtrip", conn, if_exists="replace")
    back = gpd.read_postgis(
        "SELECT code, name, boundary FROM tmp_roundtrip ORDER BY code", conn, geom_col="boundary"
    )
    assert back.crs.to_epsg() == 4490
    assert list(back["name"]) == list(compounds["name"])
    assert all(shapely.equals_exact(back.geometry.values, compounds.geometry.values, 1e-12))


BOWTIE = Polygon([(104.0, 30.0), (104.01, 30.01), (104.01, 30.0), (104.0, 30.01), (104.0, 30.0)])


@pytest.mark.parametrize(
    "sql,params",
    [
        pytest.param(
            "INSERT INTO compound (code, name, community_id, boundary) SELECT 'X', 'x', id, "
            "ST_Multi(ST_GeomFromText(:wkt, 4490)) FROM community LIMIT 1",
            {"wkt": BOWTIE.wkt},
            id="invalid-geometry",
        ),
        pytest.param(
            "INSERT INTO compound (code, name, community_id, boundary) SELECT 'X', 'x', id, "
            "ST_Multi(ST_GeomFromText(:wkt, 4326)) FROM community LIMIT 1",
            {"wkt": box(104, 30, 104.01, 30.01).wkt},
            id="wrong-srid",
        ),
        pytest.param(
            "INSERT INTO compound (code, name, community_id, boundary) SELECT 'X', 'x', id, "
            "ST_GeomFromText(:wkt, 4490) FROM community LIMIT 1",
            {"wkt": "POINT(104 30)"},
            id="wrong-geometry-type",
        ),
        pytest.param(
            "UPDATE building SET households = -1 WHERE id = (SELECT min(id) FROM building)",
            {},
            id="negative-households",
        ),
        pytest.param(
            "UPDATE facility SET kind = 'spa' WHERE id = (SELECT min(id) FROM facility)",
            {},
            id="unknown-facility-kind",
        ),
        pytest.param(
            "UPDATE incident SET status = 'lost' WHERE id = (SELECT min(id) FROM incident)",
            {},
            id="unknown-incident-status",
        ),
        pytest.param(
            "INSERT INTO building_unit (building_id, unit_no, floors, households) "
            "SELECT building_id, unit_no, floors, households FROM building_unit LIMIT 1",
            {},
            id="duplicate-unit",
        ),
        pytest.param(
            "INSERT INTO household (code, building_id, position) VALUES "
            "('X', 999999, ST_SetSRID(ST_MakePoint(104.02, 30.62), 4490))",
            {},
            id="missing-building-foreign-key",
        ),
    ],
)
def test_database_refuses_bad_rows(session, sql, params):
    with pytest.raises((IntegrityError, DBAPIError)), session.begin_nested():
        session.execute(text(sql), params)


def test_grid_levels_and_parents_are_checked(session):
    comm = session.execute(select(Community)).scalars().first()
    version = GridVersion(community_id=comm.id, number=99, status="draft", source="test")
    session.add(version)
    session.flush()
    top = Grid(version_id=version.id, level="community", code="G", boundary=comm.boundary)
    session.add(top)
    session.flush()
    with pytest.raises(IntegrityError), session.begin_nested():
        session.add(
            Grid(
                version_id=version.id,
                level="street",
                code="G2",
                parent_id=top.id,
                boundary=comm.boundary,
            )
        )
        session.flush()
    with pytest.raises(IntegrityError), session.begin_nested():
        session.add(Grid(version_id=version.id, level="micro", code="G3", boundary=comm.boundary))
        session.flush()  # a micro-grid needs a parent


def test_facility_services_are_an_array(session):
    fac = (
        session.execute(select(Facility).where(Facility.kind == "party_service_centre"))
        .scalars()
        .first()
    )
    assert isinstance(fac.services, list) and "社保办理" in fac.services
    assert to_shape(fac.position).geom_type == "Point"
