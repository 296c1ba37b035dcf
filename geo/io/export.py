"""Export of a stored layer to GeoJSON, GeoPackage, Shapefile, FlatGeobuf or CSV.

An export can be imported again unchanged: the same attribute names, and for a point layer in
CSV ``lon``/``lat`` (or ``x``/``y``) columns. Personal attributes only on request, written to the
audit log; files with personal data or residents' own words are readable by their owner only.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.core.crs import parse_crs, storage_crs
from geo.errors import InputError
from geo.io.csvcells import safe_frame
from geo.io.formats import DRIVERS
from geo.store.audit import audit
from geo.store.layers import LAYERS, LayerSpec, get_layer

__all__ = ["export_layer", "is_private_export", "select_sql"]


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
        cols += [
            "ir.name AS reporter_name",
            "ir.phone AS reporter_phone",
            "ir.email AS reporter_email",  # given through Open311
        ]
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
    table = spec.personal_table
    if table is None:  # pragma: no cover - _export_driver refused the layer
        raise AssertionError(spec.kind)
    detail = {
        "kind": spec.kind,
        "file": str(path.resolve()),
        "rows": rows,
        "columns": spec.personal_attrs,
        "community": community,
    }
    with Session(bind=session.get_bind()) as own, own.begin():
        audit(own, actor, "export_personal", table, community, detail)
