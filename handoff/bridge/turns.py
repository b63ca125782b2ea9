"""The bot's side of a conversation: a customer message through Rasa and
its answer relayed (a turn, finished once), the handoff it may ask for
(queueing, out-of-hours opening), the bot's line after a close or a
withdrawal, the customer a proof links, and recovery of owed turns.
"""
from __future__ import annotations

import datetime as dt
import logging
from typing import Any, Dict, Optional, Sequence

from handoff.bridge.base import (
    BRIDGE_PAYLOADS,
    HUMAN_BUTTON,
    LINKED_BY,
    RASA_DOWN_CONTEXT,
    REQUEST_HUMAN,
    _is_handoff,
    _last_shown,
    _reply_content,
    _silent_customer,
    in_words,
    mask_email,
)
from handoff.bridge.sweeps import Sweeps
from handoff.rasa import RasaUnavailable
from handoff.sla import Promise, promise_for
from handoff.state import (
    AlreadyHandedOff,
    State,
    may_deliver,
)
from handoff.storage import (
    Conversation,
    StoredMessage,
    Turn,
)

logger = logging.getLogger("handoff.bridge")


class Turns(Sweeps):
    """The bot's side of a conversation: turns, handoffs, recovery."""

    async def _link_customer(self, conversation_id: str, customer: Dict[str, Any], linked_by: str,
                             profile: bool = True) -> bool:
        """The conversation's shopper proved to be store customer
        ``customer["id"]`` (caller holds the lock): stored on the conversation
        (``customer_id``, ``customer_linked_by``), so every later turn, handoff
        and channel knows it and the case card lists the customer's other
        conversations; and, with ``profile``, as the conversation's verified
        customer (the case card of a later handoff, even after Rasa forgot its
        slots). Whether the link is new."""
        raw_id = customer.get("id")
        if raw_id is None or isinstance(raw_id, bool) or not str(raw_id).strip():
            logger.warning("customer_link_without_id", extra={"conversation_id": conversation_id})
            return False
        linked_by = linked_by if linked_by in LINKED_BY else "order_email"
        customer_id = str(raw_id).strip()[:64]
        changed = await self.storage.link_customer(conversation_id, customer_id, linked_by)
        if profile:
            proved = {k: customer.get(k) for k in ("id", "name", "email", "verified_order_id")}
            proved["id"] = customer_id
            proved["verified_by"] = linked_by
            await self.storage.set_profile(conversation_id, verified_customer=proved)
        if changed:
            logger.info("customer_linked", extra={"conversation_id": conversation_id, "linked_by": linked_by})
        return changed

    async def verify_customer(self, conversation_id: str, customer: Dict[str, Any], slots: Dict[str, Any]) -> bool:
        """A customer the channel proved (Telegram: the customer's own phone).
        Stored on the conversation's profile (the case card of a later handoff
        shows them and their orders); merged into the context of a conversation
        already queued or assigned (agents get the new card); and set as Rasa
        slots so the bot's forms skip the e-mail question. Returns whether Rasa
        took the slots (through its bridge channel)."""
        async with self.lock(conversation_id):
            await self._link_customer(conversation_id, customer, str(customer.get("verified_by") or "telegram_phone"))
            conversation = await self.storage.get_conversation(conversation_id)
            if conversation.state is not State.BOT and not (conversation.context.get("customer") or {}).get("email"):
                conversation = await self.storage.update_context(conversation_id, {"customer": customer})
                if conversation.state is State.AGENT and conversation.agent_id:
                    await self.to_agent(conversation.agent_id, await self._conversation_frame(conversation))
            logger.info("customer_verified", extra={"conversation_id": conversation_id,
                                                    "verified_by": customer.get("verified_by")})
        if conversation.state is State.QUEUED:
            await self.broadcast_queue()
        try:
            await self.rasa.set_slots(conversation_id, slots)
        except RasaUnavailable as exc:
            logger.warning("rasa_slots_failed", extra={"conversation_id": conversation_id, "error": str(exc)})
            return False
        return True

    async def _bot_turn(self, conversation: Conversation, message: StoredMessage, replay: bool = False) -> None:
        """Answer a customer message through Rasa (caller holds the lock), then
        finish its turn. The Rasa call names the message, so a replay (after a
        crash) gets the answer Rasa gave the first time, never a second turn;
        the bot's messages are stored under ids derived from the message, so
        none is stored or shown twice. Rasa failing (or answering nothing)
        gets the apology and the offer of a person: never silence."""
        if message.data.get("payload") in BRIDGE_PAYLOADS:
            # "Volver al asistente" / "Seguir esperando" once the queue is left: never sent to Rasa
            await self._deliver(conversation.id, "system", self.texts["queue_not_queued"],
                                client_id=f"turn:{message.id}:bridge", resend=replay, finishes=message.id)
            if replay:
                await self.storage.finish_message_turn(message.id)
            return
        if message.data.get("stale_button"):
            # a button of a finished step: stored, never sent to Rasa, answered once
            await self._deliver(conversation.id, "system", self.texts["step_over"],
                                client_id=f"turn:{message.id}:stale", resend=replay, finishes=message.id)
            if replay:
                await self.storage.finish_message_turn(message.id)
            return
        if message.data.get("attachments"):
            # a file with a caption: the caption is the message; say once that the file is kept
            await self._deliver(conversation.id, "system", self.texts["attachment_kept_caption"],
                                client_id=f"turn:{message.id}:kept", resend=replay)
        text = message.text
        payload = message.data.get("payload") if isinstance(message.data.get("payload"), str) else None
        wants_human = (payload or text).strip().startswith(REQUEST_HUMAN)
        if wants_human and conversation.id in self._rasa_failed:
            await self._enqueue(conversation, "rasa_down", RASA_DOWN_CONTEXT, await self._preview(message))
            await self.storage.finish_message_turn(message.id)
            return
        await self.to_customer(conversation.id, {"type": "typing", "sender": "bot"})
        try:
            replies = await self.rasa.message(conversation.id, payload or text, message_id=f"m{message.id}",
                                              retry=replay)
            if not replies:
                raise RasaUnavailable("Rasa answered nothing")
        except RasaUnavailable as exc:
            logger.warning("rasa_unavailable", extra={"conversation_id": conversation.id, "error": str(exc)})
            if wants_human:
                await self._enqueue(conversation, "rasa_down", RASA_DOWN_CONTEXT, await self._preview(message))
                await self.storage.finish_message_turn(message.id)
            else:
                self._rasa_failed.add(conversation.id)
                await self._deliver(conversation.id, "system", self.texts["apology"], {"buttons": [HUMAN_BUTTON]},
                                    client_id=f"turn:{message.id}:apology", resend=replay, finishes=message.id)
                if replay:  # the apology may have been stored before: its turn not finished then
                    await self.storage.finish_message_turn(message.id)
            return
        self.crash_point("turn_rasa_answered")
        self._rasa_failed.discard(conversation.id)
        preview = await self._preview(message) if any(_is_handoff(r) for r in replies) else None
        finished = await self._relay_bot(conversation, replies, preview, f"turn:{message.id}", replay, message.id)
        self.crash_point("turn_relayed")
        if replay or not finished:
            await self.storage.finish_message_turn(message.id)

    async def _relay_bot(
        self, conversation: Conversation, replies: Sequence[Dict[str, Any]], preview: Optional[str],
        key: str, replay: bool = False, turn_of: Optional[int] = None,
    ) -> bool:
        """Rasa's replies in order; a handoff payload queues the conversation and
        nothing the bot says after it reaches the customer. Each reply is
        stored as ``<key>:<n>`` (once; a replay sends the stored one again,
        and the channels drop what they already showed). The last reply shown
        finishes the turn of customer message ``turn_of`` in its own
        transaction; whether one did."""
        last = _last_shown(conversation.state, replies)
        state = conversation.state
        for n, reply in enumerate(replies):
            proved = _silent_customer(reply)
            if proved is not None:  # never shown: links the conversation to the customer
                await self._link_customer(conversation.id, proved, "order_email")
                continue
            if _is_handoff(reply):
                handoff = reply["custom"]["handoff"]
                if state is State.BOT:
                    conversation = await self._enqueue(
                        conversation, str(handoff.get("reason") or "customer_request"), handoff, preview)
                    state = conversation.state
                    self.crash_point("handoff_queued")
                continue
            if not may_deliver(state, "bot"):
                logger.info("bot_message_dropped", extra={"conversation_id": conversation.id, "state": state.value})
                continue
            text, buttons = _reply_content(reply)
            if not text and not buttons:
                continue
            await self._deliver(conversation.id, "bot", text, {"buttons": buttons} if buttons else None,
                                client_id=f"{key}:{n}", resend=replay, finishes=turn_of if n == last else None)
            self.crash_point("turn_replied")
        return last is not None and turn_of is not None

    async def _preview(self, message: StoredMessage) -> Optional[str]:
        """What the agents' queue quotes for a handoff this message starts: its
        text if the shopper wrote it, else the latest text they wrote since the
        last handoff (a "/agente" or a button press quotes the words before
        it); None when there is none (the queue entry then has a
        ``preview_note``)."""
        if in_words(message):
            return message.text
        since = (await self.storage.latest_events([message.conversation_id])).get(message.conversation_id, 0)
        worded = [m for m in await self.storage.history(message.conversation_id, after_id=since)
                  if m.id < message.id and in_words(m)]
        return worded[-1].text if worded else None

    def _opening_text(self, promise: Promise, now: dt.datetime, known_email: Optional[str] = None) -> str:
        """Out of hours: the one line that says so, by when a person will
        answer (the promise) and the hours; a shopper whose e-mail is known
        (verified, or left before) is told it, not asked for it again."""
        text = self.texts.get("opening", promise=self._promise_text(promise, now),
                              hours=self.policy.support_hours_text)
        if known_email:
            return text + self.texts.get("opening_email_known", email=mask_email(known_email))
        return text + self.texts["opening_ask_email"]

    async def _enqueue(
        self, conversation: Conversation, reason: str, context: Dict[str, Any], preview: Optional[str]
    ) -> Conversation:
        """bot → queued (caller holds the conversation's lock). Already queued or
        assigned: nothing is queued twice, the customer just gets the state again."""
        now = self.clock()
        offline = not self.policy.is_support_open(now)
        context = dict(context)
        profile = await self.storage.get_profile(conversation.id)
        if profile.display_name:
            context["customer_name"] = profile.display_name
        if profile.verified_customer and not (context.get("customer") or {}).get("email"):
            context["customer"] = profile.verified_customer
        details = context.get("details")
        described = details.get("description") if isinstance(details, dict) else None
        if isinstance(described, str) and described.strip():
            # the problem in the shopper's words (an issue form's description), not the answer that
            # ended the form (the e-mail, the order number) nor a later «/agente»
            preview = described.strip()
        if not preview:  # no words (a command, a button): the queue says what they did instead
            context["preview_note"] = self.texts["preview_request_human"]
        payload_customer = context.get("customer")
        if isinstance(payload_customer, dict) and payload_customer.get("id") is not None \
                and conversation.customer_id is None:  # an older action server: the payload proves it too
            await self._link_customer(conversation.id, payload_customer,
                                      str(payload_customer.get("verified_by") or "order_email"), profile=False)
        promise = promise_for(self.policy, 0, now)
        try:
            # out of hours the promise is in the opening line that follows: said once
            notice = self._queued_notice(None if offline else promise, now)
            conversation = await self.storage.enqueue(conversation.id, reason, context, offline, preview, now, notice)
        except AlreadyHandedOff:
            current = await self.storage.get_conversation(conversation.id)
            if current.state is State.QUEUED:
                await self.to_customer(current.id, await self._queued_status(current))
            return current
        self.metrics.handoffs.labels(reason).inc()
        logger.info("handoff_queued", extra={"conversation_id": conversation.id, "reason": reason, "offline": offline})
        # first that they are queued («Te hemos puesto en la cola…», the widget's notice and
        # Telegram's line), then, out of hours, why nobody answers yet and by when
        await self._send_queued_status(conversation)
        if offline:
            await self._deliver(conversation.id, "system",
                                self._opening_text(promise, now, self.known_email(conversation)))
        self.queue_changed()  # the shopper has their place; agents get the queue (coalesced)
        return conversation

    async def _send_queued_status(self, conversation: Conversation) -> None:
        """The queued ``handoff`` frame to this customer now, remembered as
        sent, so the ``broadcast_queue`` that follows does not repeat it."""
        status = await self._queued_status(conversation)
        self._status_sent(conversation.id, status)
        await self.to_customer(conversation.id, status)

    async def _resume(self, conversation: Conversation, turn: Turn, replay: bool = False) -> None:
        """After a close or the queue left (caller holds the lock): the bot says
        it is back (Rasa's response, in the store's voice; the bridge's own
        line if Rasa cannot), then, after a close only, the CSAT request; the
        turn is finished. Rasa never pauses a conversation (the bridge's state
        machine alone decides who talks), so a failed resume leaves nothing
        silent."""
        left = turn.kind == "withdraw"
        action = self.settings.queue_left_action if left else self.settings.resume_action
        try:
            replies = await self.rasa.resume(conversation.id, action)
        except RasaUnavailable as exc:
            logger.warning("rasa_resume_failed", extra={"conversation_id": conversation.id, "error": str(exc)})
            replies = []
        self.crash_point("close_resumed")
        if any(r.get("text") for r in replies):
            await self._relay_bot(conversation, replies, None, f"resume:{turn.key}", replay)
        elif left:  # a way back to a person, should the shopper change their mind
            await self._deliver(conversation.id, "system", self.texts["queue_left"], {"buttons": [HUMAN_BUTTON]},
                                client_id=f"resume:{turn.key}:0", resend=replay)
        else:
            await self._deliver(conversation.id, "system", self.texts["resumed"], client_id=f"resume:{turn.key}:0", resend=replay)
        if conversation.csat_episode_id is not None and not left:
            await self.to_customer(conversation.id, await self._csat_request(conversation))
        await self.storage.finish_turn(turn.id)

    async def recover(self, older_than_s: float = 0.0) -> int:
        """Finish the turns a previous process left owed (it died between
        storing a message and answering it, or between a close and the bot's
        line), oldest first, each under its conversation's lock; how many.
        Safe to run while customers talk: a turn finished meanwhile is gone.
        ``older_than_s``: only turns owed at least that long (another live
        bridge may be finishing a newer one)."""
        done = 0
        cutoff = self.clock() - dt.timedelta(seconds=older_than_s)
        for turn in await self.storage.pending_turns():
            created = turn.created_at
            if older_than_s and created is not None \
                    and (created if created.tzinfo else created.replace(tzinfo=dt.timezone.utc)) > cutoff:
                continue
            async with self.lock(turn.conversation_id):
                if turn not in await self.storage.pending_turns(turn.conversation_id):
                    continue
                conversation = await self.storage.get_conversation(turn.conversation_id)
                if turn.kind == "message" and turn.message_id is not None:
                    await self._bot_turn(conversation, await self.storage.get_message(turn.message_id), replay=True)
                else:
                    await self._resume(conversation, turn, replay=True)
                done += 1
                logger.info("turn_recovered", extra={"conversation_id": turn.conversation_id, "kind": turn.kind})
        return done
