"""Storage on SQLite and PostgreSQL: check-and-set claims, idempotent messages, CSAT."""
from __future__ import annotations

import asyncio
import datetime as dt
import threading

import pytest
import pytest_asyncio
from sqlalchemy import select, text
from sqlalchemy.engine import Connection

from handoff.agents import add_agent, authenticate
from handoff.state import AlreadyHandedOff, Event, State, TransitionError
from handoff.storage import NoCsatPending, Storage, agents_table, episodes_table


@pytest_asyncio.fixture
async def storage(database_url: str):
    store = Storage(database_url)
    await store.create_schema()
    yield store
    await asyncio.to_thread(_empty, store)
    store.dispose()


def _empty(store: Storage) -> None:
    """Delete the bridge's rows (the PostgreSQL database is the session's; its
    schema is the migrations', kept), ids starting again at 1."""
    from handoff.storage import metadata

    with store.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("TRUNCATE " + ", ".join(t.name for t in metadata.sorted_tables) + " RESTART IDENTITY"))
        else:
            for table in reversed(metadata.sorted_tables):
                conn.execute(table.delete())


NOW = dt.datetime(2025, 11, 24, 11, 0, tzinfo=dt.timezone.utc)


@pytest.mark.asyncio
async def test_claim_check_and_set_has_one_winner(storage: Storage) -> None:
    ana, _ = await add_agent(storage, "Ana")
    beto, _ = await add_agent(storage, "Beto")
    conversation = await storage.create_conversation("web")
    await storage.enqueue(conversation.id, "customer_request", {"reason": "customer_request"}, False, "hola", NOW)
    with pytest.raises(AlreadyHandedOff):
        await storage.enqueue(conversation.id, "customer_request", {}, False, "otra vez", NOW)
    results = await asyncio.gather(
        storage.claim(conversation.id, ana.id, NOW), storage.claim(conversation.id, beto.id, NOW),
        return_exceptions=True)
    winners = [r.conversation for r in results if not isinstance(r, BaseException)]
    assert len(winners) == 1 and all(isinstance(r, TransitionError) for r in results if isinstance(r, BaseException))
    assert winners[0].state is State.AGENT
    loser = beto.id if winners[0].agent_id == ana.id else ana.id
    with pytest.raises(TransitionError):
        await storage.close(conversation.id, loser, "resolved", NOW)
    closed = await storage.close(conversation.id, winners[0].agent_id, "resolved", NOW)
    assert closed.state is State.BOT and closed.csat_episode_id is not None
    stored = await storage.store_csat(conversation.id, 4, None)
    assert stored["agent_id"] == winners[0].agent_id and stored["reason"] == "customer_request"
    with pytest.raises(NoCsatPending):
        await storage.store_csat(conversation.id, 4, None)


@pytest.mark.asyncio
async def test_messages_are_idempotent_by_client_id(storage: Storage) -> None:
    conversation = await storage.create_conversation("web")
    first, created = await storage.add_message(conversation.id, "customer", "hola", None, None, "k1")
    again, created_again = await storage.add_message(conversation.id, "customer", "hola", None, None, "k1")
    assert created and not created_again and first.id == again.id
    await storage.add_message(conversation.id, "note", "interna", None, None, None)
    assert [m.text for m in await storage.history(conversation.id)] == ["hola"]
    assert len(await storage.history(conversation.id, include_notes=True)) == 2


@pytest.mark.asyncio
async def test_receive_returns_the_state_and_the_message_as_stored(storage: Storage) -> None:
    conversation = await storage.create_conversation("web")
    await storage.enqueue(conversation.id, "customer_request", {"reason": "customer_request"}, False, "hola", NOW)
    seen, message, created = await storage.receive(conversation.id, "¿sigo en la cola?", {"payload": "/x"}, "k1")
    assert created and seen.state is State.QUEUED
    stored = (await storage.history(conversation.id))[-1]
    assert stored == message  # what the bridge delivers is exactly what a reload shows
    assert stored.created_at.utcoffset() == dt.timedelta(0)  # frames say +00:00 on every backend
    again_seen, again, created_again = await storage.receive(conversation.id, "¿sigo en la cola?", None, "k1")
    assert not created_again and again.id == message.id and again_seen.state is State.QUEUED


