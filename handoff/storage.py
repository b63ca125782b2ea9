"""Durable state of the bridge: conversations, messages, handoffs, agents, CSAT.

Why SQL (the store's database, tables prefixed ``handoff_``): a message is
acknowledged only after it is committed, so a bridge restart loses nothing.
State changes are check-and-set UPDATEs guarded by the state machine
(``handoff.state``), so two claims never both win, even across processes.

Limits: SQLAlchemy 1.4 Core, blocking; every public method is async and runs
its blocking body in its own transaction on a pooled connection (nothing is
shared between calls). Where it runs:
- PostgreSQL: in the loop's default executor, concurrently.
- SQLite: one transaction at a time (a lock shared by all of them): SQLite
  takes one writer at a time, and writers that collide wait in its busy
  handler, which sleeps in steps of up to 100 ms (that was the relay's p99
  at 50 messages/s, docs/benchmarks.md). The single-row reads and writes of
  every message (``@per_message``) run inline on the event loop when no
  other transaction is running: they take about 0.2 ms, less than handing
  them to a thread, which took over 1 ms when the cores were busy.
  Everything else (``@threaded``) runs in one dedicated thread. So a long
  write by another process on the same file (the action server, ``seed``)
  can hold the loop while it holds SQLite's lock (at most the connect
  timeout); use PostgreSQL for heavy traffic.
Nothing connects until the first call. SQLite must be a file (an in-memory
database is private to each connection).
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import datetime as dt
import functools
import json
import logging
import secrets
import threading
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Dict, Iterator, List, Optional, Tuple, TypeVar

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    bindparam,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Connection, Engine, Row, make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

import migrations
from core.store.sql import create_sql_engine
from handoff.state import AGENT_EVENTS, Event, State, StateConflict, next_state

T = TypeVar("T")
logger = logging.getLogger(__name__)

metadata = MetaData()

agents_table = Table(
    "handoff_agents",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("token_salt", LargeBinary(32), nullable=False),
    Column("token_hash", LargeBinary(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # agent | supervisor (reports: ../shared/design/reports.md)
    Column("role", String(12), nullable=False, server_default="agent"),
)

conversations_table = Table(
    "handoff_conversations",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("session_id", String(64), nullable=False, unique=True),
    Column("channel", String(20), nullable=False),
    Column("state", String(10), nullable=False, index=True),
    Column("agent_id", String(32), ForeignKey("handoff_agents.id"), nullable=True, index=True),
    Column("reason", String(64), nullable=True),
    Column("context", Text, nullable=True),
    Column("queued_at", DateTime(timezone=True), nullable=True),
    Column("queue_rank", Float, nullable=True),
    Column("offline", Boolean, nullable=False, default=False),
    Column("contact_email", String(254), nullable=True),
    Column("preview", Text, nullable=True),
    Column("episode_id", Integer, nullable=True),
    Column("csat_episode_id", Integer, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    # the store customer this conversation's shopper proved to be, and how
    # (order_email | telegram_phone | shop_identity): links conversations across channels
    Column("customer_id", String(64), nullable=True, index=True),
    Column("customer_linked_by", String(20), nullable=True),
    # for the reports (migration 0003): when the first customer message came
    # (the conversation's day) and the first handoff was queued
    Column("first_customer_at", DateTime(timezone=True), nullable=True, index=True),
    Column("first_handoff_at", DateTime(timezone=True), nullable=True),
    # the closed handoff whose NPS question waits for the customer's answer
    Column("nps_episode_id", Integer, nullable=True),
)

messages_table = Table(
    "handoff_messages",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("conversation_id", String(40), ForeignKey("handoff_conversations.id"), nullable=False, index=True),
    Column("sender", String(10), nullable=False),  # customer | bot | agent | system | note | handoff
    Column("text", Text, nullable=False),
    Column("data", Text, nullable=True),           # JSON: buttons, payload
    Column("agent_id", String(32), nullable=True),
    Column("client_id", String(64), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, index=True),
    # an agent's message the shopper's side confirmed (widget showed it, Telegram took it)
    Column("delivered_at", DateTime(timezone=True), nullable=True),
    UniqueConstraint("conversation_id", "client_id", name="uq_handoff_messages_client_id"),
)

episodes_table = Table(
    "handoff_episodes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("conversation_id", String(40), ForeignKey("handoff_conversations.id"), nullable=False, index=True),
    Column("reason", String(64), nullable=False),
    Column("offline", Boolean, nullable=False, default=False),
    Column("queued_at", DateTime(timezone=True), nullable=False, index=True),
    Column("assigned_at", DateTime(timezone=True), nullable=True),
    Column("first_reply_at", DateTime(timezone=True), nullable=True),
    Column("closed_at", DateTime(timezone=True), nullable=True, index=True),
    Column("agent_id", String(32), nullable=True),
    Column("resolution", String(20), nullable=True),
    # how the episode ended (reports count them): ``closed`` by an agent, or
    # ``withdrawn`` by the customer leaving the queue before a claim, or
    # ``abandoned`` when their web page was gone too long while queued (then
    # ``closed_at`` and ``resolution`` stay NULL: nobody handled it); NULL while open
    Column("outcome", String(20), nullable=True),
    Column("ended_at", DateTime(timezone=True), nullable=True),
)

# Who held each handoff and how it passed on: the reports' "several agents
# handled" and transfers (the episode's agent_id is the last holder).
assignments_table = Table(
    "handoff_assignments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("episode_id", Integer, ForeignKey("handoff_episodes.id"), nullable=False, index=True),
    Column("agent_id", String(32), nullable=False, index=True),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("ended_at", DateTime(timezone=True), nullable=True),
    Column("started_by", String(12), nullable=False),   # claim | transfer
    Column("ended_by", String(12), nullable=True),      # transfer | requeue | lost | close
)

labels_table = Table(
    "handoff_labels",
    metadata,
    Column("conversation_id", String(40), ForeignKey("handoff_conversations.id"), primary_key=True),
    Column("label", String(32), primary_key=True, index=True),
    Column("added_by", String(32), nullable=True),
    Column("added_at", DateTime(timezone=True), nullable=False),
)

nps_table = Table(
    "handoff_nps",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("conversation_id", String(40), ForeignKey("handoff_conversations.id"), nullable=False),
    Column("episode_id", Integer, ForeignKey("handoff_episodes.id"), nullable=False, unique=True),
    Column("score", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

csat_table = Table(
    "handoff_csat",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("conversation_id", String(40), ForeignKey("handoff_conversations.id"), nullable=False),
    Column("episode_id", Integer, ForeignKey("handoff_episodes.id"), nullable=False, unique=True),
    Column("agent_id", String(32), nullable=True),
    Column("reason", String(64), nullable=False),
    Column("score", Integer, nullable=False),
    Column("comment", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

attachments_table = Table(
    "handoff_attachments",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("conversation_id", String(40), ForeignKey("handoff_conversations.id"), nullable=False, index=True),
    Column("kind", String(16), nullable=False),          # photo | document
    Column("name", String(255), nullable=False),
    Column("content_type", String(100), nullable=False),
    Column("size", Integer, nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("source_key", String(100), nullable=True),     # e.g. tg:<update_id>: stored once
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("conversation_id", "source_key", name="uq_handoff_attachments_source"),
)

# What a channel knows about the customer besides the messages: a display name
# (Telegram's first name) and a customer the channel verified (own phone).
profiles_table = Table(
    "handoff_profiles",
    metadata,
    Column("conversation_id", String(40), ForeignKey("handoff_conversations.id"), primary_key=True),
    Column("display_name", String(100), nullable=True),
    Column("verified_customer", Text, nullable=True),     # JSON, same shape as the handoff payload's customer
    Column("updated_at", DateTime(timezone=True), nullable=False),
)


# Work the bridge owes a customer: answering a message (``message``), or the
# bot's line after an agent closed (``resume``). Written in the transaction
# that makes it owed, deleted when done; a bridge that died in between finds
# it at start (Bridge.recover) and a resent message finds its own.
turns_table = Table(
    "handoff_turns",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("conversation_id", String(40), ForeignKey("handoff_conversations.id"), nullable=False, index=True),
    Column("kind", String(10), nullable=False),          # message | resume | withdraw
    Column("message_id", Integer, nullable=True, unique=True),  # the customer message to answer
    Column("created_at", DateTime(timezone=True), nullable=False),
    # never an id twice (SQLite would give a finished turn's id to the next one,
    # and the bot's line of that turn is stored under it): see Turn.key for older tables
    sqlite_autoincrement=True,
)

# UTC days whose report data changed once they were old (migration 0005's
# triggers write it; handoff/report_cache.py reads it). Nothing else writes here.
report_changes_table = Table(
    "handoff_report_changes",
    metadata,
    Column("day", String(10), primary_key=True),
    Column("generation", Integer, nullable=False),
)


# Statements of every message, built once: SQLAlchemy then skips rebuilding
# them and their cache keys, which cost more than SQLite's own work.
SELECT_CONVERSATION = select(conversations_table).where(conversations_table.c.id == bindparam("conversation_id"))
INSERT_MESSAGE = insert(messages_table)
EVENT = "handoff"  # the sender of handoff state changes (``Storage.events``)
INSERT_TURN = insert(turns_table)
DELETE_MESSAGE_TURN = turns_table.delete().where(turns_table.c.message_id == bindparam("message_id"))
SET_FIRST_CUSTOMER = (update(conversations_table)
                      .where(and_(conversations_table.c.id == bindparam("conversation_id"),
                                  conversations_table.c.first_customer_at.is_(None)))
                      .values(first_customer_at=bindparam("at")))
MARK_FIRST_REPLY = (update(episodes_table)
                    .where(and_(episodes_table.c.id == bindparam("episode_id"),
                                episodes_table.c.first_reply_at.is_(None)))
                    .values(first_reply_at=bindparam("replied_at")))


class StorageError(Exception):
    """Base of the bridge's storage errors."""


