"""The message log: customers', the bot's and agents' messages, notes,
and the handoff state changes stored among them as events.

Every message's path is here (``receive``, ``add_message``,
``add_agent_reply``): one short transaction each, a resend (same client id)
found by its unique constraint. ``insert_message`` and ``add_event`` are the
rows other jobs write in their own transactions (a state change's event)."""
from __future__ import annotations

import datetime as dt
import json
from typing import Any, Dict, List, Optional, Tuple

from sqlalchemy import and_, bindparam, func, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from handoff.state import State
from handoff.storage.conversations import read_conversation
from handoff.storage.engine import StorageEngine, per_message, threaded
from handoff.storage.errors import NotFound, StorageError
from handoff.storage.records import Conversation, StoredMessage, as_utc, message_of, utcnow
from handoff.storage.tables import conversations_table, episodes_table, messages_table
from handoff.storage.turns import DELETE_MESSAGE_TURN, INSERT_TURN

INSERT_MESSAGE = insert(messages_table)
EVENT = "handoff"  # the sender of handoff state changes (``Storage.events``)
SET_FIRST_CUSTOMER = (update(conversations_table)
                      .where(and_(conversations_table.c.id == bindparam("conversation_id"),
                                  conversations_table.c.first_customer_at.is_(None)))
                      .values(first_customer_at=bindparam("at")))
MARK_FIRST_REPLY = (update(episodes_table)
                    .where(and_(episodes_table.c.id == bindparam("episode_id"),
                                episodes_table.c.first_reply_at.is_(None)))
                    .values(first_reply_at=bindparam("replied_at")))


def insert_message(
    conn: Connection, conversation_id: str, sender: str, text: str,
    data: Optional[Dict[str, Any]], agent_id: Optional[str], client_id: Optional[str],
) -> StoredMessage:
    """One INSERT: a resent client_id fails the unique constraint and the
    caller reads the stored one instead (resends are rare)."""
    created_at = utcnow()
    result = conn.execute(INSERT_MESSAGE, {
        "conversation_id": conversation_id, "sender": sender, "text": text,
        "data": json.dumps(data, ensure_ascii=False) if data else None,
        "agent_id": agent_id, "client_id": client_id, "created_at": created_at})
    return StoredMessage(id=result.inserted_primary_key[0], conversation_id=conversation_id,
                         sender=sender, text=text, data=data or {}, agent_id=agent_id,
                         client_id=client_id, created_at=created_at)


def add_event(conn: Connection, conversation_id: str, state: str, notice: str = "",
              agent_id: Optional[str] = None, outcome: Optional[str] = None) -> int:
    """A handoff state change as a row of the messages table, in the
    transaction of the change: its id (returned) places it among the
    messages, so a history replays the notices where they happened (never a
    customer, bot or agent line: ``history`` leaves them out)."""
    data: Dict[str, Any] = {"state": state}
    if outcome:
        data["outcome"] = outcome
    return insert_message(conn, conversation_id, EVENT, notice, data, agent_id, None).id


