"""How an incident ended (结果): recorded when staff close it, so that "closed" never hides
an unsolved problem — solved (已解决), not solved (未解决) or referred elsewhere (已转交,
with where to).

Which transitions take one:

* ``closed`` — required from staff (400 naming it when missing). The reporter's own close is
  its confirmation that the problem is solved: ``solved`` (another outcome from the reporter
  is refused; it reopens instead).
* ``rejected`` — a staff decision that ends the incident too: optional, ``not_solved`` when
  none is given (``referred`` with where to, when it belongs to another body); ``solved`` is
  refused (a rejected incident was not solved).
* ``duplicate`` — none: the incident it duplicates carries the outcome.
* ``reopened`` clears the outcome (the incident is open again); other transitions take none.
"""

from __future__ import annotations

from geo.errors import InputError
from geo.store.models.vocabularies import INCIDENT_OUTCOMES

__all__ = ["ENDING", "checked_outcome", "outcome_name"]

# the transitions that end an incident and record (or default) an outcome
ENDING = ("closed", "rejected")
REFERRED_TO_MAX = 200


def outcome_name(outcome: str | None) -> str | None:
    """The Chinese name of an outcome (None: none recorded)."""
    return INCIDENT_OUTCOMES[outcome][0] if outcome in INCIDENT_OUTCOMES else None


def _known(outcome: str) -> str:
    if outcome not in INCIDENT_OUTCOMES:
        names = ", ".join(f"{k} ({v[0]})" for k, v in INCIDENT_OUTCOMES.items())
        raise InputError(f"未知结果 (unknown outcome) {outcome!r}; 可选 (one of): {names}")
    return outcome


def checked_outcome(
    to: str, actor: str, outcome: str | None, referred_to: str | None
) -> tuple[str | None, str | None]:
    """The outcome and the place referred to to store with a transition to ``to`` by
    ``actor`` (``reporter`` or ``role:name``); InputError naming what is wrong or missing."""
    outcome = outcome.strip() if isinstance(outcome, str) and outcome.strip() else None
    where = referred_to.strip() if isinstance(referred_to, str) and referred_to.strip() else None
    if outcome is not None:
        _known(outcome)
    if to not in ENDING:
        if outcome is not None or where is not None:
            raise InputError(
                f"只有关闭或不予受理时记录结果 (an outcome is recorded only on closed or "
                f"rejected, not on {to}): outcome={outcome!r}"
            )
        return None, None
    if actor == "reporter":
        if outcome not in (None, "solved") or where is not None:
            raise InputError(
                f"上报人确认即为已解决；未解决请重新打开 (the reporter's close confirms it is "
                f"solved; reopen it instead): outcome={outcome!r}"
            )
        return "solved", None
    if outcome is None:
        if to == "closed":
            raise InputError(
                "关闭需要结果 outcome (closing needs an outcome): solved (已解决), not_solved "
                "(未解决) 或 (or) referred (已转交, 并填写 referred_to)",
                detail={"missing": "outcome", "outcomes": list(INCIDENT_OUTCOMES)},
            )
        outcome = "not_solved"
    if to == "rejected" and outcome == "solved":
        raise InputError("不予受理的事件不是已解决 (a rejected incident was not solved)")
    return outcome, _where(outcome, where)


def _where(outcome: str, where: str | None) -> str | None:
    """Where a referred incident went: required with ``referred``, refused otherwise."""
    if outcome == "referred":
        if where is None:
            raise InputError(
                "已转交需要填写转交去向 referred_to (referred needs referred_to: where to)",
                detail={"missing": "referred_to"},
            )
        if len(where) > REFERRED_TO_MAX:
            raise InputError(
                f"转交去向过长 (referred_to too long): {len(where)} > {REFERRED_TO_MAX}"
            )
        return where
    if where is not None:
        raise InputError(
            f"只有已转交时填写 referred_to (referred_to only with outcome referred): {where!r}"
        )
    return None
