"""Where is this, and whose grid is it? Locating points and addresses, and assigning households
and incidents to grids, in bulk or one at a time.

Two engines give the same answers under the same rule (:mod:`geo.core.kernels`): the in-process
index (:class:`Locator`, the numba point-in-polygon kernels of :mod:`geo.core.kernels` over the
current micro-grids) and PostGIS (:func:`sql_covering`, ``ST_Covers`` through the GiST index).
The in-process one is used for bulk work and for the ``/locate`` endpoint; the SQL one proves
it (tests) and is measured beside it (``bench/assign.py``).

* :mod:`geo.locate.index` — the locator: what it holds and how it is loaded;
* :mod:`geo.locate.addresses` — its address index (compound and building names);
* :mod:`geo.locate.floors` — the floor rule (units split by floors);
* :mod:`geo.locate.lookup` — one position or address: chain, building, workers;
* :mod:`geo.locate.sql` — the same answer from PostGIS;
* :mod:`geo.locate.bulk` — household and incident assignment, written in bulk;
* :mod:`geo.locate.reassign` — after a new version: keep by code, assign the changed area
  (and the same counted beforehand, writing nothing: ``preview_changed``).
"""

from __future__ import annotations

from geo.locate.bulk import (
    assign_households,
    assign_households_of,
    assign_incidents,
    would_assign,
)
from geo.locate.index import Locator, current_key
from geo.locate.lookup import locate_address, locate_point, parse_point, worker_view
from geo.locate.reassign import preview_changed, reassign_changed
from geo.locate.sql import sql_covering

__all__ = [
    "Locator",
    "assign_households",
    "assign_households_of",
    "assign_incidents",
    "current_key",
    "locate_address",
    "locate_point",
    "parse_point",
    "preview_changed",
    "reassign_changed",
    "sql_covering",
    "worker_view",
    "would_assign",
]
