"""Agent accounts and their tokens, and the throttle in front of logins.

A token is ``<agent id>.<secret>``; only a salted scrypt hash of the secret is
stored, compared with ``hmac.compare_digest``. The id part lets the bridge find
the row without scanning every hash.

Each check costs one scrypt (~50-70 ms of CPU, 16 MiB), so logins go through a
``LoginThrottle`` (one per bridge, so one per process: ``Bridge.login_throttle``). It
runs scrypt in its own small thread pool and, per client address, lets at
most a couple of checks run at once (more wait, up to a few dozen from an
address without failures) and at most ``max_failures`` fail per
``window_s``; beyond that an attempt is refused at once, before any database
read or scrypt (``too_many_attempts``, close code 4429 / HTTP 429). The checks
admitted in the whole process are capped too (``busy``, close code 1013 /
HTTP 503), so a flood from many addresses cannot queue unbounded work;
addresses where an agent logged in lately, then those without failures, are
checked first and keep places of their own.
Limits: the address is the TCP peer's, so behind a reverse proxy every client
shares the proxy's address (and its budget): forwarded-for headers are not
trusted. IPv6 clients are counted by /64, since one host usually owns the
whole prefix. The counts live in this process only.
"""
from __future__ import annotations

import asyncio
import collections
import hashlib
import heapq
import hmac
import ipaddress
import itertools
import logging
import math
import os
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Deque, Dict, List, Optional, Tuple

from handoff.storage import Agent, Storage

logger = logging.getLogger(__name__)

