"""Partitioning a community into compound grids and micro-grids of 30–50 households.

The three levels (社区网格 → 小区/院落网格 → 楼栋/单元微网格):

* the **community grid** is the community;
* **compound grids** follow the compound polygons; buildings outside every compound (shop
  fronts, street-side blocks) are grouped by proximity, never across a road, into street
  grids; the rest of the community (roads, open ground) goes to the nearest of these, so the
  compound grids tile the community (:func:`geo.tessellate.tessellate`);
* **micro-grids** are groups of whole building units (单元) whose households add up to the
  band. A unit is split only when it alone exceeds the maximum, and then by floors into
  balanced parts. Each unit has a slice of its building's footprint and a cell of the
  compound grid (the tessellation again, by slices; a split unit's cell cut across its long
  axis into its parts); a micro-grid's polygon is the union of its units' cells, so the
  micro-grids tile their compound grid.

Grouping is a recursive bisection of spanning trees of the unit adjacency graph (units whose
cells share an edge), in the manner of ReCom (DeFord, Duchin & Solomon 2021, *Recombination: A
family of Markov chains for redistricting*, Harvard Data Science Review): cutting one edge of a
spanning tree leaves two connected parts, so every group is contiguous by construction. A
component that must hold ``k`` groups is cut where the two sides can hold ``k1`` and ``k - k1``
groups within the band, preferring cuts that keep buildings whole, then compact sides (least
household-weighted moment of inertia); the first tree is the minimum spanning tree of centroid
distances, later ones are seeded random trees. The search is exact about the band: a group is
only ever formed with a total inside it.

When a compound's units cannot make groups inside the band, the documented rule applies, in
order (and is reported per compound, never silently):

1. total below the minimum: one under-filled micro-grid;
2. otherwise one under-filled micro-grid is allowed (all others in the band);
3. with ``allow_cross_compound``, the compound grid is merged with the neighbouring compound
   grid it shares the longest border with, and the two are partitioned together;
4. otherwise as few under-filled micro-grids as possible; a micro-grid is never over-filled
   (e.g. two single-unit buildings of 28: two micro-grids of 28).

Deterministic for the same input and seed. All geometry is in a metric CRS.
"""

from __future__ import annotations

import itertools
import math
import zlib
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
from shapely import Geometry

from geo.tessellate import dissolve, slice_polygons, tessellate

__all__ = [
    "Atom",
    "BuildingIn",
    "CompoundGrid",
    "CompoundIn",
    "Graph",
    "MicroGrid",
    "PartitionResult",
    "Prepared",
    "UnitIn",
    "bisect_groups",
    "group_community",
    "make_graph",
    "partition_community",
    "prepare_community",
    "solve_zone",
    "split_unit",
]


# --- inputs -------------------------------------------------------------------------------
@dataclass(frozen=True)
class UnitIn:
    """A building unit (单元): its households, and per floor when known (index 0 = floor 1)."""

    id: int
    unit_no: int
    floors: int
    households: int
    per_floor: tuple[int, ...] | None = None


@dataclass(frozen=True)
class BuildingIn:
    code: str
    footprint: Geometry  # metric CRS
    compound: str | None
    units: tuple[UnitIn, ...]

    @property
    def households(self) -> int:
        return sum(u.households for u in self.units)


@dataclass(frozen=True)
class CompoundIn:
    code: str
    name: str
    boundary: Geometry  # metric CRS


# --- outputs ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Atom:
    """A unit, or a floor range of a unit that exceeds the maximum: what micro-grids hold."""

    building: str
    unit_id: int
    unit_no: int
    floor_min: int | None  # None: the whole unit
    floor_max: int | None
    households: int
    slice: Geometry

    @property
    def key(self) -> tuple[str, int, int]:
        return (self.building, self.unit_no, self.floor_min or 0)


@dataclass
class MicroGrid:
    code: str
    parent: str
    geometry: Geometry
    atoms: list[Atom]

    @property
    def households(self) -> int:
        return sum(a.households for a in self.atoms)

    @property
    def buildings(self) -> list[str]:
        return sorted({a.building for a in self.atoms})


@dataclass
class CompoundGrid:
    code: str
    name: str
    compounds: list[str]  # compound codes (empty for a street grid; two when merged)
    geometry: Geometry
    micro: list[MicroGrid] = field(default_factory=list)
    status: str = "ok"  # ok | under_total | one_underfilled | underfilled | no_households | merged
    reason: str = ""
    split_buildings: int = 0
    # the status is certain (see _Solution.proven): False only when the heuristic search for
    # a large compound gave up without proving that no grouping in band exists
    proven: bool = True

    @property
    def households(self) -> int:
        return sum(m.households for m in self.micro)


@dataclass
class PartitionResult:
    community: str
    geometry: Geometry
    compound_grids: list[CompoundGrid]
    params: dict[str, Any]
    assignment: dict[str, Any] | None = None  # households/incidents re-assigned once stored

    @property
    def micro(self) -> list[MicroGrid]:
        return [m for c in self.compound_grids for m in c.micro]

    def records(self) -> list[Any]:
        """The grids as :class:`geo.validate.GridRecord` (for validation)."""
        from geo.validate import GridRecord

        out = [
            GridRecord(
                self.community,
                "community",
                None,
                self.geometry,
                sum(c.households for c in self.compound_grids),
            )
        ]
        for c in self.compound_grids:
            out.append(GridRecord(c.code, "compound", self.community, c.geometry, c.households))
            for m in c.micro:
                out.append(
                    GridRecord(
                        m.code,
                        "micro",
                        c.code,
                        m.geometry,
                        m.households,
                        [(a.unit_id, a.floor_min, a.floor_max, a.households) for a in m.atoms],
                        note=c.reason,
                    )
                )
        return out

    def summary(self) -> dict[str, Any]:
        lo, hi = self.params["min"], self.params["max"]
        micro = self.micro
        sizes = np.array([m.households for m in micro])
        pp = np.array([polsby_popper(m.geometry) for m in micro])
        spread = np.array([spread_m(m) for m in micro])
        feasible = [m for c in self.compound_grids if c.status == "ok" for m in c.micro]
        return {
            "community": self.community,
            "compound_grids": len(self.compound_grids),
            "micro_grids": len(micro),
            "households": int(sizes.sum()),
            "in_band": int(((sizes >= lo) & (sizes <= hi)).sum()),
            "in_band_share": float(((sizes >= lo) & (sizes <= hi)).mean()) if len(sizes) else 1.0,
            "in_band_where_feasible": float(
                np.mean([lo <= m.households <= hi for m in feasible]) if feasible else 1.0
            ),
            "contiguous_share": float(
                np.mean([m.geometry.geom_type == "Polygon" for m in micro]) if micro else 1.0
            ),
            "split_buildings": sum(c.split_buildings for c in self.compound_grids),
            "polsby_popper_median": float(np.median(pp)) if len(pp) else None,
            "spread_m_max": float(spread.max()) if len(spread) else None,
            "spread_m_median": float(np.median(spread)) if len(spread) else None,
            "infeasible": [
                {
                    "code": c.code,
                    "name": c.name,
                    "status": c.status,
                    "reason": c.reason,
                    "households": c.households,
                    # no grouping in band exists (proven by the exact search or arithmetic);
                    # False: a large compound's heuristic search gave up
                    "proven": c.proven,
                }
                for c in self.compound_grids
                if c.status != "ok"
            ],
        }


