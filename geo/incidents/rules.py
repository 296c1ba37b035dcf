"""The rules of the closed loop: the state machine, the tier each status waits on, who may
make each transition, the deadlines by category, and the service's clock."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from geo.settings import get_settings

__all__ = [
    "AUDIENCES",
    "NEXT_TIER",
    "OPEN",
    "STAFF_ROLES",
    "TIER",
    "TRANSITIONS",
    "TZ",
    "WHO",
    "clock",
    "deadlines",
]

TZ = ZoneInfo("Asia/Shanghai")

TRANSITIONS: dict[str, tuple[str, ...]] = {
    "reported": ("accepted", "rejected", "duplicate", "street_handling"),
    "accepted": ("street_handling", "resolved", "rejected", "duplicate"),
    "street_handling": ("department_handling", "resolved"),
    "department_handling": ("resolved",),
    "resolved": ("closed", "reopened"),
    "reopened": ("accepted", "street_handling"),
    "closed": (),
    "rejected": (),
    "duplicate": (),
}
OPEN = ("reported", "accepted", "street_handling", "department_handling", "reopened")
# the tier each status waits on, and its deadline column
TIER = {
    "reported": "accept_due",
    "reopened": "accept_due",
    "accepted": "handle_due",
    "street_handling": "handle_due",
    "department_handling": "resolve_due",
}
NEXT_TIER = {
    "reported": "street_handling",
    "reopened": "street_handling",
    "accepted": "street_handling",
    "street_handling": "department_handling",
}
# which roles may make each transition (the grid: worker; the street: dispatcher)
WHO = {
    "accepted": ("worker", "dispatcher"),
    "rejected": ("worker", "dispatcher"),
    "duplicate": ("worker", "dispatcher"),
    "street_handling": ("worker", "dispatcher"),
    "department_handling": ("dispatcher",),
    "resolved": ("worker", "dispatcher"),
    "closed": ("worker", "dispatcher", "reporter"),
    "reopened": ("worker", "dispatcher", "reporter"),
}
AUDIENCES = ("public", "reporter", "staff")
STAFF_ROLES = ("worker", "dispatcher")  # and admin: the roles that see incidents in scope


def clock() -> datetime:
    """The service's clock: the server's, or ``WANGGE_TEST_CLOCK`` in tests."""
    fixed = get_settings().test_clock
    return fixed.astimezone(TZ) if fixed is not None else datetime.now(TZ)


def deadlines(category: str, start: datetime) -> dict[str, datetime]:
    """Due times of the three tiers for a category, counted from ``start``."""
    table = get_settings().incident_deadlines
    g, s, d = table.get(category, table.get("default", (2.0, 24.0, 72.0)))
    return {
        "accept_due": start + timedelta(hours=g),
        "handle_due": start + timedelta(hours=g + s),
        "resolve_due": start + timedelta(hours=g + s + d),
    }
