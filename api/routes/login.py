"""Staff sign-in for browsers: ``GET /login`` (the form), ``POST /login`` (name and password →
a session cookie and a 303 to the role's page), ``POST /logout``, ``GET /session`` (who is
signed in, and the CSRF token a page sends as ``X-CSRF-Token`` on its writes).

The form has no script; its one inline style is allowed by its SHA-256 in the page's
Content-Security-Policy, so every answer of the form is the same bytes for the same input (a
wrong name and a wrong password cannot be told apart). Scripts and GIS clients keep using
bearer tokens."""

from __future__ import annotations

import html
import re
from typing import Annotated
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.deps import SESSION_ENDED, SessionDep
from api.schemas.login import SessionPublic
from api.urls import is_https
from geo.errors import InputError, PermissionDenied
from geo.runtime.sessions import COOKIE, csrf_token, lookup
from geo.runtime.signin import FAILED, sign_in, sign_out
from geo.settings import public_path
from maps.policy import csp_hash

router = APIRouter(tags=["sign-in"])

# The one place a role's page is named.
ROLE_PAGES = {
    "admin": "/app/planner",
    "planner": "/app/planner",
    "dispatcher": "/app/dispatcher",
    "worker": "/app/worker",
    "public": "/maps/resident",
}
_LOCAL = re.compile(r"/(?![/\\])[^\\\s\x00-\x1f\x7f]*")
Next = Annotated[
    str | None, Query(max_length=500, description="a local path to go to after sign-in")
]

_STYLE = (
    "body{font-family:sans-serif;background:#f4f6f8;margin:0}"
    "main{max-width:22rem;margin:12vh auto;background:#fff;padding:2rem;border-radius:8px;"
    "box-shadow:0 1px 4px #0002}h1{font-size:1.3rem;margin:0 0 1rem}"
    "label{display:block;margin:.8rem 0 .2rem}input{width:100%;box-sizing:border-box;"
    "padding:.5rem;font-size:1rem}button{margin-top:1.2rem;width:100%;padding:.6rem;"
    "font-size:1rem;background:#1a5fb4;color:#fff;border:0;border-radius:4px}"
    "p.msg{color:#a51d2d;margin:.5rem 0}"
)
_CSP = (
    f"default-src 'none'; style-src {csp_hash(_STYLE)}; form-action 'self'; "
    "base-uri 'none'; object-src 'none'; frame-ancestors 'none'"
)


def role_page(role: str) -> str:
    """The page a role signs in to, under ``WANGGE_PUBLIC_URL``'s path prefix if any."""
    return _prefix() + ROLE_PAGES.get(role, "/maps/resident")


def login_path() -> str:
    """The sign-in form's path, under ``WANGGE_PUBLIC_URL``'s path prefix if any."""
    return _prefix() + "/login"


def site_path(path: str) -> str:
    """A path of this app as the browser sees it (under the public URL's prefix)."""
    return _prefix() + path


def _prefix() -> str:
    return public_path()


def local_next(value: str | None) -> str | None:
    """``next`` if it is a path on this site (``/maps/planner?plan=3``); 400 naming it if
    not (another site, ``//host``, a scheme, a backslash, a control character)."""
    if value is None or value == "":
        return None
    if not _LOCAL.fullmatch(value):
        raise InputError(
            f"next 只能是本站路径 (next must be a local path such as /maps/planner): {value!r}"
        )
    return value


def _form(*, message: str = "", name: str = "", next_path: str | None = None) -> str:
    esc = html.escape
    hidden = f'<input type="hidden" name="next" value="{esc(next_path)}">' if next_path else ""
    msg = f'<p class="msg" role="alert" data-testid="message">{esc(message)}</p>' if message else ""
    return f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>网格 登录 (Wangge sign-in)</title><style>{_STYLE}</style></head>
<body><main><h1>网格工作人员登录<br><small>Wangge staff sign-in</small></h1>{msg}
<form method="post" action="login">{hidden}
<label for="name">用户名 (name)</label>
<input id="name" name="name" autocomplete="username" required value="{esc(name)}"
 data-testid="login-name">
<label for="password">密码 (password)</label>
<input id="password" name="password" type="password" autocomplete="current-password" required
 data-testid="login-password">
