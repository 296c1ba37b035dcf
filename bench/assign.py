"""Benchmark: bulk point-in-polygon assignment and /locate, against what a GIS analyst would use.

Measured in the same run, on the same arrays of coordinates:

* **Wangge** — ``geo.core.kernels.PolygonIndex`` (numba, all cores): index build, then lookups;
* **DuckDB** with its spatial extension (loaded from the ``duckdb-extension-spatial`` wheel,
  nothing downloaded) — points and polygons in tables, ``JOIN … ON ST_Contains`` (its
  ``SPATIAL_JOIN``), 2 threads;
* **geopandas.sjoin** — ``points_from_xy`` + ``sjoin(predicate="within")`` (the polygons'
  spatial index built beforehand, and timed on its own);
* **PostGIS** — the points and polygons in tables with GiST indexes: a plain
  ``JOIN … ON ST_Contains`` (parallel workers allowed), and the polygon-driven
  ``CROSS JOIN LATERAL … OFFSET 0`` split over two connections;

and ``/locate`` over HTTP (wrk, random points in the sample community) at 1 and 32 concurrent
connections beside ``/ping``, a trivial endpoint of the same app, as the ceiling.

The synthetic city: M micro-grids (Voronoi cells of random seeds, clipped to a grid of
community squares) around Chengdu, and N uniform points; deterministic and seeded.

    python bench/assign.py                      # M = 120,000; N = 1,000,000 and 5,000,000
    python bench/assign.py --points 1000000 --no-postgis --no-http --no-duckdb
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry import box

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from common import api_server, fixture_database, machine  # noqa: E402

from geo.core.kernels import PolygonIndex  # noqa: E402

X0, Y0 = 103.90, 30.50  # south-west corner of the synthetic city (lon, lat)


def city(cells: int, seed: int = 7) -> np.ndarray:
    """About ``cells`` micro-grids: 30 Voronoi cells in each of a grid of community squares
    (600 m a side) that tile the city."""
    rng = np.random.default_rng(seed)
    per = 30
    n_comm = int(np.ceil(cells / per))
    cols = int(np.ceil(np.sqrt(n_comm)))
    side = 0.006  # degrees (~600 m)
    out = []
    for k in range(n_comm):
        cx, cy = X0 + (k % cols) * side, Y0 + (k // cols) * side
        frame = box(cx, cy, cx + side, cy + side)
        pts = rng.uniform([cx, cy], [cx + side, cy + side], (per, 2))
        vor = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(pts), extend_to=frame))
        out.extend(shapely.intersection(vor, frame))
    return np.asarray([g for g in out if not g.is_empty], dtype=object)


def points(n: int, polys: np.ndarray, seed: int = 11) -> tuple[np.ndarray, np.ndarray]:
    x0, y0, x1, y1 = shapely.total_bounds(polys)
    rng = np.random.default_rng(seed)
    return rng.uniform(x0, x1, n), rng.uniform(y0, y1, n)


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- engines -----------------------------------------------------------------------------------
def run_wangge(polys, x, y, q):
    t = time.perf_counter()
    PolygonIndex(polys)  # the first in a process also loads the compiled kernels (cached)
    first = time.perf_counter() - t
    t = time.perf_counter()
    idx = PolygonIndex(polys)
    build = time.perf_counter() - t
    idx.covering(x[:10_000], y[:10_000])  # compile or load the cached kernels (bulk path)
    t = time.perf_counter()
    out = idx.covering(x, y)
    s = time.perf_counter() - t
    q.put({"build_s": build, "first_build_s": first, "s": s, "rss_mib": rss_mib(), "result": out})


def run_sjoin(polys, x, y, q):
    import geopandas as gpd

    g = gpd.GeoDataFrame(geometry=polys, crs="EPSG:4490")
    t = time.perf_counter()
    g.sindex  # noqa: B018 - build the index outside the timed join
    build = time.perf_counter() - t
    t = time.perf_counter()
    p = gpd.GeoDataFrame(geometry=gpd.points_from_xy(x, y), crs="EPSG:4490")
    j = gpd.sjoin(p, g, predicate="within")
    s = time.perf_counter() - t
    out = np.full(len(x), -1, dtype=np.int64)
    first = j.groupby(level=0)["index_right"].min()
    out[first.index.to_numpy()] = first.to_numpy()
    q.put(
        {
            "build_s": build,
            "s": s,
            "rss_mib": rss_mib(),
            "result": out,
            "multi": int((j.index.value_counts() > 1).sum()),
        }
    )


def duckdb_connect(threads: int = 2):
    """DuckDB with its spatial extension loaded from the installed wheel
    (``duckdb-extension-spatial``, the ``bench`` extra): nothing is downloaded."""
    try:
        import duckdb
        import duckdb_extension_spatial
    except ImportError as e:
        raise SystemExit(
            f"DuckDB peer: {e.name} is not installed (pip install -e '.[bench]': duckdb and "
            "duckdb-extension-spatial, the same version)"
        ) from e
    ext = (
        Path(duckdb_extension_spatial.__file__).parent
        / "extensions"
        / f"v{duckdb.__version__}"
        / "spatial.duckdb_extension"
    )
    if not ext.is_file():
        raise SystemExit(
            f"DuckDB peer: no spatial extension for duckdb {duckdb.__version__} at {ext} "
            "(duckdb-extension-spatial must be the version of duckdb)"
        )
    con = duckdb.connect(
        config={"autoinstall_known_extensions": False, "autoload_known_extensions": False}
    )
    con.execute(f"LOAD '{ext}'")
    con.execute(f"SET threads = {threads}")
    return con


DUCKDB_JOIN = (
    "SELECT p.id, min(g.id) AS g FROM pts p JOIN cells g ON ST_Contains(g.geom, p.geom) "
    "GROUP BY p.id"
)


def run_duckdb(polys, x, y, q):
    """Points and polygons in DuckDB tables, joined on ST_Contains (its SPATIAL_JOIN)."""
    import pandas as pd

    con = duckdb_connect()
    t = time.perf_counter()
    cells = pd.DataFrame({"id": np.arange(len(polys)), "wkb": shapely.to_wkb(polys)})
    pts = pd.DataFrame({"id": np.arange(len(x)), "x": x, "y": y})
    con.register("cells_df", cells)
    con.register("pts_df", pts)
    con.execute("CREATE TABLE cells AS SELECT id, ST_GeomFromWKB(wkb) AS geom FROM cells_df")
    con.execute("CREATE TABLE pts AS SELECT id, ST_Point(x, y) AS geom FROM pts_df")
    load = time.perf_counter() - t
    plan = "\n".join(r[1] for r in con.execute("EXPLAIN " + DUCKDB_JOIN).fetchall())
    ops = re.findall(r"\b([A-Z][A-Z_]*JOIN)\b", plan)
    t = time.perf_counter()
    got = con.execute(DUCKDB_JOIN).fetchnumpy()
    s = time.perf_counter() - t
    out = np.full(len(x), -1, dtype=np.int64)
    out[np.asarray(got["id"], dtype=np.int64)] = np.asarray(got["g"], dtype=np.int64)
    q.put(
        {
            "load_s": load,
            "s": s,
            "rss_mib": rss_mib(),
            "result": out,
            "join_operator": ops[0] if ops else "?",
            "threads": int(con.execute("SELECT current_setting('threads')").fetchone()[0]),
        }
    )


def in_child(fn, *args, timeout=1800):
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=fn, args=(*args, q))
    p.start()
    try:
        return q.get(timeout=timeout)
    finally:
        p.join(5)
        if p.is_alive():
            p.kill()


def postgis(polys, x, y, url: str) -> dict:
    """Load into PostGIS (COPY), index, and time the two join forms."""
    import psycopg

    libpq = url.replace("postgresql+psycopg://", "postgresql://")
    out: dict = {}
    with psycopg.connect(libpq, autocommit=True) as c:
        c.execute("DROP TABLE IF EXISTS bench_cells, bench_pts")
        c.execute("CREATE UNLOGGED TABLE bench_cells (id int, geom geometry(Polygon, 4490))")
        c.execute("CREATE UNLOGGED TABLE bench_pts (id int, geom geometry(Point, 4490))")
        t = time.perf_counter()
        with c.cursor() as cur, cur.copy("COPY bench_cells (id, geom) FROM STDIN") as cp:
            wkb = shapely.to_wkb(shapely.set_srid(polys, 4490), hex=True, include_srid=True)
            for i, g in enumerate(wkb):
                cp.write_row((i, g))
        with c.cursor() as cur, cur.copy("COPY bench_pts (id, geom) FROM STDIN") as cp:
            for i in range(len(x)):
                cp.write_row((i, f"SRID=4490;POINT({float(x[i])!r} {float(y[i])!r})"))
        c.execute("CREATE INDEX ON bench_cells USING gist (geom)")
        c.execute("CREATE INDEX ON bench_pts USING gist (geom)")
        c.execute("ANALYZE bench_cells")
        c.execute("ANALYZE bench_pts")
        out["load_s"] = time.perf_counter() - t
        c.execute("SET max_parallel_workers_per_gather = 2")
        t = time.perf_counter()
        rows = c.execute(
            "SELECT p.id, min(g.id) FROM bench_pts p JOIN bench_cells g "
            "ON ST_Contains(g.geom, p.geom) GROUP BY p.id"
        ).fetchall()
        out["join_s"] = time.perf_counter() - t
    res = np.full(len(x), -1, dtype=np.int64)
    for pid, gid in rows:
        res[pid] = gid
    out["join_result"] = res
    # polygon-driven, split over two connections
    parts: list[list[tuple[int, int]]] = [[], []]

    def half(k: int) -> None:
        with psycopg.connect(libpq) as c:
            parts[k] = c.execute(
                "SELECT p.id, g.id FROM bench_cells g CROSS JOIN LATERAL (SELECT p.id FROM "
                "bench_pts p WHERE p.geom && g.geom AND ST_Contains(g.geom, p.geom) OFFSET 0) p "
                "WHERE g.id %% 2 = %s",
                (k,),
            ).fetchall()

    t = time.perf_counter()
    threads = [threading.Thread(target=half, args=(k,)) for k in (0, 1)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    out["lateral_s"] = time.perf_counter() - t
    with psycopg.connect(libpq, autocommit=True) as c:
        c.execute("DROP TABLE IF EXISTS bench_cells, bench_pts")
    return out


# --- /locate over HTTP --------------------------------------------------------------------------
WRK_LUA = """
local paths = {%(paths)s}
local i = 0
request = function()
  i = i %% #paths + 1
  return wrk.format("GET", paths[i])
