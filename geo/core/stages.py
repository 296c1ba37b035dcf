"""Where the time of a piece of work goes: named stages, timed only when a caller asks.

Code marks its steps with ``with stage("search"):`` — free when nobody is timing (one context
variable read). A caller that wants the figures wraps the work in ``with timing() as t:`` and
reads ``t`` afterwards: seconds per stage name, summed over repeats. Stages nest; each counts
its own time only (an inner stage's time is taken off the outer one), so the figures add up
to the time spent inside stages. Per thread and per task (a context variable), so two
communities timed at once in two threads do not mix.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

__all__ = ["stage", "timing"]

_current: ContextVar[tuple[dict[str, float], list[float]] | None] = ContextVar(
    "wangge_stages", default=None
)


@contextmanager
def stage(name: str) -> Iterator[None]:
    """Time the block as stage ``name`` when a :func:`timing` is open; else do nothing."""
    state = _current.get()
    if state is None:
        yield
        return
    totals, inner = state
    inner.append(0.0)  # the time of the stages nested in this one
    t0 = time.perf_counter()
    try:
        yield
    finally:
        spent = time.perf_counter() - t0
        nested = inner.pop()
        totals[name] = totals.get(name, 0.0) + spent - nested
        if inner:
            inner[-1] += spent


@contextmanager
def timing() -> Iterator[dict[str, float]]:
    """Collect the stages of the block: seconds by name (filled in as the stages end)."""
    totals: dict[str, float] = {}
    token = _current.set((totals, []))
    try:
        yield totals
    finally:
        _current.reset(token)
