"""OGC API – Features Part 4 on draft plans: ``/ogc/collections/plan-{id}-micro`` — read
through the routes of ``api/routes/ogc.py`` (which ask :func:`resolve_collection` here), and
written here (PUT, PATCH, POST, DELETE, OPTIONS, HEAD), each write one of the plan's own edits
(:mod:`geo.plans.ogc`). Planner and admin only: a bearer token (what QGIS sends through its
"API header" authentication) or a session (a cookie write needs ``X-CSRF-Token``)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request, Response
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from api.deps import SessionDep, get_principal, require_role
from api.errors import error_body
from api.urls import public_base, public_url
from geo import ogc
from geo import plans as gp
from geo.errors import NotFoundError
from geo.plans import ogc as gpo
from geo.runtime.auth import Principal

router = APIRouter(tags=["ogc"])
GEOJSON = "application/geo+json"
ITEMS = "/ogc/collections/plan-{plan_id:int}-micro/items"
ITEM = ITEMS + "/{fid}"
ALLOW_ITEMS = "GET, HEAD, OPTIONS, POST"
ALLOW_ITEM = "GET, HEAD, OPTIONS, PUT, PATCH, DELETE"
JSON_BODIES = ("application/json", "application/geo+json", "application/merge-patch+json")
_planner = require_role("planner")
IfMatch = Annotated[str | None, Header(max_length=200)]
ContentCrs = Annotated[str | None, Header(max_length=200)]


def _caller(request: Request) -> Principal:
    """The planner (or admin) calling, as every plan route checks it: 401 / 403 otherwise."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    creds = (
        HTTPAuthorizationCredentials(scheme=scheme, credentials=token.strip())
        if scheme.lower() == "bearer" and token.strip()
        else None
    )
    return _planner(request, get_principal(request, creds))


def resolve_collection(cid: str, request: Request, session: Any) -> ogc.Collection:
    """The collection ``cid``: a public one, or a draft's after the caller's check (its ETag
    kept for :func:`etag_headers`, read before the items, so it is never newer than them)."""
    plan_id = gpo.plan_id_of(cid)
    if plan_id is None:
        return ogc.collection(cid)
    _caller(request)
    c = gpo.draft_collection(session, plan_id)
    request.state.ogc_etag = gpo.etag(plan_id, gp.revision(session, plan_id))
    return c


def etag_headers(request: Request) -> dict[str, str]:
    """``{"ETag": …}`` for a draft collection's answer, else nothing."""
    tag = getattr(request.state, "ogc_etag", None)
    return {"ETag": tag} if tag else {}


def draft_infos(request: Request, session: Any) -> list[dict[str, Any]]:
    """The open drafts' collections for a planner or admin; nothing for anyone else (an
    anonymous reader, or a token that does not authenticate, sees the public list only)."""
    try:
        _caller(request)
    except HTTPException:
        return []
    base = public_base(request) + "/ogc"
    return [
        ogc.collection_info(c, base, ogc.extent(session, c))  # a draft's extent: not cached
        for c in gpo.draft_collections(session)
    ]


def queryables(c: ogc.Collection, request: Request) -> dict[str, Any]:
    base = public_base(request) + "/ogc"
    if gpo.plan_id_of(c.id) is None:
        return ogc.queryables(c, base)
    return gpo.queryables(c, base)


def _actor(p: Principal) -> str:
    return f"{p.role}:{p.name}"


def _feature(session: Any, request: Request, c: ogc.Collection, fid: str) -> dict[str, Any]:
    fc, _ = ogc.items(
        session, c, bbox=None, crs=None, limit=1, offset=0, filters={}, feature_id=fid
    )
    if not fc["features"]:
        raise NotFoundError(f"{c.id} 中没有要素 (no feature) {fid!r}")
    f: dict[str, Any] = fc["features"][0]
    f["links"] = [{"rel": "self", "type": GEOJSON, "href": public_url(request, {})}]
    return f


def _refused(exc: gpo.PreconditionFailed) -> JSONResponse:
    return JSONResponse(
        error_body(exc.code, exc.message, exc.detail),
        status_code=412,
        headers={"ETag": exc.detail["etag"]},
    )


async def _body(request: Request) -> Any:
    """The request's JSON (GeoJSON, merge patch); 415 for another type, 400 when it does
    not parse."""
    kind = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if kind not in JSON_BODIES:
        raise HTTPException(
            415,
            f"不支持的内容类型 (unsupported Content-Type) {kind!r}: 可用 (use) "
            + ", ".join(JSON_BODIES),
        )
    raw = await request.body()
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise HTTPException(
            400, f"请求体不是有效的 JSON (the body is not valid JSON): {exc}"
        ) from None


def _may_edit(request: Request, session: Any, plan_id: int) -> tuple[Principal, ogc.Collection]:
    """The planner (or admin) calling and the draft's collection, while the plan is still a
    draft: 401 / 403 / 404 otherwise."""
    return _caller(request), gpo.draft_collection(session, plan_id)


