"""Console agents: their rows, names and token hashes (handoff/agents.py
checks the tokens; only a salted hash is stored)."""
from __future__ import annotations

from typing import Dict, List, Optional, Tuple

from sqlalchemy import func, insert, select
from sqlalchemy.engine import Connection

from handoff.storage.engine import StorageEngine, threaded
from handoff.storage.records import Agent, utcnow
from handoff.storage.tables import agents_table


class AgentStorage(StorageEngine):
    """Storage's part for console agents."""

    @threaded
    def insert_agent(self, conn: Connection, agent_id: str, name: str, salt: bytes, token_hash: bytes,
                     role: str = "agent") -> Agent:
        conn.execute(insert(agents_table).values(
            id=agent_id, name=name, token_salt=salt, token_hash=token_hash, created_at=utcnow(), role=role))
        return Agent(agent_id, name, role)

    @threaded
    def agent_named(self, conn: Connection, name: str) -> Optional[Agent]:
        """The agent with this name in any case, if any."""
        row = conn.execute(select(agents_table.c.id, agents_table.c.name, agents_table.c.role).where(
            func.lower(agents_table.c.name) == name.strip().lower())).first()
        return Agent(row.id, row.name, row.role or "agent") if row is not None else None

    @threaded
    def agent_secret(self, conn: Connection, agent_id: str) -> Optional[Tuple[Agent, bytes, bytes]]:
        row = conn.execute(select(agents_table).where(agents_table.c.id == agent_id)).first()
        if row is None:
            return None
        return Agent(row.id, row.name, row.role or "agent"), bytes(row.token_salt), bytes(row.token_hash)

    @threaded
    def get_agent(self, conn: Connection, agent_id: str) -> Optional[Agent]:
        row = conn.execute(select(agents_table.c.id, agents_table.c.name, agents_table.c.role)
                           .where(agents_table.c.id == agent_id)).first()
        return Agent(row.id, row.name, row.role or "agent") if row else None

    @threaded
    def agent_names(self, conn: Connection, agent_ids: List[str]) -> Dict[str, str]:
        if not agent_ids:
            return {}
        rows = conn.execute(select(agents_table.c.id, agents_table.c.name).where(agents_table.c.id.in_(agent_ids))).all()
        return {r.id: r.name for r in rows}
