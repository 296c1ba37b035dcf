"""Deleting a community (`wangge delete --community`, `DELETE /communities/{code}`): one
transaction, everything that exists only because of it goes, what stands in it is kept with
its links cleared, every foreign key of the schema is accounted for, and re-importing the same
files afterwards is a plain import."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
from collections.abc import Callable

import httpx
import pytest
from sqlalchemy import text

from geo import plans
from geo.communities import (
    LINKS,
    delete_community,
    deleted_tables,
    deletion_preview,
    unhandled_foreign_keys,
)
from geo.errors import NotFoundError, SetupError
from geo.io.fixture import FIXTURE_DIR, manifest
from geo.runtime.auth import create_user
from geo.store.db import make_engine, session_scope

from .conftest import DATA_TABLES, ROOT, fingerprint, serve_app

pytestmark = pytest.mark.db

CODE = "510107013001"
# the tables whose rows a community's deletion removes, as the issue names them
NAMED = {
    "community",
    "compound",
    "building",
    "building_unit",
    "household",
    "grid",
    "grid_version",
    "plan",
}
CATALOGUE = text(
    "SELECT c.conrelid::regclass::text, a.attname, c.confrelid::regclass::text "
    "FROM pg_constraint c JOIN pg_attribute a ON a.attrelid = c.conrelid "
    "AND a.attnum = ANY(c.conkey) WHERE c.contype = 'f' "
    "AND c.confrelid::regclass::text = ANY(:t)"
)


# --- every foreign key is handled -----------------------------------------------------------
def test_every_foreign_key_to_a_deleted_table_is_handled(session):
    """The catalogue's foreign keys into every table the delete removes rows from are exactly
    those the delete declares: a table added later with such a key fails this test."""
    tables = sorted(NAMED | set(deleted_tables()))
    assert set(deleted_tables()) >= NAMED
    found = {tuple(r) for r in session.execute(CATALOGUE, {"t": tables}).all()}
    declared = {(x.table, x.column, x.parent) for x in LINKS}
    assert found == declared, {"not handled": found - declared, "stale": declared - found}
    assert len(found) >= 23  # household.grid_id is checked by triggers (migration 0020)
    assert unhandled_foreign_keys(session) == []


def test_a_new_table_pointing_at_a_household_stops_the_delete(session):
    session.execute(
        text(
            "CREATE TABLE household_note (id serial PRIMARY KEY, "
            "household_id bigint REFERENCES household(id), note text)"
        )
    )
    assert unhandled_foreign_keys(session) == ["household_note.household_id → household"]
    with pytest.raises(SetupError, match=r"household_note\.household_id"):
        deletion_preview(session=session, code=CODE)
    with pytest.raises(SetupError):
        delete_community(session=session, code=CODE, actor="test")


def test_an_unknown_community_is_named(session):
    with pytest.raises(NotFoundError, match="'NO-SUCH'"):
        deletion_preview(session=session, code="NO-SUCH")


# --- the delete itself ----------------------------------------------------------------------
def _counts(url: str) -> dict[str, int]:
    engine = make_engine(url)
    with session_scope(engine) as s:
        out = {
            t: s.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
            for t in sorted(set(DATA_TABLES) | set(deleted_tables()))
        }
    engine.dispose()
    return out


def _scalar(s) -> Callable[[str], object]:
    return lambda sql: s.execute(text(sql)).scalar_one()


def _setup_links(url: str) -> dict[str, int]:
    """A plan with an edit, and API users attached to the community's grids."""
    engine = make_engine(url)
    with session_scope(engine) as s:
        micro = s.execute(
            text(
                "SELECT g.code FROM grid g JOIN grid_version v ON v.id = g.version_id "
                "WHERE v.status = 'published' AND g.level = 'micro' ORDER BY g.code LIMIT 1"
            )
        ).scalar_one()
        plan = plans.create_plan(s, CODE, author="planner")
        plans.lock(s, plan["id"], grids=[micro], actor="planner")
        worker, _ = create_user(session=s, name="网格员甲", role="worker", grid_code=f"{CODE}-C02")
        planner, _ = create_user(session=s, name="规划员", role="planner")
        ids = {"worker": worker.id, "planner": planner.id, "plan": plan["id"]}
    engine.dispose()
    return ids


