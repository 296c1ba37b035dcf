"""CQL2 filters (OGC API – Features Part 3) as SQL conditions with bound parameters.

A ``filter`` in CQL2 text or CQL2 JSON is parsed and validated by the ``cql2`` library (both
encodings end as the standard CQL2 JSON tree); this module translates that tree into an SQL
condition itself. Property names come only from the collection's queryables (:class:`Field`:
each is a fixed SQL expression of the collection's select list, never text from the request);
every value becomes a bound parameter with a unique name (``:cql_1``…), never SQL text.

Supported: basic CQL2 (``=``, ``<>``, ``<``, ``<=``, ``>``, ``>=``, ``IS [NOT] NULL`` of a
queryable or of the ``geometry``, ``AND``, ``OR``, ``NOT``, string/number/boolean literals),
advanced comparison operators (``LIKE``, ``IN``, ``BETWEEN``), case-insensitive comparison
(``CASEI``) and ``S_INTERSECTS`` of the geometry with any geometry literal or ``BBOX`` (in
``filter-crs``). Anything else (temporal, array and other spatial functions, arithmetic,
property-to-property comparisons) is a 400 that names it. An integer property compares with
numbers only; a string property with strings.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import cql2
import shapely
from shapely.errors import ShapelyError
from shapely.geometry import box, shape

from geo.errors import InputError

__all__ = ["LANGS", "Field", "FilterSQL", "check_lang", "parse", "to_sql"]

LANGS = ("cql2-text", "cql2-json", "cql-text")  # cql-text: the draft name GDAL still sends
MAX_DEPTH = 64  # nesting of brackets in a filter (deeper is refused before it is parsed)
MAX_LIST = 1000  # values in one IN list
COMPARISONS = {"=": "=", "<>": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
MIRRORED = {"=": "=", "<>": "<>", "<": ">", "<=": ">=", ">": "<", ">=": "<="}
SUPPORTED = "=, <>, <, <=, >, >=, IS NULL, AND, OR, NOT, LIKE, IN, BETWEEN, CASEI, S_INTERSECTS"


@dataclass(frozen=True)
class Field:
    """A queryable: the SQL expression behind it (from the collection's own select list) and
    its type (``integer``, ``string``, ``boolean`` or ``timestamp``); ``value`` maps a literal compared with it by ``=``,
    ``<>`` or ``IN`` (e.g. an incident category's Chinese label to its key)."""

    sql: str
    type: str = "string"
    value: Callable[[str], str] | None = None


@dataclass
class FilterSQL:
    """The condition and its parameters; ``n`` numbers the parameters."""

    geometry: str  # the SQL of the collection's geometry column
    fields: Mapping[str, Field]
    storage_srid: int
    # whether a bounding box (x, y order) lies inside the domain of an SRID's CRS
    in_domain: Callable[[int, tuple[float, float, float, float]], bool]
    srid: int = 4326  # of geometry literals (filter-crs)
    flip: bool = False  # literals latitude/northing first, as that CRS defines
    params: dict[str, Any] = field(default_factory=dict)

    def bind(self, value: Any) -> str:
        name = f"cql_{len(self.params) + 1}"
        self.params[name] = value
        return f":{name}"


BEIJING = timezone(timedelta(hours=8))  # the service's day (no summer time)

MAX_UNARY = 16
_UNARY_RUN = re.compile(
    rf"(?:[-+]\s*){{{MAX_UNARY + 1},}}|(?:\bNOT\b\s*){{{MAX_UNARY + 1},}}", re.IGNORECASE
)
_STRINGS = re.compile(r"'(?:[^']|'')*'")  # CQL2 text's string literals ('' inside one)


def _depth(text: str) -> int:
    depth = deepest = 0
    for ch in text:
        if ch in "([{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in ")]}":
            depth -= 1
    return deepest


def check_lang(lang: str | None) -> str:
    """The filter language (default cql2-text); 400 for one not supported."""
    name = (lang or "cql2-text").strip().lower()
    if name not in LANGS:
        raise InputError(
            f"filter-lang 不支持 (unsupported filter-lang) {lang!r}; 可用 (use): {', '.join(LANGS)}"
        )
    return name


