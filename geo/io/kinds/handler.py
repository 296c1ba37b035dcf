"""What an import kind does beyond the common checks: :class:`KindHandler` (its own checks
and the write), and :class:`Prepared` (what those checks found, which the write uses)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from shapely.geometry.base import BaseGeometry
from sqlalchemy.orm import Session

from geo.errors import RowProblem
from geo.io.checks.parents import Found, require_communities
from geo.store.layers import LayerSpec

__all__ = ["KindHandler", "Prepared", "Rows", "StoredBuilding", "in_community"]

Rows = list[dict[str, Any]]


@dataclass(frozen=True)
class StoredBuilding:
    """A stored building as a household row needs it: its id, floors, footprint (storage
    CRS) and units (unit number → id)."""

    id: int
    floors: int
    geom: BaseGeometry
    units: dict[int, int] = field(default_factory=dict)


@dataclass
class Prepared:
    """What a kind's checks looked up and derived for its write: the stored parents the rows
    name, by code, and (buildings) the households of each unit, per row."""

    communities: Found = field(default_factory=dict)
    compounds: Found = field(default_factory=dict)
    buildings: dict[str, StoredBuilding] = field(default_factory=dict)
    unit_counts: dict[int, list[int]] = field(default_factory=dict)


@dataclass(frozen=True)
class KindHandler:
    """One import kind: ``prepare`` checks the rows against what is stored (parents,
    neighbours) and derives values, reporting problems; ``write`` stores rows that have none,
    in the session's transaction, and returns counts of rows written to other tables."""

    prepare: Callable[[Rows, np.ndarray, Session, LayerSpec, list[RowProblem]], Prepared]
    write: Callable[[Session, Rows, np.ndarray, Prepared], dict[str, int]]


def in_community(
    rows: Rows, geoms: np.ndarray, session: Session, spec: LayerSpec, problems: list[RowProblem]
) -> Prepared:
    """The ``prepare`` of a kind whose only own check is its community: the communities the
    rows name, each one required to exist."""
    return Prepared(communities=require_communities(rows, spec, session, problems))
