"""Benchmark: micro-grid partitioning against the tools a GIS analyst would reach for.

On the same synthetic layouts (geo.synthetic.city), measured in the same run:

* **Wangge** — ``partition_community`` per community (tessellation, grouping, polygons); the
  grouping with the micro-grids' polygons (``group_community`` on prepared communities); and
  the search alone (``solve_zone`` on each zone's graph built beforehand), the part comparable
  with the baselines, which are timed on a graph (or points) built for them;
* **spopt MaxPHeuristic** — max-p regions on the units' cells, floor 30 households;
* **k-means-constrained** — households as points (at their unit), clusters of 30–50;
* **pymetis** — the household-weighted unit adjacency graph, parts = households / 40.

All four get the same units (a unit above 50 households already split by floors, as Wangge
does) and the same adjacency (cells sharing an edge). Each baseline runs in its own process
and is stopped after 5 minutes. Reported: wall time, share of groups within 30–50, share of
groups contiguous, median Polsby–Popper of the groups' polygons (union of their units' cells).

    python bench/partition.py                    # sizes 200, 1000, 10000, 100000 units
    python bench/partition.py --sizes 200 1000   # fewer
    python bench/partition.py --city 2870        # Chengdu scale (5.0 M households): Wangge, 2 processes
    python bench/partition.py --sizes --layouts  # per morphology class and the real Bubeneč data

``--layouts`` runs each class of :mod:`geo.synthetic.layouts` (high-rise, 老旧院落 walk-ups, villas, urban
village, mixed; enough seeds for at least 1,000 units) and momepy's real Bubeneč footprints
(``fixtures/bubenec.py``): Wangge in a child process of its own (its peak resident memory is
the class's), MaxPHeuristic and pymetis on the same units, with the lanes and footways of
the layout as ways for Wangge (the baselines know nothing of them).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import sys
import time
from pathlib import Path

import numpy as np
import shapely

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import machine

from geo.partition import (
    group_community,
    partition_community,
    polsby_popper,
    prepare_community,
    solve_zone,
    zone_rng,
)
from geo.synthetic.city import synthetic_city

LO, HI = 30, 50
TIMEOUT = 300.0


def communities_for(units: int, seed: int = 1):
    out, n = [], 0
    for c in synthetic_city(10**6, seed=seed):
        out.append(c)
        n += c.units
        if n >= units:
            return out
    return out


# --- the common graph -----------------------------------------------------------------------
def common_graph(preps, *, with_ways: bool = False):
    """All communities' atoms: households, centroids, cells, adjacency (global indices); with
    ``with_ways`` also the set of edges between atoms on either side of a way."""
    w, xy, cells, edges, across, offset = [], [], [], [], set(), 0
    for p in preps:
        g = p.community_graph()
        w += g.w.tolist()
        xy += g.xy.tolist()
        cells += list(p.cells)
        edges += [(a + offset, b + offset) for a, b in g.edges.tolist()]
        across |= {(a + offset, b + offset) for a, b in g.crossing}
        offset += len(g.w)
    out = np.array(w), np.array(xy), np.array(cells, dtype=object), edges
    return (*out, across) if with_ways else out


def across_ways(labels, edges, across) -> float:
    """The share of a grouping's inside edges (both atoms in one group) that cross a way."""
    labels = np.asarray(labels)
    inside = [(a, b) for a, b in edges if labels[a] == labels[b] and labels[a] >= 0]
    if not inside:
        return 0.0
    return sum((min(a, b), max(a, b)) in across for a, b in inside) / len(inside)


def metrics(groups: list[np.ndarray], w, cells, nbrs) -> dict:
    sizes = np.array([w[g].sum() for g in groups])
    inband = float(((sizes >= LO) & (sizes <= HI)).mean()) if len(sizes) else 0.0
    contiguous = float(np.mean([_connected(g, nbrs) for g in groups])) if groups else 0.0
    pp = [polsby_popper(shapely.union_all(cells[g])) for g in groups]
    return {
        "groups": len(groups),
        "in_band": inband,
        "contiguous": contiguous,
        "pp_median": float(np.median(pp)) if pp else None,
    }


