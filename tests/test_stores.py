"""The SQL tracker store and the Redis lock store (bot/tracker_store.py,
bot/lock_store.py) do their blocking I/O off the event loop: a slow store
call of one conversation does not hold up another conversation's turn on the
same worker; and they still store, find and lock as Rasa's do."""
from __future__ import annotations

import asyncio
import secrets
import threading
import time
from pathlib import Path
from typing import Any, List, Optional

import psycopg2
import pytest
import redis
from psycopg2 import sql as pgsql
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig

from bot.lock_store import AtomicRedisLockStore
from bot.settings import ROOT
from bot.tracker_store import CachedSQLTrackerStore

DOMAIN = Domain.load(str(ROOT / "domain.yml"))
SLOW_S = 0.4


def _tracker(sender_id: str, turns: int) -> DialogueStateTracker:
    tracker = DialogueStateTracker(sender_id, DOMAIN.slots)
    for i in range(turns):
        tracker.update(UserUttered(f"mensaje {i}", {"name": "faq", "confidence": 1.0}))
        tracker.update(ActionExecuted("utter_faq"))
        tracker.update(BotUttered("respuesta"))
        tracker.update(ActionExecuted("action_listen"))
    return tracker


def _sqlite_store(path: Path) -> CachedSQLTrackerStore:
    return CachedSQLTrackerStore(DOMAIN, dialect="sqlite", db=str(path))


def _slow_latest_id(store: CachedSQLTrackerStore) -> None:
    """Every highest-id query of ``store`` takes SLOW_S more (a slow database)."""
    original = store._latest_id

    def slow(connection: Any, sender_id: str) -> Optional[int]:
        time.sleep(SLOW_S)
        return original(connection, sender_id)

    store._latest_id = slow  # type: ignore[method-assign]


def _stored_events(store: CachedSQLTrackerStore, sender_id: str) -> int:
    with store.session_scope() as session:
        return int(session.query(store.SQLEvent).filter(store.SQLEvent.sender_id == sender_id).count())


def test_slow_tracker_store_does_not_block_another_conversation(tmp_path: Path) -> None:
    store = _sqlite_store(tmp_path / "trackers.db")
    _slow_latest_id(store)

    async def both() -> float:
        started = time.perf_counter()
        await asyncio.gather(store.retrieve("uno"), store.retrieve("dos"))
        return time.perf_counter() - started

    elapsed = asyncio.run(both())
    assert elapsed < 1.6 * SLOW_S, f"two retrievals took {elapsed:.2f} s: run one after the other"


def test_event_loop_keeps_running_during_a_save(tmp_path: Path) -> None:
    store = _sqlite_store(tmp_path / "trackers.db")
    _slow_latest_id(store)
    ticks: List[float] = []

    async def ticker() -> None:
        for _ in range(10):
            ticks.append(time.perf_counter())
            await asyncio.sleep(0.02)

    async def main() -> None:
        await asyncio.gather(ticker(), store.save(_tracker("uno", 2)))

    asyncio.run(main())
    gaps = [b - a for a, b in zip(ticks, ticks[1:])]
    assert max(gaps) < SLOW_S / 2, f"the loop stalled {max(gaps):.2f} s during a save"


def test_saves_each_event_once_and_sees_another_writer(tmp_path: Path) -> None:
    path = tmp_path / "trackers.db"
    first, second = _sqlite_store(path), _sqlite_store(path)

    async def scenario() -> None:
        tracker = _tracker("uno", 2)
        await first.save(tracker)
        assert _stored_events(first, "uno") == len(tracker.events)
        cached = await first.retrieve("uno")
        assert cached is not None and len(cached.events) == len(tracker.events)
        # another worker continues the conversation
        other = await second.retrieve("uno")
        assert other is not None
        for event in list(_tracker("uno", 3).events)[len(other.events):]:
            other.update(event)
        await second.save(other)
        # the first worker sees the newer events, and its next save adds only its own
        seen = await first.retrieve("uno")
        assert seen is not None and len(seen.events) == len(other.events)
        seen.update(UserUttered("otra cosa", {"name": "faq", "confidence": 1.0}))
        await first.save(seen)
        assert _stored_events(first, "uno") == len(seen.events)
        full = await first.retrieve_full_tracker("uno")
        assert full is not None and [e.as_dict() for e in full.events] == [e.as_dict() for e in seen.events]
        assert list(await first.keys()) == ["uno"]
        assert await first.retrieve("nadie") is None

    asyncio.run(scenario())


