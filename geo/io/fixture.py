"""Loading the bundled fixture community (``fixtures/jifu``) and summarising a database.

The fixture is loaded through the same import path as users' files (:func:`geo.io.import_file`),
layer by layer in the order its ``manifest.json`` gives, all in one transaction.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import ConflictError, InputError
from geo.io import ImportReport, import_file

__all__ = [
    "FIXTURE_DIR",
    "fixture_communities",
    "fixture_loaded",
    "load_fixture",
    "manifest",
    "partition_fixture",
    "summary",
]

FIXTURE_DIR = Path(__file__).resolve().parents[2] / "fixtures" / "jifu"

SUMMARY_TABLES = (
    "street",
    "community",
    "compound",
    "building",
    "building_unit",
    "household",
    "household_person",
    "road",
    "road_edge",
    "facility",
    "open_resource",
    "worker",
    "incident",
    "incident_event",
    "grid_version",
    "grid",
    "grid_member",
    "app_user",
    "audit_log",
)


def manifest(directory: Path = FIXTURE_DIR) -> dict[str, Any]:
    path = directory / "manifest.json"
    if not path.exists():
        raise InputError(f"没有 fixture 清单 (no fixture manifest): {path}")
    return dict(json.loads(path.read_text(encoding="utf-8")))


def load_fixture(
    *,
    session: Session,
    directory: Path = FIXTURE_DIR,
    progress: Callable[[str, int, int], None] | None = None,
) -> list[ImportReport]:
    """Import every layer of the fixture in the session's transaction.

    Refuses (ConflictError) when the fixture's community is already stored, so that loading
    twice is harmless to detect rather than a wall of duplicate-key errors.
    """
    man = manifest(directory)
    order = man["load_order"]
    present = _stored_fixture_communities(session, directory)
    if present:
        raise ConflictError(
            f"示例社区已载入 (the fixture is already loaded): {', '.join(present)}",
            detail={"communities": present},
        )
    reports = []
    for i, (kind, filename) in enumerate(order):
        if progress:
            progress(kind, i, len(order))
        reports.append(
            import_file(
                directory / filename, kind, session=session, crs=man.get("crs"), actor="fixture"
            )
        )
    if progress:
        progress("network", len(order), len(order) + 1)
    from geo.network import build_network

    build_network(session)  # the fixture's roads and footways as a walking network
    if progress:
        progress("done", len(order) + 1, len(order) + 1)
    return reports


def _stored_fixture_communities(session: Session, directory: Path) -> list[str]:
    import pyogrio

    man = manifest(directory)
    first = directory / man["load_order"][0][1]
    codes = pyogrio.read_dataframe(first, read_geometry=False)["code"].tolist()
    found = session.execute(text("SELECT code FROM community WHERE code = ANY(:c)"), {"c": codes})
    return list(found.scalars())


def fixture_loaded(session: Session, directory: Path = FIXTURE_DIR) -> bool:
    """Whether the fixture's community is stored."""
    return bool(_stored_fixture_communities(session, directory))


def fixture_communities(session: Session, directory: Path = FIXTURE_DIR) -> list[str]:
    """Codes of the fixture's communities that are stored."""
    return _stored_fixture_communities(session, directory)


def partition_fixture(
    session: Session, *, actor: str = "demo", directory: Path = FIXTURE_DIR
) -> list[tuple[str, Any, Any, int | None]]:
    """Partition the fixture's communities that have no published grid version yet, and only
    those: what a start-up (`wangge demo`, the benchmarks) loaded itself. Any other community
    in the database is left alone, so that its data cannot stop the start-up; `wangge
    partition` reports and skips such a community. Returns (code, result, validation report,
    version id) per community partitioned."""
    from geo.store.versions import community_codes, partition_and_store

    mine = set(_stored_fixture_communities(session, directory))
    todo = [c for c in community_codes(session, unpartitioned=True) if c in mine]
    return [(code, *partition_and_store(session, code, actor=actor)) for code in todo]


def summary(session: Session) -> dict[str, Any]:
    """Row counts per table and the bounds (lon/lat) of the communities."""
    counts = {
        t: int(session.execute(text(f"SELECT count(*) FROM {t}")).scalar_one())
        for t in SUMMARY_TABLES
    }
    row = session.execute(
        text(
            "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) "
            "FROM (SELECT ST_Extent(boundary) AS e FROM community) s"
        )
    ).one()
    bounds = None if row[0] is None else tuple(round(float(v), 6) for v in row)
    households = session.execute(
        text("SELECT coalesce(sum(households), 0) FROM building")
    ).scalar_one()
    return {"counts": counts, "bounds": bounds, "declared_households": int(households)}
