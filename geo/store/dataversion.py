"""Data versions: a cheap key per kind of stored data that changes whenever Wangge changes that
data, so that an answer built from it (a page, the extent of a collection, an index) is built
once and reused until then.

Every key is read through an index or a small table — never a scan of geometries:

* ``grids``: the ids of the published grid versions (a partition or a published plan makes a
  new one; published grids are never edited in place);
* ``community``, ``compound``, ``building``, ``facility``, ``open_resource``: the number of
  rows and the largest id (imports add rows, deleting a community removes them; Wangge edits
  none of them in place);
* ``incident``: the largest id (reports add rows; incidents are never deleted).

A change made by hand in SQL that keeps the number of rows (an ``UPDATE``) is not seen:
:class:`VersionedCache` entries are therefore also rebuilt after ``max_age_s``.

>>> VersionedCache(size=2).get("x", (1,), lambda: "built")
'built'
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

from sqlalchemy import text
from sqlalchemy.orm import Session

__all__ = ["KEYS", "VersionedCache", "data_versions"]

_ROWS = "SELECT ARRAY[count(*), coalesce(max(id), 0)] FROM {table}"
KEYS: dict[str, str] = {
    "grids": "SELECT coalesce(array_agg(id ORDER BY id), '{}') FROM grid_version "
    "WHERE status = 'published'",
    "community": _ROWS.format(table="community"),
    "compound": _ROWS.format(table="compound"),
    "building": _ROWS.format(table="building"),
    "facility": _ROWS.format(table="facility"),
    "open_resource": _ROWS.format(table="open_resource"),
    "road": _ROWS.format(table="road"),
    "incident": "SELECT ARRAY[coalesce(max(id), 0)] FROM incident",
}


def data_versions(session: Session, names: Iterable[str]) -> dict[str, tuple[int, ...]]:
    """The current key of each kind of data in ``names`` (see :data:`KEYS`), in one statement."""
    wanted = sorted(set(names))
    unknown = [n for n in wanted if n not in KEYS]
    if unknown:
        raise KeyError(f"no data version for {unknown}; known: {sorted(KEYS)}")
    if not wanted:
        return {}
    cols = ", ".join(f"({KEYS[n]}) AS v{i}" for i, n in enumerate(wanted))
    row = session.execute(text(f"SELECT {cols}")).one()
    return {n: tuple(int(x) for x in (v or ())) for n, v in zip(wanted, row, strict=True)}


T = TypeVar("T")


@dataclass
class _Entry(Generic[T]):
    version: Hashable
    value: T
    at: float


class VersionedCache(Generic[T]):
    """Values built once per data version, for threads sharing them.

    ``get(name, version, build)`` returns the value kept for ``name`` when it was built for
    ``version`` less than ``max_age_s`` ago, else calls ``build()`` and keeps its result. One
    build per name at a time: callers asking meanwhile wait for it and share it. At most
    ``size`` names are kept, the least recently used leaving first. ``builds`` counts the
    builds (for tests and logs)."""

    def __init__(self, size: int = 32, max_age_s: float = 600.0) -> None:
        self.size, self.max_age_s = size, max_age_s
        self.builds = 0
        self._entries: OrderedDict[Hashable, _Entry[T]] = OrderedDict()
        self._locks: dict[Hashable, threading.Lock] = {}
        self._lock = threading.Lock()

    def _fresh(self, name: Hashable, version: Hashable) -> _Entry[T] | None:
        hit = self._entries.get(name)
        if hit is None or hit.version != version or time.monotonic() - hit.at > self.max_age_s:
            return None
        self._entries.move_to_end(name)
        return hit

    def get(self, name: Hashable, version: Hashable, build: Callable[[], T]) -> T:
        with self._lock:
            hit = self._fresh(name, version)
            if hit is not None:
                return hit.value
            lock = self._locks.setdefault(name, threading.Lock())
        with lock:
            with self._lock:
                hit = self._fresh(name, version)  # built while this one waited
                if hit is not None:
                    return hit.value
            try:
                value = build()
            except BaseException:
                with self._lock:  # nothing kept for a name that failed (an unknown one, say)
                    if name not in self._entries:
                        self._locks.pop(name, None)
                raise
            with self._lock:
                self._entries[name] = _Entry(version, value, time.monotonic())
                self._entries.move_to_end(name)
                self.builds += 1
                while len(self._entries) > self.size:
                    old, _ = self._entries.popitem(last=False)
                    self._locks.pop(old, None)
            return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
