"""Background jobs over HTTP: bulk assignment of households or incidents to their grids
(the jobs themselves: ``geo.runtime.jobs``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from api.deps import SessionDep, require_role
from api.schemas.jobs import AssignJob, JobPublic
from geo.runtime import jobs
from geo.runtime.auth import Principal

router = APIRouter(tags=["jobs"])


@router.post(
    "/jobs/assign", status_code=202, response_model=JobPublic, response_model_exclude_unset=True
)
def start_assign(
    body: AssignJob,
    request: Request,
    principal: Annotated[Principal, Depends(require_role("planner", "dispatcher"))],
) -> dict[str, Any]:
    """批量分配 (assign in bulk): start a job; poll `GET /jobs/{id}` (on any API process).
    One job of each kind at a time: 409 naming the running one."""
    return jobs.start_assign_job(
        request.app.state.sessionmaker, body.kind, body.community, principal
    )


@router.get("/jobs/{job_id}", response_model=JobPublic, response_model_exclude_unset=True)
def get_job(
    job_id: str,
    session: SessionDep,
    principal: Annotated[Principal, Depends(require_role("planner", "dispatcher"))],
) -> dict[str, Any]:
    """任务状态 (job status): queued | running | done | failed, with the report when done.
    For the user who started it and admins (403 for others)."""
    return jobs.get_job(session, job_id, principal)
