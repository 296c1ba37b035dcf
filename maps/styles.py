"""How the maps show things: the colours and glyphs of places, incidents and grid sizes, the
page's stylesheet, and the short grid codes of labels (the notice boards print them too)."""

from __future__ import annotations

__all__ = [
    "BAND_COLOUR",
    "CSS",
    "FLOOR_COLOUR",
    "FLOOR_LAYER",
    "KIND_STYLE",
    "STATUS_COLOUR",
    "short",
]

KIND_STYLE = {  # kind → (colour, glyph)
    "party_service_complex": ("#c0392b", "综"),
    "party_service_centre": ("#e74c3c", "党"),
    "party_service_station": ("#f1948a", "站"),
    "convenience_centre": ("#1f618d", "便"),
    "convenience_station": ("#5dade2", "民"),
    "open_resource": ("#229954", "享"),
}
STATUS_COLOUR = {
    "reported": "#e67e22",
    "reopened": "#d35400",
    "accepted": "#f1c40f",
    "street_handling": "#8e44ad",
    "department_handling": "#2980b9",
    "resolved": "#27ae60",
    "closed": "#7f8c8d",
    "rejected": "#95a5a6",
    "duplicate": "#bdc3c7",
}
BAND_COLOUR = {"under": "#f39c12", "in": "#27ae60", "over": "#c0392b"}
FLOOR_LAYER = "分层单元 (units split by floors)"
FLOOR_COLOUR = "#6c3483"


def short(code: str) -> str:
    """``510107013001-C01-M01`` → ``C01-M01``, as the labels show a grid."""
    return code.rsplit("-", 2)[-2] + "-" + code.rsplit("-", 1)[-1]


CSS = """
html, body { font-family: "Noto Sans CJK SC", "Microsoft YaHei", "PingFang SC", sans-serif; }
.leaflet-container { background: #f4f1ea; }
.wg-pin { width: 26px; height: 26px; border-radius: 50%; color: #fff; font-size: 14px;
  line-height: 26px; text-align: center; border: 2px solid #fff; box-shadow: 0 0 3px #333; }
.wg-inc { width: 14px; height: 14px; border-radius: 50%; border: 2px solid #fff;
  box-shadow: 0 0 2px #333; }
.wg-inc.overdue { width: 18px; height: 18px; border: 3px solid #c0392b;
  animation: wg-pulse 1.2s infinite; }
@keyframes wg-pulse { 50% { box-shadow: 0 0 10px 4px rgba(192,57,43,.7); } }
.wg-box { background: rgba(255,255,255,.95); padding: 6px 8px; border-radius: 4px;
  box-shadow: 0 1px 4px rgba(0,0,0,.3); font-size: 13px; max-width: 320px; }
.wg-box h4 { margin: 0 0 4px; font-size: 14px; }
.wg-box input, .wg-box select, .wg-box button { font-size: 13px; margin: 2px 0; }
.wg-legend i { display: inline-block; width: 14px; height: 14px; border-radius: 50%;
  vertical-align: middle; margin-right: 4px; }
.wg-legend i.sq { border-radius: 2px; }
.wg-label { background: none; border: none; box-shadow: none; font-size: 11px; color: #222;
  text-shadow: 0 0 2px #fff, 0 0 2px #fff; white-space: nowrap; }
.wg-floor-label { color: #4a235a; font-weight: bold; }
.wg-popup dt { font-weight: bold; } .wg-popup dd { margin: 0 0 3px 0; }
.wg-near li { margin: 2px 0; }
.wg-base-label { background: none; border: none; }
.wg-road-label, .wg-compound-label { position: absolute; white-space: nowrap; color: #8a8272;
  text-shadow: 0 0 2px #fff, 0 0 2px #fff, 0 0 3px #fff; transform: translate(-50%, -50%); }
.wg-road-label { font-size: 11px; }
.wg-compound-label { font-size: 12px; color: #6f6654; font-style: italic; }
"""
