"""Reading a file as it is: attributes, geometries in the file's own CRS, and that CRS.

The CRS of the input is never guessed: the file's own CRS, or ``crs=`` (which may also say that
WGS84-labelled coordinates are really GCJ-02 or BD-09). A file with neither is refused. GeoJSON
without a ``crs`` member is WGS84 by RFC 7946. A CSV's points come from its lon/lat (or x/y)
columns, in the CRS ``crs=`` gives.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from geo.core.crs import CrsSpec, parse_crs
from geo.errors import CRSError, InputError, RowProblem
from geo.io.csvcells import unsafe_frame
from geo.io.formats import DRIVERS
from geo.store.layers import LayerSpec

__all__ = ["RawLayer", "blank", "read_layer", "untruncate"]

_LON = ("lon", "lng", "longitude", "x", "经度")
_LAT = ("lat", "latitude", "y", "纬度")


@dataclass
class RawLayer:
    """A file as read: attributes, geometries in the source CRS, the source CRS, and the
    problems found while reading (e.g. a CSV coordinate that is not a number)."""

    attrs: pd.DataFrame
    geoms: np.ndarray | None
    crs: CrsSpec | None
    problems: list[RowProblem] = field(default_factory=list)


def read_layer(
    path: str | Path, *, crs: str | None = None, layer: str | None = None, geom: bool = True
) -> RawLayer:
    """Read a file (GeoJSON, GeoPackage, Shapefile, FlatGeobuf; CSV with lon/lat columns).

    ``crs`` states the coordinates' CRS when the file has none, or that WGS84-labelled
    coordinates are really GCJ-02/BD-09. A file CRS that contradicts ``crs`` is an error, and
    so is a file with neither.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"文件不存在 (no such file): {path}")
    if path.suffix.lower() not in DRIVERS:
        raise InputError(
            f"不支持的文件类型 (unsupported file type) {path.suffix!r}: "
            f"use {', '.join(sorted(DRIVERS))}"
        )
    try:
        if path.suffix.lower() == ".csv":
            # cells quoted against spreadsheet formulas at export are read back as they were
            frame = unsafe_frame(pyogrio.read_dataframe(path, layer=layer, read_geometry=False))
            return _csv_points(frame, crs, path) if geom else RawLayer(frame, None, None)
        frame = pyogrio.read_dataframe(path, layer=layer)
    except pyogrio.errors.DataSourceError as exc:
        raise InputError(f"无法读取文件 (cannot read) {path}: {exc}") from exc
    except pyogrio.errors.DataLayerError as exc:
        raise InputError(f"无法读取图层 (cannot read layer) {layer!r} of {path}: {exc}") from exc
    if not isinstance(frame, gpd.GeoDataFrame):  # a table without geometry (GeoPackage)
        return RawLayer(pd.DataFrame(frame), None, None)
    attrs = pd.DataFrame(frame.drop(columns=frame.geometry.name))
    geoms = np.asarray(frame.geometry.values, dtype=object)
    if not geom or np.all(shapely.is_missing(geoms)):
        return RawLayer(attrs, geoms, parse_crs(crs) if crs else None)
    return RawLayer(attrs, geoms, _decide_crs(frame.crs, crs, path))


def _decide_crs(file_crs: Any, crs: str | None, path: Path) -> CrsSpec:
    if crs is None:
        if file_crs is None:
            raise CRSError(
                f"{path.name}: 文件没有坐标系，且未指定 --crs；拒绝猜测 "
                "(the file has no CRS and no --crs was given; refusing to guess)"
            )
        return parse_crs(file_crs.to_wkt())
    given = parse_crs(crs)
    if file_crs is None:
        return given
    declared = parse_crs(file_crs.to_wkt())
    if given.offset:
        if not declared.crs.is_geographic:
            raise CRSError(
                f"{path.name}: 文件坐标系为 {declared}，不能按 {given} 解读 "
                f"(the file's CRS is {declared}; it cannot hold {given} coordinates)"
            )
        return given
    if not declared.crs.equals(given.crs, ignore_axis_order=True):
        raise CRSError(
            f"{path.name}: 文件坐标系 {declared} 与 --crs {given} 不一致 "
            f"(the file says {declared} but --crs says {given})"
        )
    return given


def _csv_points(frame: pd.DataFrame, crs: str | None, path: Path) -> RawLayer:
    cols = {c.lower(): c for c in frame.columns}
    xcol = next((cols[c] for c in _LON if c in cols), None)
    ycol = next((cols[c] for c in _LAT if c in cols), None)
    if xcol is None or ycol is None:
        return RawLayer(frame, None, None)
    if crs is None:
        raise CRSError(
            f"{path.name}: CSV 的坐标列没有坐标系，请指定 --crs "
            "(a CSV's coordinate columns carry no CRS; give --crs)"
        )
    problems: list[RowProblem] = []
    x = _numbers(frame[xcol], xcol, problems)
    y = _numbers(frame[ycol], ycol, problems)
    problems.sort(key=lambda p: p.row)  # row by row, x before y (sort is stable)
    geoms = np.asarray(shapely.points(x, y), dtype=object)
    geoms[np.isnan(x) & np.isnan(y)] = None
    return RawLayer(frame.drop(columns=[xcol, ycol]), geoms, parse_crs(crs), problems)


def _numbers(column: pd.Series, name: str, problems: list[RowProblem]) -> np.ndarray:
    """A coordinate column as floats (NaN where blank or not a number, the latter reported)."""
    out = np.full(len(column), np.nan)
    for i, raw in enumerate(column):
        value = pd.to_numeric(pd.Series([raw]), errors="coerce").iloc[0]
        if not blank(raw) and pd.isna(value):
            problems.append(
                RowProblem(i, None, name, f"不是数字 (not a number): {raw!r}", reason="coordinates")
            )
        out[i] = float(value)
    return out


def untruncate(frame: pd.DataFrame, spec: LayerSpec) -> pd.DataFrame:
    """Shapefile (dBase) field names are cut to 10 characters: map them back."""
    renames = {
        a.name[:10]: a.name
        for a in spec.attrs
        if len(a.name) > 10 and a.name not in frame.columns and a.name[:10] in frame.columns
    }
    return frame.rename(columns=renames)


def blank(v: Any) -> bool:
    """Whether a cell is empty: None, NaN, NA/NaT or whitespace."""
    if v is None:
        return True
    if isinstance(v, float) and np.isnan(v):
        return True
    if v is pd.NA or v is pd.NaT:
        return True
    return isinstance(v, str) and not v.strip()
