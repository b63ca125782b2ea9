"""No acknowledged message goes unanswered: the bridge process is killed at
each step of a turn and of a handoff (HANDOFF_CRASH_AT makes it exit at once,
as kill -9 would), a new process starts on the same database and port, and
the customer (reconnecting as the widget does, resending what was not
acknowledged) gets every answer exactly once, from a Rasa that processed each
message once; then the conversation goes on normally. On SQLite and
PostgreSQL; the stand-in Rasa replays a message id it has seen, as the real
bridge channel does (tests/e2e checks the real one)."""
from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import List, Optional

import aiohttp
import pytest

from bot.processes import free_port
from bot.settings import ROOT
from handoff.bridge import CRASH_EXIT_CODE
from handoff.storage import Storage
from tests.handoff.conftest import BRIDGE_SECRET, Client, FakeRasa, new_agent_in

START_TIMEOUT_S = 60.0


class BridgeProcess:
    """``python -m handoff`` on a fixed port, as a subprocess."""

    def __init__(self, database_url: str, rasa_url: str, port: int, log: Path) -> None:
        self.database_url = database_url
        self.rasa_url = rasa_url
        self.port = port
        self.log = log
        self.process: Optional[asyncio.subprocess.Process] = None

    async def start(self, crash_at: str = "", **extra_env: str) -> "BridgeProcess":
        env = dict(os.environ, HANDOFF_HOST="127.0.0.1", HANDOFF_PORT=str(self.port),
                   DATABASE_URL=self.database_url, RASA_URL=self.rasa_url, RASA_BRIDGE_SECRET=BRIDGE_SECRET,
                   HANDOFF_RASA_TIMEOUT_S="5", HANDOFF_CRASH_AT=crash_at, LOG_LEVEL="INFO",
                   PYTHONPATH=str(ROOT), **extra_env)
        env.pop("ACTIONS_PORT", None)
        env.pop("ACTIONS_URL", None)
        with self.log.open("ab") as out:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "handoff", cwd=str(ROOT), env=env, stdout=out, stderr=asyncio.subprocess.STDOUT)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + START_TIMEOUT_S
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
            while True:
                if self.process.returncode is not None:
                    raise AssertionError(f"bridge exited while starting: {self.log.read_text()[-2000:]}")
                try:
                    async with session.get(f"http://127.0.0.1:{self.port}/health") as response:
                        if response.status == 200:
                            return self
                except aiohttp.ClientError:
                    pass
                if loop.time() > deadline:
                    raise AssertionError("bridge did not answer /health")
                await asyncio.sleep(0.1)  # polling a child's start-up

    async def crashed(self) -> None:
        """Wait for the crash point to end the process."""
        assert self.process is not None
        code = await asyncio.wait_for(self.process.wait(), 20)
        assert code == CRASH_EXIT_CODE, self.log.read_text()[-2000:]

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            await asyncio.wait_for(self.process.wait(), 20)


@pytest.fixture
def bridges(any_db_url: str, fake_rasa: FakeRasa, tmp_path: Path):
    started: List[BridgeProcess] = []
    port = free_port()

    async def start(crash_at: str = "") -> BridgeProcess:
        process = await BridgeProcess(any_db_url, fake_rasa.url, port, tmp_path / "bridge.log").start(crash_at)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.process is not None and process.process.returncode is None:
            process.process.kill()


async def connect(port: int, path: str) -> Client:
    import websockets

    return Client(await websockets.connect(f"ws://127.0.0.1:{port}{path}", open_timeout=5))


async def reconnect(port: int, session_id: str) -> tuple:
    """The widget after a drop: start with the session and after_id 0; (client, history texts by sender)."""
    client = await connect(port, "/ws/chat")
    await client.send({"type": "start", "session_id": session_id, "after_id": 0})
    session = await client.wait_type("session")
    assert session["resumed"] is True
    history = await client.wait_type("history")
    return client, history["messages"]


async def bot_texts(database_url: str, conversation_id: str) -> List[str]:
    storage = Storage(database_url)
    try:
        return [m.text for m in await storage.history(conversation_id) if m.sender in ("bot", "system")]
    finally:
        storage.dispose()


