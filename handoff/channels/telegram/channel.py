"""Telegram: one more channel of the bridge, in the bridge's process and loop.

Why here and not a second bot: customer texts go through ``Bridge`` exactly
like the web widget's (same state machine, locks, storage, Rasa calls, agent
queue); the bridge hands customer frames back through a *customer sink*
(``Bridge.add_customer_sink``) that turns them into Telegram messages.

How it talks to Telegram: python-telegram-bot (PTB) v22 ``Application`` with one
``TypeHandler`` for every update. Long polling by default; with
TELEGRAM_WEBHOOK_URL, a small aiohttp server on TELEGRAM_WEBHOOK_PORT (the
bridge's websockets server cannot read POST bodies) checks Telegram's
``X-Telegram-Bot-Api-Secret-Token`` header (403 otherwise) and feeds the update
to ``Application.process_update`` before answering 200, so a crash before the
answer makes Telegram deliver it again.

Faults:
- outgoing messages go through an SQL *outbox* (stored before sending, marked
  sent after; RetryAfter waits the delay Telegram asked for, network errors
  back off; at most TELEGRAM_OUTBOX_MAX_ATTEMPTS tries; unsent rows are sent
  after a restart, in order per chat);
- processed ``update_id`` s are stored: a redelivered update is skipped, and
  at start (polling) ``getUpdates(offset=last+1)`` confirms them to Telegram;
  customer messages also carry ``client_id = tg:<update_id>`` (stored once);
- Telegram unreachable: the channel keeps retrying in the background and the
  web channel is unaffected (nothing here blocks the bridge's start or locks).

Several bridges (handoff/cluster.py): every bridge *attaches* the channel
(its sink turns frames of Telegram conversations into outbox rows wherever
they are made, so nothing waits on one process), and only the cluster's
leader *leads* it: polls (or serves the webhook) and sends the outbox. When
the leader dies another bridge leads within HANDOFF_LEADER_TTL_S and sends
what was stored meanwhile.

Limits: one leading bridge per bot token (Telegram allows one poller); a
message Telegram received but whose answer timed out may be sent twice (the
Bot API has no idempotency key); edited messages are ignored; only private
chats are served.
"""
from __future__ import annotations

import asyncio
import collections
import datetime as dt
import hmac
import logging
import secrets
from typing import Awaitable, DefaultDict, Dict, Optional, Set
from urllib.parse import urlsplit

from aiohttp import web
from telegram import (
    Update,
)
from telegram.error import InvalidToken, NetworkError, TelegramError
from telegram.ext import Application, ApplicationBuilder, ContextTypes, TypeHandler

from handoff.bridge import Bridge
from handoff.channels.telegram.base import TelegramChannelError
from handoff.channels.telegram.consent import ConsentStore
from handoff.channels.telegram.constants import (
    ALLOWED_UPDATES,
    OUTBOX_SIGNAL,
    SECRET_HEADER,
    WEBHOOK_BODY_LIMIT,
)
from handoff.channels.telegram.incoming import Incoming
from handoff.channels.telegram.pacing import Pacer
from handoff.channels.telegram.store import TelegramStore
from handoff.settings import HandoffSettings

logger = logging.getLogger(__name__)


