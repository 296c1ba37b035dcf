"""The exact grouping search for small zones, bounded by construction.

Dynamic programming over the sets of atoms left: the cost of a grouping is a sum over its
groups, so the best grouping of the atoms left is shared by every way of reaching them, and
the connected pieces of what is left are grouped independently (their costs add up). Sets are
bit masks (atom i is bit i), so set operations and memo keys are single integers. Each state
grows its group around the atom with the fewest neighbours left (fewest groups to try).

The number of candidate groups (connected sets of at most the maximum of households) grows
exponentially with the number of small atoms: 30 one-household houses in a square have
millions. So the search runs only where that number is provably small — an upper bound from
the largest group size and the degrees, or else a count that stops at ``DP_GROUPS`` — and it
stops, with the reason, when it has generated ``DP_WORK`` groups or holds ``DP_STATES``
states. Memory and time are bounded whatever the layout; the caller then uses the bisection
search (:mod:`geo.partition.bisect`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from geo.partition.graph import Graph

__all__ = [
    "DP_GROUPS",
    "DP_GROUPS_LARGE",
    "DP_STATES",
    "DP_UNITS",
    "DP_UNITS_LARGE",
    "DP_WORK",
    "Exact",
    "count_groups",
    "optimal",
]

DP_UNITS = 40  # zones of more atoms than this are searched exactly only when ...
DP_GROUPS = 20_000  # candidate groups a zone may have for the exact search
DP_UNITS_LARGE = 400  # ... they have at most DP_GROUPS_LARGE candidate groups (a row of
DP_GROUPS_LARGE = 2_000  # houses that pair up two by two), up to this many atoms
DP_WORK = 40_000  # candidate groups the search may generate (over all its states)
DP_STATES = 20_000  # sets of atoms left it may remember

Cost = tuple[int, int, int, float]  # under-filled, split buildings, across ways, inertia
Best = tuple[Cost, list[int]]  # the cost of a grouping of some atoms, and its groups (masks)


@dataclass
class Exact:
    """The outcome of :func:`optimal`: the best grouping (None when none exists or when the
    search did not run or finish) and, when it did not, why (``limit``); ``no_band`` when
    it proved that no grouping all in band exists before it stopped."""

    groups: list[np.ndarray] | None
    limit: str = ""
    no_band: bool = False


class _OutOfWork(Exception):
    pass


def optimal(g: Graph, lo: int, hi: int) -> Exact:
    """The best grouping of a zone's atoms, or the reason the exact search was not run.

    Groups are connected sets of at most ``hi`` households; the cost of a grouping is, in
    order: under-filled groups; atoms whose building also has atoms in another group (split
    buildings); edges across a way inside groups; household-weighted moment of inertia
    (compactness). The first pass looks only at groups within the band (far fewer); only when
    no grouping of those covers the zone does a second pass allow under-filled groups.
    """
    n = len(g.w)
    if n > DP_UNITS_LARGE:
        return Exact(
            None, f"{n} 个单元超过精确搜索上限 {DP_UNITS_LARGE} ({n} units > {DP_UNITS_LARGE})"
        )
    cap = DP_GROUPS if n <= DP_UNITS else DP_GROUPS_LARGE
    count = count_groups(g, hi, cap)
    if count is None:
        return Exact(
            None,
            f"{n} 个单元的候选组合超过 {cap:,} 个 (more than {cap:,} candidate groups of "
            f"{n} units)",
        )
    no_band = False
    for under in (False, True):
        try:
            got = _best_grouping(g, lo, hi, allow_under=under)
        except _OutOfWork as stop:
            return Exact(None, str(stop), no_band=no_band)
        if got is not None:
            return Exact(got)
        no_band = True  # the first pass finished: no grouping all in band exists
    return Exact(None)  # unreachable: single atoms always make a grouping with under-filled


def count_groups(g: Graph, hi: int, cap: int) -> int | None:
    """How many connected sets of atoms weigh at most ``hi`` households, or None when more
    than ``cap`` (the count stops there: it costs at most ``cap`` steps). A cheap upper bound
    is tried first: a set holds at most ``s`` atoms (the lightest ``s`` fit under ``hi``),
    and a vertex of a graph of maximum degree Δ lies in at most ``(e(Δ-1))^(k-1)``
    connected sets of ``k`` vertices."""
    n = len(g.w)
    if n == 0:
        return 0
    light = np.cumsum(np.sort(g.w))
    s = int(np.searchsorted(light, hi, side="right"))
    degree = max((len(x) for x in g.nbrs), default=0)
    per_vertex = sum(
        min(math.comb(n - 1, k - 1), (math.e * max(degree - 1, 1)) ** (k - 1))
        for k in range(1, s + 1)
    )
    if n * per_vertex <= cap:
        return int(n * per_vertex)
    nb = _neighbour_masks(g)
    wl = [int(x) for x in g.w]
    count = [0]

    def rec(members: int, weight: int, frontier: int, banned: int) -> None:
        count[0] += 1
        if count[0] > cap:
            raise _OutOfWork
        while frontier:
            low = frontier & -frontier
            frontier ^= low
            v = low.bit_length() - 1
            if weight + wl[v] <= hi:
                grow = nb[v] & ~members & ~banned & ~low
                rec(members | low, weight + wl[v], frontier | grow, banned)
            banned |= low

    try:
        for root in range(n):
            below = (1 << root) - 1  # sets are counted from their lowest atom
            if wl[root] <= hi:
                rec(1 << root, wl[root], nb[root] & ~below, below)
    except _OutOfWork:
        return None
    return count[0]


def _neighbour_masks(g: Graph) -> list[int]:
    nb = [0] * len(g.w)
    for a, b in g.edges.tolist():
        nb[a] |= 1 << b
        nb[b] |= 1 << a
    return nb


def _best_grouping(g: Graph, lo: int, hi: int, *, allow_under: bool) -> list[np.ndarray] | None:
    """One pass of :func:`optimal`. None when no grouping exists (without under-filled
    groups); :class:`_OutOfWork` when a limit is reached."""
    n = len(g.w)
    got = _Search(g, lo, hi, allow_under=allow_under).best((1 << n) - 1)
    if got is None:
        return None
    return [np.array([v for v in range(n) if grp >> v & 1], dtype=np.int64) for grp in got[1]]


_NOTHING_LEFT: Best = ((0, 0, 0, 0.0), [])


def _across_masks(g: Graph) -> list[int]:
    """Per atom, the mask of its neighbours across a way."""
    xnb = [0] * len(g.w)
    for (a, b), c in zip(g.edges.tolist(), g.cross.tolist(), strict=True):
        if c:
            xnb[a] |= 1 << b
            xnb[b] |= 1 << a
    return xnb


def _building_masks(g: Graph) -> list[int]:
    """Per atom, the mask of the atoms of its building (itself included)."""
    building_mask: dict[int, int] = {}
    for v, b in enumerate(g.building.tolist()):
        building_mask[b] = building_mask.get(b, 0) | 1 << v
    return [building_mask[b] for b in g.building.tolist()]


def _joined(parts: list[Best]) -> Best:
    """The grouping of independent pieces: their costs added up, their groups together."""
    return (
        (
            sum(c[0] for c, _ in parts),
            sum(c[1] for c, _ in parts),
            sum(c[2] for c, _ in parts),
            sum(c[3] for c, _ in parts),
        ),
        [grp for _, groups in parts for grp in groups],
    )


class _Search:
    """One pass of the exact search: the best grouping of every set of atoms left (a bit
    mask), remembered, with the work and the states counted against their limits."""

    def __init__(self, g: Graph, lo: int, hi: int, *, allow_under: bool) -> None:
        self.n = len(g.w)
        self.lo, self.hi, self.allow_under = lo, hi, allow_under
        self.smallest = lo if not allow_under else 0  # lightest group a pass may make
        self.wl = [int(x) for x in g.w]
        self.ml = [float(x) + 0.01 for x in g.w]  # mass for inertia
        self.xl = [float(x) for x in g.xy[:, 0]]
        self.yl = [float(y) for y in g.xy[:, 1]]
        self.nb = _neighbour_masks(g)
        self.xnb = _across_masks(g)
        self.same = _building_masks(g)
        self.work = 0
        self.memo: dict[int, Best | None] = {}
        self.costs: dict[int, Cost] = {}

    def best(self, left: int) -> Best | None:
        """The best grouping of the atoms in ``left``, or None when there is none. The
        recursion stays in this one method (one frame per level, as deep as the groups)."""
        if not left:
            return _NOTHING_LEFT
        if left in self.memo:
            return self.memo[left]
        split = self._pieces(left)
        top: Best | None = None
        if len(split) > 1:  # pieces are grouped independently: their best costs add up
            parts = []
            for piece in split:
                got = self.best(piece)
                if got is None:
                    break
                parts.append(got)
            else:
                top = _joined(parts)
        elif not self._cannot_fill(left):
            # each group holding the sparsest atom, with the best grouping of what it leaves
            for grp in self._subsets(self._sparsest(left), left):
                sub = self.best(left & ~grp)
                if sub is None:
                    continue
                c, s = self._cost(grp), sub[0]
                total_cost = (c[0] + s[0], c[1] + s[1], c[2] + s[2], c[3] + s[3])
                if top is None or total_cost < top[0]:
                    top = (total_cost, [grp, *sub[1]])
        self._remember(left, top)
        return top

    def _cannot_fill(self, left: int) -> bool:
        """In the first pass: k in-band groups need k*lo <= households <= k*hi."""
        if self.allow_under:
            return False
        total = self._weight(left)
        return -(-total // self.hi) > total // self.lo

    def _sparsest(self, left: int) -> int:
        """The atom with the fewest neighbours left: fewest groups to try around it."""
        nb, root, fewest, rest = self.nb, -1, self.n + 1, left
        while rest:
            low = rest & -rest
            rest ^= low
            v = low.bit_length() - 1
            degree = (nb[v] & left).bit_count()
            if degree < fewest:
                root, fewest = v, degree
                if degree <= 1:
                    break
        return root

    def _remember(self, left: int, value: Best | None) -> None:
        if len(self.memo) >= DP_STATES:
            raise _OutOfWork(
                f"精确搜索超过 {DP_STATES:,} 个状态 (the exact search held more than "
                f"{DP_STATES:,} states)"
            )
        self.memo[left] = value

    def _weight(self, mask: int) -> int:
        wl, total = self.wl, 0
        while mask:
            low = mask & -mask
            mask ^= low
            total += wl[low.bit_length() - 1]
        return total

    def _cost(self, group: int) -> Cost:
        c = self.costs.get(group)
        if c is not None:
            return c
        wl, ml, xl, yl, same, xnb = self.wl, self.ml, self.xl, self.yl, self.same, self.xnb
        weight = s0 = sx = sy = s2 = 0.0
        frag = across = 0
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
            across += (xnb[v] & group).bit_count()
        c = (int(weight < self.lo), frag, across // 2, s2 - (sx * sx + sy * sy) / s0)
        self.costs[group] = c
        return c

    def _subsets(self, root: int, left: int) -> list[int]:
        """Every connected set of atoms in ``left`` holding ``root``, of at most ``hi``
        households (and at least ``smallest``): each set is reached once, by adding frontier
        atoms in bit order and banning the ones passed over."""
        out: list[int] = []
        wl, nb, hi, smallest = self.wl, self.nb, self.hi, self.smallest

        def rec(members: int, weight: int, frontier: int, banned: int) -> None:
            self.work += 1
            if self.work > DP_WORK:
                raise _OutOfWork(
                    f"精确搜索超过 {DP_WORK:,} 步 (the exact search took more than {DP_WORK:,} "
                    "steps)"
                )
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

        rec(1 << root, wl[root], nb[root] & left, 0)
        return out

    def _pieces(self, left: int) -> list[int]:
        """The connected pieces of the atoms in ``left``."""
        nb, out = self.nb, []
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
