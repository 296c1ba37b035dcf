"""GET /health: is the database reachable, which PostgreSQL and PostGIS."""

from __future__ import annotations

import os

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from api.schemas import Health
from geo.db import postgis_version
from geo.errors import DatabaseUnavailable

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Health, responses={503: {"model": Health}})
def health(request: Request) -> Health | JSONResponse:
    """状态检查 (health): 200 when the database answers, 503 otherwise."""
    try:
        server, postgis = postgis_version(request.app.state.engine)
    except DatabaseUnavailable as exc:
        body = Health(status="unavailable", database=exc.message, worker=os.getpid())
        return JSONResponse(body.model_dump(), status_code=503)
    return Health(
        status="ok",
        database="ok",
        server_version=server,
        postgis_version=postgis,
        worker=os.getpid(),
    )


@router.get("/ping")
def ping() -> dict[str, bool]:
    """活着 (alive): answers without touching the database (the ceiling in benchmarks)."""
    return {"pong": True}
