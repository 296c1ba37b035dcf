"""Registered Open311 apps (``wangge apps add|list|revoke``): an ``api_key`` shown once,
only its SHA-256 stored (as user tokens, :func:`geo.runtime.auth.hash_token`); an app linked
to a staff user acts in that user's role and scope."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from geo.errors import ConflictError, InputError, NotFoundError, PermissionDenied
from geo.runtime.auth import LAST_USE_EVERY_S, Principal, hash_token
from geo.store.audit import audit
from geo.store.models import AppUser, Open311App

__all__ = ["APP_ROLES", "AppCaller", "add_app", "authenticate_app", "list_apps", "revoke_app"]

KEY_PREFIX = "o311_"
APP_ROLES = ("worker", "dispatcher", "admin")  # the staff roles an app may act in


@dataclass(frozen=True)
class AppCaller:
    """A registered app calling with its key: its id and name, and the staff user it acts
    as (None: an app of the public)."""

    id: int
    name: str
    principal: Principal | None

    @property
    def actor(self) -> str:
        """Who acts, for the history and the audit log."""
        if self.principal is None:
            return "public"
        return f"{self.principal.role}:{self.principal.name}"


def add_app(session: Session, name: str, user: str | None = None) -> tuple[Open311App, str]:
    """Register an app (optionally acting as the staff user named ``user``); return it with
    its api_key, shown once and never stored. A taken name is a ConflictError; an unknown
    user a NotFoundError; a user who is not staff an InputError."""
    name = name.strip()
    if not name or len(name) > 100:
        raise InputError(f"应用名应为 1–100 个字符 (app name must be 1–100 characters): {name!r}")
    if name.isdigit():  # `wangge apps revoke 2` means the app of id 2
        raise InputError(f"应用名不能全为数字 (an app name cannot be all digits): {name!r}")
    if session.execute(select(Open311App.id).where(Open311App.name == name)).first():
        raise ConflictError(f"应用名已存在 (app name already taken): {name!r}")
    user_id = None
    if user is not None:
        found = session.execute(select(AppUser).where(AppUser.name == user)).scalar_one_or_none()
        if found is None:
            raise NotFoundError(f"用户不存在 (no such user): {user!r}")
        if found.role not in APP_ROLES:
            raise InputError(
                f"用户 {user!r} 的角色 {found.role} 不是工作人员 (not a staff role; one of "
                f"{', '.join(APP_ROLES)})"
            )
        user_id = found.id
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    app = Open311App(name=name, key_hash=hash_token(key), key_prefix=key[:10], user_id=user_id)
    session.add(app)
    session.flush()
    session.refresh(app, ["created_at"])
    audit(
        session, "cli:apps", "open311_app_add", "open311_app", app.id, {"name": name, "user": user}
    )
    return app, key


def list_apps(session: Session) -> list[tuple[Open311App, str | None]]:
    """Every app with the name of the user it acts as (None: public), by id."""
    rows = session.execute(
        select(Open311App, AppUser.name)
        .outerjoin(AppUser, AppUser.id == Open311App.user_id)
        .order_by(Open311App.id)
    ).all()
    return [(r[0], r[1]) for r in rows]


def revoke_app(session: Session, ref: str) -> Open311App:
    """Revoke an app by id or name (its key is refused from then on)."""
    cond = Open311App.id == int(ref) if ref.isdigit() else Open311App.name == ref
    app = session.execute(select(Open311App).where(cond)).scalar_one_or_none()
    if app is None:
        raise NotFoundError(f"应用不存在 (no such app): {ref!r}")
    session.execute(
        text("UPDATE open311_app SET revoked_at = coalesce(revoked_at, now()) WHERE id = :i"),
        {"i": app.id},
    )
    audit(session, "cli:apps", "open311_app_revoke", "open311_app", app.id, {"name": app.name})
    session.refresh(app, ["revoked_at"])
    return app


_LOOKUP = text(
    "SELECT a.id, a.name, a.revoked_at, u.id AS uid, u.name AS uname, u.role, u.grid_code, "
    "u.street_code, u.revoked_at AS user_revoked, a.last_used_at IS NULL OR a.last_used_at < "
    "now() - make_interval(secs => :every) AS use_stale FROM open311_app a "
    "LEFT JOIN app_user u ON u.id = a.user_id WHERE a.key_hash = :h"
)


def authenticate_app(session: Session, key: str) -> AppCaller:
    """The app holding ``key``; PermissionDenied (403) when the key is unknown or revoked,
    or the staff user it acts as has been revoked. Records the use at most once a minute."""
    row = session.execute(_LOOKUP, {"h": hash_token(key), "every": LAST_USE_EVERY_S}).first()
    if row is None:
        raise PermissionDenied("api_key 无效 (unknown api_key; register with wangge apps add)")
    if row.revoked_at is not None:
        raise PermissionDenied(f"api_key 已撤销 (api_key revoked): app {row.name!r}")
    if row.uid is not None and row.user_revoked is not None:
        raise PermissionDenied(
            f"应用 {row.name!r} 关联的用户已撤销 (the app's staff user {row.uname!r} is revoked)"
        )
    if row.use_stale:
        session.execute(
            text(
                "UPDATE open311_app SET last_used_at = now() WHERE id = :i AND (last_used_at IS "
                "NULL OR last_used_at < now() - make_interval(secs => :every))"
            ),
            {"i": row.id, "every": LAST_USE_EVERY_S},
        )
    principal = (
        None
        if row.uid is None
        else Principal(row.uid, row.uname, row.role, row.grid_code, row.street_code)
    )
    return AppCaller(int(row.id), str(row.name), principal)
