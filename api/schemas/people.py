"""The answers of ``/households`` and ``/emergency/reach`` (``geo.people``). A page of
households has one model per audience: without residents' names and phones (planners), and
with them (a grid worker of its own grids, an admin)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class Household(BaseModel):
    code: str
    building: str
    unit_no: int
    floor: int | None
    room: str | None
    members: int | None
    micro_grid: str


class HouseholdPersonal(Household):
    head_name: str | None
    phone: str | None


class HouseholdPage(BaseModel):
    """A grid's households without personal data (planners)."""

    grid: str
    numberMatched: int
    numberReturned: int
    personal: Literal[False]
    households: list[Household]


class HouseholdPagePersonal(BaseModel):
    """A grid's households with names and phones (audit-logged)."""

    grid: str
    numberMatched: int
    numberReturned: int
    personal: Literal[True]
    households: list[HouseholdPersonal]


class ReachNode(BaseModel):
    """A micro-grid in the reach tree."""

    workers: list[str]
    households: int
    unreachable: int


class ReachParameters(BaseModel):
    hop_minutes: list[float]
    households_per_minute: float
    target_minutes: float


class Reach(BaseModel):
    grids: list[str]
    households: int
    reachable: int
    unreachable: list[str] = Field(description="household codes, the first 500")
    unreachable_count: int
    within_target: int
    within_target_share: float | None
    within_3h_share: float | None
    slowest_minutes: float | None
    parameters: ReachParameters
    tree: dict[str, dict[str, dict[str, dict[str, dict[str, ReachNode]]]]] = Field(
        description="district → 'street code name' → 'community code name' → compound grid → "
        "micro-grid"
    )