_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}
# Threads for scrypt: half the cores (at most 4), so a flood of checks never
# takes every core from the event loop that relays the chats; one thread
# still checks ~15 tokens a second, far more than agents log in.
SCRYPT_WORKERS = max(1, min(4, (os.cpu_count() or 2) // 2))
# The throttle's defaults (LoginThrottle): failures per address per window,
# checks of one address at once, checks admitted in all.
MAX_FAILURES = 10
WINDOW_S = 60.0
PER_ADDRESS = 2
PER_ADDRESS_ADMITTED = 32
MAX_ADMITTED = 16
# An address where an agent logged in within this time is trusted (while it
# has no failure in the window): its checks go first, with places of their own.
TRUST_S = 24 * 3600.0
MAX_TRUSTED = 10_000
_DUMMY_SALT = b"0" * 16

Hasher = Callable[[str, bytes], Awaitable[bytes]]


class AgentError(Exception):
    """Agent administration failed."""


def hash_secret(secret: str, salt: bytes) -> bytes:
    return hashlib.scrypt(secret.encode("utf-8"), salt=salt, **_SCRYPT)


async def _default_hasher(secret: str, salt: bytes) -> bytes:
    return await asyncio.to_thread(hash_secret, secret, salt)


ROLES = ("agent", "supervisor")  # a supervisor also reads the reports (docs/reports.md)


async def add_agent(storage: Storage, name: str, role: str = "agent") -> Tuple[Agent, str]:
    """Create an agent (``role`` agent or supervisor); the token is returned
    once and never stored in clear."""
    name = name.strip()
    if not name or len(name) > 100:
        raise AgentError("the agent name must have 1 to 100 characters")
    if role not in ROLES:
        raise AgentError(f"the role must be one of {', '.join(ROLES)}, not {role!r}")
    agent_id = "a_" + secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    salt = secrets.token_bytes(16)
    digest = await asyncio.to_thread(hash_secret, secret, salt)
    agent = await storage.insert_agent(agent_id, name, salt, digest, role)
    return agent, f"{agent_id}.{secret}"


async def authenticate(storage: Storage, token: str, hasher: Optional[Hasher] = None) -> Optional[Agent]:
    """The agent whose token this is, or None. Unthrottled: connections go
    through ``LoginThrottle.authenticate``. ``hasher`` runs ``hash_secret``
    off the event loop (default: the loop's default executor)."""
    run = hasher or _default_hasher
    agent_id, _, secret = token.partition(".")
    if not agent_id or not secret:
        return None
    found = await storage.agent_secret(agent_id)
    if found is None:
        await run(secret, _DUMMY_SALT)  # same work: no hint about ids
        return None
    agent, salt, stored = found
    digest = await run(secret, salt)
    return agent if hmac.compare_digest(digest, stored) else None


# -- the login throttle ----------------------------------------------------------

class LoginRefused(Exception):
    """An attempt refused without checking the token. ``frame()`` goes to the
    socket before it is closed with ``close_code``; HTTP answers ``http_status``
    with ``text`` and ``Retry-After: retry_after_s``."""

    def __init__(self, code: str, detail: str, close_code: int, http_status: int, text: str,
                 retry_after_s: int) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail
        self.close_code = close_code
        self.http_status = http_status
        self.text = text
        self.retry_after_s = retry_after_s

    def frame(self) -> Dict[str, Any]:
        return {"type": "error", "code": self.code, "detail": self.detail}


TOO_MANY_FAILURES = ("too_many_attempts",
                     "Demasiados intentos de acceso fallidos. Espera un minuto y vuelve a intentarlo "
                     "(too many failed logins).", 4429, 429, "Too many failed logins; try again in a minute.\n")
TOO_MANY_AT_ONCE = ("too_many_attempts",
                    "Demasiados intentos de acceso a la vez desde tu dirección. Espera un momento y vuelve "
                    "a intentarlo (too many logins at once).", 4429, 429,
                    "Too many logins at once from this address; try again shortly.\n")
BUSY = ("busy",
        "El servidor está comprobando demasiados accesos a la vez. Vuelve a intentarlo en unos segundos "
        "(busy, try again shortly).", 1013, 503, "Too many logins being checked; try again shortly.\n")


def address_key(address: Optional[str]) -> str:
    """What the throttle counts by: the IP as text, IPv4-mapped IPv6 as IPv4,
    other IPv6 by its /64. Anything unparsable is counted as given ("" when
    unknown: all such attempts share one budget)."""
    if not address:
        return ""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


@dataclass
class _Address:
    slots: asyncio.Semaphore
    failures: Deque[float] = field(default_factory=collections.deque)
    admitted: int = 0  # checks waiting for a slot or running


class LoginThrottle:
    """Throttles token checks by client address; see the module docstring.

    Per address: ``per_address`` checks run at once, ``per_address_admitted``
    may be admitted (running or waiting), and an attempt is admitted only if
    the failures of the last ``window_s`` plus those admitted stay under
    ``max_failures`` (so at most that many fail per window). In all, on
    ``workers`` scrypt threads, at most ``max_admitted`` checks, in three
    tiers: addresses with failures may fill half of those places, addresses
    without failures three quarters, and *trusted* addresses (an agent logged
    in from there within ``trust_s``, no failure in the window) all of them. The
    checks wait in that order too, so during a flood an agent who logged in
    before waits for the running checks only, not for the flood's queue.
    A success clears its address's failures and trusts it; a refused attempt
    is not a failure (it costs nothing), so a blocked address gets one try
    again as each failure leaves the window.
    """

    def __init__(self, max_failures: int = MAX_FAILURES, window_s: float = WINDOW_S, per_address: int = PER_ADDRESS,
                 per_address_admitted: int = PER_ADDRESS_ADMITTED, max_admitted: int = MAX_ADMITTED, workers: int = SCRYPT_WORKERS,
                 trust_s: float = TRUST_S, clock: Callable[[], float] = time.monotonic) -> None:
        if min(max_failures, per_address, per_address_admitted, max_admitted, workers) < 1 or window_s <= 0:
            raise ValueError("login throttle limits must be positive")
        self.max_failures = max_failures
        self.window_s = window_s
        self.per_address = per_address
        self.per_address_admitted = per_address_admitted
        self.max_admitted = max_admitted
        self.trust_s = trust_s
        self.clock = clock
        self._trusted: "collections.OrderedDict[str, float]" = collections.OrderedDict()  # key -> last success
        self.admitted = 0
        self._addresses: Dict[str, _Address] = {}
        self._sweep_at = 1024
        self._workers = workers
        self._running = 0  # scrypts handed a thread
        self._waiting: List[Tuple[int, int, asyncio.Future]] = []  # heap: (priority, arrival, waiter)
        self._arrival = itertools.count()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="scrypt")

    @property
    def waiting(self) -> int:
        """Checks waiting for a scrypt thread."""
        return sum(1 for _, _, waiter in self._waiting if not waiter.done())

    async def scrypt(self, secret: str, salt: bytes, priority: int = 0) -> bytes:
        """``hash_secret`` on the throttle's own threads (not the loop's
        default executor, which other work shares), lowest ``priority`` first,
        then first come first served."""
        await self._thread(priority)
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, hash_secret, secret, salt)
        finally:
            self._hand_over()

    async def _thread(self, priority: int) -> None:
        if self._running < self._workers:  # then nobody is waiting: _hand_over serves waiters first
            self._running += 1
            return
        waiter = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiting, (priority, next(self._arrival), waiter))
        try:
            await waiter  # _hand_over counted the thread for us
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():  # handed a thread just as we were cancelled
                self._hand_over()
            raise

    def _hand_over(self) -> None:
        """A thread is free: to the first live waiter, else back to the pool."""
        while self._waiting:
            _, _, waiter = heapq.heappop(self._waiting)
            if not waiter.done():
                waiter.set_result(None)
                return
        self._running -= 1

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def failures(self, address: Optional[str]) -> int:
        """Failures of ``address`` within the window (for tests and metrics)."""
        entry = self._addresses.get(address_key(address))
        if entry is None:
            return 0
        self._expire(entry, self.clock())
        return len(entry.failures)

    async def authenticate(self, storage: Storage, token: str, address: Optional[str]) -> Optional[Agent]:
        """The agent whose token this is, or None; ``LoginRefused`` when the
        attempt is refused without being checked."""
        key = address_key(address)
        entry = self._admit(key)
        try:
            async with entry.slots:
                # The tier when the scrypt is due (a failure meanwhile counts).
                agent = await authenticate(storage, token, lambda secret, salt: self.scrypt(
                    secret, salt, self._tier(key, entry)))
            if agent is None:
                self._failed(key, entry)
            else:
                entry.failures.clear()
                self._trust(key)
            return agent
        finally:
            entry.admitted -= 1
            self.admitted -= 1
            self._forget_if_idle(key, entry)

    def _admit(self, key: str) -> _Address:
        now = self.clock()
        entry = self._addresses.get(key)
        if entry is None:
            entry = self._addresses[key] = _Address(asyncio.Semaphore(self.per_address))
        self._expire(entry, now)
        if len(entry.failures) >= self.max_failures:
            retry = entry.failures[0] + self.window_s - now
            raise LoginRefused(*TOO_MANY_FAILURES, retry_after_s=max(1, math.ceil(retry)))
        # An address with failures may have only as many checks pending as it
        # has failures left; a clean one (an office of agents after a restart)
        # up to ``per_address_admitted``, two of them running at once.
        if entry.admitted >= self.per_address_admitted or (
                entry.failures and len(entry.failures) + entry.admitted >= self.max_failures):
            raise LoginRefused(*TOO_MANY_AT_ONCE, retry_after_s=1)
        places = (self.max_admitted, self.max_admitted - self.max_admitted // 4, self.max_admitted // 2)
        if self.admitted >= max(1, places[self._tier(key, entry)]):
            self._forget_if_idle(key, entry)
            raise LoginRefused(*BUSY, retry_after_s=2)
        entry.admitted += 1
        self.admitted += 1
        return entry

    def _tier(self, key: str, entry: _Address) -> int:
        """0 trusted, 1 no failures, 2 failures: the order checks wait in."""
        if entry.failures:
            return 2
        last = self._trusted.get(key)
        if last is not None and self.clock() - last < self.trust_s:
            return 0
        return 1

    def _trust(self, key: str) -> None:
        self._trusted[key] = self.clock()
        self._trusted.move_to_end(key)
        while len(self._trusted) > MAX_TRUSTED:
            self._trusted.popitem(last=False)  # the least recently successful

    def _failed(self, key: str, entry: _Address) -> None:
        entry.failures.append(self.clock())
        if len(entry.failures) == self.max_failures:
            logger.warning("login_throttled", extra={"address": key, "failures": self.max_failures,
                                                     "window_s": self.window_s})

    def _expire(self, entry: _Address, now: float) -> None:
        while entry.failures and entry.failures[0] <= now - self.window_s:
            entry.failures.popleft()

    def _forget_if_idle(self, key: str, entry: _Address) -> None:
        """Drop an address with nothing admitted and no failure left; now and
        then sweep the others (so the table holds only recent failures)."""
        if entry.admitted == 0 and not entry.failures and self._addresses.get(key) is entry:
            del self._addresses[key]
        if len(self._addresses) > self._sweep_at:
            now = self.clock()
            for other_key, other in list(self._addresses.items()):
                self._expire(other, now)
                if other.admitted == 0 and not other.failures:
                    del self._addresses[other_key]
            self._sweep_at = max(1024, 2 * len(self._addresses))
