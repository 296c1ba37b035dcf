"""Import and export of layers (GeoJSON, GeoPackage, Shapefile, CSV) through pyogrio.

Import is all-or-nothing. :func:`import_file` reads the file, checks every row — attributes
(required, typed, known vocabulary), keys (unique in the file and not yet stored), geometry
(present, of the right type, valid, plausible coordinates for the CRS given, inside its parent
area, not overlapping its neighbours) — and only when no row has a problem writes the rows in
the caller's transaction. Otherwise it raises :class:`~geo.errors.ImportValidationError` naming
every bad row, and nothing is written. :func:`validate_file` runs the checks alone (every
problem carries a ``reason`` key, :data:`REASONS`); :mod:`geo.io.checks` reports them in full
(``wangge import --check``) and writes the rows at fault to a problems file.

The CRS of the input is never guessed: the file's own CRS, or ``crs=`` (which may also say that
WGS84-labelled coordinates are really GCJ-02 or BD-09). A file with neither is refused. GeoJSON
without a ``crs`` member is WGS84 by RFC 7946.

Rules for the edge cases (documented in the README):

* A building astride two compounds is refused at import, naming both compounds and the share of
  its footprint in each; the data owner decides which compound it belongs to.
* A child may stick out of its parent by at most ``parent_tolerance_m`` metres.
* A household's position must lie within ``household_tolerance_m`` of its building; a household
  without a position gets a point inside its building's footprint.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import tempfile
import unicodedata
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.core.crs import (
    CrsSpec,
    check_lonlat,
    parse_crs,
    storage_crs,
    to_metric,
    transform_geometries,
)
from geo.errors import CRSError, ImportValidationError, InputError, RowProblem
from geo.io.csvcells import safe_frame, unsafe_frame
from geo.settings import get_settings
from geo.store.layers import LAYERS, Attr, LayerSpec, get_layer

__all__ = [
    "REASONS",
    "ImportReport",
    "Validated",
    "export_layer",
    "import_file",
    "is_private_export",
    "read_layer",
    "validate_file",
]

TZ = ZoneInfo("Asia/Shanghai")
DRIVERS = {
    ".geojson": "GeoJSON",
    ".json": "GeoJSON",
    ".gpkg": "GPKG",
    ".shp": "ESRI Shapefile",
    ".fgb": "FlatGeobuf",
    ".csv": "CSV",
}
Progress = Callable[[str], None]

# why a row is refused: RowProblem.reason → (Chinese, English), for grouping a report
REASONS: dict[str, tuple[str, str]] = {
    "missing_column": ("缺少必需的列", "required column missing"),
    "empty_file": ("文件为空", "no rows"),
    "no_geometry": ("文件没有几何", "the file has no geometry"),
    "required_empty": ("必填项为空", "required value empty"),
    "bad_value": ("取值无效", "bad value"),
    "unknown_value": ("未知取值", "unknown value"),
    "duplicate_key": ("键重复", "duplicate key"),
    "already_stored": ("数据库中已存在", "already stored"),
    "empty_geometry": ("几何为空", "empty geometry"),
    "geometry_type": ("几何类型错误", "wrong geometry type"),
    "coordinates": ("坐标不合理", "implausible coordinates"),
    "invalid_geometry": ("几何无效", "invalid geometry"),
    "unknown_parent": ("上级不存在", "no such parent"),
    "wrong_parent": ("上级不一致", "parent mismatch"),
    "outside_parent": ("超出上级范围", "outside its parent"),
    "overlap": ("相互重叠", "overlap"),
    "astride_compounds": ("楼栋跨越小区", "building astride compounds"),
    "compound_missing": ("未填写所在小区", "compound not named"),
    "unit_households": ("单元户数不符", "unit households"),
    "unit_floor": ("单元或楼层不存在", "no such unit or floor"),
    "other": ("其他", "other"),
}


@dataclass
class ImportReport:
    kind: str
    source: str
    rows: int
    crs: str | None
    bounds: tuple[float, float, float, float] | None
    extra: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "source": self.source,
            "rows": self.rows,
            "crs": self.crs,
            "bounds": self.bounds,
            **self.extra,
        }


# --- reading ------------------------------------------------------------------------------
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


_LON = ("lon", "lng", "longitude", "x", "经度")
_LAT = ("lat", "latitude", "y", "纬度")


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
    problems = []
    xs, ys = [], []
    for i, (xr, yr) in enumerate(zip(frame[xcol], frame[ycol], strict=True)):
        xy = []
        for col, raw in ((xcol, xr), (ycol, yr)):
            value = pd.to_numeric(pd.Series([raw]), errors="coerce").iloc[0]
            if not _blank(raw) and pd.isna(value):
                problems.append(
                    RowProblem(
                        i, None, col, f"不是数字 (not a number): {raw!r}", reason="coordinates"
                    )
                )
            xy.append(float(value))
        xs.append(xy[0])
        ys.append(xy[1])
    x, y = np.array(xs), np.array(ys)
    geoms = np.where(np.isnan(x) & np.isnan(y), None, shapely.points(x, y))
    return RawLayer(frame.drop(columns=[xcol, ycol]), geoms, parse_crs(crs), problems)


def _untruncate(frame: pd.DataFrame, spec: LayerSpec) -> pd.DataFrame:
    """Shapefile (dBase) field names are cut to 10 characters: map them back."""
    renames = {
        a.name[:10]: a.name
        for a in spec.attrs
        if len(a.name) > 10 and a.name not in frame.columns and a.name[:10] in frame.columns
    }
    return frame.rename(columns=renames)


# --- attribute checks -----------------------------------------------------------------------
_LIST_SPLIT = re.compile(r"\s*[;；|、]\s*")


def _blank(v: Any) -> bool:
    if v is None:
        return True
    if isinstance(v, float) and np.isnan(v):
        return True
    if v is pd.NA or v is pd.NaT:
        return True
    return isinstance(v, str) and not v.strip()


def _coerce(attr: Attr, v: Any) -> Any:
    """Convert ``v`` to the attribute's type or raise ValueError with a message."""
    if attr.type is str:
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        return str(v).strip()
    if attr.type is int:
        if isinstance(v, bool):
            raise ValueError(f"应为整数 (expected an integer), got {v!r}")
        if isinstance(v, int | np.integer) or (
            isinstance(v, float | np.floating) and float(v).is_integer()
        ):
            n = int(v)
        else:
            s = unicodedata.normalize("NFKC", str(v)).strip()
            if not re.fullmatch(r"[+-]?\d+", s):
                raise ValueError(f"应为整数 (expected an integer), got {v!r}")
            n = int(s)
        if attr.minimum is not None and n < attr.minimum:
            raise ValueError(f"应 ≥ {attr.minimum} (must be ≥ {attr.minimum}), got {n}")
        return n
    if attr.type is bool:
        if isinstance(v, bool | np.bool_):
            return bool(v)
        s = str(v).strip().lower()
        if s in {"1", "true", "yes", "y", "t", "是"}:
            return True
        if s in {"0", "false", "no", "n", "f", "否"}:
            return False
        raise ValueError(f"应为是/否 (expected true/false), got {v!r}")
    if attr.type is list:
        if isinstance(v, list | tuple | np.ndarray):
            items = [str(x).strip() for x in v]
        else:
            items = _LIST_SPLIT.split(str(v).strip())
        return [x for x in items if x]
    raise TypeError(attr.type)