<button type="submit" data-testid="login-submit">登录 (sign in)</button>
</form></main></body></html>
"""


def _page(body: str, status: int = 200, headers: dict[str, str] | None = None) -> HTMLResponse:
    return HTMLResponse(
        body,
        status_code=status,
        headers={"Content-Security-Policy": _CSP, "Cache-Control": "no-store"} | (headers or {}),
    )


@router.get("/login", response_class=HTMLResponse)
def login_form(next: Next = None) -> HTMLResponse:
    """登录页 (the sign-in form): anyone. 400 naming a ``next`` that is not a local path."""
    return _page(_form(next_path=local_next(next)))


async def _fields(request: Request) -> dict[str, str]:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/x-www-form-urlencoded":
        raise InputError(
            f"登录需要表单 (sign-in takes an application/x-www-form-urlencoded form): "
            f"{ctype or 'no content type'!r}"
        )
    try:
        pairs = parse_qs((await request.body()).decode(), max_num_fields=10)
    except (UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"表单无效 (invalid form): {exc}") from None
    return {k: v[0] for k, v in pairs.items() if v}


FORM = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "required": ["name", "password"],
                    "properties": {
                        "name": {"type": "string"},
                        "password": {"type": "string", "format": "password"},
                        "next": {"type": "string", "description": "a local path"},
                    },
                }
            }
        },
    }
}


@router.post(
    "/login",
    response_class=HTMLResponse,
    status_code=303,
    openapi_extra=FORM,
    responses={401: {"description": FAILED}, 429: {"description": "too many failed tries"}},
)
def login(
    request: Request, session: SessionDep, fields: Annotated[dict[str, str], Depends(_fields)]
) -> Response:
    """登录 (sign in): form fields ``name``, ``password`` (and ``next``, a local path) → 303 to
    the role's page (or ``next``) with the session cookie. A wrong name or password: 401, the
    same answer for both; too many failures: 429 with Retry-After."""
    if request.headers.get("sec-fetch-site") == "cross-site":
        raise PermissionDenied("不接受其他网站提交的登录 (sign-in from another site refused)")
    for field in ("name", "password"):
        if not fields.get(field):
            raise InputError(f"缺少表单字段 (missing form field): {field}")
    next_path = local_next(fields.get("next"))
    address = request.client.host if request.client else "?"
    done = sign_in(
        session=session, name=fields["name"], password=fields["password"], address=address
    )
    if done.retry_after is not None:
        wait = done.retry_after
        message = (
            f"登录失败次数过多，请 {wait} 秒后再试 (too many failed sign-ins; retry in {wait} s)"
        )
        body = _form(message=message, name=fields["name"], next_path=next_path)
        return _page(body, 429, {"Retry-After": str(wait)})
    if done.principal is None or done.session_id is None:
        return _page(_form(message=FAILED, name=fields["name"], next_path=next_path), 401)
    answer = RedirectResponse(next_path or role_page(done.principal.role), status_code=303)
    answer.headers["Cache-Control"] = "no-store"
    answer.set_cookie(
        COOKIE, done.session_id, httponly=True, samesite="lax", secure=is_https(request), path="/"
    )
    return answer


async def _given_csrf(request: Request) -> str:
    """The CSRF token a logout carries: header ``X-CSRF-Token``, or a form field ``csrf``."""
    given = request.headers.get("x-csrf-token")
    ctype = request.headers.get("content-type", "")
    if given is None and ctype.startswith("application/x-www-form-urlencoded"):
        given = parse_qs((await request.body()).decode(errors="replace")).get("csrf", [""])[0]
    return given or ""


@router.post("/logout", status_code=303, responses={403: {"description": "no CSRF token"}})
def logout(
    request: Request, session: SessionDep, given: Annotated[str, Depends(_given_csrf)]
) -> Response:
    """退出登录 (sign out): anyone; ends the session on the server and clears the cookie; 303
    to /login. With a live session it needs the CSRF token (header ``X-CSRF-Token``, or the
    form field ``csrf``), else 403."""
    sid = request.cookies.get(COOKIE)
    if sid:
        sign_out(session=session, session_id=sid, csrf=given)
    answer = RedirectResponse(login_path(), status_code=303)
    answer.delete_cookie(COOKIE, path="/", httponly=True, samesite="lax", secure=is_https(request))
    return answer


@router.get("/session", response_model=SessionPublic)
def current_session(request: Request, response: Response, session: SessionDep) -> SessionPublic:
    """当前会话 (the signed-in browser): user, role, its page and the CSRF token for its
    writes. 401 without a live session (saying why)."""
    response.headers["Cache-Control"] = "no-store"
    sid = request.cookies.get(COOKIE)
    state = lookup(session=session, session_id=sid) if sid else None
    if state is None or state.principal is None:
        why = SESSION_ENDED[state.reason] if state else "未登录 (not signed in: POST /login)"
        raise HTTPException(status_code=401, detail=why)
    p = state.principal
    assert p.id is not None and sid is not None
    return SessionPublic(
        user=p.name,
        id=p.id,
        role=p.role,
        grid_code=p.grid_code,
        street_code=p.street_code,
        page=role_page(p.role),
        csrf=csrf_token(sid),
    )


__all__ = ["ROLE_PAGES", "local_next", "login_path", "role_page", "router", "site_path"]
