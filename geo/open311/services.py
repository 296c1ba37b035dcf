"""Open311 services: one per incident category (``service_code`` = the category key), and
the attributes each takes (``GET services/{service_code}``), checked on ``POST requests``."""

from __future__ import annotations

from typing import Any

from geo.errors import InputError, NotFoundError
from geo.incidents.categories import category_key, category_list
from geo.store.models import INCIDENT_CATEGORIES

__all__ = ["ATTRIBUTES", "checked_attributes", "service_definition", "service_list"]

_FLOOR = {
    "variable": True,
    "code": "floor",
    "datatype": "number",
    "required": False,
    "datatype_description": "整数 -5 到 200 (an integer from -5 to 200)",
    "order": 1,
    "description": "楼层 (floor): 在按楼层划分的高层楼栋，决定由哪一层段的网格处理 (at a "
    "tower split by floors, picks the floor group that handles it)",
    "values": [],
}
_TRAPPED = {
    "variable": True,
    "code": "trapped",
    "datatype": "singlevaluelist",
    "required": False,
    "datatype_description": "yes | no",
    "order": 2,
    "description": "是否有人被困 (is anyone trapped in the lift?): 告知处置人员紧急程度 (tells "
    "the staff how urgent it is)",
    "values": [{"key": "yes", "name": "有人被困 someone trapped"}, {"key": "no", "name": "无 no"}],
}
# the categories that happen inside a building take its floor; a lift failure whether anyone
# is trapped. The others (on the street, in the green) take none: metadata false.
ATTRIBUTES: dict[str, list[dict[str, Any]]] = {
    "cooking_fumes": [_FLOOR],
    "noise": [_FLOOR],
    "elevator": [_FLOOR, _TRAPPED],
    "water_leak": [_FLOOR],
    "ebike_charging": [_FLOOR],
    "neighbour_dispute": [_FLOOR],
}


def service_list() -> list[dict[str, Any]]:
    """``GET services``: every category as an Open311 service, Chinese name first."""
    return [
        {
            "service_code": c["key"],
            "service_name": c["name"],
            "description": f"{c['name']} ({c['name_en']})",
            "metadata": bool(ATTRIBUTES.get(c["key"])),
            "type": "realtime",
            "keywords": ", ".join((c["name"], c["name_en"], c["key"])),
            "group": c["group"],
        }
        for c in category_list()
    ]


def _service(code: str) -> str:
    """The category key of a service code (the key, or the Chinese or English label a
    person would type); NotFoundError naming it otherwise."""
    try:
        return category_key(code)
    except InputError:
        codes = ", ".join(INCIDENT_CATEGORIES)
        raise NotFoundError(
            f"未知服务 (unknown service_code) {code!r}; 可选 (one of): {codes}"
        ) from None


def service_definition(code: str) -> dict[str, Any]:
    """``GET services/{service_code}``: the attributes a service takes."""
    key = _service(code)
    return {"service_code": key, "attributes": ATTRIBUTES.get(key, [])}


def checked_attributes(service: str, raw: dict[str, str]) -> tuple[int | None, dict[str, str]]:
    """The attribute values of a report to ``service`` (a category key), checked: the floor
    (None if not given) and the values of the others; InputError naming an unknown code or a
    value of the wrong type."""
    known = {a["code"]: a for a in ATTRIBUTES.get(service, [])}
    floor = None
    values: dict[str, str] = {}
    for code, value in raw.items():
        attr = known.get(code)
        if attr is None:
            allowed = ", ".join(known) or "无 (none)"
            raise InputError(
                f"服务 {service} 没有属性 (service has no attribute) {code!r}; 可选 (one of): "
                f"{allowed}"
            )
        value = str(value).strip()
        if value == "":
            continue
        if code == "floor":
            try:
                floor = int(value)
            except ValueError:
                raise InputError(
                    f"楼层无效 (invalid attribute[floor]): {value!r}; 应为整数 (an integer)"
                ) from None
        elif attr["datatype"] == "singlevaluelist":
            keys = [v["key"] for v in attr["values"]]
            if value not in keys:
                raise InputError(
                    f"属性 {code} 的值无效 (invalid attribute[{code}]): {value!r}; 可选 (one "
                    f"of): {', '.join(keys)}"
                )
        values[code] = value
    return floor, values