async def pending(database_url: str) -> list:
    storage = Storage(database_url)
    try:
        return await storage.pending_turns()
    finally:
        storage.dispose()


async def wait_until(predicate, what: str, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)  # polling the database for an observable state


TURN_STEPS = ["turn_stored", "turn_acked", "turn_rasa_answered", "turn_replied", "turn_relayed"]


@pytest.mark.asyncio
@pytest.mark.parametrize("step", TURN_STEPS)
async def test_killed_during_a_turn_the_answer_comes_once(step: str, bridges, fake_rasa: FakeRasa, any_db_url: str) -> None:
    first = await bridges(crash_at=step)
    client = await connect(first.port, "/ws/chat")
    await client.send({"type": "start", "session_id": None})
    session = await client.wait_type("session")
    await client.send({"type": "message", "text": "¿cuánto tarda el envío?", "client_id": "m1"})
    await first.crashed()
    acked = any(f.get("type") == "ack" for f in client.seen) or await _acked_before_close(client)

    second = await bridges()
    again, history = await reconnect(second.port, session["session_id"])
    if not acked:  # the widget resends what was not acknowledged
        await again.send({"type": "message", "text": "¿cuánto tarda el envío?", "client_id": "m1"})
        await again.wait_type("ack", client_id="m1")
    answer = "Eco: ¿cuánto tarda el envío?"
    # the restarted bridge's recovery may deliver the answer live before the resend's
    # ack (waiting for the ack skipped it, and it stays in ``seen``): count it too
    if answer not in [m.get("text") for m in [*history, *again.seen]]:
        await again.wait_for(lambda f: f.get("type") == "message" and f.get("text") == answer)
    await wait_until(lambda: _no_pending(any_db_url), "the turn to be finished")
    assert (await bot_texts(any_db_url, session["conversation_id"])).count(answer) == 1
    assert fake_rasa.processed.count("¿cuánto tarda el envío?") == 1  # Rasa ran the turn once

    await again.send({"type": "message", "text": "gracias", "client_id": "m2"})
    assert (await again.wait_type("message", sender="bot"))["text"] == "Eco: gracias"
    shown = {f["id"] for f in [*again.seen, *history] if f.get("text") == answer}
    assert len(shown) == 1  # one message (a frame may repeat one the history had: clients keep one per id)
    await second.stop()


async def _acked_before_close(client: Client) -> bool:
    """Drain what the dying bridge sent: was m1 acknowledged?"""
    try:
        while True:
            frame = await client.next(timeout=2)
            if frame.get("type") == "ack":
                return True
    except Exception:  # noqa: BLE001 - the socket closes when the process dies
        return False


async def _no_pending(database_url: str) -> bool:
    return not await pending(database_url)


async def _queued_and_claimed(port: int, token: str) -> tuple:
    customer = await connect(port, "/ws/chat")
    await customer.send({"type": "start", "session_id": None})
    session = await customer.wait_type("session")
    await customer.send({"type": "message", "text": "agente", "client_id": "h1"})
    await customer.wait_type("handoff", state="queued")
    agent = await connect(port, "/ws/agent")
    await agent.send({"type": "auth", "token": token})
    await agent.wait_type("authenticated")
    await agent.send({"type": "claim", "conversation_id": session["conversation_id"]})
    await agent.wait_type("conversation")
    await customer.wait_type("handoff", state="assigned")
    return customer, session, agent


@pytest.mark.asyncio
async def test_killed_after_queueing_the_handoff_stands_once(bridges, fake_rasa: FakeRasa, any_db_url: str) -> None:
    first = await bridges(crash_at="handoff_queued")
    client = await connect(first.port, "/ws/chat")
    await client.send({"type": "start", "session_id": None})
    session = await client.wait_type("session")
    await client.send({"type": "message", "text": "agente", "client_id": "h1"})
    await first.crashed()

    second = await bridges()
    await wait_until(lambda: _no_pending(any_db_url), "the turn to be finished")
    again, history = await reconnect(second.port, session["session_id"])
    assert (await again.wait_type("handoff"))["state"] == "queued"
    texts = await bot_texts(any_db_url, session["conversation_id"])
    assert texts.count("Te paso con una persona del equipo.") == 1 and "ESTO NO DEBE LLEGAR" not in texts
    assert fake_rasa.processed.count("agente") == 1
    _, token = await new_agent_in(any_db_url, "Ana")
    agent = await connect(second.port, "/ws/agent")
    await agent.send({"type": "auth", "token": token})
    queue = await agent.wait_type("queue")
    assert [c["conversation_id"] for c in queue["conversations"]] == [session["conversation_id"]]
    await second.stop()


