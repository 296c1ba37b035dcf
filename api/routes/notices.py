"""Emergency notices (应急通知): sent by dispatchers, acknowledged by grid workers."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from api.deps import SessionDep, require_role
from api.schemas.notices import NoticeAck, NoticeCreate, NoticeList, NoticeRead, NoticeSent
from geo.notices import (
    acknowledge,
    deliver,
    get_sender,
    list_notices,
    outbox_counts,
    read_notice,
    send_notice,
)
from geo.runtime.auth import Principal

router = APIRouter(tags=["notices"])
log = logging.getLogger("wangge.notices")


@router.post("/notices", status_code=201, response_model=NoticeSent)
def send(
    body: NoticeCreate,
    request: Request,
    principal: Annotated[Principal, Depends(require_role("dispatcher"))],
) -> dict[str, Any]:
    """发送应急通知 (send a notice) to a street or grids: a dispatcher of its own street (an
    admin: any). Fans out to every micro-grid in scope (a target each) and its workers with
    a phone (an outbox message each). The notice is committed first; then its messages are
    handed to ``WANGGE_NOTICE_SENDER`` one by one (``sent`` / ``failed``; any left pending by
    a stop go with ``wangge notices deliver``)."""
    sessions = request.app.state.sessionmaker
    sender = get_sender()  # a sender that cannot be built refuses the notice before it is stored
    with sessions() as session, session.begin():
        notice = send_notice(
            session,
            principal,
            title=body.title,
            body=body.body,
            street=body.street,
            grids=body.grids,
            deadline_minutes=body.deadline_minutes,
        )
    # committed: from here on the answer is a 201 whatever delivery does (a retry by the
    # dispatcher would send the notice twice); what delivery could not do stays pending
    try:
        deliver(sessions, notice["id"], sender=sender)
    except Exception:  # the database or a sender failing outside its own send()
        log.exception("notice %s: delivery stopped; the rest stays pending", notice["id"])
    return notice | outbox_counts(sessions, notice["id"])


@router.get("/notices", response_model=NoticeList, response_model_exclude_none=True)
def notices(
    session: SessionDep,
    principal: Annotated[Principal, Depends(require_role("worker", "dispatcher"))],
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    """应急通知 (notices): a dispatcher its street's, a worker those sent to its grids (its
    own acknowledgements in ``mine``), an admin all."""
    return {"notices": list_notices(session, principal, limit=limit)}


@router.get("/notices/{notice_id}", response_model=NoticeRead)
def notice(
    notice_id: int,
    session: SessionDep,
    principal: Annotated[Principal, Depends(require_role("worker", "dispatcher"))],
) -> dict[str, Any]:
    """通知进度 (a notice, live): per grid its acknowledgement, the share of households
    reached, within the deadline or not, the grids not acknowledged."""
    return read_notice(session, principal, notice_id)


@router.post("/notices/{notice_id}/ack", response_model=NoticeRead)
def ack(
    notice_id: int,
    body: NoticeAck,
    session: SessionDep,
    principal: Annotated[Principal, Depends(require_role("worker"))],
) -> dict[str, Any]:
    """确认通知 (acknowledge for a grid): its worker (or an admin), with the households
    reached — at most the grid's (400 naming both); a second one updates the count."""
    return acknowledge(
        session, principal, notice_id, grid=body.grid, households_reached=body.households_reached
    )
