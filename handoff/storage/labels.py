"""Conversation labels (../shared/design/reports.md, "Labels"): read,
changed in one transaction with a limit, and the most used as suggestions."""
from __future__ import annotations

import datetime as dt
from typing import List, Optional

from sqlalchemy import and_, func, insert, select
from sqlalchemy.engine import Connection

from handoff.storage.conversations import read_conversation
from handoff.storage.engine import StorageEngine, threaded
from handoff.storage.errors import TooManyLabels
from handoff.storage.tables import labels_table


def read_labels(conn: Connection, conversation_id: str) -> List[str]:
    rows = conn.execute(select(labels_table.c.label).where(labels_table.c.conversation_id == conversation_id)
                        .order_by(labels_table.c.label)).all()
    return [r.label for r in rows]


class LabelStorage(StorageEngine):
    """Storage's part for conversation labels."""

    @threaded
    def labels(self, conn: Connection, conversation_id: str) -> List[str]:
        """The conversation's labels, in alphabetical order."""
        return read_labels(conn, conversation_id)

    @threaded
    def change_labels(
        self, conn: Connection, conversation_id: str, add: List[str], remove: List[str],
        agent_id: Optional[str], now: dt.datetime, most: int = 0,
    ) -> List[str]:
        """Add and remove labels (already validated) in one transaction; a label
        added twice is kept once (its first author and time), removing one the
        conversation lacks does nothing. ``most`` > 0: TooManyLabels when the
        result would have more. NotFound for an unknown conversation. The
        labels after the change, alphabetically."""
        read_conversation(conn, conversation_id)
        current = set(read_labels(conn, conversation_id))
        wanted = (current | set(add)) - set(remove)
        if most and len(wanted) > most and len(wanted) > len(current):
            raise TooManyLabels(f"at most {most} labels")
        if set(remove) & current:
            conn.execute(labels_table.delete().where(and_(labels_table.c.conversation_id == conversation_id,
                                                          labels_table.c.label.in_(sorted(set(remove) & current)))))
        for name in sorted(wanted - current):
            conn.execute(insert(labels_table).values(conversation_id=conversation_id, label=name,
                                                     added_by=agent_id, added_at=now))
        return read_labels(conn, conversation_id)

    @threaded
    def popular_labels(self, conn: Connection, limit: int = 20) -> List[str]:
        """The labels on most conversations (ties alphabetically): the
        console's suggestions."""
        count = func.count(labels_table.c.conversation_id)
        rows = conn.execute(select(labels_table.c.label, count.label("n")).group_by(labels_table.c.label)
                            .order_by(count.desc(), labels_table.c.label).limit(limit)).all()
        return [r.label for r in rows]
