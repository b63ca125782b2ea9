"""What the storage hands out: frozen records of its rows (agents,
conversations, messages, turns, attachments, profiles), the functions that
make them from rows, and the bridge's clock in UTC.

Why a module of its own: the bridge, the channels and the queue pass these
records around without touching SQL; every job builds them the same way
(``as_utc`` above all: SQLite returns naive datetimes, PostgreSQL aware ones).
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any, Dict, NamedTuple, Optional

from sqlalchemy.engine import Row

from handoff.state import State


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def as_utc(value: Optional[dt.datetime]) -> Optional[dt.datetime]:
    """In UTC: SQLite returns naive datetimes (written in UTC), PostgreSQL
    ones in its session's time zone."""
    if value is None:
        return None
    return value.astimezone(dt.timezone.utc) if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


class Claim(NamedTuple):
    """A won claim: the conversation as claimed, the id of its ``assigned``
    event, and when its episode was queued if this was the episode's first
    claim (the end of its wait; None otherwise)."""

    conversation: "Conversation"
    event_id: int
    waited_since: Optional[dt.datetime]


@dataclass(frozen=True)
class Agent:
    id: str
    name: str
    role: str = "agent"  # agent | supervisor (reports: docs/reports.md)


@dataclass(frozen=True)
class Conversation:
    id: str
    session_id: str
    channel: str
    state: State
    agent_id: Optional[str]
    reason: Optional[str]
    context: Dict[str, Any]
    queued_at: Optional[dt.datetime]
    offline: bool
    contact_email: Optional[str]
    preview: Optional[str]
    episode_id: Optional[int]
    csat_episode_id: Optional[int]
    first_customer_at: Optional[dt.datetime] = None
    nps_episode_id: Optional[int] = None
    # the store customer the shopper proved to be, and how (order_email | telegram_phone | shop_identity)
    customer_id: Optional[str] = None
    customer_linked_by: Optional[str] = None
    created_at: Optional[dt.datetime] = None


@dataclass(frozen=True)
class StoredMessage:
    id: int
    conversation_id: str
    sender: str
    text: str
    data: Dict[str, Any]
    agent_id: Optional[str]
    client_id: Optional[str]
    created_at: dt.datetime
    delivered_at: Optional[dt.datetime] = None


@dataclass(frozen=True)
class Turn:
    """A pending turn (see ``turns_table``)."""

    id: int
    conversation_id: str
    kind: str                  # message | resume (after a close) | withdraw (the queue left)
    message_id: Optional[int]
    created_at: Optional[dt.datetime] = None

    @property
    def key(self) -> str:
        """A name for what this turn stores, unique even where the database
        gives a finished turn's id to a new one (SQLite reuses the highest
        rowid once it is deleted): the id and the creation time."""
        stamp = int(self.created_at.timestamp() * 1000) if self.created_at else 0
        return f"{self.id}.{stamp}"


@dataclass(frozen=True)
class Attachment:
    """A customer's file; ``info()`` is what messages carry (never the bytes)."""

    id: str
    conversation_id: str
    kind: str
    name: str
    content_type: str
    size: int

    def info(self) -> Dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "name": self.name,
                "content_type": self.content_type, "size": self.size}


@dataclass(frozen=True)
class Profile:
    display_name: Optional[str] = None
    verified_customer: Optional[Dict[str, Any]] = None


def attachment_of(row: Row) -> Attachment:
    return Attachment(row.id, row.conversation_id, row.kind, row.name, row.content_type, row.size)


class QueueEntry(NamedTuple):
    """A queued conversation's place and channel only: what positions need,
    without reading (and parsing) each conversation's whole row."""

    id: str
    channel: str


def conversation_of(row: Row) -> Conversation:
    return Conversation(
        id=row.id,
        session_id=row.session_id,
        channel=row.channel,
        state=State(row.state),
        agent_id=row.agent_id,
        reason=row.reason,
        context=json.loads(row.context) if row.context else {},
        queued_at=as_utc(row.queued_at),
        offline=bool(row.offline),
        contact_email=row.contact_email,
        preview=row.preview,
        episode_id=row.episode_id,
        csat_episode_id=row.csat_episode_id,
        first_customer_at=as_utc(row.first_customer_at),
        nps_episode_id=row.nps_episode_id,
        customer_id=row.customer_id,
        customer_linked_by=row.customer_linked_by,
        created_at=as_utc(row.created_at),
    )


def message_of(row: Row) -> StoredMessage:
    return StoredMessage(
        id=row.id,
        conversation_id=row.conversation_id,
        sender=row.sender,
        text=row.text,
        data=json.loads(row.data) if row.data else {},
        agent_id=row.agent_id,
        client_id=row.client_id,
        created_at=as_utc(row.created_at) or utcnow(),
        delivered_at=as_utc(row.delivered_at),
    )