def _connected(group, nbrs) -> bool:
    inside = set(int(x) for x in group)
    start = next(iter(inside))
    seen, stack = {start}, [start]
    while stack:
        for x in nbrs[stack.pop()]:
            if x in inside and x not in seen:
                seen.add(x)
                stack.append(x)
    return len(seen) == len(inside)


# --- baselines, each in a child process ---------------------------------------------------
def run_maxp(w, xy, cells, edges, q):
    import geopandas as gpd
    from libpysal.weights import W
    from spopt.region import MaxPHeuristic

    n = len(w)
    nb = {i: [] for i in range(n)}
    for a, b in edges:
        nb[a].append(b)
        nb[b].append(a)
    gdf = gpd.GeoDataFrame({"households": w, "x": xy[:, 0], "y": xy[:, 1]}, geometry=list(cells))
    t = time.perf_counter()
    model = MaxPHeuristic(gdf, W(nb, silence_warnings=True), ["x", "y"], "households", LO, top_n=2)
    model.solve()
    q.put((time.perf_counter() - t, np.asarray(model.labels_).tolist()))


def run_kmeans(w, xy, cells, edges, q):
    from k_means_constrained import KMeansConstrained

    rng = np.random.default_rng(0)
    owner = np.repeat(np.arange(len(w)), w)
    pts = xy[owner] + rng.normal(0, 1.0, (len(owner), 2))
    k = max(1, round(w.sum() / 40))
    t = time.perf_counter()
    model = KMeansConstrained(n_clusters=k, size_min=LO, size_max=HI, n_init=1, random_state=0)
    labels = model.fit_predict(pts)
    q.put((time.perf_counter() - t, labels.tolist(), owner.tolist()))


def run_metis(w, xy, cells, edges, q):
    import pymetis

    n = len(w)
    adj = [[] for _ in range(n)]
    for a, b in edges:
        adj[a].append(b)
        adj[b].append(a)
    parts = max(2, round(w.sum() / 40))
    t = time.perf_counter()
    _, membership = pymetis.part_graph(parts, adjacency=adj, vweights=[int(x) for x in w])
    q.put((time.perf_counter() - t, list(membership)))


def in_child(fn, *args):
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=fn, args=(*args, q))
    p.start()
    try:
        result = q.get(timeout=TIMEOUT)
    except Exception:
        p.kill()
        p.join()
        return None
    p.join()
    return result


def groups_from_labels(labels) -> list[np.ndarray]:
    labels = np.asarray(labels)
    return [np.flatnonzero(labels == v) for v in np.unique(labels) if v >= 0]


