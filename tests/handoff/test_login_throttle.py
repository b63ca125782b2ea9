"""Failed agent logins are throttled per address (handoff/agents.py,
``LoginThrottle``): refused at once, without scrypt, with ``too_many_attempts``
and 4429 (HTTP 429 on /attachments); a saturated bridge answers ``busy``.
Other addresses are not affected. Timings are measured in ``make bench``
(bench/bridge.py), never here: scrypt calls are counted instead."""
from __future__ import annotations

import asyncio
import threading
from typing import Any, Dict, List, Optional, Tuple

import aiohttp
import pytest
import websockets

from handoff import agents
from handoff.agents import LoginThrottle, address_key
from handoff.storage import Agent
from tests.handoff.conftest import agent_client, connect, new_agent

ATTACKER = "127.0.0.2"
OTHER = "127.0.0.3"
TOO_MANY = {"type": "error", "code": "too_many_attempts",
            "detail": "Demasiados intentos de acceso fallidos. Espera un minuto y vuelve a intentarlo "
                      "(too many failed logins)."}


class Scrypts:
    """Wraps ``hash_secret``: how many ran, and the most at once. With
    ``hold`` set, each call waits for ``release`` (and sets ``entered``)."""

    def __init__(self, hold: bool = False) -> None:
        self.calls = 0
        self.secrets: List[str] = []
        self.running = 0
        self.most = 0
        self.hold = hold
        self.entered = threading.Event()
        self.release = threading.Event()
        self._lock = threading.Lock()
        self._real = agents.hash_secret

    def __call__(self, secret: str, salt: bytes) -> bytes:
        with self._lock:
            self.calls += 1
            self.secrets.append(secret)
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            if self.hold:
                self.entered.set()
                self.release.wait(10)
            return self._real(secret, salt)
        finally:
            with self._lock:
                self.running -= 1


@pytest.fixture
def scrypts(monkeypatch: pytest.MonkeyPatch) -> Scrypts:
    counter = Scrypts()
    monkeypatch.setattr(agents, "hash_secret", counter)
    return counter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class NoAgents:
    """A stand-in storage without agents (every token costs the dummy scrypt)."""

    async def agent_secret(self, agent_id: str) -> None:
        return None


class OneAgent:
    """A stand-in storage with the agent ``a_ok`` whose secret is ``ok``."""

    salt = b"s" * 16
    digest = agents.hash_secret("ok", salt)

    async def agent_secret(self, agent_id: str) -> Optional[Tuple[Agent, bytes, bytes]]:
        return (Agent("a_ok", "Ana"), self.salt, self.digest) if agent_id == "a_ok" else None


async def until(condition: Any, steps: int = 1000) -> None:
    """Let the loop run (no timed sleep) until ``condition()`` holds."""
    for _ in range(steps):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never held")


def throttle(server: Any, **limits: Any) -> LoginThrottle:
    """Give the server's bridge its own throttle (before any login)."""
    server.bridge.login_throttle.close()
    server.bridge.login_throttle = LoginThrottle(**limits)
    return server.bridge.login_throttle


async def attempt(server: Any, token: str, host: str = ATTACKER) -> Tuple[Dict[str, Any], Optional[int]]:
    """One login from ``host``: (first frame, close code; None if authenticated)."""
    client = await connect(server, "/ws/agent", local_addr=(host, 0))
    await client.send({"type": "auth", "token": token})
    frame = await client.next()
    if frame["type"] == "authenticated":
        await client.close()
        return frame, None
    with pytest.raises(websockets.ConnectionClosed):
        await client.next()
    return frame, client.ws.close_code


async def http_get(port: int, path: str, token: str, host: str) -> Tuple[int, bytes, Dict[str, str]]:
    connector = aiohttp.TCPConnector(local_addr=(host, 0))
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=5)) as session:
        async with session.get(f"http://127.0.0.1:{port}{path}", headers={"Authorization": f"Bearer {token}"}) as r:
            return r.status, await r.read(), dict(r.headers)


