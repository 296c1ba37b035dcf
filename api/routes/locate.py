"""GET /locate: the grid chain, building and responsible workers at a position or address."""

from __future__ import annotations

import logging
import threading
import time
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import InterfaceError, OperationalError, ProgrammingError

from api.deps import PrincipalDep
from api.schemas.locate import LocateAnswer
from geo.errors import InputError
from geo.locate import Locator, current_key, locate_address, locate_point, parse_point

log = logging.getLogger("wangge.api")
router = APIRouter(tags=["locate"])
_lock = threading.Lock()
REFRESH_S = 2.0  # how often the current grid versions are checked


def get_locator(request: Request) -> Locator:
    """The cached locator, reloaded when the current grid versions (or buildings, workers)
    have changed: checked at most every REFRESH_S seconds, so most lookups never touch the
    database. One request checks; the others meanwhile answer from the cached locator (only
    the very first load makes them wait)."""
    state = request.app.state
    loc: Locator | None = getattr(state, "locator", None)
    now = time.monotonic()
    if loc is not None and now - getattr(state, "locator_checked", 0.0) < REFRESH_S:
        return loc
    if loc is None:
        _lock.acquire()  # the very first load: wait for it
    elif not _lock.acquire(blocking=False):
        return loc  # another request is checking
    try:
        loc = getattr(state, "locator", None)
        if (
            loc is not None
            and time.monotonic() - getattr(state, "locator_checked", 0.0) < REFRESH_S
        ):
            return loc  # checked while we waited for the lock
        try:
            with state.sessionmaker() as session, session.begin():
                if loc is None or current_key(session) != loc.key:
                    loc = Locator.load(session)
                    state.locator = loc
        except (OperationalError, InterfaceError):
            if loc is None:
                raise
            # the database is down: keep locating with what we have, try again later
            log.warning("locator refresh failed; serving the cached grids")
        state.locator_checked = time.monotonic()
        return loc
    finally:
        _lock.release()


def preload_locator(app: Any) -> None:
    """Build the locator before the first lookup asks for it (at start-up, before the first
    request is accepted); a database that is down or not yet migrated is left for the lookups."""
    state = app.state
    with _lock:
        if getattr(state, "locator", None) is not None:
            return
        try:
            with state.sessionmaker() as session, session.begin():
                state.locator = Locator.load(session)
            state.locator_checked = time.monotonic()
        except (OperationalError, InterfaceError, ProgrammingError) as exc:
            log.warning("could not load the locator at start-up: %s", exc)


@router.get("/locate", response_class=JSONResponse, response_model=LocateAnswer)
def locate(
    request: Request,
    principal: PrincipalDep,
    lon: Annotated[str | None, Query(description="longitude (or x) in `crs`")] = None,
    lat: Annotated[str | None, Query(description="latitude (or y) in `crs`")] = None,
    crs: Annotated[str, Query(description="wgs84 | cgcs2000 | gcj02 | bd09 | EPSG:NNNN")] = "wgs84",
    address: Annotated[
        str | None,
        Query(max_length=200, description="standard address, e.g. 吉福社区云锦城市花园3栋2单元502"),
    ] = None,
    floor: Annotated[
        int | None,
        Query(ge=-5, le=200, description="楼层: at a tower split by floors, picks its floor group"),
    ] = None,
) -> JSONResponse:
    """定位 (locate): micro-grid → compound grid → community → street, the building and unit
    when the point hits one, and the responsible workers (phones for staff; for the public only
    those posted publicly). A point within the tolerance of a grid but in none is flagged
    `nearest`; beyond it, 404 `outside the served area`. In a tower split by floors the
    floor (or the household's, for an address with a room) picks the floor group; without
    one the lowest floors answer and the other groups are listed as `co_owners`. An address
    with a room answers the household for staff; the public's answer stops at the unit (a
    room is not looked up: nothing tells which rooms are registered)."""
    locator = get_locator(request)
    staff = principal.has_role("worker", "dispatcher", "planner")
    if address:
        with request.app.state.sessionmaker() as session, session.begin():
            result = locate_address(session, locator, address, floor=floor, rooms=staff)
    else:
        if lon is None or lat is None:
            raise InputError("需要 lon 和 lat，或 address (give lon and lat, or address)")
        x, y = parse_point(lon, lat, crs)
        result = locate_point(locator, x, y, floor=floor)
    # a plain JSON response: the answer is built from trusted values, no need to re-validate
    # (LocateAnswer documents it)
    return JSONResponse(result.as_dict(show_phones=staff))
