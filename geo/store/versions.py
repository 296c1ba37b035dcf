"""Grids in PostGIS: loading a community for partitioning, writing a partition as a new
version, reading versions back (for validation and the API).

A version holds all three levels of one community. Writing a new version supersedes the
current one, which stays queryable as history.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import shapely
from shapely import Geometry
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.core.crs import from_metric, to_metric
from geo.core.validate import GridRecord, UnitRecord, ValidationReport, validate_grids
from geo.errors import InputError, NotFoundError
from geo.partition import BuildingIn, CompoundIn, PartitionResult, UnitIn, partition_community
from geo.settings import get_settings
from geo.store.features import feature_collection
from geo.store.layers import LayerSpec

__all__ = [
    "FLOOR_UNITS",
    "GRIDS",
    "CommunityInput",
    "FloorGroup",
    "FloorUnit",
    "community_codes",
    "floor_units",
    "grid_features",
    "load_community",
    "load_version",
    "partition_and_store",
    "write_version",
]


@dataclass
class CommunityInput:
    id: int
    code: str
    boundary: Geometry  # metric
    compounds: list[CompoundIn]
    buildings: list[BuildingIn]
    roads: list[Geometry]  # roads (not footways): street grids never cross them
    road_names: list[str]
    units: dict[int, UnitRecord]
    households: list[tuple[str, int, int | None]]
    # every line of the road layer, lanes and footways inside compounds included: micro-grids
    # do not straddle them when they can avoid it
    ways: list[Geometry] = field(default_factory=list)


def _wkb_metric(rows: list[Any], col: int) -> np.ndarray:
    geoms = shapely.from_wkb([bytes(r[col]) for r in rows])
    return to_metric(geoms)


def community_codes(session: Session, *, unpartitioned: bool = False) -> list[str]:
    """Every community's code; with ``unpartitioned``, only those without a published grid
    version yet."""
    where = (
        " WHERE NOT EXISTS (SELECT 1 FROM grid_version v WHERE v.community_id = c.id "
        "AND v.status = 'published')"
        if unpartitioned
        else ""
    )
    return list(
        session.execute(text(f"SELECT c.code FROM community c{where} ORDER BY c.code")).scalars()
    )


def load_community(session: Session, code: str) -> CommunityInput:
    """Everything the partitioner needs about one community, in the metric CRS."""
    row = session.execute(
        text("SELECT id, ST_AsBinary(boundary) FROM community WHERE code = :c"), {"c": code}
    ).first()
    if row is None:
        raise NotFoundError(f"社区不存在 (no such community): {code!r}")
    cid = int(row[0])
    boundary = _wkb_metric([row], 1)[0]
    comp_rows = session.execute(
        text(
            "SELECT code, name, ST_AsBinary(boundary) FROM compound WHERE community_id = :i "
            "ORDER BY code"
        ),
        {"i": cid},
    ).all()
    comps = [
        CompoundIn(r[0], r[1], g) for r, g in zip(comp_rows, _wkb_metric(comp_rows, 2), strict=True)
    ]
    b_rows = session.execute(
        text(
            "SELECT b.id, b.code, p.code, ST_AsBinary(b.footprint) FROM building b "
            "LEFT JOIN compound p ON p.id = b.compound_id WHERE b.community_id = :i "
            "ORDER BY b.code"
        ),
        {"i": cid},
    ).all()
    unit_rows = session.execute(
        text(
            "SELECT u.id, u.building_id, u.unit_no, u.floors, u.households FROM building_unit u "
            "JOIN building b ON b.id = u.building_id WHERE b.community_id = :i "
            "ORDER BY u.building_id, u.unit_no"
        ),
        {"i": cid},
    ).all()
    floor_rows = session.execute(
        text(
            "SELECT h.unit_id, h.floor, count(*) FROM household h JOIN building b "
            "ON b.id = h.building_id WHERE b.community_id = :i AND h.unit_id IS NOT NULL "
            "GROUP BY 1, 2"
        ),
        {"i": cid},
    ).all()
    per_floor: dict[int, dict[int | None, int]] = {}
    for uid, floor, n in floor_rows:
        per_floor.setdefault(uid, {})[floor] = int(n)
    units_by_building: dict[int, list[UnitIn]] = {}
    units: dict[int, UnitRecord] = {}
    code_of = {r[0]: r[1] for r in b_rows}
    for uid, bid, unit_no, floors, households in unit_rows:
        counts = per_floor.get(uid, {})
        pf = None
        if counts and None not in counts and sum(counts.values()) == households:
            pf = tuple(counts.get(f, 0) for f in range(1, floors + 1))
        units_by_building.setdefault(bid, []).append(UnitIn(uid, unit_no, floors, households, pf))
        units[uid] = UnitRecord(uid, code_of[bid], unit_no, floors, households)
    footprints = _wkb_metric(b_rows, 3) if b_rows else []
    buildings = [
        BuildingIn(r[1], fp, r[2], tuple(units_by_building.get(r[0], ())))
        for r, fp in zip(b_rows, footprints, strict=True)
    ]
    way_rows = session.execute(
        text(
            "SELECT name, ST_AsBinary(geom), kind FROM road WHERE "
            "ST_Intersects(geom, ST_Buffer((SELECT boundary FROM community WHERE id = :i), "
            "0.002)) ORDER BY code"
        ),
        {"i": cid},
    ).all()
    ways = list(_wkb_metric(way_rows, 1)) if way_rows else []
    road_rows = [r for r in way_rows if r[2] != "footway"]
    roads = [w for w, r in zip(ways, way_rows, strict=True) if r[2] != "footway"]
    hh = session.execute(
        text(
            "SELECT h.code, h.unit_id, h.floor FROM household h JOIN building b "
            "ON b.id = h.building_id WHERE b.community_id = :i AND h.unit_id IS NOT NULL"
        ),
        {"i": cid},
    ).all()
    return CommunityInput(
        cid,
        code,
        boundary,
        comps,
        buildings,
        roads,
        [r[0] or "" for r in road_rows],
        units,
        [tuple(r) for r in hh],
        ways,
    )


def partition_and_store(
    session: Session,
    code: str,
    *,
    min_households: int = 30,
    max_households: int = 50,
    seed: int = 0,
    allow_cross_compound: bool = False,
    actor: str = "cli",
    write: bool = True,
) -> tuple[PartitionResult, ValidationReport, int | None]:
    """Partition one community, validate, and (unless ``write`` is false, or validation
    finds errors) write it as the new current version. Returns (result, report, version)."""
    inp = load_community(session, code)
    result = partition_community(
        code,
        inp.boundary,
        inp.compounds,
        inp.buildings,
        roads=inp.roads,
        street_names=inp.road_names,
        ways=inp.ways,
        min_households=min_households,
        max_households=max_households,
        seed=seed,
        allow_cross_compound=allow_cross_compound,
    )
    report = validate_grids(
        result.records(),
        units=inp.units,
        households=inp.households,
        min_households=min_households,
        max_households=max_households,
    )
    version = None
    if write and report.ok:
        previous = session.execute(
            text(
                "SELECT number FROM grid_version WHERE community_id = :c AND status = 'published'"
            ),
            {"c": inp.id},
        ).scalar()
        version = write_version(session, inp.id, result, actor=actor, source="partition")
        result.assignment = reassign_after(session, code, previous, actor=actor)
    return result, report, version


def reassign_after(
    session: Session, code: str, previous: int | None, *, actor: str
) -> dict[str, Any]:
    """After a new current version: re-assign households and incidents, only those inside
    the area that changed when there was a previous version, all of them otherwise."""
    from geo.locate import Locator, assign_households, assign_incidents, reassign_changed

    locator = Locator.load(session, community=code)  # this community's grids only
    if previous is None:
        hh = assign_households(session, locator, community=code, actor=actor)
        inc = assign_incidents(session, locator, community=code, actor=actor)
        return {
            "households_assigned": hh.total,
            "incidents_assigned": inc.total,
            "disagreements": len(hh.disagreements),
        }
    new = session.execute(
        text(
            "SELECT v.number FROM grid_version v JOIN community c ON c.id = v.community_id "
            "WHERE c.code = :c AND v.status = 'published'"
        ),
        {"c": code},
    ).scalar_one()
    return reassign_changed(session, locator, code, previous, new, actor=actor)


def _storage_wkb(geoms: list[Geometry]) -> list[str]:
    back = from_metric(np.asarray(geoms, dtype=object))
    multi = [g if g.geom_type == "MultiPolygon" else shapely.MultiPolygon([g]) for g in back]
    arr = shapely.set_srid(np.asarray(multi, dtype=object), get_settings().storage_srid)
    bad = ~shapely.is_valid(arr)
    if bad.any():  # a transform can make a near-degenerate ring invalid: repair, keep polygons
        for i in np.flatnonzero(bad):
            fixed = shapely.make_valid(arr[i], method="structure", keep_collapsed=False)
            parts = [p for p in shapely.get_parts(fixed) if p.geom_type == "Polygon"]
            arr[i] = shapely.set_srid(shapely.MultiPolygon(parts), get_settings().storage_srid)
    return list(shapely.to_wkb(arr, hex=True, include_srid=True))


def write_version(
    session: Session,
    community_id: int,
    result: PartitionResult,
    *,
    actor: str,
    source: str,
    status: str = "published",
) -> int:
    """Insert the grids of ``result`` as a new version of the community (superseding the
    current one when ``status`` is published). Returns the version id."""
    number = session.execute(
        text("SELECT coalesce(max(number), 0) + 1 FROM grid_version WHERE community_id = :c"),
        {"c": community_id},
    ).scalar_one()
    if status == "published":
        session.execute(
            text(
                "UPDATE grid_version SET status = 'superseded' WHERE community_id = :c AND "
                "status = 'published'"
            ),
            {"c": community_id},
        )
    vid = session.execute(
        text(
            "INSERT INTO grid_version (community_id, number, status, source, params, "
            "created_by, published_at) VALUES (:c, :n, :s, :src, CAST(:p AS jsonb), :a, "
            ":pub) RETURNING id"
        ),
        {
            "c": community_id,
            "n": number,
            "s": status,
            "src": source,
            "pub": datetime.now(UTC) if status == "published" else None,
            "p": json.dumps(result.params | {"summary": _short(result)}, ensure_ascii=False),
            "a": actor,
        },
    ).scalar_one()
    comp_ids = dict(
        session.execute(
            text("SELECT code, id FROM compound WHERE community_id = :c"), {"c": community_id}
        ).all()
    )
    level_rows: list[tuple[str, str, str | None, str | None, int | None, int, Geometry]] = [
        (
            "community",
            result.community,
            None,
            "社区网格",
            None,
            sum(c.households for c in result.compound_grids),
            result.geometry,
        )
    ]
    for c in result.compound_grids:
        level_rows.append(
            (
                "compound",
                c.code,
                result.community,
                c.name,
                comp_ids.get(c.compounds[0]) if c.compounds else None,
                c.households,
                c.geometry,
            )
        )
    for c in result.compound_grids:
        for m in c.micro:
            level_rows.append(
                (
                    "micro",
                    m.code,
                    c.code,
                    None,
                    comp_ids.get(c.compounds[0]) if c.compounds else None,
                    m.households,
                    m.geometry,
                )
            )
    wkb = _storage_wkb([r[6] for r in level_rows])
    ids: dict[str, int] = {}
    for (level, code, parent, name, comp, households, _), g in zip(level_rows, wkb, strict=True):
        ids[code] = session.execute(
            text(
                "INSERT INTO grid (version_id, level, code, name, parent_id, compound_id, "
                "households, boundary) VALUES (:v, :l, :c, :n, :p, :cp, :h, "
                "ST_GeomFromEWKB(decode(:g, 'hex'))) RETURNING id"
            ),
            {
                "v": vid,
                "l": level,
                "c": code,
                "n": name,
                "p": ids.get(parent or ""),
                "cp": comp,
                "h": households,
                "g": g,
            },
        ).scalar_one()
    # a unit split by floors: its whole cell on each of its floor ranges' memberships
    cells = {
        a.unit_id: m.floor_cells[a.unit_id]
        for m in result.micro
        for a in m.atoms
        if a.floor_min is not None
    }
    cell_wkb = dict(zip(cells, _storage_wkb(list(cells.values())), strict=True)) if cells else {}
    members = [
        {
            "g": ids[m.code],
            "u": a.unit_id,
            "a": a.floor_min,
            "b": a.floor_max,
            "h": a.households,
            "c": cell_wkb.get(a.unit_id) if a.floor_min is not None else None,
        }
        for m in result.micro
        for a in m.atoms
    ]
    if members:
        session.execute(
            text(
                "INSERT INTO grid_member (grid_id, unit_id, floor_min, floor_max, households, "
                "cell) VALUES (:g, :u, :a, :b, :h, ST_GeomFromEWKB(decode(:c, 'hex')))"
            ),
            members,
        )
    session.execute(
        text(
            "INSERT INTO audit_log (actor, action, entity, entity_id, detail) VALUES "
            "(:a, :act, 'grid_version', :v, CAST(:d AS jsonb))"
        ),
        {
            "a": actor,
            "act": source,
            "v": str(vid),
            "d": json.dumps(
                {"community": result.community, "number": number, **_short(result)},
                ensure_ascii=False,
            ),
        },
    )
    return int(vid)


def _short(result: PartitionResult) -> dict[str, Any]:
    s = result.summary()
    return {
        k: s[k]
        for k in ("compound_grids", "micro_grids", "households", "in_band", "split_buildings")
    }


def load_version(
    session: Session, code: str, version: int | None = None
) -> tuple[list[GridRecord], dict[str, Any]]:
    """The grids of a community's version (default: the current one) as records in the
    metric CRS, with the version's row."""
    ver = _version_row(session, code, version)
    rows = session.execute(
        text(
            "SELECT g.id, g.code, g.level, p.code, g.households, ST_AsBinary(g.boundary) "
            "FROM grid g LEFT JOIN grid p ON p.id = g.parent_id WHERE g.version_id = :v "
            "ORDER BY g.level, g.code"
        ),
        {"v": ver["id"]},
    ).all()
    geoms = _wkb_metric(rows, 5) if rows else []
    members: dict[int, list[tuple[int, int | None, int | None, int]]] = {}
    cells: dict[int, dict[int, Geometry]] = {}
    member_rows = session.execute(
        text(
            "SELECT m.grid_id, m.unit_id, m.floor_min, m.floor_max, m.households, "
            "ST_AsBinary(m.cell) FROM grid_member m JOIN grid g ON g.id = m.grid_id "
            "WHERE g.version_id = :v ORDER BY m.id"
        ),
        {"v": ver["id"]},
    ).all()
    with_cell = [r for r in member_rows if r[5] is not None]
    for r, cell in zip(with_cell, _wkb_metric(with_cell, 5) if with_cell else [], strict=True):
        cells.setdefault(r[0], {})[r[1]] = cell
    for gid, uid, a, b, h, _ in member_rows:
        members.setdefault(gid, []).append((uid, a, b, h))
    records = [
        GridRecord(r[1], r[2], r[3], g, int(r[4]), members.get(r[0], []), cells=cells.get(r[0], {}))
        for r, g in zip(rows, geoms, strict=True)
    ]
    return records, ver


