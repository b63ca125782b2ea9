"""Rasa's in-memory and SQL tracker stores, keeping each conversation's last
saved tracker in the process (``RASA_TURN_CACHE=on``, the default).

Why: Rasa 3.6 rebuilds the whole conversation on every message: the
in-memory store serialises the tracker to JSON at each save and parses and
replays every event at each retrieval; the SQL store reads and replays every
event of the session. That grew with the conversation (15% of a turn's CPU
at turn 100, py-spy; docs/benchmarks.md, "Reply time along one
conversation"). Here a retrieval returns a copy of the tracker saved last,
sharing its (immutable once stored) event objects, so a turn costs the same
at turn 120 as at turn 1; sharing them also lets ``bot.rasa_server``'s
incremental state history recognise the conversation's past events.

Limits:
- the in-memory store keeps tracker objects instead of JSON text (about the
  same memory); like Rasa's, it returns the last session only;
- the SQL store checks the cached tracker against the database at every
  retrieval (the highest event id of the conversation, one indexed query):
  events written by another worker or process since make it read the
  database as Rasa does. That holds as long as each conversation has one
  writer at a time (Rasa's lock store), which Rasa's own ``save`` (it counts
  the stored events to find the new ones) already assumes;
- either store falls back to Rasa's own retrieval when the cached tracker
  holds more than one session (a session started in that turn), so which
  events come back is Rasa's rule.
"""
from __future__ import annotations

import collections
import contextlib
import copy
import hashlib
import json
from typing import Any, Dict, Iterable, Iterator, List, Optional, Text, Tuple

from rasa.core.tracker_store import InMemoryTrackerStore, SQLTrackerStore
from rasa.shared.core.events import SessionStarted
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import INTENT_NAME_KEY

from bot import turn_lock
from bot.offload import Offloader

# Conversations kept per process (least recently used dropped first).
MAX_CACHED = 5000
CONNECT_TIMEOUT_S = 5
STATEMENT_TIMEOUT_MS = 10_000
# libpq parameters, in the database URL's query
CREATE_LOCK_KEY = 0x7261736131  # pg_advisory_lock key: one worker at a time creates the tracker database and tables
POSTGRES_TIMEOUTS = {"connect_timeout": str(CONNECT_TIMEOUT_S), "options": f"-c statement_timeout={STATEMENT_TIMEOUT_MS}"}


def _plain(cls: Any) -> bool:
    """Whether ``copy.copy`` of a ``cls`` object is a new object with the same ``__dict__``."""
    found = _PLAIN.get(cls)
    if found is None:
        found = _PLAIN[cls] = not (any(k.__dict__.get("__slots__") for k in cls.__mro__)
                                   or hasattr(cls, "__copy__") or hasattr(cls, "__setstate__")
                                   or cls.__reduce_ex__ is not object.__reduce_ex__
                                   or cls.__reduce__ is not object.__reduce__)
    return found


_PLAIN: Dict[Any, bool] = {}


def _copy_slot(slot: Any) -> Any:
    """``copy.copy(slot)`` for a plain object (Rasa's slots), without its
    ``__reduce_ex__`` round: a tracker has about 60 slots and is copied twice
    a turn. Anything with its own copy hooks or non-empty ``__slots__`` goes
    through ``copy.copy``."""
    cls: Any = type(slot)
    if not _plain(cls) or not hasattr(slot, "__dict__"):
        return copy.copy(slot)
    new = cls.__new__(cls)
    new.__dict__.update(slot.__dict__)
    return new


def snapshot(tracker: DialogueStateTracker) -> DialogueStateTracker:
    """A tracker equal to ``tracker`` that can change independently of it.

    Its event list, slots, latest action and active loop are its own; the
    event objects and the latest message and bot utterance are shared (Rasa
    replaces them, never changes them once they are in a tracker). Cost: a
    copy of the event list (pointers), not a replay."""
    new = copy.copy(tracker)
    new.events = collections.deque(tracker.events, maxlen=tracker.events.maxlen)
    new.slots = type(tracker.slots)((name, _copy_slot(slot)) for name, slot in tracker.slots.items())
    if tracker.latest_action is not None:
        new.latest_action = dict(tracker.latest_action)
    if tracker.active_loop is not None:
        new.active_loop = copy.copy(tracker.active_loop)
    return new


def sessions(tracker: DialogueStateTracker) -> int:
    return sum(1 for event in tracker.events if type(event) is SessionStarted)


