"""The address index: the buildings a standard address can name, found by dictionary lookups,
and the closest names of a wrong address (by shared character pairs)."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from geo.locate.index import IndexedBuilding

__all__ = ["MAX_POSTINGS", "AddressIndex", "standard_address"]

MAX_POSTINGS = 500  # a bigram in more compound names than this tells nothing about a typo


@dataclass
class AddressIndex:
    """The buildings an address can name, by compound name and building name, built once per
    locator (that is, per data version) from the buildings it holds. An address is found with
    dictionary lookups; the closest names of a wrong one come from the compounds sharing the
    most character pairs (bigrams) with it — never by reading every building.

    ``compounds``: compound name → the labels (``云锦城市花园3栋``) of its buildings;
    ``buildings``: (compound name, building name) → buildings (one per community holding such
    a compound); ``grams``: bigram → compound names holding it."""

    compounds: dict[str, list[str]]
    buildings: dict[tuple[str, str], list[IndexedBuilding]]
    grams: dict[str, list[str]]
    longest: int

    @classmethod
    def build(cls, buildings: Sequence[IndexedBuilding]) -> AddressIndex:
        compounds: dict[str, list[str]] = {}
        by_name: dict[tuple[str, str], list[IndexedBuilding]] = {}
        for b in buildings:
            if not b.compound:
                continue
            compounds.setdefault(b.compound, []).append(f"{b.compound}{b.name}")
            by_name.setdefault((b.compound, b.name), []).append(b)
        grams: dict[str, list[str]] = {}
        for name in compounds:
            for g in _bigrams(name):
                grams.setdefault(g, []).append(name)
        return cls(compounds, by_name, grams, max(map(len, compounds), default=0))

    def compound_in(self, place: str) -> str | None:
        """The longest compound name written in ``place`` (leftmost of equal length)."""
        for size in range(min(self.longest, len(place)), 0, -1):
            for i in range(len(place) - size + 1):
                if place[i : i + size] in self.compounds:
                    return place[i : i + size]
        return None

    def closest(self, asked: str, compound: str | None, n: int = 3) -> list[str]:
        """Up to ``n`` labels like ``asked``: among the buildings of ``compound`` when it is
        known, else of the five compounds sharing the most bigrams with it."""
        if compound is not None:
            labels = self.compounds.get(compound, [])
        else:
            score: dict[str, int] = {}
            for g in _bigrams(asked):
                names = self.grams.get(g, [])
                if len(names) <= MAX_POSTINGS:
                    for name in names:
                        score[name] = score.get(name, 0) + 1
            best = sorted(score, key=lambda k: (-score[k], k))[:5]
            labels = [label for name in best for label in self.compounds[name]]
        return difflib.get_close_matches(asked, labels, n=n, cutoff=0.3)


def _bigrams(s: str) -> set[str]:
    return {s[i : i + 2] for i in range(len(s) - 1)}


def standard_address(building: IndexedBuilding, unit_no: int | None) -> str:
    """The standard address of a building's unit, in the form :mod:`geo.core.address` reads:
    ``吉福社区云锦城市花园3栋2单元`` (community, compound, building, unit; a building of one
    unit is its ``1单元``). A building outside compounds (a street-side shop) is named by the
    community and its own name (``吉福社区吉福路124号 川北凉粉``); no unit, no ``单元``."""
    head = f"{building.community or ''}{building.compound or ''}{building.name}"
    if building.compound and unit_no is not None:
        return f"{head}{unit_no}单元"
    return head
