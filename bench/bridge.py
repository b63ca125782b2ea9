"""``python -m bench.bridge`` (part of ``make bench``): the bridge's measured
figures, written to docs/benchmarks.md between the ``bridge-bench`` markers.

1. Overhead over Rasa: the REAL stack (action server, Rasa with
   models/assistant.tar.gz, bridge) on free loopback ports with a freshly
   seeded SQLite store. The same FAQ conversations go, one message at a time
   and interleaved (the order alternates every message so drift hits both
   equally), through (a) Rasa's bridge channel directly (aiohttp) and (b) the
   bridge's ``/ws/chat``. End of a bridge reply: right after each message
   the client sends a frame the bridge refuses (``unknown_type``); the bridge
   handles a connection's frames one after the other, so that ``error`` comes
   after the turn's last bot message. The time taken is send → arrival of
   the last bot ``message`` frame before that error (the probe's answer time
   when the bot said nothing). The number of bot frames is checked against
   the number of messages Rasa returned for the same step.
2. Relay: the bridge as a subprocess (``python -m handoff``) on a temporary
   SQLite file, talking to a stand-in Rasa (aiohttp, in this process) that
   answers every message with the handoff payload. N customer sockets each
   send one message (→ queued); agents made with the CLI claim all of them (in batches of 50);
   then the agents echo every customer message at once. Latency customer
   send → agent receives and agent send → customer receives, in two kinds
   of load: *paced* (Poisson arrivals at a given total rate of customer
   messages, to sessions not already waiting; the latency target is judged
   at the nominal rate, one message per session every 20 s) and *saturated*
   (every customer sends k messages, each right after the previous reply:
   the throughput, messages/s in both directions).
3. Memory: the bridge's VmRSS before any session, with N idle sessions
   (connected and started, bot mode, no message), assigned, and after relay.
4. Login flood: a bridge subprocess with one agent (made with the CLI); the
   agent's login time (connect → ``authenticated``) from 127.0.0.1, a few
   times, without a flood and while 300 bogus logins run in parallel from a
   separate process (each restarted as soon as it is answered): from one
   address (127.0.0.2), then spread over 30 (127.0.1.x); how the bogus ones
   were answered and how many were checked (scrypt), from /metrics.

Limits: figures come from this machine only (CPU, cores and load average are
written beside them); clients run in this same Python process on the same
cores as the bridge, so latencies include the clients' own scheduling. The
relay bridge runs with the per-connection rate limit raised (an agent console
here relays for ~100 conversations; the default is 20 frames / 10 s). The
login flood's client is a process on the same cores as the bridge.
"""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import gc
import json
import math
import os
import random
import re
import resource
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Dict, List, Optional, Sequence, Tuple

import aiohttp
from aiohttp import web
from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.legacy.client import WebSocketClientProtocol
from websockets.legacy.client import connect as websockets_connect

from bench.assistant import machine, rss_mb
from bench.assistant import write_docs as write_block
from bot.processes import free_port
from bot.settings import ROOT
from handoff.agents import MAX_ADMITTED, MAX_FAILURES, PER_ADDRESS, SCRYPT_WORKERS, WINDOW_S

DOCS = ROOT / "docs" / "benchmarks.md"
MARK_BEGIN = "<!-- bridge-bench:begin -->"
REPORTS_BEGIN = "<!-- reports-bench:begin -->"
REPORTS_END = "<!-- reports-bench:end -->"
MARK_END = "<!-- bridge-bench:end -->"
BRIDGES_BEGIN = "<!-- bridges-bench:begin -->"  # a run with --bridges 2 or more
BRIDGES_END = "<!-- bridges-bench:end -->"

TARGET_OVERHEAD_MS = 3.0
TARGET_RELAY_P99_MS = 20.0
TARGET_IDLE_MB = 150.0
TARGET_LOGIN_S = 1.0

FLOOD_LOGINS = 300        # bogus logins in parallel
FLOOD_HOST = "127.0.0.2"  # where they come from (loopback: all of 127/8 is local)
FLOOD_SPREAD = 30         # addresses of the spread flood, 127.0.1.1 ...
FLOOD_GAP_S = 0.3         # between the real agent's logins during a flood
LOGIN_TRIES = 5

FRAME_TIMEOUT_S = 30.0
ASK_CONCURRENCY = 50   # customers asking for a person at once while the queue fills
TARGET_QUEUE_CLAIM_S = 2.0
FAQ_SCRIPT = ["hola", "¿el envío es gratis?", "¿aceptan bizum?", "gracias"]
HANDOFF_REPLY: Dict[str, Any] = {"handoff": {
    "reason": "customer_request", "reason_text": "El cliente pide hablar con una persona",
    "last_intent": "request_human", "intents": [], "entities": {}, "customer": None, "details": {}}}


# -- small helpers -------------------------------------------------------------

def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


class Ports:
    """Where the bench's servers listen: a free port of ``--ports FIRST-LAST``
    (so runs beside other work stay in their own range), else one the OS picks."""

    def __init__(self) -> None:
        self.span: Optional[range] = None
        self._next = 0

    def take(self) -> int:
        if self.span is None:
            return free_port()
        for _ in range(len(self.span)):
            port = self.span[self._next % len(self.span)]
            self._next += 1
            with socket.socket() as sock:
                try:
                    sock.bind(("127.0.0.1", port))
                except OSError:
                    continue
            return port
        raise RuntimeError(f"no free port in {self.span.start}-{self.span.stop - 1}")


PORTS = Ports()


def summary_ms(values: Sequence[float]) -> Dict[str, float]:
    return {"n": len(values), "p50_ms": 1000 * percentile(values, 50), "p99_ms": 1000 * percentile(values, 99)}




def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (its own threads), from /proc/PID/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def sqlite_commit_ms(directory: Path, commits: int = 40) -> Dict[str, float]:
    """p50/p99 of one-row SQLite commits (WAL journal, synchronous=NORMAL, as
    the bridge uses it) on ``directory``'s disk: the floor under every stored message."""
    import sqlite3

    path = directory / "commit-probe.db"
    times: List[float] = []
    connection = sqlite3.connect(str(path))
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.execute("CREATE TABLE t (x INTEGER)")
        connection.commit()
        for i in range(commits):
            started = time.perf_counter()
            connection.execute("INSERT INTO t VALUES (?)", (i,))
            connection.commit()
            times.append(time.perf_counter() - started)
    finally:
        connection.close()
        path.unlink(missing_ok=True)
    return summary_ms(times)


