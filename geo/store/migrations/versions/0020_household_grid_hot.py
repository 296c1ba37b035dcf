"""Households' grids written in place (HOT updates): no index on ``household.grid_id``

Assigning a city's households rewrote every row's ``grid_id``. With that column indexed, no
update could be a HOT update: each wrote a new version of the row into all six indexes of the
table (the GiST of positions and the unique codes among them), 24 buffer accesses a row, and
took 40 % of the city's partitioning (70 ms of a community's 175). Without an index on the
column and with room on each page (``fillfactor = 45``: every row of a page can be rewritten
on the page once, its line pointer and the 4 bytes a grid id adds to a row without one
included, which 50 was short of for 3 rows in 500; later rewrites reuse the room the page's
pruning frees) the update writes the heap only: 87,000 households 2.0 s → 0.34 s.

What the index and the foreign key did is done by triggers, bounded by the grid's community
(a household's grid is always one of its building's community: the assignment resolves each
community's households against its own grids):

* ``household_grid_checked_update`` (after UPDATE, once a statement) and
  ``household_grid_checked_insert`` (after INSERT, a row, only rows with a grid): every grid
  the rows name exists and is of the community of the household's building, else
  ``foreign_key_violation`` naming the household and the grid; the grids are locked FOR KEY
  SHARE as a foreign key would (a concurrent delete of one waits for the commit, or is seen).
  An update is checked once, on the statement's distinct (building, grid) pairs, where the
  foreign key ran a query a row (4.8 µs a household).
* ``household_grid_cleared`` (after DELETE on ``grid``, once a statement) and
  ``household_grid_version_cleared`` (before DELETE on ``grid_version``, a row: its grids go by
  cascade, when the version is no longer there to name the community): the households of the
  deleted grids get no grid (the foreign key's ON DELETE SET NULL), found through their
  community's buildings rather than a scan of every household. The version's trigger first
  locks its grids FOR UPDATE: it waits for a transaction assigning households to them.
* ``household_grid_truncated`` (before TRUNCATE on ``grid``): no household keeps a grid.

Where they are weaker than a foreign key: the check is on the household's side only — moving
a building to another community, a grid to another version or a version to another community
(nothing in Wangge does) is not checked; a statement's check looks at every row it updated,
changed grid or not, and keeps them for it (a city-wide assignment's millions, in a temporary
file).

Queries for the households of a grid go through the grid's community's buildings too
(``building.community_id``, ``household.building_id``: both indexed).

An existing database: the fillfactor holds for the pages written from now on; ``VACUUM FULL
household`` (outside the migration, which runs in a transaction) rewrites the others with the
room. Households the old city-wide locator had put in a neighbouring community's grid lose it
(``_CROSS`` below); ``wangge assign households`` gives them their own community's.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

# the refusal both checks raise, naming the household and the grid
_REFUSE = r"""
CREATE FUNCTION wangge_household_grid_refuse(household text, grid integer) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING
        ERRCODE = 'foreign_key_violation',
        MESSAGE = format(
            '住户 %s 的网格 %s 不存在或不属于其楼栋所在社区 (household %s: grid %s does not '
            'exist or is not of its building''s community)', household, grid, household, grid);
END $$
"""

_CHECK = r"""
CREATE FUNCTION wangge_household_grid_check() RETURNS trigger LANGUAGE plpgsql
SET search_path = public, pg_temp AS $$
DECLARE
    bad record;
    who text;
BEGIN
    PERFORM 1 FROM grid WHERE id IN (SELECT n.grid_id FROM new_rows n WHERE n.grid_id IS NOT NULL)
        ORDER BY id FOR KEY SHARE;
    SELECT p.building_id, p.grid_id INTO bad
      FROM (SELECT DISTINCT n.building_id, n.grid_id FROM new_rows n WHERE n.grid_id IS NOT NULL) p
      LEFT JOIN grid g ON g.id = p.grid_id
      LEFT JOIN grid_version v ON v.id = g.version_id
      LEFT JOIN building b ON b.id = p.building_id
     WHERE v.id IS NULL OR b.community_id IS DISTINCT FROM v.community_id
     LIMIT 1;
    IF FOUND THEN
        SELECT n.code INTO who FROM new_rows n
         WHERE n.grid_id = bad.grid_id AND n.building_id IS NOT DISTINCT FROM bad.building_id
         LIMIT 1;
        PERFORM wangge_household_grid_refuse(who, bad.grid_id);
    END IF;
    RETURN NULL;
END $$
"""

# an INSERT with a grid (rare: households are imported without one), a row at a time: a
# statement-level check would keep every inserted row (a city's millions) for it
_CHECK_ROW = r"""
CREATE FUNCTION wangge_household_grid_check_row() RETURNS trigger LANGUAGE plpgsql
SET search_path = public, pg_temp AS $$
BEGIN
    PERFORM 1 FROM grid WHERE id = NEW.grid_id FOR KEY SHARE;
    IF NOT EXISTS (SELECT 1 FROM grid g JOIN grid_version v ON v.id = g.version_id
                     JOIN building b ON b.community_id = v.community_id
                    WHERE g.id = NEW.grid_id AND b.id = NEW.building_id) THEN
        PERFORM wangge_household_grid_refuse(NEW.code, NEW.grid_id);
    END IF;
    RETURN NULL;
