"""Errors as JSON: one table maps the geo error family to HTTP status codes.

Every error body is ``{"code": …, "message": …, "detail": …}``; the message is safe to show
(Simplified Chinese first, English alongside) and names the bad value. Unexpected exceptions are
logged with their stack trace and answered with a generic 500, never the trace.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from geo import errors as ge

log = logging.getLogger("wangge.api")

# most specific first
STATUS: list[tuple[type[ge.WanggeError], int]] = [
    (ge.ImportValidationError, 422),
    (ge.CRSError, 400),
    (ge.GeometryError, 400),
    (ge.InputError, 400),
    (ge.NotFoundError, 404),
    (ge.ConflictError, 409),
    (ge.PermissionDenied, 403),
    (ge.DatabaseUnavailable, 503),
    (ge.SetupError, 503),
    (ge.WanggeError, 400),
]

HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_input",
    429: "too_many_requests",
    503: "unavailable",
}
HTTP_MESSAGES = {
    401: "需要登录令牌 (a bearer token is required)",
    403: "无权访问 (this role may not do that)",
    404: "未找到 (not found)",
    405: "不支持该方法 (method not allowed)",
    413: "请求体过大 (request body too large)",
}


def error_body(code: str, message: str, detail: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message}
    if detail is not None:
        body["detail"] = jsonable_encoder(detail)
    return body


def status_for(exc: ge.WanggeError) -> int:
    for cls, status in STATUS:
        if isinstance(exc, cls):
            return status
    return 400


def install(app: FastAPI) -> None:
    @app.exception_handler(ge.WanggeError)
    async def _geo(_: Request, exc: ge.WanggeError) -> JSONResponse:
        return JSONResponse(
            error_body(exc.code, exc.message, exc.detail), status_code=status_for(exc)
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err.get("loc", ()) if p not in ("query", "body"))
            problems.append({"field": where, "problem": err.get("msg"), "value": err.get("input")})
        first = problems[0] if problems else {"field": "?", "problem": "?", "value": None}
        message = (
            f"参数无效 (invalid parameter) {first['field']}={first['value']!r}: {first['problem']}"
        )
        return JSONResponse(error_body("invalid_input", message, problems), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) and exc.detail else None
        if message is None or message in {"Not Found", "Method Not Allowed"}:
            message = HTTP_MESSAGES.get(exc.status_code, str(exc.detail))
        return JSONResponse(
            error_body(HTTP_CODES.get(exc.status_code, "error"), message),
            status_code=exc.status_code,
            headers=exc.headers,
        )

    @app.exception_handler(UnicodeError)
    async def _bad_text(request: Request, exc: UnicodeError) -> JSONResponse:
        """Text that cannot be stored (an unpaired surrogate, say): the client's fault."""
        return JSONResponse(
            error_body(
                "invalid_input",
                "文本含无效字符 (the text holds characters that are not valid Unicode, such as an "
                "unpaired surrogate)",
            ),
            status_code=400,
        )

    @app.exception_handler(DataError)
    async def _bad_value(request: Request, exc: DataError) -> JSONResponse:
        """A value the database refuses (a NUL character, a number out of range)."""
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0][:200]
        return JSONResponse(
            error_body(
                "invalid_input", f"数据无效，未保存 (a value was refused, nothing stored): {reason}"
            ),
            status_code=400,
        )

    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    async def _database_down(request: Request, exc: Exception) -> JSONResponse:
        """The database is unreachable (stopped, restarting, network): 503, retry later. The
        pool drops its broken connections, so the service recovers by itself once it is back."""
        log.warning("database unavailable on %s %s: %s", request.method, request.url.path, exc)
        return JSONResponse(
            error_body(
                "database_unavailable",
                "数据库暂时不可用，请稍后重试 (the database is unavailable; retry shortly)",
            ),
            status_code=503,
            headers={"Retry-After": "5"},
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse(
            error_body("internal_error", "服务器内部错误 (internal server error)"),
            status_code=500,
        )
