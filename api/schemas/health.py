"""The liveness answer of ``GET /ping`` (``api/routes/health.py``; ``GET /health`` answers
:class:`api.schemas.Health`)."""

from __future__ import annotations

from pydantic import BaseModel

__all__ = ["Pong"]


class Pong(BaseModel):
    pong: bool
