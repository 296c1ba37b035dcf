"""One view of an incident per audience (:data:`~geo.incidents.rules.AUDIENCES`): what the
public, the holder of the reporter token and staff in scope each may know."""

from __future__ import annotations

from typing import Any

from geo.incidents.rules import TRANSITIONS, WHO
from geo.store.models import INCIDENT_STATUSES, PUBLIC_CELL_M

__all__ = ["public_view", "reporter_view", "staff_view"]

# what the reporter sees of its own incident (besides its history and allowed transitions)
REPORTER_FIELDS = (
    "code",
    "category",
    "category_name",
    "description",
    "address",
    "floor",
    "status",
    "status_name",
    "outcome",
    "outcome_name",
    "referred_to",
    "reported_at",
    "updated_at",
    "closed_at",
    "due",
    "overdue",
    "micro_grid",
    "compound_grid",
    "compound_name",
    "community",
    "community_name",
    "street",
    "street_name",
    "lon",
    "lat",
)


def public_view(inc: dict[str, Any], history: list[dict[str, Any]]) -> dict[str, Any]:
    """What anyone may know of an incident: category, status, grid chain, the reporting
    time, the statuses it went through, and its position snapped to the nodes of a
    ``PUBLIC_CELL_M`` grid in the metric CRS (the same point every time, at most 35 m from
    the true one). No description, address, floor, exact point, name or note."""
    lon, lat = inc["_public"]
    return {
        "code": inc["code"],
        "category": inc["category"],
        "category_name": inc["category_name"],
        "status": inc["status"],
        "status_name": inc["status_name"],
        "outcome": inc["outcome"],
        "outcome_name": inc["outcome_name"],
        "referred_to": inc["referred_to"],
        "reported_at": inc["reported_at"],
        "micro_grid": inc["micro_grid"],
        "compound_grid": inc["compound_grid"],
        "community": inc["community"],
        "street": inc["street"],
        "lon": lon,
        "lat": lat,
        "position_precision_m": PUBLIC_CELL_M,
        "history": [{"at": e["at"], "to_status": e["to_status"]} for e in history],
    }


def reporter_view(inc: dict[str, Any], history: list[dict[str, Any]]) -> dict[str, Any]:
    """What the holder of the reporter token sees: its own report (description, address,
    floor, exact point), the status, the deadline of the tier it waits on, the grid chain
    and the history — who acted by role only (``by``), no staff names and no internal
    notes (only the reporter's own)."""
    out = {k: inc[k] for k in REPORTER_FIELDS}
    out["history"] = [
        {
            "at": e["at"],
            "from_status": e["from_status"],
            "to_status": e["to_status"],
            "by": _role_of(e["actor"]),
        }
        | ({"note": e["note"]} if e["actor"] == "reporter" else {})
        for e in history
    ]
    out["allowed"] = [t for t in TRANSITIONS[inc["status"]] if "reporter" in WHO.get(t, ())]
    return out


def staff_view(
    inc: dict[str, Any],
    history: list[dict[str, Any]],
    reporter: dict[str, Any] | None = None,
    allowed: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    """The whole record, for staff in scope: with ``reporter`` (name and phone) only when
    the caller read them (see :func:`geo.incidents.reading.read_incident`); ``allowed``: the
    transitions the caller may make (:func:`geo.incidents.detail.allowed_for`; without it,
    every transition of the state machine)."""
    out = {k: v for k, v in inc.items() if not k.startswith("_")}
    out["history"] = history
    out["allowed"] = (
        allowed
        if allowed is not None
        else [{"to": t, "name": INCIDENT_STATUSES[t][0]} for t in TRANSITIONS[inc["status"]]]
    )
    if reporter is not None:
        out["reporter"] = reporter
    return out


def _role_of(actor: str) -> str:
    """The role in an event's actor (``dispatcher:张三`` → ``dispatcher``); a public reporter
    is the ``reporter``."""
    role = actor.split(":", 1)[0]
    return "reporter" if role == "public" else role