def bench_size(units: int) -> dict:
    comms = communities_for(units)
    n_units = sum(c.units for c in comms)
    households = sum(c.households for c in comms)
    row: dict = {"units": n_units, "communities": len(comms), "households": households}
    t = time.perf_counter()
    results = [partition_community(c.code, c.boundary, c.compounds, c.buildings) for c in comms]
    row["wangge_s"] = time.perf_counter() - t
    preps = [prepare_community(c.code, c.boundary, c.compounds, c.buildings) for c in comms]
    t = time.perf_counter()
    for p in preps:
        group_community(p)
    row["wangge_grouping_s"] = time.perf_counter() - t
    # the search alone, on the zones' graphs built beforehand: what the baselines are timed
    # on (each gets its graph or points ready-made)
    zones = [(p.zone_graph(z)[1], code) for p in preps for z, code in enumerate(p.zone_codes)]
    zones = [(g, code) for g, code in zones if len(g.w)]
    t = time.perf_counter()
    for g, code in zones:
        solve_zone(g, LO, HI, zone_rng(0, code))
    row["wangge_search_s"] = time.perf_counter() - t
    micro = [m for r in results for m in r.micro]
    sizes = np.array([m.households for m in micro])
    feasible = [m for r in results for c in r.compound_grids if c.status == "ok" for m in c.micro]
    row["wangge"] = {
        "groups": len(micro),
        "in_band": float(((sizes >= LO) & (sizes <= HI)).mean()),
        "in_band_where_feasible": float(np.mean([LO <= m.households <= HI for m in feasible])),
        "contiguous": float(np.mean([m.geometry.geom_type == "Polygon" for m in micro])),
        "pp_median": float(np.median([polsby_popper(m.geometry) for m in micro])),
        "infeasible_compounds": sum(
            1 for r in results for c in r.compound_grids if c.status != "ok"
        ),
        "infeasible_not_proven": sum(
            1 for r in results for c in r.compound_grids if c.status != "ok" and not c.proven
        ),
        "compounds": sum(len(r.compound_grids) for r in results),
    }
    w, xy, cells, edges = common_graph(preps)
    nbrs = [[] for _ in range(len(w))]
    for a, b in edges:
        nbrs[a].append(b)
        nbrs[b].append(a)
    row["atoms"] = len(w)
    got = in_child(run_metis, w, xy, cells, edges)
    row["pymetis"] = (
        None
        if got is None
        else {"s": got[0], **metrics(groups_from_labels(got[1]), w, cells, nbrs)}
    )
    got = in_child(run_maxp, w, xy, cells, edges) if units <= 10_000 else None
    row["maxp"] = (
        None
        if got is None
        else {"s": got[0], **metrics(groups_from_labels(got[1]), w, cells, nbrs)}
    )
    got = in_child(run_kmeans, w, xy, cells, edges) if units <= 10_000 else None
    if got is not None:
        labels, owner = np.asarray(got[1]), np.asarray(got[2])
        hh = [np.bincount(labels[owner == a], minlength=labels.max() + 1) for a in range(len(w))]
        # a unit belongs to the cluster holding most of its households
        unit_label = np.array([int(np.argmax(h)) if h.sum() else -1 for h in hh])
        m = metrics(groups_from_labels(unit_label), w, cells, nbrs)
        m["in_band"] = 1.0  # by construction, counted in households
        split_units = int(sum((h > 0).sum() > 1 for h in hh))
        row["kmeans"] = {"s": got[0], **m, "units_split_across_clusters": split_units}
    else:
        row["kmeans"] = None
    return row


def fmt(row: dict) -> str:
    lines = [
        f"\n{row['units']:,} units ({row['atoms']:,} after splitting tall units), "
        f"{row['households']:,} households, {row['communities']} communities"
    ]
    lines.append(
        f"  {'method':22} {'time s':>9} {'groups':>7} {'in 30-50':>9} "
        f"{'contiguous':>10} {'PP median':>9}"
    )
    wg = row["wangge"]
    lines.append(
        f"  {'Wangge (all)':22} {row['wangge_s']:9.2f} {wg['groups']:7d} "
        f"{wg['in_band']:9.1%} {wg['contiguous']:10.1%} {wg['pp_median']:9.2f}"
    )
    lines.append(f"  {'Wangge (grouping)':22} {row['wangge_grouping_s']:9.2f}")
    lines.append(f"  {'Wangge (search alone)':22} {row['wangge_search_s']:9.2f}")
    for key, name in (
        ("maxp", "spopt MaxPHeuristic"),
        ("kmeans", "k-means-constrained"),
        ("pymetis", "pymetis"),
    ):
        r = row[key]
        if r is None:
            lines.append(f"  {name:22} {'did not finish in 5 min / not run':>40}")
        else:
            lines.append(
                f"  {name:22} {r['s']:9.2f} {r['groups']:7d} {r['in_band']:9.1%} "
                f"{r['contiguous']:10.1%} {r['pp_median'] or 0:9.2f}"
            )
    lines.append(
        f"  Wangge in band where the compound allows it: "
        f"{wg['in_band_where_feasible']:.1%}; compounds the rule applied to: "
        f"{wg['infeasible_compounds']} of {wg['compounds']} (no grouping in band exists: "
        f"proven for all but {wg['infeasible_not_proven']})"
    )
    if row["maxp"]:
        lines.append(
            f"  speed-up over MaxPHeuristic: {row['maxp']['s'] / row['wangge_s']:.0f}x "
            f"(all), {row['maxp']['s'] / row['wangge_grouping_s']:.0f}x (grouping with "
            f"polygons), {row['maxp']['s'] / row['wangge_search_s']:.0f}x (search alone, the "
            f"same input as MaxPHeuristic)"
        )
    if row["pymetis"]:
        lines.append(
            f"  Wangge / pymetis time: {row['wangge_search_s'] / row['pymetis']['s']:.1f}x "
            f"(search alone), {row['wangge_grouping_s'] / row['pymetis']['s']:.1f}x "
            f"(grouping with polygons)"
        )
    return "\n".join(lines)


