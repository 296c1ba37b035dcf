"""``wangge report``: a 报表通 report (households, incidents, sla, coverage, reach) of a street,
community or grid, written as XLSX, CSV or PDF (``geo.reports``). Not ``api/cli/reports.py``,
which prints the partition and validation tables."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from api.cli.console import err, friendly, out
from api.cli.db import database

__all__ = ["report_cmd"]


@friendly
def report_cmd(
    kind: Annotated[
        str, typer.Option("--kind", help="households | incidents | sla | coverage | reach")
    ],
    out_file: Annotated[Path, typer.Option("--out", help="the file to write")],
    level: Annotated[str, typer.Option("--level", help="street | community | grid")] = "grid",
    street: Annotated[str | None, typer.Option("--street", help="街道 code")] = None,
    community: Annotated[str | None, typer.Option("--community", help="社区 code")] = None,
    grid: Annotated[str | None, typer.Option("--grid", help="网格 code (any level)")] = None,
    start: Annotated[str | None, typer.Option("--from", help="first day, YYYY-MM-DD")] = None,
    end: Annotated[
        str | None, typer.Option("--to", help="last day, YYYY-MM-DD (default today)")
    ] = None,
    fmt: Annotated[
        str | None, typer.Option("--format", help="xlsx | csv | pdf (default: --out's suffix)")
    ] = None,
) -> None:
    """报表 (a report from the data: rows per street, community or micro-grid, over a period,
    default the last 30 days). A bad value or an unknown code exits with status 2, naming it."""
    from geo.errors import InputError, NotFoundError
    from geo.reports import build_report, parse_period, render, resolve_scope
    from geo.store.db import session_scope

    fmt = fmt or out_file.suffix.lstrip(".").lower()
    engine = database()
    try:
        period = parse_period(start, end)
        with session_scope(engine) as session:
            scope = resolve_scope(
                session, None, level=level, street=street, community=community, grid=grid
            )
            report = build_report(session, kind, scope, period)
        data = render(report, fmt)
    except (InputError, NotFoundError) as exc:
        err.print(f"[bold red]错误 (error):[/] {exc.message}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    out_file.write_bytes(data)
    out.print(
        f"{report.title[0]} ({report.title[1]}): {len(report.rows)} 行 (rows), "
        f"{report.subtitle()} → {out_file}",
        highlight=False,
        soft_wrap=True,
    )
