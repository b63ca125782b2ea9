"""What a channel knows about the customer besides the messages: a
display name (Telegram's first name) and a customer the channel verified."""
from __future__ import annotations

import json
from typing import Any, Dict, Optional

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection

from handoff.storage.engine import StorageEngine, threaded
from handoff.storage.records import Profile, utcnow
from handoff.storage.tables import profiles_table


def read_profile(conn: Connection, conversation_id: str) -> Profile:
    row = conn.execute(select(profiles_table).where(profiles_table.c.conversation_id == conversation_id)).first()
    if row is None:
        return Profile()
    return Profile(row.display_name, json.loads(row.verified_customer) if row.verified_customer else None)


class ProfileStorage(StorageEngine):
    """Storage's part for channel profiles."""

    @threaded
    def set_profile(
        self, conn: Connection, conversation_id: str, display_name: Optional[str] = None,
        verified_customer: Optional[Dict[str, Any]] = None,
    ) -> Profile:
        """Upsert; a None argument keeps the stored value."""
        row = conn.execute(select(profiles_table).where(profiles_table.c.conversation_id == conversation_id)).first()
        values: Dict[str, Any] = {"updated_at": utcnow()}
        if display_name is not None:
            values["display_name"] = display_name[:100]
        if verified_customer is not None:
            values["verified_customer"] = json.dumps(verified_customer, ensure_ascii=False, default=str)
        if row is None:
            conn.execute(insert(profiles_table).values(conversation_id=conversation_id, **values))
        else:
            conn.execute(update(profiles_table).where(profiles_table.c.conversation_id == conversation_id).values(**values))
        return read_profile(conn, conversation_id)

    @threaded
    def get_profile(self, conn: Connection, conversation_id: str) -> Profile:
        return read_profile(conn, conversation_id)