class StorageUnavailable(StorageError):
    """The database cannot be reached (or is locked)."""


class NotFound(StorageError):
    """No such conversation, agent or episode."""


class NoCsatPending(StorageError):
    """A CSAT arrived but no closed handoff waits for one."""


class NoNpsPending(StorageError):
    """An NPS answer arrived but no question waits for one."""


class TooManyLabels(StorageError):
    """A conversation would get more labels than allowed."""


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _utc(value: Optional[dt.datetime]) -> Optional[dt.datetime]:
    """In UTC: SQLite returns naive datetimes (written in UTC), PostgreSQL
    ones in its session's time zone."""
    if value is None:
        return None
    return value.astimezone(dt.timezone.utc) if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


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


def _attachment(row: Row) -> Attachment:
    return Attachment(row.id, row.conversation_id, row.kind, row.name, row.content_type, row.size)


def _conversation(row: Row) -> Conversation:
    return Conversation(
        id=row.id,
        session_id=row.session_id,
        channel=row.channel,
        state=State(row.state),
        agent_id=row.agent_id,
        reason=row.reason,
        context=json.loads(row.context) if row.context else {},
        queued_at=_utc(row.queued_at),
        offline=bool(row.offline),
        contact_email=row.contact_email,
        preview=row.preview,
        episode_id=row.episode_id,
        csat_episode_id=row.csat_episode_id,
        first_customer_at=_utc(row.first_customer_at),
        nps_episode_id=row.nps_episode_id,
        customer_id=row.customer_id,
        customer_linked_by=row.customer_linked_by,
        created_at=_utc(row.created_at),
    )


