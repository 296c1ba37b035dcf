"""Search by service: what a resident types (居住证, 社保, 长者食堂 …) matched against the
services, kinds, names and descriptions of places, by substring after normalising and through
a small synonym table; the closest existing service names when nothing matches.

>>> terms("长者食堂") >= {"长者食堂", "老年食堂", "助餐点"}
True
>>> match(terms("ＳＨＥＢＡＯ 社 保"), ["党员活动", "社保办理"])
'社保办理'
>>> match(terms("篮球"), ["篮球场"])
'篮球场'
>>> suggest("居主证", ["居住证办理", "法律咨询", "理发"])[0]
'居住证办理'
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Iterable, Sequence

from geo.errors import InputError

__all__ = ["MAX_TERM", "SYNONYMS", "check_term", "match", "normalise", "suggest", "terms"]

MAX_TERM = 50  # characters: a longer service term is refused

# One group per line: a term equal to (or containing) any member searches for every member.
SYNONYMS: tuple[tuple[str, ...], ...] = (
    ("居住证", "居住登记", "暂住证"),
    ("社保", "社会保险", "社会保障卡", "社保卡"),
    ("医保", "医疗保险", "医保卡"),
    ("老年食堂", "长者食堂", "老年餐桌", "助餐点", "老年助餐", "长者助餐"),
    ("打印", "复印", "打印复印", "扫描"),
    ("篮球场", "篮球", "球场"),
    ("足球场", "足球"),
    ("跑道", "跑步", "田径跑道"),
    ("充电", "充电桩", "充电站"),
    ("停车", "停车场", "车位", "夜间停车"),
    ("户籍", "户口", "落户"),
    ("图书", "书屋", "图书借阅", "借书", "阅览室"),
    ("自习", "自习室"),
    ("会议室", "开会", "会场"),
    ("法律咨询", "法律援助", "律师"),
    ("心理咨询", "心理疏导"),
    ("就业", "就业指导", "找工作", "招聘"),
    ("养老", "养老服务", "为老服务"),
    ("托育", "托育服务", "托儿", "托管"),
    ("快递", "快递代收", "驿站"),
    ("理发", "剪发", "美发"),
    ("维修", "修理", "小家电维修"),
    ("缴费", "代缴水电气费", "水电气", "交电费", "交水费"),
    ("营业执照", "工商登记", "个体户"),
    ("税务", "税务代办", "报税"),
    ("残疾人服务", "残疾人", "残联"),
    ("民政救助", "救助", "低保"),
    ("老年优待证", "老年证", "敬老卡"),
    ("计生服务", "计划生育", "生育登记"),
    ("邻里议事", "议事", "居民议事"),
    ("志愿服务", "志愿者", "志愿"),
    ("政务服务", "政务自助终端", "办事", "政务"),
)


def normalise(text: str) -> str:
    """Full-width to half-width (NFKC), no spaces, case folded."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text)).casefold()


_GROUPS = tuple(tuple(normalise(m) for m in g) for g in SYNONYMS)


def check_term(service: str) -> str:
    """The normalised term; InputError naming it when it is empty or too long."""
    term = normalise(service)
    if not term or len(service.strip()) > MAX_TERM:
        raise InputError(
            f"服务名称应为 1–{MAX_TERM} 个字符 (service term must be 1–{MAX_TERM} characters): "
            f"{service!r}"
        )
    return term


def terms(service: str) -> set[str]:
    """The term and the members of every synonym group one of whose members it equals or
    contains (``我要办居住证`` → 居住证, 居住登记, 暂住证)."""
    term = normalise(service)
    out = {term}
    for group in _GROUPS:
        if any(m == term or m in term for m in group):
            out.update(group)
    return out


def match(searched: Iterable[str], texts: Sequence[str | None]) -> str | None:
    """The first of ``texts`` (in the order given) that holds one of the searched terms."""
    wanted = [t for t in searched if t]
    for text in texts:
        if text and any(t in normalise(text) for t in wanted):
            return text
    return None


def suggest(service: str, names: Iterable[str], n: int = 5) -> list[str]:
    """Up to ``n`` existing service names closest to ``service``: by difflib's ratio, then by
    the characters they share; a name sharing no character is never suggested."""
    term = normalise(service)
    chars = set(term)
    scored = []
    for name in set(names):
        norm = normalise(name)
        shared = len(chars & set(norm))
        if shared:
            ratio = difflib.SequenceMatcher(None, term, norm).ratio()
            scored.append((-ratio, -shared, len(name), name))
    return [s[3] for s in sorted(scored)[:n]]
