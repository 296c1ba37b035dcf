"""The body and answers of ``/visits`` (``geo.visits``)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class VisitCreate(BaseModel):
    household: str = Field(max_length=64, description="住户编码 (household code)")
    date: str | None = Field(
        default=None, max_length=10, description="走访日期 YYYY-MM-DD (default today; not future)"
    )
    note: str = Field(default="", max_length=2000, description="备注 (what was said)")
    opinion: str = Field(
        default="none",
        max_length=16,
        description="意见类别: 建议 suggestion | 诉求 request | 问题 problem | 表扬 praise | 无 none",
    )
    problem_category: str | None = Field(
        default=None, max_length=64, description="事件类别 (key or Chinese label): for a problem"
    )


class Visit(BaseModel):
    id: int
    household: str
    grid: str
    date: str
    note: str | None = Field(
        description="the worker's note; null for a dispatcher (a worker's words about a household)"
    )
    opinion: str
    opinion_label: str
    problem_category: str | None
    incident: str | None = Field(description="the incident a problem became (its code)")
    visited_by: str
    created_at: str
    head_name: str | None = Field(
        default=None, description="户主 (household head): a worker of the grid, an admin; audited"
    )


class VisitList(BaseModel):
    personal: bool
    numberReturned: int
    visits: list[Visit]
