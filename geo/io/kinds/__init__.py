"""The import kinds: one :class:`KindHandler` per layer of :data:`geo.store.layers.LAYERS`,
keyed by the same kinds — its own checks (parents, neighbours, derived values) and its write."""

from __future__ import annotations

from geo.io.kinds.buildings import BUILDINGS
from geo.io.kinds.communities import COMMUNITIES
from geo.io.kinds.compounds import COMPOUNDS
from geo.io.kinds.handler import KindHandler, Prepared, Rows, StoredBuilding
from geo.io.kinds.households import HOUSEHOLDS
from geo.io.kinds.incidents import INCIDENTS
from geo.io.kinds.places import FACILITIES, RESOURCES
from geo.io.kinds.roads import ROADS
from geo.io.kinds.workers import WORKERS
from geo.store.layers import LAYERS

__all__ = ["HANDLERS", "KindHandler", "Prepared", "Rows", "StoredBuilding"]

HANDLERS: dict[str, KindHandler] = {
    "communities": COMMUNITIES,
    "compounds": COMPOUNDS,
    "buildings": BUILDINGS,
    "households": HOUSEHOLDS,
    "facilities": FACILITIES,
    "resources": RESOURCES,
    "incidents": INCIDENTS,
    "roads": ROADS,
    "workers": WORKERS,
}
if HANDLERS.keys() != LAYERS.keys():  # pragma: no cover - kept in step with LAYERS by hand
    raise AssertionError(f"import handlers {sorted(HANDLERS)} != layers {sorted(LAYERS)}")
