"""Fixtures for the Telegram channel: a stand-in Bot API server (aiohttp.web on
loopback) and a bridge started with TELEGRAM_* settings pointing at it.

The stand-in implements what python-telegram-bot calls: getMe, getUpdates (a
long poll that answers as soon as updates are queued, confirming the ones below
``offset`` like Telegram), sendMessage (optionally 429 with retry_after, or 502
while ``down``), sendChatAction, answerCallbackQuery, editMessageReplyMarkup, getFile and the file
download, setWebhook, deleteWebhook, setMyCommands. Tests wait on its
``sent`` list through a condition, never with sleeps.

The bridge fixtures (stand-in Rasa, seeded store, start_bridge) come from
tests/handoff/conftest.py; the stand-in Rasa also answers "largo" with a button
whose payload is longer than Telegram's 64-byte callback_data.
"""
from __future__ import annotations

import asyncio
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Awaitable, Callable, Dict, List, Optional, Set

import pytest_asyncio
from aiohttp import web

from handoff.server import BridgeServer
from tests.handoff.conftest import (  # noqa: F401  (fixtures used by name)
    FakeRasa,
    any_db_url,
    db_url,
    policy,
    seeded_template,
    start_bridge,
    storage_for,
)

TOKEN = "123456:TEST-token-for-the-stand-in"
BOT_ID = 123456
WAIT_S = 5.0
LONG_PAYLOAD = '/inform{"order_id":"101490","email":"luis.prieto@correo.example","nota":"largo"}'
PNG_BYTES = b"\x89PNG\r\n\x1a\n" + b"foto-de-un-producto-roto" * 20


class TelegramRasa(FakeRasa):
    """The handoff stand-in Rasa plus a button with a long payload."""

    async def replies(self, sender: str, text: str) -> List[Dict[str, Any]]:
        if text == "precio":
            return [{"recipient_id": sender, "text": "El jersey cuesta 69,00 € y el envío 4,95 €."}]
        if text == "largo":
            return [{"recipient_id": sender, "text": "Elige:", "buttons": [
                {"title": "Confirmar", "payload": LONG_PAYLOAD}]}]
        return await super().replies(sender, text)


@pytest_asyncio.fixture
async def fake_rasa() -> AsyncIterator[FakeRasa]:
    rasa = await TelegramRasa().serve()
    try:
        yield rasa
    finally:
        await rasa.stop()