def raise_nofile(needed: int) -> int:
    """Raise this process's soft RLIMIT_NOFILE (children inherit it); the limit now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    if soft != resource.RLIM_INFINITY and soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        soft = want
    return soft


def write_docs(section: str, path: Path = DOCS, bridges: int = 1) -> None:
    """This benchmark's block in docs/benchmarks.md (a run of several bridges
    has its own, so ``make bench`` keeps both); other sections stay."""
    if bridges > 1:
        write_block(section, BRIDGES_BEGIN, BRIDGES_END, path)
    else:
        write_block(section, MARK_BEGIN, MARK_END, path)


async def wait_http_ok(url: str, timeout_s: float, process: Optional[subprocess.Popen] = None) -> None:
    deadline = time.monotonic() + timeout_s
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
        while True:
            if process is not None and process.poll() is not None:
                raise RuntimeError(f"process exited with code {process.returncode} while starting")
            try:
                async with session.get(url) as response:
                    if response.status == 200:
                        return
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not answer 200 within {timeout_s:.0f} s")
            await asyncio.sleep(0.2)  # polling a child's start-up


# -- stand-in Rasa and bridge subprocess ---------------------------------------

class StandInRasa:
    """aiohttp.web on a free port: GET / answers 200; the bridge channel answers
    every message with the handoff custom payload."""

    def __init__(self) -> None:
        self.url = ""
        self.calls = 0
        self._runner: Optional[web.AppRunner] = None

    async def _root(self, request: web.Request) -> web.Response:
        return web.Response(text="Hello from Rasa: stand-in")

    async def _webhook(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.calls += 1
        return web.json_response({"messages": [{"recipient_id": body.get("sender"), "custom": HANDOFF_REPLY}]})

    async def start(self) -> str:
        app = web.Application()
        app.router.add_get("/", self._root)
        app.router.add_post("/webhooks/bridge/webhook", self._webhook)
        self._runner = web.AppRunner(app, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", PORTS.take())
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


def child_env(extra: Dict[str, str]) -> Dict[str, str]:
    env = dict(os.environ)
    env.update(PYTHONPATH=str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else ""),
               TF_CPP_MIN_LOG_LEVEL="2", PYTHONWARNINGS="ignore")
    env.update(extra)
    return env


def add_agents(database_url: str, count: int, timeout_s: float = 60.0) -> List[str]:
    """Agents made with the CLI (``python -m handoff agent add``); their tokens
    (the last stdout line). The first runs alone (it creates the tables)."""
    env = child_env({"DATABASE_URL": database_url, "LOG_LEVEL": "WARNING"})

    def spawn(i: int) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "handoff", "agent", "add", f"Agente {i + 1}"],
                                cwd=str(ROOT), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def token(process: subprocess.Popen) -> str:
        try:
            out, err = process.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            raise RuntimeError("`python -m handoff agent add` timed out") from None
        if process.returncode != 0 or not out.strip():
            raise RuntimeError(f"`python -m handoff agent add` failed: {err[-500:]}")
        return out.strip().splitlines()[-1].strip()

    tokens = [token(spawn(0))]
    for start in range(1, count, 8):  # a few at a time
        batch = [spawn(i) for i in range(start, min(count, start + 8))]
        tokens += [token(p) for p in batch]
    return tokens


class BridgeProcess:
    """``python -m handoff`` in its own process group; ``stop`` sends SIGTERM
    then SIGKILL."""

    def __init__(self, database_url: str, rasa_url: str, log_path: Path, extra_env: Optional[Dict[str, str]] = None) -> None:
        self.port = PORTS.take()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {"HANDOFF_HOST": "127.0.0.1", "HANDOFF_PORT": str(self.port), "DATABASE_URL": database_url,
               "RASA_URL": rasa_url, "RASA_BRIDGE_SECRET": "bench-stand-in", "LOG_LEVEL": "WARNING"}
        env.update(extra_env or {})
        self.env = child_env(env)
        self.log_path = log_path
        self.process: Optional[subprocess.Popen] = None

    def print_log_tail(self, lines: int = 20) -> None:
        """The end of the bridge's log on stderr (when a part of the bench failed)."""
        if self.log_path.exists():
            tail = self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
            print("bridge log (last lines):", *tail, sep="\n", file=sys.stderr)

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    async def start(self, timeout_s: float = 60.0) -> None:
        log = open(self.log_path, "ab")  # noqa: SIM115 (closed in stop)
        self._log: Optional[IO[bytes]] = log
        self.process = subprocess.Popen([sys.executable, "-m", "handoff"], cwd=str(ROOT), env=self.env,
                                        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        await wait_http_ok(f"{self.url}/health", timeout_s, self.process)

    def stop(self, grace_s: float = 10.0) -> None:
        process = self.process
        if process is not None and process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=grace_s)
            except ProcessLookupError:
                pass
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                process.wait(timeout=5)
        log = getattr(self, "_log", None)
        if log is not None:
            log.close()
            self._log = None


# -- WebSocket clients -----------------------------------------------------------

async def ws_connect(url: str) -> WebSocketClientProtocol:
    # No client pings: the server pings every 20 s; 1,000 clients pinging too
    # would only add noise.
    return await websockets_connect(url, open_timeout=FRAME_TIMEOUT_S, close_timeout=2,
                                    ping_interval=None, max_size=2**24, max_queue=None)


@dataclass
class Relay:
    """What the relay phase records; keys are message texts (unique)."""

    sent_by_customer: Dict[str, float] = field(default_factory=dict)
    sent_by_agent: Dict[str, float] = field(default_factory=dict)
    to_agent: List[float] = field(default_factory=list)
    to_customer: List[float] = field(default_factory=list)
    trace: List[Tuple[str, float, float]] = field(default_factory=list)  # (direction, sent at, seconds), all loads
    errors: Dict[str, int] = field(default_factory=dict)

    def error(self, code: str) -> None:
        self.errors[code] = self.errors.get(code, 0) + 1


class Customer:
    """One /ws/chat socket with a reader task that records what it is waiting for."""

    def __init__(self, ws: WebSocketClientProtocol, relay: Relay) -> None:
        self.ws = ws
        self.relay = relay
        self.conversation_id = ""
        self.session = asyncio.get_running_loop().create_future()
        self.queued = asyncio.Event()
        self.assigned = asyncio.Event()
        self.waiting: Dict[str, asyncio.Future] = {}
        self.reader = asyncio.create_task(self._read())

    @classmethod
    async def open(cls, url: str, relay: Relay) -> "Customer":
        ws = await ws_connect(f"{url}/ws/chat")
        customer = cls(ws, relay)
        await ws.send(json.dumps({"type": "start", "session_id": None, "locale": "es"}))
        await asyncio.wait_for(asyncio.shield(customer.session), FRAME_TIMEOUT_S)
        return customer

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                now = time.perf_counter()
                frame = json.loads(raw)
                kind = frame.get("type")
                if kind == "message" and frame.get("sender") == "agent":
                    text = frame.get("text", "")
                    sent = self.relay.sent_by_agent.pop(text, None)
                    if sent is not None:
                        self.relay.to_customer.append(now - sent)
                        self.relay.trace.append(("to_customer", sent, now - sent))
                    future = self.waiting.pop(text, None)
                    if future is not None and not future.done():
                        future.set_result(now)
                elif kind == "handoff":
                    if frame.get("state") == "queued":
                        self.queued.set()
                    elif frame.get("state") == "assigned":
                        self.assigned.set()
                elif kind == "session" and not self.session.done():
                    self.conversation_id = frame["conversation_id"]
                    self.session.set_result(frame)
                elif kind == "error":
                    self.relay.error(f"customer:{frame.get('code')}")
        except ConnectionClosed:
            pass
        if not self.session.done():
            self.session.set_exception(RuntimeError(
                f"the bridge closed a customer socket before `session` (code {self.ws.close_code})"))

    async def send_text(self, text: str) -> None:
        await self.ws.send(json.dumps({"type": "message", "text": text}))

    async def close(self) -> None:
        await self.ws.close()
        self.reader.cancel()
        await asyncio.gather(self.reader, return_exceptions=True)