def parse(text: str, lang: str | None) -> Any:
    """The CQL2 JSON tree of ``text`` in ``lang`` (default cql2-text); 400 naming the problem
    (with the position the parser gives) when it does not parse."""
    lang = check_lang(lang)
    if not text.strip():
        raise InputError("filter 为空 (empty filter)")
    if _depth(text) > MAX_DEPTH:
        raise InputError(f"filter 嵌套过深 (filter nested deeper than {MAX_DEPTH} levels)")
    if _UNARY_RUN.search(_STRINGS.sub("''", text)):
        # each sign or NOT is a level of the parser's recursion without a bracket: thousands
        # of them overflowed its (Rust) stack and took the whole process down
        raise InputError(
            f"filter 含过多连续的正负号或 NOT (more than {MAX_UNARY} signs or NOTs in a row)"
        )
    try:
        if lang == "cql2-json":
            try:
                json.loads(text)
            except ValueError as exc:
                raise InputError(
                    f"filter 不是有效的 JSON (filter is not valid JSON): {exc}; {text[:200]!r}"
                ) from exc
            expr = cql2.parse_json(text)
        else:
            expr = cql2.parse_text(text)
        return expr.to_json()
    except InputError:
        raise
    except BaseException as exc:  # the parser's errors (a Rust panic is a BaseException)
        if isinstance(exc, KeyboardInterrupt | SystemExit | MemoryError):
            raise
        where = " ".join(str(exc).split())[:400]
        raise InputError(
            f"filter 无法解析 (filter does not parse as {lang}): {text[:200]!r}: {where}"
        ) from exc


def to_sql(tree: Any, f: FilterSQL) -> str:
    """The SQL condition of a parsed filter; its parameters are in ``f.params``."""
    return _predicate(tree, f, 0)


def _predicate(node: Any, f: FilterSQL, depth: int) -> str:
    if depth > MAX_DEPTH:
        raise InputError(f"filter 嵌套过深 (filter nested deeper than {MAX_DEPTH} levels)")
    if isinstance(node, bool):
        return "TRUE" if node else "FALSE"
    if not isinstance(node, dict) or "op" not in node:
        raise InputError(f"filter 应为条件 (a filter must be a condition, not) {_show(node)}")
    op = str(node["op"]).lower()
    args = node.get("args") or []
    if op in ("and", "or"):
        parts = [_predicate(a, f, depth + 1) for a in args]
        if not parts:
            raise InputError(f"{op.upper()} 需要条件 ({op.upper()} takes conditions)")
        return "(" + f" {op.upper()} ".join(parts) + ")"
    if op == "not":
        return f"(NOT {_predicate(_one(args, op), f, depth + 1)})"
    if op in COMPARISONS:
        return _comparison(op, args, f)
    if op == "isnull":
        return _isnull(_one(args, "IS NULL"), f)
    handler = _OPERATORS.get(op)
    if handler is None:
        raise InputError(
            f"filter 不支持该运算 (operator or function not supported): {node['op']!r}; "
            f"可用 (supported): {SUPPORTED}"
        )
    return handler(args, f)


def _isnull(prop: Any, f: FilterSQL) -> str:
    """``IS NULL`` of a queryable or of the geometry (``IS NOT NULL`` is its ``NOT``)."""
    if isinstance(prop, dict) and prop.get("property") == "geometry":
        return f"({f.geometry} IS NULL)"
    sql, _ = _operand_property(prop, f, "IS NULL")
    return f"({sql} IS NULL)"


def _one(args: list[Any], op: str) -> Any:
    if len(args) != 1:
        raise InputError(f"{op} 需要一个参数 ({op} takes one argument)")
    return args[0]


def _show(node: Any) -> str:
    if isinstance(node, float) and node.is_integer() and abs(node) < 1e15:
        node = int(node)  # the parser gives every number as a float
    return json.dumps(node, ensure_ascii=False)[:200]


def _is_property(node: Any) -> bool:
    if isinstance(node, dict) and "property" in node:
        return True
    return (
        isinstance(node, dict)
        and str(node.get("op", "")).lower() == "casei"
        and any(_is_property(a) for a in node.get("args") or [])
    )


def _field(name: Any, f: FilterSQL) -> Field:
    fld = f.fields.get(str(name))
    if fld is None:
        raise InputError(
            f"不能按 {name!r} 筛选 (not a queryable): 可用 (queryables) "
            f"{', '.join(sorted([*f.fields, 'geometry']))}",
            detail={"property": name, "queryables": sorted([*f.fields, "geometry"])},
        )
    return fld


def _operand_property(node: Any, f: FilterSQL, op: str) -> tuple[str, Field]:
    """(SQL, field) of a property operand, ``CASEI(property)`` as ``lower(...)``."""
    if isinstance(node, dict) and str(node.get("op", "")).lower() == "casei":
        sql, fld = _operand_property(_one(node.get("args") or [], "CASEI"), f, op)
        if fld.type != "string":
            raise InputError(f"CASEI 只用于文本属性 (CASEI takes a string property): {_show(node)}")
        return f"lower({sql})", Field(sql, "casei", fld.value)
    if not (isinstance(node, dict) and "property" in node):
        raise InputError(f"{op} 的左边应为属性 ({op} needs a queryable property): {_show(node)}")
    if node["property"] == "geometry":
        raise InputError(
            f"geometry 只能用于 S_INTERSECTS 和 IS NULL (geometry takes S_INTERSECTS and IS NULL "
            f"only, not {op})"
        )
    fld = _field(node["property"], f)
    return (f"({fld.sql})" if "(" in fld.sql else fld.sql), fld


