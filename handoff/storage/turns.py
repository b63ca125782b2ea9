"""Turns: work the bridge owes a customer (see ``turns_table``), written in
the transaction that makes it owed, deleted when done, found again at start
by Bridge.recover."""
from __future__ import annotations

from typing import List, Optional

from sqlalchemy import bindparam, insert, select
from sqlalchemy.engine import Connection

from handoff.storage.engine import StorageEngine, per_message, threaded
from handoff.storage.records import Turn, as_utc
from handoff.storage.tables import turns_table

INSERT_TURN = insert(turns_table)
DELETE_MESSAGE_TURN = turns_table.delete().where(turns_table.c.message_id == bindparam("message_id"))


class TurnStorage(StorageEngine):
    """Storage's part for owed turns."""

    @per_message
    def finish_message_turn(self, conn: Connection, message_id: int) -> None:
        """The answer to this customer message is delivered (or apologised for)."""
        conn.execute(DELETE_MESSAGE_TURN, {"message_id": message_id})

    @threaded
    def finish_turn(self, conn: Connection, turn_id: int) -> None:
        conn.execute(turns_table.delete().where(turns_table.c.id == turn_id))

    @threaded
    def pending_turns(self, conn: Connection, conversation_id: Optional[str] = None) -> List[Turn]:
        """Turns not finished, oldest first (all conversations, or one)."""
        query = select(turns_table).order_by(turns_table.c.id)
        if conversation_id is not None:
            query = query.where(turns_table.c.conversation_id == conversation_id)
        return [Turn(r.id, r.conversation_id, r.kind, r.message_id, as_utc(r.created_at))
                for r in conn.execute(query).all()]

    @threaded
    def message_turn(self, conn: Connection, message_id: int) -> Optional[Turn]:
        """The pending turn of a customer message (a resend finds it), or None."""
        row = conn.execute(select(turns_table).where(turns_table.c.message_id == message_id)).first()
        return Turn(row.id, row.conversation_id, row.kind, row.message_id, as_utc(row.created_at)) if row else None