def test_delete_removes_the_community_keeps_what_stands_in_it_and_reimport_is_plain(cli, fresh_db):
    users = _setup_links(fresh_db)
    engine = make_engine(fresh_db)
    with session_scope(engine) as s:
        preview = deletion_preview(session=s, code=CODE)
    before = _counts(fresh_db)
    assert preview.deleted["plan"] == 1 and preview.deleted["plan_edit"] == 1
    assert preview.deleted["household"] == before["household"] == 4290

    ran = cli("delete", "--community", CODE, "--yes", "--author", "管理员", url=fresh_db)
    assert ran.code == 0, ran.err
    assert "incident 事件 (36)" in ran.out and f"{CODE}-E001" in ran.out
    assert "worker 网格员 (91)" in ran.out and f"{CODE}-W001" in ran.out
    assert f"#{users['worker']} 网格员甲 (worker, grid {CODE}-C02)" in ran.out
    assert "deleted" in ran.out and "audit-logged" in ran.out

    after = _counts(fresh_db)
    for table in deleted_tables():  # exactly what the preview said, and nothing else
        assert before[table] - after[table] == preview.deleted[table], table
        assert after[table] == 0, table  # the fixture's only community
    kept = {"incident", "facility", "open_resource", "worker", "app_user", "street", "road"}
    for table in kept:
        assert after[table] == before[table], table
    with session_scope(engine) as s:
        q = _scalar(s)
        assert q("SELECT count(*) FROM incident WHERE community_id IS NOT NULL") == 0
        assert q("SELECT count(*) FROM incident WHERE grid_id IS NOT NULL") == 0
        assert q("SELECT count(*) FROM incident_co_owner") == 0
        assert q("SELECT count(*) FROM facility WHERE community_id IS NOT NULL") == 0
        assert q("SELECT count(*) FROM open_resource WHERE community_id IS NOT NULL") == 0
        assert (
            q(
                "SELECT count(*) FROM worker WHERE community_id IS NOT NULL "
                "OR grid_code IS NOT NULL OR building_code IS NOT NULL"
            )
            == 0
        )
        assert q(f"SELECT grid_code IS NULL FROM app_user WHERE id = {users['worker']}")
        audit = s.execute(
            text(
                "SELECT actor, detail FROM audit_log WHERE action = 'delete' "
                "AND entity = 'community' AND entity_id = :c"
            ),
            {"c": CODE},
        ).all()
    assert len(audit) == 1 and audit[0][0] == "cli:管理员"
    assert audit[0][1]["deleted"] == preview.deleted
    assert {w["code"] for w in audit[0][1]["kept"]["worker"]} >= {f"{CODE}-W001"}

    # re-importing the same files is a plain import, and partitions
    man = manifest()
    for kind, filename in man["load_order"][:4]:  # communities, compounds, buildings, households
        ran = cli("import", str(FIXTURE_DIR / filename), "--kind", kind, url=fresh_db)
        assert ran.code == 0, (kind, ran.err)
    ran = cli("partition", "--community", CODE, url=fresh_db)
    assert ran.code == 0, ran.err
    with session_scope(engine) as s:
        q = _scalar(s)
        assert q("SELECT count(*) FROM household WHERE grid_id IS NULL") == 0
        # the kept incidents are found again by position when the community is partitioned
        assert q("SELECT count(*) FROM incident WHERE grid_id IS NOT NULL") == 36
    engine.dispose()


def _no_terminal(*args: str, url: str) -> subprocess.CompletedProcess:
    env = dict(os.environ) | {"WANGGE_DATABASE_URL": url, "NO_COLOR": "1", "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "api.cli", *args],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_without_a_terminal_or_yes_the_delete_is_refused(fresh_db):
    before = fingerprint(fresh_db)
    ran = _no_terminal("delete", "--community", CODE, url=fresh_db)
    assert ran.returncode == 1
    assert "household 户" in ran.stdout and "4,290" in ran.stdout  # the preview was shown
    assert "confirmation needed" in ran.stderr and "nothing deleted" in ran.stderr
    assert fingerprint(fresh_db) == before
    ran = _no_terminal("delete", "--community", "NO-SUCH", "--yes", url=fresh_db)
    assert ran.returncode == 1 and "no such community" in ran.stderr and "'NO-SUCH'" in ran.stderr
    assert fingerprint(fresh_db) == before


def _in_terminal(
    url: str, answer: str, before_answer: Callable[[], None] | None = None
) -> tuple[int, str]:
    """`wangge delete --community CODE` in a pseudo-terminal, answering the question."""
    master, slave = os.openpty()
    env = dict(os.environ) | {"WANGGE_DATABASE_URL": url, "NO_COLOR": "1", "TERM": "dumb"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "delete", "--community", CODE],
        cwd=ROOT,
        env=env,
        stdin=slave,
        stdout=slave,
        stderr=slave,
    )
    os.close(slave)
    seen = b""

    def read(until: bytes | None) -> None:
        nonlocal seen
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and (until is None or until not in seen):
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # the child closed the terminal
                    return
                if not chunk:
                    return
                seen += chunk
            elif proc.poll() is not None:
                return

    read(b"[y/N]")
    assert b"[y/N]" in seen, seen.decode(errors="replace")
    if before_answer:
        before_answer()
    os.write(master, answer.encode() + b"\n")
    read(None)
    proc.wait(60)
    os.close(master)
    return proc.returncode, seen.decode(errors="replace")