def _version_row(session: Session, code: str, version: int | None) -> dict[str, Any]:
    params: dict[str, Any] = {"c": code}
    if version is None:
        cond = "v.status = 'published'"
    else:
        cond = "v.number = :n"
        params["n"] = version
    row = (
        session.execute(
            text(
                f"SELECT v.id, v.number, v.status, v.source, v.created_at, v.params FROM "
                f"grid_version v JOIN community c ON c.id = v.community_id WHERE c.code = :c AND "
                f"{cond}"
            ),
            params,
        )
        .mappings()
        .first()
    )
    if row is None:
        what = "现行版本 (current version)" if version is None else f"版本 (version) {version}"
        raise NotFoundError(f"社区 {code} 没有{what} (community {code} has no such version)")
    return dict(row)


GRIDS = LayerSpec(
    kind="grids",
    label=("网格", "grids"),
    table="grid",
    geom="area",
    geom_column="boundary",
    attrs=(),
    select=(
        "t.code",
        "t.name",
        "t.level",
        "pg.code AS parent_code",
        "t.households",
        "c.code AS community_code",
        "v.number AS version",
        "v.status AS version_status",
        # the floor ranges a micro-grid holds of units split by floors (1–12层), NULL otherwise;
        # with several such units, each named (1栋1单元 1–12层 / 2栋1单元 13–24层)
        "(SELECT CASE WHEN count(*) = 1 THEN min(fm.floor_min || '–' || fm.floor_max || '层') "
        "ELSE string_agg(fb.name || fu.unit_no || '单元 ' || fm.floor_min || '–' || fm.floor_max "
        "|| '层', ' / ' ORDER BY fb.code, fu.unit_no, fm.floor_min) END FROM grid_member fm "
        "JOIN building_unit fu ON fu.id = fm.unit_id JOIN building fb ON fb.id = fu.building_id "
        "WHERE fm.grid_id = t.id AND fm.floor_min IS NOT NULL) AS floors",
    ),
    joins="JOIN grid_version v ON v.id = t.version_id "
    "JOIN community c ON c.id = v.community_id "
    "LEFT JOIN grid pg ON pg.id = t.parent_id",
)

