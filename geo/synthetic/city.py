"""A synthetic city at any scale, deterministic and seeded, for benchmarks and scale tests.

Each community is a block of the street grid divided into compounds filled with rows of
buildings of the kinds Chengdu has (walk-ups, mid-rises, towers), with units and households;
households per community default to about 1,250 (Chengdu: about 5 million households in about
4,000 communities). Geometry is in the metric CRS (EPSG:4544 by default), placed around Wuhou
district, communities side by side on a grid.

>>> city = list(synthetic_city(2, seed=1))
>>> [c.code for c in city]
['SYN000001', 'SYN000002']
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from shapely.geometry import box

from geo.partition import BuildingIn, CompoundIn, UnitIn

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

__all__ = ["SyntheticCommunity", "synthetic_city", "write_city", "write_geoparquet"]

ORIGIN = (395_000.0, 3_375_000.0)  # EPSG:4544, south-west of Chengdu's centre
PITCH = 700.0  # metres between community origins
SIDE = 640.0  # community side (metres)

# (label, floors range, units range, households per floor range, unit length, depth, weight)
KINDS = [
    ("walk-up", (5, 7), (2, 3), (2, 2), 15.0, 12.0, 0.40),
    ("mid-rise", (9, 12), (2, 3), (2, 3), 17.0, 14.0, 0.35),
    ("tower", (18, 32), (1, 2), (4, 4), 24.0, 18.0, 0.25),
]


@dataclass
class SyntheticCommunity:
    code: str
    boundary: object
    compounds: list[CompoundIn]
    buildings: list[BuildingIn]

    @property
    def households(self) -> int:
        return sum(b.households for b in self.buildings)

    @property
    def units(self) -> int:
        return sum(len(b.units) for b in self.buildings)


def synthetic_city(
    communities: int,
    *,
    seed: int = 0,
    households: int = 1250,
    start: int = 0,
) -> Iterator[SyntheticCommunity]:
    """``communities`` synthetic communities (numbered from ``start``), each of about
    ``households`` households. Community ``i`` is the same whatever the count asked for."""
    unit_id = 0
    for i in range(start, start + communities):
        rng = np.random.default_rng([seed, i])
        comm, unit_id = _community(i, rng, households, unit_id + i * 100_000)
        yield comm


def _community(
    i: int, rng: np.random.Generator, target: int, unit_id: int
) -> tuple[SyntheticCommunity, int]:
    cols = 100
    x0 = ORIGIN[0] + (i % cols) * PITCH
    y0 = ORIGIN[1] + (i // cols) * PITCH
    code = f"SYN{i + 1:06d}"
    boundary = box(x0, y0, x0 + SIDE, y0 + SIDE)
    total = int(target * rng.uniform(0.7, 1.3))
    nx, ny = 3, 2
    road = 14.0
    cw, ch = (SIDE - road * (nx + 1)) / nx, (SIDE - road * (ny + 1)) / ny
    compounds: list[CompoundIn] = []
    buildings: list[BuildingIn] = []
    per_compound = total / (nx * ny)
    for c in range(nx * ny):
        cx = x0 + road + (c % nx) * (cw + road)
        cy = y0 + road + (c // nx) * (ch + road)
        ccode = f"{code}-C{c + 1:02d}"
        compounds.append(CompoundIn(ccode, f"合成小区{c + 1}", box(cx, cy, cx + cw, cy + ch)))
        made = 0
        y = cy + ch - 10.0
        b = 0
        while made < per_compound * rng.uniform(0.8, 1.2) and y > cy + 30:
            x = cx + 10.0
            row_depth = 0.0
            while x < cx + cw - 30:
                k = KINDS[int(rng.choice(len(KINDS), p=[k[6] for k in KINDS]))]
                floors = int(rng.integers(k[1][0], k[1][1] + 1))
                units = int(rng.integers(k[2][0], k[2][1] + 1))
                per_floor = int(rng.integers(k[3][0], k[3][1] + 1))
                length = k[4] * units
                if x + length > cx + cw - 10:
                    break
                if y - k[5] < cy + 10:
                    break
                b += 1
                us = []
                for u in range(units):
                    unit_id += 1
                    us.append(UnitIn(unit_id, u + 1, floors, floors * per_floor))
                fp = box(x, y - k[5], x + length, y)
                buildings.append(BuildingIn(f"{ccode}-B{b:03d}", fp, ccode, tuple(us)))
                made += sum(u.households for u in us)
                row_depth = max(row_depth, k[5])
                x += length + float(rng.uniform(12, 24))
                if made >= per_compound * 1.2:
                    break
            y -= row_depth + float(rng.uniform(20, 32))
    return SyntheticCommunity(code, boundary, compounds, buildings), unit_id


# --- writing a synthetic city to PostGIS and GeoParquet ----------------------------------------
def _storage_hex(geoms: list) -> list[str]:
    import shapely

    from geo.core.crs import from_metric
    from geo.settings import get_settings

    back = from_metric(np.asarray(geoms, dtype=object))
    multi = [g if g.geom_type != "Polygon" else shapely.MultiPolygon([g]) for g in back]
    arr = shapely.set_srid(np.asarray(multi, dtype=object), get_settings().storage_srid)
    return list(shapely.to_wkb(arr, hex=True, include_srid=True))


def _unit_points(b: BuildingIn) -> list:
    """The centre of each unit's slice of an (axis-aligned) synthetic footprint."""
    from shapely.geometry import Point

    x0, y0, x1, y1 = b.footprint.bounds
    n = len(b.units)
    return [Point(x0 + (u + 0.5) * (x1 - x0) / n, (y0 + y1) / 2) for u in range(n)]


