"""The limits on public reports: per client and for the whole service, a minute, kept in
the database so that they hold across API processes."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

__all__ = ["count_public_report"]


def count_public_report(
    session: Session, client: str, *, per_client: int, ceiling: int
) -> str | None:
    """Count a public report from ``client`` (its address) against ``per_client`` a minute
    and the whole service's ``ceiling`` a minute: None when it may go ahead (and it is
    counted); ``"client"`` when this client is over its limit, ``"service"`` when all
    clients together are over the ceiling (the backstop against clients that rotate their
    addresses). Kept in the database, so the limits hold across API processes; call it in a
    transaction of its own, so that a report let through counts even if it is then refused
    as invalid. Nothing waits for a lock (expired rows another request is deleting are
    skipped): reports at the very same moment may pass a limit by the few that overlap."""
    key = client[:200]
    session.execute(  # expired rows of any client: clients that never come back leave nothing
        text(
            "DELETE FROM report_hit WHERE id IN (SELECT id FROM report_hit "
            "WHERE at < now() - interval '60 seconds' LIMIT 100 FOR UPDATE SKIP LOCKED)"
        )
    )
    recent = session.execute(
        text(
            "SELECT count(*) FROM report_hit WHERE client = :k "
            "AND at >= now() - interval '60 seconds'"
        ),
        {"k": key},
    ).scalar_one()
    if recent >= per_client:
        return "client"
    everyone = session.execute(
        text("SELECT count(*) FROM report_hit WHERE at >= now() - interval '60 seconds'")
    ).scalar_one()
    if everyone >= ceiling:
        return "service"
    session.execute(text("INSERT INTO report_hit (client) VALUES (:k)"), {"k": key})
    return None