# 分层单元 (units split by floors): one feature per unit and version, the unit's whole cell once
# (the view floor_unit, migration 0009); ``where`` picks the version(s)
FLOOR_UNITS = LayerSpec(
    kind="floor-units",
    label=("分层单元", "units split by floors"),
    table="floor_unit",
    geom="area",
    geom_column="cell",
    attrs=(),
    select=(
        "t.code",
        "t.building_code",
        "t.unit_no",
        "t.label",
        "t.grids",
        "t.households",
        "c.code AS community_code",
        "v.number AS version",
    ),
    joins="JOIN grid_version v ON v.id = t.version_id JOIN community c ON c.id = v.community_id",
)


@dataclass(frozen=True)
class FloorGroup:
    """One floor range of a unit split by floors and the micro-grid holding it."""

    grid: str  # micro-grid code
    floor_min: int
    floor_max: int
    households: int

    @property
    def label(self) -> str:
        """``1–12层``"""
        return f"{self.floor_min}–{self.floor_max}层"


@dataclass(frozen=True)
class FloorUnit:
    """A unit split by floors in one grid version: its cell once, its floor groups lowest
    first (every micro-grid of a group covers the whole cell: floors are not places)."""

    unit_id: int
    code: str  # <building code>-U<unit no>
    building_code: str
    building_name: str
    unit_no: int
    version_id: int
    cell: Geometry  # storage CRS
    groups: tuple[FloorGroup, ...]

    @property
    def label(self) -> str:
        """``1–12层 / 13–24层``"""
        return " / ".join(g.label for g in self.groups)

    @property
    def households(self) -> int:
        return sum(g.households for g in self.groups)