def test_a_declined_delete_changes_nothing(fresh_db):
    before = fingerprint(fresh_db)
    code, shown = _in_terminal(fresh_db, "n")
    assert code == 1 and "cancelled; nothing deleted" in shown
    assert fingerprint(fresh_db) == before


def test_data_changed_while_asking_refuses_the_delete(fresh_db):
    """What is deleted is what was shown: a change between the preview and the answer (here a
    user attached to one of its grids) refuses the delete, and nothing is deleted."""
    engine = make_engine(fresh_db)
    before: dict = {}

    def change() -> None:
        with session_scope(engine) as s:
            create_user(session=s, name="新网格员", role="worker", grid_code=f"{CODE}-C05")
        before.update(fingerprint(fresh_db))  # as the delete will find it

    code, shown = _in_terminal(fresh_db, "y", before_answer=change)
    assert code == 1 and "changed since the preview" in shown.replace("\r\n", " "), shown
    with session_scope(engine) as s:
        assert s.execute(text("SELECT count(*) FROM community")).scalar_one() == 1
    engine.dispose()
    assert fingerprint(fresh_db) == before


def test_a_confirmed_delete_in_a_terminal(fresh_db):
    code, shown = _in_terminal(fresh_db, "y")
    assert code == 0, shown
    engine = make_engine(fresh_db)
    with session_scope(engine) as s:
        assert s.execute(text("SELECT count(*) FROM community")).scalar_one() == 0
    engine.dispose()


# --- the API --------------------------------------------------------------------------------
def test_the_api_routes_are_for_admins_only(fresh_db):
    engine = make_engine(fresh_db)
    with session_scope(engine) as s:
        tokens = {
            role: create_user(session=s, name=role, role=role)[1]
            for role in ("admin", "planner", "dispatcher")
        }
    engine.dispose()
    auth = {role: {"Authorization": f"Bearer {t}"} for role, t in tokens.items()}
    with serve_app(fresh_db) as base, httpx.Client(base_url=base, timeout=60) as http:
        url = f"/communities/{CODE}"
        assert http.get(url + "/deletion").status_code == 401
        for role in ("planner", "dispatcher"):
            assert http.get(url + "/deletion", headers=auth[role]).status_code == 403
        r = http.get(url + "/deletion", headers=auth["admin"])
        assert r.status_code == 200, r.text
        preview = r.json()
        assert preview["done"] is False and preview["deleted"]["household"] == 4290
        assert len(preview["kept"]["incident"]) == 36
        before = fingerprint(fresh_db)
        r = http.delete("/communities/NO-SUCH", headers=auth["admin"])
        assert r.status_code == 404 and "'NO-SUCH'" in r.json()["message"]
        assert http.delete(url).status_code == 401
        r = http.delete(url, headers=auth["planner"])
        assert r.status_code == 403 and "admin" in r.json()["message"]
        assert fingerprint(fresh_db) == before
        r = http.delete(url, headers=auth["admin"])
        assert r.status_code == 200, r.text
        done = r.json()
        assert done["done"] is True
        assert done["deleted"] == preview["deleted"] and done["kept"] == preview["kept"]
        assert http.get("/communities").json()["numberMatched"] == 0
        assert http.get(url + "/deletion", headers=auth["admin"]).status_code == 404
    engine = make_engine(fresh_db)
    with session_scope(engine) as s:
        actor = s.execute(
            text("SELECT actor FROM audit_log WHERE action = 'delete' AND entity_id = :c"),
            {"c": CODE},
        ).scalar_one()
    engine.dispose()
    assert actor == "api:admin"