@pytest.mark.asyncio
@pytest.mark.parametrize("step", ["claim_stored", "agent_reply_stored"])
async def test_killed_while_an_agent_works_nothing_is_lost(step: str, bridges, any_db_url: str) -> None:
    _, token = await new_agent_in(any_db_url, "Ana")
    first = await bridges(crash_at=step)
    customer = await connect(first.port, "/ws/chat")
    await customer.send({"type": "start", "session_id": None})
    session = await customer.wait_type("session")
    cid = session["conversation_id"]
    await customer.send({"type": "message", "text": "agente", "client_id": "h1"})
    await customer.wait_type("handoff", state="queued")
    agent = await connect(first.port, "/ws/agent")
    await agent.send({"type": "auth", "token": token})
    await agent.wait_type("authenticated")
    await agent.send({"type": "claim", "conversation_id": cid})
    if step == "agent_reply_stored":
        await agent.wait_type("conversation")
        await agent.send({"type": "message", "conversation_id": cid, "text": "Hola, soy Ana", "client_id": "r1"})
    await first.crashed()

    second = await bridges()
    agent_again = await connect(second.port, "/ws/agent")
    await agent_again.send({"type": "auth", "token": token})
    card = await agent_again.wait_type("conversation", conversation_id=cid)  # still hers
    if step == "agent_reply_stored":  # the console resends what was not acknowledged
        await agent_again.send({"type": "message", "conversation_id": cid, "text": "Hola, soy Ana", "client_id": "r1"})
        await agent_again.wait_type("ack", client_id="r1")
    else:
        assert "agente" in [h["text"] for h in card["history"]]
        await agent_again.send({"type": "message", "conversation_id": cid, "text": "Hola, soy Ana", "client_id": "r1"})
    again, history = await reconnect(second.port, session["session_id"])
    assigned = await again.wait_type("handoff")
    assert {k: assigned[k] for k in ("type", "state", "agent_name")} == {
        "type": "handoff", "state": "assigned", "agent_name": "Ana"}
    if "Hola, soy Ana" not in [m["text"] for m in history]:
        await again.wait_type("message", sender="agent")
    storage = Storage(any_db_url)
    try:
        replies = [m.text for m in await storage.history(cid) if m.sender == "agent"]
    finally:
        storage.dispose()
    assert replies == ["Hola, soy Ana"]
    await second.stop()


@pytest.mark.asyncio
@pytest.mark.parametrize("step", ["close_stored", "close_resumed"])
async def test_killed_while_closing_the_bot_comes_back_once(step: str, bridges, fake_rasa: FakeRasa,
                                                            any_db_url: str) -> None:
    _, token = await new_agent_in(any_db_url, "Ana")
    first = await bridges(crash_at=step)
    customer, session, agent = await _queued_and_claimed(first.port, token)
    cid = session["conversation_id"]
    await agent.send({"type": "close", "conversation_id": cid, "resolution": "resolved"})
    await first.crashed()

    second = await bridges()
    await wait_until(lambda: _no_pending(any_db_url), "the resume turn to be finished")
    again, history = await reconnect(second.port, session["session_id"])
    await again.wait_type("csat_request")
    back = "Vuelves a estar conmigo, el asistente virtual."
    assert (await bot_texts(any_db_url, cid)).count(back) == 1
    assert [m["text"] for m in history].count(back) == 1
    await again.send({"type": "message", "text": "¿cuánto tarda el envío?", "client_id": "after"})
    assert (await again.wait_type("message", sender="bot"))["text"] == "Eco: ¿cuánto tarda el envío?"
    await again.send({"type": "csat", "score": 5})
    await again.wait_type("message", sender="system")
    await second.stop()
