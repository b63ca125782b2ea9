"""Frames to sockets: through the cluster to whichever bridge holds a
customer's or an agent's socket, to the customer sinks (Telegram), held
while a socket is sent its history; and the frames every channel shares
(messages, handoff state changes, the rating requests).
"""
from __future__ import annotations

import json
import logging
from typing import Any, Callable, Dict, Optional, Set

from websockets.exceptions import ConnectionClosed

from handoff.bridge.attachment_links import AttachmentLinks
from handoff.bridge.base import (
    CustomerSink,
    Frame,
    Socket,
    _buttons,
    _iso,
)
from handoff.cluster import AGENT, CUSTOMER, QUEUE, SIGNAL, Envelope
from handoff.storage import (
    Agent,
    Conversation,
    StorageError,
    StoredMessage,
)

logger = logging.getLogger("handoff.bridge")


class Delivery(AttachmentLinks):
    """Frames to sockets and sinks, through the cluster."""

    @staticmethod
    async def send(ws: Socket, frame: Frame) -> None:
        """Send one frame; a closed socket is not an error (the frame is stored
        or re-sent on reconnection)."""
        try:
            await ws.send(json.dumps(frame, ensure_ascii=False))
        except ConnectionClosed:
            logger.debug("send_to_closed_socket")

    async def to_customer(self, conversation_id: str, frame: Frame) -> None:
        """To every customer sink (a channel without sockets: it stores the
        frame in its outbox here, whichever bridge this is), then through the
        cluster to the customer's sockets on whichever bridge holds them. A
        sink that cannot store the frame is logged: the message itself is
        already committed."""
        await self._to_sinks(conversation_id, frame)
        await self.cluster.publish(Envelope(CUSTOMER, conversation_id, frame))

    async def _to_sinks(self, conversation_id: str, frame: Frame) -> None:
        for sink in self._sinks:
            try:
                await sink(conversation_id, frame)
            except StorageError as exc:
                logger.error("customer_sink_failed", extra={"conversation_id": conversation_id, "error": str(exc)})

    async def _to_local_customer(self, conversation_id: str, frame: Frame) -> None:
        """To this bridge's sockets of the customer and to the sinks: what every
        bridge works out for itself (queue positions) never crosses bridges."""
        for ws in list(self.customers.get(conversation_id, ())):
            await self._send_live(ws, frame)
        await self._to_sinks(conversation_id, frame)

    async def _on_envelope(self, envelope: Envelope) -> None:
        """What the cluster delivers: frames for the sockets this bridge holds,
        another bridge's queue change, or a signal."""
        if envelope.kind == CUSTOMER:
            for ws in list(self.customers.get(envelope.key, ())):
                await self._send_live(ws, envelope.frame)
        elif envelope.kind == AGENT:
            for ws in list(self.agents.get(envelope.key, ())):
                await self._send_live(ws, envelope.frame)
        elif envelope.kind == QUEUE:
            if envelope.origin != self.cluster.bridge_id:
                self._broadcast_soon(publish=False)
        elif envelope.kind == SIGNAL:
            handler = self._signals.get(envelope.key)
            if handler is not None:
                handler()

    def on_signal(self, name: str, handler: Callable[[], None]) -> None:
        """Run ``handler`` on this bridge whenever any bridge calls ``signal(name)``."""
        self._signals[name] = handler

    async def signal(self, name: str) -> None:
        await self.cluster.publish(Envelope(SIGNAL, name))

    def add_customer_sink(self, sink: CustomerSink) -> None:
        """Register a channel that delivers customer frames itself (Telegram)."""
        self._sinks.append(sink)

    def remove_customer_sink(self, sink: CustomerSink) -> None:
        if sink in self._sinks:
            self._sinks.remove(sink)

    async def to_agent(self, agent_id: str, frame: Frame) -> None:
        """Through the cluster to the agent's sockets, on whichever bridges."""
        await self.cluster.publish(Envelope(AGENT, agent_id, frame))

    async def _send_live(self, ws: Socket, frame: Frame) -> None:
        held = self._held.get(ws)
        if held is not None:
            held.append(frame)
        elif frame.get("type") != "message" or frame.get("id") not in self._history_sent.get(ws, ()):
            await self.send(ws, frame)

    def _hold(self, ws: Socket) -> None:
        """Live frames for ``ws`` wait until :meth:`_release`: a socket that is
        being sent a history (a customer's on reconnection, an agent's case
        cards) must never get a message before the history that should hold it,
        nor miss one stored while that history was read."""
        self._held[ws] = []

    async def _release(self, ws: Socket, already_sent: Set[str]) -> None:
        """Send what was held for ``ws``, less the messages a history held."""
        held = self._held.get(ws)
        while held:
            frame = held.pop(0)
            if frame.get("type") != "message" or frame.get("id") not in already_sent:
                await self.send(ws, frame)
        self._held.pop(ws, None)  # no await since the last check: nothing new is held
        if already_sent and self.cluster.shared:  # a frame stored before the history may still be on its way
            self._history_sent[ws] = already_sent

    def lock(self, conversation_id: str) -> Any:
        """This conversation, one operation at a time, across bridges too
        (``async with bridge.lock(id)``)."""
        return self.cluster.lock(conversation_id)

    def customer_frame(self, message: StoredMessage, agent_name: Optional[str] = None) -> Frame:
        frame: Frame = {"type": "message", "id": str(message.id), "sender": message.sender,
                        "text": message.text, "buttons": _buttons(message.data.get("buttons")),
                        "at": _iso(message.created_at)}
        if message.sender == "agent":
            frame["agent_name"] = agent_name or ""
        if isinstance(message.data.get("csat_score"), int):
            frame["csat_score"] = message.data["csat_score"]
        if isinstance(message.data.get("nps_score"), int):  # a history shows the answer as given
            frame["nps_score"] = message.data["nps_score"]
        return frame

    async def _deliver(
        self, conversation_id: str, sender: str, text: str, data: Optional[Dict[str, Any]] = None,
        agent: Optional[Agent] = None, client_id: Optional[str] = None, resend: bool = False,
        finishes: Optional[int] = None,
    ) -> StoredMessage:
        """Store, then send to the customer's sockets (bot | agent | system).
        A message already stored under ``client_id`` is sent again only with
        ``resend`` (finishing a turn after a crash: it may never have left).
        ``finishes``: the customer message whose turn this one completes."""
        message, created = await self.storage.add_message(
            conversation_id, sender, text, data, agent.id if agent else None, client_id, finishes)
        await self._send_stored(message, created, agent, resend)
        return message

    async def _send_stored(
        self, message: StoredMessage, created: bool, agent: Optional[Agent] = None, resend: bool = False,
    ) -> None:
        """A just-stored message to the customer (a resend was sent already,
        unless ``resend``)."""
        if created:
            self.metrics.messages.labels(message.sender).inc()
        if created or resend:
            await self.to_customer(message.conversation_id, self.customer_frame(message, agent.name if agent else None))

    @staticmethod
    def _event_frame(event: StoredMessage, agent_name: Optional[str]) -> Frame:
        """A handoff state change as the ``history`` frame's ``events`` carry it:
        its ``id`` places it among the messages (a notice goes before the first
        message with a larger id), ``text`` is the notice the shopper was shown."""
        frame: Frame = {"id": str(event.id), "state": event.data.get("state"), "text": event.text,
                        "at": _iso(event.created_at)}
        if event.data.get("outcome"):
            frame["outcome"] = event.data["outcome"]
        if event.agent_id:
            frame["agent_name"] = agent_name or ""
        return frame

    async def _handoff_frame(self, conversation_id: str, frame: Frame) -> Frame:
        """A ``handoff`` frame with ``event_id``, the id of the state change it
        tells (the latest one): a client that has shown that notice (live, or
        from a history's ``events``) shows it once."""
        latest = (await self.storage.latest_events([conversation_id])).get(conversation_id)
        if latest is not None:
            frame["event_id"] = str(latest)
        return frame

    async def _csat_request(self, conversation: Conversation) -> Frame:
        """The rating request of the handoff that waits for one, naming its
        agent (so a reload, or another browser, asks about the right person),
        with the question's ``text`` (handoff/texts.py: one wording for every
        channel)."""
        frame: Frame = {"type": "csat_request"}
        episode = next((e for e in await self.storage.episodes(conversation.id)
                        if e["id"] == conversation.csat_episode_id), None)
        if episode is not None and episode.get("agent_id"):
            names = await self.storage.agent_names([episode["agent_id"]])
            frame["agent_name"] = names.get(episode["agent_id"], "")
        # the question itself, so the widget and Telegram ask it in the same words
        frame["text"] = (self.texts.get("csat_ask", agent=frame["agent_name"]) if frame.get("agent_name")
                         else self.texts["csat_ask_team"])
        return frame

    def _nps_request(self) -> Frame:
        """The NPS question (0-10), asked after the rating to the share of
        customers the policy's ``nps_share`` picks (``nps_selected``)."""
        return {"type": "nps_request", "text": self.texts["nps_ask"], "min": 0, "max": 10,
                "low": self.texts["nps_low"], "high": self.texts["nps_high"]}
