"""City scale: a synthetic city (N communities of about 1,250 households) written to PostGIS,
then partitioned and assigned per community — the local engine against a Dask LocalCluster
with 1 and 2 worker processes, on the same database in the same run — wall time and peak
memory for each, and the scaling curve as N grows. The target (issue 8): the whole city
(about 4,000 communities, 5 million households) partitioned, assigned and written in under
5 minutes on this 2-core machine.

    python bench/city.py --sizes 10,40,100 [--json bench/results/city.json]
    python bench/city.py --sizes 4000 --engines dask_2      # the whole city, 2 workers only
    python bench/city.py --sizes 100,1000 --engines none    # writing the city only (timed)

Each size gets a fresh database (dropped afterwards) in the project's own PostGIS.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import machine  # noqa: E402


def peak_mib() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, kids) / 1024


ENGINES: dict[str, dict] = {
    "local": {"engine": "local"},
    "dask_1": {"engine": "dask", "workers": 1},
    "dask_2": {"engine": "dask", "workers": 2},
}


def run_size(n: int, seed: int, engines: list[str]) -> dict:
    from geo.runtime.batch import partition_many
    from geo.store.db import make_engine, session_scope, upgrade_schema
    from geo.store.pgcluster import LocalCluster
    from geo.synthetic.city import synthetic_city, write_city

    cluster = LocalCluster()
    cluster.up(log=lambda _m: None)
    name = f"wangge_city_{n}"
    cluster.drop_database(name)
    cluster.ensure_database(name, log=lambda _m: None)  # owned by wangge_owner, with PostGIS
    upgrade_schema(cluster.url(name, role="owner"), cluster.url(name))
    url = cluster.url(name)  # the application role: the partition and assignment
    # the city is written by the tables' owner, whose ANALYZE afterwards counts
    engine = make_engine(cluster.url(name, role="owner"))
    out: dict = {"communities": n}
    try:
        t0 = time.perf_counter()
        city = list(synthetic_city(n, seed=seed))
        out["generate_s"] = round(time.perf_counter() - t0, 2)
        t0 = time.perf_counter()
        with session_scope(engine) as s:
            counts = write_city(s, city)
        out["write_s"] = round(time.perf_counter() - t0, 2)
        out |= {"households": counts["households"], "buildings": counts["buildings"]}
        codes = [c.code for c in city]
        for label, kw in ENGINES.items():
            if label not in engines:
                continue
            t0 = time.perf_counter()
            done = partition_many(url, codes, **kw)
            wall = time.perf_counter() - t0
            errors = [d for d in done if "error" in d]
            stages: dict[str, float] = {}
            for d in done:
                for k, v in d.get("stages", {}).items():
                    stages[k] = stages.get(k, 0.0) + v
            out[label] = {
                "stages": {k: round(v, 3) for k, v in stages.items()},
                "wall_s": round(wall, 2),
                "micro_grids": sum(d.get("micro_grids", 0) for d in done),
                "failed": len(errors),
                "peak_mib": round(peak_mib()),
            }
            print(
                f"  {n:>5} communities  {label:<7} {wall:8.1f} s  "
                f"{out[label]['micro_grids']:>7} micro-grids  peak {out[label]['peak_mib']} MiB"
                + (
                    f"  FAILED: {len(errors)} communities ({', '.join(d['community'] for d in errors[:5])}…)"
                    if errors
                    else "  none failed"
                ),
                flush=True,
            )
    finally:
        engine.dispose()
        cluster.drop_database(name)
    return out


STAGES = (
    "read",
    "prepare",
    "search",
    "polygons",
    "validate",
    "write grids",
    "assign",
    "write assignments",
    "commit",
)


def print_stages(rows: list[dict]) -> None:
    """Where the time goes, per stage (geo.core.stages, summed over the communities of a run:
    with two Dask workers the sum is about twice the wall time), for the first engine of each
    size: seconds, share and milliseconds a community."""
    for r in rows:
        label = next((k for k in ENGINES if k in r), None)
        if label is None:
            continue
        st = r[label]["stages"]
        total = sum(st.values()) or 1.0
        print(f"\n  stages, {r['communities']:,} communities ({label}, summed over them):")
        print(f"  {'stage':<18} {'seconds':>9} {'share':>7} {'ms/community':>13}")
        for name in [*STAGES, *sorted(set(st) - set(STAGES))]:
            v = st.get(name, 0.0)
            print(
                f"  {name:<18} {v:>9.2f} {100 * v / total:>6.1f}% "
                f"{1000 * v / r['communities']:>13.1f}"
            )
        outside = r[label]["wall_s"] * (2 if label == "dask_2" else 1) - total
        print(
            f"  {'(sum)':<18} {total:>9.2f}   (wall {r[label]['wall_s']:.1f} s)\n"
            f"  outside the stages: ≈ {max(outside, 0):.1f} s of worker time (scheduling, ...)"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10,40,100")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", type=Path)
    ap.add_argument(
        "--engines",
        default=",".join(ENGINES),
        help="which of local,dask_1,dask_2 to run; none: write the city only",
    )
    args = ap.parse_args()
    engines = [] if args.engines == "none" else args.engines.split(",")
    unknown = sorted(set(engines) - set(ENGINES))
    if unknown:
        ap.error(
            f"未知的引擎 / unknown engines: {', '.join(unknown)} "
            f"(choose from {', '.join(ENGINES)} or none)"
        )
    print(f"machine: {json.dumps(machine())}")
    rows = [run_size(int(n), args.seed, engines) for n in args.sizes.split(",")]
    print()

    def wall(r: dict, label: str) -> str:
        return f"{r[label]['wall_s']:.1f}" if label in r else "-"

    print(
        f"  {'communities':>11} {'households':>11} {'write s':>8} {'local s':>8} {'dask×1 s':>9} "
        f"{'dask×2 s':>9} {'×2/local':>9} {'s/community (×2)':>17}"
    )
    for r in rows:
        ratio = (
            f"{r['local']['wall_s'] / r['dask_2']['wall_s']:.2f}x"
            if "local" in r and "dask_2" in r
            else "-"
        )
        per_c = f"{r['dask_2']['wall_s'] / r['communities']:.2f}" if "dask_2" in r else "-"
        print(
            f"  {r['communities']:>11} {r['households']:>11,} {r['write_s']:>8.1f} "
            f"{wall(r, 'local'):>8} {wall(r, 'dask_1'):>9} {wall(r, 'dask_2'):>9} "
            f"{ratio:>9} {per_c:>17}"
        )
    print_stages(rows)
    last = rows[-1]
    if not engines:
        per = 1000 * last["write_s"] / last["communities"]
        print(
            f"  written only: {per:.1f} ms a community; extrapolated to 4,000 communities "
            f"(linear, from the largest run): {per * 4:.0f} s — target 2 min "
            f"{'met' if per * 4 <= 120 else 'MISSED'}"
        )
        if args.json:
            args.json.write_text(json.dumps({"machine": machine(), "rows": rows}, indent=2))
        return
    best = min(last[k]["wall_s"] for k in ENGINES if k in last)
    total = best + last["write_s"]
    if last["communities"] >= 4000:
        print(
            f"  the whole city ({last['communities']:,} communities, "
            f"{last['households']:,} households): written in {last['write_s']:.0f} s, "
            f"partitioned and assigned in {best:.0f} s: {total / 60:.1f} min in all — "
            f"target 5 min {'met' if total <= 300 else 'MISSED'}"
        )
    else:
        whole = total / last["communities"] * 4000
        print(
            f"  extrapolated to 4,000 communities (linear, from the largest run):\n"
            f"  {whole / 60:.0f} min for writing + partitioning + assignment — "
            f"target 5 min {'met' if whole <= 300 else 'MISSED'}"
        )
    if args.json:
        args.json.write_text(json.dumps({"machine": machine(), "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
