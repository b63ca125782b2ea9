"""The bridge's constants, small helpers and shared state (``BridgeBase``);
the layers above add one job each (handoff/bridge/__init__.py)."""
from __future__ import annotations

import asyncio
import collections
import datetime as dt
import logging
import os
import secrets
from typing import Any, Awaitable, Callable, DefaultDict, Dict, List, Optional, Sequence, Set, Tuple

from websockets.legacy.protocol import WebSocketCommonProtocol

from core.policy import StorePolicy, load_policy
from core.store import Customer, Store, create_store
from handoff.agents import LoginThrottle
from handoff.cluster import Cluster, make_cluster
from handoff.metrics import Metrics
from handoff.queue import QueueView
from handoff.rasa import RasaClient
from handoff.settings import HandoffSettings
from handoff.sla import Promise
from handoff.state import (
    State,
    may_deliver,
)
from handoff.storage import (
    Conversation,
    Storage,
    StoredMessage,
    utcnow,
)
from handoff.texts import TU, Texts, texts_for

logger = logging.getLogger("handoff.bridge")

Frame = Dict[str, Any]
Seen = Dict[str, Optional[dt.datetime]]  # conversation -> gone since (None: a socket is open)
Socket = WebSocketCommonProtocol
CustomerSink = Callable[[str, Frame], Awaitable[None]]

REQUEST_HUMAN = "/request_human"
# The bridge's own payloads (never sent to Rasa): leave the queue / stay in it.
LEAVE_QUEUE = "/leave_queue"
KEEP_WAITING = "/keep_waiting"
BRIDGE_PAYLOADS = (LEAVE_QUEUE, KEEP_WAITING)
# The tú texts under their old names (the voice-aware ones: ``Bridge.texts``).
APOLOGY = TU["apology"]
HUMAN_BUTTON = {"title": "Hablar con una persona", "payload": REQUEST_HUMAN}
RASA_DOWN_CONTEXT: Dict[str, Any] = {"reason": "rasa_down", "reason_text": "El asistente no respondía",
                     "last_intent": None, "intents": [], "entities": {}, "customer": None, "details": {}}
RESUMED_TEXT = TU["resumed"]
CRASH_EXIT_CODE = 70
RECOVERY_WAIT_S = 120.0  # how long owed turns wait for Rasa after a start
LIVE_GRACE_S = 60.0      # a web shopper without a socket this long no longer counts in positions
ABANDON_SWEEP_S = 30.0   # how often abandoned queued conversations are looked for
SLA_SWEEP_S = 30.0       # how often missed first-response promises are looked for
OWED_SWEEP_S = 5.0       # with several bridges: how long a turn stays owed before the leader finishes it
AGENT_LOST_TEXT = TU["agent_lost"]
ATTACHMENT_KEPT_TEXT = TU["attachment_kept"]
STEP_OVER_TEXT = TU["step_over"]


def _iso(value: Optional[dt.datetime]) -> Optional[str]:
    return value.isoformat() if value else None


def _attachment_infos(raw: Any) -> List[Dict[str, Any]]:
    if not isinstance(raw, list):
        return []
    return [a for a in raw if isinstance(a, dict) and isinstance(a.get("id"), str)]


def _reply_content(reply: Dict[str, Any]) -> Tuple[str, List[Dict[str, str]]]:
    """The text (an image's URL if no text) and buttons a bot reply shows."""
    text = reply.get("text") or ""
    if not text and reply.get("image"):
        text = str(reply["image"])
    return str(text), _buttons(reply.get("buttons"))


def _is_handoff(reply: Dict[str, Any]) -> bool:
    custom = reply.get("custom")
    return isinstance(custom, dict) and isinstance(custom.get("handoff"), dict)


def _silent_customer(reply: Dict[str, Any]) -> Optional[Dict[str, Any]]:
    """The customer of the bot's silent ``{"custom": {"customer": {...}}}``
    (actions/verification.py, when a shopper proves an order with its
    e-mail): never shown, it links the conversation to that customer."""
    custom = reply.get("custom")
    customer = custom.get("customer") if isinstance(custom, dict) else None
    return customer if isinstance(customer, dict) else None


LINKED_BY = ("order_email", "telegram_phone", "shop_identity")
PREVIOUS_CONVERSATIONS = 10  # the case card's "Conversaciones anteriores"


def customer_proof(customer: Customer, verified_by: str) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """A store customer a channel proved (``verified_by``: telegram_phone,
    shop_identity), as ``verify_customer`` takes it: the case card's customer
    and the Rasa slots that make the bot's forms take the e-mail as given
    and offer the customer's own orders (actions/verification.py)."""
    email = customer.email.lower()
    verified = {"id": str(customer.id), "name": customer.name, "email": email,
                "verified_order_id": None, "verified_by": verified_by}
    slots = {"email": email, "verified_email": email, "customer_id": str(customer.id),
             "customer_name": customer.name}
    return verified, slots


