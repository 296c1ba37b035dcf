"""Standard Chinese addresses: parsing ``吉福社区云锦城市花园3栋2单元502`` into its parts.

Tolerant of the usual variants: 栋 / 幢 / 号楼 / 座 for a building, full-width digits
(３栋), Chinese numerals (三栋, 十二幢), spaces, and a leading city / district / street
(成都市武侯区晋阳街道…).

>>> parse_address("成都市武侯区晋阳街道吉福社区云锦城市花园３号楼二单元502室")
Address(place='成都市武侯区晋阳街道吉福社区云锦城市花园', building=3, unit=2, room='502')
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

__all__ = ["Address", "chinese_number", "normalise", "parse_address"]

_DIGITS = {
    "零": 0,
    "〇": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}


def chinese_number(text: str) -> int | None:
    """``十二`` → 12, ``二十`` → 20, ``三`` → 3, ``12`` → 12; None when it is not a number."""
    if text.isdigit():
        return int(text)
    if not text or any(ch not in _DIGITS and ch not in "十百" for ch in text):
        return None
    total, current = 0, 0
    for ch in text:
        if ch in _DIGITS:
            current = _DIGITS[ch]
        elif ch == "十":
            total += (current or 1) * 10
            current = 0
        elif ch == "百":
            total += (current or 1) * 100
            current = 0
    return total + current


def normalise(text: str) -> str:
    """Full-width to half-width, no spaces."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text))


@dataclass(frozen=True)
class Address:
    """The parts of an address. ``place`` is everything before the building number (city,
    district, street, community and compound names, in whatever form they were written);
    it is matched against the stored names by :mod:`geo.locate`."""

    place: str
    building: int | None
    unit: int | None
    room: str | None


_NUM = r"(?:\d+|[零〇一二两三四五六七八九十百]+)"
_TAIL = re.compile(
    rf"(?P<building>{_NUM})(?:栋|幢|号楼|座|号)"
    rf"(?:(?P<unit>{_NUM})单元)?"
    r"(?:(?P<room>\d+)(?:室|号|房)?)?$"
)


def parse_address(text: str) -> Address | None:
    """The parts of a standard address, or None when it names no building."""
    s = normalise(text)
    m = _TAIL.search(s)
    if not m or m.start() == 0:
        return None
    return Address(
        place=s[: m.start()],
        building=chinese_number(m.group("building")),
        unit=chinese_number(m.group("unit")) if m.group("unit") else None,
        room=m.group("room"),
    )
