"""Grouping one zone (a compound grid) into micro-grids under the band and the documented rule.

The objectives, in order: every micro-grid in the band whenever the zone's units allow it;
the fewest split buildings; groups not straddling a way (road, lane, footway); compactness.
Small zones are searched exactly (:mod:`geo.partition.exact`), which proves when no grouping
in band exists; larger ones, or small ones with too many candidate groups, by spanning-tree
bisection (:mod:`geo.partition.bisect`), within a budget of work. Before either, the units
without households are left out and bridged (they are not units of their own), and a floor
that alone exceeds the maximum (one floor of 60 flats) becomes a micro-grid by itself,
reported.

When the units cannot make groups in the band the rule applies, reported per zone: a total
below the minimum makes one under-filled micro-grid; otherwise as few under-filled
micro-grids as possible, never an over-filled one. A zone whose search reached a limit gets
the best grouping found, ``proven = False`` and the reason.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from geo.partition.bisect import STEPS, bisect_groups
from geo.partition.exact import optimal
from geo.partition.graph import Graph, attach, bridged, components, connected, subgraph
from geo.partition.pairs import paired, pairs_only

__all__ = ["ZONE_STEPS", "Solution", "solve_zone"]

ZONE_STEPS = 4_000  # work allowed for each phase of one zone's bisection (in band; the rule)
STEPS_PER_ATOM = 20  # ... and at least this much per atom (a descent into k groups costs ~2k)
QUICK_SHARE = 0.25  # the share of a phase's work the quick pass (few trees) may use
QUICK_STEPS = 250  # ... and at least this much for each k it tries


def zone_steps(n: int) -> int:
    """The work allowed for each phase of the bisection search of a zone of ``n`` atoms."""
    return max(ZONE_STEPS, STEPS_PER_ATOM * n)


@dataclass
class Solution:
    groups: list[np.ndarray]
    status: str
    reason: str
    # the status is certain: in band, or no grouping in band exists (arithmetic, the exact
    # search, or units that can join nobody); False when the bisection search gave up
    proven: bool = True


def solve_zone(
    g: Graph, lo: int, hi: int, rng: np.random.Generator, *, bridge: bool = True
) -> Solution:
    """Group a zone's atoms under the band and the documented rule (without merging).

    Atoms without households are first left out and bridged (:func:`~geo.partition.graph.
    bridged`): the search sees only atoms with households, two of them neighbours also
    through a run of empty ones, which then joins the group that needs it (or a
    neighbour's). When two groups turn out to need the same run, the zone is searched again
    with the empty atoms in the graph (``bridge=False``)."""
    n = len(g.w)
    nodes = np.arange(n)
    total = int(g.w.sum())
    if n == 0:
        return Solution([], "no_households", "没有楼栋 (no buildings)")
    if total == 0:
        return Solution([nodes], "no_households", "没有住户 (no households)")
    if bridge and (g.w == 0).any():
        full = np.flatnonzero(g.w > 0)
        sol = solve_zone(bridged(g, full), lo, hi, rng)
        groups = attach(g, [full[grp] for grp in sol.groups])
        if all(connected(g, grp.tolist()) for grp in groups):
            return Solution(groups, sol.status, sol.reason, sol.proven)
        return solve_zone(g, lo, hi, rng, bridge=False)
    over = np.flatnonzero(g.w > hi)
    if len(over):
        return _with_overfilled(g, over, lo, hi, rng, bridge=bridge)
    solo = _solitary(g, lo, hi)
    if 0 < len(solo) < n:
        return _with_solitary(g, solo, lo, hi, rng, bridge=bridge)
    comps = components(g)
    if len(comps) > 1:
        return _solve_components(g, comps, lo, hi, rng, bridge=bridge)
    if total < lo:
        return Solution(
            [nodes],
            "under_total",
            f"总户数 {total} 低于下限 {lo} (total {total} below the minimum {lo})",
        )
    if total <= hi:
        return Solution([nodes], "ok", "")
    if pairs_only(g, hi):  # no group can hold three atoms: an exact matching
        return _underfilled(g, paired(g, lo, hi), lo, hi)
    exact = optimal(g, lo, hi)
    if exact.groups is not None:
        return _underfilled(g, exact.groups, lo, hi)
    return _bisected(g, lo, hi, rng, limit=exact.limit, no_band=exact.no_band)


def _with_overfilled(
    g: Graph, over: np.ndarray, lo: int, hi: int, rng: np.random.Generator, *, bridge: bool
) -> Solution:
    """Atoms over the maximum (a floor that alone holds more): a micro-grid each; the rest
    grouped as usual."""
    rest = np.setdiff1d(np.arange(len(g.w)), over)
    groups = [np.array([v]) for v in over]
    reasons = [
        f"{int(g.w[v])} 户的一层超过上限 {hi}，单独成网格 (one floor of {int(g.w[v])} "
        f"households exceeds the maximum {hi}: a micro-grid of its own)"
        for v in over
    ]
    proven = True
    if len(rest):
        sol = solve_zone(subgraph(g, rest), lo, hi, rng, bridge=bridge)
        groups += [rest[grp] for grp in sol.groups]
        proven = sol.proven
        if sol.reason:
            reasons.append(sol.reason)
    return Solution(groups, "overfilled", "; ".join(reasons), proven)


def _solitary(g: Graph, lo: int, hi: int) -> np.ndarray:
    """Atoms in the band that can share a group with no other atom (with the lightest other
    one they would exceed the maximum: a floor group of 48 among units of 8 or more): each is
    a micro-grid by itself in every grouping, so they are set apart before the search (which
    they only make harder). Not when there are atoms without households, which could join
    them."""
    if (g.w == 0).any() or len(g.w) < 2:
        return np.zeros(0, dtype=np.int64)
    order = np.sort(g.w)
    other_min = np.where(g.w == order[0], order[1], order[0])
    return np.flatnonzero((g.w >= lo) & (g.w <= hi) & (g.w + other_min > hi))


def _with_solitary(
    g: Graph, solo: np.ndarray, lo: int, hi: int, rng: np.random.Generator, *, bridge: bool
) -> Solution:
    """The solitary atoms a micro-grid each (in band); the rest grouped as usual (a group
    never passes through a solitary atom, so they are simply left out)."""
    rest = np.setdiff1d(np.arange(len(g.w)), solo)
    sol = solve_zone(subgraph(g, rest), lo, hi, rng, bridge=bridge)
    groups = [np.array([v]) for v in solo] + [rest[grp] for grp in sol.groups]
    return Solution(groups, status_of(g, groups, lo, hi), sol.reason, sol.proven)


def _solve_components(
    g: Graph,
    comps: list[np.ndarray],
    lo: int,
    hi: int,
    rng: np.random.Generator,
    *,
    bridge: bool,
) -> Solution:
    """A zone in pieces (an island of buildings): solve each piece on its own."""
    groups: list[np.ndarray] = []
    statuses, reasons, proven = [], [], []
    for comp in comps:
        sol = solve_zone(subgraph(g, comp), lo, hi, rng, bridge=bridge)
        groups += [comp[grp] for grp in sol.groups]
        statuses.append(sol.status)
        proven.append(sol.proven)
        if sol.reason:
            reasons.append(sol.reason)
    return Solution(groups, status_of(g, groups, lo, hi), "; ".join(reasons), all(proven))


def status_of(g: Graph, groups: list[np.ndarray], lo: int, hi: int) -> str:
    """The status of a zone's grouping, from its groups as a whole (a zone in pieces is
    judged as one: two pieces of one under-filled micro-grid each make two, 'underfilled')."""
    sizes = [int(g.w[grp].sum()) for grp in groups]
    total = int(g.w.sum())
    if any(n > hi for n in sizes):
        return "overfilled"
    if total == 0:
        return "no_households"
    if total < lo:
        return "under_total"
    under = sum(1 for n in sizes if n < lo)
    return "ok" if under == 0 else "one_underfilled" if under == 1 else "underfilled"


def _bisected(
    g: Graph,
    lo: int,
    hi: int,
    rng: np.random.Generator,
    *,
    limit: str,
    no_band: bool = False,
) -> Solution:
    """The bisection search: first for groups all in band, then under the rule, then (when
    its budget runs out) the greedy grouping. ``limit`` says why the exact search did not
    run or finish (``no_band``: it had proved no grouping all in band exists).

    ``proven`` is true when the whole status is certain: all in band; or no grouping in
    band exists (arithmetic, units that can join nobody, the exact search) and the number of
    under-filled micro-grids found is the least possible — it equals its lower bound (1, or
    the units that can join nobody). Otherwise the reason says the search reached a limit."""
    n, total = len(g.w), int(g.w.sum())
    nodes = np.arange(n)
    kmin, kmax = math.ceil(total / hi), total // lo
    target = (lo + hi) / 2
    ks = sorted(range(kmin, kmax + 1), key=lambda k: (abs(total / k - target), k))
    lonely = _lonely_underfilled(g.w, lo, hi)
    # no in-band grouping, for certain: by arithmetic, units that can join nobody, or the
    # exact search's first pass
    certain = not ks or lonely > 0 or no_band
    if certain:
        ks = []
    needed = _inevitable_splits(g, hi)
    best: tuple[int, int, list[np.ndarray]] | None = None
    steps = zone_steps(n)
    pool = [steps]  # work shared by every search of this phase
    tried = ks[:6]
    quick = max(QUICK_STEPS, int(steps * QUICK_SHARE / max(len(tried), 1)))
    for trees, cap in ((8, quick), (200, steps)):
        # a quick pass over every k (each with a small share of the work), then a thorough one
        for rank, k in enumerate(tried):
            got = _search(g, nodes, k, 0, lo, hi, rng, trees, pool, cap)
            if got is None:
                continue
            splits = _splits(g, got)
            if best is None or (splits, rank) < (best[0], best[1]):
                best = (splits, rank, got)
            if splits <= needed:
                break
        if best is not None:
            return Solution(best[2], "ok", "")
    not_band = (
        f"搜索达到上限，未证明无法全部在 {lo}–{hi} 户内 (search limit reached: no grouping all "
        f"within {lo}-{hi} was found, but none is proven impossible"
        + (f"; {limit}" if limit else "")
        + ")"
    )
    not_least = (
        "搜索达到上限，不足网格数未证明最少 (search limit reached: as few under-filled "
        "micro-grids as found, fewer not proven impossible" + (f"; {limit}" if limit else "") + ")"
    )
    # the rule: as few under-filled micro-grids as possible, none over-filled; each (u, k)
    # search gets a share of the work, so that one cannot spend it all
    pool = [steps]
    least = max(1, lonely)  # no grouping has fewer under-filled micro-grids
    for u in range(least, n + 1):
        if pool[0] <= 0:
            break
        for k in range(max(kmin, u), min(n, total // lo + u) + 1):
            got = _search(g, nodes, k, u, lo, hi, rng, 60, pool, quick * 2)
            if got is not None:
                proven = certain and u == least
                note = "" if proven else (not_least if certain else not_band)
                return _underfilled(g, got, lo, hi, proven=proven, note=note, certain=certain)
    # the budget ran out: grow groups greedily (always possible, never over-filled)
    got = greedy_groups(g, lo, hi)
    under = sum(1 for grp in got if g.w[grp].sum() < lo)
    proven = certain and under == least
    note = "" if proven else (not_least if certain else not_band)
    return _underfilled(g, got, lo, hi, proven=proven, note=note, certain=certain)


def greedy_groups(g: Graph, lo: int, hi: int) -> list[np.ndarray]:
    """Connected groups of at most ``hi`` households grown one at a time from the atom with
    the fewest free neighbours, adding the nearest free neighbour while the group is below
    the middle of the band; then under-filled groups merged into a neighbouring group while
    the merge stays within ``hi``. Bounded (quadratic at worst) and never over-filled: the
    fallback when the searches run out of work."""
    n = len(g.w)
    owner = np.full(n, -1, dtype=np.int64)
    target = (lo + hi) / 2
    groups: list[list[int]] = []
    while (owner < 0).any():
        free = np.flatnonzero(owner < 0)
        degree = [sum(owner[u] < 0 for u in g.nbrs[v]) for v in free]
        seed = int(free[int(np.argmin(degree))])
        grp, weight = [seed], int(g.w[seed])
        owner[seed] = len(groups)
        while weight < target:
            frontier = {int(u) for v in grp for u in g.nbrs[v] if owner[u] < 0}
            fits_in = [u for u in frontier if weight + g.w[u] <= hi]
            if not fits_in:
                break
            centre = g.xy[grp].mean(axis=0)
            u = min(fits_in, key=lambda x: (float(np.hypot(*(g.xy[x] - centre))), x))
            grp.append(u)
            owner[u] = len(groups)
            weight += int(g.w[u])
        groups.append(grp)
    sizes = [int(g.w[grp].sum()) for grp in groups]
    merged = True
    while merged:
        merged = False
        for i in sorted(range(len(groups)), key=lambda i: sizes[i]):
            if not groups[i] or sizes[i] >= lo:
                continue
            near = {int(owner[u]) for v in groups[i] for u in g.nbrs[v]} - {i}
            fits_with = [j for j in near if groups[j] and sizes[i] + sizes[j] <= hi]
            if fits_with:
                j = min(fits_with, key=lambda j: (sizes[j], j))
                groups[j] += groups[i]
                owner[groups[i]] = j
                sizes[j] += sizes[i]
                groups[i], sizes[i] = [], 0
                merged = True
    out = [np.array(sorted(grp), dtype=np.int64) for grp in groups if grp]
    assert all(connected(g, grp.tolist()) for grp in out)
    return out


def _underfilled(
    g: Graph,
    groups: list[np.ndarray],
    lo: int,
    hi: int,
    *,
    proven: bool = True,
    note: str = "",
    certain: bool = True,
) -> Solution:
    """A solution with under-filled groups, with the reason and the rule applied; ``note``
    (a search limit) follows the reason, or replaces it when it is not ``certain`` that the
    units cannot all be grouped in band."""
    under = sum(1 for grp in groups if g.w[grp].sum() < lo)
    if under == 0:
        return Solution(groups, "ok", "")
    total = int(g.w.sum())
    sizes = ", ".join(str(int(x)) for x in sorted(g.w[g.w > 0])[::-1][:8])
    why = (
        f"{total} 户的单元 ({sizes}) 无法全部组成 {lo}–{hi} 户的微网格 "
        f"(units of {total} households cannot all be grouped within {lo}-{hi})"
    )
    if note:
        why = f"{why}; {note}" if certain else note
    rule = (
        "允许一个不足的微网格 (one under-filled micro-grid allowed)"
        if under == 1
        else f"{under} 个微网格不足 ({under} under-filled micro-grids, none over-filled)"
    )
    status = "one_underfilled" if under == 1 else "underfilled"
    return Solution(groups, status, f"{why}; {rule}", proven)


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
    cap: int | None = None,
) -> list[np.ndarray] | None:
    """One bisection search drawing on the phase's shared pool of work (at most ``cap``)."""
    if pool[0] <= 0:
        return None
    allowed = min(pool[0], STEPS, cap if cap is not None else STEPS)
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
