"""One port for everything: the two WebSocket endpoints and the plain HTTP
routes (/health, /metrics, static pages), on websockets' asyncio server.

Plain HTTP is answered from ``process_request`` (websockets 10 calls it before
the handshake; returning a response aborts the upgrade). ``GET /attachments/<id>``
serves customers' files to agents: a signed, expiring ``?exp=&sig=`` (the URLs
in agent frames) or ``Authorization: Bearer <agent token>``; anything else 403.
With TELEGRAM_BOT_TOKEN set the Telegram channel runs in this process and
loop (its webhook, if any, on its own port: websockets cannot read POST
bodies); with several bridges only the leader polls and sends. Origins are checked by
websockets itself (``origins=``, 403 otherwise); the socket is bound first so
that the default same-host origins name the real port even when port is 0.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
import gc
import html
import http
import json
import logging
import re
import socket
from collections import Counter
from functools import lru_cache
from pathlib import Path
from typing import Any, AsyncIterator, Dict, Optional, Tuple
from urllib.parse import parse_qs, quote, urlsplit
from zoneinfo import ZoneInfo

import websockets
import yaml
from websockets.datastructures import Headers
from websockets.legacy.server import HTTPResponse, WebSocketServer

from core.policy import join_es
from core.store.seed import DEMO_PATH
from handoff import reports
from handoff.agents import LoginRefused
from handoff.bridge import Bridge, Socket
from handoff.channels.console import handle_agent
from handoff.channels.telegram import TelegramChannel, TelegramChannelError
from handoff.channels.web import handle_chat
from handoff.frames import HARD_MAX_FRAME_BYTES
from handoff.http_endpoints import endpoint_protocol
from handoff.metrics import CONTENT_TYPE_LATEST
from handoff.settings import STATIC_DIR, HandoffSettings
from handoff.shop import shop_endpoints
from handoff.shop.notify import Notifier
from handoff.storage import Agent, StorageError
from handoff.texts import Texts

WARM_DAYS = 90  # the reports' longest usual range (the benchmark's 90 days)
# the garbage collector's thresholds once serving (CPython's default: 700, 10, 10); see settle_heap
GC_THRESHOLDS = (700, 10, 100)

logger = logging.getLogger(__name__)

STATIC_ROUTES: Dict[str, Tuple[str, str]] = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/widget.js": ("widget.js", "application/javascript; charset=utf-8"),
    "/agent": ("agent.html", "text/html; charset=utf-8"),
    "/agent.js": ("agent.js", "application/javascript; charset=utf-8"),
    "/agent.css": ("agent.css", "text/css; charset=utf-8"),
    # the supervisors' reports view (charts drawn by our own small SVG code)
    "/charts.js": ("charts.js", "application/javascript; charset=utf-8"),
    "/reports.js": ("reports.js", "application/javascript; charset=utf-8"),
    # the pages name it (<link rel="icon">); /favicon.ico for browsers that ask anyway
    "/favicon.svg": ("favicon.svg", "image/svg+xml"),
    "/favicon.ico": ("favicon.svg", "image/svg+xml"),
}
CANNED_REPLIES = Path(__file__).resolve().parent / "canned_replies.yml"
# The demo shop page quotes the store policy: {{key}} is one of its answer values.
POLICY_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")
TEXT_PLACEHOLDER = re.compile(r"\{\{t:(\w+)\}\}")
WS_ROUTES = ("/ws/chat", "/ws/agent")
ATTACHMENT_ROUTE = re.compile(r"^/attachments/(a_[0-9a-f]{24})$")
REPORTS_PREFIX = "/api/reports/"
JSON_TYPE = "application/json; charset=utf-8"
# Shown inline in the console; anything else is a download (never rendered as HTML).
INLINE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp", "application/pdf", "text/plain"})


def _bind(host: str, port: int) -> socket.socket:
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(address)
    sock.setblocking(False)
    return sock


def _json(status: http.HTTPStatus, body: Any, extra: Optional[list] = None) -> HTTPResponse:
    return (status, [("Content-Type", JSON_TYPE), ("Cache-Control", "no-store"), *(extra or [])],
            json.dumps(body, ensure_ascii=False).encode("utf-8"))


def _canned_replies(values: Dict[str, Any], path: Path = CANNED_REPLIES) -> HTTPResponse:
    """The agents' canned replies (handoff/canned_replies.yml) as JSON, in the
    store's voice (``values["brand_voice"]``), ``{{key}}`` filled from the
    policy's answer values (an unknown key stays visible)."""

    def filled(text: str) -> str:
        return POLICY_PLACEHOLDER.sub(lambda m: str(values.get(m.group(1), m.group(0))), text)

    usted = values.get("brand_voice") == "usted"
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        replies = [{"title": str(r["title"]), "text": filled(str(r.get("usted") if usted and r.get("usted") else r["text"]))}
                   for r in raw.get("replies") or []]
    except (OSError, yaml.YAMLError, KeyError, TypeError, AttributeError) as exc:
        logger.error("canned_replies_unreadable", extra={"error": type(exc).__name__})
        replies = []
    return (http.HTTPStatus.OK, [("Content-Type", "application/json; charset=utf-8"), ("Cache-Control", "no-store")],
            json.dumps({"replies": replies}, ensure_ascii=False).encode("utf-8"))


