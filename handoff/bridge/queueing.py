"""The queue as agents and queued shoppers see it: who is still there
(presence across bridges), positions, wait estimates, the first-response
promise, and the coalesced broadcast of every change.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from handoff.bridge.base import (
    LIVE_GRACE_S,
    Frame,
    Seen,
    _iso,
    _retrieved,
)
from handoff.bridge.delivery import Delivery
from handoff.cluster import AGENT, CUSTOMER, QUEUE, Envelope
from handoff.queue import estimate_wait_s, mean_handling_s, queue_changes, queue_frame, view_of
from handoff.sla import Promise, iso, promise_for, when_es
from handoff.storage import Conversation, QueueEntry
from handoff.texts import wait_text

logger = logging.getLogger("handoff.bridge")


BROADCAST_SPACING_S = 0.1  # back-to-back queue broadcasts start at most this often
# ... and at least this many times their own length apart: a broadcast reads and sends
# the whole queue, so with a long queue on a busy bridge they take at most about a
# quarter of its time, whatever the rate of changes (claims and queueings go first).
BROADCAST_SPACING_FACTOR = 4.0
BROADCAST_MAX_SPACING_S = 1.0  # ... but never further apart than this (the agents' view stays fresh)
# A queued shopper is sent a new place or estimate at most this often; one held back
# is sent by a broadcast due when the spacing is over, so the latest always follows.
STATUS_SPACING_S = 1.0
PROMISE_MEMO_SIZE = 20_000  # promises kept (a few hundred bytes each); all forgotten when full
Queued = Union[Conversation, QueueEntry]  # what positions and presence read: ``id`` and ``channel``
Shown = Tuple[Any, ...]  # what a queued shopper is shown of their status (see ``shown``)


def shown(status: Frame) -> Shown:
    """What a shopper sees of a queued ``handoff`` frame: their place, the
    estimate in words and the promise; ``estimated_wait_s`` alone moving
    (out of hours it counts down to the opening every second) shows nothing
    new, so it is not worth a frame."""
    return (status["position"], status["wait_text"], status["respond_by"], status["promise_text"],
            status["offline"], status["contact_known"])


class Queueing(Delivery):
    """The queue as agents and queued shoppers see it."""

    async def _presence(self, queued: Sequence[Queued], now: dt.datetime) -> Seen:
        """Since when each queued web shopper has had no socket on any bridge
        (None: one is open); a conversation never seen counts from ``now``."""
        web = [c.id for c in queued if c.channel == "web"]
        if not web:
            return {}
        seen = await self.cluster.seen(CUSTOMER, web, now)
        unseen = [cid for cid in web if cid not in seen]
        if unseen:
            await self.cluster.gone_from(CUSTOMER, unseen, now)
            seen.update({cid: now for cid in unseen})
        return seen

    @staticmethod
    def _gone_since(conversation: Queued, seen: Seen, now: dt.datetime) -> Optional[dt.datetime]:
        """When a web shopper's last socket closed (None: Telegram, or open)."""
        if conversation.channel != "web":
            return None
        return seen.get(conversation.id, now)

    def _customer_live(self, conversation: Queued, now: dt.datetime, seen: Seen) -> bool:
        """Whether a queued shopper counts as waiting: Telegram always (the
        reply reaches the chat later anyway); web while a socket is open or
        for LIVE_GRACE_S after the last one closed (a reload, a tunnel)."""
        since = self._gone_since(conversation, seen, now)
        return since is None or (now - since).total_seconds() < LIVE_GRACE_S

    @staticmethod
    def known_email(conversation: Conversation) -> Optional[str]:
        """The e-mail the team can write to without asking: the verified
        customer's (handoff payload or a channel's proof) or the one left."""
        customer = conversation.context.get("customer")
        email = customer.get("email") if isinstance(customer, dict) else None
        return str(email) if email else conversation.contact_email

    async def _queued_status(self, conversation: Conversation, queued: Optional[Sequence[Queued]] = None) -> Frame:
        """One queued shopper's ``handoff`` frame (their place read from the
        queue's ids and channels only: this runs at every queueing)."""
        queued = queued if queued is not None else await self.storage.queue_entries()
        now = self.clock()
        seen = await self._presence(queued, now)
        position = self._positions(queued, seen).get(conversation.id)
        if position is None:
            position = len([c for c in queued if self._customer_live(c, now, seen)]) + 1
        handling = mean_handling_s(await self.storage.recent_handling_times(), self.settings.default_handling_s)
        promises = await self._promises([conversation.id])
        events = await self.storage.latest_events([conversation.id])
        return self._status_frame(conversation, position, handling, await self.cluster.online(AGENT),
                                  promises.get(conversation.id), events.get(conversation.id))

    def _status_sent(self, conversation_id: str, status: Frame, what: Optional[Shown] = None) -> None:
        """Remember what a queued shopper was just sent (``what``: ``shown(status)``
        if the caller has it), and when (the broadcasts send them only something
        new, at most every STATUS_SPACING_S)."""
        self._last_status[conversation_id] = (what if what is not None else shown(status),
                                              asyncio.get_running_loop().time())

    async def _promises(self, conversation_ids: Optional[List[str]] = None) -> Dict[str, Promise]:
        """The first-response promise of each unanswered open episode (queued,
        or claimed without a reply), by conversation (handoff/sla.py); read
        from the episodes and the stored apologies, never from memory (what
        is kept is only ``promise_for``'s answer for the same rows: a pure
        function of them, costly in support-time arithmetic)."""
        rows = await self.storage.unanswered_episodes(conversation_ids)
        promises: Dict[str, Promise] = {}
        for cid, row in rows.items():
            key = (row["episode_id"], row["queued_at"],
                   tuple(sorted((str(a.get("breach")), str(a.get("respond_by"))) for a in row["apologies"])))
            promise = self._promise_memo.get(key)
            if promise is None:
                if len(self._promise_memo) >= PROMISE_MEMO_SIZE:
                    self._promise_memo.clear()
                promise = self._promise_memo[key] = promise_for(self.policy, row["episode_id"], row["queued_at"],
                                                                row["apologies"])
            promises[cid] = promise
        return promises

    def _queued_notice(self, promise: Optional[Promise], now: dt.datetime) -> str:
        """The queued notice as the widget shows it ("Te hemos puesto en la cola…"
        plus the promise), stored with the state change for the history."""
        promise_text = self._promise_text(promise, now)
        return self.texts["queued_notice"] + (" " + promise_text if promise_text else "")

    def _promise_text(self, promise: Optional[Promise], now: dt.datetime) -> Optional[str]:
        if promise is None:
            return None
        return self.texts.get("promise", when=when_es(promise.respond_by, now, self.policy.tz))

    def _positions(self, queued: Sequence[Queued], seen: Seen) -> Dict[str, int]:
        """Each queued conversation's place, counting ahead of it only the
        shoppers still waiting (``_customer_live``): a web chat left open
        nowhere does not push new shoppers back."""
        now = self.clock()
        ahead = 0
        places: Dict[str, int] = {}
        for conversation in queued:
            places[conversation.id] = ahead + 1
            if self._customer_live(conversation, now, seen):
                ahead += 1
        return places

    def _next_opening(self, now: dt.datetime) -> Optional[dt.datetime]:
        """None while support is open, else when it opens next."""
        return None if self.policy.is_support_open(now) else self.policy.next_support_opening(now)

    def _status_frame(self, conversation: Conversation, position: int, handling_s: float, agents_online: int,
                      promise: Optional[Promise] = None, event_id: Optional[int] = None,
                      moment: Optional[Tuple[dt.datetime, Optional[dt.datetime]]] = None) -> Frame:
        """The queued ``handoff`` frame; ``respond_by`` is the promise (ISO,
        UTC; null once an agent answered in this handoff) and ``promise_text``
        says it in the store's voice and time zone ("Te respondemos antes de
        las 10:30."), the same words on every channel; ``wait_text`` says the
        estimate in words ("unos 5 minutos"); ``event_id`` is the queueing's
        state change (see ``_handoff_frame``). ``moment``: (now, the next
        opening) when the caller has them (a broadcast, for every shopper)."""
        if moment is None:
            current = self.clock()
            moment = (current, self._next_opening(current))  # the opening of the same instant
        now, opening = moment
        wait = estimate_wait_s(position, handling_s, agents_online, now, opening)
        return {"type": "handoff", "state": "queued", "position": position,
                "estimated_wait_s": wait, "offline": conversation.offline,
                "contact_known": self.known_email(conversation) is not None,
                "respond_by": iso(promise.respond_by) if promise else None,
                "promise_text": self._promise_text(promise, now),
                "wait_text": wait_text(wait) if wait is not None else None,
                **({"event_id": str(event_id)} if event_id is not None else {})}

    def _queue_frame(self, queued: List[Conversation], seen: Seen,
                     promises: Optional[Dict[str, Promise]] = None) -> Frame:
        """The queue frame plus ``customer_name`` (the name the channel knows,
        unverified: Telegram's first name), whether the shopper is still
        there (``present``; a web page closed past the grace: ``gone_since``),
        so agents take those who wait first and know a reply may go unread,
        and the first-response SLA: ``respond_by`` (the deadline),
        ``respond_in_s`` (seconds left when sent; negative: late),
        ``breached`` and ``promised_by`` (what the shopper was last promised:
        the deadline, or the new time of the apology once it passed)."""
        frame = queue_frame(queued)
        now = self.clock()
        promises = promises or {}
        for entry, conversation in zip(frame["conversations"], queued):
            entry["customer_name"] = conversation.context.get("customer_name")
            present = self._customer_live(conversation, now, seen)
            entry["present"] = present
            if not present:
                entry["gone_since"] = _iso(self._gone_since(conversation, seen, now))
            entry.update(self._sla_fields(promises.get(conversation.id)))
        return frame

    async def broadcast_queue(self) -> None:
        """Send the queue to this bridge's agents, and to each of its queued
        customers whose position or estimate changed; then tell the other
        bridges to do the same for theirs. Returns once a broadcast that read
        the queue after this call has been sent: callers that come while one
        runs share the next (coalesced)."""
        await asyncio.shield(self._broadcast_soon(publish=True))

    def queue_changed(self) -> None:
        """Like ``broadcast_queue`` without waiting for it: where a caller (a
        claim, a queueing) must not wait for every agent and queued shopper to
        be sent the change (a failure is logged)."""
        self._broadcast_soon(publish=True)

    def _broadcast_soon(self, publish: bool) -> asyncio.Future:
        """The future of the next broadcast, started if none is running."""
        if self._next_broadcast is None:
            self._next_broadcast = asyncio.get_running_loop().create_future()
            self._next_broadcast.add_done_callback(_retrieved)
        if publish:
            self._publish_queue = True
        if self._broadcaster is None or self._broadcaster.done():
            self._broadcaster = asyncio.create_task(self._broadcast_loop(), name="queue-broadcast")
        return self._next_broadcast

    async def _broadcast_loop(self) -> None:
        """Broadcasts one after another while more are asked for, each at
        least BROADCAST_SPACING_S (and BROADCAST_SPACING_FACTOR times the
        length of the one before, up to BROADCAST_MAX_SPACING_S) after the
        start of the one before: during
        a burst (a hundred claims a second) the queue is read and sent about
        ten times a second at most, whatever the number of changes; alone, a
        change goes out at once."""
        loop = asyncio.get_running_loop()
        last, spacing = -BROADCAST_SPACING_S, BROADCAST_SPACING_S
        while self._next_broadcast is not None:
            wait = last + spacing - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)  # spacing, not synchronisation: later requests join this one
            last = loop.time()
            future, self._next_broadcast = self._next_broadcast, None
            publish, self._publish_queue = self._publish_queue, False
            try:
                await self._broadcast_once()
                if publish and self.cluster.shared:
                    await self.cluster.publish(Envelope(QUEUE, "changed"))
            except Exception as exc:  # noqa: BLE001 - handed to every caller waiting for this broadcast
                logger.error("queue_broadcast_failed", extra={"error": type(exc).__name__})
                future.set_exception(exc)
            else:
                future.set_result(None)
            spacing = min(BROADCAST_MAX_SPACING_S,
                          max(BROADCAST_SPACING_S, BROADCAST_SPACING_FACTOR * (loop.time() - last)))

    async def _broadcast_once(self) -> None:
        """One broadcast: the queue read once; the agents' frames built only
        when this bridge has agents (their changes diffed against one view of
        it), and the status of only the queued shoppers this bridge holds a
        socket of (every queued one when a customer sink, Telegram, is
        attached: the sink decides which are its own)."""
        async with self._queue_lock:
            queued = await self.storage.queue()
            self.metrics.queue_length.set(len(queued))
            promises = await self._promises([c.id for c in queued])
            now = self.clock()
            seen = await self._presence(queued, now)
            # who counts as waiting, as this broadcast shows it (not as a later clock would)
            self._live_ids = {c.id for c in queued if self._customer_live(c, now, seen)}
            if self.agents:
                await self._send_queue(queued, seen, promises)
            waiting = {c.id for c in queued}
            for gone in [cid for cid in self._last_status if cid not in waiting]:
                del self._last_status[gone]
            for gone in [cid for cid in self._acked if cid not in waiting]:
                del self._acked[gone]
            local = queued if self._sinks else [c for c in queued if self.customers.get(c.id)]
            if local:
                await self._send_statuses(queued, local, seen, promises, now)

    async def _send_queue(self, queued: List[Conversation], seen: Seen, promises: Dict[str, Promise]) -> None:
        """The queue to this bridge's agent sockets: whole, or as changes."""
        frame = self._queue_frame(queued, seen, promises)
        new = view_of(frame["conversations"])
        for agent_id in list(self.agents):
            for ws in list(self.agents.get(agent_id, ())):
                view = self._queue_views.get(ws)
                if view is None:  # a client that asked for the whole queue each time
                    await self._send_live(ws, frame)
                    continue
                changes, self._queue_views[ws] = queue_changes(view, frame["conversations"], new)
                if changes is not None:
                    await self._send_live(ws, changes)

    async def _send_statuses(self, queued: List[Conversation], local: List[Conversation], seen: Seen,
                             promises: Dict[str, Promise], now: dt.datetime) -> None:
        """Each of ``local`` (queued shoppers this bridge sends to) is sent its
        status when what they are shown changed, at most every
        STATUS_SPACING_S; those held back get a broadcast due when their
        spacing is over (it reads the queue again: the latest is what they get)."""
        handling = mean_handling_s(await self.storage.recent_handling_times(), self.settings.default_handling_s)
        places = self._positions(queued, seen)
        events = await self.storage.latest_events([c.id for c in local])
        online = await self.cluster.online(AGENT)
        moment = (now, self._next_opening(now))
        loop = asyncio.get_running_loop()
        held: Optional[float] = None
        for conversation in local:
            status = self._status_frame(conversation, places[conversation.id], handling, online,
                                        promises.get(conversation.id), events.get(conversation.id), moment)
            what = shown(status)
            last, sent_at = self._last_status.get(conversation.id, (None, -STATUS_SPACING_S))
            if last == what:
                continue
            due = sent_at + STATUS_SPACING_S
            if due > loop.time():
                held = due if held is None else min(held, due)
                continue
            self._status_sent(conversation.id, status, what)
            await self._to_local_customer(conversation.id, status)
        if held is not None:
            self._statuses_due(held)

    def _statuses_due(self, when: float) -> None:
        """A broadcast (this bridge only) at loop time ``when``, unless one is
        already due by then."""
        timer = self._status_timer
        if timer is not None and not timer.cancelled() and timer.when() <= when:
            return
        if timer is not None:
            timer.cancel()
        self._status_timer = asyncio.get_running_loop().call_at(when, self._status_timer_fired)

    def _status_timer_fired(self) -> None:
        self._status_timer = None
        self._broadcast_soon(publish=False)

    def _sla_fields(self, promise: Optional[Promise]) -> Frame:
        """The first-response SLA as agents see it (queue entries, the
        conversation frame, ``sla``): all null/false once a person answered."""
        now = self.clock()
        return {"respond_by": iso(promise.due) if promise else None,
                "respond_in_s": int((promise.due - now).total_seconds()) if promise else None,
                "breached": bool(promise and promise.breached(now)),
                "promised_by": iso(promise.respond_by) if promise else None}

    def _observe_wait(self, episode: Dict[str, Any], outcome: str, now: dt.datetime) -> None:
        """``handoff_queue_wait_seconds{outcome}``: an episode's wait from its
        queueing to its first claim (``claimed``) or to leaving unclaimed
        (``withdrawn``, ``abandoned``); wall-clock seconds."""
        queued_at = episode.get("queued_at")
        if not isinstance(queued_at, dt.datetime):
            return
        if queued_at.tzinfo is None:  # SQLite gives naive UTC
            queued_at = queued_at.replace(tzinfo=dt.timezone.utc)
        self.metrics.queue_wait.labels(outcome).observe(max(0.0, (now - queued_at).total_seconds()))
