"""The signed-in browser's session."""

from __future__ import annotations

from pydantic import BaseModel, Field


class SessionPublic(BaseModel):
    user: str = Field(description="the user's name")
    id: int
    role: str
    grid_code: str | None = None
    street_code: str | None = None
    page: str = Field(description="the role's page (where sign-in leads)")
    csrf: str = Field(
        description="send it as header X-CSRF-Token on every write (POST, PUT, PATCH, DELETE) "
        "the session cookie authenticates"
    )
