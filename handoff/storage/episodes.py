"""Handoff episodes and their assignments as read back: one episode,
all of them, the unanswered ones with their promise apologies (handoff/sla.py),
and recent handling times (wait estimates)."""
from __future__ import annotations

import json
from typing import Any, Dict, List, Optional

from sqlalchemy import and_, select
from sqlalchemy.engine import Connection

from handoff.state import State
from handoff.storage.engine import StorageEngine, threaded
from handoff.storage.records import as_utc
from handoff.storage.tables import assignments_table, conversations_table, episodes_table, messages_table


class EpisodeStorage(StorageEngine):
    """Storage's part for reading handoff episodes."""

    @threaded
    def episode(self, conn: Connection, episode_id: int) -> Optional[Dict[str, Any]]:
        row = conn.execute(select(episodes_table).where(episodes_table.c.id == episode_id)).first()
        return dict(row._mapping) if row else None

    @threaded
    def unanswered_episodes(
        self, conn: Connection, conversation_ids: Optional[List[str]] = None,
    ) -> Dict[str, Dict[str, Any]]:
        """The open handoff episodes no agent has answered yet (conversations
        queued, or claimed without a reply), by conversation id: ``episode_id``,
        ``queued_at``, ``state``, ``agent_id`` and ``apologies``, the ``sla``
        data of the promise apologies stored for the episode (system messages
        with client id ``sla:<episode>:<n>``, see handoff/sla.py). Read from
        existing rows only: nothing is kept in memory, so a restart reads the
        same promises."""
        query = (select(conversations_table.c.id, conversations_table.c.state, conversations_table.c.agent_id,
                        episodes_table.c.id.label("episode_id"), episodes_table.c.queued_at)
                 .select_from(conversations_table.join(
                     episodes_table, episodes_table.c.id == conversations_table.c.episode_id))
                 .where(and_(conversations_table.c.state.in_([State.QUEUED.value, State.AGENT.value]),
                             episodes_table.c.first_reply_at.is_(None))))
        if conversation_ids is not None:
            if not conversation_ids:
                return {}
            query = query.where(conversations_table.c.id.in_(conversation_ids))
        found: Dict[str, Dict[str, Any]] = {
            r.id: {"episode_id": r.episode_id, "queued_at": as_utc(r.queued_at), "state": State(r.state),
                   "agent_id": r.agent_id, "apologies": []}
            for r in conn.execute(query).all()}
        if found:
            rows = conn.execute(select(messages_table.c.conversation_id, messages_table.c.client_id,
                                       messages_table.c.data)
                                .where(and_(messages_table.c.conversation_id.in_(list(found)),
                                            messages_table.c.sender == "system",
                                            messages_table.c.client_id.like("sla:%")))).all()
            for r in rows:
                entry = found[r.conversation_id]
                data = json.loads(r.data) if r.data else {}
                sla = data.get("sla") if isinstance(data, dict) else None
                if isinstance(sla, dict) and sla.get("episode_id") == entry["episode_id"]:
                    entry["apologies"].append(sla)
        return found

    @threaded
    def episodes(self, conn: Connection, conversation_id: Optional[str] = None) -> List[Dict[str, Any]]:
        """Handoff episodes as rows, oldest first (reports, tests)."""
        query = select(episodes_table).order_by(episodes_table.c.id)
        if conversation_id is not None:
            query = query.where(episodes_table.c.conversation_id == conversation_id)
        return [dict(r._mapping) for r in conn.execute(query).all()]

    @threaded
    def recent_handling_times(self, conn: Connection, limit: int = 20) -> List[float]:
        """Seconds from assignment to close of the latest closed handoffs."""
        rows = conn.execute(
            select(episodes_table.c.assigned_at, episodes_table.c.closed_at)
            .where(and_(episodes_table.c.closed_at.is_not(None), episodes_table.c.assigned_at.is_not(None)))
            .order_by(episodes_table.c.closed_at.desc()).limit(limit)
        ).all()
        return [max(0.0, (as_utc(r.closed_at) - as_utc(r.assigned_at)).total_seconds()) for r in rows]  # type: ignore[operator]

    @threaded
    def assignments(self, conn: Connection, episode_id: Optional[int] = None) -> List[Dict[str, Any]]:
        """Assignment rows, oldest first (reports, tests)."""
        query = select(assignments_table).order_by(assignments_table.c.id)
        if episode_id is not None:
            query = query.where(assignments_table.c.episode_id == episode_id)
        return [dict(r._mapping) for r in conn.execute(query).all()]
