"""The leader's periodic work: abandoned web conversations leave the queue,
missed first-response promises get an apology, and (with several
bridges) turns a dead bridge owed are finished.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import logging

from handoff.bridge.base import (
    ABANDON_SWEEP_S,
    HUMAN_BUTTON,
    LIVE_GRACE_S,
    OWED_SWEEP_S,
    SLA_SWEEP_S,
)
from handoff.bridge.queueing import Queueing
from handoff.cluster import CUSTOMER
from handoff.rasa import RasaUnavailable
from handoff.sla import SLA_DATA_KEY, Promise, iso, sla_client_id, when_es
from handoff.state import (
    State,
    TransitionError,
)
from handoff.storage import (
    StorageError,
)

logger = logging.getLogger("handoff.bridge")


class Sweeps(Queueing):
    """The leader's periodic sweeps."""

    async def _sweep_abandoned(self) -> None:
        """Every ``ABANDON_SWEEP_S`` (shorter for a short setting): abandon
        what waited too long without its shopper, and re-send positions when
        who counts as waiting changed."""
        period = max(1.0, min(ABANDON_SWEEP_S, self.settings.queue_abandon_after_s / 4))
        while True:
            await asyncio.sleep(period)
            try:
                await self.abandon_idle()
            except StorageError as exc:
                logger.error("abandon_sweep_failed", extra={"error": str(exc)})

    async def abandon_idle(self) -> int:
        """Queued web conversations with no customer socket for
        HANDOFF_QUEUE_ABANDON_AFTER_S leave the queue: outcome ``abandoned``,
        the agents' queue loses them, and a system line (with "Hablar con una
        persona") waits in the history for the shopper's return. Returns how
        many; positions are re-sent if the live set changed."""
        limit = self.settings.queue_abandon_after_s
        done = 0
        now = self.clock()
        queued = await self.storage.queue()
        seen = await self._presence(queued, now)
        for conversation in queued:
            since = self._gone_since(conversation, seen, now)
            if limit <= 0 or since is None or (now - since).total_seconds() < max(limit, LIVE_GRACE_S):
                continue
            async with self.lock(conversation.id):
                if (await self.cluster.seen(CUSTOMER, [conversation.id], now)).get(conversation.id, since) is None:
                    continue  # back meanwhile
                episode = await self.storage.episode(conversation.episode_id) if conversation.episode_id else None
                try:
                    await self.storage.withdraw(conversation.id, now, outcome="abandoned")
                except TransitionError:
                    continue  # claimed or left meanwhile
                self.metrics.queue_left.labels("abandoned").inc()
                if episode is not None and episode.get("assigned_at") is None:
                    self._observe_wait(episode, "abandoned", now)
                logger.info("queue_abandoned", extra={"conversation_id": conversation.id,
                                                      "gone_s": int((now - since).total_seconds())})
                await self.to_customer(conversation.id, await self._handoff_frame(
                    conversation.id, {"type": "handoff", "state": "ended", "outcome": "abandoned"}))
                await self._deliver(conversation.id, "system", self.texts["queue_abandoned"], {"buttons": [HUMAN_BUTTON]})
                done += 1
        queued = await self.storage.queue()
        waiting = {c.id for c in queued}
        # counted again from the next time it is queued without a socket
        await self.cluster.prune(CUSTOMER, waiting, now)
        seen = await self._presence(queued, now)
        if done or {c.id for c in queued if self._customer_live(c, now, seen)} != self._live_ids:
            await self.broadcast_queue()
        return done

    async def _sweep_sla(self) -> None:
        """Every ``SLA_SWEEP_S``: apologise for the promises that passed."""
        while True:
            await asyncio.sleep(SLA_SWEEP_S)
            try:
                await self.sla_sweep()
            except StorageError as exc:
                logger.error("sla_sweep_failed", extra={"error": str(exc)})

    async def sla_sweep(self) -> int:
        """Open handoff episodes nobody has answered (queued, or claimed
        without a reply) whose current promise has passed: the shopper gets
        one apology with a new time (a ``system`` message storing the new
        promise, client id ``sla:<episode>:<n>``: stored once, so a restart or
        a second sweep does not repeat it), the queued frame then carries the
        new ``respond_by``, and agents get the queue with the breach marked.
        ``handoff_sla_breaches_total`` counts each episode once. Returns how
        many apologies were sent."""
        now = self.clock()
        promises = await self._promises()
        done = 0
        for conversation_id, promise in promises.items():
            if not promise.missed(now):
                continue
            async with self.lock(conversation_id):
                fresh = (await self._promises([conversation_id])).get(conversation_id)
                if fresh is None or fresh.episode_id != promise.episode_id or not fresh.missed(now):
                    continue  # answered, left or apologised for meanwhile
                if await self._apologise_for_delay(conversation_id, fresh, now):
                    done += 1
        still = await self._promises()
        self.metrics.sla_breached_waiting.set(sum(1 for p in still.values() if p.breached(now)))
        if done:
            await self.broadcast_queue()
        return done

    async def _apologise_for_delay(self, conversation_id: str, promise: Promise, now: dt.datetime) -> bool:
        """One stored apology for a missed promise, with the new time (caller
        holds the lock); whether it was stored now (not by an earlier run)."""
        conversation = await self.storage.get_conversation(conversation_id)
        breach = promise.breaches + 1
        new = self.policy.breach_new_promise(now)
        when = when_es(new, now, self.policy.tz)
        if conversation.state is State.AGENT:
            names = await self.storage.agent_names([conversation.agent_id or ""])
            text = self.texts.get("sla_missed_assigned", when=when,
                                  agent=names.get(conversation.agent_id or "") or "Una persona del equipo")
        else:
            text = self.texts.get("sla_missed_queued", when=when,
                                  missed=when_es(promise.respond_by, now, self.policy.tz))
        data = {SLA_DATA_KEY: {"episode_id": promise.episode_id, "breach": breach,
                               "missed": iso(promise.respond_by), "respond_by": iso(new)}}
        message, created = await self.storage.add_message(
            conversation_id, "system", text, data, None, sla_client_id(promise.episode_id, breach))
        await self._send_stored(message, created)
        if conversation.state is State.AGENT and conversation.agent_id:
            # the agent holding it sees the breach and the new promise at once
            renewed = Promise(promise.episode_id, promise.due, new, breach)
            await self.to_agent(conversation.agent_id, {"type": "sla", "conversation_id": conversation_id,
                                                        **self._sla_fields(renewed)})
        if created:
            if breach == 1:
                self.metrics.sla_breaches.inc()
            logger.info("sla_missed", extra={"conversation_id": conversation_id, "episode_id": promise.episode_id,
                                             "breach": breach, "state": conversation.state.value})
        return created

    async def _sweep_owed_turns(self) -> None:
        """With other bridges (leader only): every ``OWED_SWEEP_S``, finish the
        turns owed that long: their bridge died and has not come back to
        finish them itself (``recover`` at its start)."""
        while True:
            await asyncio.sleep(OWED_SWEEP_S)
            try:
                done = await self.recover(older_than_s=OWED_SWEEP_S)
            except (StorageError, RasaUnavailable) as exc:
                logger.error("owed_turns_sweep_failed", extra={"error": str(exc)})
                continue
            if done:
                logger.info("turns_recovered", extra={"count": done, "by": "leader"})
