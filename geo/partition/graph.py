"""The graph the grouping works on: atoms (units, or floor ranges of a tall unit) with their
households, positions and buildings, and which atoms are neighbours (their cells share an
edge), with the neighbours that stand on either side of a way (a road, lane or footway).

Also the graph operations the searches share: connected pieces, subgraphs, and the links
through runs of units without households (they are not units of their own: they join the
group that needs them as a bridge, or a neighbour's).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import shapely
from scipy.spatial import cKDTree
from shapely import Geometry

__all__ = [
    "Graph",
    "attach",
    "bridged",
    "cell_adjacency",
    "components",
    "connected",
    "make_graph",
    "pieces",
    "subgraph",
]


@dataclass
class Graph:
    w: np.ndarray  # households per atom
    xy: np.ndarray  # positions (metres)
    building: np.ndarray  # building index per atom
    nbrs: list[np.ndarray]  # adjacency lists
    edges: np.ndarray  # (m, 2) undirected edges i < j
    # per edge: the two atoms stand on either side of a way (a group should not straddle it)
    cross: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))

    def __post_init__(self) -> None:
        if len(self.cross) != len(self.edges):
            self.cross = np.zeros(len(self.edges), dtype=bool)

    @property
    def crossing(self) -> set[tuple[int, int]]:
        """The edges (i < j) that cross a way."""
        if not hasattr(self, "_crossing"):
            self._crossing = {(int(a), int(b)) for a, b in self.edges[self.cross]}
        return self._crossing


def make_graph(
    w: Sequence[int] | np.ndarray,
    xy: np.ndarray,
    building: Sequence[int] | np.ndarray,
    edges: Iterable[tuple[int, int]],
    crossing: Iterable[tuple[int, int]] = (),
) -> Graph:
    """A graph on ``len(w)`` atoms; ``crossing`` lists the edges that cross a way (either
    orientation)."""
    n = len(w)
    e = np.array(sorted({(min(a, b), max(a, b)) for a, b in edges if a != b}), dtype=np.int64)
    e = e.reshape(-1, 2)
    across = {(min(a, b), max(a, b)) for a, b in crossing}
    cross = np.array([(int(a), int(b)) in across for a, b in e], dtype=bool)
    nbrs: list[list[int]] = [[] for _ in range(n)]
    for a, b in e:
        nbrs[a].append(int(b))
        nbrs[b].append(int(a))
    return Graph(
        np.asarray(w, dtype=np.int64),
        np.asarray(xy, dtype=float).reshape(-1, 2),
        np.asarray(building, dtype=np.int64),
        [np.array(x, dtype=np.int64) for x in nbrs],
        e,
        cross,
    )


def pieces(g: Graph, nodes: Sequence[int]) -> list[list[int]]:
    """The connected pieces of the subgraph on ``nodes``, each sorted."""
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


def components(g: Graph) -> list[np.ndarray]:
    """The connected pieces of the graph, each as sorted node indices (a zone has tens of
    units: a walk in Python beats a sparse-matrix call here)."""
    return [np.array(p, dtype=np.int64) for p in pieces(g, list(range(len(g.w))))]


def connected(g: Graph, group: Sequence[int]) -> bool:
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


def subgraph(g: Graph, nodes: np.ndarray) -> Graph:
    local = {int(v): i for i, v in enumerate(nodes)}
    edges, crossing = [], []
    for (a, b), c in zip(g.edges.tolist(), g.cross.tolist(), strict=True):
        if a in local and b in local:
            edges.append((local[a], local[b]))
            if c:
                crossing.append((local[a], local[b]))
    return make_graph(g.w[nodes], g.xy[nodes], g.building[nodes], edges, crossing)


def bridged(g: Graph, full: np.ndarray) -> Graph:
    """The subgraph of the atoms with households, where two of them are also neighbours when
    a run of atoms without households (sheds, shops) joins them — the run is handed over to
    one group afterwards (:func:`attach`). Such a link crosses a way when either of its ends
    reaches the run across one."""
    inside = np.zeros(len(g.w), dtype=bool)
    inside[full] = True
    local = {int(v): i for i, v in enumerate(full)}
    edges: set[tuple[int, int]] = set()
    crossing: set[tuple[int, int]] = set()
    for (a, b), c in zip(g.edges.tolist(), g.cross.tolist(), strict=True):
        if inside[a] and inside[b]:
            edges.add((local[a], local[b]))
            if c:
                crossing.add((local[a], local[b]))
    for touching in _runs(g, inside, local):
        for a, b in _run_links(sorted(touching), g.xy[full]):
            if (a, b) not in edges:
                edges.add((a, b))
                if touching[a] or touching[b]:
                    crossing.add((a, b))
    return make_graph(g.w[full], g.xy[full], g.building[full], sorted(edges), crossing)


def _runs(g: Graph, inside: np.ndarray, local: dict[int, int]) -> Iterator[dict[int, bool]]:
    """For each run of connected atoms outside ``inside`` (without households), the atoms
    inside that touch it (local indices), each with whether it reaches the run only across
    a way."""
    across = g.crossing
    seen = np.zeros(len(g.w), dtype=bool)
    for start in np.flatnonzero(~inside):
        if seen[start]:
            continue
        stack = [int(start)]
        touching: dict[int, bool] = {}  # holder → reaches the run only across a way
        seen[start] = True
        while stack:
            v = stack.pop()
            for u in g.nbrs[v].tolist():
                if inside[u]:
                    c = (min(u, v), max(u, v)) in across
                    touching[local[u]] = touching.get(local[u], True) and c
                elif not seen[u]:
                    seen[u] = True
                    stack.append(u)
        yield touching


BRIDGE_CLIQUE = 12  # holders touching one run: up to this many, every pair is linked ...
BRIDGE_NEAREST = 6  # ... more, each to its nearest few (a row of 3,000 garages behind 3,000
# villas linked all pairs of villas: 4.5 million links, 1 GB)


def _run_links(t: list[int], xy: np.ndarray) -> list[tuple[int, int]]:
    """The links (a < b) between the holders ``t`` touching one run of empty atoms: every
    pair for a few, else each holder to its ``BRIDGE_NEAREST`` nearest, with the nearest
    pair between any two pieces that leaves added until they are connected."""
    if len(t) <= BRIDGE_CLIQUE:
        return [(a, b) for i, a in enumerate(t) for b in t[i + 1 :]]
    pts = xy[t]
    tree = cKDTree(pts)
    _, near = tree.query(pts, k=BRIDGE_NEAREST + 1)
    links = {
        (min(t[i], t[j]), max(t[i], t[j]))
        for i, row in enumerate(near.tolist())
        for j in row
        if j != i and j < len(t)
    }
    # connect the pieces of the nearest-neighbour graph (rare: far-apart clumps)
    parent = list(range(len(t)))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    index = {v: i for i, v in enumerate(t)}
    for a, b in links:
        parent[find(index[a])] = find(index[b])
    while len({find(i) for i in range(len(t))}) > 1:
        root = find(0)
        mine = [i for i in range(len(t)) if find(i) == root]
        rest = [i for i in range(len(t)) if find(i) != root]
        d, j = cKDTree(pts[rest]).query(pts[mine])
        k = int(np.argmin(d))
        a, b = t[mine[k]], t[rest[int(j[k])]]
        links.add((min(a, b), max(a, b)))
        parent[find(mine[k])] = find(rest[int(j[k])])
    return sorted(links)


def attach(g: Graph, groups: list[np.ndarray]) -> list[np.ndarray]:
    """Give every atom left out of ``groups`` (atoms without households) to a group: first
    the runs a group needs to be connected (its bridges), then the rest to the group of a
    neighbour, spreading from the groups, so that every group stays connected where it can.
    Atoms cut off from every group make a group of their own."""
    owner = np.full(len(g.w), -1, dtype=np.int64)
    for n, grp in enumerate(groups):
        owner[grp] = n
    for n, grp in enumerate(groups):  # bridges: shortest runs of free atoms joining the parts
        parts = pieces(g, sorted(int(x) for x in grp))
        while len(parts) > 1:
            path = _free_path(g, owner, set(parts[0]), {v for p in parts[1:] for v in p})
            if path is None:
                break
            owner[path] = n
            parts = pieces(g, sorted(int(x) for x in np.flatnonzero(owner == n)))
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
    if len(lost):
        out.append(lost)
    return out


def _free_path(g: Graph, owner: np.ndarray, src: set[int], dst: set[int]) -> list[int] | None:
    """The shortest run of unowned atoms from ``src`` to ``dst`` (BFS), without its ends."""
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


def cell_adjacency(cells: Sequence[Geometry]) -> list[tuple[int, int]]:
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
