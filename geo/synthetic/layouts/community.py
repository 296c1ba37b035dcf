"""The community: the drafts in rows between roads (:func:`arrange`), then the codes, ids and
absolute coordinates of its compounds, buildings and roads (:func:`assemble`)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import shapely
from shapely import LineString

from geo.partition import BuildingIn, CompoundIn, UnitIn
from geo.synthetic.layouts.drawing import Draft, Piece, translate
from geo.synthetic.layouts.model import LANE, LAYOUT_NAMES, BuildingInfo, Layout

__all__ = ["EDGE_MARGIN", "LANE_GAP", "ROAD_GAP", "STREET_SHOPS_AT", "Frame", "arrange", "assemble"]

# road half widths plus the pavement to the compound wall (metres)
EDGE_MARGIN = {"primary": 16.0, "secondary": 12.0}


ROAD_GAP = 18.0  # between compounds across a branch road (10 m carriageway + pavements)


LANE_GAP = 4.0  # between old courtyards across a lane


_SHOP_STRIP = 14.0  # street shops between the south road's pavement and the first compounds


# their south-west corner: 2 m of pavement between the south road's kerb and the shop fronts
STREET_SHOPS_AT = (EDGE_MARGIN["secondary"], EDGE_MARGIN["primary"] - 2.0)


@dataclass
class Frame:
    width: float
    height: float
    corners: list[tuple[float, float]]  # of each draft
    roads: list[tuple[str, LineString]]


def arrange(drafts: Sequence[Draft], *, between: float, street_front: float | None = None) -> Frame:
    """Drafts in rows (wrapping at about the square root of their area); branch roads between
    rows, roads or lanes (``between`` wide) between drafts of a row; the edge roads on the
    community's boundary (primary south, secondary elsewhere); with ``street_front`` (a length),
    a strip that long for shops between the south road and the first row."""
    area = sum((d.width + between) * (d.height + ROAD_GAP) for d in drafts)
    row_width = max(max(d.width for d in drafts), math.sqrt(area) * 1.15)
    south = EDGE_MARGIN["primary"] + (_SHOP_STRIP if street_front is not None else 0.0)
    west = EDGE_MARGIN["secondary"]
    rows: list[list[int]] = [[]]
    x = west
    for i, d in enumerate(drafts):
        if rows[-1] and x + d.width > west + row_width:
            rows.append([])
            x = west
        rows[-1].append(i)
        x += d.width + between
    corners: list[tuple[float, float]] = [(0.0, 0.0)] * len(drafts)
    row_spans, y = [], south
    for row in rows:
        x = west
        for i in row:
            corners[i] = (x, y)
            x += drafts[i].width + between
        top = y + max(drafts[i].height for i in row)
        row_spans.append((y, top))
        y = top + ROAD_GAP
    width = (
        max(
            max(corners[r[-1]][0] + drafts[r[-1]].width for r in rows),
            west + (street_front or 0.0),
        )
        + EDGE_MARGIN["secondary"]
    )
    height = row_spans[-1][1] + EDGE_MARGIN["secondary"]
    roads = _edge_roads(width, height)
    mids = [0.0] + [(a[1] + b[0]) / 2 for a, b in itertools.pairwise(row_spans)]
    mids.append(height)
    kind = LANE if between < ROAD_GAP else "branch"
    for r, row in enumerate(rows):
        if r:
            roads.append(("branch", LineString([(0.0, mids[r]), (width, mids[r])])))
        for i in row[:-1]:
            xm = corners[i][0] + drafts[i].width + between / 2
            roads.append((kind, LineString([(xm, mids[r]), (xm, mids[r + 1])])))
    return Frame(width, height, corners, roads)


def _edge_roads(width: float, height: float, over: float = 30.0) -> list[tuple[str, LineString]]:
    return [
        ("primary", LineString([(-over, 0.0), (width + over, 0.0)])),
        ("secondary", LineString([(-over, height), (width + over, height)])),
        ("secondary", LineString([(0.0, -over), (0.0, height + over)])),
        ("secondary", LineString([(width, -over), (width, height + over)])),
    ]


def assemble(
    code: str,
    kind: str,
    frame: Frame,
    drafts: Sequence[Draft],
    street_shops: Sequence[Piece],
    origin: tuple[float, float],
) -> Layout:
    ox, oy = origin

    def move(g, dx: float = 0.0, dy: float = 0.0):
        return translate(g, ox + dx, oy + dy)

    compounds: list[CompoundIn] = []
    buildings: list[BuildingIn] = []
    info: dict[str, BuildingInfo] = {}
    lanes: list[tuple[str, LineString]] = []
    ids = iter(range(1, 10**9))
    outside: list[tuple[Piece, float, float]] = [(p, 0.0, 0.0) for p in street_shops]
    for d, (dx, dy) in zip(drafts, frame.corners, strict=True):
        if not d.compound:
            outside += [(p, dx, dy) for p in d.pieces]
            continue
        ccode = f"{code}-C{len(compounds) + 1:02d}"
        compounds.append(
            CompoundIn(ccode, d.name, move(shapely.box(0, 0, d.width, d.height), dx, dy))
        )
        lanes += [(LANE, move(line, dx, dy)) for line in d.lanes]
        for j, p in enumerate(d.pieces, 1):
            bcode = f"{ccode}-B{j:03d}"
            buildings.append(BuildingIn(bcode, move(p.footprint, dx, dy), ccode, _units(p, ids)))
            info[bcode] = BuildingInfo(p.name, p.use, p.label)
    for j, (p, dx, dy) in enumerate(outside, 1):
        bcode = f"{code}-S{j:03d}"
        buildings.append(BuildingIn(bcode, move(p.footprint, dx, dy), None, _units(p, ids)))
        info[bcode] = BuildingInfo(p.name, p.use, p.label)
    boundary = move(shapely.box(0, 0, frame.width, frame.height))
    roads = [(k, move(line)) for k, line in frame.roads] + lanes
    name = f"{LAYOUT_NAMES[kind]}样例社区"
    return Layout(code, kind, name, boundary, compounds, buildings, roads, info)


def _units(p: Piece, ids) -> tuple[UnitIn, ...]:
    return tuple(
        UnitIn(next(ids), n, len(per), sum(per), per if p.uneven else None)
        for n, per in enumerate(p.units, 1)
    )
