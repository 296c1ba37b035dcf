"""The base maps a map may be drawn on (``WANGGE_BASEMAP``): none by default, Amap or Tencent
tiles (GCJ-02), or a tile URL template."""

from __future__ import annotations

from dataclasses import dataclass

from geo.errors import InputError
from geo.settings import get_settings

__all__ = ["BASEMAPS", "Basemap", "basemap"]


@dataclass(frozen=True)
class Basemap:
    name: str
    url: str | None
    attribution: str = ""
    gcj02: bool = False
    subdomains: str = "abc"


BASEMAPS = {
    "none": Basemap("none", None),
    "amap": Basemap(
        "amap",
        "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8"
        "&x={x}&y={y}&z={z}",
        "© 高德地图 AutoNavi",
        True,
        "1234",
    ),
    "tencent": Basemap(
        "tencent",
        "https://rt{s}.map.gtimg.com/tile?z={z}&x={x}&y={-y}&styleid=1000&scene=0",
        "© 腾讯地图 Tencent",
        True,
        "0123",
    ),
}


def basemap(spec: str | None = None) -> Basemap:
    """``none`` (default), ``amap``, ``tencent``, or a tile URL template (WGS84 tiles; add
    ``#gcj02`` at the end for GCJ-02 tiles)."""
    spec = (spec if spec is not None else get_settings().basemap).strip()
    if spec in BASEMAPS:
        return BASEMAPS[spec]
    if spec.startswith(("http://", "https://")) and "{z}" in spec:
        gcj = spec.endswith("#gcj02")
        return Basemap("custom", spec.removesuffix("#gcj02"), "", gcj)
    raise InputError(
        f"底图设置无效 (invalid base map) {spec!r}: none | amap | tencent | 瓦片地址 (a tile URL "
        "template with {z}/{x}/{y})"
    )