class MessageStorage(StorageEngine):
    """Storage's part for the message log."""

    async def add_message(
        self,
        conversation_id: str,
        sender: str,
        text: str,
        data: Optional[Dict[str, Any]] = None,
        agent_id: Optional[str] = None,
        client_id: Optional[str] = None,
        finishes: Optional[int] = None,
    ) -> Tuple[StoredMessage, bool]:
        """Store a message; (message, False) if this client_id was already stored
        for the conversation (a resend: process it once, ack it again).
        ``finishes``: the customer message whose turn this message completes
        (the turn is deleted in the same transaction; not on a resend)."""
        try:
            return await self._add_message(conversation_id, sender, text, data, agent_id, client_id, finishes)
        except IntegrityError as exc:  # this client_id is stored already: a resend
            return await self._stored_resend(conversation_id, client_id, exc)

    async def receive(
        self, conversation_id: str, text: str, data: Optional[Dict[str, Any]] = None, client_id: Optional[str] = None,
        now: Optional[dt.datetime] = None,
    ) -> Tuple[Conversation, StoredMessage, bool]:
        """A customer's message: the conversation as it is now (its state
        decides the route) and the message stored, in one transaction;
        ``created`` is False for a resend, as in ``add_message``. The first
        customer message of a conversation also stores ``now`` (the bridge's
        clock; default the message's time) as its ``first_customer_at``, the
        day the reports count it in."""
        try:
            return await self._receive(conversation_id, text, data, client_id, now)
        except IntegrityError as exc:
            message, created = await self._stored_resend(conversation_id, client_id, exc)
            return await self.run_short(lambda conn: read_conversation(conn, conversation_id)), message, created

    async def add_agent_reply(
        self, conversation_id: str, agent_id: str, text: str, client_id: Optional[str],
        episode_id: Optional[int], now: dt.datetime,
    ) -> Tuple[StoredMessage, bool, Optional[dt.datetime]]:
        """An agent's message and, if it is the episode's first, ``now`` as the
        episode's first reply, in one transaction. The third value is the
        episode's queued_at when this was its first reply (for the metric),
        else None; ``created`` is as in ``add_message``."""
        try:
            return await self._add_agent_reply(conversation_id, agent_id, text, client_id, episode_id, now)
        except IntegrityError as exc:
            message, created = await self._stored_resend(conversation_id, client_id, exc)
            return message, created, None

    async def _stored_resend(
        self, conversation_id: str, client_id: Optional[str], exc: IntegrityError
    ) -> Tuple[StoredMessage, bool]:
        found = await self._by_client_id(conversation_id, client_id)
        if found is None:
            raise StorageError("message could not be stored") from exc
        return found, False

    @per_message
    def _by_client_id(self, conn: Connection, conversation_id: str, client_id: Optional[str]) -> Optional[StoredMessage]:
        row = conn.execute(select(messages_table).where(and_(
            messages_table.c.conversation_id == conversation_id,
            messages_table.c.client_id == client_id))).first()
        return message_of(row) if row else None

    @per_message
    def _add_message(
        self, conn: Connection, conversation_id: str, sender: str, text: str,
        data: Optional[Dict[str, Any]], agent_id: Optional[str], client_id: Optional[str],
        finishes: Optional[int],
    ) -> Tuple[StoredMessage, bool]:
        message = insert_message(conn, conversation_id, sender, text, data, agent_id, client_id)
        if finishes is not None:
            conn.execute(DELETE_MESSAGE_TURN, {"message_id": finishes})
        return message, True

    @per_message
    def _receive(
        self, conn: Connection, conversation_id: str, text: str, data: Optional[Dict[str, Any]], client_id: Optional[str],
        now: Optional[dt.datetime] = None,
    ) -> Tuple[Conversation, StoredMessage, bool]:
        conversation = read_conversation(conn, conversation_id)
        message = insert_message(conn, conversation_id, "customer", text, data, None, client_id)
        if conversation.first_customer_at is None:  # once per conversation: one more statement, the first time only
            conn.execute(SET_FIRST_CUSTOMER, {"conversation_id": conversation_id,
                                              "at": now or message.created_at})
        if conversation.state is State.BOT:  # the bot owes an answer (handoff.state.customer_route)
            conn.execute(INSERT_TURN, {"conversation_id": conversation_id, "kind": "message",
                                       "message_id": message.id, "created_at": message.created_at})
        return conversation, message, True

    @per_message
    def _add_agent_reply(
        self, conn: Connection, conversation_id: str, agent_id: str, text: str, client_id: Optional[str],
        episode_id: Optional[int], now: dt.datetime,
    ) -> Tuple[StoredMessage, bool, Optional[dt.datetime]]:
        message = insert_message(conn, conversation_id, "agent", text, None, agent_id, client_id)
        if episode_id is None or conn.execute(MARK_FIRST_REPLY, {"episode_id": episode_id, "replied_at": now}).rowcount != 1:
            return message, True, None
        queued_at = conn.execute(select(episodes_table.c.queued_at).where(episodes_table.c.id == episode_id)).scalar()
        return message, True, as_utc(queued_at)

    @threaded
    def get_message(self, conn: Connection, message_id: int) -> StoredMessage:
        row = conn.execute(select(messages_table).where(messages_table.c.id == message_id)).first()
        if row is None:
            raise NotFound(f"message {message_id} not found")
        return message_of(row)

    @threaded
    def mark_delivered(self, conn: Connection, message_id: int, now: dt.datetime) -> bool:
        """Stores that the shopper's side has this message; False when it was
        marked already (a history shown again confirms it again)."""
        done = conn.execute(
            update(messages_table)
            .where(and_(messages_table.c.id == message_id, messages_table.c.delivered_at.is_(None)))
            .values(delivered_at=now)
        )
        return done.rowcount == 1

    @threaded
    def history(
        self, conn: Connection, conversation_id: str, include_notes: bool = False, after_id: int = 0
    ) -> List[StoredMessage]:
        query = select(messages_table).where(and_(
            messages_table.c.conversation_id == conversation_id, messages_table.c.id > after_id,
            messages_table.c.sender != EVENT))
        if not include_notes:
            query = query.where(messages_table.c.sender != "note")
        return [message_of(r) for r in conn.execute(query.order_by(messages_table.c.id)).all()]

    @threaded
    def events(self, conn: Connection, conversation_id: str, after_id: int = 0) -> List[StoredMessage]:
        """The conversation's handoff state changes (sender ``handoff``), in the
        order of its messages: ``data`` has ``state`` (and ``outcome``), ``text``
        the notice the shopper was shown (may be empty), ``agent_id`` the agent."""
        query = select(messages_table).where(and_(
            messages_table.c.conversation_id == conversation_id, messages_table.c.id > after_id,
            messages_table.c.sender == EVENT))
        return [message_of(r) for r in conn.execute(query.order_by(messages_table.c.id)).all()]

    @threaded
    def latest_events(self, conn: Connection, conversation_ids: List[str]) -> Dict[str, int]:
        """The id of each conversation's latest handoff event (none: left out)."""
        if not conversation_ids:
            return {}
        rows = conn.execute(select(messages_table.c.conversation_id, func.max(messages_table.c.id))
                            .where(and_(messages_table.c.conversation_id.in_(conversation_ids),
                                        messages_table.c.sender == EVENT))
                            .group_by(messages_table.c.conversation_id)).all()
        return {r[0]: int(r[1]) for r in rows}
