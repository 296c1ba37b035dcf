"""The import of one file: all rows checked, then all written, in the caller's transaction.

:func:`import_file` runs the checks (:func:`geo.io.checks.validate_file`); only when no row
has a problem does it write the rows (the kind's handler, :mod:`geo.io.kinds`) and one
``import`` audit row, all in the session's transaction. Otherwise it raises
:class:`~geo.errors.ImportValidationError` naming every bad row, and nothing is written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from sqlalchemy.orm import Session

from geo.errors import ImportValidationError
from geo.io.checks.validate import validate_file
from geo.io.kinds import HANDLERS
from geo.store.audit import audit

__all__ = ["ImportReport", "import_file"]

Bounds = tuple[float, float, float, float]


@dataclass
class ImportReport:
    """What an import wrote: the kind, the file, the rows, the file's CRS, the bounds of the
    geometries (storage CRS) and counts of rows written to other tables (``units``, …)."""

    kind: str
    source: str
    rows: int
    crs: str | None
    bounds: Bounds | None
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
    extra = HANDLERS[kind].write(session, rows, geoms, checked.prepared)
    src = str(raw.crs) if raw.crs else None
    report = ImportReport(kind, str(path), len(rows), src, _bounds(geoms), extra)
    audit(session, actor, "import", checked.spec.table, detail=report.as_dict())
    return report


def _bounds(geoms: np.ndarray) -> Bounds | None:
    """The bounds of the geometries present, rounded to 6 decimals; None when there are none."""
    present = [g for g in geoms if g is not None]
    if not present:
        return None
    x0, y0, x1, y1 = (
        round(float(v), 6) for v in shapely.total_bounds(np.array(present, dtype=object))
    )
    return (x0, y0, x1, y1)
