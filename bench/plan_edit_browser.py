"""Benchmark: a planner's edit in the browser (issue 17, item 5: "fast enough to feel live").

Debian's Chromium (Playwright) on ``/app/planner`` served by the API on loopback (its own
process), signed in as a planner: a new draft, then N paint edits — a click on a building's
footprint moves it into a neighbouring grid, the next click moves it back — each timed

* **in the page**: from the click's handler to the changed grids fetched again, redrawn on
  the map and in the list, and the next animation frame painted (``WG.editor.timings``);
* **from outside**: from Playwright's mouse click to the page reporting the edit done.

On the sample community and on a large synthetic one (about 20,000 buildings, the same as
``bench/plan_edit.py`` writes). What a planner would otherwise have: the server's own round
trip (``bench/plan_edit.py``, ``http_fast``) measured here in the same run with httpx, so the
ratio says what the page adds. Prints p50 / p95, the machine, and peak memory (this process).

    python bench/plan_edit_browser.py [--moves 30] [--big-buildings 20000] [--big-moves 16]
                                      [--skip-fixture]
                                      [--json bench/results/plan_edit_browser.json]

Targets: p95 under 300 ms on the fixture, under 1 s on 20,000 buildings.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import shapely
from shapely.geometry import shape

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import fixture_database, machine  # noqa: E402
from bench.plan_edit import (  # noqa: E402
    BIG,
    FIXTURE,
    border_moves,
    load_big,
    peak_mib,
    serve,
    summary,
)

ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def planner(url: str) -> tuple[str, str]:
    from geo.runtime.auth import create_user
    from geo.store.db import make_engine, session_scope

    name, password = f"bench-editor-{os.getpid()}-{time.time_ns()}", "bench-editor-password"
    engine = make_engine(url)
    with session_scope(engine) as s:
        create_user(session=s, name=name, role="planner", password=password)
    engine.dispose()
    return name, password


def _idle(p) -> None:
    p.wait_for_function("() => window.WG.editor.pending === 0", timeout=120_000)


def run_page(browser, base: str, url: str, community: str, moves: int) -> dict[str, Any]:
    from geo.store.db import make_engine

    name, password = planner(url)
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    p = ctx.new_page()
    t0 = time.perf_counter()
    p.goto(f"{base}/app/planner?community={community}")
    p.get_by_test_id("login-name").fill(name)
    p.get_by_test_id("login-password").fill(password)
    p.get_by_test_id("login-submit").click()
    p.wait_for_function("() => window.WG && window.WG.ready", timeout=120_000)
    opened = time.perf_counter() - t0
    t0 = time.perf_counter()
    p.get_by_test_id("plan-new").click()
    p.wait_for_function("() => window.WG.editor.plan && window.WG.ready", timeout=120_000)
    _idle(p)
    drafted = time.perf_counter() - t0
    pid = p.evaluate("() => window.WG.editor.plan.id")
    grids = p.evaluate("() => Object.keys(window.WG.editor.grids).length")
    engine = make_engine(url)
    candidates = border_moves(engine, pid, max(1, moves // 2))
    engine.dispose()
    p.get_by_test_id("tool-paint").click()
    inside, outside, refused = [], [], 0
    i = 0
    while len(inside) < moves and candidates:
        b, home, to = candidates[(i // 2) % len(candidates)]
        target = to if i % 2 == 0 else home
        i += 1
        fc = p.evaluate(
            "async ([id, b]) => (await fetch(`/plans/${id}/buildings?codes=${b}`)).json()",
            [pid, b],
        )
        at = shapely.point_on_surface(shape(fc["features"][0]["geometry"]))
        p.get_by_test_id("paint-target").select_option(target)
        p.evaluate(
            "([lat, lon]) => window.WG.map.setView([lat, lon], 19, {animate: false})",
            [at.y, at.x],
        )
        p.wait_for_timeout(350)
        _idle(p)
        p.wait_for_function("(b) => !!window.WG.editor.buildings[b]", arg=b, timeout=60_000)
        x, y = p.evaluate(
            "([lon, lat]) => { const m = window.WG.map, pt = m.latLngToContainerPoint([lat, "
            "lon]), r = m.getContainer().getBoundingClientRect(); return [pt.x + r.left, "
            "pt.y + r.top] }",
            [at.x, at.y],
        )
        n = p.evaluate("() => window.WG.editor.timings.length")
        t = time.perf_counter()
        p.mouse.click(x, y)
        p.wait_for_function(
            "(n) => window.WG.editor.pending === 0 && (window.WG.editor.timings.length > n "
            "|| document.querySelector('[data-testid=message]').classList.contains('error'))",
            arg=n,
            timeout=120_000,
        )
        dt = time.perf_counter() - t
        if p.evaluate("() => window.WG.editor.timings.length") == n:
            refused += 1
            continue
        inside.append(p.evaluate("() => window.WG.editor.timings.at(-1).ms") / 1000)
        outside.append(dt)
    ctx.close()
    return {
        "community": community,
        "micro_grids": grids,
        "page_open_s": round(opened, 2),
        "new_draft_s": round(drafted, 2),
        "paint_in_page": summary(inside[1:]) if len(inside) > 1 else None,
        "paint_click_to_done": summary(outside[1:]) if len(outside) > 1 else None,
        "first_paint_ms": round(1000 * inside[0], 1) if inside else None,
        "refused": refused,
    }


def run_http(base: str, url: str, community: str, moves: int) -> dict[str, Any]:
    """The same moves through the API alone (what the page's round trip is made of)."""
    import httpx

    from bench.plan_edit import planner_headers
    from geo.store.db import make_engine

    with httpx.Client(base_url=base, headers=planner_headers(url), timeout=600) as c:
        pid = c.post("/plans", json={"community": community}).json()["id"]
        engine = make_engine(url)
        candidates = border_moves(engine, pid, max(1, moves // 2))
        engine.dispose()
        times = []
        i = 0
        while len(times) < moves and candidates:
            b, home, to = candidates[(i // 2) % len(candidates)]
            t = time.perf_counter()
            r = c.post(
                f"/plans/{pid}/move", json={"buildings": [b], "to": to if i % 2 == 0 else home}
            )
            changed = r.json().get("changed", [])
            c.get(f"/plans/{pid}/grids", params={"level": "micro", "codes": ",".join(changed)})
            times.append(time.perf_counter() - t)
            i += 1
        c.post(f"/plans/{pid}/discard")
    return {"move_and_refetch": summary(times[1:])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--moves", type=int, default=30)
    ap.add_argument("--big-buildings", type=int, default=20_000, help="0: the fixture only")
    ap.add_argument("--big-moves", type=int, default=16)
    ap.add_argument("--skip-fixture", action="store_true", help="the large community only")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    result: dict[str, Any] = {
        "machine": machine(),
        "args": {k: str(v) for k, v in vars(args).items()},
    }
    print(json.dumps(result["machine"]), flush=True)
    url = fixture_database()
    runs = [] if args.skip_fixture else [(FIXTURE, args.moves)]
    if args.big_buildings:
        result["big_load"] = load_big(url, args.big_buildings)
        print(json.dumps(result["big_load"]), flush=True)
        runs.append((BIG, args.big_moves))
    with serve(url, False) as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=ARGS)
        for community, n in runs:
            out = run_page(browser, base, url, community, n)
            out |= run_http(base, url, community, n)
            page, api = out["paint_in_page"], out["move_and_refetch"]
            if page and api:
                out["page_over_api_p50"] = round(page["p50_ms"] / api["p50_ms"], 2)
            result[community] = out
            print(json.dumps(out, ensure_ascii=False), flush=True)
        browser.close()
    result["peak_mib"] = round(peak_mib())
    text = json.dumps(result, ensure_ascii=False, indent=1)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