class TelegramChannel(Incoming):
    """Starts PTB inside the bridge's loop; ``start``/``stop`` (or ``attach``
    and ``lead``/``unlead``, with several bridges) from BridgeServer."""

    def __init__(self, settings: HandoffSettings, bridge: Bridge) -> None:
        self.settings = settings
        self.bridge = bridge
        self.db = TelegramStore(bridge)
        self.consent = ConsentStore(bridge)
        self.pacer = Pacer(settings.telegram_send_per_s, settings.telegram_chat_send_per_s)
        self.outbox_listeners = []
        self.webhook_secret = settings.telegram_webhook_secret or secrets.token_urlsafe(32)
        self.webhook_port: Optional[int] = None
        self.application: Application = self._build()
        self.ready = asyncio.Event()          # PTB initialized: Telegram answered getMe
        self._chat_of: Dict[str, int] = {}    # conversation id → chat id
        self._conversation_of: Dict[int, str] = {}
        self._locks: DefaultDict[int, asyncio.Lock] = collections.defaultdict(asyncio.Lock)
        self._wake = asyncio.Event()
        self._not_telegram: Set[str] = set()  # conversations known to be of other channels
        self._leading = False
        self._led_before = False
        self._tasks: Set[asyncio.Task] = set()
        self._connect_task: Optional[asyncio.Task] = None
        self._outbox_task: Optional[asyncio.Task] = None
        self._runner: Optional[web.AppRunner] = None


    def _build(self) -> Application:
        """PTB with every request bounded by TELEGRAM_TIMEOUT_S (long polls by the
        poll timeout plus that) and the API base URL from TELEGRAM_API_BASE_URL."""
        s = self.settings
        base = s.telegram_api_base_url.rstrip("/")
        t = s.telegram_timeout_s
        builder = (
            ApplicationBuilder()
            .token(s.telegram_bot_token)
            .base_url(f"{base}/bot")
            .base_file_url(f"{base}/file/bot")
            .connect_timeout(t).read_timeout(t).write_timeout(t).pool_timeout(t)
            .media_write_timeout(max(t, 20.0))
            .get_updates_connect_timeout(t).get_updates_pool_timeout(t).get_updates_write_timeout(t)
            .get_updates_read_timeout(s.telegram_poll_timeout_s + t)
            .concurrent_updates(True)
            .job_queue(None)
        )
        if self.webhook_mode:
            builder = builder.updater(None)
        application = builder.build()
        application.add_handler(TypeHandler(Update, self._on_update))
        application.add_error_handler(self._on_error)
        return application


    # -- life cycle --------------------------------------------------------

    async def start(self) -> None:
        """One bridge: attach, then lead (a taken webhook port stops the start)."""
        await self.attach()
        await self.lead()

    async def attach(self) -> None:
        """On every bridge: the sink that turns frames of Telegram conversations
        into outbox rows, and the signal that wakes the leader's sender."""
        for noisy in ("httpx", "httpcore"):  # their INFO lines carry the URL, and so the token
            logging.getLogger(noisy).setLevel(logging.WARNING)
        self._chat_of = await self.db.chats()  # the tables are there: Bridge.start migrated the database
        self._conversation_of = {chat: cid for cid, chat in self._chat_of.items()}
        self.bridge.add_customer_sink(self._on_frame)
        self.bridge.on_signal(OUTBOX_SIGNAL, self._wake.set)

    async def lead(self) -> None:
        """On the leading bridge only: old rows pruned, the webhook port (bound
        now: a taken port fails the step), then connect to Telegram in the
        background (an outage never blocks) and send the outbox."""
        if self._leading:
            return
        if self._led_before:  # PTB's Application does not start twice: a new one
            self.application = self._build()
        self._leading = self._led_before = True
        try:
            await self.db.prune()
            self._chat_of.update(await self.db.chats())  # chats another leader opened
            self._conversation_of = {chat: cid for cid, chat in self._chat_of.items()}
            if self.webhook_mode:
                await self._start_webhook_server()
        except BaseException:
            self._leading = False
            raise
        self._connect_task = asyncio.create_task(self._connect(), name="telegram-connect")
        logger.info("telegram_channel_started", extra={"mode": "webhook" if self.webhook_mode else "polling"})

    async def stop(self) -> None:
        """Detach the sink, then stop leading."""
        self.bridge.remove_customer_sink(self._on_frame)
        await self.unlead()

    async def unlead(self) -> None:
        """Stop taking updates, finish the ones being processed, stop sending.

        Each step is bounded (``_stop_step``): PTB's ``Updater.stop`` and
        ``Application.stop`` wait for the polling task and for every update
        being handled, and either can wait forever on a dead connection or a
        stuck handler (python-telegram-bot#3893), which would keep the bridge
        from stopping. A step past its bound is logged and left; the
        unfinished updates are not marked processed, so they come again."""
        if not self._leading:
            return
        self._leading = False
        if self._connect_task is not None:
            self._connect_task.cancel()
            await asyncio.gather(self._connect_task, return_exceptions=True)
        if self._runner is not None:
            await self._stop_step("webhook_server", self._runner.cleanup())
            self._runner = None
        updater = self.application.updater
        if updater is not None and updater.running:
            await self._stop_step("updater", updater.stop())
        if self.application.running:
            await self._stop_step("application", self.application.stop())
        for task in [self._outbox_task, *self._tasks]:
            if task is not None:
                task.cancel()
        await asyncio.gather(*[t for t in [self._outbox_task, *self._tasks] if t is not None], return_exceptions=True)
        self._outbox_task = self._connect_task = None
        if self.ready.is_set():
            await self._stop_step("shutdown", self.application.shutdown())
        self.ready.clear()
        logger.info("telegram_channel_stopped")

    @property
    def stop_step_s(self) -> float:
        """How long one step of ``stop`` may take: a long poll, a Rasa answer
        and two Telegram requests (what an update being handled may still need)."""
        s = self.settings
        return s.telegram_poll_timeout_s + s.rasa_timeout_s + 2 * s.telegram_timeout_s

    async def _stop_step(self, step: str, work: Awaitable[None]) -> None:
        try:
            await asyncio.wait_for(work, self.stop_step_s)
        except asyncio.TimeoutError:
            logger.error("telegram_stop_step_timed_out", extra={"step": step, "after_s": self.stop_step_s})
        except (TelegramError, RuntimeError) as exc:  # PTB refuses a step its state no longer allows
            logger.warning("telegram_stop_step_failed", extra={"step": step, "error": type(exc).__name__})

    async def _backoff(self, what: str, attempt: int, exc: Exception) -> None:
        delay = min(60.0, 2.0 ** min(attempt, 6))
        logger.warning("telegram_unreachable", extra={"step": what, "error": type(exc).__name__, "retry_in_s": delay})
        await asyncio.sleep(delay)

    async def _connect(self) -> None:
        """getMe until it answers, then start PTB, the outbox, and polling or setWebhook."""
        attempt = 0
        while True:
            try:
                await self.application.initialize()
                break
            except InvalidToken:
                logger.error("telegram_invalid_token")
                return
            except NetworkError as exc:
                attempt += 1
                await self._backoff("getMe", attempt, exc)
        await self.application.start()
        self.ready.set()
        self._outbox_task = asyncio.create_task(self._outbox_loop(), name="telegram-outbox")
        await self._set_commands()
        if self.webhook_mode:
            attempt = 0
            while True:
                try:
                    await self.bot.set_webhook(self.settings.telegram_webhook_url, secret_token=self.webhook_secret,
                                               allowed_updates=ALLOWED_UPDATES)
                    break
                except NetworkError as exc:
                    attempt += 1
                    await self._backoff("setWebhook", attempt, exc)
        else:
            await self._confirm_processed()
            assert self.application.updater is not None
            await self.application.updater.start_polling(
                timeout=dt.timedelta(seconds=self.settings.telegram_poll_timeout_s),
                allowed_updates=ALLOWED_UPDATES, bootstrap_retries=-1, error_callback=self._polling_error)
        logger.info("telegram_connected", extra={"username": self.bot.username})

    async def _set_commands(self) -> None:
        try:
            await self.bot.set_my_commands([("start", "Empezar"), ("ayuda", "Qué puedo hacer"),
                                            ("agente", "Hablar con una persona"),
                                            ("silencio", "No recibir avisos de pedidos"),
                                            ("avisos", "Recibir avisos de pedidos")])
        except TelegramError as exc:
            logger.warning("telegram_set_commands_failed", extra={"error": type(exc).__name__})

    async def _confirm_processed(self) -> None:
        """Polling: tell Telegram the updates already processed before a restart
        (getUpdates with offset = last processed + 1 confirms every earlier one)."""
        last = await self.db.last_update_id()
        if last is None:
            return
        try:
            await self.bot.get_updates(offset=last + 1, limit=1, timeout=dt.timedelta(seconds=0),
                                       allowed_updates=ALLOWED_UPDATES)
        except TelegramError as exc:
            logger.warning("telegram_confirm_failed", extra={"error": type(exc).__name__})

    def _polling_error(self, exc: TelegramError) -> None:
        logger.warning("telegram_polling_error", extra={"error": type(exc).__name__})

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        error = context.error
        logger.error("telegram_handler_error", extra={"error": type(error).__name__ if error else None},
                     exc_info=error)

    # -- webhook -----------------------------------------------------------

    async def _start_webhook_server(self) -> None:
        app = web.Application(client_max_size=WEBHOOK_BODY_LIMIT)
        path = urlsplit(self.settings.telegram_webhook_url).path or "/"
        app.router.add_post(path, self._webhook)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=5.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.settings.host, self.settings.telegram_webhook_port)
        try:
            await site.start()
        except OSError as exc:
            await self._runner.cleanup()
            self._runner = None
            raise TelegramChannelError(f"cannot listen on TELEGRAM_WEBHOOK_PORT "
                                       f"{self.settings.telegram_webhook_port}: {exc.strerror}") from exc
        server = site._server  # aiohttp exposes the bound socket only here
        sockets = getattr(server, "sockets", None) or []
        self.webhook_port = sockets[0].getsockname()[1] if sockets else self.settings.telegram_webhook_port
        logger.info("telegram_webhook_listening", extra={"host": self.settings.host, "port": self.webhook_port,
                                                         "path": path})

    async def _webhook(self, request: web.Request) -> web.Response:
        """403 without the right secret (nothing read); 503 until PTB is ready;
        200 once the update is processed (an error answer makes Telegram resend)."""
        given = request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode("utf-8"), self.webhook_secret.encode("utf-8")):
            logger.warning("telegram_webhook_forbidden")
            return web.Response(status=403, text="Forbidden")
        if not self.ready.is_set():
            return web.Response(status=503, text="Not ready")
        try:
            data = await request.json()
        except ValueError:
            return web.Response(status=400, text="Bad JSON")
        if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
            return web.Response(status=400, text="Not an update")
        try:
            update = Update.de_json(data, self.bot)
        except (KeyError, TypeError, ValueError):
            logger.warning("telegram_webhook_bad_update")
            return web.Response(status=400, text="Not an update")
        await self.application.process_update(update)
        return web.Response(status=200, text="ok")