@pytest.mark.asyncio
async def test_after_n_failures_an_address_is_refused_without_scrypt(start_bridge, scrypts: Scrypts) -> None:
    server = await start_bridge()
    limits = throttle(server, max_failures=3)
    agent_id, token = await new_agent(server, "Ana")
    calls = scrypts.calls
    for wrong in (f"{agent_id}.nope", "a_000000000000.nada", f"{agent_id}.otra"):
        frame, code = await attempt(server, wrong)
        assert (frame["code"], code) == ("unauthorized", 4401)  # a plain wrong token: as before
    assert scrypts.calls == calls + 3  # unknown ids cost a (dummy) scrypt too
    assert limits.failures(ATTACKER) == 3

    for blocked in (f"{agent_id}.nope", token):  # even the right token: it is not checked
        frame, code = await attempt(server, blocked)
        assert frame == TOO_MANY and code == 4429
    assert scrypts.calls == calls + 3

    frame, code = await attempt(server, token, host="127.0.0.1")  # another address logs in
    assert code is None and frame["agent"]["id"] == agent_id
    assert limits.failures("127.0.0.1") == 0 and limits.failures(ATTACKER) == 3
    metrics = server.bridge.metrics.exposition().decode()
    assert 'handoff_bad_frames_total{code="too_many_attempts"} 2.0' in metrics


@pytest.mark.asyncio
async def test_parallel_bogus_logins_never_run_more_scrypts_than_the_per_address_limit(
        start_bridge, scrypts: Scrypts) -> None:
    server = await start_bridge()
    limits = throttle(server, max_failures=10, per_address=2, per_address_admitted=8, workers=4)
    agent_id, token = await new_agent(server, "Ana")
    calls = scrypts.calls
    answers = await asyncio.gather(*(attempt(server, f"{agent_id}.bogus{i}") for i in range(40)))
    codes = [(frame["code"], code) for frame, code in answers]
    assert set(codes) <= {("unauthorized", 4401), ("too_many_attempts", 4429)}
    checked = codes.count(("unauthorized", 4401))
    assert 1 <= checked <= 10 and codes.count(("too_many_attempts", 4429)) == 40 - checked
    assert scrypts.calls - calls == checked == limits.failures(ATTACKER)
    assert 1 <= scrypts.most <= 2  # 4 threads, but 2 at once per address
    assert limits.admitted == 0
    frame, code = await attempt(server, token, host=OTHER)
    assert code is None and frame["type"] == "authenticated"


@pytest.mark.asyncio
async def test_a_successful_login_works_and_clears_the_failures(start_bridge, scrypts: Scrypts) -> None:
    server = await start_bridge()
    limits = throttle(server, max_failures=3)
    agent_id, token = await new_agent(server, "Ana")
    for _ in range(2):
        assert (await attempt(server, f"{agent_id}.nope"))[1] == 4401
    assert limits.failures(ATTACKER) == 2
    frame, code = await attempt(server, token)
    assert code is None and frame["agent"]["name"] == "Ana"
    assert limits.failures(ATTACKER) == 0
    for _ in range(2):  # without the reset the second of these would be the fourth failure
        assert (await attempt(server, f"{agent_id}.nope"))[1] == 4401
    client = await agent_client(server, token)  # from 127.0.0.1, the fixtures' own client
    await client.close()
    assert (await attempt(server, token))[1] is None


@pytest.mark.asyncio
async def test_the_block_lifts_when_the_window_has_passed(start_bridge, scrypts: Scrypts) -> None:
    server = await start_bridge()
    clock = Clock()
    limits = throttle(server, max_failures=2, window_s=60.0, clock=clock)
    agent_id, token = await new_agent(server, "Ana")
    assert (await attempt(server, f"{agent_id}.nope"))[1] == 4401
    clock.now += 30
    assert (await attempt(server, f"{agent_id}.nope"))[1] == 4401
    clock.now += 29
    assert (await attempt(server, token)) == (TOO_MANY, 4429)
    clock.now += 2  # the first failure has left the window: one more try
    assert limits.failures(ATTACKER) == 1
    assert (await attempt(server, f"{agent_id}.nope"))[1] == 4401
    assert (await attempt(server, token))[1] == 4429
    clock.now += 61
    assert limits.failures(ATTACKER) == 0
    frame, code = await attempt(server, token)
    assert code is None and frame["type"] == "authenticated"


