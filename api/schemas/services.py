"""Planners' answers of ``/coverage`` and ``/coverage/suggest`` (``geo.places``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

DistanceType = Literal["network", "straight_line"]


class GridCoverage(BaseModel):
    households: int
    covered: int
    share: float


class Coverage(BaseModel):
    kind: str
    limit_m: float
    distance_type: DistanceType
    households: int
    covered: int
    share: float | None = Field(description="null when there are no households")
    per_micro_grid: dict[str, GridCoverage] = Field(description="by micro-grid code ('-': none)")
    outside: list[str] = Field(description="codes of the households not covered")


class Site(BaseModel):
    lon: float
    lat: float
    households: int


class SiteSuggestion(BaseModel):
    kind: str
    limit_m: float | None = Field(
        default=None, description="absent when no household is left uncovered"
    )
    distance_type: DistanceType
    uncovered_before: int
    covered_households: int
    sites: list[Site]
