"""Open311 GeoReport v2: the registered client apps (their keys as SHA-256 digests only,
optionally acting as a staff user) and what an Open311 report carries beyond an incident
(the app that filed it, its lookup token, media URL, device and account ids, attributes)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, ForeignKey, Integer, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from geo.store.models.base import Base, now

__all__ = ["Open311App", "Open311Request"]


class Open311App(Base):
    """A registered Open311 client (``wangge apps add``): its ``api_key`` is shown once and
    only its SHA-256 kept; linked to a staff user, it acts in that user's role and scope."""

    __tablename__ = "open311_app"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    key_prefix: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    created_at: Mapped[datetime] = now()
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Open311Request(Base):
    """What an Open311 ``POST requests`` carried beyond the incident: the app (none: a
    keyless client), the lookup ``token`` of ``GET tokens/{token}`` (not a secret: it names
    the incident's code, which is public), ``media_url`` (text, never fetched), the
    device and account ids (reporter data: staff only) and the attribute values."""

    __tablename__ = "open311_request"
    incident_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("incident.id", ondelete="CASCADE"), primary_key=True
    )
    app_id: Mapped[int | None] = mapped_column(ForeignKey("open311_app.id"), index=True)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    media_url: Mapped[str | None] = mapped_column(Text)
    device_id: Mapped[str | None] = mapped_column(String(100))
    account_id: Mapped[str | None] = mapped_column(String(100))
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
