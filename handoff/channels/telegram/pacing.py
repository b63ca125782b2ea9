"""How fast the outbox may send (Telegram's limits for bots: about 30
messages a second overall, and one a second in one chat, short bursts
allowed; https://core.telegram.org/bots/faq, "My bot is hitting limits").

Two token buckets: one for the bot (a burst of a tenth of a second's
messages, so no second has much over the rate), one per chat (a burst of
``CHAT_BURST``: a bot answer of two or three lines is not held back, a run
of order updates to one chat is). A 429 that still comes is honoured by the
outbox (``retry_after``); this only keeps it from coming. Limits: per
process (one bridge leads the outbox at a time); the chats' buckets are
forgotten once full again, so memory follows the chats active in the last
seconds.
"""
from __future__ import annotations

import time
from typing import Callable, Dict, Iterable, List, Tuple

CHAT_BURST = 3.0


class Bucket:
    """``rate`` tokens a second, at most ``capacity`` kept."""

    def __init__(self, rate: float, capacity: float, now: float) -> None:
        self.rate, self.capacity = rate, capacity
        self.tokens, self.at = capacity, now

    def level(self, now: float) -> float:
        self.tokens = min(self.capacity, self.tokens + (now - self.at) * self.rate)
        self.at = now
        return self.tokens

    def wait_s(self, now: float) -> float:
        """Seconds until a token is there (0: now)."""
        missing = 1.0 - self.level(now)
        return 0.0 if missing <= 0 else missing / self.rate


class Pacer:
    """Which chats may be sent a message now, within both limits."""

    def __init__(self, per_s: float, chat_per_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.chat_per_s = chat_per_s
        # a tenth of a second's worth at once: never much over ``per_s`` in any second
        self.overall = Bucket(per_s, max(1.0, per_s / 10), clock())
        self.chats: Dict[int, Bucket] = {}

    def take(self, chat_ids: Iterable[int]) -> Tuple[List[int], float]:
        """The chats (in the order given) that may send one message now, their
        tokens taken; and the seconds until the next one of the others may
        (0 when none waits)."""
        now = self.clock()
        allowed: List[int] = []
        wait = 0.0
        for chat_id in chat_ids:
            bucket = self.chats.get(chat_id)
            if bucket is None:
                bucket = self.chats[chat_id] = Bucket(self.chat_per_s, CHAT_BURST, now)
            chat_wait = bucket.wait_s(now)
            overall_wait = self.overall.wait_s(now)
            if chat_wait > 0 or overall_wait > 0:
                later = max(chat_wait, overall_wait)
                wait = later if wait == 0 else min(wait, later)
                continue
            bucket.tokens -= 1.0
            self.overall.tokens -= 1.0
            allowed.append(chat_id)
        self._forget(now)
        return allowed, wait

    def _forget(self, now: float) -> None:
        if len(self.chats) > 1000:
            self.chats = {c: b for c, b in self.chats.items() if b.level(now) < b.capacity}
