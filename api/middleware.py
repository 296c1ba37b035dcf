"""The app's own ASGI middleware: request bodies over the limit refused with 413 before they
are read, and slow requests logged. (The security headers: ``api/headers.py``.)"""

from __future__ import annotations

import json
import logging
import re
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import errors

__all__ = ["BodySizeLimit", "MaskKeys", "SlowRequestLog", "mask_keys_in_access_log"]

log = logging.getLogger("wangge.api")


class BodySizeLimit:
    """Refuse request bodies larger than ``limit`` bytes with 413, before reading them."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            await self._refuse(send, int(length))
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _TooLarge(seen)
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge as exc:
            await self._refuse(send, exc.size)

    async def _refuse(self, send: Send, size: int) -> None:
        body = json.dumps(
            errors.error_body(
                "payload_too_large",
                f"请求体过大 (request body too large): {size} 字节 (bytes) > {self.limit}",
            ),
            ensure_ascii=False,
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


class SlowRequestLog:
    """Log (warning, logger ``wangge.api``) every request that took longer than ``seconds``
    from its arrival to the end of its answer: method, path, status, seconds."""

    def __init__(self, app: ASGIApp, seconds: float) -> None:
        self.app, self.seconds = app, seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.monotonic()
        status = 0

        async def timed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, timed)
        finally:
            took = time.monotonic() - start
            if took > self.seconds:
                log.warning(
                    "slow request: %s %s → %s in %.2f s",
                    scope.get("method"),
                    scope.get("path"),
                    status,
                    took,
                )


_KEY_IN_QUERY = re.compile(r"(?i)((?:^|[?&])api_key=)[^&\s]*")


class MaskKeys(logging.Filter):
    """Masks an ``api_key=…`` query parameter (an Open311 app's key, as clients send it) in
    the lines of uvicorn's access log: a key never lands in a log file."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                _KEY_IN_QUERY.sub(r"\1***", a) if isinstance(a, str) else a for a in record.args
            )
        return True


def mask_keys_in_access_log() -> None:
    """Install :class:`MaskKeys` on uvicorn's access logger (once)."""
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, MaskKeys) for f in access.filters):
        access.addFilter(MaskKeys())


class _TooLarge(Exception):
    def __init__(self, size: int) -> None:
        self.size = size
