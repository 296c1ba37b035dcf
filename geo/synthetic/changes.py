"""Changes to a stored synthetic city, as the benchmarks and tests make them before a
re-partition."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

__all__ = ["move_a_building"]


def move_a_building(session: Session, community: str, east_deg: float = 0.00003) -> int:
    """A change to one community's buildings, as a re-partition after it is measured and
    tested with: its first building (by code) moved ``east_deg`` degrees east (about 3 m),
    its households with it. The building's id back."""
    bid = int(
        session.execute(
            text(
                "SELECT b.id FROM building b JOIN community c ON c.id = b.community_id "
                "WHERE c.code = :c ORDER BY b.code LIMIT 1"
            ),
            {"c": community},
        ).scalar_one()
    )
    for table, col, key in (
        ("building", "footprint", "id"),
        ("household", "position", "building_id"),
    ):
        session.execute(
            text(f"UPDATE {table} SET {col} = ST_Translate({col}, :dx, 0) WHERE {key} = :b"),
            {"b": bid, "dx": east_deg},
        )
    return bid
