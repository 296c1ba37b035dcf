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

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from shapely.geometry import box

from geo.partition import BuildingIn, CompoundIn, UnitIn
from geo.store.bulk import checked_after

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
CHUNK = 250  # communities written a COPY (about 440,000 households, some 50 MB of COPY text)
TABLES = ("communities", "compounds", "buildings", "units", "households")


def write_city(
    session: Session,
    city: list[SyntheticCommunity],
    *,
    street: tuple[str, str] = ("SYNSTREET", "合成街道"),
    chunk: int = CHUNK,
) -> dict[str, int]:
    """Store synthetic communities in PostGIS (street, communities, compounds, buildings,
    units, households), in the caller's transaction. Returns row counts.

    ``chunk`` communities at a time: their ids reserved from the tables' own sequences (one
    query a table, in the city's order), then one COPY a table in the order the foreign keys
    need, geometries as hex EWKB (no WKT parser on the server) and each household's line
    made from its unit's parts.
    """
    if chunk < 1:
        raise ValueError(f"每批社区数须至少为 1 / chunk must be at least 1 community, got {chunk}")
    street_id = _street_id(session, street)
    counts = dict.fromkeys(TABLES, 0)
    with checked_after(session, "household"):
        for start in range(0, len(city), chunk):
            part = _chunk(session, city[start : start + chunk], street_id)
            _copy_chunk(session, part)
            for table, n in part.counts.items():
                counts[table] += n
    _analyze(session)
    return counts


def _street_id(session: Session, street: tuple[str, str]) -> int:
    from sqlalchemy import text

    return int(
        session.execute(
            text(
                "INSERT INTO street (code, name, district, city) VALUES (:c, :n, '合成区', "
                "'成都市') ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name RETURNING id"
            ),
            {"c": street[0], "n": street[1]},
        ).scalar_one()
    )


def _analyze(session: Session) -> None:
    """Fresh statistics for the planner right after a bulk load, rather than whenever
    autovacuum gets round to it: in the whole-city run the per-community household queries
    ran as parallel scans while autovacuum was still analysing the household table, and the
    time per community doubled between 1,000 and 4,000 communities."""
    from sqlalchemy import text

    for table in ("community", "compound", "building", "building_unit", "household"):
        session.execute(text(f"ANALYZE {table}"))


@dataclass
class _Chunk:
    """A chunk of communities as COPY text: (COPY statement, pieces of text) a table, in the
    order the foreign keys need, and the rows a table."""

    copies: list[tuple[str, Iterable[str]]]
    counts: dict[str, int]


def _chunk(session: Session, comms: list[SyntheticCommunity], street_id: int) -> _Chunk:
    """The COPY text of a chunk of communities, with their ids reserved."""
    compounds = [(i, p) for i, c in enumerate(comms) for p in c.compounds]
    buildings = [(i, b) for i, c in enumerate(comms) for b in c.buildings]
    cids = _reserve(session, "community", len(comms))
    pids = _reserve(session, "compound", len(compounds))
    bids = _reserve(session, "building", len(buildings))
    n_units = sum(len(b.units) for _, b in buildings)
    units = _Units.of([b for _, b in buildings], bids, _reserve(session, "building_unit", n_units))
    community_lines = [
        f"{cid}\t{_text(c.code)}\t{_text(f'合成社区{c.code[3:]}')}\t{street_id}\t{g}\n"
        for c, cid, g in zip(comms, cids, _storage_hex([c.boundary for c in comms]), strict=True)
    ]
    compound_of = {(i, p.code): pid for (i, p), pid in zip(compounds, pids, strict=True)}
    compound_lines = [
        f"{pid}\t{_text(p.code)}\t{_text(p.name)}\t{cids[i]}\t{g}\n"
        for (i, p), pid, g in zip(
            compounds, pids, _storage_hex([p.boundary for _, p in compounds]), strict=True
        )
    ]
    building_lines = [
        f"{bid}\t{_text(b.code)}\t{int(b.code.rsplit('-B', 1)[1])}栋\t{cids[i]}\t"
        f"{compound_of[i, b.compound] if b.compound is not None else NULL}\tresidential\t"
        f"{max(u.floors for u in b.units)}\t{len(b.units)}\t{b.households}\t{g}\n"
        for (i, b), bid, g in zip(
            buildings, bids, _storage_hex([b.footprint for _, b in buildings]), strict=True
        )
    ]
    return _Chunk(
        [
            (
                "COPY community (id, code, name, street_id, boundary) FROM STDIN",
                community_lines,
            ),
            (
                "COPY compound (id, code, name, community_id, boundary) FROM STDIN",
                compound_lines,
            ),
            (
                "COPY building (id, code, name, community_id, compound_id, use, floors, units, "
                "households, footprint) FROM STDIN",
                building_lines,
            ),
            (
                "COPY building_unit (id, building_id, unit_no, floors, households) FROM STDIN",
                units.lines(),
            ),
            (
                "COPY household (code, building_id, unit_id, floor, room, members, position) "
                "FROM STDIN",
                units.household_lines(),
            ),
        ],
        {
            "communities": len(comms),
            "compounds": len(compounds),
            "buildings": len(buildings),
            "units": len(units.ids),
            "households": units.household_count(),
        },
    )


NULL = "\\N"  # NULL in COPY text


