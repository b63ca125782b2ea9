"""The channel's tables (same database; made by migrations/) and its SQL,
each call one transaction on the bridge's engine.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import secrets
from typing import Any, Dict, List, Optional, Sequence, Tuple

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from handoff.bridge import Bridge
from handoff.channels.telegram.constants import (
    BUTTONS_KEPT,
    CALLBACK_PREFIX,
    UPDATES_KEPT,
)
from handoff.storage import utcnow
from handoff.storage.records import as_utc

logger = logging.getLogger(__name__)


# -- the channel's tables (same database; made by migrations/) --------------

metadata = MetaData()

chats_table = Table(
    "handoff_telegram_chats",
    metadata,
    Column("chat_id", BigInteger, primary_key=True, autoincrement=False),
    Column("conversation_id", String(40), nullable=True, unique=True),  # NULL: a refused group chat
    Column("kind", String(16), nullable=False),
    Column("announced_state", String(10), nullable=True),  # last handoff state told to the customer
    Column("created_at", DateTime(timezone=True), nullable=False),
)

updates_table = Table(
    "handoff_telegram_updates",
    metadata,
    Column("update_id", BigInteger, primary_key=True, autoincrement=False),
    Column("processed_at", DateTime(timezone=True), nullable=False, index=True),
)

outbox_table = Table(
    "handoff_telegram_outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("chat_id", BigInteger, nullable=False, index=True),
    Column("conversation_id", String(40), nullable=True),
    Column("source_key", String(64), nullable=True, unique=True),  # m:<message id>: queued once
    Column("body", Text, nullable=False),                          # JSON: text + markup description
    Column("status", String(10), nullable=False, index=True),      # pending | sent | failed
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("last_error", String(120), nullable=True),
    Column("telegram_message_id", BigInteger, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("sent_at", DateTime(timezone=True), nullable=True),
)

buttons_table = Table(
    "handoff_telegram_buttons",
    metadata,
    Column("id", String(16), primary_key=True),  # callback_data is "b:<id>" (Telegram allows 64 bytes)
    Column("conversation_id", String(40), nullable=False, index=True),
    Column("title", Text, nullable=False),
    Column("payload", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # the bridge message the button belongs to (the bridge decides whether its step is over);
    # NULL for rows stored before this column existed: such a press acts as before
    Column("message_id", String(20), nullable=True),
)


class TelegramStore:
    """The channel's SQL, each call one transaction on the bridge's engine."""

    def __init__(self, bridge: Bridge) -> None:
        self.storage = bridge.storage

    # chats
    async def chats(self) -> Dict[str, int]:
        """conversation id → chat id of every served chat."""
        def work(conn: Connection) -> Dict[str, int]:
            rows = conn.execute(select(chats_table.c.chat_id, chats_table.c.conversation_id)
                                .where(chats_table.c.conversation_id.is_not(None))).all()
            return {r.conversation_id: int(r.chat_id) for r in rows}
        return await self.storage.run(work)

    async def chat(self, chat_id: int) -> Optional[Tuple[Optional[str], str]]:
        """(conversation id, kind) of a known chat."""
        def work(conn: Connection) -> Optional[Tuple[Optional[str], str]]:
            row = conn.execute(select(chats_table).where(chats_table.c.chat_id == chat_id)).first()
            return (row.conversation_id, row.kind) if row else None
        return await self.storage.run(work)

    async def chat_of(self, conversation_id: str) -> Optional[int]:
        """The chat id of a conversation, if it is a Telegram one."""
        def work(conn: Connection) -> Optional[int]:
            row = conn.execute(select(chats_table.c.chat_id)
                               .where(chats_table.c.conversation_id == conversation_id)).first()
            return int(row.chat_id) if row else None
        return await self.storage.run(work)

    async def add_chat(self, chat_id: int, conversation_id: Optional[str], kind: str) -> None:
        def work(conn: Connection) -> None:
            conn.execute(insert(chats_table).values(chat_id=chat_id, conversation_id=conversation_id,
                                                    kind=kind, created_at=utcnow()))
        await self.storage.run(work)

    async def swap_announced(self, chat_id: int, state: str) -> Optional[str]:
        """Set the announced handoff state; the previous one."""
        def work(conn: Connection) -> Optional[str]:
            before = conn.execute(select(chats_table.c.announced_state)
                                  .where(chats_table.c.chat_id == chat_id)).scalar()
            conn.execute(update(chats_table).where(chats_table.c.chat_id == chat_id).values(announced_state=state))
            return before
        return await self.storage.run(work)

    # processed updates
    async def seen(self, update_id: int) -> bool:
        def work(conn: Connection) -> bool:
            return conn.execute(select(updates_table.c.update_id)
                                .where(updates_table.c.update_id == update_id)).first() is not None
        return await self.storage.run(work)

    async def mark(self, update_id: int) -> None:
        def work(conn: Connection) -> None:
            conn.execute(insert(updates_table).values(update_id=update_id, processed_at=utcnow()))
        try:
            await self.storage.run(work)
        except IntegrityError:
            logger.debug("telegram_update_marked_twice")

    async def last_update_id(self) -> Optional[int]:
        def work(conn: Connection) -> Optional[int]:
            value = conn.execute(select(func.max(updates_table.c.update_id))).scalar()
            return int(value) if value is not None else None
        return await self.storage.run(work)

    async def prune(self) -> None:
        """Forget processed updates and sent messages older than a week (Telegram
        keeps undelivered updates 24 h), keeping the latest update id for the
        polling offset; buttons older than BUTTONS_KEPT stop working."""
        def work(conn: Connection) -> None:
            now = utcnow()
            latest = conn.execute(select(func.max(updates_table.c.update_id))).scalar()
            conn.execute(delete(updates_table).where(and_(
                updates_table.c.processed_at < now - UPDATES_KEPT, updates_table.c.update_id != latest)))
            conn.execute(delete(outbox_table).where(and_(
                outbox_table.c.status == "sent", outbox_table.c.sent_at < now - UPDATES_KEPT)))
            conn.execute(delete(buttons_table).where(buttons_table.c.created_at < now - BUTTONS_KEPT))
        await self.storage.run(work)

    # buttons
    async def add_buttons(self, conversation_id: str, buttons: Sequence[Dict[str, str]],
                          message_id: Optional[str] = None) -> List[Tuple[str, str]]:
        """(title, callback_data) per button; payloads stay server-side."""
        def work(conn: Connection) -> List[Tuple[str, str]]:
            out = []
            for button in buttons:
                button_id = secrets.token_urlsafe(9)
                conn.execute(insert(buttons_table).values(
                    id=button_id, conversation_id=conversation_id, title=button["title"],
                    payload=button["payload"], created_at=utcnow(), message_id=message_id))
                out.append((button["title"], CALLBACK_PREFIX + button_id))
            return out
        return await self.storage.run(work)

    async def button(self, button_id: str) -> Optional[Tuple[str, str, str, Optional[str]]]:
        """(conversation id, title, payload, bridge message id)."""
        def work(conn: Connection) -> Optional[Tuple[str, str, str, Optional[str]]]:
            row = conn.execute(select(buttons_table).where(buttons_table.c.id == button_id)).first()
            return (row.conversation_id, row.title, row.payload, row.message_id) if row else None
        return await self.storage.run(work)

    async def live_keyboards(self, chat_id: int, before_row: Optional[int] = None,
                             leave: bool = False) -> List[Tuple[int, int]]:
        """(outbox row id, Telegram message id) of the chat's sent messages whose
        bot buttons are still shown (not the CSAT row), older than ``before_row``;
        with ``leave``, those of the queued notice's "Volver al asistente"
        instead (they stay while queued, whatever the customer writes)."""
        def work(conn: Connection) -> List[Tuple[int, int]]:
            query = select(outbox_table.c.id, outbox_table.c.body, outbox_table.c.telegram_message_id).where(and_(
                outbox_table.c.chat_id == chat_id, outbox_table.c.status == "sent",
                outbox_table.c.telegram_message_id.is_not(None)))
            if before_row is not None:
                query = query.where(outbox_table.c.id < before_row)
            out = []
            for row in conn.execute(query.order_by(outbox_table.c.id)).all():
                body = json.loads(row.body)
                if (body.get("inline") and not body.get("row") and not body.get("cleared")
                        and bool(body.get("leave")) == leave):
                    out.append((int(row.id), int(row.telegram_message_id)))
            return out
        return await self.storage.run(work)

    async def keyboard_cleared(self, row_id: int) -> None:
        def work(conn: Connection) -> None:
            body = json.loads(conn.execute(select(outbox_table.c.body).where(outbox_table.c.id == row_id)).scalar())
            body["cleared"] = True
            conn.execute(update(outbox_table).where(outbox_table.c.id == row_id)
                         .values(body=json.dumps(body, ensure_ascii=False)))
        await self.storage.run(work)

    # outbox
    async def enqueue(self, chat_id: int, conversation_id: Optional[str], body: Dict[str, Any],
                      source_key: Optional[str] = None) -> bool:
        """Store an outgoing message; False if ``source_key`` was already queued."""
        def work(conn: Connection) -> bool:
            if source_key is not None and conn.execute(select(outbox_table.c.id).where(
                    outbox_table.c.source_key == source_key)).first() is not None:
                return False
            now = utcnow()
            conn.execute(insert(outbox_table).values(
                chat_id=chat_id, conversation_id=conversation_id, source_key=source_key,
                body=json.dumps(body, ensure_ascii=False), status="pending", attempts=0,
                next_attempt_at=now, created_at=now))
            return True
        return await self.storage.run(work)

    async def heads(self, limit: int = 500) -> List[Dict[str, Any]]:
        """The oldest pending row of each chat (order per chat is kept), at
        most ``limit`` chats, the oldest first: one row read per chat, however
        many wait behind it (a burst of order updates)."""
        def work(conn: Connection) -> List[Dict[str, Any]]:
            oldest = (select(func.min(outbox_table.c.id)).where(outbox_table.c.status == "pending")
                      .group_by(outbox_table.c.chat_id))
            rows = conn.execute(select(outbox_table).where(outbox_table.c.id.in_(oldest.scalar_subquery()))
                                .order_by(outbox_table.c.id).limit(limit)).all()
            heads = []
            for row in rows:
                item = dict(row._mapping)
                item["next_attempt_at"] = as_utc(item["next_attempt_at"])
                heads.append(item)
            return heads
        return await self.storage.run(work)

    async def sent(self, row_id: int, message_id: Optional[int]) -> None:
        def work(conn: Connection) -> None:
            conn.execute(update(outbox_table).where(outbox_table.c.id == row_id).values(
                status="sent", sent_at=utcnow(), telegram_message_id=message_id,
                attempts=outbox_table.c.attempts + 1))
        await self.storage.run(work)

    async def retry(self, row_id: int, attempts: int, delay_s: float, error: str, give_up: bool) -> None:
        def work(conn: Connection) -> None:
            conn.execute(update(outbox_table).where(outbox_table.c.id == row_id).values(
                status="failed" if give_up else "pending", attempts=attempts, last_error=error[:120],
                next_attempt_at=utcnow() + dt.timedelta(seconds=delay_s)))
        await self.storage.run(work)

    async def rows(self) -> List[Dict[str, Any]]:
        """Every outbox row (tests, diagnostics)."""
        def work(conn: Connection) -> List[Dict[str, Any]]:
            return [dict(r._mapping) for r in conn.execute(select(outbox_table).order_by(outbox_table.c.id)).all()]
        return await self.storage.run(work)
