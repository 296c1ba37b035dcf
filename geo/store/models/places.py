"""The places: streets, communities, compounds, buildings and their units, households and
the personal data of households (``household_person``, readable by role only)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from geo.store.models.base import Base, area, is_valid, one_of, point
from geo.store.models.vocabularies import BUILDING_USES

__all__ = [
    "Building",
    "BuildingUnit",
    "Community",
    "Compound",
    "Household",
    "HouseholdPerson",
    "Street",
]


class Street(Base):
    """街道/镇: the tier that handles incidents (街镇处置)."""

    __tablename__ = "street"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    district: Mapped[str] = mapped_column(String(200))
    city: Mapped[str] = mapped_column(String(200), server_default="成都市")
    boundary: Mapped[Any] = area(nullable=True)
    __table_args__ = (CheckConstraint(is_valid("boundary"), name="boundary_valid"),)


class Community(Base):
    """社区: the community grid's area."""

    __tablename__ = "community"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    street_id: Mapped[int] = mapped_column(ForeignKey("street.id", ondelete="RESTRICT"), index=True)
    boundary: Mapped[Any] = area()
    street: Mapped[Street] = relationship()
    __table_args__ = (CheckConstraint(is_valid("boundary"), name="boundary_valid"),)


class Compound(Base):
    """小区/院落: a gated compound or courtyard within a community."""

    __tablename__ = "compound"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    address: Mapped[str | None] = mapped_column(String(400))
    community_id: Mapped[int] = mapped_column(
        ForeignKey("community.id", ondelete="CASCADE"), index=True
    )
    boundary: Mapped[Any] = area()
    community: Mapped[Community] = relationship()
    __table_args__ = (CheckConstraint(is_valid("boundary"), name="boundary_valid"),)


class Building(Base):
    """楼栋: a building; shops along a street may have no compound."""

    __tablename__ = "building"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    address: Mapped[str | None] = mapped_column(String(400))
    use: Mapped[str] = mapped_column(String(32), server_default="residential")
    community_id: Mapped[int] = mapped_column(
        ForeignKey("community.id", ondelete="CASCADE"), index=True
    )
    compound_id: Mapped[int | None] = mapped_column(
        ForeignKey("compound.id", ondelete="CASCADE"), index=True
    )
    floors: Mapped[int] = mapped_column(Integer)
    units: Mapped[int] = mapped_column(Integer)
    households: Mapped[int] = mapped_column(Integer)
    footprint: Mapped[Any] = area()
    compound: Mapped[Compound | None] = relationship()
    __table_args__ = (
        CheckConstraint("floors >= 1", name="floors_positive"),
        CheckConstraint("units >= 1", name="units_positive"),
        CheckConstraint("households >= 0", name="households_nonnegative"),
        CheckConstraint(one_of("use", BUILDING_USES), name="use_known"),
        CheckConstraint(is_valid("footprint"), name="footprint_valid"),
    )


class BuildingUnit(Base):
    """单元: a stairwell/entrance of a building, the unit micro-grids are made of."""

    __tablename__ = "building_unit"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    building_id: Mapped[int] = mapped_column(ForeignKey("building.id", ondelete="CASCADE"))
    unit_no: Mapped[int] = mapped_column(Integer)
    floors: Mapped[int] = mapped_column(Integer)
    households: Mapped[int] = mapped_column(Integer)
    __table_args__ = (
        UniqueConstraint("building_id", "unit_no", name="uq_building_unit_no"),
        CheckConstraint("unit_no >= 1", name="unit_no_positive"),
        CheckConstraint("floors >= 1", name="floors_positive"),
        CheckConstraint("households >= 0", name="households_nonnegative"),
    )


class Household(Base):
    """户: a dwelling (室) in a building unit. Personal data is in ``household_person``."""

    __tablename__ = "household"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    code: Mapped[str] = mapped_column(String(80), unique=True)
    building_id: Mapped[int | None] = mapped_column(
        ForeignKey("building.id", ondelete="CASCADE"), index=True
    )
    unit_id: Mapped[int | None] = mapped_column(
        ForeignKey("building_unit.id", ondelete="CASCADE"), index=True
    )
    floor: Mapped[int | None] = mapped_column(Integer)
    room: Mapped[str | None] = mapped_column(String(32))
    address: Mapped[str | None] = mapped_column(String(400))
    members: Mapped[int | None] = mapped_column(Integer)
    position: Mapped[Any] = point()
    # the micro-grid the household is assigned to. Not indexed and no foreign key, so that
    # assigning a city rewrites it in place (HOT updates; the table's fillfactor is 45):
    # migration 0020's triggers check it (a grid of the building's community) and clear it
    # when its grid goes; the households of a grid are found through its community's buildings
    grid_id: Mapped[int | None] = mapped_column(Integer)
    __table_args__ = (
        CheckConstraint("members IS NULL OR members >= 0", name="members_nonnegative"),
        CheckConstraint(is_valid("position"), name="position_valid"),
    )


class HouseholdPerson(Base):
    """Personal data of a household (户主 name, phone): only roles that need it may read it."""

    __tablename__ = "household_person"
    household_id: Mapped[int] = mapped_column(
        ForeignKey("household.id", ondelete="CASCADE"), primary_key=True
    )
    head_name: Mapped[str] = mapped_column(String(100))
    phone: Mapped[str | None] = mapped_column(String(32))
