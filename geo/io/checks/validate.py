"""Checking every row of a file as an import would, writing nothing: :func:`validate_file`
and its result, :class:`CheckedFile`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy.orm import Session

from geo.errors import RowProblem
from geo.io.checks.attributes import check_attributes, check_keys
from geo.io.checks.geometry import check_geometry
from geo.io.kinds import HANDLERS, Prepared, Rows
from geo.io.read import RawLayer, read_layer, untruncate
from geo.store.layers import LayerSpec, get_layer

__all__ = ["CheckedFile", "validate_file"]


@dataclass
class CheckedFile:
    """A file read and checked: its rows as typed values, geometries in the storage CRS, what
    the kind's checks found for the write (``prepared``), and every problem (sorted by row).
    ``raw`` is the file as read, with its geometries untouched in the file's own CRS (for a
    problems file)."""

    kind: str
    source: str
    spec: LayerSpec
    raw: RawLayer
    rows: Rows
    geoms: np.ndarray
    prepared: Prepared
    problems: list[RowProblem]


def validate_file(
    path: str | Path,
    kind: str,
    *,
    session: Session,
    crs: str | None = None,
    layer: str | None = None,
) -> CheckedFile:
    """Read ``path`` and check every row of it as ``kind`` against the database; write
    nothing. Problems with the file as a whole (a required column missing, no rows) have row
    -1 and stop the checks there. Errors that leave nothing to check row by row (no such file,
    no CRS) are raised (:class:`~geo.errors.InputError`, :class:`~geo.errors.CRSError`)."""
    spec = get_layer(kind)
    raw = read_layer(path, crs=crs, layer=layer, geom=spec.geom != "none")
    # the checks drop Z in place: keep the file's geometries as they were
    geoms_in = None if raw.geoms is None else raw.geoms.copy()
    original = RawLayer(raw.attrs, raw.geoms, raw.crs, list(raw.problems))
    frame = untruncate(raw.attrs, spec) if Path(path).suffix.lower() == ".shp" else raw.attrs
    problems: list[RowProblem] = list(raw.problems)
    rows = check_attributes(frame, spec, problems)
    empty = np.full(len(rows), None, dtype=object)
    done = CheckedFile(kind, str(path), spec, original, rows, empty, Prepared(), problems)
    if any(p.row == -1 for p in problems):
        return done
    if not rows:
        problems.append(RowProblem(-1, None, None, "文件为空 (no rows)", reason="empty_file"))
        return done
    # rows whose coordinates could not be read are reported once, not twice
    skip = {p.row for p in raw.problems}
    done.geoms = check_geometry(geoms_in, raw.crs, spec, rows, problems, skip=skip)
    check_keys(rows, spec, session, problems)
    done.prepared = HANDLERS[kind].prepare(rows, done.geoms, session, spec, problems)
    problems.sort(key=lambda p: (p.row, p.field or ""))
    return done