# --- morphology classes and the real data set ---------------------------------------------
LAYOUT_UNITS = 1_000  # units per class at least (seeds 0, 1, … until there are as many)
LAYOUT_SEEDS = 12  # at most this many seeds per class


def layouts_of(kind: str) -> list:
    """The layouts of one class (or the Bubeneč data set)."""
    if kind == "bubenec":
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "fixtures"))
        from bubenec import bubenec

        return [bubenec().layout]
    from geo.synthetic.layouts import make_layout

    out, units = [], 0
    for seed in range(LAYOUT_SEEDS):
        lay = make_layout(kind, seed=seed)
        out.append(lay)
        units += lay.units
        if units >= LAYOUT_UNITS:
            break
    return out


def _roads_ways(lay) -> tuple[list, list]:
    return [g for k, g in lay.roads if k != "footway"], [g for _, g in lay.roads]


def _wangge_layouts(kind: str, q) -> None:
    """Partition a class's layouts (in a child process: its peak memory is the class's)."""
    lays = layouts_of(kind)
    t = time.perf_counter()
    results = []
    for lay in lays:
        roads, ways = _roads_ways(lay)
        results.append(
            partition_community(
                lay.code, lay.boundary, lay.compounds, lay.buildings, roads=roads, ways=ways
            )
        )
    wall = time.perf_counter() - t
    micro = [m for r in results for m in r.micro]
    sizes = np.array([m.households for m in micro])
    compounds = [c for r in results for c in r.compound_grids if c.households]
    feasible = [m for c in compounds if c.status in ("ok", "merged") for m in c.micro]
    q.put(
        {
            "layouts": len(lays),
            "units": sum(lay.units for lay in lays),
            "households": sum(lay.households for lay in lays),
            "s": wall,
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "groups": len(micro),
            "in_band": float(((sizes >= LO) & (sizes <= HI)).mean()),
            "in_band_where_feasible": float(
                np.mean([LO <= m.households <= HI for m in feasible]) if feasible else 1.0
            ),
            "contiguous": float(np.mean([m.geometry.geom_type == "Polygon" for m in micro])),
            "pp_median": float(np.median([polsby_popper(m.geometry) for m in micro])),
            "compounds": len(compounds),
            "proven_share": float(np.mean([c.proven for c in compounds])),
            "unproven": sum(not c.proven for c in compounds),
            "statuses": sorted({c.status for c in compounds}),
        }
    )


def bench_layout(kind: str) -> dict:
    row: dict = {"kind": kind, "wangge": in_child(_wangge_layouts, kind)}
    lays = layouts_of(kind)
    preps = []
    for lay in lays:
        roads, ways = _roads_ways(lay)
        preps.append(
            prepare_community(
                lay.code, lay.boundary, lay.compounds, lay.buildings, roads=roads, ways=ways
            )
        )
    w, xy, cells, edges, across = common_graph(preps, with_ways=True)
    nbrs = [[] for _ in range(len(w))]
    for a, b in edges:
        nbrs[a].append(b)
        nbrs[b].append(a)
    row["atoms"] = len(w)
    row["edges_across_ways"] = len(across) / max(len(edges), 1)
    # Wangge's grouping of the same atoms (deterministic: what the child process made)
    labels, offset, label = np.full(len(w), -1), 0, 0
    for p in preps:
        where = {id(a): i for i, a in enumerate(p.atoms)}
        for m in group_community(p).micro:
            labels[[offset + where[id(a)] for a in m.atoms]] = label
            label += 1
        offset += len(p.atoms)
    if row["wangge"]:
        row["wangge"]["inside_edges_across_ways"] = across_ways(labels, edges, across)
    for key, fn in (("pymetis", run_metis), ("maxp", run_maxp)):
        got = in_child(fn, w, xy, cells, edges)
        row[key] = (
            None
            if got is None
            else {
                "s": got[0],
                **metrics(groups_from_labels(got[1]), w, cells, nbrs),
                "inside_edges_across_ways": across_ways(got[1], edges, across),
            }
        )
    return row


