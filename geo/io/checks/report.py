"""The report of checking a whole file: every problem, grouped by reason, and a problems file.

:func:`check_file` runs exactly the checks of an import (:func:`geo.io.validate_file`) in a
read-only transaction and returns a :class:`CheckReport` with every problem, not only the first
few. :func:`write_problems` writes the rows at fault — their original attributes and geometry,
in the file's own CRS — with a ``reason`` column to ``FILE.problems.gpkg`` next to the file, so
that the data owner opens it in QGIS, fixes the rows in the source and checks again. A clean
check removes an old problems file, so that the one left behind is never stale.

>>> report = check_file("osm-buildings.geojson", "buildings", session=session)  # doctest: +SKIP
>>> report.ok, [(r.reason, r.rows) for r in report.by_reason()]  # doctest: +SKIP
(False, [('overlap', 12), ('invalid_geometry', 1)])
>>> write_problems(report)  # doctest: +SKIP
PosixPath('osm-buildings.geojson.problems.gpkg')
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import RowProblem
from geo.io.checks.reasons import reason_label
from geo.io.checks.validate import CheckedFile, validate_file

__all__ = ["CheckReport", "ReasonCount", "check_file", "problems_path", "write_problems"]

PROBLEMS_SUFFIX = ".problems.gpkg"
PROBLEMS_LAYER = "problems"
ADDED = ("row", "reason", "reason_code")  # columns a problems file adds to the file's own


@dataclass(frozen=True)
class ReasonCount:
    """How many rows (and problems) one reason accounts for."""

    reason: str
    label: str  # "中文 (English)"
    rows: int
    problems: int


@dataclass
class CheckReport:
    """The outcome of checking one file: ``problems`` lists every one, sorted by row."""

    kind: str
    source: Path
    rows: int
    crs: str | None
    problems: list[RowProblem]
    checked: CheckedFile = field(repr=False)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def bad_rows(self) -> list[int]:
        """0-based indexes of the rows with at least one problem."""
        return sorted({p.row for p in self.problems if p.row >= 0})

    @property
    def file_problems(self) -> list[RowProblem]:
        """Problems of the file as a whole (no row to point at)."""
        return [p for p in self.problems if p.row < 0]

    def by_reason(self) -> list[ReasonCount]:
        """One entry per reason, the most frequent first."""
        rows: dict[str, set[int]] = {}
        counts: dict[str, int] = {}
        for p in self.problems:
            rows.setdefault(p.reason, set()).add(p.row)
            counts[p.reason] = counts.get(p.reason, 0) + 1
        out = [
            ReasonCount(r, reason_label(r), len(rows[r]), counts[r])
            for r in sorted(counts, key=lambda r: (-len(rows[r]), r))
        ]
        return out

    def problems_frame(self) -> gpd.GeoDataFrame | pd.DataFrame | None:
        """The rows at fault as read (attributes, geometry in the file's CRS), with ``row``
        (1-based), ``reason`` (every problem of the row, in words) and ``reason_code``; None
        when no row has a problem."""
        bad = self.bad_rows
        if not bad:
            return None
        raw = self.checked.raw
        frame = raw.attrs.iloc[bad].reset_index(drop=True).copy()
        frame = frame.rename(columns={c: f"src_{c}" for c in ADDED if c in frame.columns})
        frame = frame.apply(_scalars)
        by_row: dict[int, list[RowProblem]] = {}
        for p in self.problems:
            if p.row >= 0:
                by_row.setdefault(p.row, []).append(p)
        frame.insert(0, "row", [i + 1 for i in bad])
        frame.insert(1, "reason", ["; ".join(_line(p) for p in by_row[i]) for i in bad])
        frame.insert(
            2,
            "reason_code",
            [",".join(dict.fromkeys(p.reason for p in by_row[i])) for i in bad],
        )
        if raw.geoms is None:
            return frame
        crs = raw.crs.crs if raw.crs is not None else None
        return gpd.GeoDataFrame(frame, geometry=list(raw.geoms[bad]), crs=crs)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "source": str(self.source),
            "rows": self.rows,
            "crs": self.crs,
            "ok": self.ok,
            "rows_with_problems": len(self.bad_rows),
            "problems": [p.as_dict() for p in self.problems],
            "by_reason": [
                {"reason": r.reason, "label": r.label, "rows": r.rows, "problems": r.problems}
                for r in self.by_reason()
            ],
        }


def _line(p: RowProblem) -> str:
    return f"{p.field}: {p.problem}" if p.field else p.problem


def _scalars(column: pd.Series) -> pd.Series:
    """Lists and dicts (GeoJSON arrays, objects) as JSON text: a GeoPackage holds scalars."""
    if column.dtype != object:
        return column
    return column.map(
        lambda v: (
            json.dumps(list(v) if isinstance(v, np.ndarray) else v, ensure_ascii=False)
            if isinstance(v, list | tuple | dict | np.ndarray)
            else v
        )
    )


def problems_path(source: str | Path) -> Path:
    """Where the problems of ``source`` go: ``FILE.problems.gpkg`` next to it."""
    source = Path(source)
    return source.with_name(source.name + PROBLEMS_SUFFIX)


def check_file(
    path: str | Path,
    kind: str,
    *,
    session: Session,
    crs: str | None = None,
    layer: str | None = None,
) -> CheckReport:
    """Check ``path`` as an import of ``kind`` would, writing nothing: the session's
    transaction is made read-only first (the caller rolls it back). Errors that leave no row
    to check (no such file, no CRS) are raised as by an import."""
    session.execute(text("SET TRANSACTION READ ONLY"))
    checked = validate_file(path, kind, session=session, crs=crs, layer=layer)
    raw = checked.raw
    return CheckReport(
        kind=kind,
        source=Path(path),
        rows=len(raw.attrs),
        crs=str(raw.crs) if raw.crs else None,
        problems=list(checked.problems),
        checked=checked,
    )


def write_problems(report: CheckReport, path: str | Path | None = None) -> Path | None:
    """Write the rows at fault to a GeoPackage (layer ``problems``; default
    :func:`problems_path`) and return its path. When no row has a problem, an old problems
    file there is removed and None is returned."""
    target = Path(path) if path is not None else problems_path(report.source)
    frame = report.problems_frame()
    if target.exists():
        target.unlink()
    if frame is None:
        return None
    options: dict[str, Any] = {}
    if isinstance(frame, gpd.GeoDataFrame):
        types = set(frame.geometry.dropna().geom_type)
        if len(types) > 1:  # keep each row's geometry as it was: no promotion to multi
            options = {"geometry_type": "Unknown", "promote_to_multi": False}
    pyogrio.write_dataframe(frame, target, driver="GPKG", layer=PROBLEMS_LAYER, **options)
    return target
