"""The agent queue as customers and agents see it: positions, wait estimates,
and the ``queue`` frame (and, for agents that ask for them, its changes:
``queue_changed``).

Estimate: position × mean handling time of the latest closed handoffs
(HANDOFF_DEFAULT_HANDLING_S when none yet) ÷ connected agents (at least one).
Outside support hours the wait also counts the time until the next opening.
Limits: a rough guide for the customer, not a promise.
"""
from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

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


# Fields of a queue entry that are relative to the moment it is sent: a new
# value is no change (the console keeps the deadline it computed on arrival).
VOLATILE_FIELDS = ("respond_in_s",)


@dataclass
class QueueView:
    """What one agent socket was last sent of the queue: the order and each
    entry's comparable form."""

    order: List[str] = field(default_factory=list)
    entries: Dict[str, str] = field(default_factory=dict)


def _comparable(entry: Dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in entry.items() if k not in VOLATILE_FIELDS}, sort_keys=True, default=str)


def view_of(entries: Sequence[Dict[str, Any]]) -> QueueView:
    return QueueView([e["conversation_id"] for e in entries], {e["conversation_id"]: _comparable(e) for e in entries})


def queue_changes(view: QueueView, entries: Sequence[Dict[str, Any]],
                  new: Optional[QueueView] = None) -> Tuple[Optional[Dict[str, Any]], QueueView]:
    """The ``queue_changed`` frame that turns what ``view`` showed into
    ``entries`` (None when nothing changed), and the new view.

    ``added`` and ``updated`` hold whole entries (appended in queue order),
    ``removed`` the ids that left; ``order`` (every id, in queue order) only
    when applying those does not already give the queue's order. ``new``:
    ``view_of(entries)`` when the caller has it (one broadcast diffs the same
    entries for every agent socket: each entry is serialised once, not once
    per socket). Limits: O(queue) per call; the saving is in what goes over
    the wire and what the console redraws, not in reading the queue.
    """
    new = new if new is not None else view_of(entries)
    removed = [cid for cid in view.order if cid not in new.entries]
    added = [e for e in entries if e["conversation_id"] not in view.entries]
    updated = [e for e in entries if e["conversation_id"] in view.entries
               and view.entries[e["conversation_id"]] != new.entries[e["conversation_id"]]]
    if not (removed or added or updated) and view.order == new.order:
        return None, new
    implied = [cid for cid in view.order if cid in new.entries] + [e["conversation_id"] for e in added]
    frame: Dict[str, Any] = {"type": "queue_changed", "added": added, "updated": updated, "removed": removed}
    if implied != new.order:
        frame["order"] = new.order
    return frame, new
