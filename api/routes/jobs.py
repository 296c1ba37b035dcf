"""Background jobs: bulk assignment of households or incidents to their grids.

A job runs in a thread of the API process that accepted it; its state lives in the ``job``
table, so any API process (``uvicorn --workers N``, several machines) answers ``GET /jobs/{id}``.
The running process writes its progress at most twice a second and a heartbeat every
``HEARTBEAT_S``; a job whose process stopped writing for ``STALE_S`` seconds is reported
failed (the process was stopped or died).
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
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field
from sqlalchemy import text
from sqlalchemy.orm import sessionmaker

from api.deps import SessionDep, require_role
from geo.auth import Principal
from geo.errors import NotFoundError, WanggeError
from geo.locate import Locator, assign_households, assign_incidents

router = APIRouter(tags=["jobs"])
log = logging.getLogger("wangge.api")
STALE_S = 120.0  # a running job not updated for this long has lost its process
HEARTBEAT_S = 15.0  # how often a running job says it is alive
WORKER = f"{socket.gethostname()}:{os.getpid()}"


class AssignJob(BaseModel):
    kind: Literal["households", "incidents"]
    community: str | None = Field(default=None, description="community code (default: all)")


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


@router.post("/jobs/assign", status_code=202)
def start_assign(
    body: AssignJob,
    request: Request,
    principal: Annotated[Principal, Depends(require_role("planner", "dispatcher"))],
) -> dict[str, Any]:
    """批量分配 (assign in bulk): start a job; poll `GET /jobs/{id}` (on any API process)."""
    job_id = uuid.uuid4().hex
    factory = request.app.state.sessionmaker
    with factory() as session, session.begin():  # the job exists before its thread runs
        session.execute(
            text(
                "INSERT INTO job (id, kind, community, status, started_by, worker) "
                "VALUES (:id, :kind, :community, 'queued', :by, :worker)"
            ),
            {
                "id": job_id,
                "kind": body.kind,
                "community": body.community,
                "by": principal.name,
                "worker": WORKER,
            },
        )
        row = session.execute(text(_SELECT), {"id": job_id, "stale": STALE_S}).one()
    threading.Thread(
        target=_run,
        args=(factory, job_id, body.kind, body.community, principal.name),
        daemon=True,
    ).start()
    return _view(row)


@router.get("/jobs/{job_id}")
def get_job(
    job_id: str,
    session: SessionDep,
    _: Annotated[Principal, Depends(require_role("planner", "dispatcher"))],
) -> dict[str, Any]:
    """任务状态 (job status): queued | running | done | failed, with the report when done."""
    row = session.execute(text(_SELECT), {"id": job_id[:64], "stale": STALE_S}).first()
    if row is None:
        raise NotFoundError(f"任务不存在 (no such job): {job_id!r}")
    return _view(row)