@pytest.mark.asyncio
async def test_only_the_first_agent_reply_of_a_handoff_is_recorded(storage: Storage) -> None:
    ana, _ = await add_agent(storage, "Ana")
    conversation = await storage.create_conversation("web")
    await storage.enqueue(conversation.id, "customer_request", {"reason": "customer_request"}, False, "hola", NOW)
    claimed = (await storage.claim(conversation.id, ana.id, NOW + dt.timedelta(minutes=1))).conversation
    first_at = NOW + dt.timedelta(minutes=2)
    message, created, queued_at = await storage.add_agent_reply(
        conversation.id, ana.id, "Hola, soy Ana", "a1", claimed.episode_id, first_at)
    assert created and queued_at == NOW  # the metric measures from queueing
    _, created_again, again = await storage.add_agent_reply(
        conversation.id, ana.id, "Hola, soy Ana", "a1", claimed.episode_id, first_at)
    assert not created_again and again is None  # a resend is not a new first reply
    _, _, later = await storage.add_agent_reply(
        conversation.id, ana.id, "¿Me dices el pedido?", "a2", claimed.episode_id, first_at + dt.timedelta(minutes=1))
    assert later is None
    assert [m.text for m in await storage.history(conversation.id)][-2:] == ["Hola, soy Ana", "¿Me dices el pedido?"]

    def first_reply_at(conn: Connection) -> dt.datetime:
        return conn.execute(select(episodes_table.c.first_reply_at)
                            .where(episodes_table.c.id == claimed.episode_id)).scalar()

    stored = await storage.run(first_reply_at)
    assert (stored if stored.tzinfo else stored.replace(tzinfo=dt.timezone.utc)) == first_at


@pytest.mark.asyncio
async def test_inline_and_threaded_work_interleave_without_loss(storage: Storage) -> None:
    """Per-message statements (inline on SQLite) and the others (worker
    thread) at once: every message is stored once, in order."""
    conversations = [await storage.create_conversation("web") for _ in range(5)]

    async def chat(conversation_id: str) -> None:
        for n in range(20):
            await storage.receive(conversation_id, f"m{n}", None, f"c{n}")
            await storage.set_contact(conversation_id, f"c{n}@example.com")

    await asyncio.gather(*(chat(c.id) for c in conversations),
                         *(storage.history(c.id) for c in conversations for _ in range(5)))
    for c in conversations:
        assert [m.text for m in await storage.history(c.id)] == [f"m{n}" for n in range(20)]
        assert (await storage.get_conversation(c.id)).contact_email == "c19@example.com"


@pytest.mark.asyncio
async def test_requeue_goes_to_the_front(storage: Storage) -> None:
    ana, _ = await add_agent(storage, "Ana")
    ids = []
    for minute in range(3):
        conversation = await storage.create_conversation("web")
        await storage.enqueue(conversation.id, "fallback", {}, False, None, NOW + dt.timedelta(minutes=minute))
        ids.append(conversation.id)
    await storage.claim(ids[2], ana.id, NOW)
    await storage.requeue(ids[2], ana.id, Event.AGENT_LOST, NOW + dt.timedelta(minutes=5))
    assert [c.id for c in await storage.queue()] == [ids[2], ids[0], ids[1]]


@pytest.mark.asyncio
async def test_tokens_are_stored_hashed(storage: Storage) -> None:
    agent, token = await add_agent(storage, "Ana")
    assert (await authenticate(storage, token)) == agent
    assert await authenticate(storage, token + "x") is None
    assert await authenticate(storage, "a_000000.nada") is None
    with storage.engine.connect() as conn:
        row = conn.execute(agents_table.select()).one()
    assert token.split(".", 1)[1].encode() not in bytes(row.token_hash)


@pytest.mark.asyncio
async def test_the_event_loop_never_waits_for_the_sqlite_worker(tmp_path) -> None:
    """A per-message statement issued while the worker thread is inside a
    transaction goes to the worker's queue instead of blocking the loop."""
    storage = Storage(f"sqlite:///{tmp_path / 'bridge.db'}")
    await storage.create_schema()
    conversation = await storage.create_conversation("web")
    entered, release = threading.Event(), threading.Event()

    def hold(conn: object) -> None:
        entered.set()
        release.wait(10)

    holder = asyncio.ensure_future(storage.run(hold))
    assert await asyncio.to_thread(entered.wait, 10)
    safety = threading.Timer(5, release.set)  # a blocked loop would hang the test without it
    safety.start()
    try:
        reader = asyncio.ensure_future(storage.get_conversation(conversation.id))

        async def loop_ran_before_release() -> bool:
            return not release.is_set()

        assert await asyncio.ensure_future(loop_ran_before_release())
        release.set()
        assert (await reader).id == conversation.id
        await holder
    finally:
        safety.cancel()
        release.set()
        storage.dispose()
