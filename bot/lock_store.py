"""Rasa's RedisLockStore with its tickets issued and returned atomically.

Why: Rasa 3.6's RedisLockStore keeps a conversation's ticket lock as one
JSON value and issues a ticket by reading it, adding the ticket and writing it
back. Two Rasa workers doing that at once for one conversation can both read
the same value, so one ticket is lost and two messages are processed at once
(tests/e2e/test_rasa_workers.py lost messages so). Here each read-modify-write
of the ticket lock (``issue_ticket``, ``cleanup``) holds a short Redis lock of
that conversation (redis-py's ``Lock``: SET NX with an expiry, released only
by its holder), so it is atomic across processes; the waiting for one's turn
is Rasa's own.

Limit: a guard not released (a worker killed inside the few Redis calls it
covers) expires after ``GUARD_S``; its ticket lock expires as Rasa's does.
Named in endpoints.yml through ``RASA_LOCK_STORE=redis`` (bot/settings.py).
"""
from __future__ import annotations

from typing import Any, Text

from rasa.core.lock_store import LOCK_LIFETIME, RedisLockStore
from rasa.utils.endpoints import EndpointConfig

GUARD_S = 5.0  # the longest a guard may be held (a few Redis round trips)


class AtomicRedisLockStore(RedisLockStore):
    def __init__(self, endpoint_config: EndpointConfig) -> None:
        """Rasa builds a lock store named by module path from its endpoint
        config (endpoints.yml's ``lock_store``)."""
        kwargs: Any = dict(endpoint_config.kwargs)
        super().__init__(host=endpoint_config.url or "localhost", **kwargs)

    def _guard(self, conversation_id: Text) -> Any:
        return self.red.lock(f"{self.key_prefix}guard:{conversation_id}", timeout=GUARD_S,
                             blocking_timeout=GUARD_S)

    def issue_ticket(self, conversation_id: Text, lock_lifetime: float = LOCK_LIFETIME) -> int:
        with self._guard(conversation_id):
            return super().issue_ticket(conversation_id, lock_lifetime)

    def cleanup(self, conversation_id: Text, ticket_number: int) -> None:
        with self._guard(conversation_id):
            super().cleanup(conversation_id, ticket_number)
