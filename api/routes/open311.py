"""Open311 GeoReport v2 under ``/open311/v2`` (``geo.open311``): discovery, services, service
definitions, filing and following requests, tokens — each as ``.json`` or ``.xml``.

Who may call: everything is public (the public view of incidents: no description, media,
address or exact point); an ``api_key`` from ``wangge apps add`` identifies an app, and an app
linked to a staff user (``--user``) reads in that user's role and scope (the staff view,
audited) and files as that user. A POST without an ``api_key`` is taken while
``WANGGE_OPEN311_KEYLESS`` is true (the public report limits per client address apply); an
unknown or revoked key is a 403. Errors are Open311 error bodies (``[{"code",
"description"}]`` / ``<errors><error>``) and store nothing (one transaction)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response
from sqlalchemy.exc import DataError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from api.deps import client_addr, limit_public_report
from api.errors import status_for
from api.routes.locate import get_locator
from api.urls import public_base
from geo.errors import PermissionDenied, WanggeError
from geo.open311 import (
    FORMATS,
    ROOTS,
    AppCaller,
    authenticate_app,
    check_jurisdiction,
    errors,
    file_request,
    list_requests,
    parse_body,
    post_jurisdiction,
    read_request,
    request_of_token,
    service_definition,
    service_list,
    to_xml,
)
from geo.settings import get_settings

router = APIRouter(prefix="/open311/v2", tags=["open311"])

SPEC = "http://wiki.open311.org/GeoReport_v2"
CHANGESET = "2026-12-01T00:00:00+08:00"


def _error(status: int, message: str, fmt: str, headers: dict[str, str] | None = None) -> Response:
    fmt = fmt if fmt in FORMATS else "json"
    return Response(errors(status, message, fmt), status, headers, media_type=FORMATS[fmt])


def _serialise(fmt: str, kind: str, content: Any) -> bytes:
    if fmt == "json":
        return json.dumps(content, ensure_ascii=False).encode()
    root, item = ROOTS.get(kind, (kind, None))
    return to_xml(root, item, content)


def _answer(fmt: str, kind: str, work: Callable[[], Any], status: int = 200) -> Response:
    """Run ``work`` and answer its content in ``fmt``; a WanggeError or HTTPException as an
    Open311 error body with its status."""
    if fmt not in FORMATS:
        return _error(404, f"未知格式 (unknown format) {fmt!r}; 可用 (use) .json or .xml", "json")
    try:
        content = work()
    except WanggeError as exc:
        return _error(status_for(exc), exc.message, fmt)
    except HTTPException as exc:
        return _error(exc.status_code, str(exc.detail), fmt, dict(exc.headers or {}))
    except UnicodeError:
        return _error(400, "文本含无效字符 (the text holds invalid Unicode)", fmt)
    except DataError as exc:  # a value the database refuses (a NUL character)
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0][:200]
        return _error(400, f"数据无效，未保存 (a value was refused, nothing stored): {reason}", fmt)
    return Response(_serialise(fmt, kind, content), status, media_type=FORMATS[fmt])


def _key(request: Request) -> str | None:
    """The app's key: the header ``X-Api-Key`` (kept out of access logs), else the query's
    ``api_key`` (as Open311 clients send it)."""
    return request.headers.get("x-api-key") or request.query_params.get("api_key")


def _caller(session: Session, key: str | None) -> AppCaller | None:
    return authenticate_app(session, key) if key else None


def _in_session(request: Request, fn: Callable[[Session], Any]) -> Any:
    """``fn`` in one transaction: committed when it returns, rolled back when it raises."""
    with request.app.state.sessionmaker() as session, session.begin():
        return fn(session)


@router.get("/discovery.{fmt}")
def discovery(request: Request, fmt: str) -> Response:
    """服务发现 (discovery): the endpoint, its formats; positions are WGS84 lat/long."""
    url = public_base(request) + "/open311/v2"
    content = {
        "changeset": CHANGESET,
        "contact": "网格 Wangge 管理员 (the service's administrator)",
        "key_service": "api_key: 由管理员用 wangge apps add 签发 (issued by an admin: wangge "
        "apps add NAME)",
        "jurisdiction_id": get_settings().open311_jurisdiction,
        "coordinates": "lat/long: WGS84 (EPSG:4326) 十进制度 (decimal degrees)",
        "endpoints": [
            {
                "specification": SPEC,
                "url": url,
                "changeset": CHANGESET,
                "type": "production",
                "formats": ["text/xml", "application/json"],
            }
        ],
    }
    return _answer(fmt, "discovery", lambda: content)


@router.get("/services.{fmt}")
def services(request: Request, fmt: str) -> Response:
    """服务列表 (the services): one per incident category, Chinese name first, its group."""

    def work() -> Any:
        check_jurisdiction(request.query_params.get("jurisdiction_id"))
        return service_list()

    return _answer(fmt, "services", work)


@router.get("/services/{service_code}.{fmt}")
def service(request: Request, service_code: str, fmt: str) -> Response:
    """服务定义 (a service's attributes): e.g. the floor for a report inside a building."""

    def work() -> Any:
        check_jurisdiction(request.query_params.get("jurisdiction_id"))
        return service_definition(service_code)

    return _answer(fmt, "service_definition", work)


def _post(request: Request, body: bytes) -> Any:
    fields, attributes = parse_body(request.headers.get("content-type", ""), body)
    jurisdiction = post_jurisdiction(
        fields.pop("jurisdiction_id", None), request.query_params.get("jurisdiction_id")
    )
    if jurisdiction is not None:
        fields["jurisdiction_id"] = jurisdiction
    key = fields.pop("api_key", None) or _key(request)
    s = get_settings()
    caller = _in_session(request, lambda session: _caller(session, key))
    if caller is None and not s.open311_keyless:
        raise PermissionDenied(
            "需要 api_key (an api_key is required: WANGGE_OPEN311_KEYLESS is false)"
        )
    if caller is None:
        limit_public_report(request, client_addr(request))
    else:
        limit_public_report(request, f"app:{caller.id}", s.open311_app_rate_per_minute)
    locator = get_locator(request)
    return [
        _in_session(
            request, lambda session: file_request(session, locator, fields, attributes, caller)
        )
    ]


_FIELDS = {
    "service_code": {"type": "string", "examples": ["cooking_fumes", "油烟扰民"]},
    "lat": {"type": "number", "description": "WGS84"},
    "long": {"type": "number", "description": "WGS84"},
    "address_string": {"type": "string"},
    "description": {"type": "string", "maxLength": 2000},
    "media_url": {"type": "string", "maxLength": 2000},
    "email": {"type": "string"},
    "phone": {"type": "string"},
    "first_name": {"type": "string"},
    "last_name": {"type": "string"},
    "device_id": {"type": "string"},
    "account_id": {"type": "string"},
    "api_key": {"type": "string"},
    "jurisdiction_id": {"type": "string"},
}
_BODY = {"type": "object", "properties": _FIELDS, "required": ["service_code"]}
POST_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {"schema": _BODY},
            "application/json": {"schema": _BODY},
        },
    }
}