def _check_attributes(
    frame: pd.DataFrame, spec: LayerSpec, problems: list[RowProblem]
) -> list[dict[str, Any]]:
    columns = set(frame.columns)
    for attr in spec.attrs:
        if attr.required and attr.name not in columns:
            problems.append(
                RowProblem(
                    -1,
                    None,
                    attr.name,
                    "缺少必需的列 (required column missing)",
                    reason="missing_column",
                )
            )
    if any(p.row == -1 for p in problems):
        return []
    records = frame.to_dict("records")
    rows: list[dict[str, Any]] = []
    for i, rec in enumerate(records):
        key = None if _blank(rec.get(spec.key)) else str(rec.get(spec.key)).strip()
        out: dict[str, Any] = {}
        for attr in spec.attrs:
            v = rec.get(attr.name)
            if _blank(v):
                if attr.required:
                    problems.append(
                        RowProblem(
                            i,
                            key,
                            attr.name,
                            "必填项为空 (required, empty)",
                            reason="required_empty",
                        )
                    )
                out[attr.name] = [] if attr.type is list else None
                continue
            try:
                out[attr.name] = _coerce(attr, v)
            except ValueError as exc:
                problems.append(RowProblem(i, key, attr.name, str(exc), reason="bad_value"))
                out[attr.name] = None
                continue
            if attr.choices is not None and out[attr.name] not in attr.choices:
                problems.append(
                    RowProblem(
                        i,
                        key,
                        attr.name,
                        f"未知取值 (unknown value) {out[attr.name]!r}; "
                        f"可选 (one of): {', '.join(attr.choices)}",
                        reason="unknown_value",
                    )
                )
        rows.append(out)
    return rows


def _check_keys(
    rows: Sequence[dict[str, Any]], spec: LayerSpec, session: Session, problems: list[RowProblem]
) -> None:
    seen: dict[str, int] = {}
    for i, r in enumerate(rows):
        k = r.get(spec.key)
        if k is None:
            continue
        if k in seen:
            problems.append(
                RowProblem(
                    i,
                    k,
                    spec.key,
                    f"键重复，与第 {seen[k] + 1} 行相同 (duplicate key, as row {seen[k] + 1})",
                    reason="duplicate_key",
                )
            )
        else:
            seen[k] = i
    if not seen:
        return
    stored = session.execute(
        text(f"SELECT {spec.key} FROM {spec.table} WHERE {spec.key} = ANY(:keys)"),
        {"keys": list(seen)},
    ).scalars()
    for k in stored:
        problems.append(
            RowProblem(
                seen[k],
                k,
                spec.key,
                "数据库中已存在 (already stored in the database)",
                reason="already_stored",
            )
        )


# --- geometry checks ------------------------------------------------------------------------
def _check_geometry(
    geoms: np.ndarray | None,
    src: CrsSpec | None,
    spec: LayerSpec,
    rows: Sequence[dict[str, Any]],
    problems: list[RowProblem],
    *,
    skip: set[int] = frozenset(),  # type: ignore[assignment]
) -> np.ndarray:
    """Check raw geometries and return them in the storage CRS (areas as MultiPolygon, lines
    as MultiLineString); rows with a problem get None."""
    n = len(rows)
    out = np.full(n, None, dtype=object)
    if spec.geom == "none":
        return out
    if geoms is None:
        if not spec.geom_optional:
            problems.append(
                RowProblem(
                    -1,
                    None,
                    "geometry",
                    "文件没有几何 (the file has no geometry)",
                    reason="no_geometry",
                )
            )
        return out
    key = [r.get(spec.key) for r in rows]
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    ok = np.zeros(n, dtype=bool)
    for i in range(n):
        if i in skip:
            continue
        if missing[i]:
            if not spec.geom_optional:
                problems.append(
                    RowProblem(
                        i, key[i], "geometry", "几何为空 (empty geometry)", reason="empty_geometry"
                    )
                )
            continue
        name = geoms[i].geom_type
        if name not in spec.geometry_types:
            problems.append(
                RowProblem(
                    i,
                    key[i],
                    "geometry",
                    f"几何类型错误 (wrong geometry type) {name}; "
                    f"应为 (expected) {' / '.join(spec.geometry_types)}",
                    reason="geometry_type",
                )
            )
            continue
        if shapely.has_z(geoms[i]):
            geoms[i] = shapely.force_2d(geoms[i])
        ok[i] = True
    if src is None:
        if ok.any():
            raise CRSError("未指定坐标系 (no CRS given for the geometries)")
        return out
    idx = np.flatnonzero(ok)
    if idx.size == 0:
        return out
    # plausibility on the raw coordinates: every vertex must make sense in the CRS given
    coords, owner = shapely.get_coordinates(geoms[idx], return_index=True)
    bad_rows: set[int] = set()
    for j, problem in check_lonlat(coords[:, 0], coords[:, 1], src):
        row = int(idx[owner[j]])
        if row not in bad_rows:
            bad_rows.add(row)
            problems.append(RowProblem(row, key[row], "geometry", problem, reason="coordinates"))
    idx = np.array([i for i in idx if i not in bad_rows], dtype=int)
    if idx.size == 0:
        return out
    valid = shapely.is_valid(geoms[idx])
    for i in idx[~valid]:
        reason = shapely.is_valid_reason(geoms[i])
        problems.append(
            RowProblem(
                int(i),
                key[i],
                "geometry",
                f"几何无效 (invalid geometry): {reason}",
                reason="invalid_geometry",
            )
        )
    idx = idx[valid]
    transformed = transform_geometries(geoms[idx], src)
    if spec.geom == "area":
        transformed = np.array(
            [
                g if g.geom_type == "MultiPolygon" else shapely.MultiPolygon([g])
                for g in transformed
            ],
            dtype=object,
        )
    elif spec.geom == "line":
        transformed = np.array(
            [
                g if g.geom_type == "MultiLineString" else shapely.MultiLineString([g])
                for g in transformed
            ],
            dtype=object,
        )
    # a transformation can make a valid ring invalid (rare, near-degenerate rings)
    still = shapely.is_valid(transformed)
    for i, g in zip(idx[~still], transformed[~still], strict=True):
        problems.append(
            RowProblem(
                int(i),
                key[i],
                "geometry",
                f"转换坐标后几何无效 (invalid after transformation): {shapely.is_valid_reason(g)}",
                reason="invalid_geometry",
            )
        )
    out[idx[still]] = transformed[still]
    return out


