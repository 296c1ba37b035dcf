"""Who am I (any token) and the user list (admin)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from api.deps import SessionDep, require_role
from api.schemas import UserPublic
from geo.auth import Principal, list_users

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
    """用户列表 (users; admin only)."""
    return [
        UserPublic(
            id=u.id,
            name=u.name,
            role=u.role,
            grid_code=u.grid_code,
            street_code=u.street_code,
            revoked=u.revoked_at is not None,
        )
        for u in list_users(session=session)
    ]
