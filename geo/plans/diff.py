"""Diffs between two versions of a community — per grid, household and building — and their
export (CSV, GeoJSON, GeoPackage)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import shapely
from shapely import Geometry
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import InputError, NotFoundError
from geo.settings import get_settings


@dataclass
class Diff:
    community: str
    old: int
    new: int
    grids: list[dict[str, Any]]
    households: list[dict[str, Any]]
    buildings: list[dict[str, Any]]
    geometries: dict[str, tuple[Geometry | None, Geometry | None]]

    @property
    def summary(self) -> dict[str, Any]:
        by: defaultdict[str, int] = defaultdict(int)
        for g in self.grids:
            by[g["change"]] += 1
        return {
            "community": self.community,
            "from": self.old,
            "to": self.new,
            "grids_added": by["added"],
            "grids_removed": by["removed"],
            "grids_changed": by["changed"],
            "grids_unchanged": by["unchanged"],
            "households_moved": len(self.households),
            "buildings_moved": len(self.buildings),
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            "summary": self.summary,
            "grids": [g for g in self.grids if g["change"] != "unchanged"],
            "households": self.households,
            "buildings": self.buildings,
        }


def _household_grids(session: Session, vid: int, community_id: int) -> dict[str, str]:
    rows = session.execute(
        text(
            "SELECT h.code, g.code FROM household h JOIN building b ON b.id = h.building_id "
            "JOIN grid_member m ON m.unit_id = h.unit_id AND (m.floor_min IS NULL OR "
            "h.floor BETWEEN m.floor_min AND m.floor_max) JOIN grid g ON g.id = m.grid_id "
            "WHERE g.version_id = :v AND b.community_id = :c"
        ),
        {"v": vid, "c": community_id},
    ).all()
    return dict(rows)


def _building_grids(session: Session, vid: int) -> dict[str, set[str]]:
    out: dict[str, set[str]] = defaultdict(set)
    for b, g in session.execute(
        text(
            "SELECT b.code, g.code FROM grid g JOIN grid_member m ON m.grid_id = g.id JOIN "
            "building_unit u ON u.id = m.unit_id JOIN building b ON b.id = u.building_id "
            "WHERE g.version_id = :v"
        ),
        {"v": vid},
    ):
        out[b].add(g)
    return out


def diff_versions(session: Session, community: str, old: int, new: int) -> Diff:
    """Per grid added/removed/changed (shape or members), per household and building the old
    and new micro-grid, between two versions (numbers) of a community (drafts included)."""
    cid = session.execute(
        text("SELECT id FROM community WHERE code = :c"), {"c": community}
    ).scalar()
    if cid is None:
        raise NotFoundError(f"社区不存在 (no such community): {community!r}")
    vids = {n: _version_id(session, cid, community, n) for n in (old, new)}
    shapes = {n: _micro_shapes(session, vids[n]) for n in (old, new)}
    grids = _grid_changes(shapes[old], shapes[new])
    h_old = _household_grids(session, vids[old], cid)
    h_new = _household_grids(session, vids[new], cid)
    households = [
        {"household": h, "old": h_old.get(h), "new": h_new.get(h)}
        for h in sorted(set(h_old) | set(h_new))
        if h_old.get(h) != h_new.get(h)
    ]
    b_old = _building_grids(session, vids[old])
    b_new = _building_grids(session, vids[new])
    buildings = [
        {"building": b, "old": sorted(b_old[b]), "new": sorted(b_new[b])}
        for b in sorted(set(b_old) | set(b_new))
        if b_old[b] != b_new[b]
    ]
    geometries = {
        g["code"]: (_geom(shapes[old], g["code"]), _geom(shapes[new], g["code"])) for g in grids
    }
    return Diff(community, old, new, grids, households, buildings, geometries)


@dataclass
class _Shape:
    """A micro-grid of one version as compared: its boundary and its members."""

    geom: Geometry
    members: list[str]  # "<unit id>:<floor min>-<floor max>", in order
    households: int


def _version_id(session: Session, community_id: int, community: str, number: int) -> int:
    vid = session.execute(
        text("SELECT id FROM grid_version WHERE community_id = :c AND number = :n"),
        {"c": community_id, "n": number},
    ).scalar()
    if vid is None:
        raise NotFoundError(f"社区 {community} 没有版本 {number} (no version {number})")
    return int(vid)


def _micro_shapes(session: Session, vid: int) -> dict[str, _Shape]:
    rows = session.execute(
        text(
            "SELECT g.code, ST_AsBinary(g.boundary), g.households, (SELECT coalesce("
            "array_agg(m.unit_id::text || ':' || coalesce(m.floor_min, 0) || '-' || "
            "coalesce(m.floor_max, 0) ORDER BY m.unit_id, m.floor_min), '{}') FROM grid_member "
            "m WHERE m.grid_id = g.id) FROM grid g WHERE g.version_id = :v AND "
            "g.level = 'micro'"
        ),
        {"v": vid},
    ).all()
    return {r[0]: _Shape(shapely.from_wkb(bytes(r[1])), list(r[3]), int(r[2])) for r in rows}


def _geom(shapes: dict[str, _Shape], code: str) -> Geometry | None:
    s = shapes.get(code)
    return s.geom if s else None


def _grid_changes(old: dict[str, _Shape], new: dict[str, _Shape]) -> list[dict[str, Any]]:
    """Per micro-grid code of either version: added, removed, changed (members or shape, to
    the bit) or unchanged, with its households in each."""
    grids: list[dict[str, Any]] = []
    for code in sorted(set(old) | set(new)):
        a, b = old.get(code), new.get(code)
        reshaped = bool(a and b and not shapely.equals_exact(a.geom, b.geom, 0.0))
        if a is None:
            change = "added"
        elif b is None:
            change = "removed"
        elif a.members != b.members or reshaped:
            change = "changed"
        else:
            change = "unchanged"
        grids.append(
            {
                "code": code,
                "change": change,
                "households_old": a.households if a else None,
                "households_new": b.households if b else None,
                "shape_changed": reshaped,
            }
        )
    return grids


def export_diff(diff: Diff, fmt: str) -> tuple[bytes, str, str]:
    """The diff as CSV (households), GeoJSON (changed grids, new shape or old when removed)
    or GeoPackage (grids + households + buildings). Returns (bytes, media type, suffix)."""
    import io
    import tempfile
    from pathlib import Path

    import geopandas as gpd
    import pandas as pd

    fmt = fmt.lower()
    if fmt == "csv":
        from geo.io.csvcells import safe_frame  # no cell a spreadsheet would run as a formula

        frame = pd.DataFrame(diff.households, columns=["household", "old", "new"])
        buf = io.StringIO()
        safe_frame(frame).to_csv(buf, index=False)
        return buf.getvalue().encode("utf-8-sig"), "text/csv; charset=utf-8", "csv"
    rows = [g for g in diff.grids if g["change"] != "unchanged"]
    geoms = [diff.geometries[g["code"]][1] or diff.geometries[g["code"]][0] for g in rows]
    frame = gpd.GeoDataFrame(rows, geometry=list(geoms), crs=f"EPSG:{get_settings().storage_srid}")
    if fmt == "geojson":
        return (
            frame.to_crs("OGC:CRS84").to_json(ensure_ascii=False, drop_id=True).encode(),
            "application/geo+json",
            "geojson",
        )
    if fmt == "gpkg":
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "diff.gpkg"
            frame.to_file(path, layer="grids", driver="GPKG", engine="pyogrio")
            import pyogrio

            pyogrio.write_dataframe(
                pd.DataFrame(diff.households, columns=["household", "old", "new"]),
                path,
                layer="households",
                driver="GPKG",
            )
            pyogrio.write_dataframe(
                pd.DataFrame(
                    [
                        {
                            "building": b["building"],
                            "old": ",".join(b["old"]),
                            "new": ",".join(b["new"]),
                        }
                        for b in diff.buildings
                    ],
                    columns=["building", "old", "new"],
                ),
                path,
                layer="buildings",
                driver="GPKG",
            )
            return path.read_bytes(), "application/geopackage+sqlite3", "gpkg"
    raise InputError(f"格式应为 csv|geojson|gpkg (format must be csv, geojson or gpkg): {fmt!r}")
