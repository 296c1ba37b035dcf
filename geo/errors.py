"""The error family of Wangge.

Every error a user can cause derives from :class:`WanggeError` and carries a stable ``code``
and a message that is safe to show (Simplified Chinese first, English alongside). The web layer
maps each class to an HTTP status in one table (``api/errors.py``); the CLI prints the message
and exits non-zero.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "CRSError",
    "ConflictError",
    "DatabaseUnavailable",
    "GeometryError",
    "ImportValidationError",
    "InputError",
    "NotFoundError",
    "PermissionDenied",
    "RowProblem",
    "SetupError",
    "WanggeError",
]


class WanggeError(Exception):
    """Base class. ``code`` is stable and machine-readable; ``str(err)`` is the message."""

    code = "error"

    def __init__(self, message: str, *, detail: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail


class InputError(WanggeError, ValueError):
    """A value given by the user is wrong; the message names it."""

    code = "invalid_input"


class CRSError(InputError):
    """A coordinate reference system is missing, unknown or does not fit the coordinates."""

    code = "invalid_crs"


class GeometryError(InputError):
    """A geometry is invalid, of the wrong type, or outside the area it must be in."""

    code = "invalid_geometry"


@dataclass(frozen=True)
class RowProblem:
    """One problem found in one row (feature) of an input file."""

    row: int  # 0-based feature index in the file
    key: str | None  # the feature's key (code), when it has one
    field: str | None  # the attribute (or "geometry") at fault
    problem: str  # what is wrong, in words
    reason: str = "other"  # a stable short key for grouping (geo.io.REASONS): "overlap", …

    def __str__(self) -> str:
        where = f"第 {self.row + 1} 行 (row {self.row + 1})"
        if self.key:
            where += f" [{self.key}]"
        if self.field:
            where += f" {self.field}"
        return f"{where}: {self.problem}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "row": self.row + 1,
            "key": self.key,
            "field": self.field,
            "problem": self.problem,
            "reason": self.reason,
        }


class ImportValidationError(InputError):
    """An input file failed validation; nothing was written. ``problems`` lists every row."""

    code = "import_rejected"

    def __init__(self, source: str, problems: Sequence[RowProblem], *, shown: int = 20) -> None:
        self.source = source
        self.problems = list(problems)
        lines = [str(p) for p in self.problems[:shown]]
        more = len(self.problems) - shown
        if more > 0:
            lines.append(f"…另有 {more} 处问题 (and {more} more problems)")
        head = (
            f"导入被拒绝，未写入任何数据 (import rejected, nothing written): {source}: "
            f"{len(self.problems)} 处问题 (problems)"
        )
        super().__init__(head + "\n  " + "\n  ".join(lines), detail=[p.as_dict() for p in problems])


class NotFoundError(WanggeError, LookupError):
    code = "not_found"


class ConflictError(WanggeError):
    """The request clashes with the current state (a duplicate key, a stale version)."""

    code = "conflict"


class PermissionDenied(WanggeError):
    code = "forbidden"


class DatabaseUnavailable(WanggeError):
    code = "database_unavailable"


class SetupError(WanggeError):
    """The machine lacks something (PostgreSQL, PostGIS); the message says how to get it."""

    code = "setup"
