"""What shoppers do: open or resume a session, write (routed by the state
machine), press a button of a finished step, leave or keep their place in
the queue, send files, leave an e-mail, rate, and say what they received.
"""
from __future__ import annotations

import logging
from typing import Any, Dict, Optional, Sequence, Set, Tuple

from handoff.bridge.base import (
    HUMAN_BUTTON,
    KEEP_WAITING,
    LEAVE_QUEUE,
    REQUEST_HUMAN,
    Socket,
    _buttons,
    in_words,
)
from handoff.bridge.turns import Turns
from handoff.cluster import CUSTOMER
from handoff.frames import MESSAGE_ID, FrameError
from handoff.nps import nps_selected
from handoff.queue_exit import ASK, LEAVE, queue_exit
from handoff.state import (
    Route,
    State,
    TransitionError,
    customer_route,
)
from handoff.storage import (
    Attachment,
    Conversation,
    NoCsatPending,
    NoNpsPending,
    NotFound,
    StoredMessage,
)
from handoff.texts import attachment_topic, wait_text

logger = logging.getLogger("handoff.bridge")


class Customers(Turns):
    """The shoppers' side (the module docstring says what it covers)."""

    async def open_session(self, session_id: Optional[str], channel: str = "web") -> Tuple[Conversation, bool]:
        """The conversation of a known session id, or a new one."""
        if session_id:
            found = await self.storage.by_session(session_id)
            if found is not None:
                return found, True
        conversation = await self.storage.create_conversation(channel)
        self.metrics.conversations.inc()
        logger.info("conversation_started", extra={"conversation_id": conversation.id, "channel": channel})
        return conversation, False

    def attach_customer(self, conversation_id: str, ws: Socket) -> None:
        """Live frames wait until :meth:`release_customer` (see :meth:`_hold`)."""
        self.customers[conversation_id].add(ws)
        self.cluster.attach(CUSTOMER, conversation_id)
        self._hold(ws)

    async def release_customer(self, ws: Socket, already_sent: Set[str]) -> None:
        await self._release(ws, already_sent)

    def detach_customer(self, conversation_id: str, ws: Socket) -> None:
        self._held.pop(ws, None)
        self._history_sent.pop(ws, None)
        sockets = self.customers.get(conversation_id)
        if sockets is not None and ws in sockets:
            sockets.discard(ws)
            self.cluster.detach(CUSTOMER, conversation_id, self.clock())
            if not sockets:
                del self.customers[conversation_id]

    async def resend_state(self, conversation_id: str, ws: Socket, after_id: int = 0) -> Set[str]:
        """After a reconnection: the history the customer may have missed, then
        the handoff state (queued with position, or assigned), then a pending
        CSAT request. Returns the ids of the messages sent."""
        conversation = await self.storage.get_conversation(conversation_id)
        history = await self.storage.history(conversation_id, after_id=after_id)
        events = await self.storage.events(conversation_id, after_id=after_id)
        names = await self.storage.agent_names(sorted({m.agent_id for m in [*history, *events] if m.agent_id}))
        await self.send(ws, {"type": "history", "messages": [
            self.customer_frame(m, names.get(m.agent_id or "")) for m in history],
            "events": [self._event_frame(e, names.get(e.agent_id or "")) for e in events]})
        if conversation.state is State.QUEUED:
            await self.send(ws, await self._queued_status(conversation))
            if conversation.id not in self._live_ids:
                await self.broadcast_queue()  # back: agents' queue no longer says "ha cerrado el chat"
        elif conversation.state is State.AGENT:
            names = await self.storage.agent_names([conversation.agent_id or ""])
            await self.send(ws, await self._handoff_frame(conversation.id, {
                "type": "handoff", "state": "assigned", "agent_name": names.get(conversation.agent_id or "", "")}))
        if conversation.csat_episode_id is not None:
            await self.send(ws, await self._csat_request(conversation))
        elif conversation.nps_episode_id is not None:
            await self.send(ws, self._nps_request())
        return {str(m.id) for m in history}

    async def button_live(self, conversation_id: str, reply_to: str) -> bool:
        """Whether the buttons of message ``reply_to`` still belong to the
        current step: it is this conversation's bot or system message with
        buttons, no later message has buttons, and the customer has not spoken
        since (a press, or typing instead, ends the step; a refused press does
        not). The same rule holds on every channel; the widget and Telegram
        disable buttons by it too."""
        if not MESSAGE_ID.match(reply_to):
            return False
        later = await self.storage.history(conversation_id, after_id=int(reply_to) - 1)
        if not later or str(later[0].id) != reply_to:
            return False
        first, rest = later[0], later[1:]
        if first.sender not in ("bot", "system") or not _buttons(first.data.get("buttons")):
            return False
        # a refused press (``stale_button``) did nothing, so it ends no step
        return not any((m.sender == "customer" and not m.data.get("stale_button"))
                       or (m.sender in ("bot", "system") and _buttons(m.data.get("buttons"))) for m in rest)

    async def customer_message(
        self, conversation_id: str, ws: Optional[Socket], text: str, payload: Optional[str], client_id: Optional[str],
        reply_to: Optional[str] = None,
    ) -> bool:
        """``ws`` is None for channels without a socket (no ``ack`` is sent).
        A resend (same client_id) is acknowledged again and, if its turn never
        finished (the bridge died mid-turn), the turn is finished now.
        ``reply_to``: the message whose button this is (payload only); a
        button of a finished step is stored but never reaches Rasa, and the
        customer is told the step is over. False for such a press."""
        async with self.lock(conversation_id):
            stale = bool(payload and reply_to is not None and not await self.button_live(conversation_id, reply_to))
            data: Optional[Dict[str, Any]] = {"payload": payload} if payload else None
            if stale and data is not None:
                data["stale_button"] = reply_to
            conversation, message, created = await self.storage.receive(conversation_id, text, data, client_id,
                                                                        now=self.clock())
            self.crash_point("turn_stored")
            if client_id is not None and ws is not None:
                await self.send(ws, {"type": "ack", "client_id": client_id, "id": str(message.id)})
            self.crash_point("turn_acked")
            if not created:
                if await self.storage.message_turn(message.id) is not None:
                    await self._bot_turn(await self.storage.get_conversation(conversation_id), message, replay=True)
                return not message.data.get("stale_button")
            self.metrics.messages.labels("customer").inc()
            route = customer_route(conversation.state)
            if stale:
                logger.info("stale_button", extra={"conversation_id": conversation_id, "reply_to": reply_to})
            if route is Route.RASA:
                await self._bot_turn(conversation, message)
            elif route is Route.QUEUE:
                await self._queued_message(conversation, message, payload)
            else:
                await self.to_agent(conversation.agent_id or "", self._agent_message_frame(message))
                if payload == LEAVE_QUEUE:  # pressed as the agent claimed: the claim won
                    names = await self.storage.agent_names([conversation.agent_id or ""])
                    await self._deliver(conversation_id, "system", self.texts.get(
                        "queue_exit_too_late", agent=names.get(conversation.agent_id or "") or "Una persona del equipo"))
            return not stale

    async def _queued_message(self, conversation: Conversation, message: StoredMessage, payload: Optional[str]) -> None:
        """A queued customer's message (caller holds the lock): for the agents
        (queue preview, history at claim), unless it asks to stop waiting. The
        "Volver al asistente" button, or a clear text ("ya no hace falta"),
        leaves the queue; a word that may mean it ("cancelar") is asked about,
        with buttons; "Seguir esperando" keeps the place."""
        exit_kind = None if payload else queue_exit(message.text)
        if payload == LEAVE_QUEUE or exit_kind == LEAVE:
            await self._withdraw(conversation, "button" if payload == LEAVE_QUEUE else "text")
            return
        if payload == KEEP_WAITING:
            await self._deliver(conversation.id, "system", self.texts["queue_kept"])
            await self.to_customer(conversation.id, await self._queued_status(conversation))
            return
        if payload is not None and payload.strip().startswith(REQUEST_HUMAN):  # /agente or the button, again
            status = await self._queued_status(conversation)
            await self._deliver(conversation.id, "system", self.texts.get("queue_already", position=status["position"]))
            return
        if in_words(message):  # a command or a button's title is no preview
            await self.storage.set_preview(conversation.id, message.text)
            await self.broadcast_queue()
        if exit_kind == ASK:
            await self._deliver(conversation.id, "system", self.texts["queue_exit_ask"], {"buttons": [
                {"title": self.texts["btn_leave_queue"], "payload": LEAVE_QUEUE},
                {"title": self.texts["btn_keep_waiting"], "payload": KEEP_WAITING}]})
        else:
            await self._queue_ack(conversation)

    async def _queue_ack(self, conversation: Conversation, file: bool = False) -> None:
        """Tell a queued shopper who wrote that the team will read it, and
        their place (caller holds the lock): the first time, then only after
        HANDOFF_QUEUE_ACK_INTERVAL_S or when the position changed, so a
        shopper who writes five lines gets one answer, not five. A ``file``
        is spoken of as the case is about (its reason: a payment's receipt,
        a damaged item; otherwise just «tu archivo»)."""
        status = await self._queued_status(conversation)
        position = int(status["position"])
        now = self.clock()
        last = self._acked.get(conversation.id)
        if last is not None and last[1] == position and \
                (now - last[0]).total_seconds() < self.settings.queue_ack_interval_s:
            return
        self._acked[conversation.id] = (now, position)
        if file:
            topic = attachment_topic(conversation.reason)
            text = self.texts.get(f"queue_ack_file_{topic}" if topic else "queue_ack_file", position=position)
        else:
            text = self.texts.get("queue_ack", position=position)
        if not status["offline"] and status["estimated_wait_s"]:
            text += self.texts.get("queue_ack_wait", wait=wait_text(status["estimated_wait_s"]))
        await self._deliver(conversation.id, "system", text)

    async def _withdraw(self, conversation: Conversation, how: str) -> None:
        """queued → bot (caller holds the lock): the episode ends ``withdrawn``,
        the agents' queue loses it, the customer gets ``handoff`` ended with
        ``outcome: withdrawn`` and the bot's line (a stored ``withdraw`` turn,
        finished once like a close's; no rating: nobody attended them)."""
        episode = await self.storage.episode(conversation.episode_id) if conversation.episode_id is not None else None
        now = self.clock()
        try:
            conversation = await self.storage.withdraw(conversation.id, now)
        except TransitionError:  # claimed meanwhile (another process): the message went to the queue
            logger.info("queue_leave_too_late", extra={"conversation_id": conversation.id})
            return
        self.metrics.queue_left.labels(how).inc()
        if episode is not None and episode.get("assigned_at") is None:
            self._observe_wait(episode, "withdrawn", now)
        logger.info("queue_left", extra={"conversation_id": conversation.id, "how": how})
        self.crash_point("withdraw_stored")
        await self.to_customer(conversation.id, await self._handoff_frame(
            conversation.id, {"type": "handoff", "state": "ended", "outcome": "withdrawn"}))
        await self.broadcast_queue()
        for turn in await self.storage.pending_turns(conversation.id):
            if turn.kind == "withdraw":
                await self._resume(conversation, turn)

    async def customer_attachments(
        self, conversation_id: str, caption: str, attachments: Sequence[Attachment], client_id: Optional[str],
        ws: Optional[Socket] = None,
    ) -> StoredMessage:
        """A customer's files (already stored; the files never go to Rasa). With
        an agent they reach the agent at once; while queued they wait for the
        claim (history); with the bot the customer is told they are kept for
        a person, and a caption is the shopper's message: it goes to Rasa like
        a text (a stored turn, answered once), after a line saying the file is
        kept ("mira cómo ha llegado la chaqueta, rota" starts the damaged-item
        flow). ``ws``: the web socket to acknowledge it on, once stored."""
        infos = [a.info() for a in attachments]
        caption = caption.strip()
        text = caption or ("[Foto]" if all(a.kind == "photo" for a in attachments) else "[Documento]")
        async with self.lock(conversation_id):
            if caption:  # stored with its turn when the bot owes an answer (like a text)
                conversation, message, created = await self.storage.receive(
                    conversation_id, text, {"attachments": infos}, client_id)
            else:
                conversation = await self.storage.get_conversation(conversation_id)
                message, created = await self.storage.add_message(
                    conversation_id, "customer", text, {"attachments": infos}, None, client_id)
            if client_id is not None and ws is not None:  # the web widget: stored, so out of its outbox
                await self.send(ws, {"type": "ack", "client_id": client_id, "id": str(message.id)})
            if not created:
                if caption and await self.storage.message_turn(message.id) is not None:
                    await self._bot_turn(await self.storage.get_conversation(conversation_id), message, replay=True)
                return message
            self.metrics.messages.labels("customer").inc()
            route = customer_route(conversation.state)
            if route is Route.AGENT:
                await self.to_agent(conversation.agent_id or "", self._agent_message_frame(message))
            elif route is Route.QUEUE:
                # a caption is the shopper's words; "[Foto]" never replaces words already quoted
                if caption or not conversation.preview:
                    await self.storage.set_preview(conversation_id, text)
                    await self.broadcast_queue()
                await self._queue_ack(conversation, file=True)
            elif caption:
                await self._bot_turn(conversation, message)
            else:
                await self._deliver(conversation_id, "system", self.texts["attachment_kept"], {"buttons": [HUMAN_BUTTON]})
            return message

    async def system_message(self, conversation_id: str, text: str, buttons: Sequence[Dict[str, str]] = ()) -> StoredMessage:
        """A system message (stored, then delivered), e.g. a channel's help text."""
        async with self.lock(conversation_id):
            return await self._deliver(conversation_id, "system", text, {"buttons": list(buttons)} if buttons else None)

    async def customer_contact(self, conversation_id: str, ws: Socket, email: str, client_id: Optional[str]) -> None:
        async with self.lock(conversation_id):
            await self.storage.set_contact(conversation_id, email.strip())
            if client_id is not None:
                await self.send(ws, {"type": "ack", "client_id": client_id})
            logger.info("contact_left", extra={"conversation_id": conversation_id})
            await self._deliver(conversation_id, "system", self.texts["contact_thanks"])
            await self.broadcast_queue()

    async def customer_csat(self, conversation_id: str, score: int, comment: Optional[str]) -> None:
        async with self.lock(conversation_id):
            try:
                pending = await self.storage.get_conversation(conversation_id)
                ask_nps = (pending.csat_episode_id is not None
                           and nps_selected(pending.id, pending.csat_episode_id, self.policy.nps_share))
                stored = await self.storage.store_csat(conversation_id, score, (comment or "").strip() or None,
                                                       now=self.clock(), ask_nps=ask_nps)
            except NoCsatPending as exc:
                raise FrameError("no_csat_pending", "No hay ninguna valoración pendiente.") from exc
            self.metrics.csat.observe(score)
            logger.info("csat_stored", extra={"conversation_id": conversation_id, "score": score,
                                              "agent_id": stored["agent_id"], "reason": stored["reason"]})
            # the score rides on the thanks, so a history (a reload) shows the rating as given
            await self._deliver(conversation_id, "system", self.texts["csat_thanks"], {"csat_score": score})
            if ask_nps:
                await self.to_customer(conversation_id, self._nps_request())

    async def customer_nps(self, conversation_id: str, score: int) -> None:
        async with self.lock(conversation_id):
            try:
                await self.storage.store_nps(conversation_id, score, now=self.clock())
            except NoNpsPending as exc:
                raise FrameError("no_nps_pending", "No hay ninguna pregunta pendiente (no NPS question pending).") from exc
            logger.info("nps_stored", extra={"conversation_id": conversation_id, "score": score})
            await self._deliver(conversation_id, "system", self.texts["nps_thanks"], {"nps_score": score})

    async def message_received(self, conversation_id: str, message_id: str) -> None:
        """The shopper's side really has an agent's message (the widget showed
        it: ``received``; Telegram accepted it for the chat): its author's
        console marks it "entregado" (``delivered``). Until then the console
        says "enviado" (the ``ack``: stored and sent, maybe to a socket nobody
        reads any more). Another conversation's id, or not an agent's message,
        is ignored."""
        try:
            message = await self.storage.get_message(int(message_id))
        except (NotFound, ValueError):
            return
        if message.conversation_id != conversation_id or message.sender != "agent" or not message.agent_id:
            return
        # stored, so a console opened later shows the mark too
        await self.storage.mark_delivered(message.id, self.clock())
        await self.to_agent(message.agent_id, {"type": "delivered", "conversation_id": conversation_id,
                                               "id": str(message.id)})

    async def customer_typing(self, conversation_id: str) -> None:
        conversation = await self.storage.get_conversation(conversation_id)
        if conversation.state is State.AGENT and conversation.agent_id:
            await self.to_agent(conversation.agent_id, {
                "type": "typing", "conversation_id": conversation_id, "sender": "customer"})