@pytest.mark.postgres
def test_postgres_store_with_timeouts() -> None:
    try:
        admin = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="postgres", connect_timeout=3)
    except psycopg2.OperationalError as exc:
        pytest.skip(f"PostgreSQL unreachable: {exc}")
    admin.autocommit = True
    name = "stores_test_" + secrets.token_hex(4)
    with admin.cursor() as cur:
        cur.execute(pgsql.SQL("CREATE DATABASE {}").format(pgsql.Identifier(name)))
    try:
        store = CachedSQLTrackerStore(DOMAIN, dialect="postgresql", host="127.0.0.1", port=5432, db=name,
                                      username="postgres")
        with store.engine.connect() as connection:
            assert connection.exec_driver_sql("SHOW statement_timeout").scalar() == "10s"

        async def scenario() -> None:
            tracker = _tracker("uno", 3)
            await store.save(tracker)
            tracker.update(UserUttered("y otra", {"name": "faq", "confidence": 1.0}))
            await store.save(tracker)
            again = await store.retrieve("uno")
            assert again is not None and len(again.events) == len(tracker.events)

        asyncio.run(scenario())
        assert _stored_events(store, "uno") == len(_tracker("uno", 3).events) + 1
        store.engine.dispose()
    finally:
        with admin.cursor() as cur:
            cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
            cur.execute(pgsql.SQL("DROP DATABASE IF EXISTS {}").format(pgsql.Identifier(name)))
        admin.close()


@pytest.mark.postgres
def test_workers_starting_together_create_the_database_once_without_a_warning(caplog: Any) -> None:
    """make run-scaled: Rasa's two workers both created the tracker database
    and tables; one failed on a unique index, logged the SQL as a warning and
    slept 5 s before trying again."""
    import concurrent.futures
    import logging
    import threading

    try:
        admin = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="postgres", connect_timeout=3)
    except psycopg2.OperationalError as exc:
        pytest.skip(f"PostgreSQL unreachable: {exc}")
    admin.autocommit = True
    name = "stores_test_" + secrets.token_hex(4)
    workers = 4
    start = threading.Barrier(workers)

    def worker() -> CachedSQLTrackerStore:
        start.wait(timeout=30)
        return CachedSQLTrackerStore(DOMAIN, dialect="postgresql", host="127.0.0.1", port=5432, db=name,
                                     username="postgres", login_db="postgres")

    caplog.set_level(logging.WARNING, logger="rasa.core.tracker_store")
    try:
        with concurrent.futures.ThreadPoolExecutor(workers) as pool:
            stores = list(pool.map(lambda _: worker(), range(workers)))
        assert [r.getMessage()[:80] for r in caplog.records if r.name == "rasa.core.tracker_store"] == []
        for store in stores:
            store.engine.dispose()
    finally:
        with admin.cursor() as cur:
            cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
            cur.execute(pgsql.SQL("DROP DATABASE IF EXISTS {}").format(pgsql.Identifier(name)))
        admin.close()


# -- the lock store ---------------------------------------------------------------------


def _redis_or_skip() -> None:
    try:
        redis.Redis(host="127.0.0.1", port=6379, socket_timeout=3).ping()
    except redis.exceptions.RedisError as exc:
        pytest.skip(f"Redis unreachable: {exc}")


def _lock_store(prefix: str, port: int = 6379) -> AtomicRedisLockStore:
    return AtomicRedisLockStore(EndpointConfig(url="127.0.0.1", port=port, db=0, key_prefix=prefix))


@pytest.fixture
def lock_store() -> AtomicRedisLockStore:
    _redis_or_skip()
    return _lock_store("stores" + secrets.token_hex(4))


