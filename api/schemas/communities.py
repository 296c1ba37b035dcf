"""Response schemas of the community routes (``api.routes.communities``)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

__all__ = ["CommunityDeletionPublic"]


class CommunityDeletionPublic(BaseModel):
    """What deleting a community removes and keeps (``geo.communities.CommunityDeletion``):
    the same body for the preview and for the delete, ``done`` telling them apart."""

    community: str = Field(description="the community's code", examples=["510107013001"])
    name: str = Field(description="the community's name")
    deleted: dict[str, int] = Field(
        description="rows deleted per table, for every table the delete removes rows from "
        "(parents first; 0 where it has none)",
        examples=[{"community": 1, "compound": 3, "building": 40, "household": 4290}],
    )
    cleared: dict[str, int] = Field(
        description="links set NULL per `table.column`, only those with rows",
        examples=[{"incident.community_id": 2, "worker.grid_code": 5}],
    )
    kept: dict[str, list[dict[str, Any]]] = Field(
        description="rows kept with their links cleared, per table, as they were before: "
        "incident (code, status), facility and open_resource (code, name), worker (code, "
        "name, role, grid_code), app_user (id, name, role, grid_code); only tables with rows",
        examples=[{"facility": [{"code": "510107013001-F01", "name": "社区服务中心"}]}],
    )
    done: bool = Field(description="false for a preview, true once deleted")