def fmt_layout(row: dict) -> str:
    wg = row["wangge"]
    name = {"bubenec": "Bubeneč (real, momepy)"}.get(row["kind"], row["kind"])
    if wg is None:
        return f"\n{name}: Wangge did not finish in {TIMEOUT:.0f} s"
    per_k = wg["s"] / wg["units"] * 1000
    lines = [
        f"\n{name}: {wg['layouts']} layouts, {wg['units']:,} units ({row['atoms']:,} atoms), "
        f"{wg['households']:,} households",
        f"  {'method':14} {'time s':>7} {'s/1k u':>7} {'groups':>6} {'in band':>7} "
        f"{'contig':>7} {'PP med':>6} {'x-way':>6}",
        f"  {'Wangge':14} {wg['s']:7.2f} {per_k:7.2f} {wg['groups']:6d} {wg['in_band']:7.1%} "
        f"{wg['contiguous']:7.1%} {wg['pp_median']:6.2f} "
        f"{wg.get('inside_edges_across_ways', 0):6.1%}",
    ]
    for key, label in (("maxp", "MaxPHeuristic"), ("pymetis", "pymetis")):
        r = row[key]
        if r is None:
            lines.append(f"  {label:14} did not finish in {TIMEOUT:.0f} s")
            continue
        lines.append(
            f"  {label:14} {r['s']:7.2f} {r['s'] / wg['units'] * 1000:7.2f} {r['groups']:6d} "
            f"{r['in_band']:7.1%} {r['contiguous']:7.1%} {r['pp_median'] or 0:6.2f} "
            f"{r['inside_edges_across_ways']:6.1%}"
        )
    lines += [
        f"  Wangge: in band where feasible {wg['in_band_where_feasible']:.1%}; compounds "
        f"{wg['compounds']}, proven {wg['proven_share']:.0%} ({wg['unproven']} not proven);",
        f"  peak RSS {wg['peak_rss_mib']:.0f} MiB; statuses {', '.join(wg['statuses'])}; x-way: "
        f"share of the",
        f"  edges inside groups that cross a road or lane ({row['edges_across_ways']:.1%} of "
        f"all edges do)",
    ]
    if row["maxp"]:
        lines.append(f"  speed-up over MaxPHeuristic {row['maxp']['s'] / wg['s']:.1f}x (all)")
    return "\n".join(lines)


def layout_targets(rows: list[dict]) -> str:
    """The issue's targets per class: met or missed, with the figures."""
    done = [r for r in rows if r["wangge"]]
    high = next((r["wangge"] for r in done if r["kind"] == "high_rise"), None)
    base = high["s"] / high["units"] * 1000 if high else None
    out = ["\ntargets (every class and the real data set):"]
    for r in done:
        wg = r["wangge"]
        per_k = wg["s"] / wg["units"] * 1000
        checks = [
            ("contiguous 100%", wg["contiguous"] == 1.0, f"{wg['contiguous']:.1%}"),
            (
                "in band where feasible 100%",
                wg["in_band_where_feasible"] == 1.0,
                f"{wg['in_band_where_feasible']:.1%}, {wg['unproven']} unproven",
            ),
            ("peak RSS < 1 GiB", wg["peak_rss_mib"] < 1024, f"{wg['peak_rss_mib']:.0f} MiB"),
        ]
        if base:
            checks.append(
                ("s/1k units <= 2x high-rise", per_k <= 2 * base, f"{per_k:.2f} vs {base:.2f}")
            )
        for label, ok, figure in checks:
            out.append(f"  {r['kind']:14} {label:28} {'met' if ok else 'MISSED':7} {figure}")
    return "\n".join(out)