def json_schema(kind: str) -> dict[str, Any]:
    """The JSON Schema of a queryable of type ``kind`` (for /queryables and /ogc/api)."""
    return {"type": "string", "format": "date-time"} if kind == "timestamp" else {"type": kind}


def _instant(node: Any, op: str) -> datetime:
    """A CQL2 ``TIMESTAMP('…Z')`` or ``DATE('…')`` literal (or an ISO 8601 string) as an
    aware time; a date is its first moment in Beijing time (the service's day)."""
    if isinstance(node, dict) and len(node) == 1 and ("timestamp" in node or "date" in node):
        text = str(node.get("timestamp") or node.get("date"))
    elif isinstance(node, str):
        text = node
    else:
        raise InputError(
            f"时间属性只能与 TIMESTAMP('…') 或 DATE('…') 比较 (a timestamp property compares "
            f"with TIMESTAMP or DATE literals, not {_show(node)})"
        )
    try:
        at = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InputError(
            f"{op}: 不是 ISO 8601 时间 (not an ISO 8601 time): {_show(node)}"
        ) from None
    return at if at.tzinfo is not None else at.replace(tzinfo=BEIJING)


def _value(node: Any, fld: Field, f: FilterSQL, op: str, *, mapped: bool = True) -> str:
    """A literal compared with ``fld``, bound as a parameter of the field's type."""
    if fld.type == "timestamp":
        return f.bind(_instant(node, op))
    if fld.type == "casei":
        if isinstance(node, dict) and str(node.get("op", "")).lower() == "casei":
            node = _one(node.get("args") or [], "CASEI")
        return f"lower({_value(node, Field(fld.sql, 'string'), f, op, mapped=False)})"
    if isinstance(node, dict | list) or node is None:
        raise InputError(
            f"{op} 的右边应为字面值 (only literal values are compared; {op} got {_show(node)}): "
            "不支持属性之间比较、函数或算术 (no property-property comparison, function or "
            "arithmetic)"
        )
    return _plain(node, fld, f, op, mapped)


def _plain(node: Any, fld: Field, f: FilterSQL, op: str, mapped: bool) -> str:
    """A boolean, number or string literal compared with ``fld``, bound."""
    if fld.type == "boolean":
        if not isinstance(node, bool):
            raise InputError(
                f"布尔属性只能与 true/false 比较 (a boolean property compares with TRUE or FALSE, "
                f"not {_show(node)})"
            )
        return f.bind(node)
    if isinstance(node, bool):
        raise InputError(f"该属性不是布尔型 (not a boolean property): {op} {_show(node)}")
    if fld.type == "integer":
        if isinstance(node, str) or not math.isfinite(node):
            raise InputError(
                f"整数属性只能与数字比较 (an integer property compares with numbers, "
                f"not {_show(node)})"
            )
        whole = float(node).is_integer() and abs(node) < 2**63
        return f.bind(int(node) if whole else float(node))
    if not isinstance(node, str):
        raise InputError(
            f"文本属性只能与字符串比较 (a string property compares with strings, not "
            f"{_show(node)}: quote it, e.g. '{_show(node)}')"
        )
    if op == "LIKE" and (len(node) - len(node.rstrip("\\"))) % 2:
        raise InputError(
            f"LIKE 模式以转义符结尾 (a LIKE pattern ends with its escape character \\): {_show(node)}"
        )
    if "\x00" in node:
        raise InputError(f"字符串含 NUL 字符 (a string holds a NUL character): {_show(node)}")
    return f.bind(fld.value(node) if mapped and fld.value is not None else node)


def _comparison(op: str, args: list[Any], f: FilterSQL) -> str:
    if len(args) != 2:
        raise InputError(f"{op} 需要两个参数 ({op} takes two arguments)")
    left, right = args
    if not _is_property(left) and _is_property(right):
        left, right, op = right, left, MIRRORED[op]
    sql, fld = _operand_property(left, f, op)
    return f"({sql} {COMPARISONS[op]} {_value(right, fld, f, op, mapped=op in ('=', '<>'))})"


def _like(args: list[Any], f: FilterSQL) -> str:
    if len(args) != 2:
        raise InputError("LIKE 需要两个参数 (LIKE takes two arguments)")
    sql, fld = _operand_property(args[0], f, "LIKE")
    if fld.type not in ("string", "casei"):
        raise InputError(f"LIKE 只用于文本属性 (LIKE takes a string property): {_show(args[0])}")
    return f"({sql} LIKE {_value(args[1], fld, f, 'LIKE', mapped=False)})"


