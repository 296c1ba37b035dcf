"""Delivering a notice's outbox after its transaction has committed: each pending message is
claimed (``FOR UPDATE SKIP LOCKED``, so two deliverers never take the same row), handed to the
:class:`~geo.notices.sender.Sender` and marked sent or failed in a transaction of its own.

A message is therefore never sent for a notice that then rolls back, and a notice whose
delivery was cut short (the process stopped) keeps its rest pending until the next
:func:`deliver` — ``wangge notices deliver`` from cron, or the next notice sent. Delivery is
at least once: a crash between a gateway's acceptance and the row's update sends that one
message again."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.incidents.rules import clock
from geo.notices.sender import Sender, get_sender

__all__ = ["deliver", "outbox_counts"]

log = logging.getLogger("wangge.notices")


def deliver(
    sessions: Callable[[], Session],
    notice_id: int | None = None,
    *,
    sender: Sender | None = None,
    now: Callable[[], datetime] = clock,
) -> tuple[int, int]:
    """Send the pending messages of notice ``notice_id`` (None: of every notice), one
    transaction each; the numbers sent and failed."""
    sender = sender or get_sender()
    sent = failed = 0
    while True:
        with sessions() as session, session.begin():
            row = session.execute(
                text(
                    "SELECT id, notice_id, worker_code, phone, message FROM notice_outbox "
                    "WHERE status = 'pending' AND (CAST(:n AS integer) IS NULL OR notice_id = :n) "
                    "ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED"
                ),
                {"n": notice_id},
            ).first()
            if row is None:
                return sent, failed
            try:  # a plugged-in sender that fails marks its row failed, not the notice
                ok = bool(sender.send(phone=row.phone, worker=row.worker_code, message=row.message))
            except Exception:  # any failure of a third-party sender
                log.exception(
                    "notice %s: the sender failed for worker %s", row.notice_id, row.worker_code
                )
                ok = False
            session.execute(
                text(
                    "UPDATE notice_outbox SET status = :s, sender = :by, sent_at = :at "
                    "WHERE id = :i"
                ),
                {
                    "i": row.id,
                    "s": "sent" if ok else "failed",
                    "by": sender.name,
                    "at": now() if ok else None,
                },
            )
            sent, failed = sent + ok, failed + (not ok)


def outbox_counts(sessions: Callable[[], Session], notice_id: int) -> dict[str, int]:
    """The notice's messages by state: ``sent``, ``failed``, ``pending``."""
    with sessions() as session:
        rows = session.execute(
            text("SELECT status, count(*) FROM notice_outbox WHERE notice_id = :n GROUP BY status"),
            {"n": notice_id},
        ).all()
    counts = {"sent": 0, "failed": 0, "pending": 0}
    counts.update({str(status): int(n) for status, n in rows})
    return counts
