"""Deleting a community (admin): what would go, then the delete (the logic:
``geo.communities``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path

from api.deps import SessionDep, require_role
from api.schemas.communities import CommunityDeletionPublic
from geo.communities import delete_community, deletion_preview
from geo.runtime.auth import Principal

router = APIRouter(tags=["communities"])

Admin = Annotated[Principal, Depends(require_role("admin"))]
Code = Annotated[str, Path(max_length=64, description="community code (社区编码)")]


@router.get("/communities/{code}/deletion", response_model=CommunityDeletionPublic)
def preview_deletion(code: Code, session: SessionDep, _: Admin) -> CommunityDeletionPublic:
    """删除预览 (what deleting the community would remove, and what it keeps with its links
    cleared); changes nothing. Admin only."""
    return CommunityDeletionPublic(**deletion_preview(session=session, code=code).as_dict())


@router.delete("/communities/{code}", response_model=CommunityDeletionPublic)
def delete(code: Code, session: SessionDep, principal: Admin) -> CommunityDeletionPublic:
    """删除社区 (delete a community in one transaction): its compounds, buildings, units,
    households and their personal data, grid versions, grids, memberships, plans; incidents,
    facilities, open resources, workers and users in it are kept with their links cleared.
    Audit-logged. Admin only; 404 for an unknown code."""
    done = delete_community(session=session, code=code, actor=f"api:{principal.name}")
    return CommunityDeletionPublic(**done.as_dict())
