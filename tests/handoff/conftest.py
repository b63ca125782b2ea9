"""Fixtures for the bridge: a stand-in Rasa (aiohttp.web on a free port), a real
bridge in-process on a free port, and WebSocket clients that wait for frames.

The stand-in Rasa answers the REST webhook by text: "agente" → announcement,
handoff payload and a reply AFTER it that must never reach the customer;
"verificado" → handoff with a verified demo customer; "botones" → buttons;
"lento" → no answer until the test ends (past the bridge's timeout); "mudo"
→ an empty answer; "verifico" → "Pedido verificado." and the silent
``{"custom": {"customer": ...}}`` of ``verify_as`` (as actions/verification.py
sends it; set ``verify_as`` first), after which "agente" hands over with that
customer; "caso" → a handoff whose ``details`` and ``intents`` are codes
(``case_payload``); anything else → "Eco: <text>". Like the real bridge
channel (bot/bridge_channel.py) it checks the shared secret on every route
and answers a ``message_id`` it has seen with the replies of the first time
(``processed`` counts real turns).
"""
from __future__ import annotations

import asyncio
import datetime as dt
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable, Dict, Iterator, List, Optional

import pytest
import pytest_asyncio
from aiohttp import web
from websockets.legacy.client import WebSocketClientProtocol
from websockets.legacy.client import connect as ws_connect

from core.policy import StorePolicy, load_policy
from core.store.seed import seed_store
from handoff.agents import add_agent
from handoff.bridge import Bridge
from handoff.server import BridgeServer
from handoff.settings import HandoffSettings
from handoff.storage import Storage

BRIDGE_SECRET = "test-secret-for-the-stand-in-rasa"
FRAME_TIMEOUT_S = 5.0
VERIFIED_EMAIL = "luis.prieto@correo.example"
QUEUE_LEFT_LINE = "De acuerdo, he cancelado la espera. ¿En qué te puedo ayudar?"  # the stand-in's utter_queue_left
# Monday 12:00 in Madrid (support open) and Sunday 12:00 (closed).
OPEN_TIME = dt.datetime(2025, 11, 24, 11, 0, tzinfo=dt.timezone.utc)
CLOSED_TIME = dt.datetime(2025, 11, 23, 11, 0, tzinfo=dt.timezone.utc)


