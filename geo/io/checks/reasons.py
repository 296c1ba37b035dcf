"""Why a row is refused: the stable reason keys of :class:`~geo.errors.RowProblem`, in words."""

from __future__ import annotations

__all__ = ["REASONS", "reason_label"]

# RowProblem.reason → (Chinese, English), for grouping a report
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


def reason_label(reason: str) -> str:
    """A reason in words, ``"中文 (English)"``; an unknown key reads as ``other``."""
    zh, en = REASONS.get(reason, REASONS["other"])
    return f"{zh} ({en})"