# --- city scale -----------------------------------------------------------------------------
def _city_chunk(args):
    start, count, seed = args
    t = time.perf_counter()
    comms = list(synthetic_city(count, seed=seed, start=start))
    made = time.perf_counter() - t
    grids = inband = households = contiguous = ok_grids = ok_inband = 0
    statuses: dict[str, int] = {}
    for c in comms:
        r = partition_community(c.code, c.boundary, c.compounds, c.buildings)
        for cg in r.compound_grids:
            key = cg.status if cg.proven else f"{cg.status} (not proven)"
            statuses[key] = statuses.get(key, 0) + 1
            for m in cg.micro:
                grids += 1
                households += m.households
                inband += LO <= m.households <= HI
                contiguous += m.geometry.geom_type == "Polygon"
                if cg.status == "ok":
                    ok_grids += 1
                    ok_inband += LO <= m.households <= HI
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return grids, inband, households, contiguous, ok_grids, ok_inband, statuses, made, peak


def bench_city(n: int, workers: int) -> dict:
    chunk = 10
    tasks = [(s, min(chunk, n - s), 1) for s in range(0, n, chunk)]
    t = time.perf_counter()
    with mp.get_context("fork").Pool(workers) as pool:
        parts = pool.map(_city_chunk, tasks, chunksize=1)
    wall = time.perf_counter() - t
    grids = sum(p[0] for p in parts)
    statuses: dict[str, int] = {}
    for p in parts:
        for k, v in p[6].items():
            statuses[k] = statuses.get(k, 0) + v
    return {
        "communities": n,
        "workers": workers,
        "wall_s": wall,
        "making_input_s": sum(p[7] for p in parts),  # synthetic layouts, summed over workers
        "micro_grids": grids,
        "households": sum(p[2] for p in parts),
        "in_band": sum(p[1] for p in parts) / grids,
        "in_band_where_feasible": sum(p[5] for p in parts) / max(1, sum(p[4] for p in parts)),
        "compound_status": statuses,
        "contiguous": sum(p[3] for p in parts) / grids,
        "peak_rss_mib": max(p[8] for p in parts),  # of the pool's processes
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="*", default=[200, 1000, 10_000, 100_000])
    ap.add_argument("--city", type=int, default=0, help="communities for the city-scale run")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument(
        "--layouts", action="store_true", help="per morphology class and the real data set"
    )
    ap.add_argument("--kinds", nargs="*", help="with --layouts: only these classes (or bubenec)")
    ap.add_argument("--json", type=Path, help="write the results here")
    args = ap.parse_args()
    out = {"machine": machine(), "sizes": [], "city": None, "layouts": []}
    print("machine:", json.dumps(out["machine"], ensure_ascii=False))
    for n in args.sizes:
        row = bench_size(n)
        out["sizes"].append(row)
        print(fmt(row), flush=True)
    if args.layouts:
        from geo.synthetic.layouts import LAYOUT_KINDS

        for kind in args.kinds or (*LAYOUT_KINDS, "bubenec"):
            row = bench_layout(kind)
            out["layouts"].append(row)
            print(fmt_layout(row), flush=True)
        print(layout_targets(out["layouts"]), flush=True)
    if args.city:
        city = bench_city(args.city, args.workers)
        out["city"] = city
        print(
            f"\ncity: {city['communities']:,} communities, {city['households']:,} households, "
            f"{city['micro_grids']:,} micro-grids in {city['wall_s']:.0f} s with "
            f"{city['workers']} processes (making the synthetic input: "
            f"{city['making_input_s']:.0f} s of it, summed over the processes); "
            f"{city['in_band']:.1%} in band, {city['in_band_where_feasible']:.1%} where the "
            f"compound allows it, {city['contiguous']:.1%} contiguous; compounds by status: "
            f"{city['compound_status']}; peak memory per process "
            f"{city['peak_rss_mib']:.0f} MiB; target < 120 s: "
            f"{'met' if city['wall_s'] < 120 else 'MISSED'}"
        )
    if args.json:
        args.json.write_text(json.dumps(out, indent=2, ensure_ascii=False, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
