"""What agents do: connect (queue and their conversations), keep their
conversations through a short disconnection (grace), claim, reply, add
notes and labels, transfer, close; and the case card they are sent.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any, List, Optional, Sequence, Set

from handoff.bridge.base import (
    PREVIOUS_CONVERSATIONS,
    Frame,
    Socket,
    _iso,
)
from handoff.bridge.customers import Customers
from handoff.casecard import case_card, customer_view, earlier_conversation
from handoff.cluster import AGENT
from handoff.frames import FrameError
from handoff.labels import LABEL_SUGGESTIONS, MAX_LABELS, check_labels
from handoff.notifications import NotificationStore, customer_notifications
from handoff.queue import view_of
from handoff.state import (
    Event,
    State,
    TransitionError,
    may_deliver,
)
from handoff.storage import (
    Agent,
    Conversation,
    NotFound,
    StoredMessage,
    TooManyLabels,
)

logger = logging.getLogger("handoff.bridge")


class AgentSide(Customers):
    """The agents' side (the module docstring says what it covers)."""

    async def authenticate(self, token: str, address: Optional[str]) -> Optional[Agent]:
        """The agent whose token this is, or None; through the login throttle
        (LoginRefused when ``address`` may not try now)."""
        return await self.login_throttle.authenticate(self.storage, token, address)

    async def agent_connected(self, agent: Agent, ws: Socket, queue_changes: bool = False) -> None:
        """Register, then: authenticated, the queue, and the agent's open
        conversations. ``queue_changes``: this socket gets the queue once, then
        only ``queue_changed`` frames (else a whole ``queue`` frame each time)."""
        self.agents[agent.id].add(ws)
        self.cluster.attach(AGENT, agent.id)
        self._hold(ws)
        task = self._grace.pop(agent.id, None)
        if task is not None:
            task.cancel()
        self.metrics.agents_online.set(len(self.agents))
        logger.info("agent_connected", extra={"agent_id": agent.id})
        sent: Set[str] = set()
        try:
            await self.send(ws, {"type": "authenticated", "agent": {"id": agent.id, "name": agent.name, "role": agent.role}})
            async with self._queue_lock:  # the first queue and the view its changes start from, together
                queued = await self.storage.queue()
                first = self._queue_frame(queued, await self._presence(queued, self.clock()),
                                          await self._promises([c.id for c in queued]))
                await self.send(ws, first)
                if queue_changes:
                    self._queue_views[ws] = view_of(first["conversations"])
            for conversation in await self.storage.conversations_of_agent(agent.id):
                card = await self._conversation_frame(conversation)
                sent.update(line["id"] for line in card["history"])
                await self.send(ws, card)
        finally:
            await self._release(ws, sent)
        await self.broadcast_queue()

    async def agent_disconnected(self, agent: Agent, ws: Socket) -> None:
        self._held.pop(ws, None)
        self._history_sent.pop(ws, None)
        self._queue_views.pop(ws, None)
        sockets = self.agents.get(agent.id)
        if sockets is not None and ws in sockets:
            sockets.discard(ws)
            self.cluster.detach(AGENT, agent.id, self.clock())
            if not sockets:
                del self.agents[agent.id]
                self._schedule_grace(agent.id)
        self.metrics.agents_online.set(len(self.agents))
        logger.info("agent_disconnected", extra={"agent_id": agent.id})

    def _schedule_grace(self, agent_id: str) -> None:
        if agent_id not in self._grace:
            self._grace[agent_id] = asyncio.create_task(self._grace_expired(agent_id))

    async def _grace_expired(self, agent_id: str) -> None:
        """After HANDOFF_AGENT_GRACE_S without a connection, the agent's
        conversations go back to the FRONT of the queue."""
        try:
            await asyncio.sleep(self.settings.agent_grace_s)
            if self.agents.get(agent_id):
                return
            seen = await self.cluster.seen(AGENT, [agent_id], self.clock())
            if agent_id in seen and seen[agent_id] is None:
                return  # connected to another bridge
            for conversation in await self.storage.conversations_of_agent(agent_id):
                async with self.lock(conversation.id):
                    try:
                        notice = self._queued_notice((await self._promises([conversation.id])).get(conversation.id),
                                                     self.clock())
                        await self.storage.requeue(conversation.id, agent_id, Event.AGENT_LOST, self.clock(), notice)
                    except TransitionError:
                        continue
                    logger.info("agent_lost_requeued", extra={"conversation_id": conversation.id, "agent_id": agent_id})
                    await self._deliver(conversation.id, "system", self.texts["agent_lost"])
            await self.broadcast_queue()
        finally:
            if self._grace.get(agent_id) is asyncio.current_task():
                del self._grace[agent_id]

    async def _conversation_frame(self, conversation: Conversation) -> Frame:
        history = await self.storage.history(conversation.id, include_notes=True)
        context = await case_card(conversation.context, conversation.reason, history, self.store, self.policy,
                                  (conversation.customer_id, conversation.customer_linked_by))
        lines = await self._history_lines(conversation.id, history)
        customer_id = conversation.customer_id or self._context_customer_id(conversation)
        earlier = await self.storage.customer_conversations(customer_id, exclude=conversation.id,
                                                            limit=PREVIOUS_CONVERSATIONS) if customer_id else []
        context["previous_conversations"] = [earlier_conversation(row) for row in earlier]
        # what the shop's order updates told this customer (handoff/shop/notify.py)
        context["notifications"] = await customer_notifications(NotificationStore(self.storage), customer_id)
        context["customer_link"] = {"customer_id": customer_id, "linked_by": conversation.customer_linked_by,
                                    "linked_by_text": (customer_view({"verified_by": conversation.customer_linked_by}) or {})
                                    .get("verified_by_text") if conversation.customer_linked_by else None}
        frame: Frame = {"type": "conversation", "conversation_id": conversation.id, "channel": conversation.channel,
                        "waiting_since": _iso(conversation.queued_at), "contact_email": conversation.contact_email,
                        "customer_name": conversation.context.get("customer_name"),
                        "history": lines, "context": context,
                        "labels": await self.storage.labels(conversation.id),
                        "label_suggestions": await self.storage.popular_labels(LABEL_SUGGESTIONS)}
        promise = (await self._promises([conversation.id])).get(conversation.id)
        frame.update(self._sla_fields(promise))
        return frame

    @staticmethod
    def _context_customer_id(conversation: Conversation) -> Optional[str]:
        customer = conversation.context.get("customer")
        value = customer.get("id") if isinstance(customer, dict) else None
        return str(value) if value is not None else None

    async def _history_lines(self, conversation_id: str,
                             history: Optional[Sequence[StoredMessage]] = None) -> List[Frame]:
        """A conversation's transcript as agents get it (notes included);
        ``history``: that history when the caller has just read it."""
        if history is None:
            history = await self.storage.history(conversation_id, include_notes=True)
        names = await self.storage.agent_names(sorted({m.agent_id for m in history if m.agent_id}))
        lines = []
        for m in history:
            line: Frame = {"id": str(m.id), "sender": m.sender, "text": m.text, "at": _iso(m.created_at)}
            if m.agent_id:
                line["agent_name"] = names.get(m.agent_id, "")
            if m.delivered_at:
                line["delivered_at"] = _iso(m.delivered_at)
            attachments = self._attachment_frames(m)
            if attachments:
                line["attachments"] = attachments
            lines.append(line)
        return lines

    async def transcript(self, agent: Agent, conversation_id: str, ws: Socket) -> None:
        """``{"type":"transcript","conversation_id"}`` from an agent: that
        conversation's whole history, read-only (an earlier conversation of
        the customer on the case card), whatever its state; ``not_found``
        otherwise. Agents only (the customer endpoint has no such frame)."""
        conversation = await self._get(conversation_id)
        customer_id = conversation.customer_id or self._context_customer_id(conversation)
        summary = None
        if customer_id:
            rows = await self.storage.customer_conversations(customer_id, limit=200)
            summary = next((earlier_conversation(r) for r in rows if r["conversation_id"] == conversation_id), None)
        logger.info("transcript_read", extra={"conversation_id": conversation_id, "agent_id": agent.id})
        await self.send(ws, {"type": "transcript", "conversation_id": conversation_id,
                             "channel": conversation.channel, "started_at": _iso(conversation.created_at),
                             "summary": summary, "labels": await self.storage.labels(conversation_id),
                             "history": await self._history_lines(conversation_id)})

    async def change_labels(self, agent: Agent, conversation_id: str, add: Any, remove: Any) -> None:
        """``{"type":"label","conversation_id","add":[...],"remove":[...]}``
        (../shared/design/reports.md, "Labels"): every label is checked
        (handoff/labels.py) before anything is stored; the answer is a
        ``labels`` frame (the conversation's labels and the suggestions) to
        the agent and to whoever holds the conversation."""
        adding, removing = check_labels(add, remove)
        conversation = await self._get(conversation_id)
        try:
            labels = await self.storage.change_labels(conversation_id, adding, removing, agent.id, self.clock(),
                                                      most=MAX_LABELS)
        except TooManyLabels as exc:
            raise FrameError("invalid_label", f"Una conversación puede tener como mucho {MAX_LABELS} etiquetas "
                                              "(too many labels).") from exc
        except NotFound as exc:
            raise FrameError("not_found", "No existe esa conversación (conversation not found).") from exc
        logger.info("labels_changed", extra={"conversation_id": conversation_id, "agent_id": agent.id,
                                             "added": len(adding), "removed": len(removing)})
        frame = {"type": "labels", "conversation_id": conversation_id, "labels": labels,
                 "suggestions": await self.storage.popular_labels(LABEL_SUGGESTIONS)}
        for agent_id in {agent.id, conversation.agent_id}:
            if agent_id:
                await self.to_agent(agent_id, frame)

    async def _get(self, conversation_id: str) -> Conversation:
        try:
            return await self.storage.get_conversation(conversation_id)
        except NotFound as exc:
            raise FrameError("not_found", "No existe esa conversación (conversation not found).") from exc

    @staticmethod
    def _not_assigned(exc: Exception) -> FrameError:
        error = FrameError("not_assigned", "Esta conversación no está asignada a ti (not assigned to you).")
        error.__cause__ = exc
        return error

    async def claim(self, agent: Agent, conversation_id: str) -> None:
        """One transaction decides and stores the claim (handoff/storage/transitions.py);
        then the claimer gets the case, the shopper the news, and the queue follows."""
        async with self.lock(conversation_id):
            now = self.clock()
            try:
                claimed = await self.storage.claim(conversation_id, agent.id, now,
                                                   self.texts.get("agent_joined", agent=agent.name))
            except NotFound as exc:
                raise FrameError("not_found", "No existe esa conversación (conversation not found).") from exc
            except TransitionError as exc:
                raise FrameError("already_claimed",
                                 "Otra persona ya atiende esta conversación o ya no está en cola "
                                 "(already claimed).") from exc
            if claimed.waited_since is not None:  # the first claim ends the wait
                self._observe_wait({"queued_at": claimed.waited_since}, "claimed", now)
            logger.info("conversation_claimed", extra={"conversation_id": conversation_id, "agent_id": agent.id})
            self.crash_point("claim_stored")
            await self.to_agent(agent.id, await self._conversation_frame(claimed.conversation))
            await self.to_customer(conversation_id, {"type": "handoff", "state": "assigned", "agent_name": agent.name,
                                                     "event_id": str(claimed.event_id)})
        self.queue_changed()  # the claimer is answered; the queue follows (coalesced)

    async def agent_message(self, agent: Agent, conversation_id: str, text: str, client_id: Optional[str], ws: Socket) -> None:
        async with self.lock(conversation_id):
            conversation = await self._get(conversation_id)
            if not may_deliver(conversation.state, "agent", agent.id, conversation.agent_id):
                raise FrameError("not_assigned", "Esta conversación no está asignada a ti (not assigned to you).")
            stored_client_id = f"agent:{agent.id}:{client_id}" if client_id else None
            now = self.clock()
            message, created, queued_at = await self.storage.add_agent_reply(
                conversation_id, agent.id, text, stored_client_id, conversation.episode_id, now)
            self.crash_point("agent_reply_stored")
            await self._send_stored(message, created, agent)
            if client_id is not None:
                await self.send(ws, {"type": "ack", "client_id": client_id, "id": str(message.id)})
            if queued_at is not None:
                self.metrics.first_reply.observe(max(0.0, (now - queued_at).total_seconds()))

    async def agent_typing(self, agent: Agent, conversation_id: str) -> None:
        conversation = await self._get(conversation_id)
        if may_deliver(conversation.state, "agent", agent.id, conversation.agent_id):
            await self.to_customer(conversation_id, {"type": "typing", "sender": "agent"})

    async def note(self, agent: Agent, conversation_id: str, text: str) -> None:
        """Internal note: stored, shown to the author and the assigned agent only."""
        async with self.lock(conversation_id):
            conversation = await self._get(conversation_id)
            if conversation.state is State.AGENT and conversation.agent_id != agent.id:
                raise FrameError("not_assigned", "Esta conversación la atiende otra persona (assigned to another agent).")
            message, _ = await self.storage.add_message(conversation_id, "note", text, None, agent.id, None)
            self.metrics.messages.labels("note").inc()
            frame = {"type": "note", "conversation_id": conversation_id, "id": str(message.id), "text": text,
                     "agent_id": agent.id, "agent_name": agent.name, "at": _iso(message.created_at)}
            for agent_id in {agent.id, conversation.agent_id}:
                if agent_id:
                    await self.to_agent(agent_id, frame)

    async def transfer(self, agent: Agent, conversation_id: str, to: str) -> None:
        if to == "queue":
            async with self.lock(conversation_id):
                await self._get(conversation_id)
                try:
                    notice = self._queued_notice((await self._promises([conversation_id])).get(conversation_id),
                                                 self.clock())
                    await self.storage.requeue(conversation_id, agent.id, Event.TRANSFER_TO_QUEUE, self.clock(), notice)
                except TransitionError as exc:
                    raise self._not_assigned(exc) from exc
                logger.info("transferred_to_queue", extra={"conversation_id": conversation_id, "agent_id": agent.id})
                await self.to_agent(agent.id, {"type": "released", "conversation_id": conversation_id, "to": "queue"})
                await self.broadcast_queue()
            return
        target = await self.storage.get_agent(to)
        if target is None or target.id == agent.id:
            raise FrameError("not_found", "No existe ese agente o eres tú (unknown agent).")
        async with self.lock(conversation_id):
            await self._get(conversation_id)
            try:
                conversation = await self.storage.transfer(conversation_id, agent.id, target.id,
                                                           self.texts.get("agent_joined", agent=target.name),
                                                           self.clock())
            except TransitionError as exc:
                raise self._not_assigned(exc) from exc
            logger.info("transferred_to_agent", extra={"conversation_id": conversation_id,
                                                       "agent_id": agent.id, "to_agent_id": target.id})
            await self.to_agent(agent.id, {"type": "released", "conversation_id": conversation_id, "to": target.id})
            await self.to_agent(target.id, await self._conversation_frame(conversation))
            await self.to_customer(conversation_id, await self._handoff_frame(
                conversation_id, {"type": "handoff", "state": "assigned", "agent_name": target.name}))

    async def close(self, agent: Agent, conversation_id: str, resolution: Optional[str]) -> None:
        """agent → bot, then the owed ``resume`` turn: the bot's line and the
        CSAT request (``_resume``)."""
        resolution = resolution if resolution in ("resolved", "unresolved") else "resolved"
        async with self.lock(conversation_id):
            await self._get(conversation_id)
            try:
                conversation = await self.storage.close(conversation_id, agent.id, resolution, self.clock(),
                                                        self.texts.get("handoff_ended", agent=agent.name))
            except TransitionError as exc:
                raise self._not_assigned(exc) from exc
            logger.info("conversation_closed", extra={"conversation_id": conversation_id,
                                                      "agent_id": agent.id, "resolution": resolution})
            self.crash_point("close_stored")
            await self.to_agent(agent.id, {"type": "closed", "conversation_id": conversation_id, "resolution": resolution})
            # the agent's name, so every channel says "La conversación con Ana ha terminado."
            await self.to_customer(conversation_id, await self._handoff_frame(conversation_id, {
                "type": "handoff", "state": "ended", "outcome": "closed", "agent_name": agent.name}))
            for turn in await self.storage.pending_turns(conversation_id):
                if turn.kind == "resume":
                    await self._resume(conversation, turn)
