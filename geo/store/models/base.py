"""The declarative base of the model (with its naming convention), the storage and metric
SRIDs, and the column and check helpers the tables share."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from geoalchemy2 import Geometry
from sqlalchemy import DateTime, MetaData, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from geo.settings import get_settings

__all__ = ["METRIC_SRID", "NAMING", "SRID", "Base", "area", "is_valid", "now", "one_of", "point"]

SRID = get_settings().storage_srid
METRIC_SRID = get_settings().metric_srid

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def one_of(column: str, values: dict[str, Any]) -> str:
    """The check that ``column`` holds one of the codes of a vocabulary."""
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def is_valid(column: str) -> str:
    """The check that the geometry in ``column`` is valid."""
    return f"ST_IsValid({column})"


def area(nullable: bool = False) -> Mapped[Any]:
    """A MultiPolygon column in the storage SRID, with its GiST index."""
    return mapped_column(Geometry("MULTIPOLYGON", srid=SRID, spatial_index=True), nullable=nullable)


def point(nullable: bool = False) -> Mapped[Any]:
    """A Point column in the storage SRID, with its GiST index."""
    return mapped_column(Geometry("POINT", srid=SRID, spatial_index=True), nullable=nullable)


def now() -> Mapped[datetime]:
    """A timestamp column that defaults to the time of the insert."""
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
