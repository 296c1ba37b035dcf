"""A layout written as the files ``wangge import`` takes (one per kind, in EPSG:4544), with one
household per room at a point of its unit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import shapely

from geo.partition import BuildingIn
from geo.synthetic.layouts.model import CRS, STREET, BuildingInfo, Layout, floor_counts

__all__ = ["unit_points", "write_layout_files"]

_ROAD_NAMES = {"primary": "主干路", "secondary": "次干路", "branch": "支路", "footway": "巷道"}


def write_layout_files(
    layout: Layout,
    folder: str | Path,
    *,
    driver: str = "GPKG",
    households: bool = True,
    street: dict[str, str] | None = None,
) -> dict[str, Path]:
    """Write ``layout`` as the files ``wangge import`` takes, one per kind, in EPSG:4544.

    Parameters
    ----------
    layout : Layout
    folder : path
        Created if missing; files are named ``<kind>.gpkg`` (or ``.geojson``).
    driver : {"GPKG", "GeoJSON"}
    households : bool
        Also write one household per room (floor by floor, as the units' ``per_floor`` says),
        at a point inside its building, so that the stored floors match the layout's.
    street : dict, optional
        ``street_code``, ``street_name``, ``district`` (and ``city``) of the community;
        default :data:`STREET`.

    Returns
    -------
    dict of str to Path
        By import kind, in import order: communities, compounds, buildings, households,
        roads.
    """
    import geopandas as gpd

    suffix = {"GPKG": ".gpkg", "GeoJSON": ".geojson"}.get(driver)
    if suffix is None:
        raise ValueError(f"unknown driver {driver!r}; expected GPKG or GeoJSON")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tables = _tables(layout, street or STREET, households=households)
    out: dict[str, Path] = {}
    for kind, rows in tables.items():
        path = folder / f"{kind}{suffix}"
        path.unlink(missing_ok=True)
        frame = gpd.GeoDataFrame(rows, geometry="geometry", crs=CRS)
        frame.to_file(path, driver=driver, layer=kind, engine="pyogrio")
        out[kind] = path
    return out


def _tables(layout: Layout, street: dict[str, str], *, households: bool) -> dict[str, list[dict]]:
    code = layout.code
    tables: dict[str, list[dict]] = {
        "communities": [{"code": code, "name": layout.name, **street, "geometry": layout.boundary}],
        "compounds": [
            {"code": c.code, "name": c.name, "community_code": code, "geometry": c.boundary}
            for c in layout.compounds
        ],
        "buildings": [_building_row(layout, b) for b in layout.buildings],
    }
    if households:
        tables["households"] = [row for b in layout.buildings for row in _household_rows(b)]
    counter: dict[str, int] = {}
    tables["roads"] = []
    for n, (kind, line) in enumerate(layout.roads, 1):
        counter[kind] = counter.get(kind, 0) + 1
        name = f"{_ROAD_NAMES[kind]}{counter[kind]}"
        tables["roads"].append(
            {"code": f"{code}-R{n:03d}", "name": name, "kind": kind, "geometry": line}
        )
    return {k: v for k, v in tables.items() if v}


def _building_row(layout: Layout, b: BuildingIn) -> dict[str, Any]:
    info = layout.info.get(b.code) or BuildingInfo(b.code, "residential", "building")
    return {
        "code": b.code,
        "name": info.name,
        "community_code": layout.code,
        "compound_code": b.compound,
        "use": info.use,
        "floors": max(u.floors for u in b.units),
        "units": len(b.units),
        "households": b.households,
        "unit_households": ",".join(str(u.households) for u in b.units),
        "geometry": b.footprint,
    }


def _household_rows(b: BuildingIn) -> list[dict[str, Any]]:
    rows = []
    for u, at in zip(b.units, unit_points(b), strict=True):
        for floor, n in enumerate(floor_counts(u), 1):
            for k in range(1, n + 1):
                room = f"{floor}{k:02d}"
                rows.append(
                    {
                        "code": f"{b.code}-U{u.unit_no}-{room}",
                        "building_code": b.code,
                        "unit_no": u.unit_no,
                        "floor": floor,
                        "room": room,
                        "members": 1 + (k + floor) % 4,
                        "geometry": at,
                    }
                )
    return rows


def unit_points(b: BuildingIn) -> list[shapely.Point]:
    """A point for each unit of ``b``: units stand side by side along the footprint's long
    axis (unit 1 at the west or south end), each over a length in proportion to its
    households, as the partitioner slices footprints; a point that falls outside an
    irregular footprint is moved to the nearest point of it."""
    if len(b.units) == 1:
        return [shapely.point_on_surface(b.footprint)]
    ring = np.asarray(shapely.oriented_envelope(b.footprint).exterior.coords)[:4]
    e1, e2 = ring[1] - ring[0], ring[2] - ring[1]
    axis = e1 if np.hypot(*e1) >= np.hypot(*e2) else e2
    u = axis / np.hypot(*axis)
    if u[0] < -1e-12 or (abs(u[0]) <= 1e-12 and u[1] < 0):
        u = -u  # east (or north)
    centre = ring.mean(axis=0)
    t = (ring - centre) @ u
    w = np.array([max(x.households, 1e-6) for x in b.units], dtype=float)
    mids = t.min() + (t.max() - t.min()) * (np.cumsum(w) - w / 2) / w.sum()
    points = shapely.points(centre + mids[:, None] * u)
    inside = shapely.contains_properly(b.footprint, points)
    snapped = shapely.line_interpolate_point(
        b.footprint.exterior, shapely.line_locate_point(b.footprint.exterior, points)
    )
    return list(np.where(inside, points, snapped))
