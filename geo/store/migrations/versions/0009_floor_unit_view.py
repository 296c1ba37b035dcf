"""floors are not places, served: the view floor_unit, one row per unit split by floors per
grid version — its cell once (the cell every micro-grid holding one of its floor ranges
covers), with its floor groups as text (label ``1–12层 / 13–24层``, grids, households)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02

The row is the unit's lowest floor group's membership (its id, its cell), so that a bounding
box on ``cell`` uses the GiST index of ``grid_member.cell``. Read by the OGC collection
``floor-units``, its vector tiles and the maps (``geo.store.versions.floor_units``). A view is not in
the models (Alembic compares tables only); a later migration that changes a column it reads
(``grid_member``, ``grid``, ``building_unit``, ``building``) drops and recreates it.
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

VIEW = """
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
    WHERE o.unit_id = m.unit_id AND og.version_id = g.version_id AND o.floor_min IS NOT NULL
) s
WHERE m.floor_min IS NOT NULL AND m.floor_min = s.lowest
"""


def upgrade() -> None:
    op.execute(VIEW)
    op.execute(
        "COMMENT ON VIEW floor_unit IS '分层单元 (units split by floors): one row per unit and "
        "grid version, its cell once, its floor groups as text'"
    )


def downgrade() -> None:
    op.execute("DROP VIEW floor_unit")
