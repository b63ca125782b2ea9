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
(py-spy, 2026-12-06). Here a Lua script does each read-modify-write
inside Redis, which runs one script at a time: a ticket's issue is one call,
its cleanup one call, and they are awaited on the event loop (no thread).

The value keeps Rasa's format (``TicketLock.dumps``: the tickets as JSON
strings inside the JSON object), so Rasa's ``get_lock`` reads it and the
expiry rule is Rasa's: a ticket whose ``expires`` (the client's clock, as
Rasa's) has passed is dropped at every change.

A ticket served at once (nobody before it, the usual case) needs no further
call before the cleanup; one behind others polls the lock as Rasa does
(``wait_time_in_seconds`` apart), dropping expired tickets between polls.
The same scripts carry the conversation's highest stored event id from one
holder to the next (bot/turn_lock.py: why, and the rules that keep it safe).

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
from typing import Any, AsyncGenerator, Dict, List, NamedTuple, Optional, Text, Tuple

from rasa.core.lock_store import DEFAULT_REDIS_LOCK_STORE_KEY_PREFIX, LOCK_LIFETIME, LockError, RedisLockStore, TicketLock
from rasa.utils.endpoints import EndpointConfig

from bot import turn_lock

logger = logging.getLogger(__name__)

PUBLISHED_S = 86_400  # how long a published event id stays (then the next turn queries PostgreSQL)

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
# KEYS[1] lock, KEYS[2] published id; ARGV conversation id, now, lifetime
# -> {ticket, number served now, the published id taken off if served now, else ""}
ISSUE_LUA = _LUA_COMMON + """
local now = tonumber(ARGV[2])
local tickets = live_tickets(redis.call('GET', KEYS[1]), now)
local number = 0
if #tickets > 0 then number = tickets[#tickets][1] + 1 end
local expires = now + tonumber(ARGV[3])
tickets[#tickets + 1] = {number, '{"number": ' .. number .. ', "expires": ' .. string.format('%.6f', expires) .. '}'}
write(KEYS[1], ARGV[1], tickets)
local published = ''
if tickets[1][1] == number then
  published = redis.call('GET', KEYS[2]) or ''
  redis.call('DEL', KEYS[2])
end
return {number, tickets[1][1], published}
"""
# KEYS[1] lock, KEYS[2] published id; ARGV conversation id, now, ticket, id to publish ("": none), its lifetime
# -> tickets left (the lock deleted when none). Only the ticket being served publishes.
CLEANUP_LUA = _LUA_COMMON + """
local raw = redis.call('GET', KEYS[1])
local live = live_tickets(raw, tonumber(ARGV[2]))
local ticket = tonumber(ARGV[3])
if #live > 0 and live[1][1] == ticket and ARGV[4] ~= '' then
  redis.call('SET', KEYS[2], ARGV[4], 'EX', ARGV[5])
else
  redis.call('DEL', KEYS[2])
end
if not raw then return 0 end
local kept = {}
for _, t in ipairs(live) do
  if t[1] ~= ticket then kept[#kept + 1] = t end
end
if #kept == 0 then redis.call('DEL', KEYS[1]) else write(KEYS[1], ARGV[1], kept) end
return #kept
"""
# KEYS[1] published id -> it, taken off (a ticket served after waiting)
TAKE_LUA = """
local published = redis.call('GET', KEYS[1])
redis.call('DEL', KEYS[1])
return published
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


class _Client(NamedTuple):
    """The asyncio client of one process and loop, with the scripts registered on it."""

    redis: Any
    issue: Any
    cleanup: Any
    expire: Any
    take: Any


class AtomicRedisLockStore(RedisLockStore):
    def __init__(self, endpoint_config: EndpointConfig) -> None:
        """Rasa builds a lock store named by module path from its endpoint
        config (endpoints.yml's ``lock_store``)."""
        kwargs: Any = dict(endpoint_config.kwargs)
        super().__init__(host=endpoint_config.url or "localhost", **kwargs)
        self._connection = {k: v for k, v in self.red.connection_pool.connection_kwargs.items() if k in _ASYNC_KWARGS}
        if self.red.connection_pool.connection_class.__name__ == "SSLConnection":
            self._connection["ssl"] = True
        self._clients: Dict[Tuple[int, int], _Client] = {}
        self._issue_sync = self.red.register_script(ISSUE_LUA)
        self._cleanup_sync = self.red.register_script(CLEANUP_LUA)
        self._expire_sync = self.red.register_script(EXPIRE_LUA)
        turn_lock.register(self)

    def _key(self, conversation_id: Text) -> Text:
        return self.key_prefix + conversation_id

    def _published_key(self, conversation_id: Text) -> Text:
        """Where the last holder's highest stored event id waits (bot/turn_lock.py);
        next to the lock's key, never one a conversation id can make."""
        base = self.key_prefix[:-len(DEFAULT_REDIS_LOCK_STORE_KEY_PREFIX)]
        return f"{base}stored:{conversation_id}"

    def _keys(self, conversation_id: Text) -> List[Text]:
        return [self._key(conversation_id), self._published_key(conversation_id)]

    def _client(self) -> _Client:
        """The asyncio client of this process and loop, and its scripts."""
        import redis.asyncio

        key = (os.getpid(), id(asyncio.get_running_loop()))
        found = self._clients.get(key)
        if found is None:
            self._clients.clear()  # another process's or a closed loop's: unusable here
            client = redis.asyncio.Redis(**self._connection)
            found = self._clients[key] = _Client(client, client.register_script(ISSUE_LUA),
                                                 client.register_script(CLEANUP_LUA),
                                                 client.register_script(EXPIRE_LUA), client.register_script(TAKE_LUA))
        return found

    # -- Rasa's synchronous API, on the same scripts ---------------------------------

    def issue_ticket(self, conversation_id: Text, lock_lifetime: float = LOCK_LIFETIME) -> int:
        try:
            ticket, _, _ = self._issue_sync(keys=self._keys(conversation_id),
                                            args=[conversation_id, repr(time.time()), repr(float(lock_lifetime))])
        except Exception as exc:  # what Rasa's issue_ticket turns into a LockError
            raise LockError(f"Error while acquiring lock. Error:\n{exc}") from exc
        return int(ticket)

    def update_lock(self, conversation_id: Text) -> None:
        """Rasa's removal of expired tickets."""
        self._expire_sync(keys=[self._key(conversation_id)], args=[conversation_id, repr(time.time())])

    def cleanup(self, conversation_id: Text, ticket_number: int) -> None:
        """Rasa's ``finish_serving`` then delete-if-nobody-waits (publishing nothing)."""
        self._cleanup_sync(keys=self._keys(conversation_id),
                           args=[conversation_id, repr(time.time()), str(ticket_number), "", str(PUBLISHED_S)])

    # -- on the event loop ------------------------------------------------------------

    async def _issue(self, conversation_id: Text, lock_lifetime: float) -> Tuple[int, bool, Optional[str]]:
        """A new ticket, whether it is the one served now, and if so the
        token the last holder published (taken off Redis)."""
        try:
            ticket, serving, published = await self._client().issue(
                keys=self._keys(conversation_id),
                args=[conversation_id, repr(time.time()), repr(float(lock_lifetime))])
        except Exception as exc:  # what Rasa's issue_ticket turns into a LockError
            raise LockError(f"Error while acquiring lock. Error:\n{exc}") from exc
        return int(ticket), int(serving) == int(ticket), turn_lock.parse(published or None)

    async def _cleanup(self, conversation_id: Text, ticket: int, publish: Optional[str] = None) -> None:
        await self._client().cleanup(keys=self._keys(conversation_id),
                                     args=[conversation_id, repr(time.time()), str(ticket),
                                           publish or "", str(PUBLISHED_S)])

    async def forget(self, conversation_id: Text) -> None:
        """Remove the published event id (a save outside the lock: bot/turn_lock.py)."""
        await self._client().redis.delete(self._published_key(conversation_id))

    @asynccontextmanager
    async def lock(self, conversation_id: Text, lock_lifetime: float = LOCK_LIFETIME,
                   wait_time_in_seconds: float = 1) -> AsyncGenerator[TicketLock, None]:
        """Rasa's ``LockStore.lock``: one's ticket, one's turn, the cleanup;
        while it is held, ``turn_lock.held(conversation_id)`` says what the
        last holder stored, and the cleanup publishes what this one did."""
        issuing = asyncio.ensure_future(self._issue(conversation_id, lock_lifetime))
        try:
            ticket, served, published = await asyncio.shield(issuing)
        except asyncio.CancelledError:
            issuing.add_done_callback(lambda done: self._cleanup_later(conversation_id, done))
            raise
        hold = turn_lock.Held(conversation_id)
        previous = turn_lock.HELD.get()
        try:
            if served:
                lock = TicketLock(conversation_id)
            else:
                lock = await self._acquire_lock(conversation_id, ticket, wait_time_in_seconds)
                published = turn_lock.parse(await self._client().take(keys=[self._published_key(conversation_id)]))
            hold.stored = published
            turn_lock.HELD.set(hold)
            yield lock
        finally:
            hold.active = False
            turn_lock.HELD.set(previous)
            await asyncio.shield(self._cleanup(conversation_id, ticket, hold.stored))

    def _cleanup_later(self, conversation_id: Text, issued: "asyncio.Future[Tuple[int, bool, Optional[str]]]") -> None:
        if issued.cancelled() or issued.exception() is not None:
            return
        asyncio.ensure_future(self._cleanup(conversation_id, issued.result()[0]))

    async def _acquire_lock(self, conversation_id: Text, ticket: int, wait_time_in_seconds: float) -> TicketLock:
        """Rasa's wait for the ticket's turn: a look at the lock, then expired
        tickets dropped, every ``wait_time_in_seconds``."""
        client = self._client()
        while True:
            raw = await client.redis.get(self._key(conversation_id))
            if not raw:
                break
            lock = TicketLock.from_dict(json.loads(raw))
            if not lock.is_locked(ticket):
                return lock
            logger.debug("Conversation %s: %d item(s) before ticket %d, retrying in %s s", conversation_id,
                         ticket - (lock.now_serving or 0), ticket, wait_time_in_seconds)
            await asyncio.sleep(wait_time_in_seconds)
            await client.expire(keys=[self._key(conversation_id)], args=[conversation_id, repr(time.time())])
        raise LockError(f"Could not acquire lock for conversation_id '{conversation_id}'.")


# redis-py's synchronous connection settings the asyncio client takes too.
_ASYNC_KWARGS: List[str] = ["host", "port", "db", "username", "password", "socket_timeout", "socket_connect_timeout",
                            "socket_keepalive", "encoding", "encoding_errors", "decode_responses", "client_name",
                            "ssl_keyfile", "ssl_certfile", "ssl_cert_reqs", "ssl_ca_certs"]
