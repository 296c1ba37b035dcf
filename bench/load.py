"""Load test: 50 concurrent clients for 60 s against the API on loopback, a mix of what
residents and dispatchers do at once — ``/nearby`` by position (15 connections), ``/locate``
(15), ``POST /incidents`` with an Idempotency-Key each (10) and a vector tile (10) — with wrk,
on the sample community in the project's own PostGIS. Prints per endpoint: requests/s, p50,
p99, errors (non-2xx and socket errors), beside ``/ping`` (the same app doing nothing) as the
ceiling; then checks that every report acknowledged with 201 is in the database.

    python bench/load.py [--seconds 60] [--json bench/results/load.json]

The reports it files are deleted afterwards (their description carries a run marker). The
public report rate limits are lifted for the server under test (WANGGE_REPORT_RATE_PER_MINUTE,
WANGGE_REPORT_CEILING_PER_MINUTE).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import api_server, fixture_database, machine  # noqa: E402

LUA_GET = """
local paths = {%(paths)s}
local i = 0
request = function()
  i = i %% #paths + 1
  return wrk.format("GET", paths[i])
end
"""
LUA_POST = """
-- every acknowledged report's key is appended to a file, to check them one by one afterwards
local threads = {}
n = 0
setup = function(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end
init = function(args)
  acked = io.open("%(acked)s." .. tid, "a")
end
request = function()
  n = n + 1
  local key = "%(marker)s-" .. tid .. "-" .. n
  local body = '{"category": "noise", "description": "%(marker)s ' .. key .. '", "lon": %(lon)s, "lat": %(lat)s, "crs": "cgcs2000"}'
  return wrk.format("POST", "/incidents", {["Content-Type"] = "application/json", ["Idempotency-Key"] = key}, body)
end
response = function(status, headers, body)
  if status == 201 then
    local key = string.match(body, '"description":"%(marker)s ([^"]+)"')
    if key then acked:write(key .. "\\n"); acked:flush() end
  end
end
"""


def wrk(url: str, connections: int, seconds: int, script: str) -> dict:
    cmd = [
        "wrk",
        "-t",
        "1",
        "-c",
        str(connections),
        "-d",
        f"{seconds}s",
        "--latency",
        "-s",
        script,
        url,
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 120).stdout

    def pct(p: str) -> float:
        m = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)\b", out)
        v, unit = float(m.group(1)), m.group(2)
        return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v

    total = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    kinds = {"non_2xx": int(non2xx.group(1)) if non2xx else 0}
    if sock:
        kinds |= dict(
            zip(("connect", "read", "write", "timeout"), map(int, sock.groups()), strict=True)
        )
    return {
        "requests": total,
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50_ms": pct("50"),
        "p99_ms": pct("99"),
        "errors": sum(kinds.values()),
        "error_kinds": {k: v for k, v in kinds.items() if v},
    }


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    return int((lon + 180) / 360 * n), int(
        (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    args = ap.parse_args()
    from sqlalchemy import text

    from geo.store.db import get_engine, session_scope

    url = fixture_database()
    engine = get_engine(url)
    with session_scope(engine) as s:
        pts = s.execute(
            text(
                "SELECT ST_X(p), ST_Y(p) FROM (SELECT (ST_Dump(ST_GeneratePoints(boundary, 1000, "
                "11))).geom p FROM community WHERE code = '510107013001') q"
            )
        ).all()
        cx, cy = s.execute(
            text(
                "SELECT ST_X(ST_Centroid(boundary)), ST_Y(ST_Centroid(boundary)) FROM community "
                "WHERE code = '510107013001'"
            )
        ).one()
    marker = f"LOAD{uuid.uuid4().hex[:10]}"
    rate = {
        "WANGGE_REPORT_RATE_PER_MINUTE": "10000000",
        "WANGGE_REPORT_CEILING_PER_MINUTE": "10000000",
    }
    with api_server(url, 19000 + os.getpid() % 1000, rate, args.workers) as base:
        import httpx

        # warm the locator and the network
        httpx.get(f"{base}/locate?lon={pts[0][0]}&lat={pts[0][1]}&crs=cgcs2000", timeout=60)
        httpx.get(f"{base}/nearby?lon={pts[0][0]}&lat={pts[0][1]}&crs=cgcs2000&limit=3", timeout=60)
        tiles = []
        for z in (15, 16, 17):
            x, y = tile_of(cx, cy, z)
            tiles += [
                f"/tiles/{c}/{z}/{x + dx}/{y + dy}.mvt"
                for c in ("buildings", "grids-micro", "facilities")
                for dx in (-1, 0, 1)
                for dy in (-1, 0, 1)
            ]
        scripts = {}
        with tempfile.TemporaryDirectory() as tmp:

            def lua(name: str, body: str) -> str:
                p = Path(tmp) / f"{name}.lua"
                p.write_text(body)
                return str(p)

            scripts["nearby"] = lua(
                "nearby",
                LUA_GET
                % {
                    "paths": ", ".join(
                        f'"/nearby?lon={x!r}&lat={y!r}&crs=cgcs2000&limit=3"' for x, y in pts
                    )
                },
            )
            scripts["locate"] = lua(
                "locate",
                LUA_GET
                % {
                    "paths": ", ".join(
                        f'"/locate?lon={x!r}&lat={y!r}&crs=cgcs2000"' for x, y in pts
                    )
                },
            )
            scripts["tiles"] = lua("tiles", LUA_GET % {"paths": ", ".join(f'"{t}"' for t in tiles)})
            acked_file = Path(tmp) / "acked"
            scripts["incidents"] = lua(
                "incidents",
                LUA_POST
                % {"marker": marker, "lon": pts[1][0], "lat": pts[1][1], "acked": acked_file},
            )
            scripts["ping"] = lua("ping", LUA_GET % {"paths": '"/ping"'})
            ceiling = wrk(base, 50, min(args.seconds, 20), scripts["ping"])
            mix = {"nearby": 15, "locate": 15, "incidents": 10, "tiles": 10}
            results: dict[str, dict] = {}

            def run(name: str, conns: int) -> None:
                results[name] = wrk(base, conns, args.seconds, scripts[name]) | {
                    "connections": conns
                }

            threads = [threading.Thread(target=run, args=item) for item in mix.items()]
            t0 = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            wall = time.perf_counter() - t0
            acked = {
                line.strip()
                for f in Path(tmp).glob("acked.*")
                for line in f.read_text().splitlines()
                if line.strip()
            }
    with session_scope(engine) as s:
        stored = s.execute(
            text(
                "SELECT count(*), count(DISTINCT description) FROM incident WHERE description LIKE :m"
            ),
            {"m": marker + " %"},
        ).one()
        keys = {
            d.split(" ", 1)[1]
            for d in s.execute(
                text("SELECT description FROM incident WHERE description LIKE :m"),
                {"m": marker + " %"},
            ).scalars()
        }
        s.execute(text("DELETE FROM idempotency_key WHERE key LIKE :m"), {"m": marker + "-%"})
        s.execute(text("DELETE FROM incident WHERE description LIKE :m"), {"m": marker + " %"})
    report = {
        "machine": machine(),
        "seconds": args.seconds,
        "workers": args.workers,
        "wall_s": round(wall, 1),
        "ping_50_connections": ceiling,
        "endpoints": results,
        "acknowledged_201": len(acked),
        "acknowledged_missing": len(acked - keys),
        "stored": stored[0],
        "stored_distinct": stored[1],
    }
    print(f"machine: {json.dumps(report['machine'])}")
    print(
        f"50 connections for {args.seconds} s (mix: nearby 15, locate 15, POST /incidents 10, "
        f"tiles 10) against {args.workers} uvicorn worker process(es)"
    )
    print(
        f"  {'endpoint':<12}{'conns':>6}{'requests':>10}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}"
    )
    for name, r in results.items():
        if r["error_kinds"]:
            print(f"  {name}: errors by kind {r['error_kinds']}")
    for name, r in results.items():
        print(
            f"  {name:<12}{r['connections']:>6}{r['requests']:>10}{r['rps']:>9.1f}{r['p50_ms']:>9.1f}"
            f"{r['p99_ms']:>9.1f}{r['errors']:>8}"
        )
    total = sum(r["rps"] for r in results.values())
    print(f"  {'all':<12}{50:>6}{sum(r['requests'] for r in results.values()):>10}{total:>9.1f}")
    print(
        f"  ceiling: /ping alone at 50 connections {ceiling['rps']:.0f} req/s, p99 {ceiling['p99_ms']:.1f} ms"
        f" → the mix reaches {total / ceiling['rps']:.0%} of it"
    )
    missing = report["acknowledged_missing"]
    ok = missing == 0 and stored[0] == stored[1]
    print(
        f"  incidents acknowledged 201: {report['acknowledged_201']}, of them missing from the "
        f"database: {missing}; stored {stored[0]} ({stored[1]} distinct; more than acknowledged "
        f"when wrk stopped before an answer came) → "
        f"{'every acknowledged one stored, none twice' if ok else 'MISMATCH'}"
    )
    errors = sum(r["errors"] for r in results.values())
    print(f"  errors: {errors} ({'target met' if errors == 0 else 'TARGET MISSED: zero errors'})")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
