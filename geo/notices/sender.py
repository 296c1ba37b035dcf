"""How a notice's messages leave: a :class:`Sender` takes one outbox message and delivers it
(SMS, WeChat … are out of scope). ``WANGGE_NOTICE_SENDER=log`` (the default) writes each
message to the log; ``module:attribute`` names a factory of another sender. An unknown value
fails when the app starts (:func:`get_sender` from :func:`api.app.create_app`)."""

from __future__ import annotations

import importlib
import logging
from typing import Protocol, runtime_checkable

from geo.errors import InputError
from geo.settings import get_settings

__all__ = ["LogSender", "Sender", "get_sender"]

log = logging.getLogger("wangge.notices")


@runtime_checkable
class Sender(Protocol):
    """Delivers one message; ``name`` is stored with each message it sent."""

    name: str

    def send(self, *, phone: str, worker: str, message: str) -> bool:
        """True when the message left (it is marked sent), False when it failed."""
        ...


class LogSender:
    """Writes each message to the log (``wangge.notices``), the phone masked."""

    name = "log"

    def send(self, *, phone: str, worker: str, message: str) -> bool:
        masked = "*" * max(len(phone) - 4, 0) + phone[-4:]
        log.warning("应急通知 (notice) → %s %s: %s", worker, masked, message)
        return True


def get_sender(spec: str | None = None) -> Sender:
    """The sender ``spec`` names (default: the setting): ``log`` or ``module:attribute`` (a
    class or function returning a :class:`Sender`); :class:`InputError` naming it otherwise."""
    spec = spec or get_settings().notice_sender
    if spec == "log":
        return LogSender()
    module, _, attr = spec.partition(":")
    try:
        factory = getattr(importlib.import_module(module), attr)
        sender = factory()
    except (ImportError, AttributeError, TypeError) as exc:
        raise InputError(
            f"WANGGE_NOTICE_SENDER 无法加载 (cannot load the notice sender) {spec!r}: {exc}"
        ) from None
    if not isinstance(sender, Sender):
        raise InputError(
            f"WANGGE_NOTICE_SENDER {spec!r} 不是发送器 (is not a Sender: needs name and send)"
        )
    return sender