end
"""


def wrk(url: str, connections: int, seconds: int, script: str | None = None) -> dict:
    cmd = [
        "wrk",
        "-t",
        str(min(2, connections)),
        "-c",
        str(connections),
        "-d",
        f"{seconds}s",
        "--latency",
    ]
    if script:
        cmd += ["-s", script]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, timeout=seconds + 60).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

    def pct(p: str) -> float:
        m = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", out)
        v, unit = float(m.group(1)), m.group(2)
        return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": rps,
        "p50_ms": pct("50"),
        "p99_ms": pct("99"),
        "non_2xx": int(errors.group(1)) if errors else 0,
    }


def http_bench(seconds: int) -> dict:
    from sqlalchemy import text

    from geo.store.db import get_engine, session_scope

    if shutil.which("wrk") is None:
        return {"error": "wrk not installed (apt-get install wrk)"}
    url = fixture_database()
    with session_scope(get_engine(url)) as s:
        # 2,000 random points inside the community (so every answer is a 200)
        probe = s.execute(
            text(
                "SELECT ST_X(p), ST_Y(p) FROM (SELECT (ST_Dump(ST_GeneratePoints(boundary, 2000, "
                "7))).geom p FROM community) s"
            )
        ).all()
        bounds = probe[0]
    with api_server(url, 18000 + os.getpid() % 1000) as base:
        import httpx

        # the first /locate loads the grids
        httpx.get(f"{base}/locate?lon={bounds[0]}&lat={bounds[1]}&crs=cgcs2000", timeout=60)
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
            paths = ", ".join(f'"/locate?lon={x!r}&lat={y!r}&crs=cgcs2000"' for x, y in probe)
            fh.write(WRK_LUA % {"paths": paths})
            script = fh.name
        out = {}
        for c in (1, 32):
            out[f"ping_c{c}"] = wrk(f"{base}/ping", c, seconds)
            out[f"locate_c{c}"] = wrk(base, c, seconds, script)
        return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", type=int, default=120_000)
    ap.add_argument("--points", type=int, nargs="*", default=[1_000_000, 5_000_000])
    ap.add_argument("--no-postgis", action="store_true")
    ap.add_argument("--no-http", action="store_true")
    ap.add_argument("--no-duckdb", action="store_true")
    ap.add_argument("--seconds", type=int, default=10, help="per wrk run")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    result: dict = {"machine": machine(), "runs": [], "http": None}
    print("machine:", json.dumps(result["machine"]), "load average:", os.getloadavg())
    t = time.perf_counter()
    polys = city(args.cells)
    print(f"city: {len(polys):,} micro-grids in {time.perf_counter() - t:.1f} s")
    url = None
    if not args.no_postgis:
        from geo.store.db import admin_database_url

        url = admin_database_url(start=True)  # its scratch tables are DDL: the schema's owner
    plan_shown = False
    for n in args.points:
        x, y = points(n, polys)
        row: dict = {"points": n, "cells": len(polys)}
        w = in_child(run_wangge, polys, x, y)
        s = in_child(run_sjoin, polys, x, y)
        row["wangge"] = {k: v for k, v in w.items() if k != "result"}
        row["sjoin"] = {k: v for k, v in s.items() if k != "result"}
        row["identical_to_sjoin"] = bool(np.array_equal(w["result"], s["result"]))
        row["differ_from_sjoin"] = int((w["result"] != s["result"]).sum())
        if not args.no_duckdb:
            d = in_child(run_duckdb, polys, x, y)
            row["duckdb"] = {k: v for k, v in d.items() if k != "result"}
            row["differ_from_duckdb"] = int((w["result"] != d["result"]).sum())
            if not plan_shown:
                print(
                    f"  DuckDB plan's join operator: {d['join_operator']} ({d['threads']} threads)"
                )
                plan_shown = True
        if url:
            pg = postgis(polys, x, y, url)
            row["postgis"] = {k: v for k, v in pg.items() if k != "join_result"}
            row["differ_from_postgis"] = int((w["result"] != pg["join_result"]).sum())
        row["load_after"] = os.getloadavg()
        result["runs"].append(row)
        wr, sr = n / row["wangge"]["s"], n / row["sjoin"]["s"]
        print(
            f"\n{n:,} points over {len(polys):,} micro-grids (load average after: "
            f"{row['load_after'][0]:.2f})"
        )
        print(
            f"  Wangge     {row['wangge']['s']:8.2f} s  {wr / 1e6:6.2f} M pts/s  "
            f"(index {row['wangge']['build_s']:.2f} s, the first in the process "
            f"{row['wangge']['first_build_s']:.2f} s, peak RSS {row['wangge']['rss_mib']:.0f} MiB; "
            f"target 10 M pts/s: {'met' if wr >= 10e6 else 'MISSED'}, index < 1 s: "
            f"{'met' if row['wangge']['build_s'] < 1 else 'MISSED'})"
        )
        print(
            f"  sjoin      {row['sjoin']['s']:8.2f} s  {sr / 1e6:6.2f} M pts/s  "
            f"(index {row['sjoin']['build_s']:.1f} s, peak RSS {row['sjoin']['rss_mib']:.0f} MiB)"
        )
        print(
            f"  Wangge / sjoin: {wr / sr:.1f}x (target 10x: {'met' if wr / sr >= 10 else 'MISSED'})"
            f"; answers differing: {row['differ_from_sjoin']}"
        )
        if "duckdb" in row:
            dr = n / row["duckdb"]["s"]
            print(
                f"  DuckDB spatial {row['duckdb']['s']:6.2f} s  {dr / 1e6:6.2f} M pts/s  "
                f"(load {row['duckdb']['load_s']:.1f} s, peak RSS {row['duckdb']['rss_mib']:.0f} MiB)"
            )
            print(
                f"  Wangge / DuckDB: {wr / dr:.1f}x; answers differing: {row['differ_from_duckdb']}"
            )
        if url:
            pj, pl = n / row["postgis"]["join_s"], n / row["postgis"]["lateral_s"]
            best = max(pj, pl)
            print(
                f"  PostGIS JOIN ST_Contains      {row['postgis']['join_s']:8.2f} s  "
                f"{pj / 1e6:6.2f} M pts/s"
            )
            print(
                f"  PostGIS LATERAL, 2 connections {row['postgis']['lateral_s']:7.2f} s  "
                f"{pl / 1e6:6.2f} M pts/s  (load + index {row['postgis']['load_s']:.0f} s)"
            )
            print(
                f"  Wangge / PostGIS JOIN: {wr / pj:.1f}x; Wangge / PostGIS LATERAL: {wr / pl:.1f}x"
            )
            print(
                f"  Wangge / best PostGIS: {wr / best:.1f}x (target 10x: "
                f"{'met' if wr / best >= 10 else 'MISSED'}); answers differing: "
                f"{row['differ_from_postgis']}"
            )
    if not args.no_http:
        h = http_bench(args.seconds)
        result["http"] = h
        if "error" in h:
            print("http:", h["error"])
        else:
            print("\n/locate over HTTP (1 uvicorn worker, wrk on the same 2 cores)")
            for c in (1, 32):
                p, lo = h[f"ping_c{c}"], h[f"locate_c{c}"]
                print(
                    f"  {c:2d} clients: /ping {p['rps']:7.0f} req/s p50 {p['p50_ms']:.2f} ms "
                    f"p99 {p['p99_ms']:.2f} ms | /locate {lo['rps']:7.0f} req/s p50 "
                    f"{lo['p50_ms']:.2f} ms p99 {lo['p99_ms']:.2f} ms ({lo['non_2xx']} non-2xx)"
                )
            ratio = h["locate_c32"]["rps"] / h["ping_c32"]["rps"]
            print(
                f"  /locate / /ping at 32 clients: {ratio:.0%} (target >= 50%: "
                f"{'met' if ratio >= 0.5 else 'MISSED'}); p99 {h['locate_c32']['p99_ms']:.1f} ms "
                f"(target < 20 ms: {'met' if h['locate_c32']['p99_ms'] < 20 else 'MISSED'})"
            )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