@pytest.mark.asyncio
async def test_beyond_the_checks_in_progress_cap_logins_get_busy(start_bridge, monkeypatch) -> None:
    server = await start_bridge()
    throttle(server, max_admitted=1)
    agent_id, token = await new_agent(server, "Ana")
    held = Scrypts(hold=True)
    monkeypatch.setattr(agents, "hash_secret", held)
    first = asyncio.create_task(attempt(server, f"{agent_id}.nope"))
    assert await asyncio.to_thread(held.entered.wait, 10)  # the first check is running
    frame, code = await attempt(server, token, host=OTHER)
    assert frame["type"] == "error" and frame["code"] == "busy" and code == 1013
    assert "(busy" in frame["detail"] and held.calls == 1
    held.release.set()
    assert (await first)[1] == 4401
    frame, code = await attempt(server, token, host=OTHER)
    assert code is None and frame["type"] == "authenticated"


@pytest.mark.asyncio
async def test_attachment_bearer_tokens_are_throttled_too(start_bridge, scrypts: Scrypts) -> None:
    server = await start_bridge()
    limits = throttle(server, max_failures=2)
    _, token = await new_agent(server, "Ana")
    conversation = await server.bridge.storage.create_conversation("web")
    attachment = await server.bridge.storage.add_attachment(
        conversation.id, "document", "recibo.txt", "text/plain", b"recibo")
    path = f"/attachments/{attachment.id}"
    assert (await http_get(server.port, path, token, ATTACKER))[:2] == (200, b"recibo")
    calls = scrypts.calls
    for _ in range(2):
        assert (await http_get(server.port, path, "a_000000000000.nope", ATTACKER))[0] == 403
    assert limits.failures(ATTACKER) == 2  # counted at the client's address, not a shared one
    status, body, headers = await http_get(server.port, path, token, ATTACKER)
    assert status == 429 and b"Too many failed logins" in body and int(headers["Retry-After"]) >= 1
    assert scrypts.calls == calls + 2
    frame, code = await attempt(server, token)  # the same budget as the agent socket
    assert frame == TOO_MANY and code == 4429
    assert (await http_get(server.port, path, token, OTHER))[:2] == (200, b"recibo")


