"""A draft's revision (ETag / If-Match → 409 stale_revision, race-free) and redo (issue 17:
two tabs or a GIS client editing one draft; undo and redo in the editor).

Real PostGIS, real HTTP (the app in uvicorn), two clients in two threads for the race."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from geo import plans
from geo.runtime.auth import create_user
from geo.store.db import downgrade, make_engine, migrate, session_scope

from .conftest import serve_app
from .test_plans import COMMUNITY, _border_of, _draft_bytes

pytestmark = pytest.mark.db


@pytest.fixture(scope="module")
def api(module_db: str) -> Iterator[tuple[str, dict[str, str], Any]]:
    """The app's base URL, a planner's headers, and an engine on the module's database."""
    engine = make_engine(module_db)
    with session_scope(engine) as s:
        _, token = create_user(session=s, name="planner_rev", role="planner")
    with serve_app(module_db) as base:
        yield base, {"Authorization": f"Bearer {token}"}, engine
    engine.dispose()


@pytest.fixture
def c(api) -> Iterator[httpx.Client]:
    base, headers, _ = api
    with httpx.Client(base_url=base, timeout=120, headers=headers) as client:
        yield client


def _new(c: httpx.Client) -> int:
    r = c.post("/plans", json={"community": COMMUNITY})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _moves(engine, pid: int, n: int = 1) -> list[tuple[str, str, str, int]]:
    """``n`` independent moves (grid, building, neighbour, households), each in another
    compound grid: any of them keeps the draft valid, whatever the others did."""
    out: list[tuple[str, str, str, int]] = []
    with session_scope(engine) as s:
        plan = plans._plan(s, pid)
        ctx = plans._Context(s, plan)
        state = plans._load(s, plan.draft_version_id)
        for grid in sorted(c for c, g in state.items() if g.level == "micro"):
            if any(state[grid].parent == state[o[0]].parent for o in out):
                continue
            found = _border_of(ctx, state, grid)
            if found:
                out.append((grid, *found))
                if len(out) == n:
                    return out
    raise AssertionError(f"fewer than {n} independent border buildings")


def _etag(r: httpx.Response) -> int:
    tag = r.headers["etag"]
    assert tag.startswith('"') and tag.endswith('"'), tag  # strong, quoted
    return int(tag[1:-1])


