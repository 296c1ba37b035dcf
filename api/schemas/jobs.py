"""Background jobs (``api/routes/jobs.py``): the request that starts one, and a job as its
owner sees it (``geo.runtime.jobs``)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

__all__ = ["AssignJob", "AssignResult", "JobProgress", "JobPublic"]


class AssignJob(BaseModel):
    kind: Literal["households", "incidents"]
    community: str | None = Field(default=None, description="community code (default: all)")


class JobProgress(BaseModel):
    step: str
    done: int
    total: int


class AssignResult(BaseModel):
    """The assignment's report (``geo.locate.bulk.AssignReport``), its first 100 disagreements."""

    kind: str
    total: int
    by_membership: int
    by_position: int
    nearest: int
    outside: int
    changed: int
    floor_split: int
    disagreements: list[dict[str, Any]]
    seconds: float


class JobPublic(BaseModel):
    """A job; ``progress``, ``result``, ``error`` and ``finished_at`` only once they exist."""

    id: str
    kind: str = Field(examples=["households"])
    community: str | None
    status: Literal["queued", "running", "done", "failed"]
    by: str = Field(description="the name of the user who started it")
    created_at: float = Field(description="seconds since the epoch")
    progress: JobProgress | None = None
    result: AssignResult | None = None
    error: str | None = None
    finished_at: float | None = Field(default=None, description="seconds since the epoch")