def write_city(
    session: Session,
    city: list[SyntheticCommunity],
    *,
    street: tuple[str, str] = ("SYNSTREET", "合成街道"),
) -> dict[str, int]:
    """Store synthetic communities in PostGIS (street, communities, compounds, buildings,
    units, households), in the caller's transaction. Returns row counts."""
    from sqlalchemy import text

    sid = session.execute(
        text(
            "INSERT INTO street (code, name, district, city) VALUES (:c, :n, '合成区', '成都市') "
            "ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name RETURNING id"
        ),
        {"c": street[0], "n": street[1]},
    ).scalar_one()
    counts = {"communities": 0, "compounds": 0, "buildings": 0, "units": 0, "households": 0}
    for comm in city:
        cid, comp_ids = _insert_community(session, comm, sid)
        rows = _building_rows(session, comm, cid, comp_ids)
        _copy_rows(session, rows)
        counts["communities"] += 1
        counts["compounds"] += len(comm.compounds)
        counts["buildings"] += len(rows.buildings)
        counts["units"] += len(rows.units)
        counts["households"] += len(rows.households)
    # fresh statistics for the planner right after a bulk load, rather than whenever
    # autovacuum gets round to it: in the whole-city run the per-community household queries
    # ran as parallel scans while autovacuum was still analysing the household table, and the
    # time per community doubled between 1,000 and 4,000 communities
    for table in ("community", "compound", "building", "building_unit", "household"):
        session.execute(text(f"ANALYZE {table}"))
    return counts


def _insert_community(
    session: Session, comm: SyntheticCommunity, street_id: int
) -> tuple[int, dict[str, int]]:
    """The community's row and its compounds' (one INSERT each: a few per community); their
    ids, the compounds' by code."""
    from sqlalchemy import text

    cid = session.execute(
        text(
            "INSERT INTO community (code, name, street_id, boundary) VALUES (:c, :n, :s, "
            "ST_GeomFromEWKB(decode(:g, 'hex'))) RETURNING id"
        ),
        {
            "c": comm.code,
            "n": f"合成社区{comm.code[3:]}",
            "s": street_id,
            "g": _storage_hex([comm.boundary])[0],
        },
    ).scalar_one()
    comp_ids: dict[str, int] = {}
    for c, g in zip(
        comm.compounds, _storage_hex([c.boundary for c in comm.compounds]), strict=True
    ):
        comp_ids[c.code] = session.execute(
            text(
                "INSERT INTO compound (code, name, community_id, boundary) VALUES (:c, :n, :i, "
                "ST_GeomFromEWKB(decode(:g, 'hex'))) RETURNING id"
            ),
            {"c": c.code, "n": c.name, "i": cid, "g": g},
        ).scalar_one()
    return cid, comp_ids


BuildingRow = tuple[int, str, str, int, int, str, int, int, int, str]
UnitRow = tuple[int, int, int, int, int]
HouseholdRow = tuple[str, int, int, int, str, int, str]


@dataclass
class _Rows:
    """A community's buildings, units and households as the COPY rows of their tables."""

    buildings: list[BuildingRow]
    units: list[UnitRow]
    households: list[HouseholdRow]