# --- parents and neighbours -------------------------------------------------------------
def _lookup(session: Session, table: str, geom_col: str | None, codes: Iterable[str]):
    """code → (id, storage geometry or None) for the given codes of ``table``."""
    codes = sorted({c for c in codes if c})
    if not codes:
        return {}
    geo_sql = f", ST_AsBinary({geom_col})" if geom_col else ", NULL"
    res = session.execute(
        text(f"SELECT code, id{geo_sql} FROM {table} WHERE code = ANY(:codes)"), {"codes": codes}
    ).all()
    return {
        code: (ident, shapely.from_wkb(bytes(wkb)) if wkb is not None else None)
        for code, ident, wkb in res
    }


def _require_parent(
    rows: Sequence[dict[str, Any]],
    spec: LayerSpec,
    field_name: str,
    parents: dict[str, Any],
    problems: list[RowProblem],
    label: str,
) -> None:
    for i, r in enumerate(rows):
        code = r.get(field_name)
        if code and code not in parents:
            problems.append(
                RowProblem(
                    i,
                    r.get(spec.key),
                    field_name,
                    f"{label} {code!r} 不存在 (no such {label}); 请先导入 (import it first)",
                    reason="unknown_parent",
                )
            )


def _check_inside(
    geoms: np.ndarray,
    parent_geoms: Sequence[Any],
    rows: Sequence[dict[str, Any]],
    spec: LayerSpec,
    problems: list[RowProblem],
    *,
    what: str,
    tolerance_m: float,
) -> None:
    """Each geometry must lie within its parent (buffered by ``tolerance_m``), in metres."""
    pairs = [
        (i, g, p)
        for i, (g, p) in enumerate(zip(geoms, parent_geoms, strict=True))
        if g is not None and p is not None
    ]
    if not pairs:
        return
    ii, gg, pp = zip(*pairs, strict=True)
    gm = to_metric(np.array(gg, dtype=object))
    pm = to_metric(np.array(pp, dtype=object))
    inside = shapely.covers(shapely.buffer(pm, tolerance_m), gm)
    for k in np.flatnonzero(~inside):
        out = shapely.difference(gm[k], pm[k])
        detail = (
            f"超出面积 {shapely.area(out):.1f} m²"
            if shapely.area(gm[k]) > 0
            else f"距离 {shapely.distance(gm[k], pm[k]):.1f} m"
        )
        problems.append(
            RowProblem(
                ii[k],
                rows[ii[k]].get(spec.key),
                "geometry",
                f"不在所属{what}范围内 (outside its {what}; {detail}, tolerance {tolerance_m} m)",
                reason="outside_parent",
            )
        )


def _check_overlaps(
    geoms: np.ndarray,
    rows: Sequence[dict[str, Any]],
    spec: LayerSpec,
    stored: dict[str, Any],
    problems: list[RowProblem],
    *,
    what: str,
) -> None:
    """No two areas (in the file, or the file against stored ones) may overlap by more than
    ``overlap_tolerance_m2``. Both rows of an overlapping pair in the file are named, each
    with the other's key and the area of the overlap (m², in the metric CRS)."""
    tol = get_settings().overlap_tolerance_m2
    idx = [i for i, g in enumerate(geoms) if g is not None]
    if not idx:
        return
    mine = to_metric(geoms[idx])
    names = [rows[i].get(spec.key) for i in idx]
    others = list(stored.items())
    pool = np.concatenate([mine, to_metric(np.array([g for _, (_, g) in others], dtype=object))])
    pool_names = names + [c for c, _ in others]
    tree = shapely.STRtree(pool)
    left, right = tree.query(mine, predicate="intersects")
    keep = (right >= len(mine)) | (right > left)  # each pair in the file once
    left, right = left[keep], right[keep]
    areas = shapely.area(shapely.intersection(mine[left], pool[right]))
    found: list[tuple[int, str | None, float, bool]] = []  # (row, the other's key, m², stored)
    for a, b, area in zip(left, right, areas, strict=True):
        if area <= tol:
            continue
        if b < len(mine):
            found.append((idx[a], names[b], area, False))
            found.append((idx[b], names[a], area, False))
        elif pool_names[b] != names[a]:  # the same key stored is reported as such
            found.append((idx[a], pool_names[b], area, True))
    for row, other, area, is_stored in sorted(found, key=lambda f: (f[0], str(f[1]))):
        where = ("已存储的", "stored ") if is_stored else ("本文件中的", "")
        tail = "" if is_stored else " in this file"
        problems.append(
            RowProblem(
                row,
                rows[row].get(spec.key),
                "geometry",
                f"与{where[0]}{what} {other!r} 重叠 {area:.1f} m² "
                f"(overlaps {where[1]}{what} {other!r}{tail} by {area:.1f} m²)",
                reason="overlap",
            )
        )


