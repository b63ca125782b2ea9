"""Where the storage's transactions run: one lazily created engine, and
the decorators that give every job's method its transaction.

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
database is private to each connection). PostgreSQL's pooled connections are
pinged at checkout only when idle for ``PING_IDLE_S`` (a ping is a round trip
of its own, a sixth of a message's database time); one used more recently that
the server dropped fails its transaction once (``StorageUnavailable``, the
shopper retries) and the pool reconnects.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import logging
import threading
import time
from typing import Any, Awaitable, Callable, Iterator, Optional, TypeVar

from sqlalchemy import event, select
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError, IntegrityError, OperationalError

import migrations
from core.store.sql import create_sql_engine
from handoff.storage.errors import StorageError, StorageUnavailable

T = TypeVar("T")
PING_IDLE_S = 10.0  # PostgreSQL: a pooled connection idle this long is pinged before use
# the old module's name: log records keep their logger
logger = logging.getLogger("handoff.storage")


def threaded(method: Callable[..., T]) -> Callable[..., Awaitable[T]]:
    """Run a blocking storage method in the storage's worker thread (one
    transaction each)."""

    @functools.wraps(method)
    async def wrapper(self: "StorageEngine", *args: Any, **kwargs: Any) -> T:
        return await self.run(lambda conn: method(self, conn, *args, **kwargs))

    return wrapper


def per_message(method: Callable[..., T]) -> Callable[..., Awaitable[T]]:
    """A single-row statement on every message's path: inline on SQLite, in a
    worker thread on PostgreSQL (one transaction each)."""

    @functools.wraps(method)
    async def wrapper(self: "StorageEngine", *args: Any, **kwargs: Any) -> T:
        return await self.run_short(lambda conn: method(self, conn, *args, **kwargs))

    return wrapper


def _mark_used(_dbapi_connection: Any, record: Any) -> None:
    record.info["used_at"] = time.monotonic()


def _ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    """At checkout: ping a connection idle for PING_IDLE_S; a dead one is
    replaced (DisconnectionError makes the pool connect again)."""
    if time.monotonic() - record.info.get("used_at", 0.0) < PING_IDLE_S:
        return
    try:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("SELECT 1")
        finally:
            cursor.close()
    except Exception as exc:  # noqa: BLE001 - any failure of the ping means a dead connection
        raise DisconnectionError("idle connection did not answer") from exc
    record.info["used_at"] = time.monotonic()


class StorageEngine:
    """The engine, its worker threads and transactions: the base of every
    job's part of ``Storage`` (each part only adds methods)."""

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
                self._engine = create_sql_engine(self.database_url, self.connect_timeout, pre_ping=self._sqlite)
                if not self._sqlite:
                    event.listen(self._engine, "connect", _mark_used)
                    event.listen(self._engine, "checkin", _mark_used)
                    event.listen(self._engine, "checkout", _ping_if_idle)
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
