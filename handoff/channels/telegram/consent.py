"""Which Telegram chats take order updates (docs/protocol.md, "Order
updates"): only a chat that started the bot (``/start``) and did not stop
them. ``/silencio`` or the «No quiero avisos» button turn them off,
``/avisos`` on again; a Bot API 403 (the user blocked the bot, or deleted
the account) marks the chat ``blocked`` until the user writes ``/start`` or
``/avisos`` again.

Limits: the choice is per chat, not per customer (a customer with two
chats chooses in each); a chat with no row never started the bot here and
gets no updates. The bridge's own replies to what the user writes are not
updates: they are never held back by this.
"""
from __future__ import annotations

from typing import Optional

from sqlalchemy import BigInteger, Column, DateTime, String, Table, insert, select, update
from sqlalchemy.engine import Connection

from handoff.bridge import Bridge
from handoff.channels.telegram.store import metadata
from handoff.storage import utcnow

ON, OFF, BLOCKED = "on", "off", "blocked"
SILENCE_COMMANDS = ("/silencio",)
UPDATES_COMMANDS = ("/avisos",)
UPDATES_OFF_CALLBACK = "n:off"  # «No quiero avisos» under an order update

consent_table = Table(
    "handoff_telegram_consent",
    metadata,
    Column("chat_id", BigInteger, primary_key=True, autoincrement=False),
    Column("state", String(10), nullable=False),   # on | off | blocked
    Column("changed_at", DateTime(timezone=True), nullable=False),
)


class ConsentStore:
    """A chat's choice, each call one transaction on the bridge's engine."""

    def __init__(self, bridge: Bridge) -> None:
        self.storage = bridge.storage

    async def state(self, chat_id: int) -> Optional[str]:
        """on | off | blocked, or None (never started)."""
        def work(conn: Connection) -> Optional[str]:
            return conn.execute(select(consent_table.c.state).where(consent_table.c.chat_id == chat_id)).scalar()
        return await self.storage.run(work)

    async def started(self, chat_id: int) -> None:
        """``/start``: updates on for a new chat or a blocked one; a chat that
        said ``/silencio`` stays silent (starting again is not asking for them)."""
        await self._set(chat_id, ON, keep=(OFF,))

    async def choose(self, chat_id: int, on: bool) -> None:
        """``/avisos`` (on) or ``/silencio`` and its button (off)."""
        await self._set(chat_id, ON if on else OFF)

    async def blocked(self, chat_id: int) -> None:
        """The Bot API refused the chat (403): nothing more is sent to it."""
        await self._set(chat_id, BLOCKED)

    async def _set(self, chat_id: int, state: str, keep: tuple = ()) -> None:
        def work(conn: Connection) -> None:
            current = conn.execute(select(consent_table.c.state).where(consent_table.c.chat_id == chat_id)).scalar()
            if current is None:
                conn.execute(insert(consent_table).values(chat_id=chat_id, state=state, changed_at=utcnow()))
            elif current != state and current not in keep:
                conn.execute(update(consent_table).where(consent_table.c.chat_id == chat_id)
                             .values(state=state, changed_at=utcnow()))
        await self.storage.run(work)