def _building_rows(
    session: Session, comm: SyntheticCommunity, cid: int, comp_ids: dict[str, int]
) -> _Rows:
    """The rows of the community's buildings, units and households (a household per room,
    at its unit's point), with ids reserved from the sequences so that every row can be
    written with COPY (no round trip per building or unit)."""
    from geo.core.crs import from_metric

    hexes = _storage_hex([b.footprint for b in comm.buildings]) if comm.buildings else []
    n_units = sum(len(b.units) for b in comm.buildings)
    bids = _reserve(session, "building", len(comm.buildings))
    uids = iter(_reserve(session, "building_unit", n_units))
    srid = _srid()
    rows = _Rows([], [], [])
    for b, g, bid in zip(comm.buildings, hexes, bids, strict=True):
        assert b.compound is not None  # every synthetic building stands in a compound
        floors = max(u.floors for u in b.units)
        name = f"{int(b.code.rsplit('-B', 1)[1])}栋"
        compound_id = comp_ids[b.compound]
        rows.buildings.append(
            (
                bid,
                b.code,
                name,
                cid,
                compound_id,
                "residential",
                floors,
                len(b.units),
                b.households,
                g,
            )
        )
        pts = from_metric(np.asarray(_unit_points(b), dtype=object))
        for u, p in zip(b.units, pts, strict=True):
            uid = next(uids)
            rows.units.append((uid, bid, u.unit_no, u.floors, u.households))
            position = f"SRID={srid};POINT({float(p.x)!r} {float(p.y)!r})"
            per_floor = u.households // u.floors
            for f in range(1, u.floors + 1):
                for k in range(1, per_floor + 1):
                    room = f"{f}{k:02d}"
                    code = f"{b.code}-U{u.unit_no}-{room}"
                    rows.households.append((code, bid, uid, f, room, 2, position))
    return rows


def _copy_rows(session: Session, rows: _Rows) -> None:
    """Buildings, units and households written with COPY (the households are the bulk of the
    rows: an order of magnitude faster than INSERTs)."""
    raw = session.connection().connection.driver_connection
    assert raw is not None  # a live psycopg connection
    with raw.cursor() as cur:
        with cur.copy(
            "COPY building (id, code, name, community_id, compound_id, use, floors, units, "
            "households, footprint) FROM STDIN"
        ) as copy:
            for building in rows.buildings:
                copy.write_row(building)
        with cur.copy(
            "COPY building_unit (id, building_id, unit_no, floors, households) FROM STDIN"
        ) as copy:
            for unit in rows.units:
                copy.write_row(unit)
    if rows.households:
        with (
            raw.cursor() as cur,
            cur.copy(
                "COPY household (code, building_id, unit_id, floor, room, members, position) "
                "FROM STDIN"
            ) as copy,
        ):
            for household in rows.households:
                copy.write_row(household)


def _reserve(session, table: str, n: int) -> list[int]:
    """``n`` ids from the table's own sequence."""
    from sqlalchemy import text

    if n == 0:
        return []
    return list(
        session.execute(
            text(
                f"SELECT nextval(pg_get_serial_sequence('{table}', 'id')) FROM generate_series(1, :n)"
            ),
            {"n": n},
        ).scalars()
    )


def _srid() -> int:
    from geo.settings import get_settings

    return get_settings().storage_srid


def write_geoparquet(city: list[SyntheticCommunity], folder) -> dict[str, str]:
    """The city as GeoParquet files (communities, compounds, buildings with their units'
    households), in the storage CRS."""
    from pathlib import Path

    import geopandas as gpd

    from geo.core.crs import from_metric

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    crs = f"EPSG:{_srid()}"
    frames = {
        "communities": gpd.GeoDataFrame(
            {"code": [c.code for c in city]},
            geometry=list(from_metric(np.asarray([c.boundary for c in city], dtype=object))),
            crs=crs,
        ),
        "compounds": gpd.GeoDataFrame(
            {
                "code": [p.code for c in city for p in c.compounds],
                "community_code": [c.code for c in city for _ in c.compounds],
            },
            geometry=list(
                from_metric(
                    np.asarray([p.boundary for c in city for p in c.compounds], dtype=object)
                )
            ),
            crs=crs,
        ),
        "buildings": gpd.GeoDataFrame(
            {
                "code": [b.code for c in city for b in c.buildings],
                "community_code": [c.code for c in city for _ in c.buildings],
                "compound_code": [b.compound for c in city for b in c.buildings],
                "units": [len(b.units) for c in city for b in c.buildings],
                "households": [b.households for c in city for b in c.buildings],
                "unit_households": [
                    ",".join(str(u.households) for u in b.units) for c in city for b in c.buildings
                ],
            },
            geometry=list(
                from_metric(
                    np.asarray([b.footprint for c in city for b in c.buildings], dtype=object)
                )
            ),
            crs=crs,
        ),
    }
    out = {}
    for name, frame in frames.items():
        path = folder / f"{name}.parquet"
        frame.to_parquet(path)
        out[name] = str(path)
    return out
