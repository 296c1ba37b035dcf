"""Open311 answers in JSON and XML, and request bodies parsed: form-encoded (what 311
clients send), JSON, or XML (parsed only with defusedxml: no entities, no DTDs).

XML element names follow GeoReport v2: ``<services><service>``, ``<service_requests>
<request>``, ``<service_definition><attributes><attribute><values><value>``, ``<discovery>
<endpoints><endpoint><formats><format>``, ``<errors><error>``."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qs
from xml.etree import ElementTree as ET

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from geo.errors import InputError

__all__ = ["FORMATS", "ROOTS", "errors", "parse_body", "to_xml"]

FORMATS = {"json": "application/json", "xml": "text/xml; charset=utf-8"}
# the root element and the element of each item, by answer
ROOTS = {
    "services": ("services", "service"),
    "requests": ("service_requests", "request"),
    "tokens": ("service_requests", "request"),
    "errors": ("errors", "error"),
}
# a list under this name holds elements of that name
ITEMS = {"attributes": "attribute", "values": "value", "endpoints": "endpoint", "formats": "format"}
MAX_FIELDS = 200


# characters XML 1.0 cannot hold (C0 controls but tab, newline, return; U+FFFE, U+FFFF;
# lone surrogates): replaced in answers, so one stored text cannot break a whole XML list
_XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def _put(parent: ET.Element, name: str, value: Any) -> None:
    """``value`` as the element ``name`` under ``parent`` (lists by :data:`ITEMS`, objects as
    nested elements, booleans as true/false, None as an empty element)."""
    el = ET.SubElement(parent, name)
    if isinstance(value, dict):
        for k, v in value.items():
            _put(el, str(k), v)
    elif isinstance(value, list):
        for v in value:
            _put(el, ITEMS.get(name, "item"), v)
    elif isinstance(value, bool):
        el.text = "true" if value else "false"
    elif value is not None:
        el.text = _XML_FORBIDDEN.sub("\ufffd", str(value))


def to_xml(root: str, item: str | None, content: Any) -> bytes:
    """An XML document: ``<root>`` holding one ``<item>`` per element of ``content`` (a
    list), or, with ``item`` None, the fields of ``content`` (a dict)."""
    top = ET.Element(root)
    if item is None:
        for k, v in content.items():
            _put(top, k, v)
    else:
        for v in content:
            _put(top, item, v)
    return ET.tostring(top, encoding="utf-8", xml_declaration=True)


def errors(status: int, description: str, fmt: str) -> bytes:
    """The Open311 error body: ``[{"code", "description"}]`` or ``<errors><error>``."""
    body = [{"code": status, "description": description}]
    if fmt == "xml":
        return to_xml("errors", "error", body)
    return json.dumps(body, ensure_ascii=False).encode()


def parse_body(content_type: str, body: bytes) -> tuple[dict[str, str], dict[str, str]]:
    """The fields and the ``attribute[...]`` values of a ``POST requests`` body; InputError
    when it does not parse (naming the format), or holds a field more than once."""
    kind = content_type.split(";", 1)[0].strip().lower()
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"请求体不是 UTF-8 (body is not UTF-8): {exc.reason}") from None
    if kind in ("", "application/x-www-form-urlencoded"):
        return _split(_form(text))
    if kind in ("application/json", "text/json"):
        return _split(_json(text))
    if kind in ("application/xml", "text/xml"):
        return _split(_xml(text))
    raise InputError(
        f"不支持的请求体类型 (unsupported Content-Type) {kind!r}; 可用 (use) "
        "application/x-www-form-urlencoded, application/json or text/xml"
    )


def _form(text: str) -> dict[str, Any]:
    try:
        pairs = parse_qs(
            text,
            keep_blank_values=True,
            strict_parsing=bool(text),
            max_num_fields=MAX_FIELDS,
            errors="strict",  # a %-escape that is not UTF-8 is an error, not U+FFFD
        )
    except ValueError as exc:
        raise InputError(f"表单无法解析 (form body does not parse): {exc}") from None
    repeated = [k for k, v in pairs.items() if len(v) > 1]
    if repeated:
        raise InputError(f"字段重复 (field given more than once): {repeated[0]!r}")
    return {k: v[0] for k, v in pairs.items()}


def _json(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"JSON 无法解析 (JSON body does not parse): {exc}") from None
    if not isinstance(data, dict):
        raise InputError("JSON 请求体应为对象 (the JSON body must be an object)")
    return data


def _xml(text: str) -> dict[str, Any]:
    """``<request><service_code>…</service_code>…<attribute><floor>3</floor></attribute>
    </request>`` as fields (defusedxml: entities and DTDs refused)."""
    try:
        root = SafeET.fromstring(text, forbid_dtd=True)
    except (ET.ParseError, DefusedXmlException) as exc:
        raise InputError(f"XML 无法解析 (XML body does not parse): {exc}") from None
    out: dict[str, Any] = {}
    attrs: dict[str, str] = {}
    for child in root:
        if child.tag == "attribute":  # one <attribute> or several: their codes together
            for a in child:
                _once(attrs, a.tag, a.text or "", f"attribute[{a.tag}]")
            out["attribute"] = attrs
        else:
            _once(out, child.tag, child.text or "", child.tag)
    return out


def _once(out: dict[str, Any], key: str, value: str, label: str) -> None:
    """``out[key] = value``, InputError naming ``label`` when the key is there already: a
    repeated element would silently replace the first. GeoReport v2 repeats a code only for
    the values of a ``multivaluelist`` attribute, and no service here has one."""
    if key in out:
        raise InputError(f"元素重复 (element given more than once): {label!r}")
    out[key] = value


def _split(data: dict[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    """Fields and attributes apart: ``attribute[code]`` keys, or an ``attribute`` object."""
    fields: dict[str, str] = {}
    attrs: dict[str, str] = {}
    if len(data) > MAX_FIELDS:
        raise InputError(f"字段过多 (too many fields): {len(data)} > {MAX_FIELDS}")
    for key, value in data.items():
        if key == "attribute" and isinstance(value, dict):
            attrs.update({str(k): _scalar(f"attribute[{k}]", v) for k, v in value.items()})
        elif key.startswith("attribute[") and key.endswith("]"):
            attrs[key[len("attribute[") : -1]] = _scalar(key, value)
        else:
            fields[key] = _scalar(key, value)
    return fields, attrs


def _scalar(key: str, value: Any) -> str:
    """A field's value as text (numbers and booleans as written); InputError for a list or
    an object."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float) or value is None:
        return "" if value is None else str(value)
    raise InputError(f"字段 {key} 应为单个值 (field must be a single value): {value!r}"[:300])
