"""The answer of ``GET /locate`` (``geo.locate.lookup.LocateResult.as_dict``): one shape for
every caller; what is role-dependent is the value, not the field (workers' ``phone`` and the
address's ``household`` and ``room`` are null for the public)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class GridRef(BaseModel):
    id: int
    code: str
    households: int


class CompoundGridRef(GridRef):
    name: str | None


class CommunityRef(BaseModel):
    code: str
    name: str


class StreetRef(BaseModel):
    code: str
    name: str
    district: str


class Chain(BaseModel):
    """micro → compound → community → street."""

    micro_grid: GridRef
    compound_grid: CompoundGridRef | None
    community_grid: GridRef | None
    community: CommunityRef | None = Field(default=None, description="absent when unknown")
    street: StreetRef | None = Field(default=None, description="absent when unknown")


class BuildingRef(BaseModel):
    code: str
    name: str
    compound: str | None
    unit_no: int | None


class AddressMatch(BaseModel):
    query: str
    household: str | None = Field(description="the household's code: staff only")
    building: str
    unit_no: int | None
    room: str | None = Field(description="staff only")
    level: Literal["household", "unit", "building"]


class FloorGroup(BaseModel):
    id: int
    micro_grid: str
    floor_min: int
    floor_max: int
    label: str = Field(examples=["1–8层"])
    answers: bool


class FloorAnswer(BaseModel):
    """A unit split by floors: its floor groups, lowest first, and how one was chosen."""

    unit_id: int
    floor: int | None
    chosen_by: Literal["floor", "lowest"]
    groups: list[FloorGroup]


class CoOwner(BaseModel):
    id: int
    code: str
    reason: str = Field(examples=["floors"])


class WorkerPublic(BaseModel):
    """A responsible worker (``geo.locate.lookup.worker_view``), in /locate answers and in
    the workers told of a new incident."""

    code: str
    name: str
    role: str
    role_name: str
    serves: str | None = Field(default=None, description="the grid level it serves")
    phone: str | None = Field(description="staff see every phone; the public only posted ones")


class LocateAnswer(BaseModel):
    lon: float
    lat: float
    how: Literal["inside", "nearest"]
    distance_m: float
    chain: Chain
    building: BuildingRef | None
    address: AddressMatch | None
    standard_address: str | None = Field(
        description="标准地址 (standard address) of the building and unit hit: 社区 + 小区 + 栋 + "
        "单元, e.g. 吉福社区云锦城市花园3栋2单元; null outside buildings",
        examples=["吉福社区云锦城市花园3栋2单元"],
    )
    floors: FloorAnswer | None
    co_owners: list[CoOwner]
    workers: list[WorkerPublic]
