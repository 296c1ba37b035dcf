"""Signing in with a name and a password, and the throttle on failed tries.

Both a wrong name and a wrong password are a :data:`FAILED` answer, after the same work (an
unknown name verifies a dummy hash). Failed tries are rows of ``login_attempt`` in PostGIS, so
every API process counts the same ones (a transaction-scoped advisory lock per address makes
the count exact across processes):

* **per address**: after ``WANGGE_LOGIN_FAILURES_PER_MINUTE`` (5) failures in a minute from one
  client address, every try from it is refused (429) until the minute has passed;
* **per name and address**: after :data:`BACKOFF_AFTER` (3) failures of one name from one
  address in :data:`BACKOFF_WINDOW_S` (15 minutes), that pair waits before its next try —
  2 s, then 4, 8 … up to 15 minutes. The pair, not the name alone: an attacker who fails on
  a known dispatcher's name from its own addresses slows only itself; the dispatcher, from
  an address without failures, signs in at once.

A success clears the failures of its own (name, address) pair. Failures older than a day are
deleted at each success.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import PermissionDenied
from geo.runtime.auth import Principal
from geo.runtime.passwords import verify
from geo.runtime.sessions import csrf_token, end_session, lookup, start_session
from geo.settings import get_settings
from geo.store.audit import audit

__all__ = ["BACKOFF_AFTER", "BACKOFF_WINDOW_S", "FAILED", "SignIn", "sign_in", "sign_out"]

BACKOFF_AFTER = 3
BACKOFF_FIRST_S = 2.0
BACKOFF_MAX_S = 900.0
BACKOFF_WINDOW_S = 900.0
NAME_MAX = 100
FAILED = "用户名或密码错误 (wrong name or password)"


@dataclass(frozen=True)
class SignIn:
    """The outcome: a principal and its new session id, or a refusal — ``retry_after``
    seconds (throttled, 429) or none (a wrong name or password, 401)."""

    principal: Principal | None = None
    session_id: str | None = None
    retry_after: int | None = None


def sign_in(*, session: Session, name: str, password: str, address: str) -> SignIn:
    """Check ``name`` and ``password`` from client ``address``; on success start a session.
    The caller commits (failures too: they are what the throttle counts)."""
    name = name.strip()[:NAME_MAX]
    address = address[:64]
    session.execute(
        text("SELECT pg_advisory_xact_lock(hashtext('wangge-login:' || :a))"), {"a": address}
    )
    wait = _throttled_for(session, name, address)
    if wait is not None:
        return SignIn(retry_after=wait)
    row = session.execute(
        text(
            "SELECT id, name, role, grid_code, street_code, password_hash, revoked_at "
            "FROM app_user WHERE name = :n"
        ),
        {"n": name},
    ).first()
    stored = row.password_hash if row is not None and row.revoked_at is None else None
    if not verify(stored, password):
        session.execute(
            text("INSERT INTO login_attempt (address, name) VALUES (:a, :n)"),
            {"a": address, "n": name},
        )
        reason = (
            "unknown_name"
            if row is None
            else "revoked"
            if row.revoked_at is not None
            else "no_password"
            if stored is None
            else "password"
        )
        audit(
            session,
            f"addr:{address}",
            "login_failed",
            "app_user",
            None if row is None else row.id,
            {"name": name, "address": address, "reason": reason},
        )
        return SignIn()
    assert row is not None  # verify() is False without a stored hash
    session.execute(
        text(
            "DELETE FROM login_attempt WHERE (name = :n AND address = :a) OR at < now() - "
            "interval '1 day'"
        ),
        {"a": address, "n": name},
    )
    session.execute(text("DELETE FROM user_session WHERE expires_at < now() - interval '1 day'"))
    sid = start_session(session=session, user_id=row.id, address=address)
    audit(session, f"{row.role}:{row.name}", "login", "app_user", row.id, {"address": address})
    return SignIn(Principal(row.id, row.name, row.role, row.grid_code, row.street_code), sid)


def _throttled_for(session: Session, name: str, address: str) -> int | None:
    """Seconds this (name, address) must wait before its next try, or None."""
    per_minute = get_settings().login_failures_per_minute
    by_address = session.execute(
        text(
            "SELECT count(*) AS n, extract(epoch FROM min(at) + interval '60 seconds' - now()) "
            "AS wait FROM login_attempt WHERE address = :a AND at > now() - interval '60 seconds'"
        ),
        {"a": address},
    ).one()
    if by_address.n >= per_minute:
        return max(1, int(by_address.wait) + 1)
    pair = session.execute(
        text(
            "SELECT count(*) AS n, extract(epoch FROM now() - max(at)) AS since "
            "FROM login_attempt WHERE name = :n AND address = :a "
            "AND at > now() - make_interval(secs => :w)"
        ),
        {"a": address, "n": name, "w": BACKOFF_WINDOW_S},
    ).one()
    if pair.n < BACKOFF_AFTER:
        return None
    delay = min(BACKOFF_FIRST_S * 2 ** (pair.n - BACKOFF_AFTER), BACKOFF_MAX_S)
    left = delay - float(pair.since)
    return max(1, int(left) + 1) if left > 0 else None


def sign_out(*, session: Session, session_id: str, csrf: str) -> None:
    """End a live session (logout), audited; it needs the session's CSRF token, else
    :class:`PermissionDenied`. A session that is not live has nothing to end."""
    state = lookup(session=session, session_id=session_id)
    if state.principal is None:
        return
    if not secrets.compare_digest(csrf, csrf_token(session_id)):
        raise PermissionDenied(
            "缺少或错误的 CSRF 令牌 (missing or wrong X-CSRF-Token: logout needs the session's "
            "token from GET /session)"
        )
    who = state.principal
    end_session(session=session, session_id=session_id)
    audit(session, f"{who.role}:{who.name}", "logout", "app_user", who.id, {})
