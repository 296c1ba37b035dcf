"""What the edits need about a community, computed once per process and data version: its
input (buildings, units, households: :func:`geo.store.versions.load_community`), the
partitioner's preparation and the unit cells of its tessellation, the footprints, and the
look-ups by building and unit.

None of it depends on which grid holds which unit: the cells of units are a function of the
community's buildings, compounds, roads and the band; so a draft's edits share one copy
instead of re-tessellating the community on every edit. An entry is keyed by the database
(its oid: test databases cloned from one template do not share entries), the community and
the band, and is rebuilt when :func:`fingerprint` changes: any row of the community's
buildings, units or compounds, of the roads, or the community itself inserted, updated (a new
``xmin``) or deleted (a new count), or any household added (the largest id: Wangge never
updates a household, and removes them only with their buildings). Entries are also rebuilt after an hour
(:class:`~geo.store.dataversion.VersionedCache`), and at most eight communities are kept.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
import shapely
from shapely import Geometry
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.core.crs import from_metric
from geo.partition import pipeline
from geo.partition.prepared import Prepared
from geo.store.dataversion import VersionedCache
from geo.store.versions import CommunityInput, load_community

# (count, largest id, largest xmin) of a set of rows: any insert, update or delete changes it
_ROWS = "ARRAY[count(*), coalesce(max({t}.id), 0), coalesce(max({t}.xmin::text::bigint), 0)]"
_FINGERPRINT = (
    "SELECT (SELECT oid FROM pg_database WHERE datname = current_database()), "
    "(SELECT xmin::text::bigint FROM community WHERE id = :c), "
    f"(SELECT {_ROWS.format(t='b')} FROM building b WHERE b.community_id = :c), "
    f"(SELECT {_ROWS.format(t='u')} || coalesce(sum(u.households), 0) FROM building_unit u "
    "JOIN building b ON b.id = u.building_id WHERE b.community_id = :c), "
    "(SELECT coalesce(max(id), 0) FROM household), "
    f"(SELECT {_ROWS.format(t='p')} FROM compound p WHERE p.community_id = :c), "
    f"(SELECT {_ROWS.format(t='r')} FROM road r)"
)


@dataclass
class Community:
    """One community's data for the edits (see the module); the cells are computed on first
    use. Shared between the requests of a process: read it, never change it."""

    inp: CommunityInput
    lo: int
    hi: int
    unit_building: dict[int, str]
    by_building: dict[str, list[int]]
    by_unit: dict[tuple[str, int], int]
    # unit id → the indexes of its households in ``inp.households`` (their order kept)
    households_of: dict[int, list[int]]
    community_id: int
    _footprints: dict[str, Geometry] | None = None
    _cells: dict[int, Geometry] | None = None
    _prep: Prepared | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def cells(self) -> tuple[dict[int, Geometry], Prepared]:
        """Unit id → its share of the community (storage CRS), and the preparation (built
        once: requests asking meanwhile wait for it)."""
        with self._lock:
            return self._build_cells()

    def _build_cells(self) -> tuple[dict[int, Geometry], Prepared]:
        if self._cells is None or self._prep is None:
            prep = pipeline.prepare(self.inp, (self.lo, self.hi))
            parts: dict[int, list[Geometry]] = defaultdict(list)
            for a, c in zip(prep.atoms, prep.cells, strict=True):
                parts[a.unit_id].append(c)
            uids = list(parts)
            metric = [shapely.union_all(parts[u]) for u in uids]
            back = from_metric(np.asarray(metric, dtype=object)) if metric else []
            self._prep = prep
            self._cells = dict(zip(uids, back, strict=True))
        return self._cells, self._prep

    def footprints(self, session: Session) -> dict[str, Geometry]:
        """Building code → footprint in the storage CRS (read on first use)."""
        if self._footprints is None:
            rows = session.execute(
                text("SELECT code, ST_AsBinary(footprint) FROM building WHERE community_id = :c"),
                {"c": self.community_id},
            ).all()
            self._footprints = {r[0]: shapely.from_wkb(bytes(r[1])) for r in rows}
        return self._footprints

    def households_in(self, uids: set[int]) -> list[tuple[str, int, int | None]]:
        """The households of these units, in the order of ``inp.households``."""
        idx = sorted(i for u in uids for i in self.households_of.get(u, ()))
        return [self.inp.households[i] for i in idx]


_CACHE: VersionedCache[Community] = VersionedCache(size=8, max_age_s=3600.0)
ENABLED = True  # False: every edit loads and tessellates the community again (the old path)


def fingerprint(session: Session, community_id: int) -> tuple[object, ...]:
    row = session.execute(text(_FINGERPRINT), {"c": community_id}).one()
    return tuple(tuple(x) if isinstance(x, list) else x for x in row)


def community(session: Session, code: str, community_id: int, lo: int, hi: int) -> Community:
    """The community's data (see the module), from the cache when its data is unchanged."""
    if not ENABLED:
        return _build(session, code, community_id, lo, hi)
    key = fingerprint(session, community_id)
    name = (key[0], community_id, lo, hi)
    return _CACHE.get(name, key[1:], lambda: _build(session, code, community_id, lo, hi))


def clear() -> None:
    _CACHE.clear()


def _build(session: Session, code: str, community_id: int, lo: int, hi: int) -> Community:
    inp = load_community(session, code)
    by_building: dict[str, list[int]] = defaultdict(list)
    by_unit: dict[tuple[str, int], int] = {}
    for uid, u in inp.units.items():
        by_building[u.building].append(uid)
        by_unit[(u.building, u.unit_no)] = uid
    households_of: dict[int, list[int]] = defaultdict(list)
    for i, h in enumerate(inp.households):
        households_of[h[1]].append(i)
    return Community(
        inp,
        lo,
        hi,
        {uid: u.building for uid, u in inp.units.items()},
        dict(by_building),
        by_unit,
        dict(households_of),
        community_id,
    )
