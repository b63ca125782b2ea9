"""The bridge itself: the layers together, with the life cycle (start,
the leader's duties, stop) and /health.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Tuple

from handoff.bridge.agent_side import AgentSide
from handoff.bridge.base import (
    RECOVERY_WAIT_S,
    Frame,
)
from handoff.storage import (
    StorageError,
)

logger = logging.getLogger("handoff.bridge")


class Bridge(AgentSide):
    """The bridge: every layer, plus start, the leader's duties, stop and /health."""

    async def start(self) -> None:
        """Migrate the database, open the Rasa client, and start the grace timers
        of agents who own conversations (after a restart nobody is connected)."""
        await self.storage.create_schema()
        await self.rasa.start()
        await self.cluster.start(self._on_envelope)
        for agent_id in await self.storage.agents_with_conversations():
            self._schedule_grace(agent_id)
        self.metrics.queue_length.set(len(await self.storage.queue()))
        await self.cluster.on_leadership(self._lead, self._stop_leading)

    async def _lead(self) -> None:
        """The duties of one bridge only (the cluster's leader; the only bridge
        of a local cluster): the queue's sweeps and, with other bridges, the
        owed turns of a bridge that died and did not come back."""
        if self.settings.queue_abandon_after_s > 0 and self._sweeper is None:
            self._sweeper = asyncio.create_task(self._sweep_abandoned())
        if self._sla_sweeper is None:
            self._sla_sweeper = asyncio.create_task(self._sweep_sla())
        if self.cluster.shared and self._recovery_sweeper is None:
            self._recovery_sweeper = asyncio.create_task(self._sweep_owed_turns())

    async def _stop_leading(self) -> None:
        for task in (self._sweeper, self._sla_sweeper, self._recovery_sweeper):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        self._sweeper = self._sla_sweeper = self._recovery_sweeper = None

    async def stop(self) -> None:
        await self.cluster.stop()
        await self._stop_leading()
        if self._status_timer is not None:
            self._status_timer.cancel()
            self._status_timer = None
        if self._broadcaster is not None:
            self._broadcaster.cancel()
            await asyncio.gather(self._broadcaster, return_exceptions=True)
            self._broadcaster = None
        if self._recovery is not None:
            self._recovery.cancel()
            await asyncio.gather(self._recovery, return_exceptions=True)
            self._recovery = None
        for task in list(self._grace.values()):
            task.cancel()
        await asyncio.gather(*self._grace.values(), return_exceptions=True)
        self._grace.clear()
        await self.rasa.close()
        self.login_throttle.close()
        self.storage.dispose()
        dispose = getattr(self.store, "dispose", None)
        if callable(dispose):
            dispose()

    async def health(self) -> Tuple[int, Frame]:
        """200 ``{"status": "ok", "rasa": "up", "database": "up", ...}`` when
        every part answers; 503 ``"degraded"`` naming the part that is down.
        The action server is checked when its URL is known (ACTIONS_URL or
        ACTIONS_PORT, as ``make run`` sets)."""
        checks = [("rasa", self.rasa.is_up()), ("database", self.storage.ping())]
        if self.settings.actions_url:
            checks.append(("actions", self.rasa.url_up(f"{self.settings.actions_url}/health")))
        results = await asyncio.gather(*(check for _, check in checks))
        body: Frame = {name: "up" if ok else "down" for (name, _), ok in zip(checks, results)}
        for part, status in body.items():  # a change is worth a line, each poll is not
            if self._health.get(part, "up") != status:
                (logger.info if status == "up" else logger.warning)(f"{part}_{status}", extra={"part": part})
            self._health[part] = status
        healthy = all(results)
        return (200 if healthy else 503), {"status": "ok" if healthy else "degraded", **body}

    def start_recovery(self) -> None:
        """Finish owed turns in the background once Rasa answers (or after
        ``RECOVERY_WAIT_S``, with the apology): called when every channel is
        listening, so nothing recovered misses a channel."""
        if self._recovery is None:
            self._recovery = asyncio.create_task(self._recover_when_ready())

    async def _recover_when_ready(self) -> None:
        try:
            if not await self.storage.pending_turns():
                return
        except StorageError as exc:
            logger.error("recovery_failed", extra={"error": str(exc)})
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + RECOVERY_WAIT_S
        delay = 0.25
        while not await self.rasa.is_up() and loop.time() < deadline:
            await asyncio.sleep(delay)  # waiting for Rasa to load its model
            delay = min(delay * 2, 5.0)
        try:
            done = await self.recover()
        except StorageError as exc:
            logger.error("recovery_failed", extra={"error": str(exc)})
            return
        if done:
            logger.info("turns_recovered", extra={"count": done})