def handoff_payload(reason: str = "customer_request", customer: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    return {"handoff": {
        "reason": reason, "reason_text": "El cliente pide hablar con una persona",
        "last_intent": "request_human",
        "intents": [{"name": "request_human", "confidence": 0.97}, {"name": "greet", "confidence": 0.88}],
        "entities": {"order_id": "101490"} if customer else {}, "customer": customer, "details": {},
    }}


@dataclass
class FakeRasa:
    """Records what the bridge sent; ``up`` False answers GET / with 503,
    ``fail`` True answers every channel call with 500."""

    url: str = ""
    up: bool = True
    fail: bool = False
    fail_resume: bool = False
    runner: Optional[web.AppRunner] = None
    webhook_calls: List[Dict[str, Any]] = field(default_factory=list)
    api_calls: List[Dict[str, Any]] = field(default_factory=list)
    answered: Dict[str, List[Dict[str, Any]]] = field(default_factory=dict)  # message_id -> replies
    processed: List[str] = field(default_factory=list)                      # texts really processed
    release: asyncio.Event = field(default_factory=asyncio.Event)
    verify_as: Optional[Dict[str, Any]] = None                              # the customer "verifico" proves
    verified: set = field(default_factory=set)                              # senders who said "verifico"
    case_payload: Optional[Dict[str, Any]] = None                           # what "caso" hands over

    async def serve(self, host: str = "127.0.0.1", port: int = 0) -> "FakeRasa":
        """Listen (a free port by default); ``url`` and ``runner`` are set."""
        self.runner = web.AppRunner(self.app(), shutdown_timeout=1.0)
        await self.runner.setup()
        site = web.TCPSite(self.runner, host, port)
        await site.start()
        self.url = f"http://{host}:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        self.release.set()
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/", self.root)
        app.router.add_post("/webhooks/bridge/webhook", self.webhook)
        app.router.add_post("/webhooks/bridge/resume", self.resume)
        app.router.add_post("/webhooks/bridge/slots", self.slots)
        return app

    async def root(self, request: web.Request) -> web.Response:
        return web.Response(text="Hello from Rasa: 3.6.21", status=200 if self.up else 503)

    def _refused(self, request: web.Request) -> Optional[web.Response]:
        if request.headers.get("Authorization") != f"Bearer {BRIDGE_SECRET}":
            return web.json_response({"error": "unauthorized"}, status=401)
        if self.fail:
            return web.json_response({"error": "processing_failed"}, status=500)
        return None

    async def webhook(self, request: web.Request) -> web.Response:
        refused = self._refused(request)
        if refused is not None:  # a Response is a mapping: an empty one is falsy
            return refused
        body = await request.json()
        self.webhook_calls.append({"sender": body["sender"], "message": body["message"]})
        message_id = body.get("message_id")
        if body.get("retry") is True and message_id in self.answered:
            return web.json_response({"messages": self.answered[message_id], "replayed": True})
        replies = await self.replies(body["sender"], body["message"])
        self.processed.append(body["message"])
        if message_id is not None:
            self.answered[message_id] = replies
        return web.json_response({"messages": replies, "replayed": False})

    async def replies(self, sender: str, text: str) -> List[Dict[str, Any]]:
        if text == "lento":
            await self.release.wait()
            return []
        if text == "mudo":
            return []
        if text == "verifico" and self.verify_as is not None:
            self.verified.add(sender)
            return [
                {"recipient_id": sender, "text": "Pedido verificado."},
                {"recipient_id": sender, "custom": {"customer": dict(self.verify_as)}},
            ]
        if text == "caso" and self.case_payload is not None:
            return [{"recipient_id": sender, "text": "Te paso con una persona del equipo."},
                    {"recipient_id": sender, "custom": {"handoff": self.case_payload}}]
        if text in ("agente", "/request_human"):
            customer = None
            if sender in self.verified and self.verify_as is not None:
                customer = {k: v for k, v in self.verify_as.items() if k != "verified_by"}
            return [
                {"recipient_id": sender, "text": "Te paso con una persona del equipo."},
                {"recipient_id": sender, "custom": handoff_payload(customer=customer)},
                {"recipient_id": sender, "text": "ESTO NO DEBE LLEGAR"},
            ]
        if text == "verificado":
            customer = {"id": 1, "name": "Luis Prieto", "email": VERIFIED_EMAIL, "verified_order_id": "101490"}
            return [
                {"recipient_id": sender, "text": "Te paso con una persona del equipo."},
                {"recipient_id": sender, "custom": handoff_payload("order_overdue", customer)},
            ]
        if text == "botones":
            return [
                {"recipient_id": sender, "text": "¿Qué quieres hacer?", "buttons": [
                    {"title": "Ver mi pedido", "payload": "/order_status"},
                    {"title": "Hablar con una persona", "payload": "/request_human"}]},
                {"recipient_id": sender, "text": "Segundo mensaje"},
            ]
        return [{"recipient_id": sender, "text": f"Eco: {text}"}]

    async def resume(self, request: web.Request) -> web.Response:
        refused = self._refused(request)
        body = await request.json() if refused is None else None
        self.api_calls.append({"path": request.path, "auth_ok": refused is None, "body": body})
        if refused is not None:  # a Response is a mapping: an empty one is falsy
            return refused
        assert body is not None
        if self.fail_resume:
            return web.json_response({"error": "processing_failed"}, status=500)
        if body.get("action") == "utter_queue_left":  # the shopper left the queue
            return web.json_response({"messages": [
                {"recipient_id": body["sender"], "text": QUEUE_LEFT_LINE,
                 "buttons": [{"title": "Hablar con una persona", "payload": "/request_human"}]}]})
        return web.json_response({"messages": [
            {"recipient_id": body["sender"], "text": "Vuelves a estar conmigo, el asistente virtual."}]})

    async def slots(self, request: web.Request) -> web.Response:
        refused = self._refused(request)
        body = await request.json() if refused is None else None
        self.api_calls.append({"path": request.path, "auth_ok": refused is None, "body": body})
        if refused is not None:  # a Response is a mapping: an empty one is falsy
            return refused
        return web.json_response({"status": "ok"})


@pytest_asyncio.fixture
async def fake_rasa() -> AsyncIterator[FakeRasa]:
    rasa = await FakeRasa().serve()
    try:
        yield rasa
    finally:
        await rasa.stop()


@pytest.fixture(scope="session")
def seeded_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo store seeded once; each test copies the file."""
    path = tmp_path_factory.mktemp("template") / "store.db"
    seed_store(f"sqlite:///{path}")
    return path


@pytest.fixture
def db_url(tmp_path: Path, seeded_template: Path) -> str:
    target = tmp_path / "store.db"
    shutil.copy(seeded_template, target)
    return f"sqlite:///{target}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def any_db_url(request: pytest.FixtureRequest, db_url: str) -> str:
    """A seeded store of the test's own, on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return db_url
    return str(request.getfixturevalue("fresh_postgres_url"))


@pytest.fixture(scope="session")
def policy() -> StorePolicy:
    return load_policy()


@pytest.fixture
def usted_policy(monkeypatch: pytest.MonkeyPatch) -> Iterator[StorePolicy]:
    """The store policy with its voice set to usted the documented way
    (STORE_BRAND_VOICE); a module makes it its ``policy`` to run the bridge so."""
    monkeypatch.setenv("STORE_BRAND_VOICE", "usted")
    load_policy.cache_clear()
    try:
        yield load_policy()
    finally:
        load_policy.cache_clear()


BridgeFactory = Callable[..., Awaitable[BridgeServer]]


@pytest_asyncio.fixture
async def start_bridge(fake_rasa: FakeRasa, db_url: str, policy: StorePolicy) -> AsyncIterator[BridgeFactory]:
    """Start a bridge: ``await start_bridge(now=CLOSED_TIME, rate_limit=5, ...)``."""
    servers: List[BridgeServer] = []

    async def start(now: dt.datetime = OPEN_TIME, **overrides: Any) -> BridgeServer:
        values: Dict[str, Any] = dict(host="127.0.0.1", port=0, rasa_url=fake_rasa.url, rasa_bridge_secret=BRIDGE_SECRET,
                                      rasa_timeout_s=1.0, agent_grace_s=60.0, database_url=db_url)
        values.update(overrides)
        settings = HandoffSettings(**values)
        bridge = Bridge(settings, policy=policy, clock=lambda: now)
        server = BridgeServer(settings, bridge)
        await server.start()
        servers.append(server)
        return server

    try:
        yield start
    finally:
        for server in servers:
            await server.stop()


class Client:
    """A WebSocket client that waits for frames (never sleeps)."""

    def __init__(self, ws: WebSocketClientProtocol) -> None:
        self.ws = ws
        self.seen: List[Dict[str, Any]] = []

    async def send(self, frame: Any) -> None:
        await self.ws.send(frame if isinstance(frame, (str, bytes)) else json.dumps(frame))

    async def next(self, timeout: float = FRAME_TIMEOUT_S) -> Dict[str, Any]:
        frame = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
        self.seen.append(frame)
        return frame

    async def wait_for(self, predicate: Callable[[Dict[str, Any]], bool], timeout: float = FRAME_TIMEOUT_S) -> Dict[str, Any]:
        """The first frame matching; frames skipped on the way stay in ``seen``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            frame = await self.next(max(0.01, deadline - loop.time()))
            if predicate(frame):
                return frame

    async def wait_type(self, kind: str, **fields: Any) -> Dict[str, Any]:
        return await self.wait_for(lambda f: f.get("type") == kind and all(f.get(k) == v for k, v in fields.items()))

    async def barrier(self) -> List[Dict[str, Any]]:
        """Everything the server sent before now: send a frame that always gets an
        error back and collect up to that error."""
        start = len(self.seen)
        await self.send({"type": "barrier_probe"})
        await self.wait_type("error", code="unknown_type")
        return self.seen[start:-1]

    async def close(self) -> None:
        await self.ws.close()


async def connect(server: BridgeServer, path: str, **kwargs: Any) -> Client:
    ws = await ws_connect(f"ws://127.0.0.1:{server.port}{path}", open_timeout=FRAME_TIMEOUT_S, **kwargs)
    return Client(ws)


async def customer(server: BridgeServer, session_id: Optional[str] = None, **start: Any) -> tuple:
    """A started customer: (client, session frame)."""
    client = await connect(server, "/ws/chat")
    await client.send({"type": "start", "session_id": session_id, "locale": "es", **start})
    session = await client.wait_type("session")
    return client, session


async def new_agent(server: BridgeServer, name: str) -> tuple:
    """(agent id, token) created in the bridge's database."""
    agent, token = await add_agent(server.bridge.storage, name)
    return agent.id, token


async def new_agent_in(database_url: str, name: str) -> tuple:
    """(agent id, token) created in a database no bridge of this process uses."""
    storage = Storage(database_url)
    try:
        await storage.create_schema()
        agent, token = await add_agent(storage, name)
    finally:
        storage.dispose()
    return agent.id, token


async def agent_client(server: BridgeServer, token: str) -> Client:
    client = await connect(server, "/ws/agent")
    await client.send({"type": "auth", "token": token})
    await client.wait_type("authenticated")
    return client


async def queued_customer(server: BridgeServer, text: str = "agente") -> tuple:
    """A customer who asked for a person: (client, session frame, handoff frame)."""
    client, session = await customer(server)
    await client.send({"type": "message", "text": text, "client_id": "m1"})
    handoff = await client.wait_type("handoff", state="queued")
    return client, session, handoff


@pytest.fixture
def storage_for(db_url: str) -> Callable[[], Storage]:
    return lambda: Storage(db_url)
