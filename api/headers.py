"""Security headers on every answer: ``nosniff`` everywhere; on HTML, no framing
(``X-Frame-Options: DENY`` and, unless the page set its own policy, a
``Content-Security-Policy`` of ``frame-ancestors 'none'``) and no referrer to other sites.
The maps set their own strict policy (``api/routes/maps.py``, ``maps/policy.py``)."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

DEFAULT_HTML_POLICY = b"frame-ancestors 'none'; base-uri 'none'; object-src 'none'"


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or [])
                names = {k.lower() for k, _ in headers}
                add = [(b"x-content-type-options", b"nosniff")]
                ctype = dict(headers).get(b"content-type", b"")
                if ctype.startswith(b"text/html"):
                    add += [(b"x-frame-options", b"DENY"), (b"referrer-policy", b"same-origin")]
                    add.append((b"content-security-policy", DEFAULT_HTML_POLICY))
                headers += [(k, v) for k, v in add if k not in names]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)