def _text(value: str) -> str:
    """A value escaped for COPY text (backslash, tab, newline, carriage return)."""
    if not any(ch in value for ch in "\\\t\n\r"):
        return value
    return (
        value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    )


@dataclass
class _Units:
    """The units of a chunk's buildings, flat, in building order: their building's code and
    id, number, floors, households and position (hex EWKB of the point at the centre of the
    unit's slice of the footprint); their own ids once reserved."""

    building_codes: list[str]
    building_ids: list[int]
    numbers: list[int]
    floors: list[int]
    households: list[int]
    per_floor: list[int]
    positions: list[str]
    ids: list[int]

    @classmethod
    def of(cls, buildings: list[BuildingIn], building_ids: list[int], ids: list[int]) -> _Units:
        units = [
            (b, bid, u) for b, bid in zip(buildings, building_ids, strict=True) for u in b.units
        ]
        return cls(
            [_text(b.code) for b, _, _ in units],
            [bid for _, bid, _ in units],
            [u.unit_no for _, _, u in units],
            [u.floors for _, _, u in units],
            [u.households for _, _, u in units],
            [u.households // u.floors for _, _, u in units],
            _unit_positions(buildings),
            ids,
        )

    def household_count(self) -> int:
        """A household a room: ``per_floor`` rooms on each floor."""
        return sum(f * k for f, k in zip(self.floors, self.per_floor, strict=True))

    def lines(self) -> list[str]:
        return [
            f"{uid}\t{bid}\t{no}\t{floors}\t{households}\n"
            for uid, bid, no, floors, households in zip(
                self.ids, self.building_ids, self.numbers, self.floors, self.households, strict=True
            )
        ]

    def household_lines(self) -> Iterator[str]:
        """Each unit's households (rooms ``{floor}{k:02d}``, two members, at the unit's
        point), a piece of COPY text a unit."""
        rooms: dict[tuple[int, int], list[tuple[str, int]]] = {}
        for code, bid, uid, no, floors, per_floor, position in zip(
            self.building_codes,
            self.building_ids,
            self.ids,
            self.numbers,
            self.floors,
            self.per_floor,
            self.positions,
            strict=True,
        ):
            plan = rooms.get((floors, per_floor))
            if plan is None:
                plan = rooms[floors, per_floor] = [
                    (f"{f}{k:02d}", f)
                    for f in range(1, floors + 1)
                    for k in range(1, per_floor + 1)
                ]
            head, mid, tail = f"{code}-U{no}-", f"\t{bid}\t{uid}\t", f"\t2\t{position}\n"
            yield "".join([f"{head}{room}{mid}{f}\t{room}{tail}" for room, f in plan])


def _unit_points_xy(buildings: list[BuildingIn]) -> tuple[np.ndarray, np.ndarray]:
    """The centre of each unit's slice of its (axis-aligned) synthetic footprint, for every
    unit of the buildings in order (metric CRS)."""
    import shapely

    n = np.fromiter((len(b.units) for b in buildings), dtype=np.int64, count=len(buildings))
    bounds = shapely.bounds(np.asarray([b.footprint for b in buildings], dtype=object))
    at = np.repeat(np.arange(len(buildings)), n)
    u = np.arange(at.size) - np.repeat(np.cumsum(n) - n, n)
    x0, y0, x1, y1 = bounds.reshape(-1, 4)[at].T
    return x0 + (u + 0.5) * (x1 - x0) / n[at], (y0 + y1) / 2


def _unit_positions(buildings: list[BuildingIn]) -> list[str]:
    """Every unit's point (:func:`_unit_points_xy`) as hex EWKB in the storage CRS."""
    import shapely

    from geo.core.crs import from_metric

    if not buildings:
        return []
    xs, ys = _unit_points_xy(buildings)
    points = shapely.set_srid(from_metric(shapely.points(xs, ys)), _srid())
    return list(shapely.to_wkb(points, hex=True, include_srid=True))


def _storage_hex(geoms: list) -> list[str]:
    """Areas (metric CRS) as hex EWKB multipolygons in the storage CRS."""
    import shapely

    from geo.core.crs import from_metric

    if not geoms:
        return []
    back = from_metric(np.asarray(geoms, dtype=object))
    multi = [g if g.geom_type != "Polygon" else shapely.MultiPolygon([g]) for g in back]
    arr = shapely.set_srid(np.asarray(multi, dtype=object), _srid())
    return list(shapely.to_wkb(arr, hex=True, include_srid=True))


def _copy_chunk(session: Session, part: _Chunk) -> None:
    """One COPY a table, the text streamed as it is made (a writer thread sends it, so the
    server takes one piece while the next is made)."""
    from psycopg.copy import QueuedLibpqWriter

    raw = session.connection().connection.driver_connection
    assert raw is not None  # a live psycopg connection
    with raw.cursor() as cur:
        for statement, pieces in part.copies:
            with cur.copy(statement, writer=QueuedLibpqWriter(cur)) as copy:
                for piece in pieces:
                    copy.write(piece)


def _reserve(session: Session, table: str, n: int) -> list[int]:
    """``n`` ids from the table's own sequence, in one query."""
    from sqlalchemy import text

    if n == 0:
        return []
    return list(
        session.execute(
            text(
                f"SELECT nextval(pg_get_serial_sequence('{table}', 'id')) FROM "
                "generate_series(1, :n)"
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
