"""Handoff state changes: enqueue, claim, requeue, transfer, close,
withdraw, each a check-and-set UPDATE guarded by the state machine
(``handoff.state``), so two claims never both win, even across processes.
Each writes, in the same transaction, its event, its episode's and
assignments' rows and, where one is owed, the turn."""
from __future__ import annotations

import datetime as dt
import json
from typing import Any, Dict, Optional

from sqlalchemy import and_, func, insert, select, update
from sqlalchemy.engine import Connection

from handoff.state import AGENT_EVENTS, Event, State, StateConflict, next_state
from handoff.storage.conversations import read_conversation
from handoff.storage.engine import StorageEngine, threaded
from handoff.storage.messages import add_event
from handoff.storage.records import Claim, Conversation, as_utc, utcnow
from handoff.storage.tables import assignments_table, conversations_table, episodes_table
from handoff.storage.turns import INSERT_TURN


def _cas(
    conn: Connection, conversation_id: str, event: Event,
    expected_agent: Optional[str] = None, current: Optional[Conversation] = None, **values: Any,
) -> Conversation:
    """Apply ``event`` if the row is still in the state we read (and, for
    agent events, still owned by ``expected_agent``); StateConflict otherwise.
    ``current``: the row as this transaction already read it (else read here)."""
    current = current or read_conversation(conn, conversation_id)
    target = next_state(current.state, event)
    if event in AGENT_EVENTS and current.agent_id != expected_agent:
        raise StateConflict(f"{event.value}: conversation is not assigned to this agent")
    condition = and_(conversations_table.c.id == conversation_id,
                     conversations_table.c.state == current.state.value)
    if event in AGENT_EVENTS:
        condition = and_(condition, conversations_table.c.agent_id == expected_agent)
    result = conn.execute(update(conversations_table).where(condition)
                          .values(state=target.value, updated_at=utcnow(), **values))
    if result.rowcount != 1:
        raise StateConflict(f"{event.value}: conversation {conversation_id} changed meanwhile")
    return read_conversation(conn, conversation_id)


def _front_rank(conn: Connection, now: dt.datetime) -> float:
    lowest = conn.execute(select(func.min(conversations_table.c.queue_rank))
                          .where(conversations_table.c.state == State.QUEUED.value)).scalar()
    return min(lowest if lowest is not None else now.timestamp(), now.timestamp()) - 1.0


def _start_assignment(conn: Connection, episode_id: int, agent_id: str, how: str, now: dt.datetime) -> None:
    """A row of ``handoff_assignments``: ``agent_id`` holds the episode from ``now``."""
    conn.execute(insert(assignments_table).values(
        episode_id=episode_id, agent_id=agent_id, started_at=now, started_by=how))


def _end_assignment(conn: Connection, episode_id: Optional[int], now: dt.datetime, how: str) -> None:
    """The episode's open assignment ends ``now`` (transfer | requeue | lost | close)."""
    if episode_id is None:
        return
    conn.execute(update(assignments_table)
                 .where(and_(assignments_table.c.episode_id == episode_id, assignments_table.c.ended_at.is_(None)))
                 .values(ended_at=now, ended_by=how))