class Agent:
    """One /ws/agent socket; during the relay phase it echoes every customer
    message at once (``echo`` True)."""

    def __init__(self, ws: WebSocketClientProtocol, relay: Relay) -> None:
        self.ws = ws
        self.relay = relay
        self.queue: Optional[List[Dict[str, Any]]] = None
        self.queue_seen = asyncio.Event()
        self.queue_changes = 0
        self.claims: Dict[str, asyncio.Future] = {}
        self.echo = False
        self.authenticated = asyncio.get_running_loop().create_future()
        self.reader = asyncio.create_task(self._read())

    @classmethod
    async def open(cls, url: str, token: str, relay: Relay) -> "Agent":
        ws = await ws_connect(f"{url}/ws/agent")
        agent = cls(ws, relay)
        # as the console does: the queue once, then only what changed
        await ws.send(json.dumps({"type": "auth", "token": token, "queue_updates": "changes"}))
        await asyncio.wait_for(asyncio.shield(agent.authenticated), FRAME_TIMEOUT_S)
        return agent

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                now = time.perf_counter()
                frame = json.loads(raw)
                kind = frame.get("type")
                if kind == "message" and frame.get("sender") == "customer":
                    text = frame.get("text", "")
                    sent = self.relay.sent_by_customer.pop(text, None)
                    if sent is not None:
                        self.relay.to_agent.append(now - sent)
                        self.relay.trace.append(("to_agent", sent, now - sent))
                    if self.echo:
                        reply = "Respuesta " + text
                        self.relay.sent_by_agent[reply] = time.perf_counter()
                        await self.ws.send(json.dumps({"type": "message", "conversation_id": frame["conversation_id"],
                                                       "text": reply}))
                elif kind == "queue":
                    self.queue = frame.get("conversations") or []
                    self.queue_seen.set()
                elif kind == "queue_changed":
                    self.queue_changes += 1
                elif kind in ("conversation", "error") and frame.get("conversation_id") in self.claims:
                    future = self.claims.pop(frame["conversation_id"])
                    if not future.done():
                        future.set_result(frame)
                    if kind == "error":
                        self.relay.error(f"agent:{frame.get('code')}")
                elif kind == "authenticated" and not self.authenticated.done():
                    self.authenticated.set_result(frame)
                elif kind == "error":
                    self.relay.error(f"agent:{frame.get('code')}")
                    if not self.authenticated.done():
                        self.authenticated.set_exception(RuntimeError(f"agent auth failed: {frame}"))
        except ConnectionClosed:
            pass

    async def claim(self, conversation_id: str) -> Dict[str, Any]:
        future = asyncio.get_running_loop().create_future()
        self.claims[conversation_id] = future
        await self.ws.send(json.dumps({"type": "claim", "conversation_id": conversation_id}))
        return await asyncio.wait_for(future, FRAME_TIMEOUT_S)

    async def close(self) -> None:
        await self.ws.close()
        self.reader.cancel()
        await asyncio.gather(self.reader, return_exceptions=True)


async def bounded_gather(coros: Sequence[Any], limit: int) -> List[Any]:
    semaphore = asyncio.Semaphore(limit)

    async def one(coro: Any) -> Any:
        async with semaphore:
            return await coro

    return await asyncio.gather(*(one(c) for c in coros))


# -- 2 + 3: relay and memory -----------------------------------------------------

async def closed_loop(customers: List[Customer], relay: Relay, messages: int, tag: str) -> Dict[str, Any]:
    """Saturated: every customer sends ``messages`` texts, each right after the
    agent's reply to the previous one (no pause)."""
    relay.to_agent.clear()
    relay.to_customer.clear()
    timeouts = 0

    async def converse(index: int, customer: Customer) -> None:
        nonlocal timeouts
        for step in range(messages):
            if not await exchange(customer, relay, f"{tag} {index}-{step}"):
                timeouts += 1
                return

    started = time.perf_counter()
    await asyncio.gather(*(converse(i, c) for i, c in enumerate(customers)))
    return _load_result(tag, None, time.perf_counter() - started, relay, timeouts)


async def exchange(customer: Customer, relay: Relay, text: str) -> bool:
    """One customer message and the agent's echo; False on timeout."""
    future = asyncio.get_running_loop().create_future()
    customer.waiting["Respuesta " + text] = future
    relay.sent_by_customer[text] = time.perf_counter()
    await customer.send_text(text)
    try:
        await asyncio.wait_for(future, FRAME_TIMEOUT_S)
        return True
    except asyncio.TimeoutError:
        customer.waiting.pop("Respuesta " + text, None)
        return False


async def paced(customers: List[Customer], relay: Relay, rate: float, duration_s: float, tag: str,
                seed: int = 42) -> Dict[str, Any]:
    """Open loop: customer messages arrive at ``rate``/s over all sessions
    (Poisson arrivals) for ``duration_s``; each goes to a random session that
    is not already waiting for its agent (such a session sends nothing)."""
    relay.to_agent.clear()
    relay.to_customer.clear()
    rng = random.Random(seed)
    idle = list(range(len(customers)))
    tasks: List[asyncio.Task] = []
    timeouts = skipped = sent = 0

    async def one(index: int, text: str) -> None:
        nonlocal timeouts
        if not await exchange(customers[index], relay, text):
            timeouts += 1
        idle.append(index)

    loop = asyncio.get_running_loop()
    started = loop.time()
    due = started
    while True:
        due += rng.expovariate(rate)
        if due - started > duration_s:
            break
        await asyncio.sleep(max(0.0, due - loop.time()))
        if not idle:
            skipped += 1
            continue
        index = idle.pop(rng.randrange(len(idle)))
        tasks.append(asyncio.create_task(one(index, f"{tag} {sent}")))
        sent += 1
    await asyncio.gather(*tasks)
    elapsed = loop.time() - started
    result = _load_result(tag, rate, elapsed, relay, timeouts)
    result["skipped"] = skipped
    return result


def _load_result(tag: str, rate: Optional[float], elapsed: float, relay: Relay, timeouts: int) -> Dict[str, Any]:
    relayed = len(relay.to_agent) + len(relay.to_customer)
    return {"load": tag, "rate": rate, "elapsed_s": elapsed, "relayed": relayed,
            "per_s": relayed / elapsed if elapsed else float("nan"), "timeouts": timeouts,
            "to_agent": summary_ms(relay.to_agent), "to_customer": summary_ms(relay.to_customer)}


