"""The customer across conversations (issue 10): linking a conversation to
the store customer its shopper proved to be, and that customer's earlier
conversations on any channel for the console's case card."""
from __future__ import annotations

from typing import Any, Dict, List, Optional

from sqlalchemy import and_, func, select, update
from sqlalchemy.engine import Connection, Row

from handoff.storage.conversations import read_conversation
from handoff.storage.engine import StorageEngine, threaded
from handoff.storage.records import as_utc
from handoff.storage.tables import agents_table, conversations_table, csat_table, episodes_table, labels_table, messages_table


class CustomerStorage(StorageEngine):
    """Storage's part for the customer across conversations."""

    @threaded
    def link_customer(self, conn: Connection, conversation_id: str, customer_id: str, linked_by: str) -> bool:
        """The conversation's shopper proved to be store customer
        ``customer_id`` (``linked_by``: order_email | telegram_phone |
        shop_identity). The latest proof wins; whether anything changed."""
        current = read_conversation(conn, conversation_id)
        if current.customer_id == customer_id and current.customer_linked_by == linked_by:
            return False
        conn.execute(update(conversations_table).where(conversations_table.c.id == conversation_id)
                     .values(customer_id=customer_id[:64], customer_linked_by=linked_by[:20]))
        return True

    @threaded
    def customer_conversations(
        self, conn: Connection, customer_id: str, exclude: Optional[str] = None, limit: int = 20,
    ) -> List[Dict[str, Any]]:
        """The conversations linked to ``customer_id`` on any channel, newest
        first, each with its latest handoff episode (reason, outcome,
        resolution, agent), how many handoffs it had, its latest CSAT score and
        its labels: ``conversation_id, channel, state, started_at, handoffs,
        reason, outcome, resolution, agent_id, agent_name, csat, labels``."""
        c = conversations_table.c
        query = select(c.id, c.channel, c.state, c.created_at).where(c.customer_id == customer_id)
        if exclude is not None:
            query = query.where(c.id != exclude)
        rows = conn.execute(query.order_by(c.created_at.desc(), c.id).limit(limit)).all()
        if not rows:
            return []
        ids = [r.id for r in rows]
        first_message = dict(conn.execute(
            select(messages_table.c.conversation_id, func.min(messages_table.c.created_at))
            .where(and_(messages_table.c.conversation_id.in_(ids), messages_table.c.sender == "customer"))
            .group_by(messages_table.c.conversation_id)).all())
        episodes: Dict[str, List[Row]] = {}
        for e in conn.execute(select(episodes_table).where(episodes_table.c.conversation_id.in_(ids))
                              .order_by(episodes_table.c.id)).all():
            episodes.setdefault(e.conversation_id, []).append(e)
        csat: Dict[str, int] = {}
        for r in conn.execute(select(csat_table.c.conversation_id, csat_table.c.score)
                              .where(csat_table.c.conversation_id.in_(ids)).order_by(csat_table.c.id)).all():
            csat[r.conversation_id] = r.score  # the latest wins
        labels: Dict[str, List[str]] = {}
        for r in conn.execute(select(labels_table.c.conversation_id, labels_table.c.label)
                              .where(labels_table.c.conversation_id.in_(ids)).order_by(labels_table.c.label)).all():
            labels.setdefault(r.conversation_id, []).append(r.label)
        agent_ids = sorted({e.agent_id for es in episodes.values() for e in es if e.agent_id})
        names = {r.id: r.name for r in conn.execute(
            select(agents_table.c.id, agents_table.c.name).where(agents_table.c.id.in_(agent_ids))).all()} if agent_ids else {}
        found: List[Dict[str, Any]] = []
        for r in rows:
            last = (episodes.get(r.id) or [None])[-1]
            found.append({
                "conversation_id": r.id, "channel": r.channel, "state": r.state,
                "started_at": as_utc(first_message.get(r.id) or r.created_at),
                "handoffs": len(episodes.get(r.id) or []),
                "reason": last.reason if last is not None else None,
                "outcome": last.outcome if last is not None else None,
                "resolution": last.resolution if last is not None else None,
                "agent_id": last.agent_id if last is not None else None,
                "agent_name": names.get(last.agent_id) if last is not None and last.agent_id else None,
                "csat": csat.get(r.id),
                "labels": labels.get(r.id, []),
            })
        return found
