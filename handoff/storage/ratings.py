"""The customer's ratings of a closed handoff: CSAT (once per handoff,
with its agent and reason) and the NPS question that may follow."""
from __future__ import annotations

import datetime as dt
from typing import Any, Dict, List, Optional

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection

from handoff.storage.conversations import read_conversation
from handoff.storage.engine import StorageEngine, threaded
from handoff.storage.errors import NoCsatPending, NoNpsPending
from handoff.storage.records import utcnow
from handoff.storage.tables import conversations_table, csat_table, episodes_table, nps_table


class RatingStorage(StorageEngine):
    """Storage's part for CSAT and NPS answers."""

    @threaded
    def store_csat(
        self, conn: Connection, conversation_id: str, score: int, comment: Optional[str],
        now: Optional[dt.datetime] = None, ask_nps: bool = False,
    ) -> Dict[str, Any]:
        """Store the CSAT with the handoff's agent (the one who closed) and
        reason; once per handoff. ``ask_nps``: the NPS question now waits for
        this handoff (``nps_episode_id``), in the same transaction."""
        now = now or utcnow()
        conversation = read_conversation(conn, conversation_id)
        if conversation.csat_episode_id is None:
            raise NoCsatPending(f"conversation {conversation_id} has no handoff waiting for CSAT")
        episode = conn.execute(select(episodes_table).where(episodes_table.c.id == conversation.csat_episode_id)).one()
        values = dict(conversation_id=conversation_id, episode_id=episode.id, agent_id=episode.agent_id,
                      reason=episode.reason, score=score, comment=comment, created_at=now)
        conn.execute(insert(csat_table).values(**values))
        extra: Dict[str, Any] = {"nps_episode_id": episode.id} if ask_nps else {}
        conn.execute(update(conversations_table).where(conversations_table.c.id == conversation_id)
                     .values(csat_episode_id=None, updated_at=utcnow(), **extra))
        return values

    @threaded
    def store_nps(self, conn: Connection, conversation_id: str, score: int,
                  now: Optional[dt.datetime] = None) -> Dict[str, Any]:
        """Store the answer (0-10) to the NPS question that waits; once per handoff."""
        conversation = read_conversation(conn, conversation_id)
        if conversation.nps_episode_id is None:
            raise NoNpsPending(f"conversation {conversation_id} has no NPS question waiting")
        values = dict(conversation_id=conversation_id, episode_id=conversation.nps_episode_id, score=score,
                      created_at=now or utcnow())
        conn.execute(insert(nps_table).values(**values))
        conn.execute(update(conversations_table).where(conversations_table.c.id == conversation_id)
                     .values(nps_episode_id=None, updated_at=utcnow()))
        return values

    @threaded
    def csat_rows(self, conn: Connection) -> List[Dict[str, Any]]:
        return [dict(r._mapping) for r in conn.execute(select(csat_table).order_by(csat_table.c.id)).all()]