class _SlowRedis:
    """A TCP relay to the local Redis, in a thread of its own, holding each
    client request ``SLOW_S`` before passing it on (a slow Redis)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.port = 0
        started = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(started,), daemon=True)
        self.thread.start()
        assert started.wait(5), "the relay did not start"

    def _run(self, started: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(asyncio.start_server(self._client, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        started.set()
        self.loop.run_forever()
        server.close()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", 6379)

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter, delay: float) -> None:
            while data := await source.read(65536):
                await asyncio.sleep(delay)
                sink.write(data)
                await sink.drain()
            sink.close()

        await asyncio.gather(pipe(reader, up_writer, SLOW_S), pipe(up_reader, writer, 0), return_exceptions=True)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


def test_slow_lock_store_does_not_block_another_conversation() -> None:
    _redis_or_skip()
    relay = _SlowRedis()
    store = _lock_store("stores" + secrets.token_hex(4), relay.port)
    ticks: List[float] = []

    async def turn(conversation_id: str) -> None:
        async with store.lock(conversation_id):
            await asyncio.sleep(0)

    async def ticker(until: "asyncio.Future[Any]") -> None:
        while not until.done():
            ticks.append(time.perf_counter())
            await asyncio.sleep(0.02)

    async def both() -> float:
        started = time.perf_counter()
        turns = asyncio.ensure_future(asyncio.gather(turn("uno"), turn("dos")))
        await asyncio.gather(turns, ticker(turns))
        return time.perf_counter() - started

    try:
        elapsed = asyncio.run(both())
    finally:
        relay.stop()
    # each turn is two Redis calls (issue, cleanup): 2 × SLOW_S if alone, 4 × one after the other
    assert elapsed < 3.5 * SLOW_S, f"two turns took {elapsed:.2f} s: run one after the other"
    gaps = [b - a for a, b in zip(ticks, ticks[1:])]
    assert max(gaps) < 0.9 * SLOW_S, f"the loop stalled {max(gaps):.2f} s waiting for Redis"


def test_one_conversation_one_turn_at_a_time_across_workers(lock_store: AtomicRedisLockStore) -> None:
    """Two stores on one prefix (two workers) take turns on one conversation."""
    other = _lock_store(lock_store.key_prefix.split(":")[0])
    inside: List[int] = []
    overlaps: List[int] = []

    async def turn(number: int) -> None:
        store = (lock_store, other)[number % 2]
        async with store.lock("uno", wait_time_in_seconds=0.02):
            if inside:
                overlaps.append(number)
            inside.append(number)
            await asyncio.sleep(0.05)
            inside.remove(number)

    async def all_turns() -> None:
        await asyncio.gather(*(turn(n) for n in range(6)))

    asyncio.run(all_turns())
    assert overlaps == []
    assert lock_store.get_lock("uno") is None  # the last cleanup deleted it


def test_tickets_keep_rasas_format_and_expiry(lock_store: AtomicRedisLockStore) -> None:
    first = lock_store.issue_ticket("uno", lock_lifetime=0.2)
    second = lock_store.issue_ticket("uno", lock_lifetime=30)
    lock = lock_store.get_lock("uno")  # Rasa's own reading of the value
    assert lock is not None and lock.conversation_id == "uno"
    assert [t.number for t in lock.tickets] == [first, second] == [0, 1]
    assert lock.is_locked(second) and not lock.is_locked(first)
    assert abs(lock.tickets[1].expires - time.time() - 30) < 5
    deadline = time.time() + 0.3
    while time.time() < deadline:  # the first ticket's lifetime is the client clock's
        time.sleep(0.05)
    lock_store.update_lock("uno")  # drops the expired first ticket
    lock = lock_store.get_lock("uno")
    assert lock is not None and [t.number for t in lock.tickets] == [second] and not lock.is_locked(second)
    lock_store.cleanup("uno", second)
    assert lock_store.get_lock("uno") is None
    assert lock_store.issue_ticket("uno") == 0  # a new lock starts again at 0
    lock_store.cleanup("uno", 0)


def test_a_waiting_turn_is_served_after_the_first(lock_store: AtomicRedisLockStore) -> None:
    order: List[str] = []

    async def turn(name: str, hold: float) -> None:
        async with lock_store.lock("uno", wait_time_in_seconds=0.02):
            order.append(f"{name}+")
            await asyncio.sleep(hold)
            order.append(f"{name}-")

    async def both() -> None:
        first = asyncio.ensure_future(turn("a", 0.1))
        await asyncio.sleep(0.02)
        await asyncio.gather(first, turn("b", 0))

    asyncio.run(both())
    assert order == ["a+", "a-", "b+", "b-"]
    assert lock_store.get_lock("uno") is None


# -- the lock's last holder tells the next one what it stored (bot/turn_lock.py) ---------


class _Worker:
    """One Rasa worker's pair of stores: the SQL store (SQLite file) and the
    Redis lock store, counting the SQL store's highest-id queries."""

    def __init__(self, path: Path, prefix: str) -> None:
        self.trackers = _sqlite_store(path)
        self.locks = _lock_store(prefix)
        self.queries = 0
        original = self.trackers._latest_id

        def counted(connection: Any, sender_id: str) -> Optional[int]:
            self.queries += 1
            return original(connection, sender_id)

        self.trackers._latest_id = counted  # type: ignore[method-assign]

    async def turn(self, sender_id: str, text: str) -> DialogueStateTracker:
        """What Rasa does with one message: lock, retrieve, add events, save."""
        async with self.locks.lock(sender_id, wait_time_in_seconds=0.02):
            tracker = await self.trackers.retrieve(sender_id) or DialogueStateTracker(sender_id, DOMAIN.slots)
            tracker.update(UserUttered(text, {"name": "faq", "confidence": 1.0}))
            tracker.update(ActionExecuted("action_listen"))
            await self.trackers.save(tracker)
            return tracker


