"""Coordinate reference systems: parsing every spelling users send, transforming to the storage
and metric CRS, China's GCJ-02 and BD-09 offsets, and plausibility checks.

The coordinate system of every input is explicit; nothing is guessed. Spellings accepted by
:func:`parse_crs`::

    wgs84 | EPSG:4326 | CRS84 | OGC:CRS84 | http://www.opengis.net/def/crs/OGC/1.3/CRS84
    cgcs2000 | EPSG:4490 | 4490 | http://www.opengis.net/def/crs/EPSG/0/4490
    gcj02 | GCJ-02 | mars          (Amap, Tencent, WeChat)
    bd09 | BD-09 | baidu            (Baidu)
    EPSG:NNNN | any CRS pyproj understands (WKT, PROJ JSON, authority:code)

GCJ-02 and BD-09 are not CRSs in the EPSG sense but obfuscated offsets of WGS84 (300–950 m in
Chengdu); PROJ does not implement them. The forward formulas are the published ones (as in the
public-domain ``prcoords`` and ``eviltransform``); the inverse is solved by fixed-point
iteration to better than 1e-9 degrees. They are vectorised over numpy arrays because bulk
imports and the locate endpoint share them.

Every :class:`pyproj.Transformer` is built with ``always_xy=True``: x is longitude / easting.

>>> spec = parse_crs("gcj02")
>>> lon, lat = to_storage([104.068207], [30.657079], spec)
>>> round(float(lon[0]), 4), round(float(lat[0]), 4)
(104.0657, 30.6595)
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np
import pyproj
import shapely
from numpy.typing import ArrayLike, NDArray
from pyproj.exceptions import CRSError as ProjCRSError

from geo.errors import CRSError
from geo.settings import get_settings

__all__ = [
    "CrsSpec",
    "bd09_to_gcj02",
    "bd09_to_wgs84",
    "check_lonlat",
    "degrees_covering",
    "from_metric",
    "from_storage",
    "gcj02_to_bd09",
    "gcj02_to_wgs84",
    "metric_crs",
    "parse_crs",
    "storage_crs",
    "to_metric",
    "to_storage",
    "transform_geometries",
    "transformer",
    "wgs84_to_bd09",
    "wgs84_to_gcj02",
]

Offset = Literal["gcj02", "bd09"]


@dataclass(frozen=True)
class CrsSpec:
    """A parsed CRS: a real CRS (``crs``), plus an optional Chinese offset applied on top of
    WGS84 (``offset``). ``name`` is the canonical spelling, used in messages."""

    name: str
    crs: pyproj.CRS
    offset: Offset | None = None

    @property
    def is_geographic(self) -> bool:
        return bool(self.crs.is_geographic)

    def __str__(self) -> str:
        return self.name


_ALIASES: dict[str, str] = {
    "wgs84": "EPSG:4326",
    "wgs-84": "EPSG:4326",
    "wgs 84": "EPSG:4326",
    "crs84": "OGC:CRS84",
    "cgcs2000": "EPSG:4490",
    "cgcs-2000": "EPSG:4490",
}
_OFFSETS: dict[str, Offset] = {
    "gcj02": "gcj02",
    "gcj-02": "gcj02",
    "gcj": "gcj02",
    "mars": "gcj02",
    "amap": "gcj02",
    "bd09": "bd09",
    "bd-09": "bd09",
    "bd09ll": "bd09",
    "baidu": "bd09",
}
_OGC_URI = re.compile(r"^https?://www\.opengis\.net/def/crs/(EPSG|OGC)/[^/]+/(\w+)$", re.I)


@lru_cache(maxsize=256)
def parse_crs(spec: str | int | None) -> CrsSpec:
    """Parse a CRS spelling (see the module docstring). ``None`` or ``""`` is an error: a
    coordinate system must be given, never guessed.

    >>> parse_crs("EPSG:4544").crs.to_epsg()
    4544
    >>> parse_crs("bd09").offset
    'bd09'
    """
    if spec is None or (isinstance(spec, str) and not spec.strip()):
        raise CRSError(
            "缺少坐标系：请指定 --crs，例如 EPSG:4490、wgs84、gcj02、bd09 "
            "(no CRS given; name one, e.g. EPSG:4490, wgs84, gcj02, bd09)"
        )
    if isinstance(spec, int) or (isinstance(spec, str) and spec.strip().isdigit()):
        text = f"EPSG:{int(spec)}"
    else:
        text = str(spec).strip()
    low = text.lower()
    if low in _OFFSETS:
        return CrsSpec(name=_OFFSETS[low], crs=pyproj.CRS.from_epsg(4326), offset=_OFFSETS[low])
    m = _OGC_URI.match(text)
    if m:
        text = f"{m.group(1).upper()}:{m.group(2)}"
    text = _ALIASES.get(text.lower(), text)
    try:
        crs = pyproj.CRS.from_user_input(text)
    except ProjCRSError as exc:
        raise CRSError(
            f"无法识别的坐标系 (unknown CRS): {spec!r}; "
            "可用 (use) EPSG:NNNN, wgs84, cgcs2000, gcj02, bd09"
        ) from exc
    auth = crs.to_authority()
    name = f"{auth[0]}:{auth[1]}" if auth else crs.name
    return CrsSpec(name=name, crs=crs)


def storage_crs() -> pyproj.CRS:
    return _epsg(get_settings().storage_srid)


def metric_crs() -> pyproj.CRS:
    return _epsg(get_settings().metric_srid)


@lru_cache(maxsize=32)
def _epsg(code: int) -> pyproj.CRS:
    return pyproj.CRS.from_epsg(code)


_TRANSFORMERS: dict[tuple[str, str], pyproj.Transformer] = {}


def transformer(src: pyproj.CRS, dst: pyproj.CRS) -> pyproj.Transformer:
    """A cached transformer with ``always_xy=True`` (x = longitude/easting). Cached by the
    CRSs' definitions (hashing a CRS object itself means writing its WKT: slow)."""
    key = (src.srs, dst.srs)
    t = _TRANSFORMERS.get(key)
    if t is None:
        t = _TRANSFORMERS[key] = pyproj.Transformer.from_crs(src, dst, always_xy=True)
    return t