def polsby_popper(g: Geometry) -> float:
    """4πA/P²: 1 for a disc, about 0.785 for a square."""
    p = shapely.length(g)
    return float(4 * math.pi * shapely.area(g) / (p * p)) if p > 0 else 0.0


def spread_m(m: MicroGrid) -> float:
    """The largest straight-line distance between two of a micro-grid's units (metres)."""
    pts = shapely.get_coordinates(shapely.centroid([a.slice for a in m.atoms]))
    if len(pts) < 2:
        return 0.0
    d = pts[:, None, :] - pts[None, :, :]
    return float(np.sqrt((d**2).sum(-1)).max())


# --- units to atoms ------------------------------------------------------------------------
def split_unit(unit: UnitIn, maximum: int) -> list[tuple[int | None, int | None, int]]:
    """(floor_min, floor_max, households) parts of a unit: the whole unit when it fits, else
    the fewest floor ranges of balanced size, each at most ``maximum``."""
    if unit.households <= maximum:
        return [(None, None, unit.households)]
    per = list(unit.per_floor) if unit.per_floor else _even(unit.households, unit.floors)
    if max(per) > maximum:  # a single floor above the maximum cannot be split by floors
        raise ValueError(f"unit {unit.id}: one floor has {max(per)} households > {maximum}")
    cum = np.concatenate([[0], np.cumsum(per)])
    parts = math.ceil(unit.households / maximum)
    while True:
        cuts = [0]
        for j in range(1, parts):
            target = unit.households * j / parts
            f = int(np.argmin(np.abs(cum - target)))
            cuts.append(max(f, cuts[-1] + 1))
        cuts.append(len(per))
        sizes = [int(cum[b] - cum[a]) for a, b in itertools.pairwise(cuts)]
        if max(sizes) <= maximum and all(b > a for a, b in itertools.pairwise(cuts)):
            return [(a + 1, b, n) for a, b, n in zip(cuts[:-1], cuts[1:], sizes, strict=True)]
        parts += 1


def _even(total: int, floors: int) -> list[int]:
    base, extra = divmod(total, floors)
    return [base + (1 if f < extra else 0) for f in range(floors)]


def buildings_units(
    bs: Sequence[BuildingIn], maximum: int
) -> list[list[tuple[UnitIn, Geometry, list]]]:
    """For each building, each unit with its slice of the footprint (units side by side
    along the long axis) and its parts (:func:`split_unit`); the footprints cut in one go."""
    units = [sorted(b.units, key=lambda u: u.unit_no) for b in bs]
    slices = slice_polygons(
        [b.footprint for b in bs], [[max(u.households, 0) for u in us] for us in units]
    )
    return [
        [(u, sl, split_unit(u, maximum)) for u, sl in zip(us, ss, strict=True)] if us else []
        for us, ss in zip(units, slices, strict=True)
    ]


# --- grouping: recursive spanning-tree bisection ------------------------------------------
@dataclass
class Graph:
    w: np.ndarray  # households per atom
    xy: np.ndarray  # centroids (metres)
    building: np.ndarray  # building index per atom
    nbrs: list[np.ndarray]  # adjacency lists
    edges: np.ndarray  # (m, 2) undirected edges i < j


def make_graph(
    w: Sequence[int], xy: np.ndarray, building: Sequence[int], edges: Sequence[tuple[int, int]]
) -> Graph:
    n = len(w)
    e = np.array(sorted({(min(a, b), max(a, b)) for a, b in edges if a != b}), dtype=np.int64)
    e = e.reshape(-1, 2)
    nbrs: list[list[int]] = [[] for _ in range(n)]
    for a, b in e:
        nbrs[a].append(int(b))
        nbrs[b].append(int(a))
    return Graph(
        np.asarray(w, dtype=np.int64),
        np.asarray(xy, dtype=float),
        np.asarray(building, dtype=np.int64),
        [np.array(x, dtype=np.int64) for x in nbrs],
        e,
    )


def _fits(total: int, count: int, k: int, u: int, lo: int, hi: int, heavy: int = 0) -> bool:
    """Can ``count`` atoms weighing ``total`` make ``k`` groups, all ≤ hi and all but ``u``
    of them ≥ lo? (a necessary test; ``heavy`` atoms, over hi/2, need a group each)"""
    return heavy <= k <= count and (k - u) * lo <= total <= k * hi


def _heavy(g: Graph, nodes: np.ndarray | list[int], hi: int) -> int:
    return int((g.w[nodes] * 2 > hi).sum())


def _mst(g: Graph, nodes: np.ndarray, rng: np.random.Generator | None) -> np.ndarray | None:
    """Edges (global ids) of a spanning tree of the subgraph on ``nodes``: the minimum one by
    centroid distance (edges inside a building nearly free), or with ``rng`` a random one.
    None when the subgraph is not connected."""
    n = len(nodes)
    if n == 1:
        return np.empty((0, 2), dtype=np.int64)
    inside = np.zeros(len(g.w), dtype=bool)
    inside[nodes] = True
    e = g.edges[inside[g.edges[:, 0]] & inside[g.edges[:, 1]]]
    if len(e) < n - 1:
        return None
    d = np.hypot(*(g.xy[e[:, 0]] - g.xy[e[:, 1]]).T) + 1.0
    d = np.where(g.building[e[:, 0]] == g.building[e[:, 1]], 1e-3 * d, d)
    if rng is not None:
        d = d * rng.uniform(0.2, 1.8, len(d))
    parent = {int(v): int(v) for v in nodes}

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    chosen = []
    for i in np.argsort(d, kind="stable"):
        a, b = int(e[i, 0]), int(e[i, 1])
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[ra] = rb
            chosen.append(i)
            if len(chosen) == n - 1:
                return e[chosen]
    return None


