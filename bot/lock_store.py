"""Rasa's RedisLockStore with its tickets issued and returned atomically.

Why: Rasa 3.6's RedisLockStore keeps a conversation's ticket lock as one
JSON value and issues a ticket by reading it, adding the ticket and writing it
back. Two Rasa workers doing that at once for one conversation can both read
the same value, so one ticket is lost and two messages are processed at once
(tests/e2e/test_rasa_workers.py lost messages so). Here each read-modify-write
of the ticket lock (``issue_ticket``, ``cleanup``, ``update_lock``) holds a short Redis lock of
that conversation (redis-py's ``Lock``: SET NX with an expiry, released only
by its holder), so it is atomic across processes; the waiting for one's turn
is Rasa's own.

Its Redis calls run in threads (bot/offload.py), off the worker's event loop:
the ticket's issue (guard, read, write, guard's release: one thread call, so
redis-py's thread-local guard token stays in its thread), each look at the
lock while waiting, and the cleanup. A ticket served at once (nobody before
it, the usual case) needs no read of the lock after its issue. The cleanup reads the lock once and
either deletes it (nobody waits) or writes it back (Rasa's: read, write,
read again, delete), under the guard.

Limits: a guard not released (a worker killed inside the few Redis calls it
covers) expires after ``GUARD_S``; its ticket lock expires as Rasa's does.
A turn cancelled while its ticket is being issued has its ticket cleaned up
when the issue ends. Every Redis call times out after the endpoint's
``socket_timeout`` (Rasa's default, 10 s; connecting too).
Named in endpoints.yml through ``RASA_LOCK_STORE=redis`` (bot/settings.py).
"""
from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager
from typing import Any, AsyncGenerator, Optional, Text, Tuple

from rasa.core.lock_store import LOCK_LIFETIME, LockError, RedisLockStore, TicketLock
from rasa.utils.endpoints import EndpointConfig

from bot.offload import Offloader

logger = logging.getLogger(__name__)

GUARD_S = 5.0  # the longest a guard may be held (a few Redis round trips)


class AtomicRedisLockStore(RedisLockStore):
    def __init__(self, endpoint_config: EndpointConfig) -> None:
        """Rasa builds a lock store named by module path from its endpoint
        config (endpoints.yml's ``lock_store``)."""
        kwargs: Any = dict(endpoint_config.kwargs)
        super().__init__(host=endpoint_config.url or "localhost", **kwargs)
        self._threads = Offloader("redis-lock-store")

    def _guard(self, conversation_id: Text) -> Any:
        return self.red.lock(f"{self.key_prefix}guard:{conversation_id}", timeout=GUARD_S,
                             blocking_timeout=GUARD_S)

    def issue_ticket(self, conversation_id: Text, lock_lifetime: float = LOCK_LIFETIME) -> int:
        with self._guard(conversation_id):
            return super().issue_ticket(conversation_id, lock_lifetime)

    def _issue(self, conversation_id: Text, lock_lifetime: float) -> Tuple[int, Optional[TicketLock]]:
        """A new ticket, and the lock if that ticket is the one served now
        (then the wait for one's turn needs no further read)."""
        with self._guard(conversation_id):
            try:
                lock = self.get_or_create_lock(conversation_id)
                ticket = lock.issue_ticket(lock_lifetime)
                self.save_lock(lock)
            except Exception as exc:  # what Rasa's issue_ticket turns into a LockError
                raise LockError(f"Error while acquiring lock. Error:\n{exc}") from exc
            return ticket, (None if lock.is_locked(ticket) else lock)

    def update_lock(self, conversation_id: Text) -> None:
        """Rasa's removal of expired tickets (a read-modify-write, so guarded too)."""
        with self._guard(conversation_id):
            super().update_lock(conversation_id)

    def cleanup(self, conversation_id: Text, ticket_number: int) -> None:
        """Rasa's ``finish_serving`` then delete-if-nobody-waits, with one read."""
        with self._guard(conversation_id):
            lock = self.get_lock(conversation_id)
            if lock is None:
                return
            lock.remove_ticket_for(ticket_number)
            if lock.is_someone_waiting():
                self.save_lock(lock)
            else:
                self.delete_lock(conversation_id)

    @asynccontextmanager
    async def lock(self, conversation_id: Text, lock_lifetime: float = LOCK_LIFETIME,
                   wait_time_in_seconds: float = 1) -> AsyncGenerator[TicketLock, None]:
        """Rasa's ``LockStore.lock`` with its Redis calls in threads."""
        issuing = asyncio.ensure_future(self._threads.run(self._issue, conversation_id, lock_lifetime))
        try:
            ticket, served = await asyncio.shield(issuing)
        except asyncio.CancelledError:
            issuing.add_done_callback(lambda done: self._cleanup_later(conversation_id, done))
            raise
        try:
            yield served or await self._acquire_lock(conversation_id, ticket, wait_time_in_seconds)
        finally:
            await self._threads.run(self.cleanup, conversation_id, ticket)

    def _cleanup_later(self, conversation_id: Text, issued: "asyncio.Future[Tuple[int, Optional[TicketLock]]]") -> None:
        if issued.cancelled() or issued.exception() is not None:
            return
        asyncio.ensure_future(self._threads.run(self.cleanup, conversation_id, issued.result()[0]))

    async def _acquire_lock(self, conversation_id: Text, ticket: int, wait_time_in_seconds: float) -> TicketLock:
        """Rasa's wait for the ticket's turn, each look at the lock in a thread."""
        while True:
            lock: Optional[TicketLock] = await self._threads.run(self.get_lock, conversation_id)
            if not lock:
                break
            if not lock.is_locked(ticket):
                return lock
            logger.debug("Conversation %s: %d item(s) before ticket %d, retrying in %s s", conversation_id,
                         ticket - (lock.now_serving or 0), ticket, wait_time_in_seconds)
            await asyncio.sleep(wait_time_in_seconds)
            await self._threads.run(self.update_lock, conversation_id)
        raise LockError(f"Could not acquire lock for conversation_id '{conversation_id}'.")
