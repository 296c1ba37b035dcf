"""Incidents: report (public), list and read (by audience), move through the lifecycle."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Path, Query, Request, Response
from pydantic import BaseModel, Field

from api.deps import ClientDep, PrincipalDep, SessionDep, limit_public_report, require_role
from api.routes.locate import get_locator
from api.schemas.incidents import (
    Categories,
    Escalation,
    IncidentList,
    IncidentRead,
    IncidentReported,
    IncidentTransitioned,
    PhotoAdded,
)
from geo.errors import InputError
from geo.incidents import (
    add_photo,
    category_list,
    check_upload,
    create_incident,
    escalate_overdue,
    list_incidents,
    read_incident,
    read_photo,
    reassign,
    reissue_reporter_token,
    transition,
)
from geo.incidents.photos import MAX_PHOTO_BYTES, PHOTO_TYPES
from geo.incidents.rules import TZ
from geo.runtime.auth import Principal
from geo.runtime.idempotency import idempotent
from geo.store.features import parse_bbox

router = APIRouter(tags=["incidents"])


class IncidentCreate(BaseModel):
    category: str = Field(max_length=64, examples=["cooking_fumes"])
    description: str = Field(max_length=2000, examples=["楼下餐馆油烟直排"])
    lon: float | str | None = None
    lat: float | str | None = None
    crs: str = Field(default="wgs84", max_length=120)
    address: str | None = Field(default=None, max_length=200)
    reporter_name: str | None = Field(default=None, max_length=100)
    reporter_phone: str | None = Field(default=None, max_length=32)
    floor: int | None = Field(
        default=None,
        ge=-5,
        le=200,
        description="楼层 (the floor, at a tower split by floors: picks its floor group)",
    )


class Transition(BaseModel):
    to: str = Field(max_length=32, examples=["accepted"])
    note: str | None = Field(default=None, max_length=2000)
    reporter_token: str | None = Field(default=None, max_length=100)
    outcome: str | None = Field(
        default=None,
        max_length=32,
        description="closing: solved (已解决), not_solved (未解决) or referred (已转交)",
    )
    referred_to: str | None = Field(
        default=None, max_length=200, description="where to, with outcome referred"
    )


class Reassign(BaseModel):
    grid: str = Field(max_length=64, description="the micro-grid code it goes to")
    note: str | None = Field(default=None, max_length=2000)


def _rate_limit(request: Request, principal: PrincipalDep, client: ClientDep) -> None:
    """At most ``report_rate_per_minute`` public reports a minute from one client (its
    address, see ``api.deps.client_of``) and ``report_ceiling_per_minute`` from all clients
    together (staff entering reports for residents are not limited; see
    ``geo.incidents.count_public_report``)."""
    if principal.role != "public":
        return
    limit_public_report(request, client)


@router.post(
    "/incidents",
    status_code=201,
    dependencies=[Depends(_rate_limit)],
    response_model=IncidentReported,
    response_model_exclude_unset=True,
)
def report(
    body: IncidentCreate,
    request: Request,
    response: Response,
    session: SessionDep,
    principal: PrincipalDep,
    client: ClientDep,
    idempotency_key: Annotated[
        str | None,
        Header(
            max_length=200,
            description="retry with the same key: the first answer comes back (with a new "
            "reporter token: the first is stored nowhere), nothing is stored twice (kept 24 h; "
            "a key is the client's own)",
        ),
    ] = None,
) -> dict[str, Any]:
    """上报事件 (report an incident), by position in any supported CRS or by address: 201 with
    the report as its reporter sees it, the responsible workers, and a token to follow,
    confirm or reopen it later."""
    from geo.locate import worker_view

    staff = principal.has_role("worker", "dispatcher")

    def work() -> dict[str, Any]:
        created = create_incident(
            session,
            get_locator(request),
            category=body.category,
            description=body.description,
            lon=body.lon,
            lat=body.lat,
            crs=body.crs,
            address=body.address,
            reporter_name=body.reporter_name,
            reporter_phone=body.reporter_phone,
            floor=body.floor,
            actor=f"{principal.role}:{principal.name}",
            rooms=staff,
        )
        return created.incident | {
            "reporter_token": created.reporter_token,
            "workers": [worker_view(w, show_phones=staff) for w in created.workers],
        }

    answer, replayed = idempotent(
        session,
        idempotency_key,
        "incident",
        body.model_dump() | {"staff": staff},
        work,
        client=client,
        store=lambda a: {k: v for k, v in a.items() if k != "reporter_token"},
        replay=lambda a: a | {"reporter_token": reissue_reporter_token(session, a["code"])},
    )
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return answer


Staff = Annotated[Principal, Depends(require_role("worker", "dispatcher"))]


@router.get("/incidents", response_model=IncidentList)
def incidents(
    session: SessionDep,
    principal: Staff,
    bbox: str | None = None,
    grid: str | None = None,
    status: str | None = None,
    category: str | None = None,
    overdue: bool | None = None,
    since: Annotated[
        datetime | None,
        Query(description="only those reported or changed since (ISO time; no zone: Beijing)"),
    ] = None,
    sort: Annotated[
        str | None, Query(max_length=16, description="newest (default) or deadline")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    """事件列表 (incidents): a grid worker sees its grids', a dispatcher its street's.
    ``category`` takes the key or the Chinese label; ``sort=deadline`` puts the next due
    first (the overdue first), then the newest; ``since`` keeps those reported or changed
    since then (a console polls with it)."""
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=TZ)
    return list_incidents(
        session,
        principal,
        bbox=parse_bbox(bbox),
        grid=grid,
        status=status,
        category=category,
        overdue=overdue,
        since=since,
        sort=sort,
        limit=limit,
        offset=offset,
    )


@router.get("/incidents/categories", response_model=Categories)
def categories() -> dict[str, Any]:
    """事件类别 (the categories, public): key, Chinese and English name, group. ``POST
    /incidents`` takes the key or the Chinese label."""
    return {"categories": category_list()}


@router.get(
    "/incidents/{incident_id}", response_model=IncidentRead, response_model_exclude_unset=True
)
def incident(
    incident_id: str,
    session: SessionDep,
    principal: PrincipalDep,
    x_reporter_token: Annotated[
        str | None,
        Header(max_length=100, description="the reporter token given back at reporting"),
    ] = None,
) -> dict[str, Any]:
    """事件详情 (one incident) with its history, by code, as the caller may see it: staff in
    scope the whole record (the reporter's name and phone audited); the holder of the
    reporter token (header `X-Reporter-Token`) its own report, statuses and deadlines, no
    staff names or internal notes; anyone else category, status, grid and a position
    generalised to 50 m. A numeric id is answered for staff only (404 otherwise)."""
    return read_incident(session, incident_id, principal=principal, reporter_token=x_reporter_token)


@router.post(
    "/incidents/{incident_id}/transitions",
    response_model=IncidentTransitioned,
    response_model_exclude_unset=True,
)
def move(
    incident_id: str, body: Transition, session: SessionDep, principal: PrincipalDep
) -> dict[str, Any]:
    """流转 (move through the lifecycle): 409 with the allowed transitions when not allowed."""
    return transition(
        session,
        incident_id,
        body.to,
        principal=principal,
        note=body.note,
        reporter_token=body.reporter_token,
        outcome=body.outcome,
        referred_to=body.referred_to,
    )


@router.post(
    "/incidents/{incident_id}/reassign",
    response_model=IncidentRead,
    response_model_exclude_unset=True,
)
def move_to_grid(
    incident_id: str,
    body: Reassign,
    session: SessionDep,
    principal: Annotated[Principal, Depends(require_role("dispatcher"))],
) -> dict[str, Any]:
    """改派 (reassign to another micro-grid): a dispatcher of the incident's street (or an
    admin), to one of its co-owner grids or a micro-grid of the dispatcher's street (403
    outside; 400 for an unknown grid). The answer: the incident as the caller reads it."""
    return reassign(session, incident_id, body.grid, principal=principal, note=body.note)


async def _image_body(request: Request, content_type: str | None) -> tuple[bytes, str]:
    """The uploaded image and its type: 415 for a type other than JPEG or PNG, 413 above
    :data:`MAX_PHOTO_BYTES` (checked on the declared length, then while reading)."""
    mime = (content_type or "").split(";", 1)[0].strip().lower()
    if mime not in PHOTO_TYPES:
        raise HTTPException(
            status_code=415,
            detail=f"照片须为 JPEG 或 PNG (a photo must be image/jpeg or image/png): {mime!r}",
        )
    too_big = HTTPException(
        status_code=413,
        detail=f"照片过大 (photo too large): 最多 (at most) {MAX_PHOTO_BYTES} 字节 (bytes)",
    )
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_PHOTO_BYTES:
        raise too_big
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > MAX_PHOTO_BYTES:
            raise too_big
    if not data:
        raise HTTPException(status_code=400, detail="照片为空 (the photo is empty)")
    return bytes(data), mime


@router.post(
    "/incidents/{incident_id}/photo",
    status_code=201,
    response_model=PhotoAdded,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {t: {"schema": {"type": "string", "format": "binary"}} for t in PHOTO_TYPES},
        }
    },
)
async def photo(
    incident_id: str,
    request: Request,
    principal: PrincipalDep,
    content_type: Annotated[str | None, Header(max_length=100)] = None,
    x_reporter_token: Annotated[
        str | None,
        Header(max_length=100, description="the reporter token given back at reporting"),
    ] = None,
) -> dict[str, Any]:
    """添加照片 (add a photo): the raw JPEG or PNG as the body, at most 5 MB and 3 photos an
    incident; by the reporter (header ``X-Reporter-Token``) or staff in scope. The image is
    re-encoded, so no metadata (EXIF and its GPS position, XMP, ICC, text chunks) is kept;
    only staff in scope see it. Who may add one is checked before the body is read."""
    from starlette.concurrency import run_in_threadpool

    def allowed() -> None:
        with request.app.state.sessionmaker() as session, session.begin():
            check_upload(session, incident_id, principal=principal, reporter_token=x_reporter_token)

    await run_in_threadpool(allowed)
    data, mime = await _image_body(request, content_type)

    def work() -> dict[str, Any]:
        with request.app.state.sessionmaker() as session, session.begin():
            return add_photo(
                session,
                incident_id,
                data,
                mime,
                principal=principal,
                reporter_token=x_reporter_token,
            )

    return await run_in_threadpool(work)


@router.get(
    "/incidents/{incident_id}/photos/{n}",
    response_class=Response,
    responses={200: {"content": {t: {} for t in PHOTO_TYPES}}},
)
def photo_file(
    incident_id: str,
    n: Annotated[int, Path(ge=1, le=3)],
    session: SessionDep,
    principal: PrincipalDep,
) -> Response:
    """一张照片 (one photo), to staff in scope only (the worker of its grid, the dispatcher
    of its street, an admin), and every read audited; to anyone else, the reporter too, 404."""
    data, mime = read_photo(session, incident_id, n, principal=principal)
    return Response(
        data,
        media_type=mime,
        headers={"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"},
    )


@router.post("/incidents/escalate", response_model=Escalation, response_model_exclude_unset=True)
def escalate(
    request: Request,
    session: SessionDep,
    principal: Annotated[Principal, Depends(require_role("dispatcher"))],
) -> dict[str, Any]:
    """超时升级 (escalate the overdue incidents of the caller's street to the next tier; an
    admin: every street), judged by the server's clock; each run is audited."""
    if "at" in request.query_params:
        raise InputError(
            "不接受参数 at：升级按服务器时钟 (the at parameter is not accepted: escalation "
            f"runs on the server's clock): {request.query_params['at']!r}"
        )
    return escalate_overdue(session, principal=principal)