def _write(
    request: Request,
    session: Any,
    checked: tuple[Principal, ogc.Collection],
    plan_id: int,
    fid: str,
    body: Any,
    partial: bool,
    **kw: Any,
) -> Response:
    who, c = checked
    try:
        gpo.update(session, plan_id, fid, body, partial=partial, actor=_actor(who), **kw)
    except gpo.PreconditionFailed as exc:
        return _refused(exc)
    rev = gp.revision(session, plan_id)
    feature = _feature(session, request, c, fid)
    return JSONResponse(
        feature,
        media_type=GEOJSON,
        headers={"ETag": gpo.etag(plan_id, rev), "Content-Crs": f"<{ogc.CRS84}>"},
    )


@router.put(ITEM, summary="替换草稿微网格 (replace a draft micro-grid: redraw, lock)")
async def put_item(
    plan_id: int,
    fid: str,
    request: Request,
    session: SessionDep,
    if_match: IfMatch = None,
    content_crs: ContentCrs = None,
) -> Response:
    """A GeoJSON Feature: a new boundary → the plan's redraw; ``locked`` → lock / unlock;
    derived properties sent back unchanged are ignored, changed → 409. ``If-Match`` (the
    ETag) another revision → 412."""
    return await _edit(request, session, plan_id, fid, False, if_match, content_crs)


@router.patch(ITEM, summary="修改草稿微网格 (merge-patch a draft micro-grid)")
async def patch_item(
    plan_id: int,
    fid: str,
    request: Request,
    session: SessionDep,
    if_match: IfMatch = None,
    content_crs: ContentCrs = None,
) -> Response:
    """A JSON merge patch (RFC 7396, ``application/merge-patch+json`` or
    ``application/json``): only the members sent change, by the same rules as PUT."""
    return await _edit(request, session, plan_id, fid, True, if_match, content_crs)


async def _edit(
    request: Request,
    session: Any,
    plan_id: int,
    fid: str,
    partial: bool,
    if_match: str | None,
    content_crs: str | None,
) -> Response:
    """PUT or PATCH (``partial``): the caller and the draft checked before the body is read,
    the edit's database work off the event loop (other requests go on meanwhile)."""
    checked = await run_in_threadpool(_may_edit, request, session, plan_id)
    body = await _body(request)
    return await run_in_threadpool(
        _write,
        request,
        session,
        checked,
        plan_id,
        fid,
        body,
        partial,
        content_crs=content_crs,
        if_match=if_match,
    )


@router.delete(ITEM, summary="删除草稿微网格 (merge it into its one neighbour)")
def delete_item(
    plan_id: int, fid: str, request: Request, session: SessionDep, if_match: IfMatch = None
) -> Response:
    """Merged into its neighbour when it has exactly one (the smaller code stays, as merge
    keeps it); else 409 naming the neighbours and the merge to send."""
    who, _ = _may_edit(request, session, plan_id)
    try:
        out = gpo.delete(session, plan_id, fid, if_match=if_match, actor=_actor(who))
    except gpo.PreconditionFailed as exc:
        return _refused(exc)
    return JSONResponse(out, headers={"ETag": gpo.etag(plan_id, out["revision"])})


@router.post(ITEMS, summary="新建草稿微网格 (refused: split instead)")
def post_item(plan_id: int, request: Request, session: SessionDep) -> Response:
    """Always 409: a new micro-grid comes from a split (listed in OPTIONS so that QGIS
    enables editing, which it does only when it sees POST there)."""
    _may_edit(request, session, plan_id)
    raise gpo.refuse_create(plan_id)


def _options(request: Request, session: Any, plan_id: int, allow: str) -> Response:
    _may_edit(request, session, plan_id)
    return Response(status_code=204, headers={"Allow": allow})


@router.options(ITEMS, summary="可用方法 (the methods /items takes)")
def options_items(plan_id: int, request: Request, session: SessionDep) -> Response:
    return _options(request, session, plan_id, ALLOW_ITEMS)


@router.options(ITEM, summary="可用方法 (the methods an item takes)")
def options_item(plan_id: int, fid: str, request: Request, session: SessionDep) -> Response:
    return _options(request, session, plan_id, ALLOW_ITEM)


@router.head(ITEMS, include_in_schema=False)
def head_items(plan_id: int, request: Request, session: SessionDep) -> Response:
    resolve_collection(f"plan-{plan_id}-micro", request, session)
    return Response(headers=etag_headers(request), media_type=GEOJSON)


@router.head(ITEM, include_in_schema=False)
def head_item(plan_id: int, fid: str, request: Request, session: SessionDep) -> Response:
    c = resolve_collection(f"plan-{plan_id}-micro", request, session)
    _feature(session, request, c, fid)
    return Response(headers=etag_headers(request), media_type=GEOJSON)
