"""Partitioning a stored community: load it, run the partition pipeline, validate, write the
new version, and re-assign its households and incidents."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.core.stages import stage
from geo.core.validate import ValidationReport
from geo.partition import CommunityInput, PartitionResult, pipeline
from geo.store.versions.community import load_community
from geo.store.versions.write import Written, write_versions

__all__ = ["partition_and_store", "preview_reassign", "reassign_after", "store_partitions"]


def partition_and_store(
    session: Session,
    code: str,
    *,
    min_households: int | None = None,
    max_households: int | None = None,
    seed: int = 0,
    allow_cross_compound: bool = False,
    actor: str = "cli",
    write: bool = True,
) -> tuple[PartitionResult, ValidationReport, int | None]:
    """Partition one community in the band (each bound missing: from the settings,
    :func:`geo.settings.band`), validate, and (unless ``write`` is false, or validation
    finds errors) write it as the new current version. Returns (result, report, version)."""
    with stage("read"):
        inp = load_community(session, code)
    result, report = pipeline.run(
        inp,
        band=(min_households, max_households),
        seed=seed,
        allow_cross_compound=allow_cross_compound,
    )
    version = None
    if write and report.ok:
        (written,) = store_partitions(session, [(inp, result)], actor=actor)
        version = written.version
    return result, report, version


def store_partitions(
    session: Session, items: Sequence[tuple[CommunityInput, PartitionResult]], *, actor: str
) -> list[Written]:
    """Write each partition of ``items`` (a community as loaded, its validated result) as its
    community's new current version and re-assign its households and incidents (setting
    ``result.assignment``) — one write of the grids for them all and one assignment of
    the households of those partitioned for the first time; what was written, in order."""
    if not items:
        return []
    ids = [inp.id for inp, _ in items]
    assert all(i is not None for i in ids)  # loaded from the database
    previous: dict[int, int] = dict(
        session.execute(
            text(
                "SELECT community_id, number FROM grid_version WHERE community_id = ANY(:c) "
                "AND status = 'published'"
            ),
            {"c": ids},
        ).all()
    )
    with stage("write grids"):
        written = write_versions(
            session, [(int(inp.id or 0), r) for inp, r in items], actor=actor, source="partition"
        )
    with stage("assign"):
        _assign(session, items, written, previous, actor=actor)
    return written


def _assign(
    session: Session,
    items: Sequence[tuple[CommunityInput, PartitionResult]],
    written: Sequence[Written],
    previous: dict[int, int],
    *,
    actor: str,
) -> None:
    """:func:`reassign_after` of each new version, with a locator of the grids just written;
    the households of the communities partitioned for the first time all at once."""
    from geo.locate import Locator, assign_households_of, assign_incidents, reassign_changed

    first: list[tuple[str, int, Locator, list[Any]]] = []
    for (inp, result), w in zip(items, written, strict=True):
        locator = Locator.of_written(w)
        before = previous.get(w.community_id)
        if before is None:
            first.append((inp.code, w.community_id, locator, list(w.members)))
            inc = assign_incidents(session, locator, community=inp.code, actor=actor)
            result.assignment = {"incidents_assigned": inc.total}
        else:
            result.assignment = reassign_changed(
                session, locator, inp.code, before, w.number, actor=actor
            )
    reports = assign_households_of(session, first, actor=actor)
    for inp, result in items:
        if inp.code in reports:
            hh = reports[inp.code]
            result.assignment = {
                "households_assigned": hh.total,
                "incidents_assigned": (result.assignment or {})["incidents_assigned"],
                "disagreements": len(hh.disagreements),
            }


def reassign_after(
    session: Session, code: str, previous: int | None, *, actor: str
) -> dict[str, Any]:
    """After a new current version: re-assign households and incidents, only those inside
    the area that changed when there was a previous version, all of them otherwise."""
    from geo.locate import Locator, assign_households, assign_incidents, reassign_changed

    locator = Locator.load(session, community=code)  # this community's grids only
    if previous is None:
        hh = assign_households(session, locator, community=code, actor=actor)
        inc = assign_incidents(session, locator, community=code, actor=actor)
        return {
            "households_assigned": hh.total,
            "incidents_assigned": inc.total,
            "disagreements": len(hh.disagreements),
        }
    new = session.execute(
        text(
            "SELECT v.number FROM grid_version v JOIN community c ON c.id = v.community_id "
            "WHERE c.code = :c AND v.status = 'published'"
        ),
        {"c": code},
    ).scalar_one()
    return reassign_changed(session, locator, code, previous, new, actor=actor)


def preview_reassign(
    session: Session, code: str, previous: int | None, version_id: int
) -> dict[str, Any]:
    """What :func:`reassign_after` would return if grid version ``version_id`` (a draft)
    became current now in place of version ``previous`` (a number; None: there is none) —
    the same steps on a locator of that version, writing nothing."""
    from geo.locate import Locator, preview_changed, would_assign

    locator = Locator.load(session, community=code, version=version_id)
    if previous is None:
        hh, _ = would_assign(session, locator, "household", version=version_id, community=code)
        inc, _ = would_assign(session, locator, "incident", version=version_id, community=code)
        return {
            "households_assigned": hh.total,
            "incidents_assigned": inc.total,
            "disagreements": len(hh.disagreements),
        }
    new = session.execute(
        text("SELECT number FROM grid_version WHERE id = :v"), {"v": version_id}
    ).scalar_one()
    return preview_changed(session, locator, code, previous, new, version_id=version_id)