# --- GCJ-02 / BD-09 -------------------------------------------------------------------------
_A = 6378245.0  # Krasovsky 1940 semi-major axis used by GCJ-02
_EE = 0.00669342162296594323  # its first eccentricity squared
_X_PI = math.pi * 3000.0 / 180.0


def _out_of_china(lon: NDArray[np.float64], lat: NDArray[np.float64]) -> NDArray[np.bool_]:
    return (lon < 72.004) | (lon > 137.8347) | (lat < 0.8293) | (lat > 55.8271)


def _gcj_delta(
    lon: NDArray[np.float64], lat: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    x, y = lon - 105.0, lat - 35.0
    sq = np.sqrt(np.abs(x))
    common = (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sq + common
    dlat += (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    dlat += (160.0 * np.sin(y / 12.0 * np.pi) + 320 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sq + common
    dlon += (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    dlon += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    rad = lat / 180.0 * np.pi
    magic = 1 - _EE * np.sin(rad) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1 - _EE)) / (magic * sqrt_magic) * np.pi)
    dlon = (dlon * 180.0) / (_A / sqrt_magic * np.cos(rad) * np.pi)
    outside = _out_of_china(lon, lat)
    return np.where(outside, 0.0, dlon), np.where(outside, 0.0, dlat)


def _arrays(lon: ArrayLike, lat: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    return np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)


def wgs84_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> tuple[NDArray, NDArray]:
    """WGS84 → GCJ-02 (identity outside China)."""
    x, y = _arrays(lon, lat)
    dx, dy = _gcj_delta(x, y)
    return x + dx, y + dy


def gcj02_to_wgs84(
    lon: ArrayLike, lat: ArrayLike, *, tol: float = 1e-10
) -> tuple[NDArray, NDArray]:
    """GCJ-02 → WGS84 by fixed-point iteration of the forward offset (error < 1e-9°)."""
    gx, gy = _arrays(lon, lat)
    x, y = gx.copy(), gy.copy()
    for _ in range(30):
        fx, fy = wgs84_to_gcj02(x, y)
        ex, ey = fx - gx, fy - gy
        x, y = x - ex, y - ey
        if ex.size == 0 or max(float(np.nanmax(np.abs(ex))), float(np.nanmax(np.abs(ey)))) < tol:
            break
    return x, y


def gcj02_to_bd09(lon: ArrayLike, lat: ArrayLike) -> tuple[NDArray, NDArray]:
    """GCJ-02 → BD-09."""
    x, y = _arrays(lon, lat)
    z = np.sqrt(x * x + y * y) + 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def bd09_to_gcj02(lon: ArrayLike, lat: ArrayLike, *, tol: float = 1e-10) -> tuple[NDArray, NDArray]:
    """BD-09 → GCJ-02, the exact inverse of :func:`gcj02_to_bd09` by iteration."""
    bx, by = _arrays(lon, lat)
    # the classic closed-form approximation as a start, then refine
    x, y = bx - 0.0065, by - 0.006
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    x, y = z * np.cos(theta), z * np.sin(theta)
    for _ in range(10):
        fx, fy = gcj02_to_bd09(x, y)
        ex, ey = fx - bx, fy - by
        x, y = x - ex, y - ey
        if ex.size == 0 or max(float(np.nanmax(np.abs(ex))), float(np.nanmax(np.abs(ey)))) < tol:
            break
    return x, y


def wgs84_to_bd09(lon: ArrayLike, lat: ArrayLike) -> tuple[NDArray, NDArray]:
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def bd09_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> tuple[NDArray, NDArray]:
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


_TO_WGS = {"gcj02": gcj02_to_wgs84, "bd09": bd09_to_wgs84}
_FROM_WGS = {"gcj02": wgs84_to_gcj02, "bd09": wgs84_to_bd09}


def to_storage(x: ArrayLike, y: ArrayLike, spec: CrsSpec | str) -> tuple[NDArray, NDArray]:
    """Transform coordinate arrays from ``spec`` to the storage CRS (lon, lat)."""
    spec = parse_crs(spec) if isinstance(spec, str) else spec
    xa, ya = _arrays(x, y)
    if spec.offset:
        xa, ya = _TO_WGS[spec.offset](xa, ya)
    t = transformer(spec.crs, storage_crs())
    return t.transform(xa, ya)


def from_storage(lon: ArrayLike, lat: ArrayLike, spec: CrsSpec | str) -> tuple[NDArray, NDArray]:
    """Transform (lon, lat) arrays in the storage CRS to ``spec``."""
    spec = parse_crs(spec) if isinstance(spec, str) else spec
    t = transformer(storage_crs(), spec.crs)
    xa, ya = t.transform(*_arrays(lon, lat))
    if spec.offset:
        xa, ya = _FROM_WGS[spec.offset](xa, ya)
    return xa, ya


def transform_geometries(geoms: ArrayLike, spec: CrsSpec | str, *, to: pyproj.CRS | None = None):
    """Transform an array of shapely geometries from ``spec`` to ``to`` (default: storage).

    GCJ-02/BD-09 are first undone to WGS84, vertex by vertex.
    """
    spec = parse_crs(spec) if isinstance(spec, str) else spec
    dst = to if to is not None else storage_crs()
    t = transformer(spec.crs, dst)

    def fn(coords: NDArray) -> NDArray:
        x, y = coords[:, 0], coords[:, 1]
        if spec.offset:
            x, y = _TO_WGS[spec.offset](x, y)
        tx, ty = t.transform(x, y)
        return np.column_stack([tx, ty])

    return shapely.transform(np.asarray(geoms, dtype=object), fn)


def to_metric(geoms: ArrayLike):
    """Storage-CRS geometries → the metric CRS (for areas, distances, buffers)."""
    t = transformer(storage_crs(), metric_crs())
    return shapely.transform(
        np.asarray(geoms, dtype=object), lambda c: np.column_stack(t.transform(c[:, 0], c[:, 1]))
    )


def from_metric(geoms: ArrayLike):
    """Metric-CRS geometries → the storage CRS."""
    t = transformer(metric_crs(), storage_crs())
    return shapely.transform(
        np.asarray(geoms, dtype=object), lambda c: np.column_stack(t.transform(c[:, 0], c[:, 1]))
    )


def degrees_covering(metres: float, lat: float) -> float:
    """Degrees of longitude or latitude (the larger: longitude) spanning at least ``metres``
    at latitude ``lat`` (storage CRS): for an index-friendly box (``&&`` with ST_Expand)
    around a point before the exact test in metres."""
    return metres / (110_574.0 * max(math.cos(math.radians(min(abs(lat), 89.0))), 0.01)) * 1.01


def _inside(x: NDArray, y: NDArray, box: tuple[float, float, float, float]) -> NDArray[np.bool_]:
    return (x >= box[0]) & (x <= box[2]) & (y >= box[1]) & (y <= box[3])


def check_lonlat(x: ArrayLike, y: ArrayLike, spec: CrsSpec | str) -> list[tuple[int, str]]:
    """Check raw input coordinates given in ``spec`` for plausibility.

    Returns ``(index, problem)`` for every coordinate that is not finite, out of range for the
    CRS, swapped (lat given as lon), or outside the served area once transformed.
    """
    spec = parse_crs(spec) if isinstance(spec, str) else spec
    box = get_settings().served_bounds
    xa, ya = _arrays(x, y)
    problems: list[tuple[int, str]] = []
    bad = ~(np.isfinite(xa) & np.isfinite(ya))
    for i in np.flatnonzero(bad):
        problems.append(
            (int(i), f"坐标不是有限数 (coordinate is not a finite number): ({xa[i]}, {ya[i]})")
        )
    ok = ~bad
    if spec.is_geographic:
        swapped = ok & ~_inside(xa, ya, box) & _inside(ya, xa, box)
        for i in np.flatnonzero(swapped):
            problems.append(
                (
                    int(i),
                    f"经纬度疑似颠倒 (lat/lon look swapped): ({xa[i]}, {ya[i]}) — "
                    f"应为 (expected) 经度 lon, 纬度 lat, 即 ({ya[i]}, {xa[i]})",
                )
            )
        ok &= ~swapped
        rng = ok & ((np.abs(xa) > 180) | (np.abs(ya) > 90))
        for i in np.flatnonzero(rng):
            problems.append(
                (
                    int(i),
                    f"经纬度超出范围 (lon/lat out of range for {spec}): ({xa[i]}, {ya[i]}); "
                    "是否给了投影坐标？(projected coordinates given as degrees?)",
                )
            )
        ok &= ~rng
    elif np.any(ok):
        deg = ok & (np.abs(xa) <= 180) & (np.abs(ya) <= 180)
        for i in np.flatnonzero(deg):
            problems.append(
                (
                    int(i),
                    f"坐标像经纬度，但坐标系是投影坐标系 {spec} "
                    f"(coordinates look like degrees but the CRS {spec} is projected): "
                    f"({xa[i]}, {ya[i]})",
                )
            )
        ok &= ~deg
    idx = np.flatnonzero(ok)
    if idx.size:
        with np.errstate(all="ignore"):
            lon, lat = to_storage(xa[idx], ya[idx], spec)
        outside = ~(np.isfinite(lon) & np.isfinite(lat)) | ~_inside(lon, lat, box)
        for j in np.flatnonzero(outside):
            i = idx[j]
            problems.append(
                (
                    int(i),
                    f"坐标不在服务范围内 (coordinate outside the served area {box}) "
                    f"in {spec}: ({xa[i]}, {ya[i]})",
                )
            )
    problems.sort()
    return problems
