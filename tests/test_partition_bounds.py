"""The partitioner holds on real footprints: hand-made worst cases in a subprocess under an
address-space cap and a time limit (``tests/bounded_cases.py``), and property tests over the
named morphology classes of :mod:`geo.synthetic.layouts`.

The exact search once built every connected set of small units before counting its work: a
compound of 30 houses of 2 households took 13 s and 849 MB, and a real low-rise quarter
(1,100 OpenStreetMap footprints) grew to 23.8 GB until the kernel killed it. Under the cap
here such a search dies with MemoryError and the test fails.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geo.core.validate import UnitRecord, validate_grids
from geo.partition import partition_community
from geo.synthetic.layouts import LAYOUT_KINDS, make_layout

from .conftest import ROOT

# address space for the interpreter, numpy/scipy/shapely and the work (RLIMIT_RSS does
# nothing on Linux); peak resident memory is then checked against 1 GB
ADDRESS_SPACE = 3 << 30
RESIDENT_MB = 1024
SECONDS = 60  # a compound of up to 200 units must take under 30 s


def _cap() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


def _run(case: str) -> dict:
    proc = subprocess.run(
        [sys.executable, "-m", "tests.bounded_cases", case],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=SECONDS,
        preexec_fn=_cap,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout)
    assert out["maxrss_mb"] < RESIDENT_MB, out["maxrss_mb"]
    assert out["errors"] == []  # every validator invariant: nesting, tiling, contiguity, …
    assert all(m["polygon"] for m in out["micro"])
    assert out["units_split"] == 0  # a unit within the maximum is never split
    return out


def _households(out: dict) -> list[int]:
    return sorted(m["households"] for m in out["micro"])


def test_120_one_household_villas_in_a_row():
    out = _run("villas_in_a_row")
    assert sum(_households(out)) == 120
    assert all(30 <= n <= 50 for n in _households(out))
    assert all(30 <= m["buildings"] <= 50 for m in out["micro"])  # whole houses, 30-50
    assert [(c["status"], c["proven"]) for c in out["compounds"]] == [("ok", True)]


def test_an_urban_village_of_400_houses_stays_in_band_and_off_the_lanes():
    out = _run("urban_village")
    assert out["compounds"][0]["status"] == "ok"
    assert all(30 <= n <= 50 for n in _households(out))
    # its blocks between the lanes hold 100-200 households: no micro-grid need straddle a
    # lane, and none does
    assert sum(m["across_lanes"] for m in out["micro"]) == 0


def test_200_one_household_units_all_touching():
    out = _run("all_touching")
    assert sum(_households(out)) == 200 and all(30 <= n <= 50 for n in _households(out))


def test_32_small_houses_in_a_square_no_longer_exhaust_memory():
    out = _run("square_of_small_units")
    assert sum(_households(out)) == 64 and all(30 <= n <= 50 for n in _households(out))


def test_a_row_of_200_walk_up_units_none_three_to_a_grid():
    out = _run("row_of_walk_up_units")
    assert [(c["status"], c["proven"]) for c in out["compounds"]] == [("underfilled", True)]
    assert all(n <= 50 for n in _households(out))


def test_1000_villas_with_a_row_of_garages_behind():
    out = _run("villas_with_garages")
    assert all(30 <= n <= 50 for n in _households(out)) and sum(_households(out)) == 1000
    assert all(m["households"] > 0 for m in out["micro"])  # no garage is a grid of its own


def test_a_tower_among_30_shops_and_a_school():
    out = _run("tower_among_shops")
    # the shops and the school are nobody's micro-grid of their own: every micro-grid holds
    # households; the tower's two units of 100 are split by floors, each part in band
    assert all(m["households"] > 0 for m in out["micro"])
    assert all(30 <= n <= 50 for n in _households(out)) and sum(_households(out)) == 200
    assert all(m["floor_cells"] == 1 for m in out["micro"])


def test_a_30_floor_single_unit_tower_keeps_one_cell_for_its_floor_groups():
    out = _run("tall_single_unit_tower")
    floors = sorted(m["floors"][0] for m in out["micro"])
    assert floors == [[1, 10], [11, 20], [21, 30]] and _households(out) == [40, 40, 40]
    areas = {round(m["area"], 6) for m in out["micro"]}
    assert len(areas) == 1  # the same polygon: the tower's whole cell
    assert all(m["floor_cells"] == 1 for m in out["micro"])


def test_a_floor_over_the_maximum_is_reported_not_raised():
    out = _run("floor_over_the_maximum")
    (compound,) = out["compounds"]
    assert compound["status"] == "overfilled" and compound["proven"]
    assert "60 户的一层超过上限 50" in compound["reason"]
    assert _households(out) == [40, 40, 60]


# --- properties over the morphology classes -----------------------------------------------
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(LAYOUT_KINDS), st.integers(0, 10_000))
def test_invariants_on_every_morphology_class(kind, seed):
    lay = make_layout(kind, seed=seed)
    roads = [line for k, line in lay.roads if k != "footway"]
    ways = [line for _, line in lay.roads]
    res = partition_community(
        lay.code, lay.boundary, lay.compounds, lay.buildings, roads=roads, ways=ways, seed=seed
    )
    units = {
        u.id: UnitRecord(u.id, b.code, u.unit_no, u.floors, u.households)
        for b in lay.buildings
        for u in b.units
    }
    report = validate_grids(res.records(), units=units)
    assert report.ok, report.rows()[:5]
    for c in res.compound_grids:
        for m in c.micro:
            assert m.geometry.geom_type == "Polygon"
            if c.status != "overfilled":
                assert m.households <= 50  # never over-filled
            if c.status in ("ok", "merged"):
                assert 30 <= m.households <= 50
            if c.households:  # units without households never make a micro-grid alone
                assert m.households > 0, (c.code, m.code)
        if not c.proven:  # a search limit: said so, with the reason
            assert "search limit" in c.reason
    held: dict[int, set[str]] = {}
    for m in res.micro:
        for a in m.atoms:
            held.setdefault(a.unit_id, set()).add(m.code)
    for b in lay.buildings:
        for u in b.units:
            assert u.id in held  # every unit, with or without households, in a micro-grid
            if u.households <= 50:
                assert len(held[u.id]) == 1
    again = partition_community(
        lay.code, lay.boundary, lay.compounds, lay.buildings, roads=roads, ways=ways, seed=seed
    )
    assert [(m.code, m.households) for m in again.micro] == [
        (m.code, m.households) for m in res.micro
    ]


@pytest.mark.parametrize("kind", ["villa", "urban_village"])
def test_low_rise_micro_grids_group_whole_neighbouring_houses(kind):
    """Detached houses: 30-50 whole buildings a micro-grid (one unit, one household each for
    villas), every one in band where the compound allows it, none split."""
    lay = make_layout(kind, seed=3)
    res = partition_community(
        lay.code,
        lay.boundary,
        lay.compounds,
        lay.buildings,
        roads=[line for k, line in lay.roads if k != "footway"],
        ways=[line for _, line in lay.roads],
    )
    assert res.summary()["split_buildings"] == 0
    assert all(c.status == "ok" and c.proven for c in res.compound_grids if c.households)
    if kind == "villa":
        assert all(30 <= len(m.buildings) <= 50 for m in res.micro)