def _texts(tracker: DialogueStateTracker) -> List[str]:
    return [e.text for e in tracker.events if isinstance(e, UserUttered)]


def test_a_worker_trusts_its_cache_only_while_it_was_the_last_holder(tmp_path: Path) -> None:
    _redis_or_skip()
    prefix = "stores" + secrets.token_hex(4)
    one, two = _Worker(tmp_path / "t.db", prefix), _Worker(tmp_path / "t.db", prefix)

    async def scenario() -> None:
        await one.turn("uno", "a")
        before = one.queries
        assert _texts(await one.turn("uno", "b")) == ["a", "b"]
        # its own last turn: no check (SQLite still reads the new id after the INSERT; PostgreSQL returns it)
        assert one.queries == before + 1
        assert _texts(await two.turn("uno", "c")) == ["a", "b", "c"]  # the other worker reads the database
        before = one.queries
        assert _texts(await one.turn("uno", "d")) == ["a", "b", "c", "d"], "the other worker's turn is seen"
        assert one.queries == before + 3  # the retrieval's check, the save's check, the id after the INSERT
        stored = await one.trackers.retrieve_full_tracker("uno")
        assert stored is not None and _texts(stored) == ["a", "b", "c", "d"]

    asyncio.run(scenario())


def test_a_save_outside_the_lock_makes_the_next_holder_query(tmp_path: Path) -> None:
    _redis_or_skip()
    prefix = "stores" + secrets.token_hex(4)
    one, two = _Worker(tmp_path / "t.db", prefix), _Worker(tmp_path / "t.db", prefix)

    async def scenario() -> None:
        await one.turn("uno", "a")
        tracker = await two.trackers.retrieve("uno")  # as Rasa's /predict route: no lock
        assert tracker is not None
        tracker.update(UserUttered("sin cerrojo", {"name": "faq", "confidence": 1.0}))
        await two.trackers.save(tracker)
        assert _texts(await one.turn("uno", "b")) == ["a", "sin cerrojo", "b"]

    asyncio.run(scenario())


def test_a_holder_that_died_mid_turn_leaves_nothing_to_trust(tmp_path: Path) -> None:
    _redis_or_skip()
    prefix = "stores" + secrets.token_hex(4)
    one, two = _Worker(tmp_path / "t.db", prefix), _Worker(tmp_path / "t.db", prefix)

    async def scenario() -> None:
        await one.turn("uno", "a")
        # the other worker takes its turn, saves, and dies before its cleanup (its ticket expires)
        _, served, published = await two.locks._issue("uno", 0.1)
        assert served and published is not None
        tracker = await two.trackers.retrieve("uno")
        assert tracker is not None
        tracker.update(UserUttered("murió", {"name": "faq", "confidence": 1.0}))
        await two.trackers.save(tracker)
        await asyncio.sleep(0.2)
        assert _texts(await one.turn("uno", "b")) == ["a", "murió", "b"]

    asyncio.run(scenario())


def test_stacks_sharing_redis_never_trust_each_others_ids(tmp_path: Path) -> None:
    """Two databases behind one lock prefix: an id published for one says nothing of the other."""
    _redis_or_skip()
    prefix = "stores" + secrets.token_hex(4)
    mine, other_of_mine = _Worker(tmp_path / "mine.db", prefix), _Worker(tmp_path / "mine.db", prefix)
    elsewhere = _Worker(tmp_path / "elsewhere.db", prefix)

    async def scenario() -> None:
        await mine.turn("uno", "a")  # highest id 2 in mine.db, cached by `mine`
        await other_of_mine.turn("uno", "b")  # mine.db moves on
        await elsewhere.turn("uno", "x")  # highest id 2 in elsewhere.db, published
        assert _texts(await mine.turn("uno", "c")) == ["a", "b", "c"]

    asyncio.run(scenario())