def _last_shown(state: State, replies: Sequence[Dict[str, Any]]) -> Optional[int]:
    """The index of the last reply ``_relay_bot`` will show: none after a
    handoff payload, none unless the bot may talk, none without content."""
    last = None
    for n, reply in enumerate(replies):
        if _is_handoff(reply):
            state = State.QUEUED
        elif may_deliver(state, "bot") and any(_reply_content(reply)):
            last = n
    return last


def in_words(message: StoredMessage) -> bool:
    """Whether a customer message is something the shopper wrote: not a
    button press (a payload), not a command ("/agente"), not a refused press.
    Only such texts become the agents' queue ``preview``."""
    return (message.sender == "customer" and not message.data.get("payload")
            and not message.data.get("stale_button") and not message.text.lstrip().startswith("/"))


def mask_email(email: str) -> str:
    """``l***@correo.example``: enough for the shopper to recognise it, little for
    anyone reading over their shoulder."""
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"


def _retrieved(future: asyncio.Future) -> None:
    """Mark a broadcast's failure as seen (it is logged; callers re-raise it)."""
    if not future.cancelled():
        future.exception()


def _buttons(raw: Any) -> List[Dict[str, str]]:
    if not isinstance(raw, list):
        return []
    return [{"title": str(b.get("title", "")), "payload": str(b.get("payload", ""))}
            for b in raw if isinstance(b, dict)]


class BridgeBase:
    """State every layer shares, set once here."""

    def __init__(
        self,
        settings: HandoffSettings,
        storage: Optional[Storage] = None,
        store: Optional[Store] = None,
        policy: Optional[StorePolicy] = None,
        clock: Callable[[], dt.datetime] = utcnow,
        cluster: Optional[Cluster] = None,
    ) -> None:
        self.settings = settings
        self.cluster = cluster or make_cluster(settings)
        self.storage = storage or Storage(settings.database_url)
        self.store: Store = store or create_store(settings.database_url)
        self.policy = policy or load_policy()
        self.clock = clock
        self.metrics = Metrics()
        self.rasa = RasaClient(settings.rasa_url, settings.rasa_bridge_secret, settings.rasa_timeout_s, self.metrics)
        self.customers: DefaultDict[str, Set[Socket]] = collections.defaultdict(set)
        # live frames for sockets whose history is not sent yet (see attach_customer)
        self._held: Dict[Socket, List[Frame]] = {}
        self.agents: DefaultDict[str, Set[Socket]] = collections.defaultdict(set)
        # agent sockets that get queue changes, with what each was last shown
        self._queue_views: Dict[Socket, QueueView] = {}
        # ids of the messages a socket's history (or case cards) held: a live frame
        # of one of them that arrives later through the cluster is not shown twice
        self._history_sent: Dict[Socket, Set[str]] = {}
        self._queue_lock = asyncio.Lock()
        self._next_broadcast: Optional[asyncio.Future] = None  # the broadcast callers now wait for
        self._broadcaster: Optional[asyncio.Task] = None
        self._signals: Dict[str, Callable[[], None]] = {}
        self._publish_queue = False
        # queued conversation -> what it was last shown, and the loop time it was sent
        self._last_status: Dict[str, Tuple[Tuple[Any, ...], float]] = {}
        self._status_timer: Optional[asyncio.TimerHandle] = None  # a broadcast for statuses held back
        self._promise_memo: Dict[Tuple[Any, ...], Promise] = {}  # promise_for's answers (queueing.py ``_promises``)
        self._acked: Dict[str, Tuple[dt.datetime, int]] = {}  # queued conversation -> (last ack, its position)
        self._live_ids: Set[str] = set()  # queued conversations counted in positions, as last broadcast
        self._sweeper: Optional[asyncio.Task] = None
        self._sla_sweeper: Optional[asyncio.Task] = None
        self._recovery_sweeper: Optional[asyncio.Task] = None
        self._grace: Dict[str, asyncio.Task] = {}
        self._rasa_failed: Set[str] = set()
        self._recovery: Optional[asyncio.Task] = None
        self._health: Dict[str, str] = {}  # part -> "up" | "down", as /health last saw it
        self.login_throttle = LoginThrottle()  # one per process: its budgets are this process's
        self._sinks: List[CustomerSink] = []
        self._attachment_key = (settings.attachment_secret or secrets.token_urlsafe(32)).encode("utf-8")

    @property
    def texts(self) -> Texts:
        """The bridge's own texts in the store's voice (policy ``brand_voice``)."""
        return texts_for(self.policy.brand_voice)

    def crash_point(self, step: str) -> None:
        """Fault-injection tests only (HANDOFF_CRASH_AT=<step>): exit at once,
        without cleanup, as kill -9 would."""
        if self.settings.crash_at == step:
            logger.warning("crash_point", extra={"step": step})
            os._exit(CRASH_EXIT_CODE)

    # Implemented by layers above (queueing.py, agent_side.py, turns.py); declared
    # here so that a lower layer may call them.
    def _broadcast_soon(self, publish: bool) -> "asyncio.Future[None]":
        raise NotImplementedError

    async def _conversation_frame(self, conversation: Conversation) -> Frame:
        raise NotImplementedError

    async def recover(self, older_than_s: float = 0.0) -> int:
        raise NotImplementedError
