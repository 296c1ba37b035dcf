"""The OGC API – Features documents other than features: the landing page, conformance, the
collections and their queryables (``api/routes/ogc.py``). Keys are the standard's camelCase
(``conformsTo``, ``itemType``, ``storageCrs``, ``$schema``…), as aliases."""

from __future__ import annotations

from pydantic import BaseModel, Field

__all__ = [
    "OgcCollection",
    "OgcCollections",
    "OgcConformance",
    "OgcExtent",
    "OgcLanding",
    "OgcLink",
    "OgcQueryable",
    "OgcQueryables",
    "OgcSpatialExtent",
]


class OgcLink(BaseModel):
    rel: str
    type: str
    href: str
    title: str | None = None


class OgcLanding(BaseModel):
    title: str
    description: str
    links: list[OgcLink]


class OgcConformance(BaseModel):
    conforms_to: list[str] = Field(alias="conformsTo")


class OgcSpatialExtent(BaseModel):
    bbox: list[list[float]] = Field(description="one box in CRS84 lon/lat; none while empty")
    crs: str


class OgcExtent(BaseModel):
    spatial: OgcSpatialExtent


class OgcCollection(BaseModel):
    id: str
    title: str
    item_type: str = Field(alias="itemType", examples=["feature"])
    extent: OgcExtent
    crs: list[str] = Field(description="the CRS the items can be asked in (`crs=`)")
    storage_crs: str = Field(alias="storageCrs")
    links: list[OgcLink]


class OgcCollections(BaseModel):
    links: list[OgcLink]
    collections: list[OgcCollection]
    crs: list[str]


class OgcQueryable(BaseModel):
    """A property to filter by (``type``, ``title``), or the geometry (``$ref``)."""

    type: str | None = None
    format: str | None = None  # date-time for a time
    title: str | None = None
    ref: str | None = Field(default=None, alias="$ref")
    read_only: bool | None = Field(default=None, alias="readOnly")
    role: str | None = Field(default=None, alias="x-ogc-role")  # primary-geometry


class OgcQueryables(BaseModel):
    """A JSON Schema of the properties the items can be filtered by (equality, CQL2)."""

    json_schema: str = Field(alias="$schema")
    id: str = Field(alias="$id")
    type: str
    title: str
    properties: dict[str, OgcQueryable]
    additional_properties: bool = Field(alias="additionalProperties")
