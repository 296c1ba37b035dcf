"""Background jobs (bulk assignment of households or incidents to their grids), kept in the
``job`` table so that any API process (``--workers N``, several machines) reports on any job.

A job runs in a thread of the process that started it. That process writes the job's
progress at most twice a second and a heartbeat every ``HEARTBEAT_S``; a job whose process
stopped writing for ``STALE_S`` seconds is reported failed (the process was stopped or died).

A bulk assignment reads and rewrites a whole city, so one job of each kind is queued or
running at a time, across every process (a partial unique index, ``uq_job_kind_active``): a
second is a :class:`~geo.errors.ConflictError` naming the running job. A job whose process
stopped holds nothing up: it is marked failed when the next one starts. A job and its result
are read by the user who started it and by admins; anyone else gets
:class:`~geo.errors.PermissionDenied` (job ids are random, so this says no more than the 409
already does).
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
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from geo.errors import ConflictError, NotFoundError, PermissionDenied, WanggeError
from geo.locate import Locator, assign_households, assign_incidents
from geo.runtime.auth import Principal, local_time

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


def _lost(worker: str) -> str:
    return (
        f"任务中断：处理它的进程已停止 (the process running it stopped: {worker}, "
        f"no news for over {STALE_S:.0f} s)"
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
        job["error"] = _lost(row.worker)
    return job


_STALE = "status IN ('queued', 'running') AND updated_at < now() - make_interval(secs => :stale)"
_SELECT = f"SELECT *, {_STALE} AS stale FROM job WHERE id = :id"


def _close_lost(session: Session, kind: str) -> None:
    """Mark failed the queued or running jobs of ``kind`` whose process stopped writing."""
    for job_id, worker in session.execute(
        text(f"SELECT id, worker FROM job WHERE kind = :kind AND {_STALE} FOR UPDATE"),
        {"kind": kind, "stale": STALE_S},
    ).all():
        session.execute(
            text(
                "UPDATE job SET status = 'failed', error = :e, finished_at = now() WHERE id = :id"
            ),
            {"id": job_id, "e": _lost(worker)},
        )


def _refuse(session: Session, kind: str) -> ConflictError:
    """The 409 for a second job of ``kind``, naming the one queued or running."""
    row = session.execute(
        text(
            "SELECT id, started_by, created_at FROM job WHERE kind = :kind AND status IN "
            "('queued', 'running') ORDER BY created_at LIMIT 1"
        ),
        {"kind": kind},
    ).first()
    if row is None:  # it finished between the two statements: the caller may simply retry
        return ConflictError(
            f"同类任务刚刚结束，请重试 (a {kind} job just finished; start yours again)"
        )
    return ConflictError(
        f"已有 {kind} 任务在运行：{row.id}（{row.started_by} 启动），请等它结束 (a {kind} job "
        f"is already running: {row.id}, started by {row.started_by} at "
        f"{local_time(row.created_at)}; one {kind} job at a time)",
        detail={"running": row.id, "started_by": row.started_by},
    )


def start_assign_job(
    factory: sessionmaker, kind: str, community: str | None, principal: Principal
) -> dict[str, Any]:
    """Record an assignment job for ``principal``, start it in a thread of this process, and
    return its view. :class:`~geo.errors.ConflictError` while another job of the kind is queued
    or running (in any process)."""
    job_id = uuid.uuid4().hex
    by = principal.name
    try:
        with factory() as session, session.begin():  # the job exists before its thread runs
            _close_lost(session, kind)
            session.execute(
                text(
                    "INSERT INTO job (id, kind, community, status, started_by, started_by_id, "
                    "worker) VALUES (:id, :kind, :community, 'queued', :by, :uid, :worker)"
                ),
                {
                    "id": job_id,
                    "kind": kind,
                    "community": community,
                    "by": by,
                    "uid": principal.id,
                    "worker": WORKER,
                },
            )
            view = get_job(session, job_id, principal)
    except IntegrityError as exc:
        if "uq_job_kind_active" not in str(exc.orig):
            raise
        with factory() as session:
            raise _refuse(session, kind) from None
    threading.Thread(target=_run, args=(factory, job_id, kind, community, by), daemon=True).start()
    return view


def get_job(session: Session, job_id: str, principal: Principal) -> dict[str, Any]:
    """A job as its owner and admins see it: queued | running | done | failed, with its
    report when done. :class:`~geo.errors.PermissionDenied` for anyone else."""
    row = session.execute(text(_SELECT), {"id": job_id[:64], "stale": STALE_S}).first()
    if row is None:
        raise NotFoundError(f"任务不存在 (no such job): {job_id!r}")
    if principal.role != "admin" and (
        row.started_by_id is None or row.started_by_id != principal.id
    ):
        raise PermissionDenied(
            f"任务 {row.id} 不是你启动的 (job {row.id} was started by {row.started_by}; only "
            "they and admins may read it)"
        )
    return _view(row)