@router.post("/requests.{fmt}", openapi_extra=POST_BODY)
async def create_request(request: Request, fmt: str) -> Response:
    """提交诉求 (file a request): form-encoded (or JSON, or XML) ``service_code``, ``lat``/
    ``long`` (WGS84) or ``address_string``, ``description``, ``media_url``, reporter contact,
    ``attribute[code]``; answers its ``service_request_id`` (the incident code), a lookup
    ``token`` and the ``reporter_token`` (to follow, confirm or reopen it)."""
    body = await request.body()
    return await run_in_threadpool(_answer, fmt, "requests", lambda: _post(request, body), 201)


@router.get("/requests.{fmt}")
def requests(request: Request, fmt: str) -> Response:
    """诉求列表 (requests): by id list, or by service, dates (≤ 90 days) and status."""
    q = request.query_params

    def work(session: Session) -> Any:
        check_jurisdiction(q.get("jurisdiction_id"))
        caller = _caller(session, _key(request))
        keys = ("service_request_id", "service_code", "start_date", "end_date", "status")
        return list_requests(session, caller, {k: q.get(k) for k in keys})

    return _answer(fmt, "requests", lambda: _in_session(request, work))


@router.get("/requests/{service_request_id}.{fmt}")
def one_request(request: Request, service_request_id: str, fmt: str) -> Response:
    """一条诉求 (one request, as an array of one)."""
    q = request.query_params

    def work(session: Session) -> Any:
        check_jurisdiction(q.get("jurisdiction_id"))
        return read_request(session, service_request_id, _caller(session, _key(request)))

    return _answer(fmt, "requests", lambda: _in_session(request, work))


@router.get("/tokens/{token}.{fmt}")
def token(request: Request, token: str, fmt: str) -> Response:
    """令牌查询 (the request a lookup token names)."""

    def work(session: Session) -> Any:
        check_jurisdiction(request.query_params.get("jurisdiction_id"))
        return request_of_token(session, token)

    return _answer(fmt, "tokens", lambda: _in_session(request, work))
