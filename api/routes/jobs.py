"""Background jobs: bulk assignment of households or incidents to their grids."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field
from sqlalchemy.orm import sessionmaker

from api.deps import require_role
from geo.auth import Principal
from geo.errors import NotFoundError, WanggeError
from geo.locate import Locator, assign_households, assign_incidents

router = APIRouter(tags=["jobs"])


class AssignJob(BaseModel):
    kind: Literal["households", "incidents"]
    community: str | None = Field(default=None, description="community code (default: all)")


def _run(
    factory: sessionmaker, job: dict[str, Any], kind: str, community: str | None, actor: str
) -> None:
    job["status"] = "running"
    try:
        with factory() as session, session.begin():
            locator = Locator.load(session)
            fn = assign_households if kind == "households" else assign_incidents

            def progress(step: str, done: int, total: int) -> None:
                job["progress"] = {"step": step, "done": done, "total": total}

            report = fn(session, locator, community=community, progress=progress, actor=actor)
        job["result"] = report.as_dict() | {"disagreements": report.disagreements[:100]}
        job["status"] = "done"
    except WanggeError as exc:
        job["status"], job["error"] = "failed", exc.message
    except Exception:
        job["status"], job["error"] = "failed", "内部错误 (internal error)"
    job["finished_at"] = time.time()


@router.post("/jobs/assign", status_code=202)
def start_assign(
    body: AssignJob,
    request: Request,
    principal: Annotated[Principal, Depends(require_role("planner", "dispatcher"))],
) -> dict[str, Any]:
    """批量分配 (assign in bulk): start a job; poll `GET /jobs/{id}`."""
    jobs = request.app.state.jobs
    job_id = uuid.uuid4().hex
    jobs[job_id] = {
        "id": job_id,
        "kind": body.kind,
        "community": body.community,
        "status": "queued",
        "created_at": time.time(),
        "by": principal.name,
    }
    threading.Thread(
        target=_run,
        args=(
            request.app.state.sessionmaker,
            jobs[job_id],
            body.kind,
            body.community,
            principal.name,
        ),
        daemon=True,
    ).start()
    return jobs[job_id]


@router.get("/jobs/{job_id}")
def get_job(
    job_id: str,
    request: Request,
    _: Annotated[Principal, Depends(require_role("planner", "dispatcher"))],
) -> dict[str, Any]:
    """任务状态 (job status): queued | running | done | failed, with the report when done."""
    job = request.app.state.jobs.get(job_id)
    if job is None:
        raise NotFoundError(f"任务不存在 (no such job): {job_id!r}")
    return job
