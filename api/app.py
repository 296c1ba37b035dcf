"""The FastAPI application: ``create_app()`` wires settings, the database and the routes.

The engine is opened in the app's lifespan from ``WANGGE_DATABASE_URL`` or the running local
cluster; routes are thin adapters over :mod:`geo`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy.orm import sessionmaker
from starlette.types import ASGIApp, Receive, Scope, Send

from api import errors
from api.routes import (
    grids,
    health,
    incidents,
    jobs,
    layers,
    locate,
    maps,
    ogc,
    people,
    plans,
    services,
    users,
)
from api.schemas import ErrorBody
from geo.db import database_url, make_engine
from geo.settings import get_settings

DESCRIPTION = """
网格 Wangge — 社区网格治理空间服务 (a spatial service for community grid governance).

Base layers are GeoJSON FeatureCollections in CRS84 (stored as CGCS2000, EPSG:4490).
Authenticate with `Authorization: Bearer <token>` (tokens from `wangge users add`).
"""


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

        async def limited() -> dict:
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
        import json

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


class _TooLarge(Exception):
    def __init__(self, size: int) -> None:
        self.size = size


def create_app(url: str | None = None) -> FastAPI:
    """Build the app. ``url`` overrides the database (default: WANGGE_DATABASE_URL, else the
    running local cluster)."""
    settings = get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # more connections than the 40 worker threads: a request may briefly hold two (its own
        # and the locator refresh), and none should starve waiting for the pool
        engine = make_engine(url or database_url(start=False), pool_size=20, max_overflow=30)
        app.state.engine = engine
        app.state.sessionmaker = sessionmaker(engine, expire_on_commit=False)
        app.state.jobs = {}
        app.state.locator = None
        app.state.reports = {}
        try:
            yield
        finally:
            engine.dispose()

    app = FastAPI(
        title="网格 Wangge",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        responses={
            400: {"model": ErrorBody},
            401: {"model": ErrorBody},
            403: {"model": ErrorBody},
            422: {"model": ErrorBody},
        },
    )
    errors.install(app)
    app.include_router(health.router)
    app.include_router(layers.router)
    app.include_router(grids.router)
    app.include_router(locate.router)
    app.include_router(jobs.router)
    app.include_router(services.router)
    app.include_router(incidents.router)
    app.include_router(people.router)
    app.include_router(plans.router)
    app.include_router(maps.router)
    app.include_router(ogc.router)
    app.include_router(users.router)
    app.add_middleware(BodySizeLimit, limit=settings.max_body_bytes)
    return app
