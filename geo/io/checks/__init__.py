"""The checks of an import, and the report of checking a file before importing it.

Row by row (:func:`validate_file`): attributes (required, typed, known vocabulary) and keys
(unique in the file, not yet stored) in :mod:`.attributes`; geometry (present, of the right
type, plausible coordinates for the CRS given, valid) in :mod:`.geometry`; parents (stored,
and the row inside its parent's area) in :mod:`.parents`; neighbours (no overlaps) in
:mod:`.overlaps`; what only one kind checks in :mod:`geo.io.kinds`. Every problem carries a
``reason`` key (:data:`REASONS`). For the whole file, :func:`check_file` returns a
:class:`CheckReport` (``wangge import --check``) and :func:`write_problems` writes the rows at
fault to a problems file.
"""

from __future__ import annotations

from geo.io.checks.reasons import REASONS
from geo.io.checks.report import (
    CheckReport,
    ReasonCount,
    check_file,
    problems_path,
    write_problems,
)
from geo.io.checks.validate import CheckedFile, validate_file

__all__ = [
    "REASONS",
    "CheckReport",
    "CheckedFile",
    "ReasonCount",
    "check_file",
    "problems_path",
    "validate_file",
    "write_problems",
]
