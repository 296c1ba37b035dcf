"""GET /health: is the database reachable. The details (PostgreSQL and PostGIS versions, the
process that answered) are for admins only: to anyone else they would say which exploits to
try and how many processes to exhaust."""

from __future__ import annotations

import os

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from api.deps import PrincipalDep
from api.schemas import Health
from api.schemas.health import Pong
from geo.errors import DatabaseUnavailable
from geo.store.db import postgis_version

router = APIRouter(tags=["health"])


@router.get(
    "/health",
    response_model=Health,
    response_model_exclude_none=True,
    responses={503: {"model": Health}},
)
def health(request: Request, principal: PrincipalDep) -> Health | JSONResponse:
    """状态检查 (health): 200 when the database answers, 503 otherwise. Versions and the
    answering process (`worker`) for admins only."""
    admin = principal.role == "admin"
    try:
        server, postgis = postgis_version(request.app.state.engine)
    except DatabaseUnavailable as exc:
        body = Health(
            status="unavailable",
            database=exc.message if admin else "unavailable",
            worker=os.getpid() if admin else None,
        )
        return JSONResponse(body.model_dump(exclude_none=True), status_code=503)
    if not admin:
        return Health(status="ok", database="ok")
    return Health(
        status="ok",
        database="ok",
        server_version=server,
        postgis_version=postgis,
        worker=os.getpid(),
    )


@router.get("/ping", response_model=Pong)
def ping() -> Pong:
    """活着 (alive): answers without touching the database (the ceiling in benchmarks)."""
    return Pong(pong=True)
