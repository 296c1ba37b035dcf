"""Incident categories as people type them: the key (``cooking_fumes``), the Chinese label
(``油烟扰民``) or the English one, with surrounding spaces and full-width forms
(``ｃｏｏｋｉｎｇ＿ｆｕｍｅｓ``, an ideographic space) folded away; and the list a resident
picks from, by group."""

from __future__ import annotations

import unicodedata
from typing import Any

from geo.errors import InputError
from geo.store.models.vocabularies import INCIDENT_CATEGORIES, INCIDENT_CATEGORY_GROUPS

__all__ = ["category_key", "category_list", "vocabulary_key"]


def _fold(value: str) -> str:
    """What is compared: NFKC (full-width letters, digits, spaces → ASCII), no spaces at
    either end or inside, lower case."""
    folded = unicodedata.normalize("NFKC", value).strip().lower()
    return "".join(folded.split())


_BY_TEXT: dict[str, str] = {}
for _key, (_zh, _en) in INCIDENT_CATEGORIES.items():
    for _spelling in (_key, _zh, _en, _en.replace(" ", "_")):
        _BY_TEXT[_fold(_spelling)] = _key


def category_key(value: str) -> str:
    """The category key for what a person typed (key, Chinese or English label); InputError
    naming the value and listing the labels when it is none."""
    key = _BY_TEXT.get(_fold(value or ""))
    if key is None:
        labels = "、".join(f"{zh} ({k})" for k, (zh, _en) in INCIDENT_CATEGORIES.items())
        raise InputError(
            f"未知类别 (unknown category) {value!r}; 可选 (one of): {labels}",
            detail={"value": value, "labels": [zh for zh, _en in INCIDENT_CATEGORIES.values()]},
        )
    return key


def vocabulary_key(value: str | None, vocabulary: dict[str, tuple[str, str]], what: str) -> str:
    """The key of another vocabulary (key → Chinese, English label) for what a person typed,
    folded as categories are; InputError naming ``what`` and the value otherwise."""
    typed = _fold(value or "")
    for key, (zh, en) in vocabulary.items():
        if typed in {_fold(key), _fold(zh), _fold(en), _fold(en.replace(" ", "_"))}:
            return key
    choices = ", ".join(f"{k} {zh}" for k, (zh, _) in vocabulary.items())
    raise InputError(f"未知{what} (unknown {what}) {value!r}; 可选 (one of): {choices}")


def category_list() -> list[dict[str, Any]]:
    """Every category with its Chinese and English name and its group, in the groups'
    order (the list of ``GET /incidents/categories``)."""
    group_of = {k: g for g, keys in INCIDENT_CATEGORY_GROUPS.items() for k in keys}
    order = [k for keys in INCIDENT_CATEGORY_GROUPS.values() for k in keys]
    order += [k for k in INCIDENT_CATEGORIES if k not in group_of]
    return [
        {
            "key": k,
            "name": INCIDENT_CATEGORIES[k][0],
            "name_en": INCIDENT_CATEGORIES[k][1],
            "group": group_of.get(k, "其他"),
        }
        for k in order
    ]