class HandoffStorage(StorageEngine):
    """Storage's part for handoff state changes."""

    @threaded
    def enqueue(
        self, conn: Connection, conversation_id: str, reason: str, context: Dict[str, Any],
        offline: bool, preview: Optional[str], now: dt.datetime, notice: str = "",
    ) -> Conversation:
        """bot → queued, opening a handoff episode. AlreadyHandedOff if queued or assigned.
        ``notice``: what the shopper is shown (stored with the event, see ``_event``)."""
        current = read_conversation(conn, conversation_id)
        next_state(current.state, Event.HANDOFF)  # raises before an episode is written
        episode = conn.execute(insert(episodes_table).values(
            conversation_id=conversation_id, reason=reason, offline=offline, queued_at=now)).inserted_primary_key[0]
        add_event(conn, conversation_id, "queued", notice)
        return _cas(conn, conversation_id, Event.HANDOFF, current=current, reason=reason,
                         context=json.dumps(context, ensure_ascii=False, default=str),
                         queued_at=now, queue_rank=now.timestamp(), offline=offline,
                         preview=(preview or "")[:200] or None, episode_id=episode, agent_id=None,
                         first_handoff_at=func.coalesce(conversations_table.c.first_handoff_at, now))

    @threaded
    def claim(self, conn: Connection, conversation_id: str, agent_id: str, now: dt.datetime,
              notice: str = "") -> Claim:
        """queued → agent for ``agent_id``: one conditional UPDATE decides the
        race (a second claim, on any process, changes no row and gets
        StateConflict; NotFound for no such conversation), then the event, the
        episode and its assignment. Six statements (an episode-less row: three)."""
        won = conn.execute(update(conversations_table)
                           .where(and_(conversations_table.c.id == conversation_id,
                                       conversations_table.c.state == State.QUEUED.value))
                           .values(state=State.AGENT.value, agent_id=agent_id, updated_at=utcnow())).rowcount == 1
        if not won:
            current = read_conversation(conn, conversation_id)  # NotFound, else why it lost
            next_state(current.state, Event.CLAIM)
            raise StateConflict(f"claim: conversation {conversation_id} changed meanwhile")
        conversation = read_conversation(conn, conversation_id)
        event_id = add_event(conn, conversation_id, "assigned", notice, agent_id)
        waited_since = None
        if conversation.episode_id is not None:
            episode = conn.execute(select(episodes_table.c.queued_at, episodes_table.c.assigned_at)
                                   .where(episodes_table.c.id == conversation.episode_id)).first()
            if episode is not None and episode.assigned_at is None:  # the first claim ends the wait
                waited_since = as_utc(episode.queued_at)
            conn.execute(update(episodes_table).where(episodes_table.c.id == conversation.episode_id)
                         .values(agent_id=agent_id,
                                 assigned_at=func.coalesce(episodes_table.c.assigned_at, now)))
            _start_assignment(conn, conversation.episode_id, agent_id, "claim", now)
        return Claim(conversation, event_id, waited_since)

    @threaded
    def requeue(
        self, conn: Connection, conversation_id: str, agent_id: str, event: Event, now: dt.datetime,
        notice: str = "",
    ) -> Conversation:
        """agent → queued at the FRONT (transfer to queue, or agent lost); the
        agent's assignment ends (``requeue`` or ``lost``)."""
        conversation = _cas(conn, conversation_id, event, expected_agent=agent_id,
                                 agent_id=None, queue_rank=_front_rank(conn, now))
        add_event(conn, conversation_id, "queued", notice)
        _end_assignment(conn, conversation.episode_id, now,
                             "lost" if event is Event.AGENT_LOST else "requeue")
        return conversation

    @threaded
    def transfer(self, conn: Connection, conversation_id: str, from_agent: str, to_agent: str,
                 notice: str = "", now: Optional[dt.datetime] = None) -> Conversation:
        now = now or utcnow()
        conversation = _cas(conn, conversation_id, Event.TRANSFER_TO_AGENT,
                                 expected_agent=from_agent, agent_id=to_agent)
        add_event(conn, conversation_id, "assigned", notice, to_agent)
        if conversation.episode_id is not None:
            conn.execute(update(episodes_table).where(episodes_table.c.id == conversation.episode_id)
                         .values(agent_id=to_agent))
            _end_assignment(conn, conversation.episode_id, now, "transfer")
            _start_assignment(conn, conversation.episode_id, to_agent, "transfer", now)
        return conversation

    @threaded
    def close(
        self, conn: Connection, conversation_id: str, agent_id: str, resolution: str, now: dt.datetime,
        notice: str = "",
    ) -> Conversation:
        """agent → bot; the episode is closed and waits for the customer's
        CSAT, and a ``resume`` turn is owed (the bot's line, the CSAT request)."""
        before = read_conversation(conn, conversation_id)
        conversation = _cas(conn, conversation_id, Event.CLOSE, expected_agent=agent_id,
                                 agent_id=None, queue_rank=None, csat_episode_id=before.episode_id,
                                 episode_id=None)
        add_event(conn, conversation_id, "ended", notice, agent_id, "closed")
        conn.execute(INSERT_TURN, {"conversation_id": conversation_id, "kind": "resume",
                                   "message_id": None, "created_at": now})
        if before.episode_id is not None:
            conn.execute(update(episodes_table).where(episodes_table.c.id == before.episode_id)
                         .values(closed_at=now, resolution=resolution, agent_id=agent_id,
                                 outcome="closed", ended_at=now))
            _end_assignment(conn, before.episode_id, now, "close")
        return conversation

    @threaded
    def withdraw(self, conn: Connection, conversation_id: str, now: dt.datetime,
                 outcome: str = "withdrawn") -> Conversation:
        """queued → bot: the customer left the queue before any claim. The
        episode ends with ``outcome`` (no CSAT: nobody attended them):
        ``withdrawn`` (they asked; a ``withdraw`` turn is owed, the bot's line,
        in the same transaction) or ``abandoned`` (their page was gone too
        long: no turn, nobody is there to answer). InvalidTransition unless
        queued (an agent claimed first)."""
        if outcome not in ("withdrawn", "abandoned"):
            raise ValueError(f"outcome must be withdrawn or abandoned, not {outcome!r}")
        before = read_conversation(conn, conversation_id)
        conversation = _cas(conn, conversation_id, Event.WITHDRAW, agent_id=None, queue_rank=None,
                                 episode_id=None)
        add_event(conn, conversation_id, "ended", "", None, outcome)
        if outcome == "withdrawn":
            conn.execute(INSERT_TURN, {"conversation_id": conversation_id, "kind": "withdraw",
                                       "message_id": None, "created_at": now})
        if before.episode_id is not None:
            conn.execute(update(episodes_table).where(episodes_table.c.id == before.episode_id)
                         .values(outcome=outcome, ended_at=now))
        return conversation