def _grids(c: httpx.Client, pid: int) -> tuple[dict[str, Any], int]:
    """The draft's micro-grids (code → the feature as served) and the answer's revision."""
    r = c.get(f"/plans/{pid}/grids", params={"level": "micro"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert _etag(r) == body["revision"]
    return {f["id"]: f for f in body["features"]}, body["revision"]


def _show(c: httpx.Client, pid: int) -> dict[str, Any]:
    r = c.get(f"/plans/{pid}")
    assert r.status_code == 200, r.text
    assert _etag(r) == r.json()["revision"]
    return r.json()


def _differ(a: dict[str, Any], b: dict[str, Any]) -> set[str]:
    """Codes present in only one, or whose geometry or households differ."""
    return {k for k in a.keys() | b.keys() if a.get(k) != b.get(k)}


def _post(c: httpx.Client, pid: int, what: str, body=None, **headers: str) -> httpx.Response:
    return c.post(f"/plans/{pid}/{what}", json=body, headers=headers)


# --- the revision ---------------------------------------------------------------------------
def test_every_change_adds_exactly_one_revision(c, api):
    engine = api[2]
    pid = _new(c)
    plan = _show(c, pid)
    assert (plan["revision"], plan["undo"], plan["redo"], plan["edits"]) == (1, 0, 0, [])
    (_, building, to, _), (other, *_) = _moves(engine, pid, 2)
    steps = [
        ("move", {"buildings": [building], "to": to}),
        ("lock", {"grids": [other]}),
        ("unlock", {"grids": [other]}),
        ("undo", None),
        ("redo", None),
        ("validate", None),
    ]
    rev = 1
    for what, body in steps:
        r = _post(c, pid, what, body)
        assert r.status_code == 200, (what, r.text)
        assert r.json()["revision"] == _etag(r) == rev + 1, what
        rev += 1
        assert _show(c, pid)["revision"] == rev
        assert _grids(c, pid)[1] == rev
    plan = _show(c, pid)
    assert (plan["undo"], plan["redo"]) == (3, 0)
    # an edit refused by the invariants, or nothing to redo: no new revision
    assert _post(c, pid, "redo").status_code == 409
    assert _post(c, pid, "move", {"buildings": [building], "to": "no-such"}).status_code == 404
    assert _show(c, pid)["revision"] == rev
    r = _post(c, pid, "discard")
    assert r.status_code == 200 and r.json()["revision"] == _etag(r) == rev + 1


def test_if_match_stale_is_refused_and_changes_nothing(c, api):
    engine = api[2]
    pid = _new(c)
    (_, b1, to1, _), (_, b2, to2, _) = _moves(engine, pid, 2)
    r = _post(c, pid, "move", {"buildings": [b1], "to": to1}, **{"If-Match": '"1"'})
    assert r.status_code == 200, r.text
    assert _etag(r) == 2 and (r.json()["undo"], r.json()["redo"]) == (1, 0)
    grids, _ = _grids(c, pid)
    stored = _draft_bytes(engine, pid)
    for stale in ('"1"', 'W/"1"', "1", '"1", "7"'):
        r = _post(c, pid, "move", {"buildings": [b2], "to": to2}, **{"If-Match": stale})
        assert r.status_code == 409, (stale, r.text)
        assert r.json()["code"] == "stale_revision"
        assert r.json()["detail"] == {"revision": 2, "given": "1" if "7" not in stale else "1, 7"}
        assert "etag" not in r.headers
    assert r.json()["message"] == (
        "草稿已被修改（现为第 2 版修订，请求基于第 1, 7 版），请重新载入 (the draft changed: "
        "revision 2, your request was based on 1, 7; reload it)"
    )
    r = _post(c, pid, "undo", **{"If-Match": '"1"'})
    assert r.status_code == 409 and r.json()["code"] == "stale_revision"
    assert _grids(c, pid) == (grids, 2) and _draft_bytes(engine, pid) == stored
    assert _show(c, pid)["undo"] == 1
    # the current revision, weak or strong, or *, or none at all (QGIS sends none)
    for tag, rev in (('"2"', 3), ('W/"3"', 4), ("*", 5), (None, 6)):
        headers = {"If-Match": tag} if tag else {}
        r = _post(c, pid, "lock" if rev % 2 else "unlock", {"grids": [to2]}, **headers)
        assert r.status_code == 200 and _etag(r) == rev, (tag, r.text)


def test_publish_with_a_stale_if_match_is_refused(c, api):
    pid = _new(c)
    (_, b, to, _) = _moves(api[2], pid)[0]
    assert _post(c, pid, "move", {"buildings": [b], "to": to}).status_code == 200
    for what in ("validate", "publish", "discard"):
        r = _post(c, pid, what, **{"If-Match": '"1"'})
        assert r.status_code == 409 and r.json()["code"] == "stale_revision", what
    plan = _show(c, pid)
    assert plan["status"] == "draft" and plan["revision"] == 2
    r = _post(c, pid, "validate", **{"If-Match": '"2"'})
    assert r.status_code == 200 and r.json()["revision"] == _etag(r) == 3
    r = _post(c, pid, "publish", **{"If-Match": '"3"'})
    assert r.status_code == 200, r.text
    assert r.json()["revision"] == _etag(r) == 4
    assert _show(c, pid)["status"] == "published"


def test_two_concurrent_moves_with_the_same_if_match_one_wins(api):
    base, headers, engine = api
    with httpx.Client(base_url=base, timeout=120, headers=headers) as c:
        pid = _new(c)
        before = _grids(c, pid)[0]
    moves = _moves(engine, pid, 2)
    gate = threading.Barrier(2)
    answers: list[httpx.Response] = [None, None]  # type: ignore[list-item]

    def run(i: int) -> None:
        _, building, to, _ = moves[i]
        with httpx.Client(base_url=base, timeout=120, headers=headers) as client:
            body = {"buildings": [building], "to": to}
            gate.wait()
            answers[i] = client.post(f"/plans/{pid}/move", json=body, headers={"If-Match": '"1"'})

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    codes = sorted(a.status_code for a in answers)
    assert codes == [200, 409], [a.text for a in answers]
    won = next(i for i, a in enumerate(answers) if a.status_code == 200)
    lost = answers[1 - won].json()
    assert lost["code"] == "stale_revision" and lost["detail"] == {"revision": 2, "given": "1"}
    with httpx.Client(base_url=base, timeout=120, headers=headers) as c:
        after, rev = _grids(c, pid)
        plan = _show(c, pid)
    assert rev == 2 and [e["summary"]["to"] for e in plan["edits"]] == [moves[won][2]]
    # only the winner's grids changed
    assert _differ(before, after) <= set(answers[won].json()["changed"])
    assert _differ(before, after) & {moves[won][0], moves[won][2]}
    assert not _differ(before, after) & {moves[1 - won][0], moves[1 - won][2]}


# --- redo -----------------------------------------------------------------------------------
def test_undo_then_redo_gives_back_the_same_grids_byte_for_byte(c, api):
    engine = api[2]
    pid = _new(c)
    (grid, building, to, hh), (g2, b2, _, _) = _moves(engine, pid, 2)
    states = [(_grids(c, pid)[0], _draft_bytes(engine, pid))]
    edits = [
        ("move", {"buildings": [building], "to": to}),
        ("split", {"grid": g2, "buildings": [b2]}),  # a new code
        ("merge", {"grids": sorted([grid, to])}),  # a code gone
    ]
    for what, body in edits:
        r = _post(c, pid, what, body)
        assert r.status_code == 200, (what, r.text)
        states.append((_grids(c, pid)[0], _draft_bytes(engine, pid)))
    assert states[1][0][to]["properties"]["households"] == (
        states[0][0][to]["properties"]["households"] + hh
    )
    assert set(states[2][0]) - set(states[1][0]) and set(states[2][0]) - set(states[3][0])
    for i in (3, 2, 1):
        r = _post(c, pid, "undo")
        assert r.status_code == 200, r.text
        out = r.json()
        assert out["undone"] == edits[i - 1][0] and out["seq"] == i
        assert (out["undo"], out["redo"]) == (i - 1, 3 - i + 1)
        assert _differ(states[i][0], states[i - 1][0]) <= set(out["changed"])
        assert _grids(c, pid)[0] == states[i - 1][0]
        assert _draft_bytes(engine, pid) == states[i - 1][1]
    plan = _show(c, pid)
    assert plan["edits"] == [] and (plan["undo"], plan["redo"]) == (0, 3)
    for i in (1, 2, 3):
        r = _post(c, pid, "redo")
        assert r.status_code == 200, r.text
        out = r.json()
        assert out["redone"] == edits[i - 1][0] and out["seq"] == i
        assert (out["undo"], out["redo"]) == (i, 3 - i)
        assert _differ(states[i - 1][0], states[i][0]) <= set(out["changed"])
        assert _grids(c, pid)[0] == states[i][0]
        assert _draft_bytes(engine, pid) == states[i][1]
    plan = _show(c, pid)
    assert [e["op"] for e in plan["edits"]] == ["move", "split", "merge"]
    with session_scope(engine) as s:
        actions = s.execute(
            text(
                "SELECT action, detail FROM audit_log WHERE entity = 'plan' AND entity_id = :p "
                "AND action IN ('plan_undo', 'plan_redo') ORDER BY id"
            ),
            {"p": str(pid)},
        ).all()
    assert [a for a, _ in actions] == ["plan_undo"] * 3 + ["plan_redo"] * 3
    assert [d["seq"] for _, d in actions] == [3, 2, 1, 1, 2, 3]


def test_a_new_edit_after_an_undo_empties_the_redo_stack(c, api):
    engine = api[2]
    pid = _new(c)
    (_, b1, to1, _), (_, b2, to2, _) = _moves(engine, pid, 2)
    assert _post(c, pid, "move", {"buildings": [b1], "to": to1}).status_code == 200
    assert _post(c, pid, "undo").json()["redo"] == 1
    r = _post(c, pid, "move", {"buildings": [b2], "to": to2})
    assert r.status_code == 200 and (r.json()["undo"], r.json()["redo"]) == (1, 0)
    rev = _etag(r)
    r = _post(c, pid, "redo")
    assert r.status_code == 409 and r.json()["code"] == "conflict"
    assert "没有可重做的修改 (nothing to redo)" in r.json()["message"]
    plan = _show(c, pid)
    assert plan["revision"] == rev and [e["summary"]["to"] for e in plan["edits"]] == [to2]


def test_twenty_moves_twenty_undos_twenty_redos(c, api):
    engine = api[2]
    pid = _new(c)
    grid, building, to, _ = _moves(engine, pid)[0]
    states = [_grids(c, pid)[0]]
    stored = [_draft_bytes(engine, pid)]
    for i in range(20):  # back and forth
        r = _post(c, pid, "move", {"buildings": [building], "to": to if i % 2 == 0 else grid})
        assert r.status_code == 200, (i, r.text)
        states.append(_grids(c, pid)[0])
        stored.append(_draft_bytes(engine, pid))
    assert states[1] != states[0] and states[2] != states[1]
    for i in range(20, 0, -1):
        out = _post(c, pid, "undo").json()
        assert out["seq"] == i and (out["undo"], out["redo"]) == (i - 1, 21 - i)
        assert _differ(states[i], states[i - 1]) <= set(out["changed"])
        assert _grids(c, pid)[0] == states[i - 1]
    assert _draft_bytes(engine, pid) == stored[0]
    assert _post(c, pid, "undo").status_code == 409
    for i in range(1, 21):
        out = _post(c, pid, "redo").json()
        assert out["seq"] == i and (out["undo"], out["redo"]) == (i, 20 - i)
        assert _grids(c, pid)[0] == states[i]
        assert _draft_bytes(engine, pid) == stored[i]
    assert _show(c, pid)["revision"] == 1 + 20 * 3


def test_undo_and_redo_name_the_grids_they_change_whatever_the_snapshot(c, api):
    """``changed`` of undo and redo: every grid that differs, the same whether the edit kept
    its compound's micro-grids or (the old path, an edit above the micro-grids) the whole
    draft's."""
    engine = api[2]
    pid = _new(c)
    grid, building, to, _ = _moves(engine, pid)[0]
    before = _grids(c, pid)[0]
    assert _post(c, pid, "move", {"buildings": [building], "to": to}).status_code == 200
    after = _grids(c, pid)[0]
    fast = _post(c, pid, "undo").json()["changed"]
    assert _differ(before, after) <= set(fast) and {grid, to} <= set(fast)
    assert len(fast) < len(after)
    assert _post(c, pid, "redo").json()["changed"] == fast
    with session_scope(engine) as s:  # as an edit of the old path stores it
        plan = plans._plan(s, pid)
        s.execute(
            text("UPDATE plan_edit SET before = CAST(:b AS jsonb) WHERE plan_id = :p"),
            {"p": pid, "b": json.dumps(_whole_before(s, plan.draft_version_id))},
        )
    assert _post(c, pid, "undo").json()["changed"] == fast
    assert _grids(c, pid)[0] == before
    assert _post(c, pid, "redo").json()["changed"] == fast
    assert _grids(c, pid)[0] == after


def _whole_before(s, vid: int) -> list[dict[str, Any]]:
    """The edit's snapshot of its compound's micro-grids as a snapshot of the whole draft
    (the other micro-grids as they are)."""
    from geo.plans.storage import _snapshot

    kept = s.execute(
        text(
            "SELECT before FROM plan_edit e JOIN plan p ON p.id = e.plan_id WHERE p.draft_version_id = :v"
        ),
        {"v": vid},
    ).scalar_one()
    old = {g["code"]: g for g in kept["grids"]}
    return [old.get(g["code"], g) for g in _snapshot(s, vid)]


# --- the migration --------------------------------------------------------------------------
def test_the_migration_downgrades_and_upgrades(fresh_db):
    engine = make_engine(fresh_db)
    with session_scope(engine) as s:
        pid = plans.create_plan(s, COMMUNITY, author="t")["id"]
    moves = _moves(engine, pid, 2)
    with session_scope(engine) as s:
        for _, b, to, _ in moves:
            plans.move(s, pid, buildings=[b], to=to, actor="t")
        plans.undo(s, pid, actor="t")
        assert plans.get_plan(s, pid)["revision"] == 4
    downgrade(engine, "0013")
    with session_scope(engine) as s:
        cols = set(
            s.execute(
                text(
                    "SELECT table_name || '.' || column_name FROM information_schema.columns "
                    "WHERE table_name IN ('plan', 'plan_edit')"
                )
            ).scalars()
        )
        assert not {"plan.revision", "plan_edit.undone", "plan_edit.after"} & cols
        # the undone edit is gone: the old undo would have undone it again
        assert s.execute(
            text("SELECT seq FROM plan_edit WHERE plan_id = :p"), {"p": pid}
        ).scalars().all() == [1]
    migrate(engine)
    with session_scope(engine) as s:
        plan = plans.get_plan(s, pid)
        assert (plan["revision"], plan["undo"], plan["redo"]) == (1, 1, 0)
        assert plans.undo(s, pid, actor="t")["revision"] == 2
        assert plans.redo(s, pid, actor="t")["redo"] == 0
    engine.dispose()
