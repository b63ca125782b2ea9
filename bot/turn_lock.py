"""What the Redis lock store (bot/lock_store.py) tells the SQL tracker store
(bot/tracker_store.py) about the conversation whose lock the current task
holds: the highest stored event id its last holder published.

Why: the SQL store checked its cached tracker against PostgreSQL at every
retrieval and again in every save (the conversation's highest event id),
two queries and a thread hand-off per turn, because another worker may have
written the conversation since. Whoever holds a conversation's lock is its
only writer, so the last holder can say what it left: at its cleanup it
publishes the highest event id it stored (in Redis, in the same script that
returns its ticket), and the next holder takes that value off Redis when its
turn comes (in the script that serves its ticket). A worker whose cached
tracker carries that id needs no query to know the cache is current.

Rules that keep it safe:
- the value is taken off Redis when a turn starts, so a holder that dies
  before its cleanup leaves nothing, and the next turn queries as before;
- a holder publishes only what it knows: the id its last save returned, or
  the one it was given if it saved nothing; a save that failed leaves
  nothing to publish; a holder whose ticket expired publishes nothing and
  removes any value;
- a save outside any held lock (Rasa's ``/predict`` API route saves without
  one) removes the value of that conversation first, through every lock
  store of the process (``forget``);
- the value names the database too (the tracker store's token), so two
  stacks sharing Redis and a lock key prefix (Rasa falls back to ``lock:``
  for a prefix that is not alphanumeric) never trust each other's ids.
Limit: like Rasa's lock itself, it holds while a turn takes less than the
lock's lifetime (``TICKET_LOCK_LIFETIME``, 60 s); past it, two turns may run
at once anyway.
"""
from __future__ import annotations

import weakref
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Optional, Text


@dataclass
class Held:
    """The lock of ``conversation_id`` held by the current task."""

    conversation_id: Text
    # what is stored as of now, when known (published by the last holder or saved by this one):
    # the tracker store's own token (its database and the highest event id), opaque here
    stored: Optional[str] = None
    # False once the lock is returned (a task started inside it must not rely on it)
    active: bool = True


HELD: "ContextVar[Optional[Held]]" = ContextVar("bot_turn_lock_held", default=None)
_STORES: "weakref.WeakSet[Any]" = weakref.WeakSet()


def held(conversation_id: Text) -> Optional[Held]:
    """The current task's hold on ``conversation_id``'s lock, if any."""
    found = HELD.get()
    if found is None or not found.active or found.conversation_id != conversation_id:
        return None
    return found


def register(store: Any) -> None:
    """A lock store whose ``forget(conversation_id)`` removes a published value."""
    _STORES.add(store)


async def forget(conversation_id: Text) -> None:
    """Remove what any lock store of this process published for ``conversation_id``."""
    for store in list(_STORES):
        await store.forget(conversation_id)


def parse(value: Any) -> Optional[str]:
    """A published value (bytes from Redis) as text; None if absent or empty."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    return value or None