def _in(args: list[Any], f: FilterSQL) -> str:
    if len(args) != 2 or not isinstance(args[1], list) or not args[1]:
        raise InputError("IN 需要属性和值列表 (IN takes a property and a list of values)")
    if len(args[1]) > MAX_LIST:
        raise InputError(f"IN 的值过多 (more than {MAX_LIST} values in IN)")
    sql, fld = _operand_property(args[0], f, "IN")
    return f"({sql} IN (" + ", ".join(_value(v, fld, f, "IN") for v in args[1]) + "))"


def _between(args: list[Any], f: FilterSQL) -> str:
    if len(args) != 3:
        raise InputError("BETWEEN 需要三个参数 (BETWEEN takes a property, a low and a high value)")
    sql, fld = _operand_property(args[0], f, "BETWEEN")
    low = _value(args[1], fld, f, "BETWEEN", mapped=False)
    high = _value(args[2], fld, f, "BETWEEN", mapped=False)
    return f"({sql} BETWEEN {low} AND {high})"


def _intersects(args: list[Any], f: FilterSQL) -> str:
    if len(args) != 2:
        raise InputError("S_INTERSECTS 需要两个参数 (S_INTERSECTS takes two arguments)")
    prop, literal = args
    if isinstance(literal, dict) and literal.get("property") == "geometry":
        prop, literal = literal, prop
    if not (isinstance(prop, dict) and prop.get("property") == "geometry"):
        raise InputError(
            f"S_INTERSECTS 的第一个参数应为 geometry (S_INTERSECTS compares the queryable "
            f"'geometry', not {_show(prop)})"
        )
    geom = _geometry(literal, f)
    wkb = f.bind(shapely.to_wkb(geom))  # exact coordinates, unlike text
    lit = f"ST_GeomFromWKB({wkb}, {int(f.srid)})"
    if f.srid != f.storage_srid:
        lit = f"ST_Transform({lit}, {int(f.storage_srid)})"
    return f"ST_Intersects({f.geometry}, {lit})"  # which uses the spatial index itself


def _geometry(node: Any, f: FilterSQL) -> shapely.Geometry:
    """A geometry literal (GeoJSON-like, or ``{"bbox": [...]}``) in x, y order, checked."""
    try:
        if isinstance(node, dict) and "bbox" in node:
            b = [float(v) for v in node["bbox"]]
            if len(b) == 6:
                b = [b[0], b[1], b[3], b[4]]
            if len(b) != 4:
                raise ValueError("a BBOX has four numbers")
            if f.flip:
                b = [b[1], b[0], b[3], b[2]]
            if b[0] > b[2] or b[1] > b[3]:
                raise ValueError("min > max")
            # a box without area (a point or a line: a legal BBOX) as what it is
            geom = (
                box(*b)
                if b[0] < b[2] and b[1] < b[3]
                else shapely.Point(b[0], b[1])
                if (b[0], b[1]) == (b[2], b[3])
                else shapely.LineString([(b[0], b[1]), (b[2], b[3])])
            )
        elif isinstance(node, dict) and "type" in node:
            geom = shape(node)
            geom = shapely.force_2d(geom)
            if f.flip:
                geom = shapely.transform(geom, lambda xy: xy[:, ::-1])
        else:
            raise ValueError("not a geometry")
    except (ValueError, TypeError, KeyError, AttributeError, ShapelyError) as exc:
        raise InputError(
            f"S_INTERSECTS 的几何无效 (invalid geometry literal in S_INTERSECTS): "
            f"{_show(node)}: {exc}"
        ) from exc
    return _checked(geom, node, f)


def _checked(geom: shapely.Geometry, node: Any, f: FilterSQL) -> shapely.Geometry:
    if geom.is_empty:
        raise InputError(f"S_INTERSECTS 的几何为空 (empty geometry literal): {_show(node)}")
    coords = shapely.get_coordinates(geom)
    if not all(math.isfinite(v) for v in coords.ravel()):
        raise InputError(f"S_INTERSECTS 的坐标无效 (coordinates not finite): {_show(node)}")
    if not geom.is_valid:
        raise InputError(
            f"S_INTERSECTS 的几何无效 (invalid geometry literal: {shapely.is_valid_reason(geom)}): "
            f"{_show(node)}"
        )
    x0, y0, x1, y1 = (float(v) for v in geom.bounds)
    if not f.in_domain(f.srid, (x0, y0, x1, y1)):
        raise InputError(
            f"S_INTERSECTS 的几何超出 filter-crs 的范围 (geometry outside the domain of "
            f"EPSG:{f.srid}; axis order "
            + ("latitude/northing first" if f.flip else "x, y")
            + f"): {_show(node)}"
        )
    return geom


_OPERATORS: dict[str, Callable[[list[Any], FilterSQL], str]] = {
    "like": _like,
    "in": _in,
    "between": _between,
    "s_intersects": _intersects,
}
