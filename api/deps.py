"""Typed dependencies shared by the routes: a database session, the caller, role checks.

The caller is the holder of a bearer token (``Authorization: Bearer``) or, without one, of a
browser session (the cookie from ``POST /login``). A write (POST, PUT, PATCH, DELETE) that
the cookie authenticates needs the session's CSRF token in ``X-CSRF-Token`` (from ``GET
/session``), else 403; bearer-token writes need none (a browser never adds that header to a
forged request)."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session, sessionmaker

from geo.incidents import count_public_report
from geo.runtime.auth import ANONYMOUS, Principal, TokenRejected, authenticate
from geo.runtime.sessions import COOKIE, csrf_token, lookup
from geo.settings import get_settings

WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
SESSION_ENDED = {
    "unknown": "会话无效，请重新登录 (unknown session; sign in again at /login)",
    "ended": "会话已结束，请重新登录 (session ended; sign in again at /login)",
    "expired": "会话已过期，请重新登录 (session expired; sign in again at /login)",
    "idle": "会话因长时间未操作已过期，请重新登录 (session expired after inactivity; sign in "
    "again at /login)",
}

bearer = HTTPBearer(auto_error=False, description="令牌 (token) from `wangge users add`")


def get_session(request: Request) -> Iterator[Session]:
    """One session per request, in one transaction: committed on success, rolled back on
    error."""
    factory: sessionmaker[Session] = request.app.state.sessionmaker
    with factory() as session, session.begin():
        yield session


# scope="function": the transaction commits when the route returns, before the response is
# sent — a 201 is never sent for something a failed commit then lost
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def get_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    """The caller: a bearer token first, else the session cookie, else anonymous (public).
    401 for an unknown, revoked or expired token, saying which; a cookie that is no longer a
    session counts as none (a public page still works) and the 401 of a staff route says why.
    A cookie-authenticated write without the session's ``X-CSRF-Token`` is a 403. (The
    database is asked only when a token or a cookie is given; last uses are written at most
    once a minute.)"""
    factory: sessionmaker[Session] = request.app.state.sessionmaker
    if credentials is None:
        sid = request.cookies.get(COOKIE)
        if not sid:
            return ANONYMOUS
        with factory() as session, session.begin():
            state = lookup(session=session, session_id=sid)
        if state.principal is None:
            request.state.session_problem = SESSION_ENDED[state.reason]
            return ANONYMOUS
        if request.method in WRITES and not secrets.compare_digest(
            request.headers.get("x-csrf-token", ""), csrf_token(sid)
        ):
            raise HTTPException(
                status_code=403,
                detail="缺少或错误的 CSRF 令牌 (missing or wrong X-CSRF-Token header: a write "
                "signed in by the session cookie needs the token from GET /session)",
            )
        return state.principal
    try:
        with factory() as session, session.begin():
            return authenticate(session=session, token=credentials.credentials)
    except TokenRejected as exc:
        raise HTTPException(
            status_code=401, detail=exc.message, headers={"WWW-Authenticate": "Bearer"}
        ) from None


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def client_of(request: Request, principal: PrincipalDep) -> str:
    """Who a request comes from, for per-client limits and idempotency keys: a signed-in
    user (``user:ID``), or for the public the client address (``addr:IP``) — the address
    that connected, or the one a trusted proxy forwarded (``WANGGE_TRUSTED_PROXIES``, see
    :func:`api.app.create_app`); never a header an untrusted client chose."""
    if principal.id is not None:
        return f"user:{principal.id}"
    return client_addr(request)


def client_addr(request: Request) -> str:
    """The public client's address key (``addr:IP``), as :func:`client_of` gives it."""
    return "addr:" + (request.client.host if request.client else "?")


def limit_public_report(request: Request, client: str, per_client: int | None = None) -> None:
    """Count a report from ``client`` against ``per_client`` (default
    ``report_rate_per_minute``) a minute and the service's ceiling: a 429 when over either
    (the one limit of ``POST /incidents`` and Open311's ``POST requests``)."""
    s = get_settings()
    per_client = per_client or s.report_rate_per_minute
    with request.app.state.sessionmaker() as session, session.begin():
        over = count_public_report(
            session,
            client,
            per_client=per_client,
            ceiling=s.report_ceiling_per_minute,
        )
    if over == "client":
        raise HTTPException(
            status_code=429,
            detail=f"上报过于频繁，请稍后再试 (too many reports: {per_client} a minute)",
            headers={"Retry-After": "60"},
        )
    if over == "service":
        raise HTTPException(
            status_code=429,
            detail="全站上报已达每分钟上限，请稍后再试 (the service takes at most "
            f"{s.report_ceiling_per_minute} public reports a minute; try again shortly)",
            headers={"Retry-After": "60"},
        )


ClientDep = Annotated[str, Depends(client_of)]


def require_role(*roles: str) -> Callable[[Request, Principal], Principal]:
    """A dependency that lets only ``roles`` (and admin) through: 401 without a token or a
    session, 403 with one of another role."""
    allowed = ", ".join(roles) + ", admin"

    def check(request: Request, principal: PrincipalDep) -> Principal:
        if principal.id is None:
            why = getattr(request.state, "session_problem", None)
            raise HTTPException(
                status_code=401,
                detail=why
                or f"需要登录令牌或登录 (a bearer token or a sign-in at /login is required; "
                f"roles: {allowed})",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if not principal.has_role(*roles):
            raise HTTPException(
                status_code=403,
                detail=f"角色 {principal.role} 无权访问 (role {principal.role} may not; "
                f"roles: {allowed})",
            )
        return principal

    return check
