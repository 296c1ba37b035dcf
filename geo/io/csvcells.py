"""CSV cells a spreadsheet cannot run as formulas (CSV injection), read back exactly.

Excel, WPS and LibreOffice treat a cell starting with ``=``, ``+``, ``-`` or ``@`` (and a tab
or carriage return before one) as a formula: ``=HYPERLINK(…)`` or ``=cmd|' /C calc'!A0`` in a
name someone imported would run when a worker opens the export. The OWASP advice is applied:
such a text cell is written with a single quote in front, which the spreadsheet shows as text.

* Numbers stay numbers: a numeric value is never touched, and neither is text that is exactly
  a negative decimal number (``-12``, ``-0.5``, ``-1e3``): a spreadsheet reads it as that
  number, not as a formula. ``+5`` is quoted (a leading ``+`` starts a formula, and phone
  numbers such as ``+86 28 …`` are better kept as text anyway); so is ``-2+3``.
* Reading back is exact: a text that already starts with quotes followed by one of those
  characters gets one more quote, and :func:`csv_uncell` takes exactly one off such a cell,
  so ``csv_uncell(csv_cell(x)) == x`` for every text (the import reads CSV through it).

>>> csv_cell("=1+2"), csv_cell("-12"), csv_cell("'=x"), csv_uncell("''=x")
("'=1+2", '-12', "''=x", "'=x")
"""

from __future__ import annotations

import re
from typing import Any

import pandas as pd

__all__ = ["csv_cell", "csv_uncell", "safe_frame", "unsafe_frame"]

_TRIGGER = re.compile(r"'*[=+\-@\t\r]")  # a formula start, perhaps behind quotes
_NEGATIVE_NUMBER = re.compile(r"-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


def csv_cell(value: Any) -> Any:
    """``value`` as it is written to a CSV cell: a text a spreadsheet would run as a formula
    gets a single quote in front; everything else (numbers, None) is returned as it is."""
    if isinstance(value, str) and _TRIGGER.match(value) and not _NEGATIVE_NUMBER.fullmatch(value):
        return "'" + value
    return value


def csv_uncell(value: Any) -> Any:
    """The inverse of :func:`csv_cell`, for cells read from a CSV file."""
    if isinstance(value, str) and value.startswith("'") and _TRIGGER.match(value, 1):
        return value[1:]
    return value


def _text_columns(frame: pd.DataFrame) -> list[Any]:
    return [
        c
        for c in frame.columns
        if frame[c].dtype == object or pd.api.types.is_string_dtype(frame[c])
    ]


def safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` with every text cell passed through :func:`csv_cell`."""
    out = frame.copy()
    for col in _text_columns(out):
        out[col] = out[col].map(csv_cell, na_action="ignore")
    return out


def unsafe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` (read from CSV) with every text cell passed through
    :func:`csv_uncell`."""
    out = frame.copy()
    for col in _text_columns(out):
        out[col] = out[col].map(csv_uncell, na_action="ignore")
    return out
