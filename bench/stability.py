"""Stability of the partition: how many micro-grids change when one building changes.

Each residential building of the sample community (吉福社区) in turn gets two more households
in its first unit; the community is partitioned again (same seed) and the micro-grids whose
households or members differ from the first partition are counted, and whether they all lie
in that building's own compound grid. Needs the project's PostGIS (started if need be, with
the sample loaded, as ``make demo`` does).

    python bench/stability.py [--seed 3] [--json bench/results/stability.json]
    python bench/stability.py --layout villa     # a morphology class of geo.synthetic.layouts instead
                                                 # (no database: its roads and lanes as ways)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from rich.progress import Progress

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import fixture_database, machine

from geo.partition import BuildingIn, UnitIn, partition_community
from geo.store.db import get_engine, session_scope
from geo.store.versions import load_community

COMMUNITY = "510107013001"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--json", type=Path, help="write the results here")
    ap.add_argument("--layout", help="a class of geo.synthetic.layouts (villa, urban_village, …)")
    ap.add_argument("--layout-seed", type=int, default=0)
    args = ap.parse_args()
    print("machine:", json.dumps(machine(), ensure_ascii=False))
    if args.layout:
        from geo.synthetic.layouts import make_layout

        inp = make_layout(args.layout, seed=args.layout_seed)
        kw = {
            "roads": [g for k, g in inp.roads if k != "footway"],
            "ways": [g for _, g in inp.roads],
            "seed": args.seed,
        }
    else:
        engine = get_engine(fixture_database())
        with session_scope(engine) as s:
            inp = load_community(s, COMMUNITY)
        kw = {
            "roads": inp.roads,
            "street_names": inp.road_names,
            "ways": inp.ways,
            "seed": args.seed,
        }

    def grids(buildings):
        r = partition_community(inp.code, inp.boundary, inp.compounds, buildings, **kw)
        return {m.code: (m.households, tuple(sorted(a.key for a in m.atoms))) for m in r.micro}, {
            m.code: m.parent for m in r.micro
        }

    t = time.perf_counter()
    first, parent = grids(inp.buildings)
    residential = [i for i, b in enumerate(inp.buildings) if b.households > 0 and b.units]
    changed_counts, own_zone = [], []
    with Progress(transient=True) as bar:
        task = bar.add_task(
            "楼栋逐一 +2 户 (one building at a time, +2 households)", total=len(residential)
        )
        for i in residential:
            b = inp.buildings[i]
            u0 = b.units[0]
            units = (UnitIn(u0.id, u0.unit_no, u0.floors, u0.households + 2), *b.units[1:])
            moved = list(inp.buildings)
            moved[i] = BuildingIn(b.code, b.footprint, b.compound, units)
            second, parent2 = grids(moved)
            changed = {c for c in set(first) | set(second) if first.get(c) != second.get(c)}
            zones = {parent.get(c) or parent2.get(c) for c in changed}
            home = {parent2[c] for c in second if any(k[0] == b.code for k in second[c][1])}
            changed_counts.append(len(changed))
            own_zone.append(zones <= home)
            bar.advance(task)
    counts = np.array(changed_counts)
    out = {
        "community": inp.code,
        "micro_grids": len(first),
        "buildings_changed_one_at_a_time": len(residential),
        "changed_mean": float(counts.mean()),
        "changed_median": float(np.median(counts)),
        "changed_max": int(counts.max()),
        "always_in_own_compound_grid": bool(all(own_zone)),
        "seconds": time.perf_counter() - t,
    }
    print(
        f"{out['buildings_changed_one_at_a_time']} buildings, one at a time +2 households: "
        f"{out['changed_mean']:.1f} of {out['micro_grids']} micro-grids change on average "
        f"(median {out['changed_median']:.0f}, at most {out['changed_max']}); always in the "
        f"building's own compound grid: {out['always_in_own_compound_grid']} "
        f"({out['seconds']:.0f} s)"
    )
    if args.json:
        args.json.write_text(json.dumps(out, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
