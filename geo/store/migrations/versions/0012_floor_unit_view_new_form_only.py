"""the view floor_unit shows only units whose floor groups share a stored cell: a version
partitioned before 0008 (floor ranges cut into strips, no cell on the memberships) has none,
and its rows there had no geometry (the maps failed on them)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def _view(new_form_only: bool) -> str:
    cell = " AND o.cell IS NOT NULL" if new_form_only else ""
    where = " AND m.cell IS NOT NULL" if new_form_only else ""
    return f"""
CREATE VIEW floor_unit AS
SELECT m.id,
       g.version_id,
       m.unit_id,
       b.code || '-U' || u.unit_no AS code,
       b.code AS building_code,
       b.name AS building_name,
       u.unit_no,
       s.label,
       s.grids,
       s.households,
       m.cell
FROM grid_member m
JOIN grid g ON g.id = m.grid_id
JOIN building_unit u ON u.id = m.unit_id
JOIN building b ON b.id = u.building_id
CROSS JOIN LATERAL (
    SELECT string_agg(o.floor_min || '–' || o.floor_max || '层', ' / ' ORDER BY o.floor_min)
               AS label,
           string_agg(og.code, ' / ' ORDER BY o.floor_min) AS grids,
           CAST(sum(o.households) AS integer) AS households,
           min(o.floor_min) AS lowest
    FROM grid_member o
    JOIN grid og ON og.id = o.grid_id
    WHERE o.unit_id = m.unit_id AND og.version_id = g.version_id
      AND o.floor_min IS NOT NULL{cell}
) s
WHERE m.floor_min IS NOT NULL AND m.floor_min = s.lowest{where}
"""


COMMENT = (
    "COMMENT ON VIEW floor_unit IS '分层单元 (units split by floors): one row per unit and "
    "grid version, its cell once, its floor groups as text'"
)


def upgrade() -> None:
    op.execute("DROP VIEW floor_unit")
    op.execute(_view(new_form_only=True))
    op.execute(COMMENT)


def downgrade() -> None:
    op.execute("DROP VIEW floor_unit")
    op.execute(_view(new_form_only=False))
    op.execute(COMMENT)
