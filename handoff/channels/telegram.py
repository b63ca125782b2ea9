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
import contextlib
import datetime as dt
import hmac
import json
import logging
import secrets
import warnings
from typing import Any, Awaitable, DefaultDict, Dict, List, Optional, Sequence, Set, Tuple
from urllib.parse import urlsplit

from aiohttp import web
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from telegram import (
    Bot,
    Chat,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
    User,
)
from telegram.constants import ChatAction
from telegram.error import BadRequest, Forbidden, InvalidToken, NetworkError, RetryAfter, TelegramError
from telegram.ext import Application, ApplicationBuilder, ContextTypes, TypeHandler
from telegram.warnings import PTBDeprecationWarning

from core.store import StoreError
from handoff.bridge import LEAVE_QUEUE, Bridge, Frame
from handoff.frames import MAX_TEXT, FrameError, clean_text
from handoff.settings import HandoffSettings
from handoff.storage import Attachment, StorageError, utcnow
from handoff.texts import TU, Texts, keep_amounts, wait_text

logger = logging.getLogger(__name__)

CHANNEL = "telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
ALLOWED_UPDATES = ["message", "callback_query"]
TELEGRAM_TEXT_LIMIT = 4096
CALLBACK_PREFIX = "b:"
CSAT_PREFIX = "csat:"
NPS_PREFIX = "nps:"
NPS_PER_ROW = 6  # 0-5 and 6-10: eleven buttons do not fit one row
LEAVE_CALLBACK = "q:leave"  # "Volver al asistente" under the queued notice
UPDATES_KEPT = dt.timedelta(days=7)
BUTTONS_KEPT = dt.timedelta(days=30)
MAX_BACKOFF_S = 300.0
WEBHOOK_BODY_LIMIT = 1024 * 1024
OUTBOX_SIGNAL = "telegram_outbox"  # any bridge stored outbox rows: the leader sends them
NOT_TELEGRAM_KEPT = 50_000

# -- what customers read (Spanish) ----------------------------------------

# The tú texts under their old names; what is sent follows the store's voice
# (handoff/texts.py, ``TelegramChannel.texts``).
CONTACT_PROMPT = TU["tg_contact_prompt"]
CONTACT_BUTTON = "📱 Compartir mi teléfono"
CONTACT_NOT_OWN = TU["tg_contact_not_own"]
CONTACT_VERIFIED = TU["tg_contact_verified"]
CONTACT_UNKNOWN = TU["tg_contact_unknown"]
CONTACT_STORE_DOWN = TU["tg_contact_store_down"]
GROUP_TEXT = TU["tg_group"]
UNSUPPORTED_TEXT = TU["tg_unsupported"]
TOO_BIG = TU["tg_too_big"]
DOWNLOAD_FAILED = TU["tg_download_failed"]
NOT_PROCESSED = TU["tg_not_processed"]
BUTTON_GONE = TU["tg_button_gone"]
STEP_OVER = TU["tg_step_over"]
CSAT_TEXT = TU["csat_ask_team"]  # the bridge's csat_request names the agent: TU.get("csat_ask", agent=...)
CSAT_NOT_PENDING = TU["tg_csat_not_pending"]
QUEUED_TEXT = TU["tg_queued"]
QUEUED_WAIT = TU["tg_queued_wait"]
ASSIGNED_TEXT = TU["tg_assigned"]



def help_text(texts: Texts, store: str) -> str:
    """The channel's help (/ayuda, /start's second line) in ``texts``' voice."""
    return texts.get("tg_help", store=store)

class TelegramChannelError(Exception):
    """The Telegram channel cannot start (e.g. its webhook port is taken)."""


class AttachmentRefused(TelegramChannelError):
    """A file the channel will not store; ``text`` tells the customer why (Spanish)."""

    def __init__(self, text: str) -> None:
        super().__init__("attachment refused")
        self.text = text


# -- the channel's tables (same database; made by migrations/) --------------

metadata = MetaData()

chats_table = Table(
    "handoff_telegram_chats",
    metadata,
    Column("chat_id", BigInteger, primary_key=True, autoincrement=False),
    Column("conversation_id", String(40), nullable=True, unique=True),  # NULL: a refused group chat
    Column("kind", String(16), nullable=False),
    Column("announced_state", String(10), nullable=True),  # last handoff state told to the customer
    Column("created_at", DateTime(timezone=True), nullable=False),
)

updates_table = Table(
    "handoff_telegram_updates",
    metadata,
    Column("update_id", BigInteger, primary_key=True, autoincrement=False),
    Column("processed_at", DateTime(timezone=True), nullable=False, index=True),
)

