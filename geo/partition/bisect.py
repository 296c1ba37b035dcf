"""Grouping by recursive bisection of spanning trees (the search for large zones).

A zone's atoms are cut into ``k`` connected groups by cutting edges of spanning trees of its
adjacency graph, in the manner of ReCom (DeFord, Duchin & Solomon 2021, *Recombination: A
family of Markov chains for redistricting*, Harvard Data Science Review): cutting one edge of
a spanning tree leaves two connected parts, so every group is contiguous by construction. A
part that must hold ``k`` groups is cut where the two sides can hold ``k1`` and ``k - k1``
groups within the band, preferring cuts that keep buildings whole, then cuts along a way
(road, lane, footway), then compact sides (least household-weighted moment of inertia); the
first tree is the minimum spanning tree of centroid distances (edges across a way made
dear), later ones are seeded random trees. Parts of at most ``EXACT`` atoms that the trees
cannot split are searched exhaustively. Work is bounded by a budget of trees and steps.
"""

from __future__ import annotations

from typing import TypedDict

import numpy as np

from geo.partition.graph import Graph, connected, pieces

__all__ = ["EXACT", "STEPS", "bisect_groups", "fits"]

WAY_FACTOR = 25.0  # an edge across a way is this much longer for the spanning trees
WAY_PENALTY = 2.0  # a cut not along a way scores this much worse (compactness is 0..1)


def fits(total: int, count: int, k: int, u: int, lo: int, hi: int, heavy: int = 0) -> bool:
    """Can ``count`` atoms weighing ``total`` make ``k`` groups, all ≤ hi and all but ``u``
    of them ≥ lo? (a necessary test; ``heavy`` atoms, over hi/2, need a group each)"""
    return heavy <= k <= count and (k - u) * lo <= total <= k * hi


def _heavy(g: Graph, nodes: np.ndarray | list[int], hi: int) -> int:
    return int((g.w[nodes] * 2 > hi).sum())


def _mst(g: Graph, nodes: np.ndarray, rng: np.random.Generator | None) -> np.ndarray | None:
    """Edges (global ids) of a spanning tree of the subgraph on ``nodes``: the minimum one by
    centroid distance (edges inside a building nearly free, edges across a way dear), or with
    ``rng`` a random one. None when the subgraph is not connected."""
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
    d = np.where(g.cross[inside[g.edges[:, 0]] & inside[g.edges[:, 1]]], WAY_FACTOR * d, d)
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
    tries: int = 4,
) -> list[tuple[float, int, int, int]]:
    """The best feasible tree edges (child v of its parent) to cut, with how many groups (k1)
    and under-filled groups (u1) the child's side takes, best first: (score, v, k1, u1), at
    most ``2 * tries`` of them (each cut with the fewest and the most under-filled groups on
    the child's side it allows). Cuts that keep buildings whole come first, then cuts along a
    way (a lane between two rows of houses), then compact and balanced sides. The work is
    O(k · n) array operations, whatever the number of under-filled groups allowed."""
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
    across = g.crossing
    if across:
        a_end, b_end = nodes[child], nodes[parent[child]]
        lo_end, hi_end = np.minimum(a_end, b_end).tolist(), np.maximum(a_end, b_end).tolist()
        along = np.array(
            [(x, y) not in across for x, y in zip(lo_end, hi_end, strict=True)], dtype=float
        )
    else:
        along = np.zeros(len(child))
    wa, na, wb, nb = a[4], a[5], b[4], b[5]
    ha, hb = a[6], b[6]
    target = (lo + hi) / 2
    base = compact + 1000.0 * split + WAY_PENALTY * along
    fill_a, fill_b = np.floor(wa / lo), np.floor(wb / lo)  # groups each side can fill to lo
    out: list[tuple[float, int, int, int]] = []
    for k1 in range(1, k):
        k2 = k - k1
        ok = (k1 <= na) & (k1 >= ha) & (k2 >= hb) & (wa <= k1 * hi) & (k2 <= nb) & (wb <= k2 * hi)
        # under-filled groups u1 on the child's side (u - u1 on the other) with every other
        # group able to reach lo: an interval, so the feasible cuts need no loop over u1
        u_lo = np.maximum(np.maximum(0, u - k2), k1 - fill_a)
        u_hi = np.minimum(np.minimum(u, k1), u - k2 + fill_b)
        ok &= u_lo <= u_hi
        if not ok.any():
            continue
        idx = np.flatnonzero(ok)
        score = base[idx] + 0.25 * np.abs(wa[idx] / k1 - wb[idx] / k2) / target
        if len(idx) > tries:  # only the best few of this k1 can be among the best overall
            best = np.argpartition(score, tries - 1)[:tries]
            idx, score = idx[best], score[best]
        for i, sc in zip(idx.tolist(), score.tolist(), strict=True):
            lo_u, hi_u = int(u_lo[i]), int(u_hi[i])
            out.append((sc, int(child[i]), k1, lo_u))
            if hi_u != lo_u:  # the other end of the interval: the under-filled on this side
                out.append((sc, int(child[i]), k1, hi_u))
    out.sort()
    return out[: 2 * tries]