# --- per-kind preparation: parents, derived values -----------------------------------------
def _prepare(
    kind: str,
    rows: list[dict[str, Any]],
    geoms: np.ndarray,
    session: Session,
    spec: LayerSpec,
    problems: list[RowProblem],
) -> dict[str, Any]:
    s = get_settings()
    ctx: dict[str, Any] = {}
    if kind == "communities":
        stored = _stored_areas(session, "community", "boundary", geoms)
        _check_overlaps(geoms, rows, spec, stored, problems, what="社区 community")
        return ctx
    comms: dict[str, Any] = {}
    if kind in {"compounds", "buildings", "workers", "facilities", "resources", "incidents"}:
        comms = _lookup(session, "community", "boundary", (r.get("community_code") for r in rows))
        ctx["communities"] = comms
        _require_parent(rows, spec, "community_code", comms, problems, "社区 community")
    if kind == "compounds":
        parents = [comms.get(r["community_code"], (None, None))[1] for r in rows]
        _check_inside(
            geoms,
            parents,
            rows,
            spec,
            problems,
            what="社区 community",
            tolerance_m=s.parent_tolerance_m,
        )
        stored = _stored_areas(session, "compound", "boundary", geoms)
        _check_overlaps(geoms, rows, spec, stored, problems, what="小区 compound")
    elif kind == "buildings":
        _prepare_buildings(rows, geoms, session, spec, problems, ctx)
    elif kind == "households":
        _prepare_households(rows, geoms, session, spec, problems, ctx)
    elif kind == "incidents":
        parents = [comms.get(r.get("community_code") or "", (None, None))[1] for r in rows]
        _check_inside(
            geoms,
            parents,
            rows,
            spec,
            problems,
            what="社区 community",
            tolerance_m=s.parent_tolerance_m,
        )
        for i, r in enumerate(rows):
            if r.get("reported_at"):
                try:
                    t = datetime.fromisoformat(r["reported_at"])
                except ValueError:
                    problems.append(
                        RowProblem(
                            i,
                            r.get("code"),
                            "reported_at",
                            f"时间格式错误 (not an ISO 8601 time): {r['reported_at']!r}",
                            reason="bad_value",
                        )
                    )
                    continue
                r["reported_at"] = t if t.tzinfo else t.replace(tzinfo=TZ)
    return ctx


def _stored_areas(session: Session, table: str, col: str, geoms: np.ndarray) -> dict[str, Any]:
    """Stored areas of ``table`` that intersect the bounding box of ``geoms``."""
    present = [g for g in geoms if g is not None]
    if not present:
        return {}
    x0, y0, x1, y1 = shapely.total_bounds(np.array(present, dtype=object))
    res = session.execute(
        text(
            f"SELECT code, id, ST_AsBinary({col}) FROM {table} "
            f"WHERE {col} && ST_MakeEnvelope(:x0, :y0, :x1, :y1, :srid)"
        ),
        {"x0": x0, "y0": y0, "x1": x1, "y1": y1, "srid": get_settings().storage_srid},
    ).all()
    return {c: (i, shapely.from_wkb(bytes(w))) for c, i, w in res}


