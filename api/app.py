"""The FastAPI application: ``create_app()`` wires settings, the database and the routes.

The engine is opened in the app's lifespan from ``WANGGE_DATABASE_URL`` or the running local
cluster; routes are thin adapters over :mod:`geo`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import FastAPI
from sqlalchemy.orm import sessionmaker
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from api import errors
from api.headers import SecurityHeaders
from api.middleware import BodySizeLimit, SlowRequestLog, mask_keys_in_access_log
from api.routes import app as app_pages
from api.routes import (
    app_resident,
    app_track,
    app_worker,
    communities,
    grids,
    health,
    incidents,
    jobs,
    layers,
    locate,
    login,
    maps,
    notices,
    ogc,
    ogc_api,
    ogc_edit,
    open311,
    people,
    plans,
    reports,
    services,
    tilemeta,
    users,
    visits,
)
from api.schemas import ErrorBody
from geo.notices.sender import get_sender
from geo.settings import get_settings
from geo.store.db import database_url, make_engine, warm_connections

__all__ = [
    "MAX_REQUEST_HEAD_BYTES",
    "BodySizeLimit",
    "create_app",
]  # BodySizeLimit: tests wrap apps

# uvicorn's h11_max_incomplete_event_size wherever the app is served (wangge serve, the
# tests): a request head (the URL with its query, the headers) of up to 64 KiB reaches the
# app, which answers a too-long value with its own 400 naming it; h11's default (16 KiB)
# refused such a request with a plain-text 400 or not, depending on how its bytes arrived
MAX_REQUEST_HEAD_BYTES = 64 * 1024

DESCRIPTION = """
网格 Wangge — 社区网格治理空间服务 (a spatial service for community grid governance).

Base layers are GeoJSON FeatureCollections in CRS84 (stored as CGCS2000, EPSG:4490).
Authenticate with `Authorization: Bearer <token>` (tokens from `wangge users add`), or in a
browser sign in at `/login` (a session cookie; writes then need the `X-CSRF-Token` header
from `GET /session`).
"""


log = logging.getLogger("wangge.api")


def create_app(url: str | None = None) -> FastAPI:
    """Build the app. ``url`` overrides the database (default: WANGGE_DATABASE_URL, else the
    running local cluster)."""
    settings = get_settings()
    get_sender(settings.notice_sender)  # an unknown or broken sender stops the start, named
    mask_keys_in_access_log()  # Open311 apps' api_key=… never in the access log

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # a few worker threads (WANGGE_API_THREADS): the requests beyond them wait in order
        # instead of all sharing the interpreter at once, which made a few wait for seconds
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.api_threads
        # more connections than threads: a request may briefly hold two (its own and the
        # locator refresh), and none should starve waiting for the pool
        engine = make_engine(url or database_url(start=False), pool_size=20, max_overflow=30)
        app.state.engine = engine
        app.state.sessionmaker = sessionmaker(engine, expire_on_commit=False)
        app.state.locator = None

        def warm() -> None:
            n = settings.warm_connections
            warm_connections(engine, settings.api_threads + 2 if n is None else n)
            locate.preload_locator(app)

        # ready before the first request: uvicorn listens once this start-up has finished
        await anyio.to_thread.run_sync(warm)
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
    app.include_router(tilemeta.router)  # before ogc's /tiles/{cid}/{z}/{x}/{y}.mvt
    app.include_router(ogc.router)
    app.include_router(ogc_edit.router)
    app.include_router(ogc_api.router)
    app.include_router(users.router)
    app.include_router(visits.router)
    app.include_router(notices.router)
    app.include_router(app_worker.router)
    app.include_router(login.router)
    app.include_router(app_pages.router)
    app.include_router(app_track.router)
    app.include_router(app_resident.router)
    app.include_router(communities.router)
    app.include_router(open311.router)
    app.include_router(reports.router)
    app.add_middleware(BodySizeLimit, limit=settings.max_body_bytes)
    app.add_middleware(SlowRequestLog, seconds=settings.slow_request_s)
    app.add_middleware(SecurityHeaders)  # every answer, a 413 included
    # the client is the address that connected, unless it is one of WANGGE_TRUSTED_PROXIES:
    # then the address that proxy forwarded (the right-most untrusted hop of X-Forwarded-For).
    # The server must not do this itself (`wangge serve` runs uvicorn without proxy headers)
    if settings.trusted_proxy_list:
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxy_list)
    if settings.test_clock is not None:
        log.warning("WANGGE_TEST_CLOCK is set: incidents run on %s", settings.test_clock)
    return app