def _message(row: Row) -> StoredMessage:
    return StoredMessage(
        id=row.id,
        conversation_id=row.conversation_id,
        sender=row.sender,
        text=row.text,
        data=json.loads(row.data) if row.data else {},
        agent_id=row.agent_id,
        client_id=row.client_id,
        created_at=_utc(row.created_at) or utcnow(),
        delivered_at=_utc(row.delivered_at),
    )


def threaded(method: Callable[..., T]) -> Callable[..., Awaitable[T]]:
    """Run a blocking storage method in the storage's worker thread (one
    transaction each)."""

    @functools.wraps(method)
    async def wrapper(self: "Storage", *args: Any, **kwargs: Any) -> T:
        return await self.run(lambda conn: method(self, conn, *args, **kwargs))

    return wrapper


def per_message(method: Callable[..., T]) -> Callable[..., Awaitable[T]]:
    """A single-row statement on every message's path: inline on SQLite, in a
    worker thread on PostgreSQL (one transaction each)."""

    @functools.wraps(method)
    async def wrapper(self: "Storage", *args: Any, **kwargs: Any) -> T:
        return await self.run_short(lambda conn: method(self, conn, *args, **kwargs))

    return wrapper


class Storage:
    """The bridge's tables over one lazily created engine."""

    def __init__(self, database_url: str, connect_timeout: float = 5.0) -> None:
        self.database_url = database_url
        self.connect_timeout = connect_timeout
        self._engine: Optional[Engine] = None
        self._sqlite = make_url(database_url).get_backend_name() == "sqlite"
        self._executor: Optional[concurrent.futures.ThreadPoolExecutor] = None
        self._read_executor: Optional[concurrent.futures.ThreadPoolExecutor] = None  # SQLite: the reports' reads
        self._lock = threading.Lock()
        self._sqlite_turn = threading.Lock()  # one SQLite transaction at a time
        self._loop_connection: Optional[Connection] = None  # SQLite, inline work only

    @property
    def engine(self) -> Engine:
        """Created on first use (the store's factory: pooled, SQLite in WAL);
        creating it does not connect."""
        with self._lock:
            if self._engine is None:
                self._engine = create_sql_engine(self.database_url, self.connect_timeout)
            return self._engine

    @staticmethod
    @contextlib.contextmanager
    def _errors() -> Iterator[None]:
        """Connection failures (and a locked SQLite file) as StorageUnavailable."""
        try:
            yield
        except OperationalError as exc:
            raise StorageUnavailable(f"database unavailable ({type(exc.orig).__name__})") from exc
        except DBAPIError as exc:
            if exc.connection_invalidated:
                raise StorageUnavailable("database connection lost") from exc
            raise

    def _transaction(self, work: Callable[[Connection], T]) -> T:
        """In a worker thread: one transaction on a pooled connection."""
        engine = self.engine
        with self._errors():
            if not self._sqlite:
                with engine.begin() as conn:
                    return work(conn)
            with self._sqlite_turn, engine.begin() as conn:
                return work(conn)

    def _inline_transaction(self, work: Callable[[Connection], T]) -> T:
        """On the event loop, SQLite only, ``_sqlite_turn`` held by the caller:
        one transaction on the connection kept for the loop."""
        with self._errors():
            if self._loop_connection is None:
                self._loop_connection = self.engine.connect()
            try:
                with self._loop_connection.begin():
                    return work(self._loop_connection)
            except IntegrityError:
                raise  # rolled back; the connection is fine (a resend)
            except DBAPIError:
                self._loop_connection.close()  # a fresh one next time
                self._loop_connection = None
                raise

    def _worker(self) -> Optional[concurrent.futures.ThreadPoolExecutor]:
        """SQLite: the one thread all transactions run in; others: None (the
        loop's default executor)."""
        if not self._sqlite:
            return None
        with self._lock:
            if self._executor is None:
                self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="handoff-sqlite")
            return self._executor

    def dispose(self) -> None:
        """Close the pooled connections and the SQLite thread; the storage
        can still be used afterwards (both are made again on demand)."""
        with self._lock:
            executor, self._executor = self._executor, None
            reader, self._read_executor = self._read_executor, None
        for pool in (executor, reader):
            if pool is not None:
                pool.shutdown(wait=True)
        with self._lock, self._sqlite_turn:
            if self._loop_connection is not None:
                self._loop_connection.close()
                self._loop_connection = None
            if self._engine is not None:
                self._engine.dispose()
                self._engine = None

    async def create_schema(self) -> None:
        """Bring the database's schema (the bridge's tables and the store's) to
        the newest migration, on its own connection: ``migrations.upgrade``."""
        try:
            await asyncio.get_running_loop().run_in_executor(None, migrations.upgrade, self.database_url)
        except OperationalError as exc:
            raise StorageUnavailable(f"database unavailable ({type(exc.orig).__name__})") from exc

    async def run(self, work: Callable[[Connection], T]) -> T:
        """Run ``work(conn)`` in one transaction in the storage's worker thread;
        also for a channel's own tables (handoff/channels/telegram/)."""
        executor = self._worker()
        return await asyncio.get_running_loop().run_in_executor(executor, self._transaction, work)

    async def run_read(self, work: Callable[[Connection], T]) -> T:
        """A long read (the reports) that must not hold up the chats: on SQLite
        in a thread of its own, on its own pooled connection and without the
        writers' turn (the file is in WAL mode, so it reads a snapshot while
        messages keep being written); elsewhere as ``run``. ``work`` must
        only read."""
        if not self._sqlite:
            return await self.run(work)
        with self._lock:
            if self._read_executor is None:
                self._read_executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="handoff-read")
            executor = self._read_executor
        return await asyncio.get_running_loop().run_in_executor(executor, self._read_transaction, work)

    def _read_transaction(self, work: Callable[[Connection], T]) -> T:
        with self._errors(), self.engine.connect() as conn:
            with conn.begin():
                return work(conn)

    async def run_short(self, work: Callable[[Connection], T]) -> T:
        """Like ``run``, but inline on SQLite, on a connection kept for the
        event loop's thread: only for a statement or two on single rows (see
        the module's limits). While the worker thread is in a transaction the
        loop does not wait for it: the work queues behind it in the thread."""
        if self._sqlite and self._sqlite_turn.acquire(blocking=False):
            try:
                return self._inline_transaction(work)
            finally:
                self._sqlite_turn.release()
        return await self.run(work)

    async def ping(self) -> bool:
        """The database answers a trivial query (for /health)."""
        try:
            await self.run(lambda conn: conn.execute(select(1)).scalar())
        except (StorageError, DBAPIError) as exc:
            logger.info("database_ping_failed", extra={"error": type(exc).__name__})
            return False
        return True

    # -- agents ----------------------------------------------------------

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

    # -- conversations ---------------------------------------------------

    @threaded
    def create_conversation(self, conn: Connection, channel: str) -> Conversation:
        now = utcnow()
        conversation_id = "c_" + secrets.token_hex(12)
        conn.execute(insert(conversations_table).values(
            id=conversation_id, session_id=secrets.token_urlsafe(24), channel=channel,
            state=State.BOT.value, offline=False, created_at=now, updated_at=now))
        return self._get(conn, conversation_id)

    def _get(self, conn: Connection, conversation_id: str) -> Conversation:
        row = conn.execute(SELECT_CONVERSATION, {"conversation_id": conversation_id}).first()
        if row is None:
            raise NotFound(f"conversation {conversation_id} not found")
        return _conversation(row)

    @per_message
    def get_conversation(self, conn: Connection, conversation_id: str) -> Conversation:
        return self._get(conn, conversation_id)

    @per_message
    def by_session(self, conn: Connection, session_id: str) -> Optional[Conversation]:
        row = conn.execute(select(conversations_table).where(conversations_table.c.session_id == session_id)).first()
        return _conversation(row) if row else None

    @threaded
    def queue(self, conn: Connection) -> List[Conversation]:
        """Queued conversations, first to be served first."""
        rows = conn.execute(
            select(conversations_table)
            .where(conversations_table.c.state == State.QUEUED.value)
            .order_by(conversations_table.c.queue_rank, conversations_table.c.episode_id)
        ).all()
        return [_conversation(r) for r in rows]

    @threaded
    def conversations_of_agent(self, conn: Connection, agent_id: str) -> List[Conversation]:
        rows = conn.execute(
            select(conversations_table)
            .where(and_(conversations_table.c.state == State.AGENT.value, conversations_table.c.agent_id == agent_id))
            .order_by(conversations_table.c.updated_at)
        ).all()
        return [_conversation(r) for r in rows]

    @threaded
    def agents_with_conversations(self, conn: Connection) -> List[str]:
        rows = conn.execute(
            select(conversations_table.c.agent_id)
            .where(conversations_table.c.state == State.AGENT.value).distinct()
        ).all()
        return [r.agent_id for r in rows if r.agent_id]

    @threaded
    def set_contact(self, conn: Connection, conversation_id: str, email: str) -> None:
        conn.execute(update(conversations_table).where(conversations_table.c.id == conversation_id)
                     .values(contact_email=email, updated_at=utcnow()))

    @per_message
    def set_preview(self, conn: Connection, conversation_id: str, preview: str) -> None:
        conn.execute(update(conversations_table).where(conversations_table.c.id == conversation_id)
                     .values(preview=preview[:200], updated_at=utcnow()))

    @threaded
    def update_context(self, conn: Connection, conversation_id: str, patch: Dict[str, Any]) -> Conversation:
        """Merge ``patch`` into the handoff context (e.g. a customer verified
        while queued); the state is not touched."""
        current = self._get(conn, conversation_id)
        context = {**current.context, **patch}
        conn.execute(update(conversations_table).where(conversations_table.c.id == conversation_id)
                     .values(context=json.dumps(context, ensure_ascii=False, default=str), updated_at=utcnow()))
        return self._get(conn, conversation_id)

    # -- profiles --------------------------------------------------------

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
        return self._profile(conn, conversation_id)

    def _profile(self, conn: Connection, conversation_id: str) -> Profile:
        row = conn.execute(select(profiles_table).where(profiles_table.c.conversation_id == conversation_id)).first()
        if row is None:
            return Profile()
        return Profile(row.display_name, json.loads(row.verified_customer) if row.verified_customer else None)

    @threaded
    def get_profile(self, conn: Connection, conversation_id: str) -> Profile:
        return self._profile(conn, conversation_id)

    # -- attachments -----------------------------------------------------

    @threaded
    def add_attachment(
        self, conn: Connection, conversation_id: str, kind: str, name: str, content_type: str,
        data: bytes, source_key: Optional[str] = None,
    ) -> Attachment:
        """Store a file once per ``source_key`` (a re-processed update finds the first copy)."""
        if source_key is not None:
            row = conn.execute(select(*[c for c in attachments_table.c if c.name != "data"]).where(and_(
                attachments_table.c.conversation_id == conversation_id,
                attachments_table.c.source_key == source_key))).first()
            if row is not None:
                return _attachment(row)
        attachment_id = "a_" + secrets.token_hex(12)
        conn.execute(insert(attachments_table).values(
            id=attachment_id, conversation_id=conversation_id, kind=kind, name=name[:255],
            content_type=content_type[:100], size=len(data), data=data, source_key=source_key,
            created_at=utcnow()))
        return Attachment(attachment_id, conversation_id, kind, name[:255], content_type[:100], len(data))

    @threaded
    def get_attachment(self, conn: Connection, attachment_id: str) -> Optional[Tuple[Attachment, bytes]]:
        row = conn.execute(select(attachments_table).where(attachments_table.c.id == attachment_id)).first()
        return (_attachment(row), bytes(row.data)) if row else None

    # -- messages --------------------------------------------------------

    async def add_message(
        self,
        conversation_id: str,
        sender: str,
        text: str,
        data: Optional[Dict[str, Any]] = None,
        agent_id: Optional[str] = None,
        client_id: Optional[str] = None,
        finishes: Optional[int] = None,
    ) -> Tuple[StoredMessage, bool]:
        """Store a message; (message, False) if this client_id was already stored
        for the conversation (a resend: process it once, ack it again).
        ``finishes``: the customer message whose turn this message completes
        (the turn is deleted in the same transaction; not on a resend)."""
        try:
            return await self._add_message(conversation_id, sender, text, data, agent_id, client_id, finishes)
        except IntegrityError as exc:  # this client_id is stored already: a resend
            return await self._stored_resend(conversation_id, client_id, exc)

    async def receive(
        self, conversation_id: str, text: str, data: Optional[Dict[str, Any]] = None, client_id: Optional[str] = None,
        now: Optional[dt.datetime] = None,
    ) -> Tuple[Conversation, StoredMessage, bool]:
        """A customer's message: the conversation as it is now (its state
        decides the route) and the message stored, in one transaction;
        ``created`` is False for a resend, as in ``add_message``. The first
        customer message of a conversation also stores ``now`` (the bridge's
        clock; default the message's time) as its ``first_customer_at``, the
        day the reports count it in."""
        try:
            return await self._receive(conversation_id, text, data, client_id, now)
        except IntegrityError as exc:
            message, created = await self._stored_resend(conversation_id, client_id, exc)
            return await self.get_conversation(conversation_id), message, created

    async def add_agent_reply(
        self, conversation_id: str, agent_id: str, text: str, client_id: Optional[str],
        episode_id: Optional[int], now: dt.datetime,
    ) -> Tuple[StoredMessage, bool, Optional[dt.datetime]]:
        """An agent's message and, if it is the episode's first, ``now`` as the
        episode's first reply, in one transaction. The third value is the
        episode's queued_at when this was its first reply (for the metric),
        else None; ``created`` is as in ``add_message``."""
        try:
            return await self._add_agent_reply(conversation_id, agent_id, text, client_id, episode_id, now)
        except IntegrityError as exc:
            message, created = await self._stored_resend(conversation_id, client_id, exc)
            return message, created, None

    async def _stored_resend(
        self, conversation_id: str, client_id: Optional[str], exc: IntegrityError
    ) -> Tuple[StoredMessage, bool]:
        found = await self._by_client_id(conversation_id, client_id)
        if found is None:
            raise StorageError("message could not be stored") from exc
        return found, False

    @per_message
    def _by_client_id(self, conn: Connection, conversation_id: str, client_id: Optional[str]) -> Optional[StoredMessage]:
        row = conn.execute(select(messages_table).where(and_(
            messages_table.c.conversation_id == conversation_id,
            messages_table.c.client_id == client_id))).first()
        return _message(row) if row else None

    @per_message
    def _add_message(
        self, conn: Connection, conversation_id: str, sender: str, text: str,
        data: Optional[Dict[str, Any]], agent_id: Optional[str], client_id: Optional[str],
        finishes: Optional[int],
    ) -> Tuple[StoredMessage, bool]:
        message = self._insert_message(conn, conversation_id, sender, text, data, agent_id, client_id)
        if finishes is not None:
            conn.execute(DELETE_MESSAGE_TURN, {"message_id": finishes})
        return message, True

    @per_message
    def _receive(
        self, conn: Connection, conversation_id: str, text: str, data: Optional[Dict[str, Any]], client_id: Optional[str],
        now: Optional[dt.datetime] = None,
    ) -> Tuple[Conversation, StoredMessage, bool]:
        conversation = self._get(conn, conversation_id)
        message = self._insert_message(conn, conversation_id, "customer", text, data, None, client_id)
        if conversation.first_customer_at is None:  # once per conversation: one more statement, the first time only
            conn.execute(SET_FIRST_CUSTOMER, {"conversation_id": conversation_id,
                                              "at": now or message.created_at})
        if conversation.state is State.BOT:  # the bot owes an answer (handoff.state.customer_route)
            conn.execute(INSERT_TURN, {"conversation_id": conversation_id, "kind": "message",
                                       "message_id": message.id, "created_at": message.created_at})
        return conversation, message, True

    # -- turns -----------------------------------------------------------

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
        return [Turn(r.id, r.conversation_id, r.kind, r.message_id, _utc(r.created_at))
                for r in conn.execute(query).all()]

    @threaded
    def message_turn(self, conn: Connection, message_id: int) -> Optional[Turn]:
        """The pending turn of a customer message (a resend finds it), or None."""
        row = conn.execute(select(turns_table).where(turns_table.c.message_id == message_id)).first()
        return Turn(row.id, row.conversation_id, row.kind, row.message_id, _utc(row.created_at)) if row else None

    @threaded
    def get_message(self, conn: Connection, message_id: int) -> StoredMessage:
        row = conn.execute(select(messages_table).where(messages_table.c.id == message_id)).first()
        if row is None:
            raise NotFound(f"message {message_id} not found")
        return _message(row)

    @threaded
    def mark_delivered(self, conn: Connection, message_id: int, now: dt.datetime) -> bool:
        """Stores that the shopper's side has this message; False when it was
        marked already (a history shown again confirms it again)."""
        done = conn.execute(
            update(messages_table)
            .where(and_(messages_table.c.id == message_id, messages_table.c.delivered_at.is_(None)))
            .values(delivered_at=now)
        )
        return done.rowcount == 1

    @per_message
    def _add_agent_reply(
        self, conn: Connection, conversation_id: str, agent_id: str, text: str, client_id: Optional[str],
        episode_id: Optional[int], now: dt.datetime,
    ) -> Tuple[StoredMessage, bool, Optional[dt.datetime]]:
        message = self._insert_message(conn, conversation_id, "agent", text, None, agent_id, client_id)
        if episode_id is None or conn.execute(MARK_FIRST_REPLY, {"episode_id": episode_id, "replied_at": now}).rowcount != 1:
            return message, True, None
        queued_at = conn.execute(select(episodes_table.c.queued_at).where(episodes_table.c.id == episode_id)).scalar()
        return message, True, _utc(queued_at)

    @staticmethod
    def _insert_message(
        conn: Connection, conversation_id: str, sender: str, text: str,
        data: Optional[Dict[str, Any]], agent_id: Optional[str], client_id: Optional[str],
    ) -> StoredMessage:
        """One INSERT: a resent client_id fails the unique constraint and the
        caller reads the stored one instead (resends are rare)."""
        created_at = utcnow()
        result = conn.execute(INSERT_MESSAGE, {
            "conversation_id": conversation_id, "sender": sender, "text": text,
            "data": json.dumps(data, ensure_ascii=False) if data else None,
            "agent_id": agent_id, "client_id": client_id, "created_at": created_at})
        return StoredMessage(id=result.inserted_primary_key[0], conversation_id=conversation_id,
                             sender=sender, text=text, data=data or {}, agent_id=agent_id,
                             client_id=client_id, created_at=created_at)

    @threaded
    def history(
        self, conn: Connection, conversation_id: str, include_notes: bool = False, after_id: int = 0
    ) -> List[StoredMessage]:
        query = select(messages_table).where(and_(
            messages_table.c.conversation_id == conversation_id, messages_table.c.id > after_id,
            messages_table.c.sender != EVENT))
        if not include_notes:
            query = query.where(messages_table.c.sender != "note")
        return [_message(r) for r in conn.execute(query.order_by(messages_table.c.id)).all()]

    @threaded
    def events(self, conn: Connection, conversation_id: str, after_id: int = 0) -> List[StoredMessage]:
        """The conversation's handoff state changes (sender ``handoff``), in the
        order of its messages: ``data`` has ``state`` (and ``outcome``), ``text``
        the notice the shopper was shown (may be empty), ``agent_id`` the agent."""
        query = select(messages_table).where(and_(
            messages_table.c.conversation_id == conversation_id, messages_table.c.id > after_id,
            messages_table.c.sender == EVENT))
        return [_message(r) for r in conn.execute(query.order_by(messages_table.c.id)).all()]

    @threaded
    def latest_events(self, conn: Connection, conversation_ids: List[str]) -> Dict[str, int]:
        """The id of each conversation's latest handoff event (none: left out)."""
        if not conversation_ids:
            return {}
        rows = conn.execute(select(messages_table.c.conversation_id, func.max(messages_table.c.id))
                            .where(and_(messages_table.c.conversation_id.in_(conversation_ids),
                                        messages_table.c.sender == EVENT))
                            .group_by(messages_table.c.conversation_id)).all()
        return {r[0]: int(r[1]) for r in rows}

    def _event(self, conn: Connection, conversation_id: str, state: str, notice: str = "",
               agent_id: Optional[str] = None, outcome: Optional[str] = None) -> None:
        """A handoff state change as a row of the messages table, in the
        transaction of the change: its id places it among the messages, so a
        history replays the notices where they happened (never a customer,
        bot or agent line: ``history`` leaves them out)."""
        data: Dict[str, Any] = {"state": state}
        if outcome:
            data["outcome"] = outcome
        self._insert_message(conn, conversation_id, EVENT, notice, data, agent_id, None)

    @threaded
    def agent_names(self, conn: Connection, agent_ids: List[str]) -> Dict[str, str]:
        if not agent_ids:
            return {}
        rows = conn.execute(select(agents_table.c.id, agents_table.c.name).where(agents_table.c.id.in_(agent_ids))).all()
        return {r.id: r.name for r in rows}

    # -- state transitions (check-and-set) -------------------------------

    def _cas(
        self, conn: Connection, conversation_id: str, event: Event,
        expected_agent: Optional[str] = None, **values: Any,
    ) -> Conversation:
        """Apply ``event`` if the row is still in the state we read (and, for
        agent events, still owned by ``expected_agent``); StateConflict otherwise."""
        current = self._get(conn, conversation_id)
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
        return self._get(conn, conversation_id)

    def _front_rank(self, conn: Connection, now: dt.datetime) -> float:
        lowest = conn.execute(select(func.min(conversations_table.c.queue_rank))
                              .where(conversations_table.c.state == State.QUEUED.value)).scalar()
        return min(lowest if lowest is not None else now.timestamp(), now.timestamp()) - 1.0

    @threaded
    def enqueue(
        self, conn: Connection, conversation_id: str, reason: str, context: Dict[str, Any],
        offline: bool, preview: Optional[str], now: dt.datetime, notice: str = "",
    ) -> Conversation:
        """bot → queued, opening a handoff episode. AlreadyHandedOff if queued or assigned.
        ``notice``: what the shopper is shown (stored with the event, see ``_event``)."""
        current = self._get(conn, conversation_id)
        next_state(current.state, Event.HANDOFF)  # raises before an episode is written
        episode = conn.execute(insert(episodes_table).values(
            conversation_id=conversation_id, reason=reason, offline=offline, queued_at=now)).inserted_primary_key[0]
        self._event(conn, conversation_id, "queued", notice)
        return self._cas(conn, conversation_id, Event.HANDOFF, reason=reason,
                         context=json.dumps(context, ensure_ascii=False, default=str),
                         queued_at=now, queue_rank=now.timestamp(), offline=offline,
                         preview=(preview or "")[:200] or None, episode_id=episode, agent_id=None,
                         first_handoff_at=func.coalesce(conversations_table.c.first_handoff_at, now))

    @threaded
    def claim(self, conn: Connection, conversation_id: str, agent_id: str, now: dt.datetime,
              notice: str = "") -> Conversation:
        conversation = self._cas(conn, conversation_id, Event.CLAIM, agent_id=agent_id)
        self._event(conn, conversation_id, "assigned", notice, agent_id)
        if conversation.episode_id is not None:
            conn.execute(update(episodes_table)
                         .where(and_(episodes_table.c.id == conversation.episode_id, episodes_table.c.assigned_at.is_(None)))
                         .values(assigned_at=now))
            conn.execute(update(episodes_table).where(episodes_table.c.id == conversation.episode_id)
                         .values(agent_id=agent_id))
            self._start_assignment(conn, conversation.episode_id, agent_id, "claim", now)
        return conversation

    @staticmethod
    def _start_assignment(conn: Connection, episode_id: int, agent_id: str, how: str, now: dt.datetime) -> None:
        """A row of ``handoff_assignments``: ``agent_id`` holds the episode from ``now``."""
        conn.execute(insert(assignments_table).values(
            episode_id=episode_id, agent_id=agent_id, started_at=now, started_by=how))

    @staticmethod
    def _end_assignment(conn: Connection, episode_id: Optional[int], now: dt.datetime, how: str) -> None:
        """The episode's open assignment ends ``now`` (transfer | requeue | lost | close)."""
        if episode_id is None:
            return
        conn.execute(update(assignments_table)
                     .where(and_(assignments_table.c.episode_id == episode_id, assignments_table.c.ended_at.is_(None)))
                     .values(ended_at=now, ended_by=how))

    @threaded
    def requeue(
        self, conn: Connection, conversation_id: str, agent_id: str, event: Event, now: dt.datetime,
        notice: str = "",
    ) -> Conversation:
        """agent → queued at the FRONT (transfer to queue, or agent lost); the
        agent's assignment ends (``requeue`` or ``lost``)."""
        conversation = self._cas(conn, conversation_id, event, expected_agent=agent_id,
                                 agent_id=None, queue_rank=self._front_rank(conn, now))
        self._event(conn, conversation_id, "queued", notice)
        self._end_assignment(conn, conversation.episode_id, now,
                             "lost" if event is Event.AGENT_LOST else "requeue")
        return conversation

    @threaded
    def transfer(self, conn: Connection, conversation_id: str, from_agent: str, to_agent: str,
                 notice: str = "", now: Optional[dt.datetime] = None) -> Conversation:
        now = now or utcnow()
        conversation = self._cas(conn, conversation_id, Event.TRANSFER_TO_AGENT,
                                 expected_agent=from_agent, agent_id=to_agent)
        self._event(conn, conversation_id, "assigned", notice, to_agent)
        if conversation.episode_id is not None:
            conn.execute(update(episodes_table).where(episodes_table.c.id == conversation.episode_id)
                         .values(agent_id=to_agent))
            self._end_assignment(conn, conversation.episode_id, now, "transfer")
            self._start_assignment(conn, conversation.episode_id, to_agent, "transfer", now)
        return conversation

    @threaded
    def close(
        self, conn: Connection, conversation_id: str, agent_id: str, resolution: str, now: dt.datetime,
        notice: str = "",
    ) -> Conversation:
        """agent → bot; the episode is closed and waits for the customer's
        CSAT, and a ``resume`` turn is owed (the bot's line, the CSAT request)."""
        before = self._get(conn, conversation_id)
        conversation = self._cas(conn, conversation_id, Event.CLOSE, expected_agent=agent_id,
                                 agent_id=None, queue_rank=None, csat_episode_id=before.episode_id,
                                 episode_id=None)
        self._event(conn, conversation_id, "ended", notice, agent_id, "closed")
        conn.execute(INSERT_TURN, {"conversation_id": conversation_id, "kind": "resume",
                                   "message_id": None, "created_at": now})
        if before.episode_id is not None:
            conn.execute(update(episodes_table).where(episodes_table.c.id == before.episode_id)
                         .values(closed_at=now, resolution=resolution, agent_id=agent_id,
                                 outcome="closed", ended_at=now))
            self._end_assignment(conn, before.episode_id, now, "close")
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
        before = self._get(conn, conversation_id)
        conversation = self._cas(conn, conversation_id, Event.WITHDRAW, agent_id=None, queue_rank=None,
                                 episode_id=None)
        self._event(conn, conversation_id, "ended", "", None, outcome)
        if outcome == "withdrawn":
            conn.execute(INSERT_TURN, {"conversation_id": conversation_id, "kind": "withdraw",
                                       "message_id": None, "created_at": now})
        if before.episode_id is not None:
            conn.execute(update(episodes_table).where(episodes_table.c.id == before.episode_id)
                         .values(outcome=outcome, ended_at=now))
        return conversation

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
            r.id: {"episode_id": r.episode_id, "queued_at": _utc(r.queued_at), "state": State(r.state),
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
        return [max(0.0, (_utc(r.closed_at) - _utc(r.assigned_at)).total_seconds()) for r in rows]  # type: ignore[operator]

    # -- CSAT ------------------------------------------------------------

    @threaded
    def store_csat(
        self, conn: Connection, conversation_id: str, score: int, comment: Optional[str],
        now: Optional[dt.datetime] = None, ask_nps: bool = False,
    ) -> Dict[str, Any]:
        """Store the CSAT with the handoff's agent (the one who closed) and
        reason; once per handoff. ``ask_nps``: the NPS question now waits for
        this handoff (``nps_episode_id``), in the same transaction."""
        now = now or utcnow()
        conversation = self._get(conn, conversation_id)
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
        conversation = self._get(conn, conversation_id)
        if conversation.nps_episode_id is None:
            raise NoNpsPending(f"conversation {conversation_id} has no NPS question waiting")
        values = dict(conversation_id=conversation_id, episode_id=conversation.nps_episode_id, score=score,
                      created_at=now or utcnow())
        conn.execute(insert(nps_table).values(**values))
        conn.execute(update(conversations_table).where(conversations_table.c.id == conversation_id)
                     .values(nps_episode_id=None, updated_at=utcnow()))
        return values

    @threaded
    def assignments(self, conn: Connection, episode_id: Optional[int] = None) -> List[Dict[str, Any]]:
        """Assignment rows, oldest first (reports, tests)."""
        query = select(assignments_table).order_by(assignments_table.c.id)
        if episode_id is not None:
            query = query.where(assignments_table.c.episode_id == episode_id)
        return [dict(r._mapping) for r in conn.execute(query).all()]

    @threaded
    def csat_rows(self, conn: Connection) -> List[Dict[str, Any]]:
        return [dict(r._mapping) for r in conn.execute(select(csat_table).order_by(csat_table.c.id)).all()]

    # -- the customer across conversations (issue 10) ---------------------

    @threaded
    def link_customer(self, conn: Connection, conversation_id: str, customer_id: str, linked_by: str) -> bool:
        """The conversation's shopper proved to be store customer
        ``customer_id`` (``linked_by``: order_email | telegram_phone |
        shop_identity). The latest proof wins; whether anything changed."""
        current = self._get(conn, conversation_id)
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
                "started_at": _utc(first_message.get(r.id) or r.created_at),
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

    # -- labels (../shared/design/reports.md, "Labels") -------------------

    def _labels(self, conn: Connection, conversation_id: str) -> List[str]:
        rows = conn.execute(select(labels_table.c.label).where(labels_table.c.conversation_id == conversation_id)
                            .order_by(labels_table.c.label)).all()
        return [r.label for r in rows]

    @threaded
    def labels(self, conn: Connection, conversation_id: str) -> List[str]:
        """The conversation's labels, in alphabetical order."""
        return self._labels(conn, conversation_id)

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
        self._get(conn, conversation_id)
        current = set(self._labels(conn, conversation_id))
        wanted = (current | set(add)) - set(remove)
        if most and len(wanted) > most and len(wanted) > len(current):
            raise TooManyLabels(f"at most {most} labels")
        if set(remove) & current:
            conn.execute(labels_table.delete().where(and_(labels_table.c.conversation_id == conversation_id,
                                                          labels_table.c.label.in_(sorted(set(remove) & current)))))
        for name in sorted(wanted - current):
            conn.execute(insert(labels_table).values(conversation_id=conversation_id, label=name,
                                                     added_by=agent_id, added_at=now))
        return self._labels(conn, conversation_id)

    @threaded
    def popular_labels(self, conn: Connection, limit: int = 20) -> List[str]:
        """The labels on most conversations (ties alphabetically): the
        console's suggestions."""
        count = func.count(labels_table.c.conversation_id)
        rows = conn.execute(select(labels_table.c.label, count.label("n")).group_by(labels_table.c.label)
                            .order_by(count.desc(), labels_table.c.label).limit(limit)).all()
        return [r.label for r in rows]
