"""The grids as a feature layer: the layer's spec (for the OGC API and the tiles) and the
grids as GeoJSON, the current version or a published one by number."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from geo.errors import InputError
from geo.store.features import feature_collection
from geo.store.layers import LayerSpec

__all__ = ["GRIDS", "grid_features"]


GRIDS = LayerSpec(
    kind="grids",
    label=("网格", "grids"),
    table="grid",
    geom="area",
    geom_column="boundary",
    attrs=(),
    select=(
        "t.code",
        "t.name",
        "t.level",
        "pg.code AS parent_code",
        "t.households",
        "c.code AS community_code",
        "v.number AS version",
        "v.status AS version_status",
        # the floor ranges a micro-grid holds of units split by floors (1–12层), NULL otherwise;
        # with several such units, each named (1栋1单元 1–12层 / 2栋1单元 13–24层)
        "(SELECT CASE WHEN count(*) = 1 THEN min(fm.floor_min || '–' || fm.floor_max || '层') "
        "ELSE string_agg(fb.name || fu.unit_no || '单元 ' || fm.floor_min || '–' || fm.floor_max "
        "|| '层', ' / ' ORDER BY fb.code, fu.unit_no, fm.floor_min) END FROM grid_member fm "
        "JOIN building_unit fu ON fu.id = fm.unit_id JOIN building fb ON fb.id = fu.building_id "
        "WHERE fm.grid_id = t.id AND fm.floor_min IS NOT NULL) AS floors",
    ),
    joins="JOIN grid_version v ON v.id = t.version_id "
    "JOIN community c ON c.id = v.community_id "
    "LEFT JOIN grid pg ON pg.id = t.parent_id",
)


def grid_features(
    *,
    session: Session,
    level: str | None = None,
    bbox: tuple[float, float, float, float] | None = None,
    community: str | None = None,
    version: int | None = None,
    limit: int = 1000,
    offset: int = 0,
) -> dict[str, Any]:
    """Grids as GeoJSON: the current version, or ``version`` (a number, with ``community``)."""
    if level is not None and level not in ("community", "compound", "micro"):
        raise InputError(f"level 应为 community|compound|micro (invalid level): {level!r}")
    if version is not None and community is None:
        raise InputError("按版本查询需要 community (version needs community)")
    filters: dict[str, str] = {}
    if level:
        filters["level"] = level
    if community:
        filters["community_code"] = community
    # drafts are the planners' (under /plans), never public
    where = (
        "v.status = 'published'"
        if version is None
        else "v.number = :version AND v.status IN ('published', 'superseded')"
    )
    return feature_collection(
        session=session,
        kind=GRIDS,
        bbox=bbox,
        limit=limit,
        offset=offset,
        filters=filters,
        where=where,
        params={} if version is None else {"version": version},
    )