def _root(nodes: np.ndarray, tree: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(parent, BFS order) of a tree over ``nodes`` (local indices), rooted at nodes[0]."""
    local = {int(v): i for i, v in enumerate(nodes)}
    adj: list[list[int]] = [[] for _ in nodes]
    for a, b in tree:
        ia, ib = local[int(a)], local[int(b)]
        adj[ia].append(ib)
        adj[ib].append(ia)
    parent = np.full(len(nodes), -1, dtype=np.int64)
    order = [0]
    seen = np.zeros(len(nodes), dtype=bool)
    seen[0] = True
    for v in order:  # BFS (the list grows while we walk it)
        for u in adj[v]:
            if not seen[u]:
                seen[u] = True
                parent[u] = v
                order.append(u)
    return parent, np.asarray(order, dtype=np.int64)


def _cuts(
    g: Graph,
    nodes: np.ndarray,
    parent: np.ndarray,
    order: np.ndarray,
    k: int,
    u: int,
    lo: int,
    hi: int,
) -> list[tuple[float, int, int, int]]:
    """Feasible tree edges (child v of its parent) to cut, with how many groups (k1) and
    under-filled groups (u1) the child's side takes, best first: (score, v, k1, u1)."""
    w = g.w[nodes].astype(float)
    m = w + 0.01  # mass for inertia (zero-household atoms still count a little)
    x, y = g.xy[nodes, 0], g.xy[nodes, 1]
    acc = np.stack(
        [m, m * x, m * y, m * (x * x + y * y), w, np.ones(len(nodes)), (w * 2 > hi) * 1.0]
    )
    for v in order[::-1][:-1]:  # children before parents; the root last
        acc[:, parent[v]] += acc[:, v]
    root = order[0]
    tot = acc[:, root : root + 1]
    child = np.flatnonzero(parent >= 0)
    a = acc[:, child]
    b = tot - a

    def inertia(s: np.ndarray) -> np.ndarray:
        return s[3] - (s[1] ** 2 + s[2] ** 2) / s[0]

    i_total = max(float(inertia(tot)[0]), 1e-9)
    compact = (inertia(a) + inertia(b)) / i_total
    split = g.building[nodes[child]] == g.building[nodes[parent[child]]]
    wa, na, wb, nb = a[4], a[5], b[4], b[5]
    ha, hb = a[6], b[6]
    target = (lo + hi) / 2
    out: list[tuple[float, int, int, int]] = []
    for k1 in range(1, k):
        k2 = k - k1
        for u1 in range(0, min(u, k1) + 1):
            u2 = u - u1
            if u2 > k2:
                continue
            ok = (
                (k1 <= na)
                & (k1 >= ha)
                & (k2 >= hb)
                & ((k1 - u1) * lo <= wa)
                & (wa <= k1 * hi)
                & (k2 <= nb)
                & ((k2 - u2) * lo <= wb)
                & (wb <= k2 * hi)
            )
            if not ok.any():
                continue
            score = compact + 0.25 * np.abs(wa / k1 - wb / k2) / target + 1000.0 * split
            for i in np.flatnonzero(ok):
                out.append((float(score[i]), int(child[i]), k1, u1))
    out.sort()
    return out


def bisect_groups(
    g: Graph,
    nodes: np.ndarray,
    k: int,
    u: int,
    lo: int,
    hi: int,
    rng: np.random.Generator,
    *,
    tree: np.ndarray | None = None,
    trees: int = 64,
    tries: int = 4,
    budget: list[int] | None = None,
    memo: dict | None = None,
) -> list[np.ndarray] | None:
    """``k`` connected groups of ``nodes`` (all ≤ hi, all but ``u`` ≥ lo), or None.

    ``tree`` is a spanning tree of ``nodes`` to try first (the two sides of a cut tree are
    spanning trees of their parts, so a descent reuses it); later attempts draw seeded random
    trees, fewer the deeper the search. ``budget`` is [trees, steps]: how many trees may be
    drawn and how many cut lists or exhaustive candidates examined in the
    whole search; sub-problems known to fail are remembered in ``memo``. Parts of at most
    ``EXACT`` units that the trees cannot split are searched exhaustively."""
    budget = budget if budget is not None else [60, STEPS]
    memo = memo if memo is not None else {}
    count, total = len(nodes), int(g.w[nodes].sum())
    if not _fits(total, count, k, u, lo, hi, _heavy(g, nodes, hi)):
        return None
    if k == 1:
        return [nodes]
    key = (frozenset(nodes.tolist()), k, u)
    if key in memo:
        return None
    for attempt in range(trees):
        if attempt > 0 or tree is None:
            if budget[0] <= 0:
                break
            budget[0] -= 1
            tree = _mst(g, nodes, rng if attempt > 0 else None)
            if tree is None:
                break
        parent, order = _root(nodes, tree)
        budget[1] -= 1
        if budget[1] < 0:
            return None
        for _score, v, k1, u1 in _cuts(g, nodes, parent, order, k, u, lo, hi)[:tries]:
            side = _subtree(parent, order, v)
            a, b = nodes[side], nodes[~side]
            in_a = np.zeros(len(g.w), dtype=bool)
            in_a[a] = True
            cut = (tree[:, 0] == nodes[v]) & (tree[:, 1] == nodes[parent[v]]) | (
                (tree[:, 1] == nodes[v]) & (tree[:, 0] == nodes[parent[v]])
            )
            rest = tree[~cut]
            ta, tb = rest[in_a[rest[:, 0]]], rest[~in_a[rest[:, 0]]]
            sub = {"trees": max(2, trees // 4), "tries": tries, "budget": budget, "memo": memo}
            left = bisect_groups(g, a, k1, u1, lo, hi, rng, tree=ta, **sub)
            if left is None:
                continue
            right = bisect_groups(g, b, k - k1, u - u1, lo, hi, rng, tree=tb, **sub)
            if right is not None:
                return left + right
        if count <= EXACT:
            break  # small enough to settle exactly
    if count <= EXACT and budget[1] > 0:
        got = _exact(g, nodes, k, u, lo, hi, memo, budget)
        if got is not None:
            return got
    if budget[1] >= 0 and (count <= EXACT or budget[0] > 0):  # a real dead end, not fatigue
        memo[key] = True
    return None


EXACT = 8  # parts with at most this many units are searched exhaustively
STEPS = 20_000  # work allowed for one search (cut lists plus exhaustive candidates)


def _exact(
    g: Graph, nodes: np.ndarray, k: int, u: int, lo: int, hi: int, memo: dict, budget: list[int]
) -> list[np.ndarray] | None:
    """Exhaustive search: the group holding the first node is a connected subset; the rest
    (in connected pieces) is solved recursively. Exponential, so only for a few units."""
    key = ("exact", frozenset(nodes.tolist()), k, u)
    if key in memo:
        return None
    total = int(g.w[nodes].sum())
    if not _fits(total, len(nodes), k, u, lo, hi, _heavy(g, nodes, hi)):
        return None
    if k == 1:
        return [nodes]
    first, others = int(nodes[0]), nodes[1:]
    node_set = set(nodes.tolist())
    if len(_pieces(g, sorted(node_set))) > 1:
        return _exact_pieces(g, _pieces(g, sorted(node_set)), k, u, lo, hi, memo, budget)
    for mask in range(1 << len(others)):
        budget[1] -= 1
        if budget[1] < 0:
            return None  # out of work: not proven impossible, so not remembered
        group = [first] + [int(others[i]) for i in range(len(others)) if mask >> i & 1]
        weight = int(g.w[group].sum())
        if weight > hi:
            continue
        under = weight < lo
        if under and u == 0:
            continue
        if not _connected(g, group):
            continue
        rest = sorted(node_set - set(group))
        got = _exact_pieces(
            g, _pieces(g, rest), k - 1, u - (1 if under else 0), lo, hi, memo, budget
        )
        if got is not None:
            return [np.array(group, dtype=np.int64), *got]
    if budget[1] >= 0:
        memo[key] = True
    return None


def _exact_pieces(
    g: Graph,
    pieces: list[list[int]],
    k: int,
    u: int,
    lo: int,
    hi: int,
    memo: dict,
    budget: list[int],
) -> list[np.ndarray] | None:
    """Share ``k`` groups (``u`` of them may be under-filled) among connected pieces."""
    if not pieces:
        return [] if k == 0 else None
    head, tail = pieces[0], pieces[1:]
    arr = np.array(head, dtype=np.int64)
    for kh in range(1, min(k, len(head)) + 1):
        for uh in range(0, min(u, kh) + 1):
            if not _fits(int(g.w[arr].sum()), len(head), kh, uh, lo, hi, _heavy(g, arr, hi)):
                continue
            rest_total = sum(int(g.w[p].sum()) for p in tail)
            if tail and not _fits(rest_total, sum(len(p) for p in tail), k - kh, u - uh, lo, hi):
                continue
            mine = _exact(g, arr, kh, uh, lo, hi, memo, budget)
            if mine is None:
                continue
            others = _exact_pieces(g, tail, k - kh, u - uh, lo, hi, memo, budget)
            if others is not None:
                return mine + others
    return None


def _pieces(g: Graph, nodes: list[int]) -> list[list[int]]:
    todo, out = set(nodes), []
    for start in nodes:
        if start not in todo:
            continue
        todo.discard(start)
        comp, stack = [start], [start]
        while stack:
            v = stack.pop()
            for x in g.nbrs[v]:
                x = int(x)
                if x in todo:
                    todo.discard(x)
                    comp.append(x)
                    stack.append(x)
        out.append(sorted(comp))
    return out


def _connected(g: Graph, group: list[int]) -> bool:
    inside = set(group)
    seen = {group[0]}
    stack = [group[0]]
    while stack:
        v = stack.pop()
        for x in g.nbrs[v]:
            x = int(x)
            if x in inside and x not in seen:
                seen.add(x)
                stack.append(x)
    return len(seen) == len(inside)


def _subtree(parent: np.ndarray, order: np.ndarray, v: int) -> np.ndarray:
    inside = np.zeros(len(parent), dtype=bool)
    inside[v] = True
    for x in order:  # BFS order: a parent comes before its children
        if parent[x] >= 0 and inside[parent[x]]:
            inside[x] = True
    return inside


@dataclass
class _Solution:
    groups: list[np.ndarray]
    status: str
    reason: str
    # the status is certain: in band, or no grouping in band exists (arithmetic, the exact
    # search, or units that can join nobody); False when the heuristic search gave up
    proven: bool = True


def solve_zone(
    g: Graph, lo: int, hi: int, rng: np.random.Generator, *, bridge: bool = True
) -> _Solution:
    """Group a zone's atoms under the band and the documented rule (without merging).

    Units without households are first left out and bridged (:func:`_bridged`); when two
    groups turn out to need the same run of them to hold together, the zone is searched again
    with them as units of no households (``bridge=False``)."""
    n = len(g.w)
    nodes = np.arange(n)
    total = int(g.w.sum())
    if n == 0:
        return _Solution([], "no_households", "没有楼栋 (no buildings)")
    if total == 0:
        return _Solution([nodes], "no_households", "没有住户 (no households)")
    if total < lo:
        return _Solution(
            [nodes],
            "under_total",
            f"总户数 {total} 低于下限 {lo} (total {total} below the minimum {lo})",
        )
    if total <= hi:
        return _Solution([nodes], "ok", "")
    empty = np.flatnonzero(g.w == 0)
    if len(empty) and bridge:  # units without households (shops) join a group afterwards
        full = np.flatnonzero(g.w > 0)
        sol = solve_zone(_bridged(g, full), lo, hi, rng)
        groups = _attach(g, [full[grp] for grp in sol.groups])
        if all(_connected(g, grp.tolist()) for grp in groups):
            return _Solution(groups, sol.status, sol.reason, sol.proven)
        return solve_zone(g, lo, hi, rng, bridge=False)
    comps = _components(g)
    if len(comps) > 1:
        return _solve_components(g, comps, lo, hi, rng, bridge=bridge)
    if n <= DP_UNITS:
        got = _optimal(g, lo, hi)
        if got is not None:
            return _underfilled(g, got, lo, hi)
    kmin, kmax = math.ceil(total / hi), total // lo
    target = (lo + hi) / 2
    ks = sorted(range(kmin, kmax + 1), key=lambda k: (abs(total / k - target), k))
    lonely = _lonely_underfilled(g.w, lo, hi)
    if lonely:  # some units can join nobody and are too small alone: no in-band solution
        ks = []
    # objectives in order: all in band; fewest split buildings; then k nearest the target
    needed = _inevitable_splits(g, hi)
    best: tuple[int, int, list[np.ndarray]] | None = None
    pool = [ZONE_STEPS]  # work shared by every search of this phase
    for trees in (8, 200):  # a quick pass over every k, then a thorough one
        for rank, k in enumerate(ks[:6]):
            got = _search(g, nodes, k, 0, lo, hi, rng, trees, pool)
            if got is None:
                continue
            splits = _splits(g, got)
            if best is None or (splits, rank) < (best[0], best[1]):
                best = (splits, rank, got)
            if splits <= needed:
                break
        if best is not None:
            return _Solution(best[2], "ok", "")
    # the rule: as few under-filled micro-grids as possible, none over-filled
    pool = [ZONE_STEPS]
    for u in range(max(1, lonely), n + 1):
        for k in range(max(kmin, u), min(n, total // lo + u) + 1):
            got = _search(g, nodes, k, u, lo, hi, rng, 60, pool)
            if got is not None:
                return _underfilled(g, got, lo, hi, proven=bool(lonely))
    # last resort (always possible): every unit alone
    return _underfilled(g, [np.array([i]) for i in range(n)], lo, hi, proven=bool(lonely))


ZONE_STEPS = 2_000  # work allowed for each phase of one zone (in band; the rule)


def _underfilled(
    g: Graph, groups: list[np.ndarray], lo: int, hi: int, *, proven: bool = True
) -> _Solution:
    """A solution with under-filled groups, with the reason and the rule applied."""
    under = sum(1 for grp in groups if g.w[grp].sum() < lo)
    if under == 0:
        return _Solution(groups, "ok", "")
    total = int(g.w.sum())
    sizes = ", ".join(str(int(x)) for x in sorted(g.w[g.w > 0])[::-1][:8])
    why = (
        f"{total} 户的单元 ({sizes}) 无法全部组成 {lo}–{hi} 户的微网格 "
        f"(units of {total} households cannot all be grouped within {lo}-{hi})"
    )
    rule = (
        "允许一个不足的微网格 (one under-filled micro-grid allowed)"
        if under == 1
        else f"{under} 个微网格不足 ({under} under-filled micro-grids, none over-filled)"
    )
    status = "one_underfilled" if under == 1 else "underfilled"
    return _Solution(groups, status, f"{why}; {rule}", proven)


DP_UNITS = 32  # zones of at most this many units are solved to optimality (within DP_WORK)
DP_WORK = 10_000


def _optimal(g: Graph, lo: int, hi: int) -> list[np.ndarray] | None:
    """The best grouping of a zone's units by exhaustive search with memoisation, or None
    when it would take more than ``DP_WORK`` steps.

    Groups are connected sets of at most ``hi`` households; the cost of a grouping is, in
    order: under-filled groups; units whose building also has units in another group (split
    buildings); household-weighted moment of inertia (compactness). The first pass looks only
    at groups within the band (far fewer); only when no grouping of those covers the zone does
    a second pass allow under-filled groups."""
    for under in (False, True):
        try:
            got = _best_grouping(g, lo, hi, allow_under=under)
        except _OutOfWork:
            return None
        if got is not None:
            return got
    return None


def _best_grouping(g: Graph, lo: int, hi: int, *, allow_under: bool) -> list[np.ndarray] | None:
    """One pass of :func:`_optimal`: dynamic programming over the sets of units left (each
    cost is a sum over groups, so the best grouping of the units left is shared by every way
    of reaching them; pieces of them are grouped independently). Sets of units are bit masks
    (unit i is bit i), so that set operations and memo keys are single integers. None when
    no grouping exists (without under-filled groups)."""
    n = len(g.w)
    wl = [int(x) for x in g.w]
    ml = [float(x) + 0.01 for x in g.w]
    xl = [float(x) for x in g.xy[:, 0]]
    yl = [float(y) for y in g.xy[:, 1]]
    nb = [0] * n
    for a, b in g.edges.tolist():
        nb[a] |= 1 << b
        nb[b] |= 1 << a
    building_mask: dict[int, int] = {}
    for v, b in enumerate(g.building.tolist()):
        building_mask[b] = building_mask.get(b, 0) | 1 << v
    same = [building_mask[b] for b in g.building.tolist()]
    smallest = lo if not allow_under else 0
    work = [0]
    Cost = tuple[int, int, float]
    memo: dict[int, tuple[Cost, list[int]] | None] = {}
    costs: dict[int, Cost] = {}

    def weight_of(mask: int) -> int:
        total = 0
        while mask:
            low = mask & -mask
            mask ^= low
            total += wl[low.bit_length() - 1]
        return total

    def cost(group: int) -> Cost:
        c = costs.get(group)
        if c is not None:
            return c
        weight = s0 = sx = sy = s2 = 0.0
        frag = 0
        rest = group
        while rest:
            low = rest & -rest
            rest ^= low
            v = low.bit_length() - 1
            weight += wl[v]
            m = ml[v]
            s0 += m
            sx += m * xl[v]
            sy += m * yl[v]
            s2 += m * (xl[v] * xl[v] + yl[v] * yl[v])
            if same[v] & ~group:
                frag += 1
        c = (int(weight < lo), frag, s2 - (sx * sx + sy * sy) / s0)
        costs[group] = c
        return c

    def subsets(root: int, left: int) -> list[int]:
        """Every connected set of units in ``left`` holding unit ``root``, of at most ``hi``
        households (and at least ``smallest``): each set is reached once, by adding frontier
        units in bit order and banning the ones passed over."""
        out: list[int] = []
        seen = [0]

        def rec(members: int, weight: int, frontier: int, banned: int) -> None:
            seen[0] += 1
            if weight >= smallest:
                out.append(members)
            while frontier:
                low = frontier & -frontier
                frontier ^= low
                v = low.bit_length() - 1
                if weight + wl[v] <= hi:
                    grow = nb[v] & left & ~members & ~banned & ~low
                    rec(members | low, weight + wl[v], frontier | grow, banned)
                banned |= low

        start = 1 << root
        rec(start, wl[root], nb[root] & left, 0)
        work[0] += seen[0]
        return out

    def pieces(left: int) -> list[int]:
        """The connected pieces of the units in ``left``."""
        out = []
        while left:
            piece = frontier = left & -left
            while frontier:
                grow = 0
                while frontier:
                    low = frontier & -frontier
                    frontier ^= low
                    grow |= nb[low.bit_length() - 1]
                frontier = grow & left & ~piece
                piece |= frontier
            out.append(piece)
            left &= ~piece
        return out

    def best(left: int) -> tuple[Cost, list[int]] | None:
        if not left:
            return (0, 0, 0.0), []
        if left in memo:
            return memo[left]
        if work[0] > DP_WORK:
            raise _OutOfWork
        split = pieces(left)
        top: tuple[Cost, list[int]] | None = None
        if len(split) > 1:  # pieces are grouped independently: their best costs add up
            parts = []
            for piece in split:
                got = best(piece)
                if got is None:
                    break
                parts.append(got)
            else:
                top = (
                    (
                        sum(c[0] for c, _ in parts),
                        sum(c[1] for c, _ in parts),
                        sum(c[2] for c, _ in parts),
                    ),
                    [grp for _, groups in parts for grp in groups],
                )
            memo[left] = top
            return top
        if not allow_under:  # k in-band groups need k*lo <= households <= k*hi
            total = weight_of(left)
            if -(-total // hi) > total // lo:
                memo[left] = None
                return None
        # the unit with the fewest neighbours left: fewest groups to try around it
        root, fewest, rest = -1, n + 1, left
        while rest:
            low = rest & -rest
            rest ^= low
            v = low.bit_length() - 1
            degree = (nb[v] & left).bit_count()
            if degree < fewest:
                root, fewest = v, degree
                if degree <= 1:
                    break
        for grp in subsets(root, left):
            sub = best(left & ~grp)
            if sub is None:
                continue
            c = cost(grp)
            total_cost = (c[0] + sub[0][0], c[1] + sub[0][1], c[2] + sub[0][2])
            if top is None or total_cost < top[0]:
                top = (total_cost, [grp, *sub[1]])
        memo[left] = top
        return top

    got = best((1 << n) - 1)
    if got is None:
        return None
    return [np.array([v for v in range(n) if grp >> v & 1], dtype=np.int64) for grp in got[1]]


class _OutOfWork(Exception):
    pass


def _lonely_underfilled(w: np.ndarray, lo: int, hi: int) -> int:
    """Units below the minimum that cannot share a group with any other unit that has
    households (each would exceed the maximum): each is an under-filled group for certain."""
    positive = np.sort(w[w > 0])
    if len(positive) < 2:
        return int(len(positive) == 1 and positive[0] < lo)
    count = 0
    for x in w:
        if x <= 0 or x >= lo:
            continue
        smallest_other = positive[1] if x == positive[0] else positive[0]
        if x + smallest_other > hi:
            count += 1
    return count


def _search(
    g: Graph,
    nodes: np.ndarray,
    k: int,
    u: int,
    lo: int,
    hi: int,
    rng: np.random.Generator,
    trees: int,
    pool: list[int],
) -> list[np.ndarray] | None:
    """One bisection search drawing on the phase's shared pool of work."""
    if pool[0] <= 0:
        return None
    allowed = min(pool[0], STEPS)
    budget = [trees, allowed]
    got = bisect_groups(g, nodes, k, u, lo, hi, rng, budget=budget)
    pool[0] -= allowed - max(budget[1], 0)
    return got


def _splits(g: Graph, groups: list[np.ndarray]) -> int:
    """How many buildings have atoms in more than one group."""
    owner: dict[int, set[int]] = {}
    for n, grp in enumerate(groups):
        for b in g.building[grp]:
            owner.setdefault(int(b), set()).add(n)
    return sum(1 for s in owner.values() if len(s) > 1)


def _inevitable_splits(g: Graph, hi: int) -> int:
    """Buildings that cannot stay whole: more households than the maximum."""
    totals = np.bincount(g.building, weights=g.w)
    return int((totals > hi).sum())


def _components(g: Graph) -> list[np.ndarray]:
    """The connected pieces of the graph, each as sorted node indices (a zone has tens of
    units: a walk in Python beats a sparse-matrix call here)."""
    return [np.array(p, dtype=np.int64) for p in _pieces(g, list(range(len(g.w))))]


def _solve_components(
    g: Graph,
    comps: list[np.ndarray],
    lo: int,
    hi: int,
    rng: np.random.Generator,
    *,
    bridge: bool = True,
) -> _Solution:
    """A zone in pieces (an island of buildings): solve each piece on its own."""
    groups: list[np.ndarray] = []
    statuses, reasons, proven = [], [], []
    for comp in comps:
        sub = _subgraph(g, comp)
        sol = solve_zone(sub, lo, hi, rng, bridge=bridge)
        groups += [comp[grp] for grp in sol.groups]
        statuses.append(sol.status)
        proven.append(sol.proven)
        if sol.reason:
            reasons.append(sol.reason)
    worst = next(
        (s for s in ("underfilled", "one_underfilled", "under_total") if s in statuses), "ok"
    )
    return _Solution(groups, worst, "; ".join(reasons), all(proven))


def _bridged(g: Graph, full: np.ndarray) -> Graph:
    """The subgraph of the units with households, where two of them are also neighbours when
    a run of units without households joins them (the run is handed over by :func:`_attach`)."""
    inside = np.zeros(len(g.w), dtype=bool)
    inside[full] = True
    local = {int(v): i for i, v in enumerate(full)}
    edges = {(local[int(a)], local[int(b)]) for a, b in g.edges if inside[a] and inside[b]}
    seen = np.zeros(len(g.w), dtype=bool)
    for start in np.flatnonzero(~inside):
        if seen[start]:
            continue
        comp, stack, touching = [int(start)], [int(start)], set()
        seen[start] = True
        while stack:
            v = stack.pop()
            for u in g.nbrs[v]:
                u = int(u)
                if inside[u]:
                    touching.add(local[u])
                elif not seen[u]:
                    seen[u] = True
                    comp.append(u)
                    stack.append(u)
        t = sorted(touching)
        edges |= {(a, b) for i, a in enumerate(t) for b in t[i + 1 :]}
    return make_graph(g.w[full], g.xy[full], g.building[full], sorted(edges))


def _attach(g: Graph, groups: list[np.ndarray]) -> list[np.ndarray]:
    """Give every unit left out of ``groups`` (units without households) to a group: first
    the runs a group needs to be connected (its bridges), then the rest to the group of a
    neighbour, spreading from the groups, so that every group stays connected."""
    owner = np.full(len(g.w), -1, dtype=np.int64)
    for n, grp in enumerate(groups):
        owner[grp] = n
    for n, grp in enumerate(groups):  # bridges: shortest runs of free units joining the parts
        parts = _pieces(g, sorted(int(x) for x in grp))
        while len(parts) > 1:
            path = _free_path(g, owner, set(parts[0]), {v for p in parts[1:] for v in p})
            if path is None:
                break
            owner[path] = n
            parts = _pieces(g, sorted(int(x) for x in np.flatnonzero(owner == n)))
    frontier = [int(v) for v in np.flatnonzero(owner >= 0)]
    while frontier:
        nxt = []
        for v in frontier:
            for u in sorted(int(x) for x in g.nbrs[v]):
                if owner[u] < 0:
                    owner[u] = owner[v]
                    nxt.append(u)
        frontier = nxt
    lost = np.flatnonzero(owner < 0)
    out = [np.flatnonzero(owner == n) for n in range(len(groups))]
    if len(lost):  # cut off from every group: a group of their own
        out.append(lost)
    return out


def _free_path(g: Graph, owner: np.ndarray, src: set[int], dst: set[int]) -> list[int] | None:
    """The shortest run of unowned units from ``src`` to ``dst`` (BFS), without its ends."""
    prev: dict[int, int] = {}
    frontier = sorted(src)
    seen = set(src)
    while frontier:
        nxt = []
        for v in frontier:
            for u in sorted(int(x) for x in g.nbrs[v]):
                if u in seen:
                    continue
                if u in dst:
                    path = []
                    while v not in src:
                        path.append(v)
                        v = prev[v]
                    return path
                if owner[u] < 0:
                    seen.add(u)
                    prev[u] = v
                    nxt.append(u)
        frontier = nxt
    return None


def _subgraph(g: Graph, nodes: np.ndarray) -> Graph:
    local = {int(v): i for i, v in enumerate(nodes)}
    edges = [(local[a], local[b]) for a, b in g.edges if a in local and b in local]
    return make_graph(g.w[nodes], g.xy[nodes], g.building[nodes], edges)


# --- the community ------------------------------------------------------------------------
def _street_clusters(
    buildings: list[BuildingIn], roads: Sequence[Geometry], gap: float = 30.0
) -> list[list[BuildingIn]]:
    """Buildings outside every compound, grouped by proximity without crossing a road."""
    if not buildings:
        return []
    fps = np.asarray([b.footprint for b in buildings], dtype=object)
    tree = shapely.STRtree(fps)
    a_idx, b_idx = tree.query(fps, predicate="dwithin", distance=gap)
    road_union = shapely.union_all(list(roads)) if len(roads) else None
    parent = list(range(len(buildings)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a, b in zip(a_idx, b_idx, strict=True):
        if a >= b:
            continue
        link = shapely.shortest_line(fps[a], fps[b])
        if road_union is not None and shapely.intersects(link, road_union):
            continue
        parent[find(a)] = find(b)
    groups: dict[int, list[BuildingIn]] = {}
    for i, b in enumerate(buildings):
        groups.setdefault(find(i), []).append(b)
    return sorted(groups.values(), key=lambda grp: min(b.code for b in grp))


def _adjacency(cells: Sequence[Geometry]) -> list[tuple[int, int]]:
    """Pairs of cells that share an edge (not just a point)."""
    arr = np.asarray(cells, dtype=object)
    tree = shapely.STRtree(arr)
    left, right = tree.query(arr, predicate="intersects")
    keep = left < right
    left, right = left[keep], right[keep]
    if left.size == 0:
        return []
    shared = shapely.length(
        shapely.intersection(shapely.boundary(arr[left]), shapely.boundary(arr[right]))
    )
    ok = shared > 1e-3
    return list(zip(left[ok].tolist(), right[ok].tolist(), strict=True))


def _rng(seed: int, key: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(key.encode())])


def partition_community(
    code: str,
    boundary: Geometry,
    compounds: Sequence[CompoundIn],
    buildings: Sequence[BuildingIn],
    *,
    roads: Sequence[Geometry] = (),
    street_names: Sequence[str] = (),
    min_households: int = 30,
    max_households: int = 50,
    seed: int = 0,
    allow_cross_compound: bool = False,
) -> PartitionResult:
    """The three-level partition of one community (see the module docstring)."""
    lo, hi = int(min_households), int(max_households)
    if not 1 <= lo <= hi:
        raise ValueError(f"band must satisfy 1 <= min <= max, got {lo}-{hi}")
    params = {"min": lo, "max": hi, "seed": seed, "allow_cross_compound": allow_cross_compound}
    prep = prepare_community(
        code,
        boundary,
        compounds,
        buildings,
        roads=roads,
        street_names=street_names,
        max_households=hi,
        min_households=lo,
        allow_cross_compound=allow_cross_compound,
    )
    return group_community(prep, seed=seed, params=params)


@dataclass
class Prepared:
    """A community ready for grouping: its compound-level zones and its atoms with their
    cells (the tessellation), before any grouping."""

    code: str
    geometry: Geometry
    zone_codes: list[str]
    zone_names: list[str]
    zone_compounds: list[list[str]]
    zone_polys: list[Geometry]
    merged: set[str]
    atoms: list[Atom]
    cells: list[Geometry]
    atom_zone: list[int]
    edges: np.ndarray  # (m, 2) atoms whose cells share a border
    lo: int
    hi: int

    def zone_graph(
        self, z: int, separate: Callable[[str, str], bool] | None = None
    ) -> tuple[list[int], Graph]:
        """The atoms of zone ``z`` (indices) and their adjacency graph; ``separate(a, b)``
        true removes the edges between buildings a and b (a boundary to respect)."""
        idx = [i for i, zz in enumerate(self.atom_zone) if zz == z]
        zone_atoms = [self.atoms[i] for i in idx]
        local = np.full(len(self.atoms), -1, dtype=np.int64)
        local[idx] = np.arange(len(idx))
        pairs = local[self.edges]
        edges = [(a, b) for a, b in pairs[(pairs >= 0).all(axis=1)].tolist()]
        if separate is not None:
            edges = [
                (a, b)
                for a, b in edges
                if not separate(zone_atoms[a].building, zone_atoms[b].building)
            ]
        bidx = {c: i for i, c in enumerate(sorted({a.building for a in zone_atoms}))}
        xy = shapely.get_coordinates(
            shapely.centroid(
                [
                    a.slice if a.floor_min is None else self.cells[i]
                    for a, i in zip(zone_atoms, idx, strict=True)
                ]
            )
        ).reshape(-1, 2)
        g = make_graph(
            [a.households for a in zone_atoms], xy, [bidx[a.building] for a in zone_atoms], edges
        )
        return idx, g

    def community_graph(self) -> Graph:
        """All atoms of the community and their adjacency, across zone borders too (what a
        general-purpose partitioner would be given)."""
        edges = self.edges.tolist()
        bidx = {c: i for i, c in enumerate(sorted({a.building for a in self.atoms}))}
        xy = shapely.get_coordinates(shapely.centroid(self.cells)).reshape(-1, 2)
        return make_graph(
            [a.households for a in self.atoms], xy, [bidx[a.building] for a in self.atoms], edges
        )


ZONE_SPACING_M = 10.0  # samples along compound walls for the compound-level cells
UNIT_SPACING_M = 8.0  # samples along the units' footprints for their cells


def prepare_community(
    code: str,
    boundary: Geometry,
    compounds: Sequence[CompoundIn],
    buildings: Sequence[BuildingIn],
    *,
    roads: Sequence[Geometry] = (),
    street_names: Sequence[str] = (),
    min_households: int = 30,
    max_households: int = 50,
    allow_cross_compound: bool = False,
) -> Prepared:
    """Zones (compound-level grids) and atoms with their cells: everything but the grouping."""
    lo, hi = int(min_households), int(max_households)
    comps = sorted(compounds, key=lambda c: c.code)
    by_code = {c.code: c for c in comps}
    inside = [b for b in buildings if b.compound in by_code]
    outside = sorted((b for b in buildings if b.compound not in by_code), key=lambda b: b.code)
    # buildings outside the compounds with households make street grids; shops and other
    # buildings without households join the grid whose area they stand in
    clusters = _street_clusters([b for b in outside if b.households > 0], roads)
    loose = [b for b in outside if b.households == 0]
    # zones (compound-level grids): compounds, then street clusters
    zone_codes = [c.code for c in comps] + [f"{code}-S{i:02d}" for i in range(1, len(clusters) + 1)]
    zone_names = [c.name for c in comps] + [
        _street_name(cl, roads, street_names, i) for i, cl in enumerate(clusters, 1)
    ]
    zone_compounds = [[c.code] for c in comps] + [[] for _ in clusters]
    zone_seeds = [c.boundary for c in comps] + [
        shapely.union_all([b.footprint for b in cl]) for cl in clusters
    ]
    members: list[list[BuildingIn]] = [
        sorted((b for b in inside if b.compound == c.code), key=lambda b: b.code) for c in comps
    ] + [sorted(cl, key=lambda b: b.code) for cl in clusters]
    if not zone_seeds:
        zone_seeds, zone_codes, zone_names, zone_compounds, members = (
            [boundary],
            [f"{code}-S01"],
            ["社区网格"],
            [[]],
            [[]],
        )
    if loose:  # each joins the nearest compound (or street grid), footprint and all
        where = shapely.STRtree(np.asarray(zone_seeds, dtype=object))
        extra: dict[int, list[Geometry]] = defaultdict(list)
        for b in loose:
            hit = int(where.query_nearest(b.footprint, all_matches=False)[0])
            members[hit].append(b)
            extra[hit].append(b.footprint)
        for z, fps in extra.items():
            zone_seeds[z] = shapely.union_all([zone_seeds[z], *fps])
        members = [sorted(m, key=lambda b: b.code) for m in members]
    # compounds' walls sampled every 10 m: the border between two compounds runs down a
    # street, where a coarser sampling wobbles it by a few decimetres at most
    zone_cells = tessellate(boundary, zone_seeds, spacing=ZONE_SPACING_M).cells
    if allow_cross_compound:
        zone_cells, zone_codes, zone_names, zone_compounds, members, merged = _merge_infeasible(
            zone_cells, zone_codes, zone_names, zone_compounds, members, lo, hi
        )
    else:
        merged = set()
    # units and their cells, all zones noded together; a tall unit's cell is cut across its
    # long axis into its floor parts
    unit_rows: list[tuple[str, UnitIn, Geometry, list]] = []
    unit_zone: list[int] = []
    every = [(z, b) for z, bs in enumerate(members) for b in bs]
    for (z, b), rows in zip(every, buildings_units([b for _, b in every], hi), strict=True):
        for unit, sl, parts in rows:
            unit_rows.append((b.code, unit, sl, parts))
            unit_zone.append(z)
    empty_zones = [z for z in range(len(zone_cells)) if z not in set(unit_zone)]
    seeds = [r[2] for r in unit_rows] + [
        shapely.point_on_surface(zone_cells[z]) for z in empty_zones
    ]
    divide = {i: [n for _, _, n in r[3]] for i, r in enumerate(unit_rows) if len(r[3]) > 1}
    tess = tessellate(
        boundary,
        seeds,
        zones=zone_cells,
        zone_of_seed=unit_zone + empty_zones,
        divide=divide,
        spacing=UNIT_SPACING_M,
    )
    atoms: list[Atom] = []
    cells: list[Geometry] = []
    atom_zone: list[int] = []
    atom_of: dict[tuple[int, int], int] = {}
    for i, (bcode, unit, sl, parts) in enumerate(unit_rows):
        pieces = tess.parts.get(i, [tess.cells[i]])
        for k, ((fmin, fmax, n), cell) in enumerate(zip(parts, pieces, strict=True)):
            atom_of[i, k] = len(atoms)
            atoms.append(Atom(bcode, unit.id, unit.unit_no, fmin, fmax, n, sl))
            cells.append(cell)
            atom_zone.append(unit_zone[i])
    # atoms whose cells share a border (of more than a millimetre), from the tessellation
    edges = np.asarray(
        [
            (atom_of[a, pa], atom_of[b, pb])
            for (a, pa, b, pb), length in zip(
                tess.touching.tolist(), tess.shared.tolist(), strict=True
            )
            if length > 1e-3 and (a, pa) in atom_of and (b, pb) in atom_of
        ],
        dtype=np.int64,
    ).reshape(-1, 2)
    return Prepared(
        code,
        dissolve(tess.zones),
        zone_codes,
        zone_names,
        zone_compounds,
        tess.zones,
        merged,
        atoms,
        cells,
        atom_zone,
        edges,
        lo,
        hi,
    )


def group_community(
    prep: Prepared,
    *,
    seed: int = 0,
    params: dict[str, Any] | None = None,
    separate: Callable[[str, str], bool] | None = None,
) -> PartitionResult:
    """Group each zone's atoms into micro-grids (the search) and build their polygons;
    ``separate(a, b)`` true keeps buildings a and b in different micro-grids."""
    lo, hi = prep.lo, prep.hi
    params = params or {"min": lo, "max": hi, "seed": seed}
    result: list[CompoundGrid] = []
    for z, zcode in enumerate(prep.zone_codes):
        idx, g = prep.zone_graph(z, separate)
        cg = CompoundGrid(zcode, prep.zone_names[z], prep.zone_compounds[z], prep.zone_polys[z])
        if not idx:
            cg.micro = [MicroGrid(f"{zcode}-M01", zcode, prep.zone_polys[z], [])]
            cg.status, cg.reason = "no_households", "没有楼栋 (no buildings)"
            result.append(cg)
            continue
        zone_atoms = [prep.atoms[i] for i in idx]
        cells = prep.cells
        zone_compounds, merged = prep.zone_compounds, prep.merged
        sol = solve_zone(g, lo, hi, _rng(seed, zcode))
        cg.status, cg.reason, cg.proven = sol.status, sol.reason, sol.proven
        if zcode in merged:
            cg.status = "merged" if sol.status == "ok" else sol.status
            cg.reason = (
                "跨小区合并 (merged across a compound boundary: "
                f"{' + '.join(zone_compounds[z])}) " + sol.reason
            ).strip()
        groups = sorted(
            (sorted(grp.tolist(), key=lambda i: zone_atoms[i].key) for grp in sol.groups),
            key=lambda grp: zone_atoms[grp[0]].key,
        )
        for n, grp in enumerate(groups, 1):
            geom = dissolve([cells[idx[i]] for i in grp])
            cg.micro.append(
                MicroGrid(f"{zcode}-M{n:02d}", zcode, geom, [zone_atoms[i] for i in grp])
            )
        owners: dict[str, set[int]] = {}
        for n, grp in enumerate(groups):
            for i in grp:
                owners.setdefault(zone_atoms[i].building, set()).add(n)
        cg.split_buildings = sum(1 for s in owners.values() if len(s) > 1)
        result.append(cg)
    return PartitionResult(prep.code, prep.geometry, result, params)


def _street_name(
    cluster: list[BuildingIn], roads: Sequence[Geometry], names: Sequence[str], i: int
) -> str:
    if roads and names:
        hull = shapely.union_all([b.footprint for b in cluster])
        d = shapely.distance(np.asarray(roads, dtype=object), hull)
        return f"{names[int(np.argmin(d))]}沿街网格{i}"
    return f"沿街网格{i}"


def _merge_infeasible(cells, codes, names, compounds, members, lo, hi):
    """With allow_cross_compound: merge each zone whose households cannot fill the band (a
    total below the minimum, or units that cannot be grouped) with the neighbouring zone it
    shares the longest border with."""
    cells, codes, names = list(cells), list(codes), list(names)
    compounds, members = [list(c) for c in compounds], [list(m) for m in members]
    merged: set[str] = set()
    changed = True
    while changed:
        changed = False
        for z in range(len(cells)):
            total = sum(b.households for b in members[z])
            if total == 0 or _zone_feasible(members[z], lo, hi):
                continue
            best, best_len = None, 0.0
            for o in range(len(cells)):
                if o == z:
                    continue
                shared = shapely.length(
                    shapely.intersection(shapely.boundary(cells[z]), shapely.boundary(cells[o]))
                )
                if shared > best_len and sum(b.households for b in members[o]) > 0:
                    best, best_len = o, float(shared)
            if best is None:
                continue
            keep, drop = (z, best) if codes[z] < codes[best] else (best, z)
            cells[keep] = dissolve([cells[keep], cells[drop]])
            if not shapely.is_valid(cells[keep]) or cells[keep].geom_type != "Polygon":
                cells[keep] = shapely.union_all([cells[keep]])
            names[keep] = f"{names[keep]}+{names[drop]}"
            compounds[keep] += compounds[drop]
            members[keep] += members[drop]
            merged.add(codes[keep])
            for lst in (cells, codes, names, compounds, members):
                del lst[drop]
            changed = True
            break
    return cells, codes, names, compounds, members, merged


def _zone_feasible(bs: list[BuildingIn], lo: int, hi: int) -> bool:
    """Quick test: can the units of these buildings be grouped within the band, ignoring
    adjacency? (a subset-sum style bound: enough for the merge decision)."""
    weights = [n for b in bs for u in b.units for _, _, n in split_unit(u, hi)]
    total = sum(weights)
    if total == 0:
        return True
    if total < lo:
        return False
    if total <= hi:
        return True
    kmin, kmax = math.ceil(total / hi), total // lo
    return kmin <= kmax and max(weights) <= hi
