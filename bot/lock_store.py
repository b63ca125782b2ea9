"""Rasa's RedisLockStore with each change of a ticket lock done by one Lua
script in Redis (atomic, one round trip), on redis-py's asyncio client.

Why: Rasa 3.6's RedisLockStore keeps a conversation's ticket lock as one
JSON value and issues a ticket by reading it, adding the ticket and writing it
back. Two Rasa workers doing that at once for one conversation can both read
the same value, so one ticket is lost and two messages are processed at once
(tests/e2e/test_rasa_workers.py lost messages so). A guard lock around
Rasa's read-modify-write fixed that with four to six Redis calls per change,
each in a thread (bot/offload.py); the thread hand-offs and redis-py's
synchronous calls cost about a millisecond of a worker's CPU per turn
(py-spy, docs/benchmarks.md). Here a Lua script does each read-modify-write
inside Redis, which runs one script at a time: a ticket's issue is one call,
its cleanup one call, and they are awaited on the event loop (no thread).

The value keeps Rasa's format (``TicketLock.dumps``: the tickets as JSON
strings inside the JSON object), so Rasa's ``get_lock`` reads it and the
expiry rule is Rasa's: a ticket whose ``expires`` (the client's clock, as
Rasa's) has passed is dropped at every change.

A ticket served at once (nobody before it, the usual case) needs no further
call before the cleanup; one behind others polls the lock as Rasa does
(``wait_time_in_seconds`` apart), dropping expired tickets between polls.

Limits: every Redis call times out after the endpoint's ``socket_timeout``
(Rasa's default, 10 s; connecting too). The asyncio client is made per
process and event loop on first use (Sanic forks its workers after the store
is built). A turn cancelled while its ticket is being issued has its ticket
cleaned up when the issue ends. Named in endpoints.yml through
``RASA_LOCK_STORE=redis`` (bot/settings.py).
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from contextlib import asynccontextmanager
from typing import Any, AsyncGenerator, Dict, List, Text, Tuple

from rasa.core.lock_store import LOCK_LIFETIME, LockError, RedisLockStore, TicketLock
from rasa.utils.endpoints import EndpointConfig

logger = logging.getLogger(__name__)

# Shared by the scripts: the lock's live tickets (JSON strings) and writing
# them back in Rasa's format (an empty list as [], which cjson cannot say).
_LUA_COMMON = """
local function live_tickets(raw, now)
  local kept = {}
  if raw then
    for _, text in ipairs(cjson.decode(raw).tickets or {}) do
      local ticket = cjson.decode(text)
      if ticket.expires >= now then kept[#kept + 1] = {ticket.number, text} end
    end
  end
  return kept
end
local function write(key, conversation_id, tickets)
  local texts = {}
  for i, t in ipairs(tickets) do texts[i] = cjson.encode(t[2]) end
  redis.call('SET', key, '{"conversation_id": ' .. cjson.encode(conversation_id) ..
             ', "tickets": [' .. table.concat(texts, ', ') .. ']}')
end
"""
# KEYS[1] lock; ARGV conversation id, now, lifetime -> {ticket, number served now}
ISSUE_LUA = _LUA_COMMON + """
local now = tonumber(ARGV[2])
local tickets = live_tickets(redis.call('GET', KEYS[1]), now)
local number = 0
if #tickets > 0 then number = tickets[#tickets][1] + 1 end
local expires = now + tonumber(ARGV[3])
tickets[#tickets + 1] = {number, '{"number": ' .. number .. ', "expires": ' .. string.format('%.6f', expires) .. '}'}
write(KEYS[1], ARGV[1], tickets)
return {number, tickets[1][1]}
"""
# KEYS[1] lock; ARGV conversation id, now, ticket -> tickets left (deleted when none)
CLEANUP_LUA = _LUA_COMMON + """
local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
local kept = {}
for _, t in ipairs(live_tickets(raw, tonumber(ARGV[2]))) do
  if t[1] ~= tonumber(ARGV[3]) then kept[#kept + 1] = t end
end
if #kept == 0 then redis.call('DEL', KEYS[1]) else write(KEYS[1], ARGV[1], kept) end
return #kept
"""
# KEYS[1] lock; ARGV conversation id, now -> number served now, or -1 without a lock
EXPIRE_LUA = _LUA_COMMON + """
local raw = redis.call('GET', KEYS[1])
if not raw then return -1 end
local tickets = live_tickets(raw, tonumber(ARGV[2]))
write(KEYS[1], ARGV[1], tickets)
if #tickets == 0 then return 0 end
return tickets[1][1]
"""


class AtomicRedisLockStore(RedisLockStore):
    def __init__(self, endpoint_config: EndpointConfig) -> None:
        """Rasa builds a lock store named by module path from its endpoint
        config (endpoints.yml's ``lock_store``)."""
        kwargs: Any = dict(endpoint_config.kwargs)
        super().__init__(host=endpoint_config.url or "localhost", **kwargs)
        self._connection = {k: v for k, v in self.red.connection_pool.connection_kwargs.items() if k in _ASYNC_KWARGS}
        if self.red.connection_pool.connection_class.__name__ == "SSLConnection":
            self._connection["ssl"] = True
        self._clients: Dict[Tuple[int, int], Any] = {}
        self._issue_sync = self.red.register_script(ISSUE_LUA)
        self._cleanup_sync = self.red.register_script(CLEANUP_LUA)
        self._expire_sync = self.red.register_script(EXPIRE_LUA)

    def _key(self, conversation_id: Text) -> Text:
        return self.key_prefix + conversation_id

    def _scripts(self) -> Tuple[Any, Any, Any, Any]:
        """The asyncio client of this process and loop, and its three scripts."""
        import redis.asyncio

        key = (os.getpid(), id(asyncio.get_running_loop()))
        found = self._clients.get(key)
        if found is None:
            self._clients.clear()  # another process's or a closed loop's: unusable here
            client = redis.asyncio.Redis(**self._connection)
            found = self._clients[key] = (client, client.register_script(ISSUE_LUA),
                                          client.register_script(CLEANUP_LUA), client.register_script(EXPIRE_LUA))
        return found

    # -- Rasa's synchronous API, on the same scripts ---------------------------------

    def issue_ticket(self, conversation_id: Text, lock_lifetime: float = LOCK_LIFETIME) -> int:
        try:
            ticket, _ = self._issue_sync(keys=[self._key(conversation_id)],
                                         args=[conversation_id, repr(time.time()), repr(float(lock_lifetime))])
        except Exception as exc:  # what Rasa's issue_ticket turns into a LockError
            raise LockError(f"Error while acquiring lock. Error:\n{exc}") from exc
        return int(ticket)

    def update_lock(self, conversation_id: Text) -> None:
        """Rasa's removal of expired tickets."""
        self._expire_sync(keys=[self._key(conversation_id)], args=[conversation_id, repr(time.time())])

    def cleanup(self, conversation_id: Text, ticket_number: int) -> None:
        """Rasa's ``finish_serving`` then delete-if-nobody-waits."""
        self._cleanup_sync(keys=[self._key(conversation_id)],
                           args=[conversation_id, repr(time.time()), str(ticket_number)])

    # -- on the event loop ------------------------------------------------------------

    async def _issue(self, conversation_id: Text, lock_lifetime: float) -> Tuple[int, bool]:
        """A new ticket, and whether it is the one served now."""
        _, issue, _, _ = self._scripts()
        try:
            ticket, serving = await issue(keys=[self._key(conversation_id)],
                                          args=[conversation_id, repr(time.time()), repr(float(lock_lifetime))])
        except Exception as exc:  # what Rasa's issue_ticket turns into a LockError
            raise LockError(f"Error while acquiring lock. Error:\n{exc}") from exc
        return int(ticket), int(serving) == int(ticket)

    async def _cleanup(self, conversation_id: Text, ticket: int) -> None:
        _, _, cleanup, _ = self._scripts()
        await cleanup(keys=[self._key(conversation_id)], args=[conversation_id, repr(time.time()), str(ticket)])

    @asynccontextmanager
    async def lock(self, conversation_id: Text, lock_lifetime: float = LOCK_LIFETIME,
                   wait_time_in_seconds: float = 1) -> AsyncGenerator[TicketLock, None]:
        """Rasa's ``LockStore.lock``: one's ticket, one's turn, the cleanup."""
        issuing = asyncio.ensure_future(self._issue(conversation_id, lock_lifetime))
        try:
            ticket, served = await asyncio.shield(issuing)
        except asyncio.CancelledError:
            issuing.add_done_callback(lambda done: self._cleanup_later(conversation_id, done))
            raise
        try:
            if served:
                yield TicketLock(conversation_id)
            else:
                yield await self._acquire_lock(conversation_id, ticket, wait_time_in_seconds)
        finally:
            await asyncio.shield(self._cleanup(conversation_id, ticket))

    def _cleanup_later(self, conversation_id: Text, issued: "asyncio.Future[Tuple[int, bool]]") -> None:
        if issued.cancelled() or issued.exception() is not None:
            return
        asyncio.ensure_future(self._cleanup(conversation_id, issued.result()[0]))

    async def _acquire_lock(self, conversation_id: Text, ticket: int, wait_time_in_seconds: float) -> TicketLock:
        """Rasa's wait for the ticket's turn: a look at the lock, then expired
        tickets dropped, every ``wait_time_in_seconds``."""
        client, _, _, expire = self._scripts()
        while True:
            raw = await client.get(self._key(conversation_id))
            if not raw:
                break
            lock = TicketLock.from_dict(json.loads(raw))
            if not lock.is_locked(ticket):
                return lock
            logger.debug("Conversation %s: %d item(s) before ticket %d, retrying in %s s", conversation_id,
                         ticket - (lock.now_serving or 0), ticket, wait_time_in_seconds)
            await asyncio.sleep(wait_time_in_seconds)
            await expire(keys=[self._key(conversation_id)], args=[conversation_id, repr(time.time())])
        raise LockError(f"Could not acquire lock for conversation_id '{conversation_id}'.")


# redis-py's synchronous connection settings the asyncio client takes too.
_ASYNC_KWARGS: List[str] = ["host", "port", "db", "username", "password", "socket_timeout", "socket_connect_timeout",
                            "socket_keepalive", "encoding", "encoding_errors", "decode_responses", "client_name",
                            "ssl_keyfile", "ssl_certfile", "ssl_cert_reqs", "ssl_ca_certs"]
