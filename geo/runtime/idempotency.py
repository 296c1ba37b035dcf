"""Idempotency keys: a client that retries a request (a timeout, a 503 while the database was
restarting) with the same ``Idempotency-Key`` gets the first answer again, and nothing is done
twice. The key is claimed in the same transaction as the work, so two concurrent requests with
one key wait on each other and only one does the work.

Keys belong to a client (``client``: a user, or for the public a client address): one
client's key never answers, or blocks, another client's request. What is stored of an answer
is chosen by the caller (``store``) and completed on a replay (``replay``), so that no secret
— a reporter token — is kept in the database: a replayed report gets a new token instead."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import ConflictError, InputError

__all__ = ["KEEP_HOURS", "idempotent"]

KEEP_HOURS = 24
Answer = dict[str, Any]


def idempotent(
    session: Session,
    key: str | None,
    scope: str,
    payload: dict[str, Any],
    work: Callable[[], Answer],
    *,
    client: str,
    store: Callable[[Answer], Answer] | None = None,
    replay: Callable[[Answer], Answer] | None = None,
) -> tuple[Answer, bool]:
    """(answer, replayed): ``work()``'s answer, or — when ``client`` used ``key`` before for
    the same ``payload`` — the stored one, passed through ``replay``. ``store`` picks what
    of an answer is kept (default: all of it)."""
    if key is None:
        return work(), False
    key = key.strip()
    if not key or len(key) > 200 or not key.isprintable():
        raise InputError("Idempotency-Key 应为 1–200 个可见字符 (1-200 printable characters)")
    client = client[:200]
    digest = hashlib.sha256(
        json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str).encode()
    ).hexdigest()
    # expired keys go a few at a time, through the index; rows another request is already
    # deleting are skipped rather than waited for
    session.execute(
        text(
            "DELETE FROM idempotency_key WHERE id IN (SELECT id FROM idempotency_key "
            "WHERE scope = :s AND created_at < now() - "
            f"interval '{KEEP_HOURS} hours' LIMIT 100 FOR UPDATE SKIP LOCKED)"
        ),
        {"s": scope},
    )
    mine = {"s": scope, "c": client, "k": key}
    session.execute(  # this key's own record, if expired (whatever the backlog above)
        text(
            "DELETE FROM idempotency_key WHERE scope = :s AND client = :c AND key = :k "
            f"AND created_at < now() - interval '{KEEP_HOURS} hours'"
        ),
        mine,
    )
    claimed = session.execute(
        text(
            "INSERT INTO idempotency_key (scope, client, key, request_hash) "
            "VALUES (:s, :c, :k, :h) ON CONFLICT (scope, client, key) DO NOTHING RETURNING id"
        ),
        mine | {"h": digest},
    ).scalar()
    if claimed is None:
        seen, stored = session.execute(
            text(
                "SELECT request_hash, response FROM idempotency_key "
                "WHERE scope = :s AND client = :c AND key = :k"
            ),
            mine,
        ).one()
        if seen != digest:
            raise ConflictError(
                f"Idempotency-Key {key!r} 已用于另一个请求 (was used for a different request)"
            )
        if stored is None:
            raise ConflictError(f"Idempotency-Key {key!r} 的请求仍在处理 (still in progress)")
        return (replay(stored) if replay else stored), True
    answer = work()
    session.execute(
        text("UPDATE idempotency_key SET response = CAST(:r AS jsonb) WHERE id = :i"),
        {
            "r": json.dumps(store(answer) if store else answer, ensure_ascii=False, default=str),
            "i": claimed,
        },
    )
    return answer, False
