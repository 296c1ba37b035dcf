"""``wangge maps``: the resident, planner and dispatcher maps as HTML files, and the grid
notice boards; the maps that hold personal words are written readable by their owner only."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from api.cli.console import friendly, out, progress_bar, spinner
from api.cli.db import database

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

__all__ = ["maps_cmd", "write_map_files"]

# written maps that hold residents' words or staff names (every incident's description and
# exact position, the workers of each grid): created readable by their owner only. The
# resident map (public places) and the planner map (grids, buildings, counts) hold neither.
PRIVATE_MAPS = ("dispatcher.html",)


def _private_files(where: Path, names: tuple[str, ...]) -> list[Path]:
    """Create (or make) ``names`` in ``where`` mode 0600 before anything is written to them:
    the map writer then writes into a file that was never readable by others. Returns the
    files this created (empty until written)."""
    where.mkdir(parents=True, exist_ok=True)
    created = []
    for name in names:
        path = where / name
        existed = path.exists()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        try:
            os.fchmod(fd, 0o600)
        finally:
            os.close(fd)
        if not existed:
            created.append(path)
    return created


def write_map_files(
    session: Session, where: Path, community: str | None, plan: int | None, basemap: str | None
) -> None:
    """The three maps into ``where`` (the private ones mode 0600 from the start), then a table
    of what was written."""
    from maps.build import write_maps

    created = _private_files(where, PRIVATE_MAPS)
    try:
        with spinner("生成地图 (writing the maps)"):
            done = write_maps(session, where, community=community, base=basemap, plan=plan)
    except BaseException:
        for path in created:  # no empty map left behind
            if path.exists() and path.stat().st_size == 0:
                path.unlink()
        raise
    for name in PRIVATE_MAPS:  # in case the writer replaced a file instead of writing into it
        (where / name).chmod(0o600)
    t = Table(title="地图 (maps)")
    for col in ("地图 (map)", "文件 (file)", "大小 (size)", "用时 (time)"):
        t.add_column(col)
    for d in done:
        t.add_row(d["map"], d["path"], f"{d['bytes'] / 1e6:.2f} MB", f"{d['seconds']:.2f} s")
    out.print(t)
    out.print("离线可用，用浏览器打开即可 (they work offline: open them in a browser)")
    out.print(
        f"{', '.join(PRIVATE_MAPS)} 含事件描述，仅你可读 (holds incident descriptions: "
        "readable by you only, mode 0600)",
        highlight=False,
    )


@friendly
def maps_cmd(
    out_dir: Annotated[Path, typer.Option("--out", help="folder for the HTML maps")] = Path(
        "maps-out"
    ),
    community: Annotated[str | None, typer.Option(help="community code (default all)")] = None,
    plan: Annotated[
        int | None, typer.Option(help="show this draft plan on the planner map")
    ] = None,
    basemap: Annotated[
        str | None, typer.Option(help="none | amap | tencent | a tile URL (default: settings)")
    ] = None,
    boards: Annotated[
        Path | None, typer.Option("--boards", help="also write a notice board per micro-grid here")
    ] = None,
    boards_format: Annotated[str, typer.Option(help="png | pdf (A4)")] = "png",
    grid: Annotated[
        list[str] | None, typer.Option("--grid", help="boards for these micro-grids only")
    ] = None,
) -> None:
    """地图 (maps): write the resident, planner and dispatcher maps as standalone HTML files, and
    (with --boards) the grid notice boards (网格公示牌), one A4 page per micro-grid."""
    from geo.store.db import session_scope

    with session_scope(database()) as session:
        write_map_files(session, out_dir, community, plan, basemap)
        if boards is not None:
            from maps.boards import write_boards

            with progress_bar() as bar:
                task = bar.add_task("公示牌 (notice boards)", total=1)
                done = write_boards(
                    session,
                    boards,
                    community=community,
                    grids=grid or None,
                    fmt=boards_format,
                    progress=lambda i, n: bar.update(task, total=n, completed=i),
                )
            out.print(f"公示牌 (notice boards): {len(done)} → {boards}")