def _prepare_buildings(
    rows: list[dict[str, Any]],
    geoms: np.ndarray,
    session: Session,
    spec: LayerSpec,
    problems: list[RowProblem],
    ctx: dict[str, Any],
) -> None:
    s = get_settings()
    comps = _lookup(session, "compound", "boundary", (r.get("compound_code") for r in rows))
    ctx["compounds"] = comps
    _require_parent(rows, spec, "compound_code", comps, problems, "小区 compound")
    # the compound must belong to the community named
    comp_comm = dict(
        session.execute(
            text(
                "SELECT p.code, c.code FROM compound p JOIN community c ON c.id = p.community_id "
                "WHERE p.code = ANY(:codes)"
            ),
            {"codes": list(comps)},
        ).all()
    )
    for i, r in enumerate(rows):
        cc = r.get("compound_code")
        if cc in comp_comm and r.get("community_code") and comp_comm[cc] != r["community_code"]:
            problems.append(
                RowProblem(
                    i,
                    r.get("code"),
                    "compound_code",
                    f"小区 {cc!r} 属于社区 {comp_comm[cc]!r}，不是 {r['community_code']!r} "
                    f"(compound belongs to community {comp_comm[cc]!r})",
                    reason="wrong_parent",
                )
            )
    comms = ctx["communities"]
    with_compound = [comps.get(r.get("compound_code") or "", (None, None))[1] for r in rows]
    _check_inside(
        geoms,
        with_compound,
        rows,
        spec,
        problems,
        what="小区 compound",
        tolerance_m=s.parent_tolerance_m,
    )
    no_compound = [
        comms.get(r.get("community_code") or "", (None, None))[1]
        if not r.get("compound_code")
        else None
        for r in rows
    ]
    _check_inside(
        geoms,
        no_compound,
        rows,
        spec,
        problems,
        what="社区 community",
        tolerance_m=s.parent_tolerance_m,
    )
    # astride compounds / inside a compound not named
    stored_comps = _stored_areas(session, "compound", "boundary", geoms)
    if stored_comps:
        cnames = list(stored_comps)
        cm = to_metric(np.array([stored_comps[c][1] for c in cnames], dtype=object))
        tree = shapely.STRtree(cm)
        for i, g in enumerate(geoms):
            if g is None:
                continue
            gm = to_metric(np.array([g], dtype=object))[0]
            hits = tree.query(gm, predicate="intersects")
            shares = {
                cnames[h]: shapely.area(shapely.intersection(gm, cm[h])) / max(gm.area, 1e-9)
                for h in hits
            }
            shares = {c: v for c, v in shares.items() if v > 0.01}
            code = rows[i].get("compound_code")
            if len(shares) > 1:
                desc = ", ".join(f"{c} {v:.0%}" for c, v in sorted(shares.items()))
                problems.append(
                    RowProblem(
                        i,
                        rows[i].get("code"),
                        "geometry",
                        f"楼栋跨越多个小区 (building astride compounds): {desc}; "
                        "请修正边界或楼栋 (fix the boundary or the footprint)",
                        reason="astride_compounds",
                    )
                )
            elif shares and not code:
                ((c, v),) = shares.items()
                problems.append(
                    RowProblem(
                        i,
                        rows[i].get("code"),
                        "compound_code",
                        f"楼栋位于小区 {c!r} 内 ({v:.0%})，但未填写 compound_code "
                        f"(building lies in compound {c!r} but compound_code is empty)",
                        reason="compound_missing",
                    )
                )
    stored = _stored_areas(session, "building", "footprint", geoms)
    _check_overlaps(geoms, rows, spec, stored, problems, what="楼栋 building")
    # units and their households
    for i, r in enumerate(rows):
        if r.get("units") is None or r.get("households") is None:
            continue
        units, total = r["units"], r["households"]
        if r.get("unit_households"):
            parts = [p for p in re.split(r"[,，;；\s]+", r["unit_households"]) if p]
            try:
                counts = [int(unicodedata.normalize("NFKC", p)) for p in parts]
            except ValueError:
                problems.append(
                    RowProblem(
                        i,
                        r.get("code"),
                        "unit_households",
                        f"应为逗号分隔的整数 (expected comma-separated integers): "
                        f"{r['unit_households']!r}",
                        reason="unit_households",
                    )
                )
                continue
            if len(counts) != units or sum(counts) != total or min(counts) < 0:
                problems.append(
                    RowProblem(
                        i,
                        r.get("code"),
                        "unit_households",
                        f"{r['unit_households']!r} 应为 {units} 个单元、合计 {total} 户 "
                        f"(must list {units} units summing to {total} households)",
                        reason="unit_households",
                    )
                )
                continue
        else:
            base, extra = divmod(total, units)
            counts = [base + (1 if u < extra else 0) for u in range(units)]
        r["_unit_counts"] = counts


def _prepare_households(
    rows: list[dict[str, Any]],
    geoms: np.ndarray,
    session: Session,
    spec: LayerSpec,
    problems: list[RowProblem],
    ctx: dict[str, Any],
) -> None:
    s = get_settings()
    codes = sorted({r["building_code"] for r in rows if r.get("building_code")})
    res = session.execute(
        text(
            "SELECT b.code, b.id, b.floors, ST_AsBinary(b.footprint), u.unit_no, u.id "
            "FROM building b JOIN building_unit u ON u.building_id = b.id "
            "WHERE b.code = ANY(:codes)"
        ),
        {"codes": codes},
    ).all()
    buildings: dict[str, dict[str, Any]] = {}
    for code, bid, floors, wkb, unit_no, uid in res:
        b = buildings.setdefault(
            code, {"id": bid, "floors": floors, "geom": shapely.from_wkb(bytes(wkb)), "units": {}}
        )
        b["units"][unit_no] = uid
    ctx["buildings"] = buildings
    _require_parent(rows, spec, "building_code", buildings, problems, "楼栋 building")
    parent_geoms = []
    for i, r in enumerate(rows):
        b = buildings.get(r.get("building_code") or "")
        parent_geoms.append(b["geom"] if b else None)
        if not b:
            continue
        if r.get("unit_no") is not None and r["unit_no"] not in b["units"]:
            problems.append(
                RowProblem(
                    i,
                    r.get("code"),
                    "unit_no",
                    f"楼栋 {r['building_code']} 没有 {r['unit_no']} 单元 (no such unit; the "
                    f"building has {len(b['units'])})",
                    reason="unit_floor",
                )
            )
        if r.get("floor") is not None and r["floor"] > b["floors"]:
            problems.append(
                RowProblem(
                    i,
                    r.get("code"),
                    "floor",
                    f"楼层 {r['floor']} 高于楼栋层数 {b['floors']} "
                    f"(floor above the building's {b['floors']} floors)",
                    reason="unit_floor",
                )
            )
        if geoms[i] is None:
            geoms[i] = shapely.point_on_surface(b["geom"])
    _check_inside(
        geoms,
        parent_geoms,
        rows,
        spec,
        problems,
        what="楼栋 building",
        tolerance_m=s.household_tolerance_m,
    )


# --- writing ------------------------------------------------------------------------------
def _ewkb(geoms: Sequence[Any]) -> list[str]:
    arr = shapely.set_srid(np.array(geoms, dtype=object), get_settings().storage_srid)
    return list(shapely.to_wkb(arr, hex=True, include_srid=True))


def _copy(
    session: Session, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]
) -> int:
    """COPY rows into ``table`` inside the session's transaction."""
    raw = session.connection().connection.driver_connection
    n = 0
    with raw.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as cp:
        for row in rows:
            cp.write_row(row)
            n += 1
    return n


def _ids(session: Session, table: str, codes: Sequence[str]) -> dict[str, int]:
    res = session.execute(
        text(f"SELECT code, id FROM {table} WHERE code = ANY(:codes)"), {"codes": list(codes)}
    ).all()
    return dict(res)  # type: ignore[arg-type]


