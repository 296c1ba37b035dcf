"""Browser sessions of signed-in staff, stored in PostGIS so that every API process (``wangge
serve --workers N``) knows them and a logout ends one everywhere at once.

The cookie holds a random session id (32 bytes); only its SHA-256 is stored. A session ends
``WANGGE_SESSION_HOURS`` after sign-in, after ``WANGGE_SESSION_IDLE_MINUTES`` without a request,
at logout, when the user's password changes or when the user is revoked. Its last request is
written at most once a minute (a tenth of the idle limit when that is shorter), by a
conditional ``UPDATE``. The CSRF token is derived from the session id (SHA-256 of a label and
the id): a page gets it from ``GET /session``; a stolen database gives neither.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.runtime.auth import Principal, hash_token
from geo.settings import get_settings

__all__ = [
    "COOKIE",
    "SessionState",
    "csrf_token",
    "end_session",
    "lookup",
    "start_session",
]

COOKIE = "wangge_session"
TOUCH_EVERY_S = 60.0


def csrf_token(session_id: str) -> str:
    """The CSRF token of a session: ``X-CSRF-Token`` on every write the cookie authenticates."""
    digest = hashlib.sha256(b"wangge-csrf\0" + session_id.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def start_session(*, session: Session, user_id: int, address: str) -> str:
    """A new session for the user; its id (for the cookie, never stored)."""
    sid = secrets.token_urlsafe(32)
    session.execute(
        text(
            "INSERT INTO user_session (id_hash, user_id, address, expires_at) VALUES "
            "(:h, :u, :a, now() + make_interval(secs => :s))"
        ),
        {"h": hash_token(sid), "u": user_id, "a": address[:64], "s": _lifetime_s()},
    )
    return sid


@dataclass(frozen=True)
class SessionState:
    """What a cookie is worth: the principal, or why not (``unknown``, ``ended``, ``idle``,
    ``expired``)."""

    principal: Principal | None
    reason: str = ""


_LOOKUP = text(
    "SELECT s.id, s.revoked_at IS NOT NULL OR u.revoked_at IS NOT NULL AS ended, "
    "s.expires_at <= now() AS expired, "
    "s.last_seen_at <= now() - make_interval(secs => :idle) AS idle, "
    "s.last_seen_at < now() - make_interval(secs => :touch) AS stale, "
    "u.id AS user_id, u.name, u.role, u.grid_code, u.street_code "
    "FROM user_session s JOIN app_user u ON u.id = s.user_id WHERE s.id_hash = :h"
)


def lookup(*, session: Session, session_id: str) -> SessionState:
    """The session with this id, if it is still valid (the caller commits the touch)."""
    idle = get_settings().session_idle_minutes * 60
    touch = min(TOUCH_EVERY_S, idle / 10)
    row = session.execute(
        _LOOKUP, {"h": hash_token(session_id), "idle": idle, "touch": touch}
    ).first()
    if row is None:
        return SessionState(None, "unknown")
    for reason in ("ended", "expired", "idle"):
        if getattr(row, reason):
            return SessionState(None, reason)
    if row.stale:
        session.execute(
            text(
                "UPDATE user_session SET last_seen_at = now() WHERE id = :i AND "
                "last_seen_at < now() - make_interval(secs => :touch)"
            ),
            {"i": row.id, "touch": touch},
        )
    return SessionState(Principal(row.user_id, row.name, row.role, row.grid_code, row.street_code))


def end_session(*, session: Session, session_id: str) -> int | None:
    """End the session (logout); the user's id, or None when it was not a live session."""
    uid = session.execute(
        text(
            "UPDATE user_session SET revoked_at = now() WHERE id_hash = :h AND revoked_at IS "
            "NULL RETURNING user_id"
        ),
        {"h": hash_token(session_id)},
    ).scalar()
    return None if uid is None else int(uid)


def _lifetime_s() -> float:
    return get_settings().session_hours * 3600