class _Descent(TypedDict):
    """What :func:`bisect_groups` hands down to the two sides of a cut."""

    trees: int
    tries: int
    budget: list[int]
    memo: dict


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
    if not fits(total, count, k, u, lo, hi, _heavy(g, nodes, hi)):
        return None
    if k == 1:
        return [nodes]
    key = (frozenset(nodes.tolist()), k, u)
    if key in memo:
        return None
    # each sub-problem may draw fewer trees; the budget and the memo are shared
    sub: _Descent = {"trees": max(2, trees // 4), "tries": tries, "budget": budget, "memo": memo}
    for attempt in range(trees):
        if attempt > 0 or tree is None:
            tree = _draw_tree(g, nodes, rng if attempt > 0 else None, budget)
            if tree is None:
                break
        parent, order = _root(nodes, tree)
        budget[1] -= 1
        if budget[1] < 0:
            return None
        # the recursion stays here (one frame per level): the sides are worked out apart
        for _score, v, k1, u1 in _cuts(g, nodes, parent, order, k, u, lo, hi, tries)[:tries]:
            a, b, ta, tb = _sides(g, nodes, tree, parent, order, v)
            left = bisect_groups(g, a, k1, u1, lo, hi, rng, tree=ta, **sub)
            if left is None:
                continue
            right = bisect_groups(g, b, k - k1, u - u1, lo, hi, rng, tree=tb, **sub)
            if right is not None:
                return left + right
        if count <= EXACT:
            break  # small enough to settle exactly
    return _settle(g, nodes, k, u, lo, hi, memo, budget, key)


def _draw_tree(
    g: Graph, nodes: np.ndarray, rng: np.random.Generator | None, budget: list[int]
) -> np.ndarray | None:
    """The next spanning tree of ``nodes`` (:func:`_mst`), counted against the budget of
    trees; None when the budget is spent or the subgraph is not connected."""
    if budget[0] <= 0:
        return None
    budget[0] -= 1
    return _mst(g, nodes, rng)


def _sides(
    g: Graph, nodes: np.ndarray, tree: np.ndarray, parent: np.ndarray, order: np.ndarray, v: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The two sides of ``tree`` cut between ``v`` (local) and its parent: the nodes of the
    child's side and of the other, and the spanning tree of each."""
    side = _subtree(parent, order, v)
    a, b = nodes[side], nodes[~side]
    in_a = np.zeros(len(g.w), dtype=bool)
    in_a[a] = True
    cut = (tree[:, 0] == nodes[v]) & (tree[:, 1] == nodes[parent[v]]) | (
        (tree[:, 1] == nodes[v]) & (tree[:, 0] == nodes[parent[v]])
    )
    rest = tree[~cut]
    return a, b, rest[in_a[rest[:, 0]]], rest[~in_a[rest[:, 0]]]


def _settle(
    g: Graph,
    nodes: np.ndarray,
    k: int,
    u: int,
    lo: int,
    hi: int,
    memo: dict,
    budget: list[int],
    key: tuple,
) -> list[np.ndarray] | None:
    """After the trees: a part small enough searched exhaustively; a sub-problem that
    failed for real (not for want of work) remembered under ``key``."""
    count = len(nodes)
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
    if not fits(total, len(nodes), k, u, lo, hi, _heavy(g, nodes, hi)):
        return None
    if k == 1:
        return [nodes]
    first, others = int(nodes[0]), nodes[1:]
    node_set = set(nodes.tolist())
    if len(pieces(g, sorted(node_set))) > 1:
        return _exactpieces(g, pieces(g, sorted(node_set)), k, u, lo, hi, memo, budget)
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
        if not connected(g, group):
            continue
        rest = sorted(node_set - set(group))
        got = _exactpieces(g, pieces(g, rest), k - 1, u - (1 if under else 0), lo, hi, memo, budget)
        if got is not None:
            return [np.array(group, dtype=np.int64), *got]
    if budget[1] >= 0:
        memo[key] = True
    return None


def _exactpieces(
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
            if not fits(int(g.w[arr].sum()), len(head), kh, uh, lo, hi, _heavy(g, arr, hi)):
                continue
            rest_total = sum(int(g.w[p].sum()) for p in tail)
            if tail and not fits(rest_total, sum(len(p) for p in tail), k - kh, u - uh, lo, hi):
                continue
            mine = _exact(g, arr, kh, uh, lo, hi, memo, budget)
            if mine is None:
                continue
            others = _exactpieces(g, tail, k - kh, u - uh, lo, hi, memo, budget)
            if others is not None:
                return mine + others
    return None


def _subtree(parent: np.ndarray, order: np.ndarray, v: int) -> np.ndarray:
    inside = np.zeros(len(parent), dtype=bool)
    inside[v] = True
    for x in order:  # BFS order: a parent comes before its children
        if parent[x] >= 0 and inside[parent[x]]:
            inside[x] = True
    return inside
