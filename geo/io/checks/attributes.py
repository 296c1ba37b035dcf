"""Checks of a file's attributes: required columns and values, types, the closed vocabularies,
and keys (unique in the file, not yet stored)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import RowProblem
from geo.io.read import blank
from geo.store.layers import Attr, LayerSpec

__all__ = ["check_attributes", "check_keys"]

_LIST_SPLIT = re.compile(r"\s*[;；|、,，]\s*")
_TRUE = {"1", "true", "yes", "y", "t", "是"}
_FALSE = {"0", "false", "no", "n", "f", "否"}


def check_attributes(
    frame: pd.DataFrame, spec: LayerSpec, problems: list[RowProblem]
) -> list[dict[str, Any]]:
    """The file's rows as typed values (``None`` or ``[]`` where a value is missing or bad,
    with a problem reported); no rows when a required column is missing."""
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
    return [_row(i, rec, spec, problems) for i, rec in enumerate(frame.to_dict("records"))]


def _row(
    i: int, rec: dict[Any, Any], spec: LayerSpec, problems: list[RowProblem]
) -> dict[str, Any]:
    key = None if blank(rec.get(spec.key)) else str(rec.get(spec.key)).strip()
    out: dict[str, Any] = {}
    for attr in spec.attrs:
        v = rec.get(attr.name)
        if blank(v):
            if attr.required:
                problems.append(
                    RowProblem(
                        i, key, attr.name, "必填项为空 (required, empty)", reason="required_empty"
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
    return out


def _coerce(attr: Attr, v: Any) -> Any:
    """Convert ``v`` to the attribute's type or raise ValueError with a message."""
    if attr.type is str:
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        return str(v).strip()
    if attr.type is int:
        return _integer(attr, v)
    if attr.type is bool:
        if isinstance(v, bool | np.bool_):
            return bool(v)
        s = str(v).strip().lower()
        if s in _TRUE:
            return True
        if s in _FALSE:
            return False
        raise ValueError(f"应为是/否 (expected true/false), got {v!r}")
    if attr.type is list:
        if isinstance(v, list | tuple | np.ndarray):  # (a GeoJSON file mixing lists and
            # strings in one column is read as lists of one string each: split them too)
            items = [p for x in v for p in _LIST_SPLIT.split(str(x).strip())]
        else:
            items = _LIST_SPLIT.split(str(v).strip())
        return [x for x in items if x]
    raise TypeError(attr.type)


def _integer(attr: Attr, v: Any) -> int:
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


def check_keys(
    rows: Sequence[dict[str, Any]], spec: LayerSpec, session: Session, problems: list[RowProblem]
) -> None:
    """Each key once in the file, and none already stored."""
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
