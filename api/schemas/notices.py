"""The bodies and answers of ``/notices`` (``geo.notices``)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class NoticeCreate(BaseModel):
    title: str = Field(max_length=200)
    body: str = Field(max_length=4000)
    street: str | None = Field(default=None, max_length=64, description="a street code")
    grids: list[str] | None = Field(default=None, max_length=500, description="grid codes")
    deadline_minutes: int = Field(default=5, ge=1, le=1440)


class NoticeAck(BaseModel):
    grid: str = Field(max_length=64, description="the micro-grid acknowledging")
    households_reached: int = Field(description="households reached (≤ the grid's)")


class NoticeSent(BaseModel):
    id: int
    title: str
    sent_at: str
    targets: int
    households: int
    messages: int
    sent: int
    failed: int
    pending: int = 0  # left for `wangge notices deliver` (delivery stopped by an error)
    without_worker: list[str]


class NoticeGrid(BaseModel):
    grid: str
    households: int
    acked_at: str | None
    households_reached: int | None
    acked_by: str | None
    worker: str | None = Field(description="the grid's workers (names)")


class NoticeRead(BaseModel):
    id: int
    title: str
    body: str
    street: str | None
    sent_at: str
    sent_by: str
    deadline_minutes: int
    target_due: str
    full_mobilisation_due: str
    grids: list[NoticeGrid]
    households: int
    reached: int
    share: float | None
    target_share: float | None = Field(description="share reached by acks within the deadline")
    within_target: bool = Field(description="every grid acknowledged within the deadline")
    target_passed: bool
    not_acknowledged: list[str]


class NoticeMine(BaseModel):
    grid: str
    households: int
    acked_at: str | None
    households_reached: int | None


class NoticeItem(BaseModel):
    id: int
    title: str
    body: str
    sent_at: str
    deadline_minutes: int
    households: int
    reached: int
    share: float | None
    not_acknowledged: int
    mine: list[NoticeMine] | None = None


class NoticeList(BaseModel):
    notices: list[NoticeItem]
