"""Conversations: created per session, read by id or session, listed for
the queue and per agent, and their contact, preview and handoff context.

``read_conversation`` is the one read of a conversation row every job uses
inside its own transaction (state changes, messages, ratings, labels)."""
from __future__ import annotations

import json
import secrets
from typing import Any, Dict, List, Optional

from sqlalchemy import and_, bindparam, insert, select, update
from sqlalchemy.engine import Connection

from handoff.state import State
from handoff.storage.engine import StorageEngine, per_message, threaded
from handoff.storage.errors import NotFound
from handoff.storage.records import Conversation, QueueEntry, conversation_of, utcnow
from handoff.storage.tables import conversations_table

SELECT_CONVERSATION = select(conversations_table).where(conversations_table.c.id == bindparam("conversation_id"))


def read_conversation(conn: Connection, conversation_id: str) -> Conversation:
    row = conn.execute(SELECT_CONVERSATION, {"conversation_id": conversation_id}).first()
    if row is None:
        raise NotFound(f"conversation {conversation_id} not found")
    return conversation_of(row)


class ConversationStorage(StorageEngine):
    """Storage's part for conversation rows."""

    @threaded
    def create_conversation(self, conn: Connection, channel: str) -> Conversation:
        now = utcnow()
        conversation_id = "c_" + secrets.token_hex(12)
        conn.execute(insert(conversations_table).values(
            id=conversation_id, session_id=secrets.token_urlsafe(24), channel=channel,
            state=State.BOT.value, offline=False, created_at=now, updated_at=now))
        return read_conversation(conn, conversation_id)

    @per_message
    def get_conversation(self, conn: Connection, conversation_id: str) -> Conversation:
        return read_conversation(conn, conversation_id)

    @per_message
    def by_session(self, conn: Connection, session_id: str) -> Optional[Conversation]:
        row = conn.execute(select(conversations_table).where(conversations_table.c.session_id == session_id)).first()
        return conversation_of(row) if row else None

    @threaded
    def queue(self, conn: Connection) -> List[Conversation]:
        """Queued conversations, first to be served first."""
        rows = conn.execute(
            select(conversations_table)
            .where(conversations_table.c.state == State.QUEUED.value)
            .order_by(conversations_table.c.queue_rank, conversations_table.c.episode_id)
        ).all()
        return [conversation_of(r) for r in rows]

    @threaded
    def queue_entries(self, conn: Connection) -> List[QueueEntry]:
        """The queue's order as ``queue`` gives it, ids and channels only."""
        rows = conn.execute(
            select(conversations_table.c.id, conversations_table.c.channel)
            .where(conversations_table.c.state == State.QUEUED.value)
            .order_by(conversations_table.c.queue_rank, conversations_table.c.episode_id)
        ).all()
        return [QueueEntry(r.id, r.channel) for r in rows]

    @threaded
    def conversations_of_agent(self, conn: Connection, agent_id: str) -> List[Conversation]:
        rows = conn.execute(
            select(conversations_table)
            .where(and_(conversations_table.c.state == State.AGENT.value, conversations_table.c.agent_id == agent_id))
            .order_by(conversations_table.c.updated_at)
        ).all()
        return [conversation_of(r) for r in rows]

    @threaded
    def agents_with_conversations(self, conn: Connection) -> List[str]:
        rows = conn.execute(
            select(conversations_table.c.agent_id)
            .where(conversations_table.c.state == State.AGENT.value).distinct()
        ).all()
        return [r.agent_id for r in rows if r.agent_id]

    @threaded
    def set_contact(self, conn: Connection, conversation_id: str, email: str) -> None:
        conn.execute(update(conversations_table).where(conversations_table.c.id == conversation_id)
                     .values(contact_email=email, updated_at=utcnow()))

    @per_message
    def set_preview(self, conn: Connection, conversation_id: str, preview: str) -> None:
        conn.execute(update(conversations_table).where(conversations_table.c.id == conversation_id)
                     .values(preview=preview[:200], updated_at=utcnow()))

    @threaded
    def update_context(self, conn: Connection, conversation_id: str, patch: Dict[str, Any]) -> Conversation:
        """Merge ``patch`` into the handoff context (e.g. a customer verified
        while queued); the state is not touched."""
        current = read_conversation(conn, conversation_id)
        context = {**current.context, **patch}
        conn.execute(update(conversations_table).where(conversations_table.c.id == conversation_id)
                     .values(context=json.dumps(context, ensure_ascii=False, default=str), updated_at=utcnow()))
        return read_conversation(conn, conversation_id)
