"""Property-based tests of the frame parser (hypothesis): whatever arrives,
``parse`` returns a frame whose strings are safe to store and send, or raises
FrameError, nothing else; and through a real bridge on SQLite and on
PostgreSQL, no frame closes a customer's or an agent's socket or gets an
``internal_error``, and every string the bridge stored encodes as UTF-8 and
holds no NUL."""
from __future__ import annotations

import asyncio
import json
import threading
from typing import Any, Callable, Coroutine, Iterator, List

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from handoff.frames import AGENT_FRAMES, CUSTOMER_FRAMES, MAX_TEXT, FrameError, parse

# Strings as hostile clients write them: lone surrogates, NUL and other
# controls, non-characters, emoji, long runs.
NASTY = st.one_of(
    st.text(),
    st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x10FFFF, blacklist_categories=())),
    st.sampled_from(["\ud83d", "\udfff", "\x00", "\x1b[31m", "\ufffe", "😡" * 3, "a" * (MAX_TEXT + 1), "", " "]),
)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | NASTY,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(NASTY, inner, max_size=4),
    max_leaves=12,
)
TYPES = st.sampled_from(sorted(set(CUSTOMER_FRAMES) | set(AGENT_FRAMES)) + ["volar", ""])
FIELDS = st.sampled_from(["text", "client_id", "payload", "session_id", "after_id", "score", "comment",
                          "email", "conversation_id", "to", "resolution", "token", "locale", "reply_to"])
FRAMES = st.one_of(
    st.builds(lambda kind, extra: {"type": kind, **extra}, TYPES, st.dictionaries(FIELDS, JSON_VALUES, max_size=5)),
    JSON_VALUES,
)


def encode(frame: Any) -> str:
    """As a client sends it: JSON text (lone surrogates as \\u escapes)."""
    return json.dumps(frame, allow_nan=True)


def _safe(value: Any) -> bool:
    """A string field holds no NUL and encodes as UTF-8 (no lone surrogate)."""
    if isinstance(value, str):
        value.encode("utf-8")
        return "\x00" not in value
    return True


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(FRAMES.map(encode), st.text(max_size=300), st.binary(max_size=50)))
def test_parse_returns_a_safe_frame_or_a_frame_error(raw: Any) -> None:
    for schema in (CUSTOMER_FRAMES, AGENT_FRAMES):
        try:
            frame = parse(raw, schema, 65536)
        except FrameError as error:
            assert error.code and error.detail
            json.dumps(error.frame(), ensure_ascii=False).encode("utf-8")  # sendable
            continue
        assert frame["type"] in schema
        assert all(_safe(v) for v in frame.values())
        json.dumps(frame, ensure_ascii=False).encode("utf-8")


class LoopThread:
    """An event loop in a thread, for driving async clients from hypothesis' sync tests."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coroutine: Coroutine[Any, Any, Any], timeout: float = 30.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture
def live_bridge(any_db_url: str, policy) -> Iterator[tuple]:
    """(runner, server, customer client, agent client) on a real bridge over
    ``any_db_url`` with the stand-in Rasa, all in one background loop."""
    from handoff.agents import add_agent
    from handoff.bridge import Bridge
    from handoff.server import BridgeServer
    from handoff.settings import HandoffSettings
    from tests.handoff.conftest import BRIDGE_SECRET, FakeRasa, connect

    runner = LoopThread()
    cleanup: List[Callable[[], Coroutine[Any, Any, Any]]] = []

    async def start() -> tuple:
        rasa = await FakeRasa().serve()
        cleanup.append(rasa.stop)
        config = HandoffSettings(host="127.0.0.1", port=0, rasa_url=rasa.url, rasa_bridge_secret=BRIDGE_SECRET,
                                 rasa_timeout_s=2.0, database_url=any_db_url, rate_limit=100000)
        server = BridgeServer(config, Bridge(config, policy=policy))
        await server.start()
        cleanup.insert(0, server.stop)
        chat = await connect(server, "/ws/chat")
        await chat.send({"type": "start", "session_id": None})
        await chat.wait_type("session")
        _, token = await add_agent(server.bridge.storage, "Fuzz")
        agent = await connect(server, "/ws/agent")
        await agent.send({"type": "auth", "token": token})
        await agent.wait_type("authenticated")
        return server, chat, agent

    server, chat, agent = runner.run(start(), timeout=60)
    try:
        yield runner, server, chat, agent
    finally:
        async def stop() -> None:
            for step in cleanup:
                await step()
        runner.run(stop(), timeout=60)
        runner.close()


async def _answered(client: Any, raw: str) -> List[dict]:
    """Send ``raw``, then a probe that always gets ``unknown_type``: what came
    back in between (the socket must still be open to answer the probe)."""
    start = len(client.seen)
    await client.send(raw)
    await client.send({"type": "barrier_probe"})
    await client.wait_for(_is_probe_answer, timeout=10)
    return client.seen[start:]


def _is_probe_answer(frame: dict) -> bool:
    return frame.get("type") == "error" and frame.get("code") == "unknown_type" and "barrier_probe" in frame.get("detail", "")


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.lists(FRAMES.map(encode), min_size=1, max_size=4))
def test_no_frame_closes_a_socket_or_breaks_the_bridge(live_bridge: tuple, raws: List[str]) -> None:
    runner, server, chat, agent = live_bridge
    for raw in raws:
        for client in (chat, agent):
            frames = runner.run(_answered(client, raw))
            assert not [f for f in frames if f.get("code") == "internal_error"], frames
            assert client.ws.open
    conversation_id = next(iter(server.bridge.customers))
    stored = runner.run(server.bridge.storage.history(conversation_id, include_notes=True))
    for message in stored:
        assert "\x00" not in message.text
        message.text.encode("utf-8")

