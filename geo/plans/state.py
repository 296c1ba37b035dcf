"""The draft in memory: its grids (:class:`G`), the plan row, and what the edits need to know
about the community (:class:`_Context`, loaded lazily once per edit).

Geometry here is in the storage CRS, so that untouched vertices stay bit-identical.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import shapely
from shapely import Geometry
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import ConflictError, NotFoundError
from geo.partition.prepared import Prepared
from geo.plans import cache
from geo.settings import band
from geo.store.versions import CommunityInput

TOL_M2 = 0.01  # the validator's tolerance for gaps and overlaps
_UNIT = re.compile(r"^(?P<b>.+)-U(?P<n>\d+)$")


class EditRefused(ConflictError):
    """An edit that would break an invariant; nothing was changed. ``detail`` lists why."""

    code = "edit_refused"


# a grid member: (unit id, lowest floor, highest floor, households); floors None for a whole unit
Member = tuple[int, int | None, int | None, int]


@dataclass
class G:
    """A grid of the draft: geometry in the storage CRS."""

    code: str
    level: str
    parent: str | None
    name: str | None
    compound_id: int | None
    households: int
    locked: bool
    geom: Geometry
    members: list[Member] = field(default_factory=list)
    dirty: bool = False
    # unit id → cell (storage CRS) of each unit split by floors whose floors the grid holds:
    # it covers that cell whole, as every grid holding the unit's other floors does
    cells: dict[int, Geometry] = field(default_factory=dict)

    def touch(self, geom: Geometry | None = None) -> None:
        if geom is not None:
            self.geom = _clean(geom)
        self.households = sum(m[3] for m in self.members)
        self.dirty = True


def _clean(g: Geometry) -> Geometry:
    """Polygons only, valid, as a MultiPolygon (the column's type)."""
    if not shapely.is_valid(g):
        g = shapely.make_valid(g, method="structure", keep_collapsed=False)
    parts = [p for p in shapely.get_parts(g) if p.geom_type == "Polygon" and not p.is_empty]
    parts += [
        q
        for p in shapely.get_parts(g)
        if p.geom_type in ("MultiPolygon", "GeometryCollection")
        for q in shapely.get_parts(p)
        if q.geom_type == "Polygon"
    ]
    return shapely.MultiPolygon(parts) if parts else shapely.MultiPolygon()


@dataclass
class _Plan:
    id: int
    name: str
    community: str
    community_id: int
    author: str
    status: str
    base_version_id: int | None
    base_number: int | None
    draft_version_id: int
    draft_number: int


class _Context:
    """What the edits need about the community, loaded once per edit, lazily; the community's
    data (input, cells, footprints) comes from :mod:`geo.plans.cache`, shared by the edits of
    a process while that data is unchanged."""

    def __init__(self, session: Session, plan: _Plan) -> None:
        self.session = session
        self.plan = plan
        self._data: cache.Community | None = None
        params = session.execute(
            text("SELECT params FROM grid_version WHERE id = :v"), {"v": plan.draft_version_id}
        ).scalar()
        params = params or {}  # the band the grids were partitioned with
        self.lo, self.hi = band(params.get("min"), params.get("max"))

    @property
    def data(self) -> cache.Community:
        if self._data is None:
            p = self.plan
            self._data = cache.community(
                self.session, p.community, p.community_id, self.lo, self.hi
            )
        return self._data

    @property
    def inp(self) -> CommunityInput:
        return self.data.inp

    @property
    def footprints(self) -> dict[str, Geometry]:
        """Building code → footprint in the storage CRS."""
        return self.data.footprints(self.session)

    @property
    def unit_building(self) -> dict[int, str]:
        return self.data.unit_building

    def units_of(self, refs: Iterable[str]) -> set[int]:
        """Unit ids for building codes or unit codes (``<building>-U<n>``)."""
        by_building, by_unit = self.data.by_building, self.data.by_unit
        out: set[int] = set()
        for ref in refs:
            ref = str(ref).strip()
            if ref in by_building:
                out.update(by_building[ref])
                continue
            m = _UNIT.match(ref)
            if m and (m["b"], int(m["n"])) in by_unit:
                out.add(by_unit[(m["b"], int(m["n"]))])
                continue
            raise NotFoundError(
                f"楼栋或单元不存在或没有住户 (no such building or unit with households): {ref!r}"
            )
        return out

    @property
    def cells(self) -> dict[int, Geometry]:
        """Unit id → its share of the community (the partitioner's tessellation), in the
        storage CRS."""
        return self.data.cells()[0]

    @property
    def prep(self) -> Prepared:
        """The partitioner's preparation of the community (zones, atoms, cells; metric)."""
        return self.data.cells()[1]


def _plan(session: Session, plan_id: int, *, for_update: bool = False) -> _Plan:
    row = session.execute(
        text(
            "SELECT p.id, p.name, c.code, c.id, p.author, p.status, p.base_version_id, "
            "b.number, p.draft_version_id, d.number FROM plan p JOIN community c ON "
            "c.id = p.community_id JOIN grid_version d ON d.id = p.draft_version_id "
            "LEFT JOIN grid_version b ON b.id = p.base_version_id WHERE p.id = :p"
            + (" FOR UPDATE OF p" if for_update else "")
        ),
        {"p": plan_id},
    ).first()
    if row is None:
        raise NotFoundError(f"方案不存在 (no such plan): {plan_id}")
    return _Plan(*row)


def _editable(plan: _Plan) -> None:
    if plan.status not in ("draft", "validated"):
        raise ConflictError(
            f"方案 {plan.id} 已{_STATUS_ZH.get(plan.status, plan.status)}，不能再修改 "
            f"(plan {plan.id} is {plan.status}; only drafts can be edited)"
        )


_STATUS_ZH = {"published": "发布", "discarded": "放弃", "draft": "是草稿", "validated": "校验"}