def floor_units(
    *, session: Session, community: str | None = None, version_id: int | None = None
) -> list[FloorUnit]:
    """The units split by floors of a grid version (``version_id``: any status, a plan's
    draft too) or of the current versions (of ``community``, or of every community), each
    with its cell (storage CRS) and its floor groups, ordered by building code and unit."""
    conds = ["v.status = 'published'" if version_id is None else "v.id = :v"]
    params: dict[str, Any] = {"v": version_id, "c": community}
    if community is not None:
        conds.append("c.code = :c")
    rows = session.execute(
        text(
            "SELECT f.unit_id, f.code, f.building_code, f.building_name, f.unit_no, "
            "f.version_id, ST_AsBinary(f.cell) FROM floor_unit f JOIN grid_version v ON "
            f"v.id = f.version_id JOIN community c ON c.id = v.community_id WHERE "
            f"{' AND '.join(conds)} ORDER BY f.building_code, f.unit_no, f.version_id"
        ),
        params,
    ).all()
    if not rows:
        return []
    groups: dict[tuple[int, int], list[FloorGroup]] = {}
    for uid, vid, code, lo, hi, n in session.execute(
        text(
            "SELECT m.unit_id, g.version_id, g.code, m.floor_min, m.floor_max, m.households "
            "FROM grid_member m JOIN grid g ON g.id = m.grid_id WHERE m.floor_min IS NOT NULL "
            "AND g.version_id = ANY(:vs) AND m.unit_id = ANY(:us) ORDER BY m.floor_min"
        ),
        {"vs": sorted({r[5] for r in rows}), "us": [r[0] for r in rows]},
    ).all():
        groups.setdefault((uid, vid), []).append(FloorGroup(code, lo, hi, int(n)))
    cells = shapely.from_wkb([bytes(r[6]) for r in rows])
    return [
        FloorUnit(r[0], r[1], r[2], r[3], int(r[4]), r[5], cell, tuple(groups[(r[0], r[5])]))
        for r, cell in zip(rows, cells, strict=True)
    ]


def grid_features(
    *,
    session: Session,
    level: str | None = None,
    bbox: tuple[float, float, float, float] | None = None,
    community: str | None = None,
    version: int | None = None,
    limit: int = 1000,
    offset: int = 0,
) -> dict[str, Any]:
    """Grids as GeoJSON: the current version, or ``version`` (a number, with ``community``)."""
    if level is not None and level not in ("community", "compound", "micro"):
        raise InputError(f"level 应为 community|compound|micro (invalid level): {level!r}")
    if version is not None and community is None:
        raise InputError("按版本查询需要 community (version needs community)")
    filters: dict[str, str] = {}
    if level:
        filters["level"] = level
    if community:
        filters["community_code"] = community
    # drafts are the planners' (under /plans), never public
    where = (
        "v.status = 'published'"
        if version is None
        else "v.number = :version AND v.status IN ('published', 'superseded')"
    )
    return feature_collection(
        session=session,
        kind=GRIDS,
        bbox=bbox,
        limit=limit,
        offset=offset,
        filters=filters,
        where=where,
        params={} if version is None else {"version": version},
    )
