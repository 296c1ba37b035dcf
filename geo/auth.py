"""Users and bearer tokens.

A token is shown once when the user is created; only its SHA-256 digest is stored (tokens are
32 random bytes, so a plain digest is as strong as a slow hash here and costs nothing per
request). Roles, from least to most trusted: public, worker, dispatcher, planner, admin. An
admin may do everything; other roles are granted per route.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from geo.errors import InputError, NotFoundError
from geo.models import ROLES, AppUser

__all__ = ["Principal", "authenticate", "create_user", "hash_token", "list_users", "revoke_user"]

TOKEN_PREFIX = "wg_"


@dataclass(frozen=True)
class Principal:
    """Who is calling: a stored user (or the anonymous public)."""

    id: int | None
    name: str
    role: str
    grid_code: str | None = None
    street_code: str | None = None

    def has_role(self, *roles: str) -> bool:
        return self.role == "admin" or self.role in roles


ANONYMOUS = Principal(id=None, name="anonymous", role="public")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_user(
    *,
    session: Session,
    name: str,
    role: str,
    grid_code: str | None = None,
    street_code: str | None = None,
) -> tuple[AppUser, str]:
    """Create a user; return it with its token (shown once, never stored)."""
    if role not in ROLES:
        raise InputError(f"未知角色 (unknown role) {role!r}; 可选 (one of): {', '.join(ROLES)}")
    if not name.strip():
        raise InputError("用户名不能为空 (name must not be empty)")
    if street_code is not None:
        found = session.execute(
            text("SELECT 1 FROM street WHERE code = :c"), {"c": street_code}
        ).first()
        if not found:
            raise NotFoundError(f"街道不存在 (no such street): {street_code!r}")
    if grid_code is not None:
        found = session.execute(
            text(
                "SELECT 1 FROM grid WHERE code = :c UNION ALL "
                "SELECT 1 FROM community WHERE code = :c UNION ALL "
                "SELECT 1 FROM compound WHERE code = :c LIMIT 1"
            ),
            {"c": grid_code},
        ).first()
        if not found:
            raise NotFoundError(f"网格不存在 (no such grid): {grid_code!r}")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    user = AppUser(
        name=name.strip(),
        role=role,
        token_hash=hash_token(token),
        token_prefix=token[:10],
        grid_code=grid_code,
        street_code=street_code,
    )
    session.add(user)
    session.flush()
    return user, token


def authenticate(*, session: Session, token: str) -> Principal | None:
    """The principal holding ``token``, or None when it is unknown or revoked."""
    user = session.execute(
        select(AppUser).where(AppUser.token_hash == hash_token(token), AppUser.revoked_at.is_(None))
    ).scalar_one_or_none()
    if user is None:
        return None
    return Principal(user.id, user.name, user.role, user.grid_code, user.street_code)


def list_users(*, session: Session) -> list[AppUser]:
    return list(session.execute(select(AppUser).order_by(AppUser.id)).scalars())


def revoke_user(*, session: Session, user_id: int) -> None:
    user = session.get(AppUser, user_id)
    if user is None:
        raise NotFoundError(f"用户不存在 (no such user): {user_id}")
    session.execute(text("UPDATE app_user SET revoked_at = now() WHERE id = :i"), {"i": user_id})
