"""The service's own records: API users and their browser sessions, the sign-in attempts
(throttle), the audit log, background jobs and idempotency keys."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from geo.store.models.base import Base, now, one_of
from geo.store.models.vocabularies import ROLES

__all__ = ["AppUser", "AuditLog", "IdempotencyKey", "Job", "LoginAttempt", "UserSession"]


class IdempotencyKey(Base):
    """A client's Idempotency-Key and the answer given to it, so a retried request is answered
    again instead of being carried out twice (kept 24 hours)."""

    __tablename__ = "idempotency_key"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    scope: Mapped[str] = mapped_column(String(32))
    # whose key: a user ("user:ID") or, for the public, a client address ("addr:IP")
    client: Mapped[str] = mapped_column(String(200), server_default="")
    key: Mapped[str] = mapped_column(String(200))
    request_hash: Mapped[str] = mapped_column(String(64))
    response: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    created_at: Mapped[datetime] = now()
    __table_args__ = (
        UniqueConstraint("scope", "client", "key", name="uq_idempotency_key_scope_client_key"),
        Index("ix_idempotency_key_scope_created_at", "scope", "created_at"),
    )


class Job(Base):
    """A background job (bulk assignment) started through the API: kept in the database so
    that every API process can report on it, whichever started it."""

    __tablename__ = "job"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    community: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    progress: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    error: Mapped[str | None] = mapped_column(String(2000))
    started_by: Mapped[str] = mapped_column(String(100))
    # the user who started it: the only one, with admins, who may read it (NULL: jobs from
    # before 0011, admins only)
    started_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("app_user.id", ondelete="SET NULL")
    )
    worker: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = now()
    updated_at: Mapped[datetime] = now()
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    __table_args__ = (
        CheckConstraint("status IN ('queued', 'running', 'done', 'failed')", name="status_known"),
        # one queued or running job per kind, across every API process
        Index(
            "uq_job_kind_active",
            "kind",
            unique=True,
            postgresql_where=text("status IN ('queued', 'running')"),
        ),
    )


class AuditLog(Base):
    """Who did what, when: every plan edit, import and incident transition."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    at: Mapped[datetime] = now()
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(64))
    entity: Mapped[str] = mapped_column(String(64))
    entity_id: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    __table_args__ = (Index("ix_audit_log_entity", "entity", "entity_id"),)


class AppUser(Base):
    """An API user. Only the SHA-256 of the bearer token is stored. The token is refused
    after ``expires_at``; ``last_used_at`` is written at most once a minute. Names are unique
    (they sign in with them); ``password_hash`` is an argon2id hash (NULL: token only)."""

    __tablename__ = "app_user"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(200))
    password_changed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    role: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    token_prefix: Mapped[str] = mapped_column(String(16))
    grid_code: Mapped[str | None] = mapped_column(String(64))
    street_code: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = now()
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    __table_args__ = (CheckConstraint(one_of("role", ROLES), name="role_known"),)


class UserSession(Base):
    """A signed-in browser: only the SHA-256 of the session id (the cookie) is stored. Valid
    until ``expires_at`` (absolute) and while ``last_seen_at`` is within the idle limit
    (``WANGGE_SESSION_IDLE_MINUTES``); ``revoked_at`` ends it at once (logout, password
    change)."""

    __tablename__ = "user_session"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    id_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), index=True)
    address: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = now()
    last_seen_at: Mapped[datetime] = now()
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class LoginAttempt(Base):
    """A failed sign-in (a wrong name or password), by client address and the name tried:
    the throttle counts these, in the database so that every API process sees them. Kept a
    day."""

    __tablename__ = "login_attempt"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    at: Mapped[datetime] = now()
    address: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(100))
    __table_args__ = (
        Index("ix_login_attempt_address_at", "address", "at"),
        Index("ix_login_attempt_name_address_at", "name", "address", "at"),
    )
