"""The file formats Wangge reads and writes: file suffix → OGR driver (pyogrio)."""

from __future__ import annotations

__all__ = ["DRIVERS"]

DRIVERS = {
    ".geojson": "GeoJSON",
    ".json": "GeoJSON",
    ".gpkg": "GPKG",
    ".shp": "ESRI Shapefile",
    ".fgb": "FlatGeobuf",
    ".csv": "CSV",
}