def _write(
    kind: str, session: Session, rows: list[dict[str, Any]], geoms: np.ndarray, ctx: dict[str, Any]
) -> dict[str, int]:
    g = _ewkb(geoms) if kind != "workers" else [None] * len(rows)
    extra: dict[str, int] = {}
    if kind == "communities":
        streets: dict[str, dict[str, Any]] = {}
        for r in rows:
            streets.setdefault(r["street_code"], r)
        for code, r in streets.items():
            session.execute(
                text(
                    "INSERT INTO street (code, name, district, city) VALUES (:c, :n, :d, "
                    "COALESCE(:city, '成都市')) ON CONFLICT (code) DO NOTHING"
                ),
                {"c": code, "n": r["street_name"], "d": r["district"], "city": r.get("city")},
            )
        sid = _ids(session, "street", list(streets))
        _copy(
            session,
            "community",
            ["code", "name", "street_id", "boundary"],
            (
                [r["code"], r["name"], sid[r["street_code"]], gg]
                for r, gg in zip(rows, g, strict=True)
            ),
        )
    elif kind == "compounds":
        comms = ctx["communities"]
        _copy(
            session,
            "compound",
            ["code", "name", "address", "community_id", "boundary"],
            (
                [r["code"], r["name"], r.get("address"), comms[r["community_code"]][0], gg]
                for r, gg in zip(rows, g, strict=True)
            ),
        )
    elif kind == "buildings":
        comms, comps = ctx["communities"], ctx["compounds"]
        _copy(
            session,
            "building",
            [
                "code",
                "name",
                "address",
                "use",
                "community_id",
                "compound_id",
                "floors",
                "units",
                "households",
                "footprint",
            ],
            (
                [
                    r["code"],
                    r["name"],
                    r.get("address"),
                    r.get("use") or "residential",
                    comms[r["community_code"]][0],
                    comps[r["compound_code"]][0] if r.get("compound_code") else None,
                    r["floors"],
                    r["units"],
                    r["households"],
                    gg,
                ]
                for r, gg in zip(rows, g, strict=True)
            ),
        )
        bid = _ids(session, "building", [r["code"] for r in rows])
        extra["units"] = _copy(
            session,
            "building_unit",
            ["building_id", "unit_no", "floors", "households"],
            (
                [bid[r["code"]], u + 1, r["floors"], n]
                for r in rows
                for u, n in enumerate(r["_unit_counts"])
            ),
        )
    elif kind == "households":
        bs = ctx["buildings"]
        _copy(
            session,
            "household",
            ["code", "building_id", "unit_id", "floor", "room", "members", "address", "position"],
            (
                [
                    r["code"],
                    bs[r["building_code"]]["id"],
                    bs[r["building_code"]]["units"][r["unit_no"]],
                    r.get("floor"),
                    r.get("room"),
                    r.get("members"),
                    r.get("address"),
                    gg,
                ]
                for r, gg in zip(rows, g, strict=True)
            ),
        )
        persons = [r for r in rows if r.get("head_name")]
        if persons:
            hid = _ids(session, "household", [r["code"] for r in persons])
            extra["persons"] = _copy(
                session,
                "household_person",
                ["household_id", "head_name", "phone"],
                ([hid[r["code"]], r["head_name"], r.get("phone")] for r in persons),
            )
    elif kind in {"facilities", "resources"}:
        comms = ctx["communities"]
        spec = get_layer(kind)
        cols = [a.name for a in spec.attrs if a.name != "community_code"]
        _copy(
            session,
            spec.table,
            [*cols, "community_id", "position"],
            (
                [
                    *(r.get(c) for c in cols),
                    comms[r["community_code"]][0] if r.get("community_code") else None,
                    gg,
                ]
                for r, gg in zip(rows, g, strict=True)
            ),
        )
    elif kind == "incidents":
        comms = ctx["communities"]
        now = datetime.now(TZ)
        _copy(
            session,
            "incident",
            [
                "code",
                "category",
                "description",
                "address",
                "status",
                "reported_at",
                "updated_at",
                "community_id",
                "position",
            ],
            (
                [
                    r["code"],
                    r["category"],
                    r["description"],
                    r.get("address"),
                    r.get("status") or "reported",
                    r.get("reported_at") or now,
                    now,
                    comms[r["community_code"]][0] if r.get("community_code") else None,
                    gg,
                ]
                for r, gg in zip(rows, g, strict=True)
            ),
        )
        iid = _ids(session, "incident", [r["code"] for r in rows])
        _copy(
            session,
            "incident_event",
            ["incident_id", "at", "actor", "to_status", "note"],
            (
                [
                    iid[r["code"]],
                    r.get("reported_at") or now,
                    "import",
                    r.get("status") or "reported",
                    "导入 (imported)",
                ]
                for r in rows
            ),
        )
        reporters = [r for r in rows if r.get("reporter_name") or r.get("reporter_phone")]
        if reporters:
            _copy(
                session,
                "incident_reporter",
                ["incident_id", "name", "phone"],
                (
                    [iid[r["code"]], r.get("reporter_name"), r.get("reporter_phone")]
                    for r in reporters
                ),
            )
    elif kind == "roads":
        _copy(
            session,
            "road",
            ["code", "name", "kind", "geom"],
            ([r["code"], r.get("name"), r["kind"], gg] for r, gg in zip(rows, g, strict=True)),
        )
    elif kind == "workers":
        comms = ctx["communities"]
        _copy(
            session,
            "worker",
            [
                "code",
                "name",
                "role",
                "phone",
                "public_phone",
                "community_id",
                "grid_code",
                "building_code",
                "party_member",
            ],
            (
                [
                    r["code"],
                    r["name"],
                    r["role"],
                    r.get("phone"),
                    True if r.get("public_phone") is None else r["public_phone"],
                    comms[r["community_code"]][0],
                    r.get("grid_code"),
                    r.get("building_code"),
                    bool(r.get("party_member")),
                ]
                for r in rows
            ),
        )
    else:  # pragma: no cover - LAYERS and this table are kept in step
        raise AssertionError(kind)
    return extra


@dataclass
class Validated:
    """A file read and checked: its rows as typed values, geometries in the storage CRS, the
    parents found (``ctx``), and every problem (sorted by row). ``raw`` is the file as read,
    with its geometries untouched in the file's own CRS (for a problems file)."""

    kind: str
    source: str
    spec: LayerSpec
    raw: RawLayer
    rows: list[dict[str, Any]]
    geoms: np.ndarray
    ctx: dict[str, Any]
    problems: list[RowProblem]


