"""Response schemas, named by role (``…Public``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class Health(BaseModel):
    status: str = Field(examples=["ok"])
    database: str
    server_version: str | None = Field(default=None, description="admins only")
    postgis_version: str | None = Field(default=None, description="admins only")
    worker: int | None = Field(
        default=None,
        description="the API process that answered (its pid), behind `--workers N`; admins only",
    )


class Feature(BaseModel):
    type: str = "Feature"
    id: str | int | None = None
    geometry: dict[str, Any] | None
    properties: dict[str, Any]


class Link(BaseModel):
    rel: str
    type: str | None = None
    href: str


class FeatureCollection(BaseModel):
    type: str = "FeatureCollection"
    numberMatched: int
    numberReturned: int
    features: list[Feature]
    links: list[Link] = []


class UserPublic(BaseModel):
    id: int | None
    name: str
    role: str
    grid_code: str | None = None
    street_code: str | None = None
    revoked: bool = False
    expired: bool = False
    expires_at: datetime | None = None
    last_used_at: datetime | None = Field(
        default=None, description="recorded at most once a minute"
    )


class ErrorBody(BaseModel):
    code: str
    message: str
    detail: Any = None