def _parse(value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        return value


@dataclass
class FakeBotApi:
    """A Bot API server good enough for PTB; records every call."""

    url: str = ""
    updates: List[Dict[str, Any]] = field(default_factory=list)
    sent: List[Dict[str, Any]] = field(default_factory=list)        # delivered sendMessage calls
    calls: List[Dict[str, Any]] = field(default_factory=list)       # every call: method + params
    files: Dict[str, bytes] = field(default_factory=dict)
    rate_limit_next: int = 0     # answer this many sendMessage calls with 429 retry_after=1
    down: bool = False           # sendMessage answers 502 (Telegram unreachable)
    blocked: Set[int] = field(default_factory=set)  # chats whose user blocked the bot: sendMessage answers 403
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    _ids: Any = field(default_factory=lambda: itertools.count(1000))

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self.method)
        app.router.add_get("/file/bot{token}/{path:.+}", self.file)
        return app

    # -- test side -----------------------------------------------------

    async def push(self, update: Dict[str, Any]) -> None:
        async with self.changed:
            self.updates.append(update)
            self.changed.notify_all()

    async def wait_sent(self, predicate: Callable[[Dict[str, Any]], bool], timeout: float = WAIT_S) -> Dict[str, Any]:
        """The first delivered message matching (already sent or to come)."""
        async def find() -> Dict[str, Any]:
            async with self.changed:
                while True:
                    for message in self.sent:
                        if predicate(message):
                            return message
                    await self.changed.wait()
        return await asyncio.wait_for(find(), timeout)

    async def wait_text(self, text: str, timeout: float = WAIT_S) -> Dict[str, Any]:
        return await self.wait_sent(lambda m: m["text"] == text, timeout)

    async def wait_call(self, method: str, timeout: float = WAIT_S) -> Dict[str, Any]:
        async def find() -> Dict[str, Any]:
            async with self.changed:
                while True:
                    for call in self.calls:
                        if call["method"] == method:
                            return call
                    await self.changed.wait()
        return await asyncio.wait_for(find(), timeout)

    async def wait_calls(self, predicate: Callable[[Dict[str, Any]], bool], count: int = 1,
                         timeout: float = WAIT_S) -> List[Dict[str, Any]]:
        """The first ``count`` calls matching (already made or to come)."""
        async def find() -> List[Dict[str, Any]]:
            async with self.changed:
                while True:
                    found = [c for c in self.calls if predicate(c)]
                    if len(found) >= count:
                        return found[:count]
                    await self.changed.wait()
        return await asyncio.wait_for(find(), timeout)

    def texts(self) -> List[str]:
        return [m["text"] for m in self.sent]

    # -- server side ---------------------------------------------------

    @staticmethod
    def ok(result: Any) -> web.Response:
        return web.json_response({"ok": True, "result": result})

    async def method(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != TOKEN:
            return web.json_response({"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401)
        name = request.match_info["method"]
        if request.content_type == "application/json":
            params = await request.json()
        else:
            params = {k: _parse(v) if isinstance(v, str) else v for k, v in (await request.post()).items()}
        async with self.changed:
            self.calls.append({"method": name, "params": params})
            self.changed.notify_all()
        handler = getattr(self, f"m_{name}", None)
        if handler is None:
            return web.json_response({"ok": False, "error_code": 404, "description": "Not Found"}, status=404)
        return await handler(params)

    async def m_getMe(self, params: Dict[str, Any]) -> web.Response:
        return self.ok({"id": BOT_ID, "is_bot": True, "first_name": "Tienda", "username": "tienda_test_bot",
                        "can_join_groups": True, "can_read_all_group_messages": False,
                        "supports_inline_queries": False})

    async def m_getUpdates(self, params: Dict[str, Any]) -> web.Response:
        offset = int(params.get("offset") or 0)
        timeout = float(params.get("timeout") or 0)
        limit = int(params.get("limit") or 100)

        async def pending() -> List[Dict[str, Any]]:
            async with self.changed:
                while True:
                    if offset:
                        self.updates = [u for u in self.updates if u["update_id"] >= offset]  # confirmed
                    if self.updates or timeout <= 0:
                        return self.updates[:limit]
                    await self.changed.wait()
        try:
            result = await asyncio.wait_for(pending(), max(timeout, 0.01))
        except asyncio.TimeoutError:
            result = []
        return self.ok(result)

    async def m_sendMessage(self, params: Dict[str, Any]) -> web.Response:
        if self.down:
            return web.json_response({"ok": False, "error_code": 502, "description": "Bad Gateway"}, status=502)
        if self.rate_limit_next > 0:
            self.rate_limit_next -= 1
            return web.json_response({"ok": False, "error_code": 429, "description": "Too Many Requests: retry after 1",
                                      "parameters": {"retry_after": 1}}, status=429)
        chat_id = int(params["chat_id"])
        if chat_id in self.blocked:
            return web.json_response({"ok": False, "error_code": 403,
                                      "description": "Forbidden: bot was blocked by the user"}, status=403)
        message = {"message_id": next(self._ids), "date": int(time.time()),
                   "chat": {"id": chat_id, "type": "private"}, "text": params["text"]}
        async with self.changed:
            self.sent.append({"chat_id": chat_id, "text": params["text"], "reply_markup": params.get("reply_markup"),
                              "message_id": message["message_id"]})
            self.changed.notify_all()
        return self.ok(message)

    async def _true(self, params: Dict[str, Any]) -> web.Response:
        return self.ok(True)

    m_sendChatAction = m_answerCallbackQuery = m_setWebhook = m_deleteWebhook = m_setMyCommands = _true
    m_editMessageReplyMarkup = _true

    async def m_getMyCommands(self, params: Dict[str, Any]) -> web.Response:
        return self.ok([])

    async def m_getFile(self, params: Dict[str, Any]) -> web.Response:
        file_id = str(params["file_id"])
        if file_id not in self.files:
            return web.json_response({"ok": False, "error_code": 400, "description": "Bad Request: invalid file_id"},
                                     status=400)
        return self.ok({"file_id": file_id, "file_unique_id": "u" + file_id, "file_size": len(self.files[file_id]),
                        "file_path": f"photos/{file_id}.jpg"})

    async def file(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != TOKEN:
            return web.Response(status=401)
        file_id = request.match_info["path"].split("/")[-1].rsplit(".", 1)[0]
        if file_id not in self.files:
            return web.Response(status=404)
        return web.Response(body=self.files[file_id], content_type="application/octet-stream")


@pytest_asyncio.fixture
async def bot_api() -> AsyncIterator[FakeBotApi]:
    api = FakeBotApi()
    runner = web.AppRunner(api.app(), shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    api.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
    try:
        yield api
    finally:
        async with api.changed:
            api.changed.notify_all()
        await runner.cleanup()


TelegramFactory = Callable[..., Awaitable[BridgeServer]]


@pytest_asyncio.fixture
async def start_telegram(bot_api: FakeBotApi, start_bridge: Any) -> TelegramFactory:
    """A bridge serving Telegram against the stand-in, connected (getMe answered)."""

    async def start(**overrides: Any) -> BridgeServer:
        values: Dict[str, Any] = dict(telegram_bot_token=TOKEN, telegram_api_base_url=bot_api.url,
                                      telegram_poll_timeout_s=1, telegram_timeout_s=3.0)
        values.update(overrides)
        server = await start_bridge(**values)
        assert server.telegram is not None
        await asyncio.wait_for(server.telegram.ready.wait(), WAIT_S)
        return server

    return start


# -- updates as Telegram sends them ---------------------------------------

_update_ids = itertools.count(500)
_message_ids = itertools.count(1)


def user(user_id: int = 777, first_name: str = "Lucía") -> Dict[str, Any]:
    return {"id": user_id, "is_bot": False, "first_name": first_name, "language_code": "es"}


def private_chat(chat_id: int = 777, first_name: str = "Lucía") -> Dict[str, Any]:
    return {"id": chat_id, "type": "private", "first_name": first_name}


def message_update(chat: Optional[Dict[str, Any]] = None, sender: Optional[Dict[str, Any]] = None,
                   update_id: Optional[int] = None, **content: Any) -> Dict[str, Any]:
    """A ``message`` update; content: text=..., contact=..., photo=..., location=..."""
    sender = sender or user()
    chat = chat or private_chat(sender["id"], sender["first_name"])
    message = {"message_id": next(_message_ids), "date": int(time.time()), "chat": chat, "from": sender, **content}
    if isinstance(content.get("text"), str) and content["text"].startswith("/"):
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(content["text"].split()[0])}]
    return {"update_id": update_id if update_id is not None else next(_update_ids), "message": message}


def callback_update(data: str, sender: Optional[Dict[str, Any]] = None, message_id: Optional[int] = None) -> Dict[str, Any]:
    """A button press; ``message_id``: the pressed message (as the stand-in sent it)."""
    sender = sender or user()
    return {"update_id": next(_update_ids), "callback_query": {
        "id": f"cq{next(_message_ids)}", "from": sender, "chat_instance": "ci-1", "data": data,
        "message": {"message_id": message_id if message_id is not None else next(_message_ids), "date": int(time.time()),
                    "chat": private_chat(sender["id"], sender["first_name"]), "text": "botones"}}}


def inline_buttons(message: Dict[str, Any]) -> List[Dict[str, Any]]:
    markup = message.get("reply_markup") or {}
    return [b for row in markup.get("inline_keyboard", []) for b in row]