async def run_relay_async(tmp: Path, sessions: int, agents: int, messages: int, rates: Sequence[float],
                          duration_s: float, nominal_rate: Optional[float] = None,
                          log: Any = print, bridges: int = 1, scratch: str = "",
                          queue_claim_only: bool = False) -> Dict[str, Any]:
    """Relay and memory (parts 2 and 3). ``rates``: the paced loads (customer
    messages/s over all sessions, ``duration_s`` each); ``messages``: per
    customer in the saturated load (0: none); ``nominal_rate``: the paced rate
    the latency target is judged at (default the middle of ``rates``).
    ``bridges`` > 1: that many bridges of one Redis cluster on a PostgreSQL
    database of their own; every customer on the first, every agent on the
    last, so each relayed message crosses bridges (memory: the first's);
    ``scratch``: the name of their PostgreSQL database and Redis key prefix
    (default ``bench_bridges_<pid>``, ``bench<pid>:``). ``queue_claim_only``:
    stop after the queue-and-claim phase (no relay loads, no memory after them)."""
    from core.store.seed import seed_store

    limit = raise_nofile(2 * sessions + 1024)
    scratch_db: Optional[str] = None
    extra = {"HANDOFF_RATE_LIMIT": "1000000", "HANDOFF_AGENT_GRACE_S": "600", "HANDOFF_RASA_TIMEOUT_S": "30"}
    if bridges > 1:
        scratch_db = f"{scratch}_bridges" if scratch else f"bench_bridges_{os.getpid()}"
        database_url = await asyncio.to_thread(_postgres_database, scratch_db)
        extra.update(HANDOFF_CLUSTER="redis", HANDOFF_CLUSTER_PREFIX=f"{scratch}:" if scratch else f"bench{os.getpid()}:")
    else:
        database_url = f"sqlite:///{tmp / 'relay-store.db'}"
    await asyncio.to_thread(seed_store, database_url)
    tokens = await asyncio.to_thread(add_agents, database_url, agents)
    rasa = StandInRasa()
    await rasa.start()
    processes = [BridgeProcess(database_url, rasa.url, tmp / f"relay-bridge-{n}.log",
                               {**extra, "HANDOFF_BRIDGE_ID": f"bench-{n}"}) for n in range(bridges)]
    bridge = processes[0]
    relay = Relay()
    customers: List[Customer] = []
    consoles: List[Agent] = []
    result: Dict[str, Any] = {"sessions": sessions, "agents": agents, "nofile": limit, "duration_s": duration_s,
                              "nominal_rate": nominal_rate if nominal_rate else (rates[len(rates) // 2] if rates else None),
                              "sqlite_commit": await asyncio.to_thread(sqlite_commit_ms, tmp), "bridges": bridges}
    ws_url = bridge.url.replace("http://", "ws://")
    agent_ws_url = processes[-1].url.replace("http://", "ws://")
    try:
        for process in processes:
            await process.start()
        await asyncio.sleep(1.0)  # let the freshly started process settle before the baseline
        memory = {"started": rss_mb(bridge.pid)}

        log(f"  opening {sessions} customer sessions...")
        customers = list(await bounded_gather([Customer.open(ws_url, relay) for _ in range(sessions)], 20))
        await asyncio.sleep(1.0)
        memory["idle"] = rss_mb(bridge.pid)

        # Every customer asks for a person (the queue fills to all of them, each
        # queue change sent to every agent and every queued customer's place
        # re-checked), then the agents claim them all, each its share in turn.
        log(f"  {agents} agents connect; every customer asks for a person, then the agents claim them all...")
        consoles = list(await asyncio.gather(*(Agent.open(agent_ws_url, t, relay) for t in tokens)))
        queue_started = time.perf_counter()

        async def ask(customer: Customer) -> None:
            await customer.send_text("quiero hablar con una persona")
            await asyncio.wait_for(customer.queued.wait(), FRAME_TIMEOUT_S)

        async def claim_all(console: Agent, ids: List[str]) -> int:
            won = 0
            for conversation_id in ids:
                answer = await console.claim(conversation_id)
                won += answer.get("type") == "conversation"
            return won

        def cpu_now() -> Tuple[float, float]:
            return sum(cpu_seconds(p.pid) for p in processes), time.process_time()

        cpu_start = cpu_now()
        await bounded_gather([ask(c) for c in customers], ASK_CONCURRENCY)
        result["queue_s"] = time.perf_counter() - queue_started
        cpu_queued = cpu_now()
        log(f"  all {sessions} queued in {result['queue_s']:.1f} s; the agents claim them...")
        claim_started = time.perf_counter()
        ids = [c.conversation_id for c in customers]
        won = sum(await asyncio.gather(*(claim_all(console, ids[i::agents]) for i, console in enumerate(consoles))))
        await asyncio.wait_for(asyncio.gather(*(c.assigned.wait() for c in customers)), 4 * FRAME_TIMEOUT_S)
        if won != sessions:
            raise RuntimeError(f"{won} of {sessions} conversations claimed")
        result["claim_s"] = time.perf_counter() - claim_started
        cpu_claimed = cpu_now()
        # CPU seconds of the phase: the bridges' (all of them) and this client process's
        result["queue_cpu"] = {"bridges": cpu_queued[0] - cpu_start[0], "client": cpu_queued[1] - cpu_start[1]}
        result["claim_cpu"] = {"bridges": cpu_claimed[0] - cpu_queued[0], "client": cpu_claimed[1] - cpu_queued[1]}
        log(f"  all claimed in {result['claim_s']:.1f} s (CPU s, bridges/client: queue "
            f"{result['queue_cpu']['bridges']:.1f}/{result['queue_cpu']['client']:.1f}, claim "
            f"{result['claim_cpu']['bridges']:.1f}/{result['claim_cpu']['client']:.1f})")
        memory["assigned"] = rss_mb(bridge.pid)
        if queue_claim_only:
            result.update(memory=memory, errors=dict(relay.errors), rasa_calls=rasa.calls)
            return result
        for console in consoles:
            console.echo = True

        # the clients' own objects (1,000 sockets) out of their process's later collections: a
        # full collection here would pause every client at once and count as relay latency
        gc.collect()
        gc.freeze()
        loads = []
        for rate in rates:
            log(f"  paced relay: {rate:g} customer messages/s for {duration_s:g} s...")
            cpu_before = sum(cpu_seconds(p.pid) for p in processes)
            loads.append(await paced(customers, relay, rate, duration_s, f"paced {rate:g}/s"))
            loads[-1]["bridge_cpu"] = (sum(cpu_seconds(p.pid) for p in processes) - cpu_before) / loads[-1]["elapsed_s"]
        if messages:
            log(f"  saturated relay: {messages} messages per customer, no pause...")
            cpu_before = sum(cpu_seconds(p.pid) for p in processes)
            loads.append(await closed_loop(customers, relay, messages, "saturated"))
            loads[-1]["bridge_cpu"] = (sum(cpu_seconds(p.pid) for p in processes) - cpu_before) / loads[-1]["elapsed_s"]
            result["saturated_messages"] = messages
        memory["after_relay"] = rss_mb(bridge.pid)
        result.update(loads=loads, memory=memory, errors=dict(relay.errors), rasa_calls=rasa.calls,
                      trace=relay.trace)
        result["idle_per_session_kb"] = 1024 * (memory["idle"] - memory["started"]) / max(1, sessions)
        result["assigned_per_session_kb"] = 1024 * (memory["assigned"] - memory["started"]) / max(1, sessions)
        return result
    except BaseException:
        for process in processes:
            process.print_log_tail()
        raise
    finally:
        await asyncio.gather(*(c.close() for c in consoles), return_exceptions=True)
        await asyncio.gather(*(c.close() for c in customers), return_exceptions=True)
        for process in processes:
            process.stop()
        await rasa.stop()
        if scratch_db is not None:
            await asyncio.to_thread(_drop_postgres_database, scratch_db)
            await asyncio.to_thread(_drop_redis_keys, extra["HANDOFF_CLUSTER_PREFIX"])


def _drop_redis_keys(prefix: str) -> None:
    """The keys the bridges left under ``prefix`` on the local Redis (presence, leader)."""
    import redis

    client = redis.Redis(host="127.0.0.1", port=6379, socket_timeout=3)
    try:
        keys = list(client.scan_iter(match=prefix + "*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def _postgres_database(name: str) -> str:
    """A new database on the local PostgreSQL (127.0.0.1:5432, user postgres), migrated."""
    from sqlalchemy import create_engine, text

    import migrations

    admin = create_engine("postgresql://postgres@127.0.0.1:5432/postgres", isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    url = f"postgresql://postgres@127.0.0.1:5432/{name}"
    migrations.upgrade(url)
    return url


def _drop_postgres_database(name: str) -> None:
    from sqlalchemy import create_engine, text

    admin = create_engine("postgresql://postgres@127.0.0.1:5432/postgres", isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def run_relay(tmp: Path, sessions: int, agents: int, messages: int, rates: Sequence[float],
              duration_s: float, nominal_rate: Optional[float] = None, log: Any = print,
              bridges: int = 1, scratch: str = "", queue_claim_only: bool = False) -> Dict[str, Any]:
    return asyncio.run(run_relay_async(tmp, sessions, agents, messages, rates, duration_s, nominal_rate, log,
                                       bridges, scratch, queue_claim_only))


# -- 1: overhead over Rasa's bridge channel ------------------------------------------

async def bridge_turn(ws: WebSocketClientProtocol, text: str, client_id: str) -> Tuple[float, int, int]:
    """(seconds until the last bot message of this turn, bot messages, system messages)."""
    started = time.perf_counter()
    await ws.send(json.dumps({"type": "message", "text": text, "client_id": client_id}))
    await ws.send(json.dumps({"type": "end_of_turn_probe"}))
    last, bot, system = 0.0, 0, 0
    deadline = started + FRAME_TIMEOUT_S
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), max(0.01, deadline - time.perf_counter())))
        now = time.perf_counter()
        if frame.get("type") == "message":
            last = now
            bot += frame.get("sender") == "bot"
            system += frame.get("sender") == "system"
        elif frame.get("type") == "error" and frame.get("code") == "unknown_type":
            return (last or now) - started, bot, system


async def rasa_turn(session: aiohttp.ClientSession, url: str, secret: str, sender: str, text: str) -> Tuple[float, int]:
    started = time.perf_counter()
    async with session.post(url, json={"sender": sender, "message": text},
                            headers={"Authorization": f"Bearer {secret}"}) as response:
        body = await response.json(content_type=None)
        if response.status != 200:
            raise RuntimeError(f"Rasa answered HTTP {response.status}")
    elapsed = time.perf_counter() - started
    shown = [m for m in body["messages"] if isinstance(m, dict) and (m.get("text") or m.get("buttons") or m.get("image"))]
    return elapsed, len(shown)


async def rasa_time_seen_by_bridge(session: aiohttp.ClientSession, bridge_url: str) -> Tuple[float, int]:
    """(sum of seconds, count) of the bridge's own ``handoff_rasa_latency_seconds``."""
    async with session.get(f"{bridge_url}/metrics") as response:
        text = await response.text()
    total = re.search(r"^handoff_rasa_latency_seconds_sum\s+(\S+)", text, re.M)
    count = re.search(r"^handoff_rasa_latency_seconds_count\s+(\S+)", text, re.M)
    return (float(total.group(1)) if total else float("nan"), int(float(count.group(1))) if count else 0)


async def compare(rasa_url: str, secret: str, bridge_url: str, samples: int, warmup: int = 2) -> Dict[str, Any]:
    """Conversations of FAQ_SCRIPT through both paths, message by message,
    the order alternating; a fresh sender / socket per conversation."""
    webhook = f"{rasa_url}/webhooks/bridge/webhook"
    direct: List[float] = []
    bridged: List[float] = []
    mismatches = system_messages = bot_messages = 0
    conversations = warmup + math.ceil(samples / len(FAQ_SCRIPT))
    seen_before = (0.0, 0)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=FRAME_TIMEOUT_S)) as session:
        for number in range(conversations):
            if number == warmup:
                seen_before = await rasa_time_seen_by_bridge(session, bridge_url)
            ws = await ws_connect(f"{bridge_url.replace('http://', 'ws://')}/ws/chat")
            try:
                await ws.send(json.dumps({"type": "start", "session_id": None, "locale": "es"}))
                while json.loads(await asyncio.wait_for(ws.recv(), FRAME_TIMEOUT_S)).get("type") != "session":
                    pass
                for step, text in enumerate(FAQ_SCRIPT):
                    # both are awaited within this iteration, so the loop variables are the current ones
                    async def via_rasa() -> Tuple[float, int]:
                        return await rasa_turn(session, webhook, secret, f"bench-direct-{number}", text)  # noqa: B023

                    async def via_bridge() -> Tuple[float, int, int]:
                        return await bridge_turn(ws, text, f"m{step}")  # noqa: B023

                    if (number + step) % 2 == 0:
                        d, d_count = await via_rasa()
                        b, b_count, b_system = await via_bridge()
                    else:
                        b, b_count, b_system = await via_bridge()
                        d, d_count = await via_rasa()
                    if number < warmup:
                        continue
                    direct.append(d)
                    bridged.append(b)
                    mismatches += b_count != d_count
                    system_messages += b_system
                    bot_messages += b_count
            finally:
                await ws.close()
        seen_after = await rasa_time_seen_by_bridge(session, bridge_url)
    out: Dict[str, Any] = {"direct": summary_ms(direct), "bridge": summary_ms(bridged), "mismatches": mismatches,
           "system_messages": system_messages}
    out["added_p50_ms"] = out["bridge"]["p50_ms"] - out["direct"]["p50_ms"]
    out["bot_messages_per_turn"] = bot_messages / max(1, len(bridged))
    out["bridge_mean_ms"] = 1000 * sum(bridged) / max(1, len(bridged))
    out["direct_mean_ms"] = 1000 * sum(direct) / max(1, len(direct))
    calls = seen_after[1] - seen_before[1]
    out["rasa_mean_seen_by_bridge_ms"] = 1000 * (seen_after[0] - seen_before[0]) / calls if calls else float("nan")
    out["ratio_p50"] = out["bridge"]["p50_ms"] / out["direct"]["p50_ms"]
    return out


def run_overhead(tmp: Path, samples: int, log: Any = print) -> Dict[str, Any]:
    from bot.processes import Stack
    from bot.settings import Settings
    from core.store.seed import seed_store

    url = f"sqlite:///{tmp / 'overhead-store.db'}"
    seed_store(url)
    settings = Settings.from_env({
        "RASA_PORT": str(PORTS.take()), "ACTIONS_PORT": str(PORTS.take()), "HANDOFF_PORT": str(PORTS.take()),
        "DATABASE_URL": url, "LOG_LEVEL": "WARNING",
    })
    if not settings.model_path.exists():
        raise RuntimeError(f"no trained model at {settings.model_path}: run `make train`")
    stack = Stack(settings, log_dir=str(tmp / "logs"))
    try:
        log("  starting the action server, Rasa and the bridge...")
        stack.start_actions()
        stack.start_rasa()
        stack.start_bridge()
        stack.wait_ready(timeout=300)
        log(f"  {samples} messages through each path, interleaved...")
        result = asyncio.run(compare(settings.rasa_url, settings.rasa_bridge_secret, settings.handoff_url, samples))
    except BaseException:
        for log_file in sorted((tmp / "logs").glob("*.log")):
            tail = log_file.read_text(encoding="utf-8", errors="replace").splitlines()[-10:]
            print(f"{log_file.name} (last lines):", *tail, sep="\n", file=sys.stderr)
        raise
    finally:
        stack.stop()
    result["samples"] = samples
    return result


# -- 4: agent logins during a login flood ---------------------------------------------

def bogus_token() -> str:
    """An unknown agent id with a plausible secret: checking it costs the same
    scrypt as a wrong secret (the bridge hashes a dummy to give no hint)."""
    return f"a_{secrets.token_hex(6)}.{secrets.token_urlsafe(32)}"


async def login_once(ws_url: str, token: str, host: Optional[str] = None) -> Tuple[float, float, str]:
    """One agent login from ``host`` (default: the OS's choice, 127.0.0.1):
    (seconds from connecting to the bridge's answer, of which the WebSocket
    opening handshake, outcome), the outcome being ``authenticated`` or
    ``<error code> <close code>``."""
    started = time.perf_counter()
    try:
        ws = await websockets_connect(f"{ws_url}/ws/agent", open_timeout=FRAME_TIMEOUT_S, close_timeout=2,
                                      ping_interval=None, local_addr=(host, 0) if host else None)
    except (OSError, asyncio.TimeoutError, InvalidHandshake) as exc:
        elapsed = time.perf_counter() - started
        return elapsed, elapsed, f"connect failed ({type(exc).__name__})"
    opened = time.perf_counter() - started
    try:
        await ws.send(json.dumps({"type": "auth", "token": token}))
        frame = json.loads(await asyncio.wait_for(ws.recv(), FRAME_TIMEOUT_S))
        elapsed = time.perf_counter() - started
        if frame.get("type") == "authenticated":
            return elapsed, opened, "authenticated"
        await asyncio.wait_for(ws.wait_closed(), FRAME_TIMEOUT_S)
        return elapsed, opened, f"{frame.get('code')} {ws.close_code}"
    except (ConnectionClosed, asyncio.TimeoutError) as exc:
        return time.perf_counter() - started, opened, f"no answer ({type(exc).__name__})"
    finally:
        await ws.close()


def flood_process(ws_url: str, hosts: Sequence[str], concurrency: int, ready: Any, stop: Any, results: Any) -> None:
    """The flood, in its own process (its CPU is not the measuring loop's):
    ``concurrency`` bogus logins at once from ``hosts`` (round robin), each
    started again as soon as the previous one is answered, until ``stop``."""
    raise_nofile(concurrency + 256)
    results.put(asyncio.run(_flood(ws_url, hosts, concurrency, ready, stop)))


async def _flood(ws_url: str, hosts: Sequence[str], concurrency: int, ready: Any, stop: Any) -> Dict[str, Any]:
    outcomes: Dict[str, int] = {}

    async def worker(index: int) -> None:
        host = hosts[index % len(hosts)]
        while not stop.is_set():
            _, _, outcome = await login_once(ws_url, bogus_token(), host)
            outcomes[outcome] = outcomes.get(outcome, 0) + 1

    started = time.perf_counter()
    ready.set()
    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    return {"outcomes": outcomes, "elapsed_s": time.perf_counter() - started}


async def agent_logins(ws_url: str, token: str, tries: int, gap_s: float) -> Dict[str, Any]:
    """``tries`` logins of a real agent one after the other, ``gap_s`` apart
    (to spread them over a flood); the times of those that got in."""
    times: List[float] = []
    opening: List[float] = []
    outcomes: Dict[str, int] = {}
    for attempt in range(tries):
        if attempt:
            await asyncio.sleep(gap_s)  # pacing, not synchronisation
        elapsed, opened, outcome = await login_once(ws_url, token)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        if outcome == "authenticated":
            times.append(elapsed)
            opening.append(opened)
    return {"tries": tries, "logged_in": len(times), "outcomes": outcomes, "times_ms": [1000 * t for t in times],
            "p50_ms": 1000 * percentile(times, 50), "max_ms": 1000 * max(times) if times else float("nan"),
            "opening_p50_ms": 1000 * percentile(opening, 50)}


async def checks_failed(bridge_url: str) -> int:
    """Token checks that failed so far (``handoff_bad_frames_total{code="unauthorized"}``):
    each bogus token that was checked cost one scrypt."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=FRAME_TIMEOUT_S)) as session:
        async with session.get(f"{bridge_url}/metrics") as response:
            text = await response.text()
    found = re.search(r'^handoff_bad_frames_total\{code="unauthorized"\}\s+(\S+)', text, re.M)
    return int(float(found.group(1))) if found else 0


async def run_login_flood_async(tmp: Path, flood: int = FLOOD_LOGINS, tries: int = LOGIN_TRIES,
                                log: Any = print) -> Dict[str, Any]:
    """A real agent's login time from 127.0.0.1 without a flood, then while
    ``flood`` bogus logins run in parallel from one address (127.0.0.2), then
    from ``FLOOD_SPREAD`` addresses (127.0.1.x)."""
    import multiprocessing

    from core.store.seed import seed_store

    raise_nofile(flood + 1024)
    database_url = f"sqlite:///{tmp / 'login-store.db'}"
    await asyncio.to_thread(seed_store, database_url)
    [token] = await asyncio.to_thread(add_agents, database_url, 1)
    rasa = StandInRasa()
    await rasa.start()
    bridge = BridgeProcess(database_url, rasa.url, tmp / "login-bridge.log")
    ws_url = bridge.url.replace("http://", "ws://")
    context = multiprocessing.get_context("spawn")
    result: Dict[str, Any] = {"flood": flood, "tries": tries, "floods": []}
    try:
        await bridge.start()
        await login_once(ws_url, token)  # warm-up (imports, first connection)
        log(f"  a real agent logs in {tries} times, no flood...")
        result["quiet"] = await agent_logins(ws_url, token, tries, 0.1)
        for label, hosts in ((f"{flood} from one address ({FLOOD_HOST})", [FLOOD_HOST]),
                             (f"{flood} from {FLOOD_SPREAD} addresses (127.0.1.1–{FLOOD_SPREAD})",
                              [f"127.0.1.{i}" for i in range(1, FLOOD_SPREAD + 1)])):
            log(f"  the same while {label} hammer /ws/agent...")
            ready, stop, results = context.Event(), context.Event(), context.Queue()
            process = context.Process(target=flood_process, args=(ws_url, hosts, flood, ready, stop, results),
                                      daemon=True)
            failed_before = await checks_failed(bridge.url)
            process.start()
            try:
                if not await asyncio.to_thread(ready.wait, 120):
                    raise RuntimeError("the flood process did not start")
                cpu_before = cpu_seconds(bridge.pid)
                started = time.perf_counter()
                during = await agent_logins(ws_url, token, tries, FLOOD_GAP_S)
                busy_s = time.perf_counter() - started
                cpu = (cpu_seconds(bridge.pid) - cpu_before) / busy_s
                stop.set()
                flooded = await asyncio.to_thread(results.get, True, 120)
            finally:
                stop.set()
                await asyncio.to_thread(process.join, 30)
                if process.is_alive():
                    process.kill()
            attempts = sum(flooded["outcomes"].values())
            during.update(label=label, addresses=len(hosts), bogus=flooded["outcomes"], bogus_attempts=attempts,
                          bogus_per_s=attempts / flooded["elapsed_s"], flood_s=flooded["elapsed_s"],
                          scrypts=await checks_failed(bridge.url) - failed_before, bridge_cpu=cpu)
            result["floods"].append(during)
        return result
    except BaseException:
        bridge.print_log_tail()
        raise
    finally:
        bridge.stop()
        await rasa.stop()


def run_login_flood(tmp: Path, flood: int = FLOOD_LOGINS, tries: int = LOGIN_TRIES, log: Any = print) -> Dict[str, Any]:
    return asyncio.run(run_login_flood_async(tmp, flood, tries, log))


# -- report ------------------------------------------------------------------------

def _met(ok: bool) -> str:
    return "**met**" if ok else "**missed**"


def _render_login(login: Dict[str, Any]) -> Tuple[List[str], List[str]]:
    """The login-flood section and its target row."""
    quiet, floods = login["quiet"], login["floods"]

    def refused(run: Dict[str, Any]) -> str:
        others = {k: v for k, v in run["outcomes"].items() if k != "authenticated"}
        return ", ".join(f"{k}: {v}" for k, v in sorted(others.items())) or "none"

    lines = [
        "### Agent login during a login flood", "",
        f"The bridge as a subprocess on a temporary SQLite file, one agent made with the CLI. That agent logs in "
        f"from 127.0.0.1 {login['tries']} times in a row (time: connecting → `authenticated`), first with nothing "
        f"else going on, then while {login['flood']} bogus logins run in parallel from a separate process (unknown "
        "agent ids: each one checked costs a scrypt, ~60 ms of CPU), each started again as soon as it is "
        "answered: from one address, then spread over several. Failed logins are throttled per address "
        f"(handoff/agents.py, `LoginThrottle`: {MAX_FAILURES} failures per {WINDOW_S:g} s, {PER_ADDRESS} checks "
        f"at once, then `too_many_attempts` without a check) and in all ({MAX_ADMITTED} checks admitted, on "
        f"{SCRYPT_WORKERS} scrypt thread(s), then `busy`; addresses without failures are checked first and "
        "keep a quarter of those places). Before the "
        "throttle, 300 bogus logins in parallel made a real agent's login take 10.8 s (0.07 s without them). "
        "The flood's client process runs on the same cores as the bridge.", "",
        "| flood | agent logged in | p50 (ms) | max (ms) | of which opening the socket, p50 (ms) | agent refused | "
        "bogus logins answered (per s) | bogus tokens checked (scrypt) | bridge CPU (cores) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        f"| none | {quiet['logged_in']}/{quiet['tries']} | {quiet['p50_ms']:.0f} | {quiet['max_ms']:.0f} | "
        f"{quiet['opening_p50_ms']:.0f} | {refused(quiet)} | – | – | – |",
    ]
    for run in floods:
        lines.append(
            f"| {run['label']} | {run['logged_in']}/{run['tries']} | {run['p50_ms']:.0f} | {run['max_ms']:.0f} | "
            f"{run['opening_p50_ms']:.0f} | {refused(run)} | {run['bogus_attempts']} ({run['bogus_per_s']:.0f}/s) | {run['scrypts']} | "
            f"{run['bridge_cpu']:.2f} |")
    lines.append("")
    for run in floods:
        answers = ", ".join(f"{k}: {v}" for k, v in sorted(run["bogus"].items(), key=lambda kv: -kv[1]))
        lines.append(f"Bogus logins, {run['label']}, answered: {answers}.")
    lines.append("")
    targets: List[str] = []
    if floods:
        run = floods[0]
        ok = run["logged_in"] == run["tries"] and run["p50_ms"] <= 1000 * TARGET_LOGIN_S
        verdict = _met(ok)
        if run["logged_in"] != run["tries"]:
            verdict += f" ({run['tries'] - run['logged_in']} of {run['tries']} refused)"
        targets.append(f"| agent login ≤ {TARGET_LOGIN_S:g} s (median of {run['tries']}) while {login['flood']} bogus "
                       f"logins from one address hammer `/ws/agent` | {run['p50_ms']:.0f} ms (without: "
                       f"{quiet['p50_ms']:.0f} ms) | {verdict} |")
    return lines, targets


def render(overhead: Optional[Dict[str, Any]], relay: Optional[Dict[str, Any]], load_avg: str,
           login: Optional[Dict[str, Any]] = None) -> str:
    bridges = (relay or {}).get("bridges", 1)
    title = f"Several bridges ({bridges}, PostgreSQL + Redis)" if bridges > 1 else "Handoff bridge"
    lines = [f"## {title} — measured {dt.date.today().isoformat()}", "",
             f"Machine: {machine()}; load average at the start {load_avg} (the CPU is shared).", ""]
    targets: List[str] = []
    if overhead is not None:
        d, b = overhead["direct"], overhead["bridge"]
        added = overhead["added_p50_ms"]
        lines += [
            "### Overhead over Rasa's bridge channel", "",
            f"The real stack (action server, Rasa with models/assistant.tar.gz, bridge; SQLite store seeded "
            f"for the run). The FAQ conversation {' / '.join(FAQ_SCRIPT)} sent one message at a time through "
            "Rasa's bridge channel directly and through the bridge's `/ws/chat`, interleaved message by message "
            "(the order alternates). Bridge time: send → the turn's last bot `message` frame; the end of the turn "
            "is marked by a refused probe frame sent right after the message (the bridge handles a socket's "
            "frames in order). It includes the bridge storing the customer message and each bot message before "
            "delivery (SQLite commits).", "",
            "| path | messages | p50 (ms) | p99 (ms) |", "| --- | --- | --- | --- |",
            f"| Rasa bridge channel, direct | {d['n']} | {d['p50_ms']:.1f} | {d['p99_ms']:.1f} |",
            f"| bridge `/ws/chat` → Rasa | {b['n']} | {b['p50_ms']:.1f} | {b['p99_ms']:.1f} |", "",
            f"Added by the bridge at p50: **{added:.1f} ms** (ratio {overhead['ratio_p50']:.2f}×). "
            f"Turns where the bridge relayed a different number of messages than Rasa returned: "
            f"{overhead['mismatches']}; system (apology) messages: {overhead['system_messages']}.", "",
            f"Where it goes (means): a turn through the bridge took {overhead['bridge_mean_ms']:.1f} ms against "
            f"{overhead['direct_mean_ms']:.1f} ms direct; the bridge's own timing of its Rasa calls "
            f"(`handoff_rasa_latency_seconds`) is {overhead['rasa_mean_seen_by_bridge_ms']:.1f} ms, so about "
            f"{overhead['bridge_mean_ms'] - overhead['rasa_mean_seen_by_bridge_ms']:.1f} ms per turn is the "
            "bridge's own work: the WebSocket frames in and out (message in; ack, typing and the bot's messages "
            "out), reading the conversation and committing the customer message in one transaction, and "
            f"committing each bot message ({overhead['bot_messages_per_turn']:.1f} per turn) before delivering "
            "it. On SQLite these single-row transactions run on the bridge's event loop (handoff/storage/engine.py).", "",
        ]
        verdict = _met(added <= TARGET_OVERHEAD_MS)
        if added > TARGET_OVERHEAD_MS:
            verdict += f" by {added - TARGET_OVERHEAD_MS:.1f} ms"
        targets.append(f"| bridge adds ≤ {TARGET_OVERHEAD_MS:.0f} ms at p50 | {added:.1f} ms | {verdict} |")
    if relay is not None:
        n, mem, commit = relay["sessions"], relay["memory"], relay["sqlite_commit"]
        nominal = relay["nominal_rate"]
        lines += [
            f"### Relay with {n} concurrent sessions", "",
            (f"{relay['bridges']} bridges as subprocesses (`python -m handoff`, `HANDOFF_CLUSTER=redis`) on one "
             "**PostgreSQL** database and the local Redis (every message is committed before it is delivered), a stand-in Rasa "
             if relay.get("bridges", 1) > 1 else
             "The bridge as a subprocess (`python -m handoff`) on a temporary **SQLite** file (the default "
             "backend, WAL journal with synchronous=NORMAL; every message is committed before it is delivered), a stand-in Rasa ")
            + f"that hands every conversation off, {n} customer sockets (each asked for a person and was queued) "
            f"and {relay['agents']} agents made with `python -m handoff agent add`: every customer asked for a "
            f"person, {ASK_CONCURRENCY} at a time, until all {n} were queued ({relay['queue_s']:.1f} s), then the "
            f"agents claimed them all, each its share one after another ({relay['claim_s']:.1f} s until every "
            f"customer was told who attends them; queue changes reach every agent as `queue_changed` and are "
            f"coalesced). {relay.get('bridges', 1)} bridge(s)"
            + (" of one Redis cluster on PostgreSQL, customers on the first and agents on the last, so every "
               "message crosses bridges" if relay.get("bridges", 1) > 1 else "") + f". All {n} sessions stay connected and assigned; "
            "every customer message is echoed by its agent at once. "
            f"*Paced*: customer messages arrive at the given total rate (Poisson, {relay['duration_s']:g} s each) "
            "to random sessions not already waiting for a reply; "
            f"*saturated*: every customer sends {relay.get('saturated_messages', '–')} messages, each right after "
            "the previous reply (the throughput). Messages/s counts both directions. Clients run in one Python "
            "process on the same cores as the bridge; the per-connection rate limit is raised for the run "
            "(an agent here relays for about "
            f"{n // max(1, relay['agents'])} conversations).", "",
            "| load | direction | messages | p50 (ms) | p99 (ms) |",
            "| --- | --- | --- | --- | --- |",
        ]
        for load in relay["loads"]:
            for key, label in (("to_agent", "customer → agent"), ("to_customer", "agent → customer")):
                stats = load[key]
                lines.append(f"| {load['load']} | {label} | {stats['n']} | {stats['p50_ms']:.1f} | {stats['p99_ms']:.1f} |")
        lines += ["", "| load | relayed messages | seconds | messages/s | bridge CPU (cores) | timeouts |",
                  "| --- | --- | --- | --- | --- | --- |"]
        for load in relay["loads"]:
            lines.append(f"| {load['load']} | {load['relayed']} | {load['elapsed_s']:.1f} | {load['per_s']:.0f} | "
                         f"{load['bridge_cpu']:.2f} | {load['timeouts']} |")
        errors = ", ".join(f"{k}: {v}" for k, v in sorted(relay["errors"].items())) or "none"
        storage = (
            "Each bridge commits the customer message before relaying it and the agent message before delivering "
            "it, in PostgreSQL (on the same 2 cores, as Redis is); the frame then crosses to the other bridge "
            "through Redis pub/sub, sent with the conversation lock's release (handoff/cluster.py)."
            if relay.get("bridges", 1) > 1 else
            f"One SQLite commit on the same disk (a one-row insert, WAL journal, synchronous=NORMAL): p50 "
            f"{commit['p50_ms']:.2f} ms, p99 {commit['p99_ms']:.2f} ms. The bridge commits the customer message "
            "before relaying it and the agent message before delivering it; on SQLite it runs one transaction at a "
            "time (those of each message inline on its event loop, the rest in one worker thread), so its writers "
            "never wait in SQLite's busy handler.")
        lines += ["", f"Error frames during the run: {errors}. {storage}", "",
                  "### Memory of the bridge process (VmRSS)", "",
                  "| state | RSS (MB) |", "| --- | --- |",
                  f"| started, no session | {mem['started']:.1f} |",
                  f"| {n} idle sessions (connected and started, bot mode, no message sent) | {mem['idle']:.1f} |",
                  f"| {n} sessions assigned to agents (one message each) | {mem['assigned']:.1f} |",
                  f"| after the relay runs (all assigned) | {mem['after_relay']:.1f} |", "",
                  f"Per idle session: **{relay['idle_per_session_kb']:.0f} KB**; per assigned session "
                  f"{relay['assigned_per_session_kb']:.0f} KB (RSS difference ÷ sessions).", ""]
        judged = next((l for l in relay["loads"] if l["rate"] == nominal), None)
        if judged is not None:
            p99 = max(judged["to_agent"]["p99_ms"], judged["to_customer"]["p99_ms"])
            verdict = _met(p99 <= TARGET_RELAY_P99_MS)
            if p99 > TARGET_RELAY_P99_MS:
                verdict += f" by {p99 - TARGET_RELAY_P99_MS:.0f} ms"
            targets.append(f"| relay p99 ≤ {TARGET_RELAY_P99_MS:.0f} ms with {n} sessions, at the nominal "
                           f"{nominal:g} customer msgs/s (one per session every {n / nominal:.0f} s) | "
                           f"{p99:.1f} ms (worse direction) | {verdict} |")
        within = [l["rate"] for l in relay["loads"] if l["rate"] and max(
            l["to_agent"]["p99_ms"], l["to_customer"]["p99_ms"]) <= TARGET_RELAY_P99_MS]
        targets.append(f"| (highest paced rate within {TARGET_RELAY_P99_MS:.0f} ms p99) | "
                       f"{(f'{max(within):g} customer msgs/s') if within else 'none of those measured'} | – |")
        both = relay["queue_s"] + relay["claim_s"]
        targets.append(f"| queue and claim {n} conversations with {relay['agents']} agents in ≤ "
                       f"{TARGET_QUEUE_CLAIM_S:g} s | {both:.1f} s ({relay['queue_s']:.1f} s to queue, "
                       f"{relay['claim_s']:.1f} s to claim) | {_met(both <= TARGET_QUEUE_CLAIM_S)} |")
        idle = mem["idle"]
        verdict = _met(idle <= TARGET_IDLE_MB)
        if idle > TARGET_IDLE_MB:
            verdict += f" by {idle - TARGET_IDLE_MB:.0f} MB"
        targets.append(f"| {n} idle sessions in ≤ {TARGET_IDLE_MB:.0f} MB | {idle:.1f} MB | {verdict} |")
    if login is not None:
        login_lines, login_targets = _render_login(login)
        lines += login_lines
        targets += login_targets
    lines += ["### Targets", "", "| target | measured | result |", "| --- | --- | --- |", *targets]
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bridge", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=1000, help="concurrent customer sessions (default 1000)")
    parser.add_argument("--agents", type=int, default=0, help="agents (default: sessions ÷ 100, at least 2)")
    parser.add_argument("--rates", default="",
                        help="paced loads, customer messages/s over all sessions, comma-separated (default: "
                             "the nominal sessions ÷ 20, i.e. one message per session every 20 s, and ¼, ½ and 2× it)")
    parser.add_argument("--duration", type=float, default=0.0, help="seconds per paced load (default 10; quick 3)")
    parser.add_argument("--messages", type=int, default=-1,
                        help="messages per customer in the saturated load (default 3; 0 skips it)")
    parser.add_argument("--samples", type=int, default=0, help="messages per path in the overhead part (default 400; quick 40)")
    parser.add_argument("--quick", action="store_true", help="a tiny run: 20 sessions, short loads, few samples")
    parser.add_argument("--bridges", type=int, default=1,
                        help="bridges of one Redis cluster on PostgreSQL (customers on the first, agents on the last)")
    parser.add_argument("--ports", default="", metavar="FIRST-LAST",
                        help="listen only on ports in this range (default: any the OS gives)")
    parser.add_argument("--scratch", default="", metavar="NAME",
                        help="several bridges: their PostgreSQL database is NAME_bridges and their Redis prefix "
                             "NAME: (default bench_bridges_<pid>, bench<pid>:)")
    parser.add_argument("--trace", type=Path, metavar="FILE",
                        help="write every relayed message as JSON [direction, sent at (time.perf_counter, the "
                             "machine's monotonic clock), seconds] to FILE")
    parser.add_argument("--skip-rasa", action="store_true", help="skip the overhead part (no trained model needed)")
    parser.add_argument("--queue-claim-only", action="store_true",
                        help="of the relay part, only queue and claim the sessions (printed, never written)")
    parser.add_argument("--skip-login-flood", action="store_true", help="skip the login-flood part")
    parser.add_argument("--login-flood-only", action="store_true",
                        help="only the login-flood part; printed, never written (it would drop the other figures)")
    parser.add_argument("--no-write", action="store_true", help=f"print only; do not write {DOCS.relative_to(ROOT)}")
    parser.add_argument("--reports", action="store_true",
                        help="also the reports case (100,000 conversations over 90 days, SQLite and PostgreSQL)")
    parser.add_argument("--reports-only", action="store_true", help="only the reports case (written to its own block)")
    parser.add_argument("--report-conversations", type=int, default=100_000, help="conversations seeded for the reports case")
    args = parser.parse_args(argv)
    load_avg = " ".join(f"{x:.2f}" for x in os.getloadavg())
    if args.ports:
        try:
            first, last = (int(x) for x in args.ports.split("-"))
        except ValueError:
            parser.error("--ports takes FIRST-LAST")
        PORTS.span = range(first, last + 1)
    if args.scratch and not re.fullmatch(r"[a-z][a-z0-9_]*", args.scratch):
        parser.error("--scratch takes lower-case letters, digits and _")
    if args.reports or args.reports_only:
        from bench import reports as bench_reports

        print(f"Reports: {args.report_conversations} conversations over 90 days...", flush=True)
        results = bench_reports.run(args.report_conversations, log=lambda m: print(m, flush=True))
        block = bench_reports.render(results, f"Machine: {os.cpu_count()} cores, load average {load_avg}.")
        print(block)
        if not args.no_write:
            write_block(block, REPORTS_BEGIN, REPORTS_END, DOCS)
        if args.reports_only:
            return 0
    sessions = 20 if args.quick and args.sessions == 1000 else args.sessions
    if sessions < 1:
        parser.error("--sessions must be at least 1")
    agents = min(sessions, args.agents or max(2, sessions // 100))
    nominal = sessions / 20
    try:
        rates = [float(r) for r in args.rates.split(",") if r.strip()] or [nominal / 4, nominal / 2, nominal, nominal * 2]
    except ValueError:
        parser.error("--rates takes numbers separated by commas")
    if any(r <= 0 for r in rates):
        parser.error("--rates must be positive")
    if args.rates and nominal not in rates:
        nominal = rates[len(rates) // 2]
    duration = args.duration or (3.0 if args.quick else 10.0)
    messages = args.messages if args.messages >= 0 else 3
    samples = args.samples or (40 if args.quick else 400)
    load_avg = " ".join(f"{x:.2f}" for x in os.getloadavg())

    overhead = None
    with tempfile.TemporaryDirectory(prefix="bridge-bench-") as tmp_name:
        tmp = Path(tmp_name)
        if not args.skip_rasa and not args.login_flood_only:
            print("Overhead of the bridge over Rasa's bridge channel...", flush=True)
            overhead = run_overhead(tmp, samples)
        relay = login = None
        if not args.login_flood_only:
            print(f"Relay and memory with {sessions} sessions, {agents} agents...", flush=True)
            relay = run_relay(tmp, sessions, agents, messages, rates, duration, nominal,
                              log=lambda m: print(m, flush=True), bridges=max(1, args.bridges),
                              scratch=args.scratch, queue_claim_only=args.queue_claim_only)
            if args.queue_claim_only:
                print(json.dumps({k: relay[k] for k in ("sessions", "agents", "bridges", "queue_s", "claim_s",
                                                        "queue_cpu", "claim_cpu", "errors")}))
                return 0
            if args.trace is not None:
                args.trace.write_text(json.dumps(relay["trace"]), encoding="utf-8")
        if not args.skip_login_flood:
            print(f"Agent login during a flood of {FLOOD_LOGINS} bogus logins...", flush=True)
            login = run_login_flood(tmp, log=lambda m: print(m, flush=True))
    section = render(overhead, relay, load_avg, login)
    print(section)
    if not args.no_write and not args.login_flood_only:
        write_docs(section, bridges=max(1, args.bridges))
        print(f"\nWritten to {DOCS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
