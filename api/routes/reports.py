"""报表通 reports: ``GET /reports/{kind}`` (households, incidents, sla, coverage, reach) as a
file to download (XLSX, CSV, PDF). Counts only, no personal data: admins and planners any
scope, a dispatcher its street, a grid worker its grids (``geo.reports.resolve_scope``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from api.deps import SessionDep, require_role
from geo.reports import (
    FORMATS,
    READERS,
    build_report,
    check_format,
    check_kind,
    filename,
    parse_period,
    render,
)
from geo.reports import resolve_scope as scope_of
from geo.runtime.auth import Principal

router = APIRouter(tags=["reports"])
Text = Annotated[str | None, Query(max_length=100)]


@router.get(
    "/reports/{kind}",
    summary="报表 (a report as XLSX, CSV or PDF)",
    responses={200: {"content": {t: {} for t in FORMATS.values()}}},
)
def report(
    kind: str,
    session: SessionDep,
    principal: Annotated[Principal, Depends(require_role(*READERS))],
    level: Annotated[str, Query(description="street | community | grid", max_length=20)] = "grid",
    code: Annotated[
        str | None, Query(description="a street, community or grid code", max_length=100)
    ] = None,
    street: Text = None,
    community: Text = None,
    grid: Text = None,
    start: Annotated[
        str | None, Query(alias="from", description="YYYY-MM-DD", max_length=40)
    ] = None,
    end: Annotated[str | None, Query(alias="to", description="YYYY-MM-DD", max_length=40)] = None,
    fmt: Annotated[
        str, Query(alias="format", description="xlsx | csv | pdf", max_length=10)
    ] = "xlsx",
) -> Response:
    """报表 (households | incidents | sla | coverage | reach, rows per street, community or
    micro-grid of the scope, over ``from``–``to``, default the last 30 days)."""
    check_kind(kind)
    check_format(fmt)
    period = parse_period(start, end)
    scope = scope_of(
        session, principal, level=level, street=street, community=community, grid=grid, code=code
    )
    rep = build_report(session, kind, scope, period)
    return Response(
        render(rep, fmt),
        media_type=FORMATS[fmt],
        headers={
            "Content-Disposition": f'attachment; filename="{filename(rep, fmt)}"',
            "Cache-Control": "private, no-store",
        },
    )
