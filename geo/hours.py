"""Opening hours: OSM ``opening_hours`` (``Mo-Fr 09:00-17:30; Sa 09:00-12:00``, read by
opening-hours-py) and the Chinese forms people write (``08:30-17:30``, ``周一至周五 9:00-17:00``,
``周一、周三 8:00-12:00``, ``每天 9:00-21:00``, ``全天``), open or not at a time in Asia/Shanghai.

>>> to_osm("周一至周五 9:00-17:00；周六 9:00-12:00")
'Mo-Fr 09:00-17:00; Sa 09:00-12:00'
>>> to_osm("8:30-17:30")
'08:30-17:30'
>>> is_open("周一至周五 9:00-17:00", datetime(2026, 12, 4, 10, 0, tzinfo=TZ))
True
>>> is_open("周一至周五 9:00-17:00", datetime(2026, 12, 5, 10, 0, tzinfo=TZ)) is False
True
>>> is_open(None, datetime(2026, 12, 5, 10, 0, tzinfo=TZ)) is None
True
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime
from zoneinfo import ZoneInfo

import opening_hours

__all__ = ["TZ", "is_open", "to_osm"]

TZ = ZoneInfo("Asia/Shanghai")
_DAYS = {"一": "Mo", "二": "Tu", "三": "We", "四": "Th", "五": "Fr", "六": "Sa", "日": "Su"}
_DAYS["天"] = "Su"
_DAYS["七"] = "Su"


def to_osm(hours: str) -> str:
    """The Chinese form of opening hours in OSM syntax (an OSM value is returned as it is)."""
    s = unicodedata.normalize("NFKC", hours).strip()
    if s in {"全天", "24小时", "全天24小时", "24/7"}:
        return "24/7"
    s = re.sub(r"(每天|每日|全周|周一至周日|周一到周日)\s*", "Mo-Su ", s)
    s = re.sub(
        r"(?:周|星期)([一二三四五六日天七])\s*(?:至|到|-|~|—)\s*(?:周|星期)?([一二三四五六日天七])",
        lambda m: f"{_DAYS[m.group(1)]}-{_DAYS[m.group(2)]} ",
        s,
    )
    s = re.sub(r"(?:周|星期)([一二三四五六日天七])", lambda m: f"{_DAYS[m.group(1)]} ", s)
    s = re.sub(r"\s*[、,]\s*(?=[A-Z])", ",", s)  # day lists: Mo、We → Mo,We
    s = re.sub(r"\s*[;；]\s*", "; ", s)
    s = re.sub(r"\s*[~～—至到]\s*(?=\d)", "-", s)
    s = re.sub(r"(?<!\d)(\d):(\d\d)", r"0\1:\2", s)
    s = re.sub(r"\s*[,，、]\s*(?=\d)", ",", s)
    return re.sub(r" +", " ", s).strip()


def is_open(hours: str | None, at: datetime) -> bool | None:
    """Whether a place with these opening hours is open at ``at`` (None when there are no
    hours, or they cannot be read)."""
    if not hours or not hours.strip():
        return None
    local = at.astimezone(TZ).replace(tzinfo=None)
    for value in dict.fromkeys((hours, to_osm(hours))):
        try:
            return bool(opening_hours.OpeningHours(value).is_open(local))
        except Exception:
            continue
    return None
