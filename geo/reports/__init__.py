"""报表通 reports from one data set: households per area, incidents by category, status and
tier, SLA compliance, coverage (visits) and emergency reach, at street, community or grid level,
as XLSX, CSV or PDF. Shared by ``wangge report`` and ``GET /reports/{kind}``.

scope (period, area, who may ask) → kinds (one SQL report per kind) → writers (the files).
"""

from __future__ import annotations

from geo.reports.kinds import KINDS, TIERS, Report, build_report, check_kind
from geo.reports.scope import LEVELS, READERS, Period, Scope, parse_period, resolve_scope
from geo.reports.writers import FORMATS, check_format, filename, render

__all__ = [
    "FORMATS",
    "KINDS",
    "LEVELS",
    "READERS",
    "TIERS",
    "Period",
    "Report",
    "Scope",
    "build_report",
    "check_format",
    "check_kind",
    "filename",
    "parse_period",
    "render",
    "resolve_scope",
]
