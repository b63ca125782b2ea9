"""Durable state of the bridge: conversations, messages, handoffs, agents, CSAT.

Why SQL (the store's database, tables prefixed ``handoff_``): a message is
acknowledged only after it is committed, so a bridge restart loses nothing.
State changes are check-and-set UPDATEs guarded by the state machine
(``handoff.state``), so two claims never both win, even across processes.

One module a job: tables.py (the schema), records.py (the frozen records
handed out), errors.py, engine.py (where transactions run: its docstring has
the limits, SQLite and PostgreSQL), then agents, conversations, profiles,
attachments, messages, turns, transitions (handoff state changes), episodes,
ratings (CSAT, NPS), customers and labels, put together as ``Storage`` in
facade.py. This module only re-exports the public names, so
``from handoff.storage import X`` works as it did when all was one file.
"""
from __future__ import annotations

from handoff.storage.conversations import SELECT_CONVERSATION
from handoff.storage.engine import StorageEngine, per_message, threaded
from handoff.storage.errors import NoCsatPending, NoNpsPending, NotFound, StorageError, StorageUnavailable, TooManyLabels
from handoff.storage.facade import Storage
from handoff.storage.messages import EVENT, INSERT_MESSAGE, MARK_FIRST_REPLY, SET_FIRST_CUSTOMER
from handoff.storage.records import Agent, Attachment, Claim, Conversation, Profile, QueueEntry, StoredMessage, Turn, utcnow
from handoff.storage.tables import (
    agents_table,
    assignments_table,
    attachments_table,
    conversations_table,
    csat_table,
    episodes_table,
    labels_table,
    messages_table,
    metadata,
    nps_table,
    profiles_table,
    report_changes_table,
    turns_table,
)
from handoff.storage.turns import DELETE_MESSAGE_TURN, INSERT_TURN

__all__ = [
    "DELETE_MESSAGE_TURN",
    "EVENT",
    "INSERT_MESSAGE",
    "INSERT_TURN",
    "MARK_FIRST_REPLY",
    "SELECT_CONVERSATION",
    "SET_FIRST_CUSTOMER",
    "Agent",
    "Attachment",
    "Claim",
    "Conversation",
    "QueueEntry",
    "NoCsatPending",
    "NoNpsPending",
    "NotFound",
    "Profile",
    "Storage",
    "StorageEngine",
    "StorageError",
    "StorageUnavailable",
    "StoredMessage",
    "TooManyLabels",
    "Turn",
    "agents_table",
    "assignments_table",
    "attachments_table",
    "conversations_table",
    "csat_table",
    "episodes_table",
    "labels_table",
    "messages_table",
    "metadata",
    "nps_table",
    "per_message",
    "profiles_table",
    "report_changes_table",
    "threaded",
    "turns_table",
    "utcnow",
]
