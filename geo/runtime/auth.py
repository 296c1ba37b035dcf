"""Users and bearer tokens.

A token is shown once when the user is created; only its SHA-256 digest is stored (tokens are
32 random bytes, so a plain digest is as strong as a slow hash here and costs nothing per
request). Roles, from least to most trusted: public, worker, dispatcher, planner, admin. An
admin may do everything; other roles are granted per route.

A token is valid for ``WANGGE_TOKEN_DAYS`` (90) from its creation; after that it is refused
with :class:`TokenRejected` saying so, and a new one comes from ``wangge users add``.
Revocation ends it at once. Each user's last use is recorded, at most once a minute (the
update is conditional, so several API processes still write it once): one write a minute per
active token, not one per request.

Browsers sign in with a name and a password instead (:mod:`geo.runtime.signin`, passwords in
:mod:`geo.runtime.passwords`, sessions in :mod:`geo.runtime.sessions`); user names are unique.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from geo.errors import ConflictError, InputError, NotFoundError, WanggeError
from geo.settings import get_settings
from geo.store.models import ROLES, AppUser

__all__ = [
    "LAST_USE_EVERY_S",
    "Principal",
    "TokenRejected",
    "authenticate",
    "create_user",
    "hash_token",
    "list_users",
    "local_time",
    "revoke_user",
    "token_state",
]

TOKEN_PREFIX = "wg_"
TZ = ZoneInfo("Asia/Shanghai")  # times in messages and listings: Chengdu's clock
LAST_USE_EVERY_S = 60  # a token's last use is written at most this often


class TokenRejected(WanggeError):
    """A bearer token that is unknown, revoked or expired (HTTP 401); the message says
    which."""

    code = "unauthorized"


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


def local_time(at: datetime | None) -> str:
    """``2026-03-01 14:05 +0800`` (Chengdu's clock), or "" for None."""
    return at.astimezone(TZ).strftime("%Y-%m-%d %H:%M %z") if at else ""


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_user(
    *,
    session: Session,
    name: str,
    role: str,
    grid_code: str | None = None,
    street_code: str | None = None,
    password: str | None = None,
) -> tuple[AppUser, str]:
    """Create a user (with a password to sign in with, if given); return it with its token
    (shown once, never stored). Names are unique: a taken one is a :class:`ConflictError`."""
    if role not in ROLES:
        raise InputError(f"未知角色 (unknown role) {role!r}; 可选 (one of): {', '.join(ROLES)}")
    name = name.strip()
    if not name:
        raise InputError("用户名不能为空 (name must not be empty)")
    if len(name) > 100:
        raise InputError(f"用户名太长 (name longer than 100 characters): {name[:20]!r}…")
    if session.execute(text("SELECT 1 FROM app_user WHERE name = :n"), {"n": name}).first():
        raise ConflictError(f"用户名已存在 (user name already taken): {name!r}")
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
    from geo.runtime.passwords import hash_password  # argon2 is loaded by who needs it

    digest = None if password is None else hash_password(password)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    user = AppUser(
        name=name,
        password_hash=digest,
        password_changed_at=None if digest is None else func.now(),
        role=role,
        token_hash=hash_token(token),
        token_prefix=token[:10],
        grid_code=grid_code,
        street_code=street_code,
        # the database's clock, like created_at: both are now() of this transaction
        expires_at=func.now() + timedelta(days=get_settings().token_days),
    )
    session.add(user)
    session.flush()
    session.refresh(user, ["created_at", "expires_at"])
    return user, token


_LOOKUP = text(
    "SELECT id, name, role, grid_code, street_code, revoked_at, expires_at, "
    "expires_at <= now() AS expired, last_used_at IS NULL OR last_used_at < now() - "
    "make_interval(secs => :every) AS use_stale FROM app_user WHERE token_hash = :h"
)


def authenticate(*, session: Session, token: str) -> Principal:
    """The principal holding ``token``; :class:`TokenRejected` when it is unknown, revoked or
    expired. Records the use when the last recorded one is over a minute old (the caller
    commits)."""
    row = session.execute(_LOOKUP, {"h": hash_token(token), "every": LAST_USE_EVERY_S}).first()
    if row is None:
        raise TokenRejected("令牌无效 (invalid token: unknown)")
    if row.revoked_at is not None:
        when = local_time(row.revoked_at)
        raise TokenRejected(f"令牌已于 {when} 撤销 (token revoked on {when})")
    if row.expired:
        when = local_time(row.expires_at)
        raise TokenRejected(
            f"令牌已于 {when} 过期，请管理员用 wangge users add 发新令牌 (token expired on "
            f"{when}; ask an admin for a new one: wangge users add)"
        )
    if row.use_stale:
        session.execute(
            text(
                "UPDATE app_user SET last_used_at = now() WHERE id = :i AND (last_used_at IS "
                "NULL OR last_used_at < now() - make_interval(secs => :every))"
            ),
            {"i": row.id, "every": LAST_USE_EVERY_S},
        )
    return Principal(row.id, row.name, row.role, row.grid_code, row.street_code)


def list_users(*, session: Session) -> list[AppUser]:
    return list(session.execute(select(AppUser).order_by(AppUser.id)).scalars())


def token_state(user: AppUser, now: datetime | None = None) -> str:
    """``revoked``, ``expired`` or ``active``."""
    if user.revoked_at is not None:
        return "revoked"
    if user.expires_at <= (now or datetime.now(TZ)):
        return "expired"
    return "active"


def revoke_user(*, session: Session, user_id: int) -> None:
    user = session.get(AppUser, user_id)
    if user is None:
        raise NotFoundError(f"用户不存在 (no such user): {user_id}")
    session.execute(text("UPDATE app_user SET revoked_at = now() WHERE id = :i"), {"i": user_id})
    # a revoked user is signed out too (and cannot sign in: geo.runtime.signin)
    session.execute(
        text(
            "UPDATE user_session SET revoked_at = now() WHERE user_id = :i AND revoked_at IS NULL"
        ),
        {"i": user_id},
    )
