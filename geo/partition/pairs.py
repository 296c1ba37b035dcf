"""Zones whose groups hold at most two atoms: solved exactly by a maximum-weight matching.

When no three atoms fit under the maximum (old walk-ups whose units hold 24-27 households,
towers' floor groups), every micro-grid is one atom or two neighbouring ones, and the best
grouping is a matching of the adjacency graph: pairing two atoms saves the under-filled
micro-grids it removes. A maximum-weight matching (Edmonds' blossom algorithm, networkx's
``max_weight_matching``) finds it exactly in polynomial time, where the bit-mask search
would stop at its limits and the bisection only approximates. The weights keep the
objectives' order: under-filled micro-grids saved first, then buildings kept whole, then
pairs not across a way, then short pairs.
"""

from __future__ import annotations

import networkx as nx
import numpy as np

from geo.partition.graph import Graph

__all__ = ["paired", "pairs_only"]

PAIRS_MAX_ATOMS = 1_500  # the matching is cubic at worst: larger zones go to the bisection


def pairs_only(g: Graph, hi: int) -> bool:
    """No three atoms fit under ``hi`` together (so no group holds more than two), and the
    zone is small enough for the matching."""
    n = len(g.w)
    return 3 <= n <= PAIRS_MAX_ATOMS and int(np.sort(g.w)[:3].sum()) > hi


def paired(g: Graph, lo: int, hi: int) -> list[np.ndarray]:
    """The groups of a :func:`pairs_only` zone with the fewest under-filled, then the fewest
    split buildings, pairs across a way and long pairs (in that order)."""
    n = len(g.w)
    under = g.w < lo
    span = float(np.ptp(g.xy, axis=0).max()) + 1.0 if n else 1.0
    across = g.crossing
    graph = nx.Graph()
    graph.add_nodes_from(range(n))
    for a, b in g.edges.tolist():
        weight = int(g.w[a] + g.w[b])
        if weight > hi:
            continue
        saved = int(under[a]) + int(under[b]) - int(weight < lo)  # under-filled removed
        if saved <= 0:
            continue
        same = g.building[a] == g.building[b]
        way = (min(a, b), max(a, b)) in across
        length = float(np.hypot(*(g.xy[a] - g.xy[b]))) / span  # 0..~1.4
        # lexicographic in the weights (at most n / 2 pairs): a saved micro-grid outweighs
        # every building kept whole, which outweighs every way, which outweighs every length
        w = saved * 8.0 * n**3 + same * 4.0 * n**2 + (not way) * 2.0 * n + (1.0 - length / 2.0)
        graph.add_edge(a, b, weight=w)
    matched = nx.max_weight_matching(graph)
    groups = [np.array(sorted(pair), dtype=np.int64) for pair in matched]
    done = {v for pair in matched for v in pair}
    groups += [np.array([v]) for v in range(n) if v not in done]
    return sorted(groups, key=lambda grp: int(grp[0]))