def test_addresses_are_counted_by_ip_and_ipv6_by_64() -> None:
    assert address_key("127.0.0.2") == "127.0.0.2"
    assert address_key("::ffff:10.0.0.7") == "10.0.0.7"
    assert address_key("2001:db8:1:2:aaaa::1") == address_key("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    assert address_key("2001:db8:1:3::1") != address_key("2001:db8:1:2::1")
    assert address_key("fe80::1%eth0") == "fe80::/64"
    assert address_key(None) == address_key("") == ""


@pytest.mark.asyncio
async def test_refused_attempts_free_their_slots() -> None:
    """Limits checked on the throttle alone, with a stand-in storage."""
    limits = LoginThrottle(max_failures=2, per_address=1, per_address_admitted=1, max_admitted=5, workers=1)
    try:
        results: List[Any] = await asyncio.gather(
            *(limits.authenticate(NoAgents(), f"a_{i}.x", "10.0.0.1") for i in range(3)), return_exceptions=True)
        assert results[0] is None  # admitted, checked, failed
        assert [getattr(r, "code", r) for r in results[1:]] == ["too_many_attempts"] * 2  # one at a time
        assert limits.admitted == 0 and limits.failures("10.0.0.1") == 1
        assert await limits.authenticate(NoAgents(), "a_9.x", "10.0.0.1") is None
        with pytest.raises(agents.LoginRefused) as refused:
            await limits.authenticate(NoAgents(), "a_9.x", "10.0.0.1")
        assert refused.value.close_code == 4429 and refused.value.http_status == 429
        assert limits.admitted == 0 and limits.failures("10.0.0.2") == 0
    finally:
        limits.close()


@pytest.mark.asyncio
async def test_trusted_then_clean_addresses_go_first_and_keep_places(monkeypatch: pytest.MonkeyPatch) -> None:
    """Places: 4 in all, 3 for addresses without failures, 2 with failures."""
    limits = LoginThrottle(max_failures=5, workers=1, max_admitted=4)
    try:
        assert await limits.authenticate(OneAgent(), "a_ok.ok", "10.0.0.5") == Agent("a_ok", "Ana")  # trusted
        assert await limits.authenticate(NoAgents(), "a_1.x", "10.0.0.2") is None  # 10.0.0.2 has a failure
        held = Scrypts(hold=True)
        monkeypatch.setattr(agents, "hash_secret", held)
        first = asyncio.create_task(limits.authenticate(NoAgents(), "a_2.first", "10.0.0.9"))
        assert await asyncio.to_thread(held.entered.wait, 10)  # the only thread is busy
        dirty = asyncio.create_task(limits.authenticate(NoAgents(), "a_3.dirty", "10.0.0.2"))
        await until(lambda: limits.admitted == 2)
        with pytest.raises(agents.LoginRefused) as refused:  # 2 admitted: no place left for failures
            await limits.authenticate(NoAgents(), "a_3.again", "10.0.0.2")
        assert refused.value.code == "busy"
        gone = asyncio.create_task(limits.authenticate(NoAgents(), "a_4.gone", "10.0.0.8"))
        await until(lambda: limits.admitted == 3)
        with pytest.raises(agents.LoginRefused) as refused:  # 3 admitted: no place left for the untrusted
            await limits.authenticate(NoAgents(), "a_5.clean", "10.0.0.1")
        assert (refused.value.code, refused.value.close_code, refused.value.http_status) == ("busy", 1013, 503)
        trusted = asyncio.create_task(limits.authenticate(OneAgent(), "a_ok.ok", "10.0.0.5"))
        await until(lambda: limits.waiting == 3)
        gone.cancel()  # a client that went away while waiting: its turn passes on
        held.release.set()
        assert await asyncio.gather(first, dirty, trusted) == [None, None, Agent("a_ok", "Ana")]
        with pytest.raises(asyncio.CancelledError):
            await gone
        assert held.secrets == ["first", "ok", "dirty"]
        assert limits.admitted == 0 and limits.waiting == 0
        assert await limits.authenticate(NoAgents(), "a_6.x", "10.0.0.7") is None  # the thread is free again
        assert held.secrets[-1] == "x"
    finally:
        limits.close()


@pytest.mark.asyncio
async def test_checks_from_addresses_without_failures_go_first(monkeypatch: pytest.MonkeyPatch) -> None:
    limits = LoginThrottle(max_failures=5, workers=1)
    try:
        assert await limits.authenticate(NoAgents(), "a_1.x", "10.0.0.2") is None  # 10.0.0.2 has a failure
        held = Scrypts(hold=True)
        monkeypatch.setattr(agents, "hash_secret", held)
        first = asyncio.create_task(limits.authenticate(NoAgents(), "a_2.first", "10.0.0.9"))
        assert await asyncio.to_thread(held.entered.wait, 10)  # the only thread is busy
        dirty = asyncio.create_task(limits.authenticate(NoAgents(), "a_3.dirty", "10.0.0.2"))
        clean = asyncio.create_task(limits.authenticate(NoAgents(), "a_5.clean", "10.0.0.1"))
        await until(lambda: limits.waiting == 2)
        held.release.set()
        assert await asyncio.gather(first, dirty, clean) == [None, None, None]
        assert held.secrets == ["first", "clean", "dirty"]
        assert limits.admitted == 0 and limits.waiting == 0
    finally:
        limits.close()


@pytest.mark.asyncio
async def test_an_office_of_agents_logging_in_at_once_from_one_address_all_get_in(start_bridge) -> None:
    """A shop's agents behind one address, all reconnecting after a restart:
    a clean address may have many checks waiting (the bench's ten agents at
    once were refused before)."""
    server = await start_bridge()
    tokens = [(await new_agent(server, f"Agente {n}"))[1] for n in range(12)]
    results = await asyncio.gather(*(attempt(server, token, "127.0.0.3") for token in tokens))
    assert [frame["type"] for frame, _ in results] == ["authenticated"] * 12