def validate_file(
    path: str | Path,
    kind: str,
    *,
    session: Session,
    crs: str | None = None,
    layer: str | None = None,
) -> Validated:
    """Read ``path`` and check every row of it as ``kind`` against the database; write
    nothing. Problems with the file as a whole (a required column missing, no rows) have row
    -1 and stop the checks there. Errors that leave nothing to check row by row (no such file,
    no CRS) are raised (:class:`~geo.errors.InputError`, :class:`~geo.errors.CRSError`)."""
    spec = get_layer(kind)
    raw = read_layer(path, crs=crs, layer=layer, geom=spec.geom != "none")
    # the checks drop Z in place: keep the file's geometries as they were
    geoms_in = None if raw.geoms is None else raw.geoms.copy()
    original = RawLayer(raw.attrs, raw.geoms, raw.crs, list(raw.problems))
    frame = _untruncate(raw.attrs, spec) if Path(path).suffix.lower() == ".shp" else raw.attrs
    problems: list[RowProblem] = list(raw.problems)
    rows = _check_attributes(frame, spec, problems)
    empty = np.full(len(rows), None, dtype=object)
    done = Validated(kind, str(path), spec, original, rows, empty, {}, problems)
    if any(p.row == -1 for p in problems):
        return done
    if not rows:
        problems.append(RowProblem(-1, None, None, "文件为空 (no rows)", reason="empty_file"))
        return done
    # rows whose coordinates could not be read are reported once, not twice
    skip = {p.row for p in raw.problems}
    done.geoms = _check_geometry(geoms_in, raw.crs, spec, rows, problems, skip=skip)
    _check_keys(rows, spec, session, problems)
    done.ctx = _prepare(kind, rows, done.geoms, session, spec, problems)
    problems.sort(key=lambda p: (p.row, p.field or ""))
    return done


def import_file(
    path: str | Path,
    kind: str,
    *,
    session: Session,
    crs: str | None = None,
    layer: str | None = None,
    actor: str = "cli",
) -> ImportReport:
    """Validate and write one file of ``kind`` in the session's transaction.

    Raises :class:`ImportValidationError` (nothing written) when any row has a problem. The
    caller commits (or rolls back) the session. :func:`geo.io.checks.check_file` runs the same
    checks and reports every problem without writing.
    """
    checked = validate_file(path, kind, session=session, crs=crs, layer=layer)
    if checked.problems:
        raise ImportValidationError(str(path), checked.problems)
    rows, geoms, raw = checked.rows, checked.geoms, checked.raw
    extra = _write(kind, session, rows, geoms, checked.ctx)
    present = [x for x in geoms if x is not None]
    bounds = (
        tuple(round(float(v), 6) for v in shapely.total_bounds(np.array(present, dtype=object)))
        if present
        else None
    )
    src = str(raw.crs) if raw.crs else None
    report = ImportReport(kind, str(path), len(rows), src, bounds, extra)  # type: ignore[arg-type]
    session.execute(
        text(
            "INSERT INTO audit_log (actor, action, entity, detail) "
            "VALUES (:a, 'import', :e, CAST(:d AS jsonb))"
        ),
        {"a": actor, "e": checked.spec.table, "d": _json(report.as_dict())},
    )
    return report


def _json(obj: Any) -> str:
    import json

    return json.dumps(obj, ensure_ascii=False, default=str)


# --- export -------------------------------------------------------------------------------
def select_sql(
    spec: LayerSpec, *, where: str = "", order: str = "t.id", personal: bool = False
) -> str:
    """SQL that selects a layer's attributes (named as in import files) and its geometry as
    WKB in column ``geometry``."""
    cols = list(spec.select)
    joins = spec.joins
    if personal and spec.kind == "households":
        cols += ["hp.head_name", "hp.phone"]
        joins += " LEFT JOIN household_person hp ON hp.household_id = t.id"
    if personal and spec.kind == "incidents":
        cols += ["ir.name AS reporter_name", "ir.phone AS reporter_phone"]
        joins += " LEFT JOIN incident_reporter ir ON ir.incident_id = t.id"
    if spec.geom_column:
        cols.append(f"ST_AsBinary(t.{spec.geom_column}) AS geometry")
    sql = f"SELECT {', '.join(cols)} FROM {spec.table} t {joins}"
    if where:
        sql += f" WHERE {where}"
    return sql + f" ORDER BY {order}"


def export_layer(
    kind: str,
    path: str | Path,
    *,
    session: Session,
    crs: str | None = None,
    community: str | None = None,
    personal: bool = False,
    actor: str = "cli",
) -> int:
    """Write a stored layer to GeoJSON, GeoPackage, Shapefile, FlatGeobuf or CSV; return the
    number of rows.

    GeoJSON is written in CRS84 (RFC 7946) unless ``crs`` says otherwise; other formats in the
    storage CRS unless ``crs`` is given. A point layer in CSV gets ``lon``/``lat`` columns
    (``x``/``y`` in a projected CRS), which the import reads back with ``--crs``; areas and
    lines do not fit in CSV and are refused. CSV text cells a spreadsheet would run as
    formulas are quoted (:mod:`geo.io.csvcells`).

    Personal attributes (residents' names and phones) only with ``personal=True``, for the
    layers that have them (:attr:`LayerSpec.personal_table`; another layer is refused). Such a
    file, and any export of residents' own words (incident descriptions), is created readable
    by its owner only (0600, every file of a Shapefile); a personal export is written to the
    audit log (``export_personal``: who, which layer and file, how many rows), committed before
    the file appears. The file is written in a private folder beside ``path`` and moved into
    place, so a failed export leaves no half-written file.
    """
    spec = get_layer(kind)
    path = Path(path)
    driver = _export_driver(spec, path, personal)
    frame = _stored_frame(session, spec, community=community, personal=personal)
    table = _georeference(frame, crs, driver) if spec.geom_column else frame
    path.parent.mkdir(parents=True, exist_ok=True)
    with _private_folder(path) as tmp:
        _write_table(table, tmp / path.name, driver, spec, keep=path if driver == "GPKG" else None)
        if is_private_export(kind, personal):
            for part in tmp.iterdir():
                part.chmod(0o600)
        if personal:
            _audit_export(session, spec, path, len(frame), actor=actor, community=community)
        for part in tmp.iterdir():
            part.replace(path.parent / part.name)
    return len(frame)


