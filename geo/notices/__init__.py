"""Emergency notices (应急通知): sending along the reach tree, acknowledgements, the live
share (:mod:`~geo.notices.core`), the outbox delivered after commit
(:mod:`~geo.notices.outbox`) and its pluggable senders (:mod:`~geo.notices.sender`)."""

from geo.notices.core import (
    FULL_MOBILISATION_H,
    acknowledge,
    list_notices,
    read_notice,
    send_notice,
)
from geo.notices.outbox import deliver, outbox_counts
from geo.notices.sender import LogSender, Sender, get_sender

__all__ = [
    "FULL_MOBILISATION_H",
    "LogSender",
    "Sender",
    "acknowledge",
    "deliver",
    "get_sender",
    "list_notices",
    "outbox_counts",
    "read_notice",
    "send_notice",
]