END $$
"""

_CLEAR = r"""
CREATE FUNCTION wangge_household_grid_clear() RETURNS trigger LANGUAGE plpgsql
SET search_path = public, pg_temp AS $$
BEGIN
    UPDATE household h SET grid_id = NULL
     WHERE h.building_id IN (
             SELECT b.id FROM building b WHERE b.community_id IN (
               SELECT v.community_id FROM grid_version v
                WHERE v.id IN (SELECT o.version_id FROM old_rows o)))
       AND h.grid_id IN (SELECT o.id FROM old_rows o);
    RETURN NULL;
END $$
"""

_CLEAR_VERSION = r"""
CREATE FUNCTION wangge_household_grid_version_clear() RETURNS trigger LANGUAGE plpgsql
SET search_path = public, pg_temp AS $$
BEGIN
    -- wait for whoever is assigning households to these grids (their check holds them FOR KEY
    -- SHARE), so that the clearing below, a statement of its own, sees what they committed
    PERFORM 1 FROM grid WHERE version_id = OLD.id ORDER BY id FOR UPDATE;
    UPDATE household h SET grid_id = NULL
     WHERE h.building_id IN (SELECT b.id FROM building b WHERE b.community_id = OLD.community_id)
       AND h.grid_id IN (SELECT g.id FROM grid g WHERE g.version_id = OLD.id);
    RETURN OLD;
END $$
"""


# households whose grid is not of their building's community (none the assignment writes):
# no grid, as the check below would refuse them; ``wangge assign`` gives them one again
_CROSS = """
UPDATE household h SET grid_id = NULL WHERE h.grid_id IS NOT NULL AND NOT EXISTS (
    SELECT 1 FROM grid g JOIN grid_version v ON v.id = g.version_id
      JOIN building b ON b.community_id = v.community_id
     WHERE g.id = h.grid_id AND b.id = h.building_id)
"""

_TRUNCATE = r"""
CREATE FUNCTION wangge_household_grid_truncate() RETURNS trigger LANGUAGE plpgsql
SET search_path = public, pg_temp AS $$
BEGIN
    UPDATE household SET grid_id = NULL WHERE grid_id IS NOT NULL;
    RETURN NULL;
END $$
"""


def upgrade() -> None:
    op.execute(_CROSS)
    op.drop_constraint("fk_household_grid_id_grid", "household", type_="foreignkey")
    op.drop_index("ix_household_grid_id", table_name="household")
    op.execute("ALTER TABLE household SET (fillfactor = 45)")
    for sql in (_REFUSE, _CHECK, _CHECK_ROW, _CLEAR, _CLEAR_VERSION, _TRUNCATE):
        op.execute(sql)
    op.execute(
        "CREATE TRIGGER household_grid_checked_update AFTER UPDATE ON household "
        "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT "
        "EXECUTE FUNCTION wangge_household_grid_check()"
    )
    op.execute(
        "CREATE TRIGGER household_grid_checked_insert AFTER INSERT ON household FOR EACH ROW "
        "WHEN (NEW.grid_id IS NOT NULL) EXECUTE FUNCTION wangge_household_grid_check_row()"
    )
    op.execute(
        "CREATE TRIGGER household_grid_cleared AFTER DELETE ON grid REFERENCING OLD TABLE AS "
        "old_rows FOR EACH STATEMENT EXECUTE FUNCTION wangge_household_grid_clear()"
    )
    op.execute(
        "CREATE TRIGGER household_grid_version_cleared BEFORE DELETE ON grid_version FOR EACH "
        "ROW EXECUTE FUNCTION wangge_household_grid_version_clear()"
    )
    op.execute(  # TRUNCATE grid_version CASCADE truncates grid too, and fires this
        "CREATE TRIGGER household_grid_truncated BEFORE TRUNCATE ON grid FOR EACH STATEMENT "
        "EXECUTE FUNCTION wangge_household_grid_truncate()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER household_grid_truncated ON grid")
    op.execute("DROP TRIGGER household_grid_version_cleared ON grid_version")
    op.execute("DROP TRIGGER household_grid_cleared ON grid")
    for event in ("insert", "update"):
        op.execute(f"DROP TRIGGER household_grid_checked_{event} ON household")
    for name in ("check", "check_row", "clear", "version_clear", "truncate"):
        op.execute(f"DROP FUNCTION wangge_household_grid_{name}()")
    op.execute("DROP FUNCTION wangge_household_grid_refuse(text, integer)")
    op.execute("ALTER TABLE household RESET (fillfactor)")
    op.execute(
        "UPDATE household h SET grid_id = NULL WHERE h.grid_id IS NOT NULL AND NOT EXISTS "
        "(SELECT 1 FROM grid g WHERE g.id = h.grid_id)"
    )
    op.create_index("ix_household_grid_id", "household", ["grid_id"], unique=False)
    op.create_foreign_key(
        "fk_household_grid_id_grid",
        "household",
        "grid",
        ["grid_id"],
        ["id"],
        ondelete="SET NULL",
    )
