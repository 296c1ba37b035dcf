"""Street grids: the buildings outside every compound, grouped by proximity without crossing
a road, and named after the nearest road."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import shapely
from shapely import Geometry

from geo.partition.model import BuildingIn

__all__ = ["street_clusters", "street_name"]


def street_clusters(
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


def street_name(
    cluster: list[BuildingIn], roads: Sequence[Geometry], names: Sequence[str], i: int
) -> str:
    """The name of the ``i``-th street grid: after the road nearest its buildings."""
    if roads and names:
        hull = shapely.union_all([b.footprint for b in cluster])
        d = shapely.distance(np.asarray(roads, dtype=object), hull)
        return f"{names[int(np.argmin(d))]}沿街网格{i}"
    return f"沿街网格{i}"
