"""Benchmark: one planner edit (issue 17: "fast enough to feel live").

On a draft of the sample community (510107013001), and of a large synthetic community (about
20,000 buildings: a rectangle of compounds of one-unit houses, written to the same database
and partitioned), times N ``move`` edits (a building to a neighbouring grid, then back), one
split, one merge and one undo

* through the functions of ``geo.plans`` (each edit its own transaction), with the stages of
  the edit engine (load, snapshot, edit, check, save), and
* through the HTTP API (uvicorn on loopback, as the tests serve it), the round trip a page
  makes;

each twice in the same run: the **fast** path (the community's cells cached per process, only
the touched grids checked) and the **old** path (``geo.plans.engine.CHECK_TOUCHED_ONLY`` and
``geo.plans.cache.ENABLED`` off: every edit loads and tessellates the community and validates
the whole draft before and after, as before this change). Prints p50 / p95, the ratio,
peak memory and the machine.

    python bench/plan_edit.py [--moves 40] [--big-buildings 20000] [--old-moves 6]
                              [--json bench/results/plan_edit.json]

Targets: an edit round trip under 300 ms at p95 on the fixture, under 1 s on 20,000
buildings.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import shapely

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import fixture_database, machine  # noqa: E402

FIXTURE = "510107013001"
BIG = "BIGEDIT0001"


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, round(q * (len(xs) - 1))))]


def summary(xs: list[float]) -> dict[str, float]:
    return {
        "n": len(xs),
        "p50_ms": round(1000 * statistics.median(xs), 1),
        "p95_ms": round(1000 * pct(xs, 0.95), 1),
        "max_ms": round(1000 * max(xs), 1),
    }


def use_old_path(old: bool) -> None:
    from geo.plans import cache, engine

    engine.CHECK_TOUCHED_ONLY = not old
    cache.ENABLED = not old
    cache.clear()


# --- the large community --------------------------------------------------------------
def big_community(n_buildings: int):
    """A rectangle of compounds (500 one-unit houses each, 10 × 8 m, 6 m apart; 2 to 4
    households a house) with 14 m roads between them."""
    from shapely.geometry import box

    from geo.partition import BuildingIn, CompoundIn, UnitIn
    from geo.synthetic.city import ORIGIN, SyntheticCommunity

    per_row, rows = 25, 20  # houses per compound: 500
    w, d, gap, road = 10.0, 8.0, 6.0, 14.0
    cw, ch = per_row * (w + gap) + gap, rows * (d + gap) + gap
    n_comp = -(-n_buildings // (per_row * rows))
    cols = int(n_comp**0.5 + 0.999)
    lines = -(-n_comp // cols)
    x0, y0 = ORIGIN[0] + 200_000, ORIGIN[1]
    boundary = box(x0, y0, x0 + cols * (cw + road) + road, y0 + lines * (ch + road) + road)
    compounds, buildings = [], []
    uid, made = 9_000_000, 0
    for c in range(n_comp):
        cx = x0 + road + (c % cols) * (cw + road)
        cy = y0 + road + (c // cols) * (ch + road)
        ccode = f"{BIG}-C{c + 1:02d}"
        compounds.append(CompoundIn(ccode, f"大社区小区{c + 1}", box(cx, cy, cx + cw, cy + ch)))
        for i in range(per_row * rows):
            if made >= n_buildings:
                break
            bx, by = cx + gap + (i % per_row) * (w + gap), cy + gap + (i // per_row) * (d + gap)
            uid += 1
            made += 1
            unit = UnitIn(uid, 1, 2, 2 + (i * 7 + c) % 3)
            buildings.append(
                BuildingIn(f"{ccode}-B{i + 1:03d}", box(bx, by, bx + w, by + d), ccode, (unit,))
            )
    return SyntheticCommunity(BIG, boundary, compounds, buildings)


def load_big(url: str, n_buildings: int) -> dict[str, Any]:
    """Write and partition the large community once (kept for later runs)."""
    from sqlalchemy import text

    from geo.store.db import make_engine, session_scope
    from geo.store.versions import partition_and_store
    from geo.synthetic.city import write_city

    engine = make_engine(url)
    out: dict[str, Any] = {}
    with session_scope(engine) as s:
        have = s.execute(
            text(
                "SELECT count(*) FROM building b JOIN community c ON c.id = b.community_id "
                "WHERE c.code = :c"
            ),
            {"c": BIG},
        ).scalar_one()
        published = s.execute(
            text(
                "SELECT count(*) FROM grid_version v JOIN community c ON c.id = v.community_id "
                "WHERE c.code = :c AND v.status = 'published'"
            ),
            {"c": BIG},
        ).scalar_one()
    if not have:
        t0 = time.perf_counter()
        comm = big_community(n_buildings)
        with session_scope(engine) as s:
            out["write"] = write_city(s, [comm])
        out["write_s"] = round(time.perf_counter() - t0, 1)
    if not published:
        t0 = time.perf_counter()
        with session_scope(engine) as s:
            _result, report, _ = partition_and_store(s, BIG, actor="bench")
        out["partition_s"] = round(time.perf_counter() - t0, 1)
        out["partition_errors"] = len(report.errors)
    with session_scope(engine) as s:
        out["buildings"], out["households"] = s.execute(
            text(
                "SELECT count(DISTINCT b.id), count(h.id) FROM building b JOIN community c ON "
                "c.id = b.community_id LEFT JOIN household h ON h.building_id = b.id "
                "WHERE c.code = :c"
            ),
            {"c": BIG},
        ).one()
    engine.dispose()
    return out


# --- choosing the edits -----------------------------------------------------------------
def border_moves(engine, pid: int, k: int) -> list[tuple[str, str, str]]:
    """Up to ``k`` (building, its grid, a neighbouring grid) whose move keeps both grids in
    one piece (as the tests choose them), each from a different grid."""
    from geo import plans
    from geo.core.crs import to_metric
    from geo.store.db import session_scope

    out: list[tuple[str, str, str]] = []
    with session_scope(engine) as s:
        plan = plans._plan(s, pid)
        ctx = plans._Context(s, plan)
        state = plans._load(s, plan.draft_version_id)
        used: set[str] = set()
        grids_of: dict[str, set[str]] = {}
        for c, x in state.items():
            for m in x.members:
                grids_of.setdefault(ctx.unit_building[m[0]], set()).add(c)
        for code in sorted(c for c, g in state.items() if g.level == "micro"):
            if len(out) >= k:
                break
            if code in used:
                continue
            g = state[code]
            units: dict[str, set[int]] = {}
            for m in g.members:
                units.setdefault(ctx.unit_building[m[0]], set()).add(m[0])
            if len(units) < 2 or g.cells:
                continue
            sibs = [
                x for x in plans._siblings(state, g.parent) if x is not g and x.code not in used
            ]
            for b, uids in [kv for kv in sorted(units.items()) if len(grids_of[kv[0]]) == 1][:4]:
                cell = shapely.union_all([ctx.cells[u] for u in uids])
                rest = plans._clean(shapely.difference(g.geom, cell))
                if len(shapely.get_parts(rest)) != 1:
                    continue
                n = next(
                    (
                        n
                        for n in sibs
                        if to_metric(
                            [shapely.intersection(shapely.boundary(cell), shapely.boundary(n.geom))]
                        )[0].length
                        > 5
                    ),
                    None,
                )
                if n is not None:
                    out.append((b, code, n.code))
                    used |= {code, n.code}
                    break
    return out


def split_merge_target(engine, pid: int) -> tuple[str, str]:
    """A micro-grid with two or more whole units and one of its units (to split off)."""
    from geo import plans
    from geo.store.db import session_scope

    with session_scope(engine) as s:
        plan = plans._plan(s, pid)
        ctx = plans._Context(s, plan)
        state = plans._load(s, plan.draft_version_id)
        for code, g in sorted(state.items()):
            if g.level == "micro" and len(g.members) >= 2 and all(m[1] is None for m in g.members):
                u = ctx.inp.units[g.members[0][0]]
                return code, f"{u.building}-U{u.unit_no}"
    raise RuntimeError("no grid to split")


# --- in process -------------------------------------------------------------------------
def run_functions(url: str, community: str, moves: int, label: str) -> dict[str, Any]:
    from geo import plans
    from geo.plans import cache
    from geo.plans import engine as plan_engine
    from geo.store.db import make_engine, session_scope

    engine = make_engine(url)
    with session_scope(engine) as s:
        pid = plans.create_plan(s, community, author="bench")["id"]
    t0 = time.perf_counter()
    candidates = border_moves(engine, pid, max(1, moves // 2))
    choose_s = time.perf_counter() - t0
    cache.clear()  # the first move builds the community's cells (cold), the others reuse them
    times: list[float] = []
    stages: dict[str, list[float]] = {}
    refused = 0

    def timed(call: Callable[[Any], Any]) -> float:
        nonlocal refused
        t = time.perf_counter()
        try:
            with session_scope(engine) as s:
                call(s)
        except plans.EditRefused:
            refused += 1
        dt = time.perf_counter() - t
        for k, v in plan_engine.LAST_TIMES.items():
            stages.setdefault(k, []).append(v)
        return dt

    i = 0
    while len(times) < moves and candidates:
        b, home, to = candidates[(i // 2) % len(candidates)]
        dest = to if i % 2 == 0 else home
        times.append(
            timed(
                lambda s, b=b, dest=dest: plans.move(s, pid, buildings=[b], to=dest, actor="bench")
            )
        )
        i += 1
    grid, unit = split_merge_target(engine, pid)
    new: dict[str, Any] = {}

    def do_split(s) -> None:
        new.update(plans.split(s, pid, grid=grid, buildings=[unit], actor="bench"))

    others = {
        "split": timed(do_split),
        "merge": timed(
            lambda s: plans.merge_grids(s, pid, grids=[grid, new["new"]], actor="bench")
        ),
        "undo": timed(lambda s: plans.undo(s, pid, actor="bench")),
    }
    t = time.perf_counter()
    with session_scope(engine) as s:
        report = plans.validate_plan(s, pid, actor="bench")
    validate_s = time.perf_counter() - t
    with session_scope(engine) as s:
        plans.discard(s, pid, actor="bench")
    engine.dispose()
    return {
        "path": label,
        "move": summary(times[1:]),
        "first_move_cold_ms": round(1000 * times[0], 1) if times else None,
        "stages_median_ms": {k: round(1000 * statistics.median(v), 1) for k, v in stages.items()},
        "split_merge_undo_ms": {k: round(1000 * v, 1) for k, v in others.items()},
        "refused": refused,
        "validate_ms": round(1000 * validate_s, 1),
        "validate_errors": len(report.errors),
        "choose_s": round(choose_s, 1),
        "peak_mib": round(peak_mib()),
    }


# --- over HTTP --------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def serve(url: str, old: bool) -> Iterator[str]:
    """The app in its own process (uvicorn on loopback, as the tests serve it), on the fast
    or the old path."""
    import httpx

    port = free_port()
    code = (
        "import sys, uvicorn; from geo.plans import cache, engine; "
        "engine.CHECK_TOUCHED_ONLY = sys.argv[3] != 'old'; cache.ENABLED = sys.argv[3] != 'old'; "
        "from api.app import create_app; "
        "uvicorn.run(create_app(sys.argv[1]), host='127.0.0.1', port=int(sys.argv[2]), "
        "log_level='warning')"
    )
    env = dict(os.environ) | {"PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-c", code, url, str(port), "old" if old else "fast"], cwd=ROOT, env=env
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(base + "/ping", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        proc.wait(30)


def run_http(
    url: str, community: str, moves: int, label: str, headers: dict[str, str]
) -> dict[str, Any]:
    import httpx

    from geo.store.db import make_engine

    with (
        serve(url, label == "old") as base,
        httpx.Client(base_url=base, headers=headers, timeout=600) as c,
    ):
        r = c.post("/plans", json={"community": community})
        r.raise_for_status()
        pid = r.json()["id"]
        engine = make_engine(url)
        candidates = border_moves(engine, pid, max(1, moves // 2))
        times: list[float] = []
        codes: dict[int, int] = {}

        def post(path: str, body: dict | None = None) -> tuple[float, Any]:
            t = time.perf_counter()
            r = c.post(f"/plans/{pid}{path}", json=body)
            dt = time.perf_counter() - t
            codes[r.status_code] = codes.get(r.status_code, 0) + 1
            return dt, r.json()

        i = 0
        while len(times) < moves and candidates:
            b, home, to = candidates[(i // 2) % len(candidates)]
            times.append(post("/move", {"buildings": [b], "to": to if i % 2 == 0 else home})[0])
            i += 1
        grid, unit = split_merge_target(engine, pid)  # as the moves left the draft
        engine.dispose()
        t_split, out = post("/split", {"grid": grid, "buildings": [unit]})
        t_merge, _ = post("/merge", {"grids": [grid, out.get("new", grid)]})
        t_undo, _ = post("/undo")
        c.post(f"/plans/{pid}/discard")
    return {
        "path": label,
        "move": summary(times[1:]),
        "first_move_cold_ms": round(1000 * times[0], 1) if times else None,
        "split_merge_undo_ms": {
            "split": round(1000 * t_split, 1),
            "merge": round(1000 * t_merge, 1),
            "undo": round(1000 * t_undo, 1),
        },
        "status_codes": codes,
    }


def planner_headers(url: str) -> dict[str, str]:
    from geo.runtime.auth import create_user
    from geo.store.db import make_engine, session_scope

    engine = make_engine(url)
    with session_scope(engine) as s:
        _, token = create_user(
            session=s, name=f"bench-planner-{os.getpid()}-{time.time_ns()}", role="planner"
        )
    engine.dispose()
    return {"Authorization": f"Bearer {token}"}


# --- main --------------------------------------------------------------------------------
def bench_community(
    url: str, community: str, moves: int, old_moves: int, http: bool
) -> dict[str, Any]:
    out: dict[str, Any] = {"community": community}
    headers = planner_headers(url)
    for label, n in (("fast", moves), ("old", old_moves)):
        if n < 2:
            continue
        use_old_path(label == "old")
        out[f"functions_{label}"] = run_functions(url, community, n, label)
        print(json.dumps(out[f"functions_{label}"], ensure_ascii=False), flush=True)
        if http:
            out[f"http_{label}"] = run_http(url, community, n, label, headers)
            print(json.dumps(out[f"http_{label}"], ensure_ascii=False), flush=True)
    use_old_path(False)
    for kind in ("functions", "http"):
        if f"{kind}_fast" in out and f"{kind}_old" in out:
            fast, old = out[f"{kind}_fast"]["move"], out[f"{kind}_old"]["move"]
            out[f"{kind}_speedup_p50"] = round(old["p50_ms"] / fast["p50_ms"], 1)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--moves", type=int, default=40)
    ap.add_argument("--old-moves", type=int, default=10)
    ap.add_argument("--big-buildings", type=int, default=20_000, help="0: the fixture only")
    ap.add_argument("--big-moves", type=int, default=20)
    ap.add_argument("--big-old-moves", type=int, default=2)
    ap.add_argument("--no-http", action="store_true")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    result: dict[str, Any] = {
        "machine": machine(),
        "args": {k: str(v) for k, v in vars(args).items()},
    }
    print(json.dumps(result["machine"]), flush=True)
    url = fixture_database()
    result["fixture"] = bench_community(url, FIXTURE, args.moves, args.old_moves, not args.no_http)
    if args.big_buildings:
        result["big_load"] = load_big(url, args.big_buildings)
        print(json.dumps(result["big_load"]), flush=True)
        result["big"] = bench_community(
            url, BIG, args.big_moves, args.big_old_moves, not args.no_http
        )
    result["peak_mib"] = round(peak_mib())
    text = json.dumps(result, ensure_ascii=False, indent=1)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