def _export_driver(spec: LayerSpec, path: Path, personal: bool) -> str:
    """The OGR driver for ``path``, once the export is known to make sense."""
    driver = DRIVERS.get(path.suffix.lower())
    if driver is None:
        raise InputError(f"不支持的文件类型 (unsupported file type) {path.suffix!r}")
    if personal and spec.personal_table is None:
        having = ", ".join(k for k, v in LAYERS.items() if v.personal_table)
        raise InputError(
            f"{spec.kind} 不含个人信息，--include-personal 只用于 {having} "
            f"({spec.kind} holds no personal data; --include-personal is for {having})"
        )
    if driver == "CSV" and spec.geom not in ("point", "none"):
        area = spec.geom == "area"
        raise InputError(
            f"CSV 只能写点图层和表，{spec.kind} 是{'面' if area else '线'} (CSV holds point "
            f"layers and tables; {spec.kind} are {'areas' if area else 'lines'}: use .gpkg, "
            ".geojson, .shp or .fgb)"
        )
    return driver


def _stored_frame(
    session: Session, spec: LayerSpec, *, community: str | None, personal: bool
) -> pd.DataFrame:
    """A stored layer's rows, attributes named as in import files, geometry as WKB."""
    where, params = "", {}
    if community:
        if "community c" not in spec.joins:
            raise InputError(f"{spec.kind} 不能按社区筛选 (cannot be filtered by community)")
        where, params = "c.code = :community", {"community": community}
    res = session.execute(text(select_sql(spec, where=where, personal=personal)), params)
    frame = pd.DataFrame(res.all(), columns=list(res.keys()))
    for attr in spec.attrs:  # list attributes are written as "a;b;c"
        if attr.type is list and attr.name in frame:
            frame[attr.name] = [";".join(v) if v else None for v in frame[attr.name]]
    return frame


def is_private_export(kind: str, personal: bool) -> bool:
    """Whether an export of ``kind`` is written for its owner only (0600): it holds residents'
    names and phones (``personal``) or their own words (:attr:`LayerSpec.free_text`)."""
    return personal or get_layer(kind).free_text


def _georeference(frame: pd.DataFrame, crs: str | None, driver: str) -> pd.DataFrame:
    """The frame's WKB column as geometries in the output CRS; for CSV, as coordinates."""
    geoms = shapely.from_wkb([bytes(b) if b is not None else None for b in frame.pop("geometry")])
    gdf = gpd.GeoDataFrame(frame, geometry=geoms, crs=storage_crs())
    if crs:
        target = parse_crs(crs)
        if target.offset:
            raise InputError("导出不支持 GCJ-02/BD-09 (export to GCJ-02/BD-09 is not offered)")
        gdf = gdf.to_crs(target.crs)
    elif driver == "GeoJSON":
        gdf = gdf.set_crs("OGC:CRS84", allow_override=True)  # CGCS2000 ≈ WGS84 (< 1 m)
    if driver != "CSV":
        return gdf
    x, y = ("lon", "lat") if gdf.crs.is_geographic else ("x", "y")
    empty = gdf.geometry.isna() | gdf.geometry.is_empty
    out = pd.DataFrame(gdf.drop(columns=gdf.geometry.name))
    out[x] = np.where(empty, np.nan, shapely.get_x(gdf.geometry.values))
    out[y] = np.where(empty, np.nan, shapely.get_y(gdf.geometry.values))
    return out


@contextlib.contextmanager
def _private_folder(path: Path) -> Iterator[Path]:
    """A folder only its owner can enter (0700), beside ``path`` (so that moving a file out
    of it is a rename), removed afterwards with whatever is left in it."""
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _write_table(
    table: pd.DataFrame, path: Path, driver: str, spec: LayerSpec, *, keep: Path | None
) -> None:
    """Write ``table`` to ``path`` (a new file; for a GeoPackage, a copy of ``keep`` when it
    exists, so that its other layers stay)."""
    if driver == "CSV":
        # CR LF line ends (RFC 4180): a cell holding a CR or LF is then quoted, so that it
        # cannot split its row
        safe_frame(table).to_csv(path, index=False, lineterminator="\r\n")
        return
    if keep is not None and keep.exists():
        shutil.copy2(keep, path)  # with its mode: a private GeoPackage stays private
    with warnings.catch_warnings():  # Shapefile cuts names to 10 characters; import
        warnings.filterwarnings("ignore", "Normalized/laundered field name")  # maps them back
        pyogrio.write_dataframe(
            table, path, driver=driver, layer=spec.kind if driver == "GPKG" else None
        )


def _audit_export(
    session: Session, spec: LayerSpec, path: Path, rows: int, *, actor: str, community: str | None
) -> None:
    """One ``export_personal`` audit row, committed on its own before the file is put in
    place: a personal file never exists without its row (a failure after it leaves a row for
    a file that was not written, the safe side)."""
    from sqlalchemy.orm import Session as _Session

    detail = {
        "kind": spec.kind,
        "file": str(path.resolve()),
        "rows": rows,
        "columns": spec.personal_attrs,
        "community": community,
    }
    with _Session(bind=session.get_bind()) as audit, audit.begin():
        audit.execute(
            text(
                "INSERT INTO audit_log (actor, action, entity, entity_id, detail) VALUES "
                "(:a, 'export_personal', :e, :c, CAST(:d AS jsonb))"
            ),
            {"a": actor, "e": spec.personal_table, "c": community, "d": _json(detail)},
        )
