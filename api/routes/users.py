"""Who am I (any token) and the user list (admin)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from api.deps import SessionDep, require_role
from api.schemas import UserPublic
from geo.runtime.auth import Principal, list_users, token_state

router = APIRouter(tags=["users"])


@router.get("/me", response_model=UserPublic)
def me(
    principal: Annotated[
        Principal, Depends(require_role("public", "worker", "dispatcher", "planner"))
    ],
) -> UserPublic:
    """当前用户 (the caller)."""
    return UserPublic(
        id=principal.id,
        name=principal.name,
        role=principal.role,
        grid_code=principal.grid_code,
        street_code=principal.street_code,
    )


@router.get("/users", response_model=list[UserPublic])
def users(
    session: SessionDep, _: Annotated[Principal, Depends(require_role("admin"))]
) -> list[UserPublic]:
    """用户列表 (users; admin only): role, scope, token expiry and last use (recorded at most
    once a minute)."""
    return [
        UserPublic(
            id=u.id,
            name=u.name,
            role=u.role,
            grid_code=u.grid_code,
            street_code=u.street_code,
            revoked=token_state(u) == "revoked",
            expired=token_state(u) == "expired",
            expires_at=u.expires_at,
            last_used_at=u.last_used_at,
        )
        for u in list_users(session=session)
    ]
