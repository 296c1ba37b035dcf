"""Typed dependencies shared by the routes: a database session, the caller, role checks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session, sessionmaker

from geo.runtime.auth import ANONYMOUS, Principal, TokenRejected, authenticate

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
    """The caller: anonymous (public) without a token; 401 for an unknown, revoked or expired
    token, saying which. (The database is asked only when a token is given; the token's last
    use is written at most once a minute.)"""
    if credentials is None:
        return ANONYMOUS
    factory: sessionmaker[Session] = request.app.state.sessionmaker
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
    return "addr:" + (request.client.host if request.client else "?")


ClientDep = Annotated[str, Depends(client_of)]


def require_role(*roles: str) -> Callable[[Principal], Principal]:
    """A dependency that lets only ``roles`` (and admin) through: 401 without a token, 403
    with a token of another role."""
    allowed = ", ".join(roles) + ", admin"

    def check(principal: PrincipalDep) -> Principal:
        if principal.id is None:
            raise HTTPException(
                status_code=401,
                detail=f"需要登录令牌 (a bearer token is required; roles: {allowed})",
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
