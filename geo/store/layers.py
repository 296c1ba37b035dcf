"""The layers Wangge imports, exports and serves: one :class:`LayerSpec` per kind.

A spec names the table, the geometry it takes, its key, and its attributes (with types,
whether required, and the closed vocabulary when there is one). The same attribute names are
used by import files, exports and the API's GeoJSON properties, so an export can be imported
again unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from geo.store import models as m

__all__ = ["LAYERS", "Attr", "LayerSpec", "get_layer"]

GeomKind = Literal["area", "point", "line", "none"]


@dataclass(frozen=True)
class Attr:
    """One attribute of an input row."""

    name: str
    type: type = str
    required: bool = False
    choices: Mapping[str, tuple[str, str]] | None = None
    minimum: int | None = None
    personal: bool = False  # personal data: exported only on request, served only to some roles
    help: str = ""


@dataclass(frozen=True)
class LayerSpec:
    """One kind of layer: its table and geometry, its key and attributes, how export and the
    API select it, and which of it is personal. Its import handler is
    :data:`geo.io.kinds.HANDLERS` under the same kind."""

    kind: str
    label: tuple[str, str]  # Chinese, English
    table: str
    geom: GeomKind
    geom_column: str | None
    attrs: tuple[Attr, ...]
    key: str = "code"
    geom_optional: bool = False
    # SQL select list (aliases = attribute names) used by export and the API; {t} is the table
    select: tuple[str, ...] = field(default_factory=tuple)
    joins: str = ""
    # the table its personal attributes come from (names, phones): an export with them is
    # written for its owner only (0600) and audit-logged
    personal_table: str | None = None
    # it holds residents' own words (an incident's description): exported files are 0600
    free_text: bool = False

    @property
    def personal_attrs(self) -> list[str]:
        return [a.name for a in self.attrs if a.personal]

    @property
    def attr_names(self) -> list[str]:
        return [a.name for a in self.attrs]

    @property
    def geometry_types(self) -> tuple[str, ...]:
        return {
            "area": ("Polygon", "MultiPolygon"),
            "point": ("Point",),
            "line": ("LineString", "MultiLineString"),
            "none": (),
        }[self.geom]


def _code(required: bool = True) -> Attr:
    return Attr("code", str, required=required, help="unique key")


LAYERS: dict[str, LayerSpec] = {
    spec.kind: spec
    for spec in (
        LayerSpec(
            kind="communities",
            label=("社区", "communities"),
            table="community",
            geom="area",
            geom_column="boundary",
            attrs=(
                _code(),
                Attr("name", required=True),
                Attr("street_code", required=True, help="街道 code"),
                Attr("street_name", required=True, help="街道 name, e.g. 晋阳街道"),
                Attr("district", required=True, help="区 name, e.g. 武侯区"),
                Attr("city", help="市, default 成都市"),
            ),
            select=(
                "t.code",
                "t.name",
                "s.code AS street_code",
                "s.name AS street_name",
                "s.district",
                "s.city",
            ),
            joins="JOIN street s ON s.id = t.street_id",
        ),
        LayerSpec(
            kind="compounds",
            label=("小区/院落", "compounds"),
            table="compound",
            geom="area",
            geom_column="boundary",
            attrs=(
                _code(),
                Attr("name", required=True),
                Attr("community_code", required=True),
                Attr("address"),
            ),
            select=("t.code", "t.name", "c.code AS community_code", "t.address"),
            joins="JOIN community c ON c.id = t.community_id",
        ),
        LayerSpec(
            kind="buildings",
            label=("楼栋", "buildings"),
            table="building",
            geom="area",
            geom_column="footprint",
            attrs=(
                _code(),
                Attr("name", required=True, help="e.g. 3栋"),
                Attr("community_code", required=True),
                Attr("compound_code", help="empty for buildings outside any compound"),
                Attr("use", choices=m.BUILDING_USES, help="default residential"),
                Attr("floors", int, required=True, minimum=1),
                Attr("units", int, required=True, minimum=1),
                Attr("households", int, required=True, minimum=0),
                Attr(
                    "unit_households",
                    str,
                    help="households per unit, comma separated (default: spread evenly)",
                ),
                Attr("address"),
            ),
            select=(
                "t.code",
                "t.name",
                "c.code AS community_code",
                "p.code AS compound_code",
                "t.use",
                "t.floors",
                "t.units",
                "t.households",
                "(SELECT string_agg(u.households::text, ',' ORDER BY u.unit_no) "
                "FROM building_unit u WHERE u.building_id = t.id) AS unit_households",
                "t.address",
            ),
            joins="JOIN community c ON c.id = t.community_id "
            "LEFT JOIN compound p ON p.id = t.compound_id",
        ),
        LayerSpec(
            kind="households",
            label=("住户", "households"),
            table="household",
            geom="point",
            geom_column="position",
            geom_optional=True,
            attrs=(
                _code(),
                Attr("building_code", required=True),
                Attr("unit_no", int, required=True, minimum=1),
                Attr("floor", int, minimum=1),
                Attr("room", str),
                Attr("members", int, minimum=0),
                Attr("address"),
                Attr("head_name", personal=True, help="户主 name (personal data)"),
                Attr("phone", personal=True, help="phone (personal data)"),
            ),
            select=(
                "t.code",
                "b.code AS building_code",
                "u.unit_no",
                "t.floor",
                "t.room",
                "t.members",
                "t.address",
            ),
            joins="JOIN building b ON b.id = t.building_id "
            "JOIN building_unit u ON u.id = t.unit_id",
            personal_table="household_person",
        ),
        LayerSpec(
            kind="facilities",
            label=("服务场所", "service facilities"),
            table="facility",
            geom="point",
            geom_column="position",
            attrs=(
                _code(),
                Attr("name", required=True),
                Attr("kind", required=True, choices=m.FACILITY_KINDS),
                Attr("address"),
                Attr("phone"),
                Attr("opening_hours", help="OSM opening_hours, e.g. Mo-Fr 09:00-17:30"),
                Attr("services", list, help="services offered, separated by 、，, ; or |"),
                Attr("community_code"),
            ),
            select=(
                "t.code",
                "t.name",
                "t.kind",
                "t.address",
                "t.phone",
                "t.opening_hours",
                "t.services",
                "c.code AS community_code",
            ),
            joins="LEFT JOIN community c ON c.id = t.community_id",
        ),
        LayerSpec(
            kind="resources",
            label=("开放资源", "open resources"),
            table="open_resource",
            geom="point",
            geom_column="position",
            attrs=(
                _code(),
                Attr("name", required=True),
                Attr("kind", required=True, choices=m.RESOURCE_KINDS),
                Attr("owner_org", required=True, help="the organisation that opens it"),
                Attr("address"),
                Attr("phone"),
                Attr("opening_hours"),
                Attr("booking", help="how to book"),
                Attr("capacity", int, minimum=0),
                Attr("services", list, help="services offered, separated by 、，, ; or |"),
                Attr("community_code"),
            ),
            select=(
                "t.code",
                "t.name",
                "t.kind",
                "t.owner_org",
                "t.address",
                "t.phone",
                "t.opening_hours",
                "t.booking",
                "t.capacity",
                "t.services",
                "c.code AS community_code",
            ),
            joins="LEFT JOIN community c ON c.id = t.community_id",
        ),
        LayerSpec(
            kind="incidents",
            label=("事件", "incidents"),
            table="incident",
            geom="point",
            geom_column="position",
            attrs=(
                _code(),
                Attr("category", required=True),
                Attr("description", required=True),
                Attr("address"),
                Attr("status", choices=m.INCIDENT_STATUSES, help="default reported"),
                Attr("reported_at", str, help="ISO 8601 time; default now"),
                Attr("community_code"),
                Attr("reporter_name", personal=True),
                Attr("reporter_phone", personal=True),
                Attr("reporter_email", personal=True),
            ),
            select=(
                "t.code",
                "t.category",
                "t.description",
                "t.address",
                "t.status",
                "to_char(t.reported_at AT TIME ZONE 'Asia/Shanghai', "
                "'YYYY-MM-DD\"T\"HH24:MI:SS+08:00') AS reported_at",
                "c.code AS community_code",
            ),
            joins="LEFT JOIN community c ON c.id = t.community_id",
            personal_table="incident_reporter",
            free_text=True,
        ),
        LayerSpec(
            kind="roads",
            label=("道路", "roads"),
            table="road",
            geom="line",
            geom_column="geom",
            attrs=(_code(), Attr("name"), Attr("kind", required=True, choices=m.ROAD_KINDS)),
            select=("t.code", "t.name", "t.kind"),
        ),
        LayerSpec(
            kind="workers",
            label=("网格员", "grid workers"),
            table="worker",
            geom="none",
            geom_column=None,
            attrs=(
                _code(),
                Attr("name", required=True),
                Attr("role", required=True, choices=m.WORKER_ROLES),
                Attr("phone"),
                Attr("public_phone", bool, help="phone may be posted publicly (default true)"),
                Attr("community_code", required=True),
                Attr("grid_code", help="the grid the worker serves"),
                Attr("building_code", help="the building a building head (楼栋长) serves"),
                Attr("party_member", bool),
            ),
            select=(
                "t.code",
                "t.name",
                "t.role",
                "t.phone",
                "t.public_phone",
                "c.code AS community_code",
                "t.grid_code",
                "t.building_code",
                "t.party_member",
            ),
            # a worker whose community was deleted is kept, detached (community_code empty)
            joins="LEFT JOIN community c ON c.id = t.community_id",
        ),
    )
}


def get_layer(kind: str) -> LayerSpec:
    """The spec for ``kind``; an unknown kind is an :class:`~geo.errors.InputError`."""
    from geo.errors import InputError

    try:
        return LAYERS[kind]
    except KeyError:
        raise InputError(
            f"未知的数据类型 (unknown kind): {kind!r}; 可选 (one of): {', '.join(LAYERS)}"
        ) from None
