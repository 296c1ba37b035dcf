"""Background jobs (bulk assignment of households or incidents to their grids), kept in the
``job`` table so that any API process (``--workers N``, several machines) reports on any job.

A job runs in a thread of the process that started it. That process writes the job's
progress at most twice a second and a heartbeat every ``HEARTBEAT_S``; a job whose process
stopped writing for ``STALE_S`` seconds is reported failed (the process was stopped or died).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from geo.errors import NotFoundError, WanggeError
from geo.locate import Locator, assign_households, assign_incidents

__all__ = ["get_job", "start_assign_job"]

log = logging.getLogger("wangge.jobs")
STALE_S = 120.0  # a running job not updated for this long has lost its process
HEARTBEAT_S = 15.0  # how often a running job says it is alive
WORKER = f"{socket.gethostname()}:{os.getpid()}"


def _update(factory: sessionmaker, job_id: str, **values: Any) -> None:
    """Write some of a job's fields in a transaction of their own (seen at once by others)."""
    sets = ", ".join(
        f"{k} = CAST(:{k} AS jsonb)" if k in ("progress", "result") else f"{k} = :{k}"
        for k in values
    )
    params = {
        k: json.dumps(v, ensure_ascii=False, default=str) if k in ("progress", "result") else v
        for k, v in values.items()
    }
    with factory() as session, session.begin():
        session.execute(
            text(f"UPDATE job SET {sets}, updated_at = now() WHERE id = :id"),
            params | {"id": job_id},
        )


def _heartbeat(factory: sessionmaker, job_id: str, stop: threading.Event) -> None:
    """Say the job is alive every HEARTBEAT_S, between progress reports (a phase or the final
    commit of a city-sized job takes minutes)."""
    while not stop.wait(HEARTBEAT_S):
        try:
            with factory() as session, session.begin():
                session.execute(
                    text("UPDATE job SET updated_at = now() WHERE id = :id"), {"id": job_id}
                )
        except Exception:  # the database is away for a moment: the next beat may get through
            log.warning("job %s: heartbeat failed", job_id)


def _run(factory: sessionmaker, job_id: str, kind: str, community: str | None, actor: str) -> None:
    stop = threading.Event()
    threading.Thread(target=_heartbeat, args=(factory, job_id, stop), daemon=True).start()
    try:
        _work(factory, job_id, kind, community, actor)
    finally:
        stop.set()


def _work(factory: sessionmaker, job_id: str, kind: str, community: str | None, actor: str) -> None:
    _update(factory, job_id, status="running")
    last = 0.0
    try:
        with factory() as session, session.begin():
            locator = Locator.load(session)
            fn = assign_households if kind == "households" else assign_incidents

            def progress(step: str, done: int, total: int) -> None:
                nonlocal last
                now = time.monotonic()
                if now - last >= 0.5 or done == total:
                    last = now
                    _update(factory, job_id, progress={"step": step, "done": done, "total": total})

            report = fn(session, locator, community=community, progress=progress, actor=actor)
        result = report.as_dict() | {"disagreements": report.disagreements[:100]}
        _update(factory, job_id, status="done", result=result, finished_at=datetime.now(UTC))
    except WanggeError as exc:
        _update(
            factory,
            job_id,
            status="failed",
            error=exc.message[:2000],
            finished_at=datetime.now(UTC),
        )
    except Exception:
        log.exception("job %s failed", job_id)
        _update(
            factory,
            job_id,
            status="failed",
            error="内部错误 (internal error)",
            finished_at=datetime.now(UTC),
        )


def _view(row: Any) -> dict[str, Any]:
    job = {
        "id": row.id,
        "kind": row.kind,
        "community": row.community,
        "status": row.status,
        "by": row.started_by,
        "created_at": row.created_at.timestamp(),
    }
    for key in ("progress", "result", "error"):
        if getattr(row, key) is not None:
            job[key] = getattr(row, key)
    if row.finished_at is not None:
        job["finished_at"] = row.finished_at.timestamp()
    elif row.stale:
        job["status"] = "failed"
        job["error"] = (
            f"任务中断：处理它的进程已停止 (the process running it stopped: {row.worker}, "
            f"no news for over {STALE_S:.0f} s)"
        )
    return job


_SELECT = (
    "SELECT *, status IN ('queued', 'running') AND updated_at < now() - "
    "make_interval(secs => :stale) AS stale FROM job WHERE id = :id"
)


def start_assign_job(
    factory: sessionmaker, kind: str, community: str | None, by: str
) -> dict[str, Any]:
    """Record an assignment job, start it in a thread of this process, and return its view."""
    job_id = uuid.uuid4().hex
    with factory() as session, session.begin():  # the job exists before its thread runs
        session.execute(
            text(
                "INSERT INTO job (id, kind, community, status, started_by, worker) "
                "VALUES (:id, :kind, :community, 'queued', :by, :worker)"
            ),
            {"id": job_id, "kind": kind, "community": community, "by": by, "worker": WORKER},
        )
        view = get_job(session, job_id)
    threading.Thread(target=_run, args=(factory, job_id, kind, community, by), daemon=True).start()
    return view


def get_job(session: Session, job_id: str) -> dict[str, Any]:
    """A job as clients see it: queued | running | done | failed, with its report when done."""
    row = session.execute(text(_SELECT), {"id": job_id[:64], "stale": STALE_S}).first()
    if row is None:
        raise NotFoundError(f"任务不存在 (no such job): {job_id!r}")
    return _view(row)
