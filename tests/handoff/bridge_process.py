"""A bridge as a subprocess (``python -m handoff``) and the clients the
multi-process tests use: killed, restarted, or run two at a time."""
from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import AsyncIterator, Awaitable, Callable, List, Optional

import aiohttp
import pytest_asyncio

from bot.processes import free_port
from bot.settings import ROOT
from handoff.bridge import CRASH_EXIT_CODE
from tests.handoff.conftest import BRIDGE_SECRET, Client, FakeRasa

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

    async def kill(self) -> None:
        """SIGKILL: no cleanup, as a machine that dies."""
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await asyncio.wait_for(self.process.wait(), 20)

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            await asyncio.wait_for(self.process.wait(), 20)


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


async def wait_until(predicate, what: str, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)  # polling the database for an observable state


StartBridge = Callable[..., Awaitable[BridgeProcess]]


@pytest_asyncio.fixture
async def cluster(fresh_postgres_url: str, redis_prefix: str, fake_rasa: FakeRasa,
                  tmp_path: Path) -> AsyncIterator[StartBridge]:
    """Start bridges of one cluster, each on its own port."""
    started: List[BridgeProcess] = []

    async def start(name: str, crash_at: str = "", **env: str) -> BridgeProcess:
        process = BridgeProcess(fresh_postgres_url, fake_rasa.url, free_port(), tmp_path / f"bridge-{name}.log")
        await process.start(crash_at, HANDOFF_CLUSTER="redis", HANDOFF_CLUSTER_PREFIX=redis_prefix, HANDOFF_BRIDGE_ID=name,
                            HANDOFF_LEADER_TTL_S="2", HANDOFF_PRESENCE_TTL_S="3", **env)
        started.append(process)
        return process

    yield start
    for process in started:
        await process.kill()




class LoadBalancer:
    """Debian's HAProxy in front of bridges, configured as ``make run-scaled``
    configures it (bot/scaled.py ``haproxy_config``)."""

    def __init__(self, bridges: List[int], log: Path) -> None:
        self.port = free_port()
        self.bridges = bridges
        self.log = log
        self.process: Optional[asyncio.subprocess.Process] = None

    async def start(self) -> "LoadBalancer":
        from bot.scaled import find_haproxy, haproxy_config

        config = self.log.with_suffix(".cfg")
        config.write_text(haproxy_config("127.0.0.1", self.port, self.bridges), encoding="utf-8")
        with self.log.open("ab") as out:
            self.process = await asyncio.create_subprocess_exec(
                find_haproxy(), "-db", "-f", str(config), stdout=out, stderr=asyncio.subprocess.STDOUT)

        async def healthy() -> bool:
            try:
                async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
                    async with session.get(f"http://127.0.0.1:{self.port}/health/live") as response:
                        return response.status == 200
            except aiohttp.ClientError:
                return False

        await wait_until(healthy, "HAProxy answering", timeout=30)
        return self

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await asyncio.wait_for(self.process.wait(), 20)
