"""The agent queue as customers and agents see it: positions, wait estimates,
and the ``queue`` frame.

Estimate: position × mean handling time of the latest closed handoffs
(HANDOFF_DEFAULT_HANDLING_S when none yet) ÷ connected agents (at least one).
Outside support hours the wait also counts the time until the next opening.
Limits: a rough guide for the customer, not a promise.
"""
from __future__ import annotations

import datetime as dt
import math
from typing import Any, Dict, List, Optional, Sequence

from handoff.storage import Conversation
from handoff.vocabulary import reason_text


def mean_handling_s(recent: Sequence[float], default_s: int) -> float:
    return sum(recent) / len(recent) if recent else float(default_s)


def estimate_wait_s(
    position: int, handling_s: float, agents_online: int,
    now: dt.datetime, next_opening: Optional[dt.datetime] = None,
) -> int:
    wait = position * handling_s / max(1, agents_online)
    if next_opening is not None and next_opening > now:
        wait += (next_opening - now).total_seconds()
    return int(math.ceil(wait))


def queue_entry(conversation: Conversation) -> Dict[str, Any]:
    """One line of the agents' queue frame (preview: the latest customer text)."""
    context = conversation.context or {}
    return {
        "conversation_id": conversation.id,
        "channel": conversation.channel,
        "waiting_since": conversation.queued_at.isoformat() if conversation.queued_at else None,
        "reason": conversation.reason,
        "reason_text": reason_text(conversation.reason or context.get("reason"), context.get("reason_text")),
        "preview": conversation.preview,
        # no preview (the shopper only pressed a button or sent a command): a readable label
        "preview_note": None if conversation.preview else context.get("preview_note"),
        "customer": context.get("customer"),
        "offline": conversation.offline,
        "contact_email": conversation.contact_email,
    }


def queue_frame(queued: List[Conversation]) -> Dict[str, Any]:
    return {"type": "queue", "conversations": [queue_entry(c) for c in queued]}
