"""Staff passwords: argon2id hashes (argon2-cffi, its RFC 9106 low-memory profile), set with
``wangge users add --password-stdin`` or ``wangge users passwd NAME``.

A password is never logged, stored or answered: only its hash is kept. Checking a name that
has no password (unknown, or a token-only user) verifies a dummy hash all the same, so a wrong
name takes as long as a wrong password.
"""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import InputError, NotFoundError
from geo.store.audit import audit

__all__ = ["MIN_LENGTH", "check_password", "hash_password", "set_password", "verify"]

MIN_LENGTH = 8
MAX_LENGTH = 1024  # argon2 takes any length; a megabyte "password" is only a cost to us
_hasher = PasswordHasher()
_DUMMY = _hasher.hash("wangge: a password no user has")


def check_password(password: str) -> str:
    """``password`` if it may be used; :class:`InputError` saying why not (never echoing
    it)."""
    if len(password) < MIN_LENGTH:
        raise InputError(
            f"密码太短：至少 {MIN_LENGTH} 个字符 (password too short: at least {MIN_LENGTH} "
            f"characters, got {len(password)})"
        )
    if len(password) > MAX_LENGTH:
        raise InputError(f"密码太长 (password too long: at most {MAX_LENGTH} characters)")
    if password != password.strip():
        raise InputError("密码首尾不能有空白 (password must not begin or end with blanks)")
    return password


def hash_password(password: str) -> str:
    return _hasher.hash(check_password(password))


def verify(stored: str | None, password: str) -> bool:
    """Whether ``password`` matches the stored hash. ``stored`` None (no such user, or no
    password) verifies the dummy hash and answers False: the same work either way."""
    ok: bool
    try:
        ok = _hasher.verify(stored or _DUMMY, password[:MAX_LENGTH])
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        ok = False
    return ok and stored is not None


def set_password(*, session: Session, name: str, password: str, actor: str) -> int:
    """Set user ``name``'s password (its browser sessions end: a changed password signs
    everyone out); the user's id. Audited without the password."""
    digest = hash_password(password)
    uid = session.execute(
        text(
            "UPDATE app_user SET password_hash = :h, password_changed_at = now() "
            "WHERE name = :n RETURNING id"
        ),
        {"h": digest, "n": name},
    ).scalar()
    if uid is None:
        raise NotFoundError(f"用户不存在 (no such user): {name!r}")
    ended = len(
        session.execute(
            text(
                "UPDATE user_session SET revoked_at = now() WHERE user_id = :u AND "
                "revoked_at IS NULL RETURNING id"
            ),
            {"u": uid},
        ).all()
    )
    audit(session, actor, "password_change", "app_user", uid, {"sessions_ended": ended})
    return int(uid)