def fill_policy(page: bytes, values: Dict[str, str], texts: Optional[Texts] = None) -> bytes:
    """``{{key}}`` in a page becomes the policy value the bot's answers quote
    (HTML-escaped), so the demo shop never contradicts the bot; ``{{t:key}}``
    the shopper text of handoff/texts.py in the store's voice (``texts``), so
    the page speaks as the bot does. An unknown key stays as written (visible,
    and caught by tests/handoff/test_chat.py)."""
    known = set(texts.keys()) if texts is not None else set()
    page_text = TEXT_PLACEHOLDER.sub(
        lambda m: html.escape(texts[m.group(1)]) if texts is not None and m.group(1) in known else m.group(0),
        page.decode("utf-8"))
    return POLICY_PLACEHOLDER.sub(
        lambda m: html.escape(values[m.group(1)]) if m.group(1) in values else m.group(0),
        page_text).encode("utf-8")


@lru_cache(maxsize=4)
def demo_carriers(path: str = DEMO_PATH) -> Tuple[str, ...]:
    """The carriers the demo orders ship with (data/store/demo_store.json),
    the most used first: the demo shop page names these and no others. An
    unreadable file gives none (the page then says only "número de
    seguimiento")."""
    try:
        with open(path, encoding="utf-8") as fh:
            orders = json.load(fh).get("orders") or []
    except (OSError, ValueError, AttributeError) as exc:
        logger.error("demo_store_unreadable", extra={"error": type(exc).__name__})
        return ()
    counts = Counter(str(o["carrier"]) for o in orders if isinstance(o, dict) and o.get("carrier"))
    return tuple(name for name, _ in sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def page_values(policy_values: Dict[str, Any]) -> Dict[str, str]:
    """What the demo shop page's ``{{key}}`` placeholders quote: the policy's
    answer values plus ``carriers`` ("Con DHL, Correos… y número de seguimiento")
    from the demo orders."""
    carriers = list(demo_carriers())
    values = {key: str(value) for key, value in policy_values.items()}
    values["carriers"] = ("Con " + join_es(carriers, "o") + " y número de seguimiento." if carriers
                          else "Con número de seguimiento.")
    return values


VOICE_PLACEHOLDER = b'"__TIENDA_BRAND_VOICE__"'


def fill_voice(script: bytes, voice: str) -> bytes:
    """The widget speaks the store's voice: its strings exist in tú and usted,
    and the served copy names the one the policy chose (``brand_voice``)."""
    return script.replace(VOICE_PLACEHOLDER, json.dumps(voice).encode("utf-8"), 1)


def settle_heap() -> None:
    """The garbage collector for a process that holds many long-lived
    sessions, called once it serves. What start-up made (modules, compiled
    statements, the policy and texts: 120,000 objects) is frozen out of every
    later collection (``gc.freeze``), and a full collection, which walks
    every session's objects on the event loop (80-180 ms of CPU each with
    1,000 sessions on this machine, every 3-4 s under load: the relay's
    p99), waits for 100 middle ones instead of 10. The young generations keep
    CPython's thresholds: larger ones make each young collection a pause of
    its own (10,000 objects: 10-20 ms). Limits: a full collection still
    pauses the loop when it comes (twice in the minute of queueing and
    claiming 1,000 conversations, none in the relay runs measured), and an
    object frozen here that later becomes cyclic garbage is never freed
    (start-up objects live as long as the process anyway)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


class BridgeServer:
    """The bridge and its listening socket; ``start``/``stop`` for tests and main."""

    def __init__(self, settings: HandoffSettings, bridge: Optional[Bridge] = None, static_dir: Path = STATIC_DIR) -> None:
        self.settings = settings
        self.bridge = bridge or Bridge(settings)
        self.static_dir = static_dir
        self.port: int = settings.port
        self._server: Optional[WebSocketServer] = None
        self.telegram: Optional[TelegramChannel] = None
        self.notifier: Optional[Notifier] = None
        self.reports_warm: Optional["asyncio.Task[None]"] = None

    async def start(self) -> int:
        await self.bridge.start()
        if self.settings.telegram_bot_token:
            self.telegram = TelegramChannel(self.settings, self.bridge)
            try:
                if self.bridge.cluster.shared:  # polled and sent by whichever bridge leads
                    await self.telegram.attach()
                    await self.bridge.cluster.on_leadership(self.telegram.lead, self.telegram.unlead)
                else:
                    await self.telegram.start()
            except TelegramChannelError:
                await self.telegram.stop()
                self.telegram = None
                await self.bridge.stop()
                raise
        # order updates out (handoff/shop/notify.py): told by the leader only
        self.notifier = Notifier(self.bridge, self.telegram)
        self.notifier.attach()
        await self.bridge.cluster.on_leadership(self.notifier.lead, self.notifier.unlead)
        sock = _bind(self.settings.host, self.settings.port)
        self.port = sock.getsockname()[1]
        # Frames up to 1 MiB are read and, if too big for the bridge, answered
        # with an error frame (handoff/frames.py); only bigger ones close (1009).
        max_size = max(HARD_MAX_FRAME_BYTES, self.settings.max_frame_bytes)
        self._server = await websockets.serve(  # type: ignore[attr-defined]  # websockets 10 exports it lazily
            self.handler,
            sock=sock,
            process_request=self.process_request,
            create_protocol=endpoint_protocol(shop_endpoints(self.bridge)),  # POST /api/shop/events, /demo/identity
            origins=list(self.settings.origins_for(self.port)),
            max_size=max_size,
            max_queue=8,  # at most 8 unread frames buffered per socket (8 MiB)
            # No permessage-deflate: frames are small JSON, and each socket's
            # zlib contexts cost memory and every frame CPU (docs/benchmarks.md).
            compression=None,
            ping_interval=20,
            ping_timeout=20,
            close_timeout=5,
        )
        logger.info("bridge_listening", extra={"host": self.settings.host, "port": self.port})
        self.bridge.start_recovery()
        self.reports_warm = asyncio.create_task(self._warm_reports(), name="reports-warm")
        return self.port

    async def _warm_reports(self) -> None:
        """The settled days of the last WARM_DAYS days read once in the
        background after start, so that a supervisor's first report answers as
        fast as the next ones (handoff/report_cache.py keeps them; without the
        store's products, which are read per request anyway). A failure only
        leaves the first request slower."""
        now = self.bridge.clock()
        try:
            first = (now.astimezone(ZoneInfo(self.bridge.policy.timezone)).date()
                     - dt.timedelta(days=WARM_DAYS - 1))
            request = reports.parse_request({"from": [first.isoformat()]}, self.bridge.policy.timezone, now)
            await reports.summary(self.bridge.storage.run_read, None, request, self.bridge.policy, now)
        except StorageError as exc:
            logger.warning("reports_warm_failed", extra={"error": str(exc)})
        else:
            logger.info("reports_warmed", extra={"days": WARM_DAYS})

    async def stop(self) -> None:
        if self.reports_warm is not None:
            self.reports_warm.cancel()
            await asyncio.gather(self.reports_warm, return_exceptions=True)
            self.reports_warm = None
        if self.notifier is not None:
            await self.notifier.unlead()
            self.notifier = None
        if self.telegram is not None:
            await self.telegram.stop()
            self.telegram = None
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        await self.bridge.stop()

    async def serve_forever(self, stop: asyncio.Event) -> None:
        """The process's life (``python -m handoff``): start, settle the heap, serve until ``stop``."""
        await self.start()
        settle_heap()
        try:
            await stop.wait()
        finally:
            await self.stop()

    async def handler(self, ws: Socket) -> None:
        route = urlsplit(ws.path).path
        if route == "/ws/chat":
            await handle_chat(self.bridge, ws)
        elif route == "/ws/agent":
            await handle_agent(self.bridge, ws)
        else:
            await ws.close(1008, "unknown endpoint")

    async def process_request(self, path: str, headers: Headers) -> Optional[HTTPResponse]:
        route = urlsplit(path).path
        if route in WS_ROUTES:
            return None
        if route == "/health":
            code, health = await self.bridge.health()
            return (http.HTTPStatus(code), [("Content-Type", "application/json"), ("Cache-Control", "no-store")],
                    json.dumps(health).encode("utf-8"))
        if route == "/health/live":  # the load balancer's check: this bridge serves, whatever Rasa does
            return (http.HTTPStatus.OK, [("Content-Type", "application/json"), ("Cache-Control", "no-store")],
                    json.dumps({"status": "ok", "bridge": self.bridge.cluster.bridge_id}).encode("utf-8"))
        if route == "/metrics":
            return (http.HTTPStatus.OK, [("Content-Type", CONTENT_TYPE_LATEST)], self.bridge.metrics.exposition())
        found = ATTACHMENT_ROUTE.match(route)
        if found:
            try:
                return await self._attachment(found.group(1), urlsplit(path).query, headers)
            except StorageError as exc:
                logger.error("storage_error", extra={"error": str(exc)})
                return (http.HTTPStatus.SERVICE_UNAVAILABLE, [("Content-Type", "text/plain; charset=utf-8"),
                        ("Retry-After", "5")], "Base de datos no disponible; inténtalo de nuevo.\n".encode("utf-8"))
        if route.startswith(REPORTS_PREFIX):
            try:
                return await self._report(route[len(REPORTS_PREFIX):], urlsplit(path).query, headers)
            except StorageError as exc:
                logger.error("storage_error", extra={"error": str(exc)})
                return _json(http.HTTPStatus.SERVICE_UNAVAILABLE, {
                    "error": "storage_unavailable",
                    "detail": "Base de datos no disponible; inténtalo de nuevo (database unavailable)."},
                    [("Retry-After", "5")])
        if route == "/canned-replies.json":
            return await asyncio.to_thread(_canned_replies, self.bridge.policy.answer_slots())
        if route in STATIC_ROUTES:
            name, content_type = STATIC_ROUTES[route]
            try:
                body = await asyncio.to_thread((self.static_dir / name).read_bytes)
            except OSError as exc:
                logger.error("static_file_missing", extra={"file": name, "error": type(exc).__name__})
                return (http.HTTPStatus.NOT_FOUND, [("Content-Type", "text/plain")], b"Not found\n")
            if name == "index.html":
                body = fill_policy(body, page_values(self.bridge.policy.answer_slots()), self.bridge.texts)
            elif name == "widget.js":
                body = fill_voice(body, self.bridge.texts.voice)
            return (http.HTTPStatus.OK, [("Content-Type", content_type), ("X-Content-Type-Options", "nosniff")], body)
        return (http.HTTPStatus.NOT_FOUND, [("Content-Type", "text/plain")], b"Not found\n")

    def _current_connection(self) -> Optional[Any]:
        """process_request gets no socket: the connection is the one whose
        handler task is running this request."""
        task = asyncio.current_task()
        return next((ws for ws in (self._server.websockets if self._server else ()) if ws.handler_task is task), None)

    async def _report(self, name: str, query: str, headers: Headers) -> Optional[HTTPResponse]:
        """``/api/reports/summary`` and ``/api/reports/conversations.csv``:
        a supervisor's ``Authorization: Bearer`` token (401 without a valid
        one, 403 for an agent), never a token in the URL (not read)."""
        if name not in ("summary", "conversations.csv"):
            return _json(http.HTTPStatus.NOT_FOUND, {"error": "not_found", "detail": "No existe ese informe (no such report)."})
        auth = headers.get("Authorization", "")
        agent: Optional[Agent] = None
        if auth[:7].lower() == "bearer " and auth[7:].strip():
            connection = self._current_connection()
            peer = connection.remote_address if connection is not None else None
            try:
                agent = await self.bridge.authenticate(auth[7:].strip(), peer[0] if peer else None)
            except LoginRefused as refused:  # throttled: the token was not checked
                self.bridge.metrics.bad_frames.labels(refused.code).inc()
                return _json(http.HTTPStatus(refused.http_status), {"error": refused.code, "detail": refused.detail},
                             [("Retry-After", str(refused.retry_after_s))])
        if agent is None:
            return _json(http.HTTPStatus.UNAUTHORIZED, {
                "error": "unauthorized",
                "detail": "Hace falta el token de una persona supervisora en la cabecera Authorization: Bearer "
                          "(a supervisor token is required)."}, [("WWW-Authenticate", 'Bearer realm="reports"')])
        if agent.role != "supervisor":
            logger.info("report_refused", extra={"agent_id": agent.id, "report": name})
            return _json(http.HTTPStatus.FORBIDDEN, {
                "error": "forbidden", "detail": "Solo las personas supervisoras pueden ver los informes "
                                                "(supervisors only)."})
        now = self.bridge.clock()
        try:
            request = reports.parse_request(parse_qs(query), self.bridge.policy.timezone, now)
        except reports.ReportRequestError as exc:
            return _json(http.HTTPStatus.BAD_REQUEST, {"error": exc.code, "detail": exc.detail})
        logger.info("report_requested", extra={"agent_id": agent.id, "report": name,
                                               "from": request.first_day.isoformat(), "to": request.last_day.isoformat()})
        if name == "summary":
            body = await reports.summary(self.bridge.storage.run_read, self.bridge.store, request, self.bridge.policy, now)
            return _json(http.HTTPStatus.OK, body)
        return await self._stream(reports.csv_chunks(self.bridge.storage.run_read, request, self.bridge.policy, now),
                                  "text/csv; charset=utf-8", "conversations.csv")

    async def _stream(self, chunks: AsyncIterator[bytes], content_type: str, filename: str) -> Optional[HTTPResponse]:
        """A chunked response written straight to the connection, one chunk as
        each is made (websockets' process_request can only answer whole
        bodies): nothing but the current chunk is held. The connection is
        closed after it; an error midway aborts it, so the client sees an
        incomplete body rather than a short file that looks whole."""
        connection = self._current_connection()
        if connection is None:  # cannot happen while serving; answer whole rather than fail
            body = b"".join([chunk async for chunk in chunks])
            return (http.HTTPStatus.OK, [("Content-Type", content_type)], body)
        connection.write_http_response(http.HTTPStatus.OK, Headers([
            ("Date", email.utils.formatdate(usegmt=True)),
            ("Content-Type", content_type),
            ("Content-Disposition", f'attachment; filename="{filename}"'),
            ("Transfer-Encoding", "chunked"),
            ("Cache-Control", "no-store"),
            ("X-Content-Type-Options", "nosniff"),
            ("Connection", "close"),
        ]))
        transport = connection.transport
        try:
            async for chunk in chunks:
                if chunk:
                    transport.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    await connection._drain()  # the client's pace: at most a chunk or two buffered
            transport.write(b"0\r\n\r\n")
            transport.close()
        except (ConnectionError, StorageError, asyncio.CancelledError) as exc:
            logger.warning("stream_aborted", extra={"error": type(exc).__name__})
            transport.abort()
            if isinstance(exc, asyncio.CancelledError):
                raise
        except Exception:
            logger.exception("stream_failed")
            transport.abort()
        try:
            await asyncio.wait_for(asyncio.shield(connection.connection_lost_waiter), 10)
        except asyncio.TimeoutError:
            transport.abort()
        # the connection is closed now: websockets drops it without another answer
        return None

    async def _attachment(self, attachment_id: str, query: str, headers: Headers) -> HTTPResponse:
        """A customer's file for an agent; 403 without a valid signature or agent token."""
        params = parse_qs(query)
        allowed = self.bridge.attachment_url_valid(
            attachment_id, (params.get("exp") or [""])[0], (params.get("sig") or [""])[0])
        if not allowed:
            auth = headers.get("Authorization", "")
            if auth.startswith("Bearer "):
                # process_request gets no socket: the connection is the one
                # whose handler task is running this request.
                task = asyncio.current_task()
                peer = next((ws.remote_address for ws in (self._server.websockets if self._server else ())
                             if ws.handler_task is task), None)
                try:
                    agent = await self.bridge.authenticate(auth[len("Bearer "):].strip(), peer[0] if peer else None)
                except LoginRefused as refused:  # throttled: the token was not checked
                    self.bridge.metrics.bad_frames.labels(refused.code).inc()
                    return (http.HTTPStatus(refused.http_status), [
                        ("Content-Type", "text/plain; charset=utf-8"), ("Retry-After", str(refused.retry_after_s)),
                    ], refused.text.encode("utf-8"))
                allowed = agent is not None
        if not allowed:
            logger.info("attachment_refused", extra={"attachment_id": attachment_id})
            return (http.HTTPStatus.FORBIDDEN, [("Content-Type", "text/plain")], b"Forbidden\n")
        stored = await self.bridge.storage.get_attachment(attachment_id)
        if stored is None:
            return (http.HTTPStatus.NOT_FOUND, [("Content-Type", "text/plain")], b"Not found\n")
        attachment, body = stored
        inline = attachment.content_type in INLINE_TYPES
        disposition = "inline" if inline else "attachment"
        return (http.HTTPStatus.OK, [
            ("Content-Type", attachment.content_type if inline else "application/octet-stream"),
            ("Content-Disposition", f"{disposition}; filename*=UTF-8''{quote(attachment.name, safe='')}"),
            ("X-Content-Type-Options", "nosniff"),
            ("Content-Security-Policy", "default-src 'none'; img-src 'self'; sandbox"),
            ("Cache-Control", "private, max-age=300"),
        ], body)