outbox_table = Table(
    "handoff_telegram_outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("chat_id", BigInteger, nullable=False, index=True),
    Column("conversation_id", String(40), nullable=True),
    Column("source_key", String(64), nullable=True, unique=True),  # m:<message id>: queued once
    Column("body", Text, nullable=False),                          # JSON: text + markup description
    Column("status", String(10), nullable=False, index=True),      # pending | sent | failed
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("last_error", String(120), nullable=True),
    Column("telegram_message_id", BigInteger, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("sent_at", DateTime(timezone=True), nullable=True),
)

buttons_table = Table(
    "handoff_telegram_buttons",
    metadata,
    Column("id", String(16), primary_key=True),  # callback_data is "b:<id>" (Telegram allows 64 bytes)
    Column("conversation_id", String(40), nullable=False, index=True),
    Column("title", Text, nullable=False),
    Column("payload", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # the bridge message the button belongs to (the bridge decides whether its step is over);
    # NULL for rows stored before this column existed: such a press acts as before
    Column("message_id", String(20), nullable=True),
)


def _utc(value: Optional[dt.datetime]) -> Optional[dt.datetime]:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


class TelegramStore:
    """The channel's SQL, each call one transaction on the bridge's engine."""

    def __init__(self, bridge: Bridge) -> None:
        self.storage = bridge.storage

    # chats
    async def chats(self) -> Dict[str, int]:
        """conversation id → chat id of every served chat."""
        def work(conn: Connection) -> Dict[str, int]:
            rows = conn.execute(select(chats_table.c.chat_id, chats_table.c.conversation_id)
                                .where(chats_table.c.conversation_id.is_not(None))).all()
            return {r.conversation_id: int(r.chat_id) for r in rows}
        return await self.storage.run(work)

    async def chat(self, chat_id: int) -> Optional[Tuple[Optional[str], str]]:
        """(conversation id, kind) of a known chat."""
        def work(conn: Connection) -> Optional[Tuple[Optional[str], str]]:
            row = conn.execute(select(chats_table).where(chats_table.c.chat_id == chat_id)).first()
            return (row.conversation_id, row.kind) if row else None
        return await self.storage.run(work)

    async def chat_of(self, conversation_id: str) -> Optional[int]:
        """The chat id of a conversation, if it is a Telegram one."""
        def work(conn: Connection) -> Optional[int]:
            row = conn.execute(select(chats_table.c.chat_id)
                               .where(chats_table.c.conversation_id == conversation_id)).first()
            return int(row.chat_id) if row else None
        return await self.storage.run(work)

    async def add_chat(self, chat_id: int, conversation_id: Optional[str], kind: str) -> None:
        def work(conn: Connection) -> None:
            conn.execute(insert(chats_table).values(chat_id=chat_id, conversation_id=conversation_id,
                                                    kind=kind, created_at=utcnow()))
        await self.storage.run(work)

    async def swap_announced(self, chat_id: int, state: str) -> Optional[str]:
        """Set the announced handoff state; the previous one."""
        def work(conn: Connection) -> Optional[str]:
            before = conn.execute(select(chats_table.c.announced_state)
                                  .where(chats_table.c.chat_id == chat_id)).scalar()
            conn.execute(update(chats_table).where(chats_table.c.chat_id == chat_id).values(announced_state=state))
            return before
        return await self.storage.run(work)

    # processed updates
    async def seen(self, update_id: int) -> bool:
        def work(conn: Connection) -> bool:
            return conn.execute(select(updates_table.c.update_id)
                                .where(updates_table.c.update_id == update_id)).first() is not None
        return await self.storage.run(work)

    async def mark(self, update_id: int) -> None:
        def work(conn: Connection) -> None:
            conn.execute(insert(updates_table).values(update_id=update_id, processed_at=utcnow()))
        try:
            await self.storage.run(work)
        except IntegrityError:
            logger.debug("telegram_update_marked_twice")

    async def last_update_id(self) -> Optional[int]:
        def work(conn: Connection) -> Optional[int]:
            value = conn.execute(select(func.max(updates_table.c.update_id))).scalar()
            return int(value) if value is not None else None
        return await self.storage.run(work)

    async def prune(self) -> None:
        """Forget processed updates and sent messages older than a week (Telegram
        keeps undelivered updates 24 h), keeping the latest update id for the
        polling offset; buttons older than BUTTONS_KEPT stop working."""
        def work(conn: Connection) -> None:
            now = utcnow()
            latest = conn.execute(select(func.max(updates_table.c.update_id))).scalar()
            conn.execute(delete(updates_table).where(and_(
                updates_table.c.processed_at < now - UPDATES_KEPT, updates_table.c.update_id != latest)))
            conn.execute(delete(outbox_table).where(and_(
                outbox_table.c.status == "sent", outbox_table.c.sent_at < now - UPDATES_KEPT)))
            conn.execute(delete(buttons_table).where(buttons_table.c.created_at < now - BUTTONS_KEPT))
        await self.storage.run(work)

    # buttons
    async def add_buttons(self, conversation_id: str, buttons: Sequence[Dict[str, str]],
                          message_id: Optional[str] = None) -> List[Tuple[str, str]]:
        """(title, callback_data) per button; payloads stay server-side."""
        def work(conn: Connection) -> List[Tuple[str, str]]:
            out = []
            for button in buttons:
                button_id = secrets.token_urlsafe(9)
                conn.execute(insert(buttons_table).values(
                    id=button_id, conversation_id=conversation_id, title=button["title"],
                    payload=button["payload"], created_at=utcnow(), message_id=message_id))
                out.append((button["title"], CALLBACK_PREFIX + button_id))
            return out
        return await self.storage.run(work)

    async def button(self, button_id: str) -> Optional[Tuple[str, str, str, Optional[str]]]:
        """(conversation id, title, payload, bridge message id)."""
        def work(conn: Connection) -> Optional[Tuple[str, str, str, Optional[str]]]:
            row = conn.execute(select(buttons_table).where(buttons_table.c.id == button_id)).first()
            return (row.conversation_id, row.title, row.payload, row.message_id) if row else None
        return await self.storage.run(work)

    async def live_keyboards(self, chat_id: int, before_row: Optional[int] = None,
                             leave: bool = False) -> List[Tuple[int, int]]:
        """(outbox row id, Telegram message id) of the chat's sent messages whose
        bot buttons are still shown (not the CSAT row), older than ``before_row``;
        with ``leave``, those of the queued notice's "Volver al asistente"
        instead (they stay while queued, whatever the customer writes)."""
        def work(conn: Connection) -> List[Tuple[int, int]]:
            query = select(outbox_table.c.id, outbox_table.c.body, outbox_table.c.telegram_message_id).where(and_(
                outbox_table.c.chat_id == chat_id, outbox_table.c.status == "sent",
                outbox_table.c.telegram_message_id.is_not(None)))
            if before_row is not None:
                query = query.where(outbox_table.c.id < before_row)
            out = []
            for row in conn.execute(query.order_by(outbox_table.c.id)).all():
                body = json.loads(row.body)
                if (body.get("inline") and not body.get("row") and not body.get("cleared")
                        and bool(body.get("leave")) == leave):
                    out.append((int(row.id), int(row.telegram_message_id)))
            return out
        return await self.storage.run(work)

    async def keyboard_cleared(self, row_id: int) -> None:
        def work(conn: Connection) -> None:
            body = json.loads(conn.execute(select(outbox_table.c.body).where(outbox_table.c.id == row_id)).scalar())
            body["cleared"] = True
            conn.execute(update(outbox_table).where(outbox_table.c.id == row_id)
                         .values(body=json.dumps(body, ensure_ascii=False)))
        await self.storage.run(work)

    # outbox
    async def enqueue(self, chat_id: int, conversation_id: Optional[str], body: Dict[str, Any],
                      source_key: Optional[str] = None) -> bool:
        """Store an outgoing message; False if ``source_key`` was already queued."""
        def work(conn: Connection) -> bool:
            if source_key is not None and conn.execute(select(outbox_table.c.id).where(
                    outbox_table.c.source_key == source_key)).first() is not None:
                return False
            now = utcnow()
            conn.execute(insert(outbox_table).values(
                chat_id=chat_id, conversation_id=conversation_id, source_key=source_key,
                body=json.dumps(body, ensure_ascii=False), status="pending", attempts=0,
                next_attempt_at=now, created_at=now))
            return True
        return await self.storage.run(work)

    async def heads(self, limit: int = 500) -> List[Dict[str, Any]]:
        """The oldest pending row of each chat (order per chat is kept)."""
        def work(conn: Connection) -> List[Dict[str, Any]]:
            rows = conn.execute(select(outbox_table).where(outbox_table.c.status == "pending")
                                .order_by(outbox_table.c.id).limit(limit)).all()
            heads: Dict[int, Dict[str, Any]] = {}
            for row in rows:
                if row.chat_id not in heads:
                    item = dict(row._mapping)
                    item["next_attempt_at"] = _utc(item["next_attempt_at"])
                    heads[row.chat_id] = item
            return list(heads.values())
        return await self.storage.run(work)

    async def sent(self, row_id: int, message_id: Optional[int]) -> None:
        def work(conn: Connection) -> None:
            conn.execute(update(outbox_table).where(outbox_table.c.id == row_id).values(
                status="sent", sent_at=utcnow(), telegram_message_id=message_id,
                attempts=outbox_table.c.attempts + 1))
        await self.storage.run(work)

    async def retry(self, row_id: int, attempts: int, delay_s: float, error: str, give_up: bool) -> None:
        def work(conn: Connection) -> None:
            conn.execute(update(outbox_table).where(outbox_table.c.id == row_id).values(
                status="failed" if give_up else "pending", attempts=attempts, last_error=error[:120],
                next_attempt_at=utcnow() + dt.timedelta(seconds=delay_s)))
        await self.storage.run(work)

    async def rows(self) -> List[Dict[str, Any]]:
        """Every outbox row (tests, diagnostics)."""
        def work(conn: Connection) -> List[Dict[str, Any]]:
            return [dict(r._mapping) for r in conn.execute(select(outbox_table).order_by(outbox_table.c.id)).all()]
        return await self.storage.run(work)


# -- helpers ----------------------------------------------------------------

def _retry_after_s(exc: RetryAfter) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, dt.timedelta) else float(value)


def _markup(body: Dict[str, Any]) -> Any:
    """The reply markup described in an outbox body."""
    if body.get("inline"):
        return InlineKeyboardMarkup([[InlineKeyboardButton(title, callback_data=data)]
                                     for title, data in body["inline"]])
    if body.get("contact"):
        return ReplyKeyboardMarkup([[KeyboardButton(CONTACT_BUTTON, request_contact=True)]],
                                   resize_keyboard=True, one_time_keyboard=True)
    if body.get("remove_keyboard"):
        return ReplyKeyboardRemove()
    return None


def _queued_text(frame: Frame, texts: Texts = TU) -> str:
    ahead = max(0, int(frame.get("position") or 1) - 1)
    if ahead == 0:
        text = texts["tg_queued_next"]
    else:
        text = texts.get("tg_queued", ahead="a 1 persona" if ahead == 1 else f"a {ahead} personas")
    wait = frame.get("wait_text") or wait_text(frame.get("estimated_wait_s"))  # "unos 5 minutos", as the widget
    if wait and not frame.get("offline"):
        text += texts.get("tg_queued_wait", wait=wait)
    # "Te respondemos antes de las 10:30." (the bridge's words, as the widget's); out of
    # hours the bridge's out-of-hours line says it, once
    if frame.get("promise_text") and not frame.get("offline"):
        text += " " + str(frame["promise_text"])
    return text


class TelegramChannel:
    """Starts PTB inside the bridge's loop; ``start``/``stop`` from BridgeServer."""

    def __init__(self, settings: HandoffSettings, bridge: Bridge) -> None:
        self.settings = settings
        self.bridge = bridge
        self.db = TelegramStore(bridge)
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

    @property
    def webhook_mode(self) -> bool:
        return bool(self.settings.telegram_webhook_url)

    @property
    def texts(self) -> Texts:
        """The channel's texts in the store's voice (the bridge's policy)."""
        return self.bridge.texts

    def _help(self) -> str:
        """/ayuda's text, naming the store (policy ``store_name``)."""
        return help_text(self.texts, self.bridge.policy.store_name)

    @property
    def bot(self) -> Bot:
        return self.application.bot

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
                                            ("agente", "Hablar con una persona")])
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

    # -- incoming ----------------------------------------------------------

    async def _on_update(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Every update, once: per chat in order (a lock per chat), skipped if
        already processed, marked processed only when handled."""
        chat = update.effective_chat
        async with self._locks[chat.id if chat else 0]:
            if await self.db.seen(update.update_id):
                logger.info("telegram_update_skipped", extra={"update_id": update.update_id})
                return
            try:
                await self._dispatch(update, chat)
            except (StorageError, TelegramError) as exc:
                logger.error("telegram_update_failed", extra={"update_id": update.update_id,
                                                               "error": type(exc).__name__})
                if chat is not None and chat.type == Chat.PRIVATE:
                    self._background(self._send_now(chat.id, self.texts["tg_not_processed"]))
                return  # not marked: a redelivery (or the next start) tries again
            except Exception:  # noqa: BLE001 - an update that breaks the code is answered, not retried forever
                logger.exception("telegram_update_crashed", extra={"update_id": update.update_id})
                if chat is not None and chat.type == Chat.PRIVATE:
                    self._background(self._send_now(chat.id, self.texts["tg_not_processed"]))
            await self.db.mark(update.update_id)

    async def _dispatch(self, update: Update, chat: Optional[Chat]) -> None:
        if chat is None:
            return
        if chat.type != Chat.PRIVATE:
            await self._refuse_group(chat, update)
            return
        if update.callback_query is not None:
            await self._on_callback(update, chat)
            return
        message = update.message
        if message is None or message.from_user is None:
            return
        conversation_id = await self._conversation(chat, message.from_user)
        client_id = f"tg:{update.update_id}"
        if message.text:
            await self._on_text(conversation_id, chat.id, message.text, client_id)
        elif message.contact is not None:
            await self._on_contact(conversation_id, chat.id, message)
        elif message.animation is None and (message.photo or message.document is not None):
            await self._on_file(conversation_id, chat.id, message, client_id)
        else:
            await self._send(chat.id, conversation_id, self.texts["tg_unsupported"])

    async def _conversation(self, chat: Chat, user: User) -> str:
        """The bridge conversation of this chat, created (and persisted) on first contact."""
        known = self._conversation_of.get(chat.id)
        if known:
            return known
        found = await self.db.chat(chat.id)
        if found is not None and found[0]:
            conversation_id = found[0]
        else:
            conversation, _ = await self.bridge.open_session(None, channel=CHANNEL)
            conversation_id = conversation.id
            await self.bridge.storage.set_profile(conversation_id, display_name=clean_text(user.first_name or ""))
            await self.db.add_chat(chat.id, conversation_id, chat.type)
        self._conversation_of[chat.id] = conversation_id
        self._chat_of[conversation_id] = chat.id
        return conversation_id

    async def _refuse_group(self, chat: Chat, update: Update) -> None:
        """A polite note the first time, then nothing (no conversation is opened)."""
        if update.callback_query is not None:
            await self._answer(update.callback_query.id, None)
        if await self.db.chat(chat.id) is not None:
            return
        await self.db.add_chat(chat.id, None, chat.type)
        logger.info("telegram_group_refused", extra={"chat_type": chat.type})
        await self._send(chat.id, None, self.texts["tg_group"])

    async def _on_text(self, conversation_id: str, chat_id: int, raw: str, client_id: str) -> None:
        text = clean_text(raw).strip()[:MAX_TEXT]  # as every channel's text (handoff.frames)
        if not text:
            await self._send(chat_id, conversation_id, self.texts["tg_unsupported"])
            return
        await self._clear_keyboards(chat_id)  # the customer wrote instead of pressing: those steps are over
        command = text.split()[0].split("@")[0].lower() if text.startswith("/") else None
        if command == "/start":
            await self.bridge.customer_message(conversation_id, None, text, "/greet", client_id)
            await self._offer_contact(chat_id, conversation_id)
        elif command in ("/ayuda", "/help"):
            await self.bridge.system_message(conversation_id, self._help())
            await self._offer_contact(chat_id, conversation_id)
        elif command == "/agente":
            await self.bridge.customer_message(conversation_id, None, text, "/request_human", client_id)
        elif command is not None:
            await self._send(chat_id, conversation_id, self.texts["tg_unknown_command"] + self._help())
        else:
            await self.bridge.customer_message(conversation_id, None, text, None, client_id)

    async def _offer_contact(self, chat_id: int, conversation_id: str) -> None:
        """The «Compartir mi teléfono» offer, only while the chat's customer is
        unknown: a chat verified (by its phone, or by an order and e-mail with
        the bot) is never asked to share the phone again."""
        conversation = await self.bridge.storage.get_conversation(conversation_id)
        if conversation.customer_id:
            return
        await self._send(chat_id, conversation_id, self.texts["tg_contact_prompt"], contact=True)

    async def _on_callback(self, update: Update, chat: Chat) -> None:
        query = update.callback_query
        assert query is not None
        conversation_id = await self._conversation(chat, query.from_user)
        data = clean_text(query.data or "")
        client_id = f"tg:{update.update_id}"
        if data == LEAVE_CALLBACK:
            # the bridge decides (queued: back to the bot; claimed meanwhile: the agent is told)
            await self._answer(query.id, None)
            await self._clear_keyboards(chat.id, leave=True)
            await self.bridge.customer_message(conversation_id, None, self.texts["btn_leave_queue"], LEAVE_QUEUE,
                                               client_id)
            return
        if data.startswith(CSAT_PREFIX) and data[len(CSAT_PREFIX):] in ("1", "2", "3", "4", "5"):
            rated = query.message.message_id if query.message is not None else None
            try:
                await self.bridge.customer_csat(conversation_id, int(data[len(CSAT_PREFIX):]), None)
            except FrameError:
                await self._answer(query.id, self.texts["tg_csat_not_pending"])
            else:
                await self._answer(query.id, None)  # the bridge's thanks in the chat is the one thank-you
            if rated is not None:  # rated (now or before): that 1-5 keyboard goes, the bot's stay
                await self._remove_keyboard(chat.id, rated)
            return
        if data.startswith(NPS_PREFIX) and data[len(NPS_PREFIX):] in [str(n) for n in range(11)]:
            try:
                await self.bridge.customer_nps(conversation_id, int(data[len(NPS_PREFIX):]))
            except FrameError:
                await self._answer(query.id, self.texts["tg_nps_not_pending"])
                return
            await self._answer(query.id, None)  # thanked once: by the bridge's line in the chat
            return
        found = await self.db.button(data[len(CALLBACK_PREFIX):]) if data.startswith(CALLBACK_PREFIX) else None
        if found is None or found[0] != conversation_id:
            await self._answer(query.id, self.texts["tg_button_gone"])
            return
        _, title, payload, reply_to = found
        # the bridge owns the rule (Bridge.button_live); asking first lets the
        # spinner stop at once with the right answer
        live = reply_to is None or await self.bridge.button_live(conversation_id, reply_to)
        await self._answer(query.id, None if live else self.texts["tg_step_over"])
        pressed = query.message.message_id if query.message is not None else None
        await self._clear_keyboards(chat.id, also=pressed)
        await self.bridge.customer_message(conversation_id, None, title, payload, client_id, reply_to)

    async def _clear_keyboards(self, chat_id: int, before_row: Optional[int] = None,
                               also: Optional[int] = None, leave: bool = False) -> None:
        """Remove the inline keyboards of finished steps (a button pressed, the
        customer wrote, or a newer message brought its own buttons): Telegram
        keeps showing them otherwise. With ``leave``: the "Volver al
        asistente" keyboards (the queue is over). Best effort: a keyboard that
        cannot be edited stays, and the bridge still refuses its presses; on a
        bridge that does not lead (no Bot API client there) nothing is cleared."""
        if not self.ready.is_set():
            return
        targets = await self.db.live_keyboards(chat_id, before_row, leave)
        if also is not None and also not in {m for _, m in targets}:
            targets.append((0, also))
        for row_id, message_id in targets:
            if await self._remove_keyboard(chat_id, message_id) and row_id:
                await self.db.keyboard_cleared(row_id)

    async def _remove_keyboard(self, chat_id: int, message_id: int) -> bool:
        """editMessageReplyMarkup without a markup; whether the keyboard is gone
        (best effort: False when Telegram could not be asked)."""
        try:
            await self.bot.edit_message_reply_markup(chat_id=chat_id, message_id=message_id, reply_markup=None)
        except BadRequest as exc:  # "message is not modified", "message to edit not found": nothing to clear
            logger.debug("telegram_keyboard_gone", extra={"error": str(exc)[:80]})
        except TelegramError as exc:
            logger.info("telegram_keyboard_not_cleared", extra={"error": type(exc).__name__})
            return False
        return True

    async def _answer(self, query_id: str, text: Optional[str]) -> None:
        """answerCallbackQuery (stops the button's spinner); best effort."""
        try:
            await self.bot.answer_callback_query(query_id, text=text)
        except TelegramError as exc:
            logger.info("telegram_answer_callback_failed", extra={"error": type(exc).__name__})

    async def _on_contact(self, conversation_id: str, chat_id: int, message: Message) -> None:
        """Only the customer's own contact (contact.user_id == sender) counts;
        a matching store customer becomes verified for this conversation."""
        contact = message.contact
        assert contact is not None and message.from_user is not None
        if contact.user_id is None or contact.user_id != message.from_user.id:
            logger.info("telegram_contact_not_own", extra={"conversation_id": conversation_id})
            await self._send(chat_id, conversation_id, self.texts["tg_contact_not_own"])
            return
        try:
            customer = await self.bridge.store.get_customer_by_phone(clean_text(contact.phone_number or ""))
        except StoreError as exc:
            logger.warning("telegram_contact_store_failed", extra={"error": type(exc).__name__})
            await self._send(chat_id, conversation_id, self.texts["tg_contact_store_down"], remove_keyboard=True)
            return
        if customer is None:
            logger.info("telegram_contact_unknown", extra={"conversation_id": conversation_id})
            await self._send(chat_id, conversation_id, self.texts["tg_contact_unknown"], remove_keyboard=True)
            return
        email = customer.email.lower()
        verified = {"id": str(customer.id), "name": customer.name, "email": email,
                    "verified_order_id": None, "verified_by": "telegram_phone"}
        slots = {"email": email, "verified_email": email, "customer_id": str(customer.id),
                 "customer_name": customer.name}
        await self.bridge.verify_customer(conversation_id, verified, slots)
        first_name = customer.name.split()[0] if customer.name else ""
        await self._send(chat_id, conversation_id, self.texts.get("tg_contact_verified", name=first_name),
                         remove_keyboard=True)

    async def _on_file(self, conversation_id: str, chat_id: int, message: Message, client_id: str) -> None:
        try:
            attachment = await self._download(conversation_id, message, client_id)
        except AttachmentRefused as refused:
            await self._send(chat_id, conversation_id, refused.text)
            return
        await self.bridge.customer_attachments(conversation_id, clean_text(message.caption or "")[:MAX_TEXT],
                                               [attachment], client_id)

    async def _download(self, conversation_id: str, message: Message, client_id: str) -> Attachment:
        """getFile + download, size-checked before and after (HANDOFF_MAX_ATTACHMENT_BYTES)."""
        limit = self.settings.max_attachment_bytes
        too_big = self.texts.get("tg_too_big", mb=max(1, limit // (1024 * 1024)))
        if message.photo:
            best = message.photo[-1]
            file_id, size = best.file_id, best.file_size
            kind, name, content_type = "photo", f"foto_{message.message_id}.jpg", "image/jpeg"
        else:
            document = message.document
            assert document is not None
            file_id, size = document.file_id, document.file_size
            kind, name = "document", clean_text(document.file_name or "") or f"documento_{message.message_id}"
            content_type = clean_text(document.mime_type or "") or "application/octet-stream"
        if size is not None and size > limit:
            raise AttachmentRefused(too_big)
        try:
            telegram_file = await self.bot.get_file(file_id)
            if telegram_file.file_size is not None and telegram_file.file_size > limit:
                raise AttachmentRefused(too_big)
            data = bytes(await telegram_file.download_as_bytearray())
        except BadRequest as exc:  # e.g. "file is too big" (the Bot API serves at most 20 MB)
            logger.info("telegram_file_refused", extra={"error": type(exc).__name__})
            raise AttachmentRefused(too_big) from exc
        except NetworkError as exc:
            logger.warning("telegram_file_download_failed", extra={"error": type(exc).__name__})
            raise AttachmentRefused(self.texts["tg_download_failed"]) from exc
        if len(data) > limit:
            raise AttachmentRefused(too_big)
        logger.info("telegram_attachment_stored", extra={"conversation_id": conversation_id, "kind": kind,
                                                         "size": len(data)})
        return await self.bridge.storage.add_attachment(conversation_id, kind, name, content_type, data, client_id)

    # -- outgoing ----------------------------------------------------------

    def _background(self, coroutine: Any) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _on_frame(self, conversation_id: str, frame: Frame) -> None:
        """The bridge's customer sink: frames of Telegram conversations become
        outbox rows (typing is a best-effort chat action)."""
        chat_id = await self._chat_for(conversation_id)
        if chat_id is None:
            return
        kind = frame.get("type")
        if kind == "message":
            text = keep_amounts(str(frame.get("text") or ""))  # "69,00 €" never splits on a phone
            if frame.get("sender") == "agent" and frame.get("agent_name"):
                text = f"{frame['agent_name']}: {text}"
            buttons = frame.get("buttons") or []
            inline = await self.db.add_buttons(conversation_id, buttons, str(frame.get("id"))) if buttons else []
            await self._send(chat_id, conversation_id, text, inline=inline, source_key=f"m:{frame.get('id')}")
        elif kind == "handoff":
            await self._on_handoff(chat_id, conversation_id, frame)
        elif kind == "csat_request":
            inline = [(str(n), f"{CSAT_PREFIX}{n}") for n in range(1, 6)]
            text = str(frame.get("text") or self.texts["csat_ask_team"])  # the bridge's words, as the widget's
            await self._send(chat_id, conversation_id, text, inline=inline, row=True)
        elif kind == "nps_request":
            inline = [(str(n), f"{NPS_PREFIX}{n}") for n in range(11)]
            text = str(frame.get("text") or self.texts["nps_ask"])
            await self._send(chat_id, conversation_id, text, inline=inline, row=True, per_row=NPS_PER_ROW)
        elif kind == "typing" and self.ready.is_set():
            self._background(self._typing(chat_id))

    async def _chat_for(self, conversation_id: str) -> Optional[int]:
        """The chat of a Telegram conversation. With other bridges, a chat the
        leader opened after this bridge attached is read from the database
        once; conversations of other channels are remembered as such."""
        chat_id = self._chat_of.get(conversation_id)
        if chat_id is not None or not self.bridge.cluster.shared or conversation_id in self._not_telegram:
            return chat_id
        chat_id = await self.db.chat_of(conversation_id)
        if chat_id is None:
            if len(self._not_telegram) > NOT_TELEGRAM_KEPT:
                self._not_telegram.clear()
            self._not_telegram.add(conversation_id)
        else:
            self._chat_of[conversation_id] = chat_id
        return chat_id

    async def _on_handoff(self, chat_id: int, conversation_id: str, frame: Frame) -> None:
        """Tell the customer when the handoff state changes (not every new
        wait estimate: the web widget shows those live, a chat would be spammed)."""
        state = str(frame.get("state"))
        before = await self.db.swap_announced(chat_id, state)
        if state == "queued" and before != "queued":
            # a way back to the bot while nobody has claimed it (not offered once claimed)
            await self._send(chat_id, conversation_id, _queued_text(frame, self.texts),
                             inline=[(self.texts["btn_leave_queue"], LEAVE_CALLBACK)], leave=True)
        elif state == "assigned":
            await self._clear_keyboards(chat_id, leave=True)
            await self._send(chat_id, conversation_id, self.texts.get(
                "tg_assigned", agent=frame.get("agent_name") or "Una persona del equipo"))
        elif state == "ended":
            await self._clear_keyboards(chat_id, leave=True)
            if frame.get("outcome") == "closed" and before != "ended":
                # the agent closed: the widget's divider, in the same words; leaving
                # the queue gets none (the bot's line that follows says it once)
                agent = frame.get("agent_name")
                await self._send(chat_id, conversation_id, self.texts.get("handoff_ended", agent=agent) if agent
                                 else self.texts["handoff_ended_team"])

    async def _typing(self, chat_id: int) -> None:
        try:
            await self.bot.send_chat_action(chat_id, ChatAction.TYPING)
        except TelegramError as exc:
            logger.debug("telegram_typing_failed", extra={"error": type(exc).__name__})

    async def _send(self, chat_id: int, conversation_id: Optional[str], text: str, *,
                    inline: Sequence[Tuple[str, str]] = (), row: bool = False, contact: bool = False,
                    remove_keyboard: bool = False, source_key: Optional[str] = None, leave: bool = False,
                    per_row: Optional[int] = None) -> None:
        """Queue a message in the outbox (stored first), then wake the sender.
        ``leave``: the keyboard is the queued notice's (see ``live_keyboards``)."""
        body: Dict[str, Any] = {"text": text[:TELEGRAM_TEXT_LIMIT] or "…"}
        if inline:
            body["inline"] = [list(b) for b in inline]
            body["row"] = row
            if per_row:
                body["per_row"] = per_row
            if leave:
                body["leave"] = True
        elif contact:
            body["contact"] = True
        elif remove_keyboard:
            body["remove_keyboard"] = True
        if await self.db.enqueue(chat_id, conversation_id, body, source_key):
            if self._leading:
                self._wake.set()
            else:  # the sender runs on the leading bridge
                await self.bridge.signal(OUTBOX_SIGNAL)

    async def _send_now(self, chat_id: int, text: str) -> None:
        """Outside the outbox (the database may be what failed); best effort."""
        try:
            await self.bot.send_message(chat_id, text)
        except TelegramError as exc:
            logger.warning("telegram_send_failed", extra={"error": type(exc).__name__})

    async def _outbox_loop(self) -> None:
        """Send due rows, the oldest first in each chat; sleep until the next
        due row or a new one. Storage errors pause the loop, never end it."""
        while True:
            self._wake.clear()
            wait = 30.0
            try:
                heads = await self.db.heads()
            except StorageError as exc:
                logger.error("telegram_outbox_unreadable", extra={"error": str(exc)})
                heads, wait = [], 5.0
            now = utcnow()
            due = [h for h in heads if h["next_attempt_at"] <= now]
            if due:
                await asyncio.gather(*(self._deliver(row) for row in due))
                continue
            if heads:
                wait = max(0.05, min((h["next_attempt_at"] - now).total_seconds() for h in heads))
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=wait)

    async def _deliver(self, row: Dict[str, Any]) -> None:
        body = json.loads(row["body"])
        markup = _markup(body)
        if body.get("row") and isinstance(markup, InlineKeyboardMarkup):
            buttons = [InlineKeyboardButton(t, callback_data=d) for t, d in body["inline"]]
            per = int(body.get("per_row") or len(buttons))
            markup = InlineKeyboardMarkup([buttons[i:i + per] for i in range(0, len(buttons), per)])
        attempts = int(row["attempts"]) + 1
        limit = self.settings.telegram_outbox_max_attempts
        if body.get("inline") and not body.get("row"):
            try:  # new buttons: the older ones' steps are over
                await self._clear_keyboards(row["chat_id"], before_row=row["id"])
            except StorageError as exc:
                logger.warning("telegram_keyboards_unread", extra={"error": str(exc)})
        try:
            sent = await self.bot.send_message(row["chat_id"], body["text"], reply_markup=markup)
        except RetryAfter as exc:
            delay = _retry_after_s(exc)
            logger.warning("telegram_rate_limited", extra={"outbox_id": row["id"], "retry_in_s": delay})
            await self._reschedule(row, attempts, delay, "RetryAfter", attempts >= limit)
        except (Forbidden, BadRequest, InvalidToken) as exc:  # blocked by the user, bad chat: retrying will not help
            logger.error("telegram_send_refused", extra={"outbox_id": row["id"], "error": type(exc).__name__})
            await self._reschedule(row, attempts, 0.0, f"{type(exc).__name__}: {exc}", True)
        except NetworkError as exc:
            delay = min(MAX_BACKOFF_S, 2.0 ** attempts)
            logger.warning("telegram_send_retry", extra={"outbox_id": row["id"], "error": type(exc).__name__,
                                                         "retry_in_s": delay})
            await self._reschedule(row, attempts, delay, type(exc).__name__, attempts >= limit)
        except TelegramError as exc:
            logger.error("telegram_send_failed", extra={"outbox_id": row["id"], "error": type(exc).__name__})
            await self._reschedule(row, attempts, 0.0, type(exc).__name__, True)
        else:
            try:
                await self.db.sent(row["id"], sent.message_id)
            except StorageError as exc:  # sent but not marked: a restart would send it again
                logger.error("telegram_outbox_mark_failed", extra={"outbox_id": row["id"], "error": str(exc)})
            key = row.get("source_key") or ""
            if key.startswith("m:") and row.get("conversation_id"):  # Telegram has it for the chat: "entregado"
                try:
                    await self.bridge.message_received(row["conversation_id"], key[2:])
                except StorageError as exc:
                    logger.warning("telegram_delivered_unmarked", extra={"outbox_id": row["id"], "error": str(exc)})

    async def _reschedule(self, row: Dict[str, Any], attempts: int, delay: float, error: str, give_up: bool) -> None:
        if give_up:
            logger.error("telegram_message_dropped", extra={"outbox_id": row["id"], "attempts": attempts})
        try:
            await self.db.retry(row["id"], attempts, delay, error, give_up)
        except StorageError as exc:
            logger.error("telegram_outbox_mark_failed", extra={"outbox_id": row["id"], "error": str(exc)})