class _Cache:
    """The last saved tracker of each conversation, with a validity marker."""

    def __init__(self) -> None:
        self._items: "collections.OrderedDict[Text, Tuple[DialogueStateTracker, Any]]" = collections.OrderedDict()

    def get(self, sender_id: Text, marker: Any = None) -> Optional[DialogueStateTracker]:
        item = self._items.get(sender_id)
        if item is None or item[1] != marker:
            return None
        self._items.move_to_end(sender_id)
        return snapshot(item[0])

    def put(self, tracker: DialogueStateTracker, marker: Any = None) -> Dict[Text, DialogueStateTracker]:
        """Keep a copy of ``tracker``; the trackers dropped to make room."""
        self._items[tracker.sender_id] = (snapshot(tracker), marker)
        self._items.move_to_end(tracker.sender_id)
        dropped: Dict[Text, DialogueStateTracker] = {}
        while len(self._items) > MAX_CACHED:
            sender_id, (old, _) = self._items.popitem(last=False)
            dropped[sender_id] = old
        return dropped

    def drop(self, sender_id: Text) -> None:
        self._items.pop(sender_id, None)

    def keys(self) -> Iterable[Text]:
        return list(self._items)


class CachedInMemoryTrackerStore(InMemoryTrackerStore):
    """Rasa's in-memory store holding tracker objects, not JSON text.

    Conversations beyond ``MAX_CACHED`` are kept as Rasa keeps them
    (serialised), so none is lost."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._live = _Cache()

    async def save(self, tracker: DialogueStateTracker) -> None:
        await self.stream_events(tracker)
        self.store.pop(tracker.sender_id, None)
        for sender_id, old in self._live.put(tracker).items():
            self.store[sender_id] = self.serialise_tracker(old)

    async def _retrieve(self, sender_id: Text, fetch_all_sessions: bool) -> Optional[DialogueStateTracker]:
        tracker = self._live.get(sender_id)
        if tracker is None:
            return await super()._retrieve(sender_id, fetch_all_sessions)
        if fetch_all_sessions or sessions(tracker) <= 1:
            return tracker
        from rasa.shared.core.trackers import get_trackers_for_conversation_sessions

        return get_trackers_for_conversation_sessions(tracker)[-1]

    async def keys(self) -> Iterable[Text]:
        live = list(self._live.keys())
        return live + [k for k in self.store if k not in set(live)]


class _Statements:
    """The SQL text the store sends to the driver for its frequent
    statements, built once per table (quoting and placeholders of the
    dialect), so no SQLAlchemy compilation happens per turn."""

    COLUMNS = ("sender_id", "type_name", "timestamp", "intent_name", "action_name", "data")

    def __init__(self, dialect: Any, table: Any) -> None:
        quote = self._quote = dialect.identifier_preparer.quote
        self._mark = "?" if dialect.paramstyle == "qmark" else "%s"
        self._table = dialect.identifier_preparer.format_table(table)
        self._columns = ", ".join(quote(c) for c in self.COLUMNS)
        self.returning = dialect.name == "postgresql"
        self.latest = f"SELECT max({quote('id')}) FROM {self._table} WHERE {quote('sender_id')} = {self._mark}"
        self._inserts: Dict[int, str] = {}

    def insert(self, rows: int) -> str:
        """An INSERT of ``rows`` rows (returning their ids on PostgreSQL)."""
        found = self._inserts.get(rows)
        if found is None:
            row = "(" + ", ".join([self._mark] * len(self.COLUMNS)) + ")"
            found = f"INSERT INTO {self._table} ({self._columns}) VALUES " + ", ".join([row] * rows)
            if self.returning:
                found += f" RETURNING {self._quote('id')}"
            if len(self._inserts) < 64:
                self._inserts[rows] = found
        return found


@contextlib.contextmanager
def _one_creator_at_a_time(kwargs: Dict[str, Any]) -> Iterator[None]:
    """On PostgreSQL, Rasa's workers starting together each create the
    database and tables: the loser's CREATE failed on a unique index, was
    logged as a warning with the SQL, and it slept 5 s before trying again.
    A session advisory lock on the login database (else the store's) makes
    them take turns. Limits: elsewhere nothing is done (SQLite: one file)."""
    if kwargs.get("dialect", "sqlite") != "postgresql":
        yield
        return
    import sqlalchemy as sa

    url = SQLTrackerStore.get_db_url("postgresql", kwargs.get("host"), kwargs.get("port"),
                                     kwargs.get("login_db") or kwargs.get("db") or "postgres",
                                     kwargs.get("username"), kwargs.get("password"), None, kwargs.get("query"))
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT pg_advisory_lock(:key)"), {"key": CREATE_LOCK_KEY})
            try:
                yield
            finally:
                conn.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": CREATE_LOCK_KEY})
    finally:
        engine.dispose()


class CachedSQLTrackerStore(SQLTrackerStore):
    """Rasa's SQL store answering from the last saved tracker while the
    database holds no newer event of the conversation, with its database work
    in threads (bot/offload.py), off the worker's event loop.

    It also knows how many of a cached tracker's events are stored, so a save
    writes the new ones without Rasa's count of the session's stored events
    (a query over the session-start subquery that took most of a turn's
    time by turn 100: 40% of the wall time, py-spy ``--idle``).

    Round trips per turn: a retrieval answered from the cache, one query (the
    highest event id, in autocommit); a save, one transaction: the
    highest id checked, the new events inserted in one statement returning
    their ids (PostgreSQL; elsewhere the highest id read again), commit (Rasa's: a count, one INSERT per event, commit,
    and, before this change, another session for the new highest id).
    Under the Redis lock store, when the lock's last holder published the
    id the cache holds (bot/turn_lock.py), neither check is made: the
    retrieval is no round trip, the save the INSERT and commit.

    Each thread call takes a connection of its own from the engine's pool
    (thread-safe, the only thing shared) and gives it back. The caches are read and changed on the event loop
    only. Timeouts (PostgreSQL): ``CONNECT_TIMEOUT_S`` to connect,
    ``STATEMENT_TIMEOUT_MS`` per statement, unless the endpoint's ``query``
    sets them; SQLAlchemy's pool waits at most 30 s for a connection.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if kwargs.get("dialect", "sqlite") == "postgresql":
            kwargs["query"] = {**POSTGRES_TIMEOUTS, **(kwargs.get("query") or {})}
        with _one_creator_at_a_time(kwargs):
            super().__init__(*args, **kwargs)
        self._live = _Cache()
        # sender -> (highest stored event id, how many of its tracker's events are stored)
        self._stored: Dict[Text, Tuple[int, int]] = {}
        self._threads = Offloader("sql-tracker-store")
        url = self.engine.url.render_as_string(hide_password=True)
        self._identity = hashlib.sha1(url.encode("utf-8")).hexdigest()[:16]  # this database, in lock tokens
        self._statements = _Statements(self.engine.dialect, self.SQLEvent.__table__)

    def _token(self, marker: int) -> str:
        """What the lock carries to the conversation's next holder
        (bot/turn_lock.py): this database and its highest event id."""
        return f"{self._identity}:{marker}"

    def _marker(self, token: Optional[str]) -> Optional[int]:
        """The event id of a token this store made (None for another database's or none)."""
        if token is None:
            return None
        identity, _, marker = token.rpartition(":")
        return int(marker) if marker.isdigit() and identity == self._identity else None

    def _sql(self) -> "_Statements":
        return self._statements

    def _latest_id(self, connection: Any, sender_id: Text) -> Optional[int]:
        """The conversation's highest event id (None: no event)."""
        return connection.exec_driver_sql(self._sql().latest, (sender_id,)).scalar()

    # -- run in a thread: each opens its own connection --------------------------------

    def _latest_id_now(self, sender_id: Text) -> Optional[int]:
        """The highest event id, on a connection of its own in autocommit:
        one round trip (a session's would be BEGIN, SELECT, ROLLBACK)."""
        with self.engine.connect() as connection:
            return self._latest_id(connection.execution_options(isolation_level="AUTOCOMMIT"), sender_id)

    def _load(self, sender_id: Text, all_sessions: bool) -> Tuple[Optional[int], List[Dict[Text, Any]]]:
        """The highest event id and the events of the last (or every) session."""
        with self.session_scope() as session:
            marker = self._latest_id(session.connection(), sender_id)
            if marker is None:
                return None, []
            rows = self._event_query(session, sender_id, fetch_events_from_all_sessions=all_sessions).all()
            return marker, [json.loads(row.data) for row in rows]

    def _write(self, sender_id: Text, events: List[Any], known: Optional[Tuple[int, int]],
               trusted: bool = False) -> Optional[int]:
        """Store the events not stored yet; the highest event id after it.

        ``known`` (highest id, events stored) is trusted only while the
        database's highest id is still that one (no other writer since):
        checked, unless ``trusted`` (the lock's last holder published that id,
        bot/turn_lock.py).
        The statements go to the driver as prebuilt SQL text (SQLAlchemy
        compiled a multi-row INSERT anew for each turn: 4% of a worker's
        CPU, py-spy); the session's count (rare) is Rasa's query."""
        from sqlalchemy.orm import Session

        with self.engine.begin() as connection:
            latest = known[0] if trusted and known is not None else self._latest_id(connection, sender_id)
            if latest is None:
                start = 0
            elif known is not None and known[0] == latest:
                start = known[1]
            else:
                with Session(bind=connection) as session:
                    start = self._event_query(session, sender_id, fetch_events_from_all_sessions=False).count()
            rows = [self._row(sender_id, event) for event in events[start:]]
            if rows:
                sql = self._sql()
                values = tuple(value for row in rows for value in row)
                if sql.returning:  # one statement, its ids returned
                    latest = max(id_ for (id_,) in connection.exec_driver_sql(sql.insert(len(rows)), values))
                else:
                    connection.exec_driver_sql(sql.insert(len(rows)), values)
                    latest = self._latest_id(connection, sender_id)
            return latest

    @staticmethod
    def _row(sender_id: Text, event: Any) -> Tuple[Any, ...]:
        """The columns Rasa's ``save`` writes for one event, in ``_Statements.COLUMNS`` order."""
        data = event.as_dict()
        return (sender_id, event.type_name, data.get("timestamp"),
                data.get("parse_data", {}).get("intent", {}).get(INTENT_NAME_KEY), data.get("name"), json.dumps(data))

    # -- on the event loop -----------------------------------------------------------

    async def save(self, tracker: DialogueStateTracker) -> None:
        await self.stream_events(tracker)
        sender_id = tracker.sender_id
        hold = turn_lock.held(sender_id)
        if hold is None:  # a writer outside the lock: what its last holder published no longer holds
            await turn_lock.forget(sender_id)
        self._live.drop(sender_id)
        known = self._stored.pop(sender_id, None)
        trusted = hold is not None and known is not None and hold.stored == self._token(known[0])
        if hold is not None:
            hold.stored = None  # unknown until the write has ended well
        marker = await self._threads.run(self._write, sender_id, list(tracker.events), known, trusted)
        if marker is None:
            return
        if hold is not None:
            hold.stored = self._token(marker)
        self._live.put(tracker, marker)
        self._stored[sender_id] = (marker, len(tracker.events))

    async def retrieve(self, sender_id: Text) -> Optional[DialogueStateTracker]:
        hold = turn_lock.held(sender_id)
        published = self._marker(hold.stored) if hold is not None else None
        if published is not None:  # the lock says which id is the latest
            tracker = self._live.get(sender_id, published)
            if tracker is not None and sessions(tracker) <= 1:
                return tracker
        marker = await self._threads.run(self._latest_id_now, sender_id)
        if marker is None:
            return None
        if hold is not None:
            hold.stored = self._token(marker)
        tracker = self._live.get(sender_id, marker)
        if tracker is not None and sessions(tracker) <= 1:
            return tracker
        self._stored.pop(sender_id, None)
        marker, tracker = await self._fetch(sender_id, all_sessions=False)
        if hold is not None:
            hold.stored = None if marker is None else self._token(marker)
        if tracker is not None and marker is not None:
            self._live.put(tracker, marker)
            self._stored[sender_id] = (marker, len(tracker.events))
        return tracker

    async def _fetch(self, sender_id: Text, all_sessions: bool) -> Tuple[Optional[int], Optional[DialogueStateTracker]]:
        """Rasa's retrieval, its query in a thread, with the highest event id read with it."""
        marker, events = await self._threads.run(self._load, sender_id, all_sessions)
        if not self.domain or not events:
            return marker, None
        return marker, DialogueStateTracker.from_dict(sender_id, events, self.domain.slots)

    async def _retrieve(self, sender_id: Text, fetch_events_from_all_sessions: bool) -> Optional[DialogueStateTracker]:
        """Rasa's ``_retrieve`` (``retrieve_full_tracker`` uses it), off the loop."""
        return (await self._fetch(sender_id, fetch_events_from_all_sessions))[1]

    async def keys(self) -> Iterable[Text]:
        def distinct() -> List[Text]:
            with self.session_scope() as session:
                return [sender_id for (sender_id,) in session.query(self.SQLEvent.sender_id).distinct().all()]

        return await self._threads.run(distinct)
