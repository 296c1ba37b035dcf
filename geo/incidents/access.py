"""Who may see and move an incident: the scope of a grid worker (its grids and those it
co-owns) and of a dispatcher (its street), the roles allowed each transition, and the
reporter token (only its SHA-256 is stored)."""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import PermissionDenied
from geo.incidents.rules import WHO
from geo.runtime.auth import Principal, hash_token
from geo.store.versions.read import micro_grids_under

__all__ = [
    "authorise",
    "check_reporter_token",
    "new_reporter_token",
    "own_grid_codes",
    "require_scope",
    "token_digest",
]


def new_reporter_token() -> str:
    """A fresh reporter token (given back once; only :func:`token_digest` of it is kept)."""
    return "rp_" + secrets.token_urlsafe(24)


def token_digest(token: str) -> str:
    """What is stored of a reporter token (as of a bearer token: its SHA-256)."""
    return hash_token(token)


def check_reporter_token(session: Session, iid: int, token: str) -> None:
    """PermissionDenied unless ``token`` is the reporter token of incident ``iid``."""
    ok = session.execute(
        text("SELECT 1 FROM incident_reporter WHERE incident_id = :i AND token_hash = :t"),
        {"i": iid, "t": token_digest(token)},
    ).first()
    if not ok:
        raise PermissionDenied("上报人凭证无效 (invalid reporter token)")


def own_grid_codes(session: Session, principal: Principal) -> list[str]:
    """The current micro-grid codes a grid worker answers for: its grid and every grid under
    it (a worker of a compound grid answers for its micro-grids)."""
    if not principal.grid_code:
        return []
    return micro_grids_under(session, principal.grid_code) or []


def require_scope(session: Session, principal: Principal, inc: dict[str, Any]) -> None:
    """PermissionDenied unless the incident is in the principal's scope: an admin's always,
    a dispatcher's in its street, a grid worker's in its grids or those it co-owns."""
    if principal.role == "admin":
        return
    if principal.role == "dispatcher":
        if principal.street_code and inc.get("street") == principal.street_code:
            return
        raise PermissionDenied(
            f"事件不在你的街道 (incident not in your street {principal.street_code})"
        )
    if principal.role == "worker":
        own = own_grid_codes(session, principal)
        if inc.get("micro_grid") in own or set(inc.get("co_owner_grids") or ()) & set(own):
            return
        raise PermissionDenied(
            f"事件不在你的网格 (incident not in your grids {principal.grid_code})"
        )
    raise PermissionDenied(f"角色 {principal.role} 无权查看事件详情 (may not read incidents)")


def authorise(
    session: Session,
    inc: dict[str, Any],
    to: str,
    principal: Principal | None,
    reporter_token: str | None,
) -> str:
    """Who is making the transition to ``to`` (for the history), or PermissionDenied."""
    if reporter_token is not None and "reporter" in WHO.get(to, ()):
        check_reporter_token(session, inc["id"], reporter_token)
        return "reporter"
    if principal is None or principal.id is None:
        raise PermissionDenied("需要登录 (sign in, or give the reporter token)")
    if principal.role != "admin" and principal.role not in WHO.get(to, ()):
        raise PermissionDenied(
            f"角色 {principal.role} 不能转到 {to} (role may not move it to {to})"
        )
    require_scope(session, principal, inc)
    return f"{principal.role}:{principal.name}"
