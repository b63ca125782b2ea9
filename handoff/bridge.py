"""The bridge's core: routes every conversation through the state machine.

Channels (handoff/channels/) only parse frames and call these methods; this
module decides, stores, then delivers. Rules it keeps:
- one operation at a time per conversation (an ``asyncio.Lock`` per id, held
  across the Rasa call), and every state change is a DB check-and-set;
- a message is stored before it is acknowledged or delivered;
- bot messages reach a customer only in state ``bot`` (``state.may_deliver``),
  and this state machine alone decides who talks (Rasa never pauses);
- an answer owed to a customer (a message routed to the bot, the bot's line
  after a close) is a *turn* stored with the event that makes it owed and
  finished once (``_bot_turn``, ``_resume``): a process that died mid-turn
  leaves it for the next one (``recover``), and Rasa answers a replayed turn
  from its tracker, so nothing is processed, stored or shown twice.

Channels without a socket (Telegram) register a *customer sink*: every frame
for a customer also goes to the sinks, which decide whether the conversation
is theirs. Customer attachments (photos, documents) are stored in SQL and shown
to agents through signed, expiring URLs (``attachment_url``).

Several bridges (HANDOFF_CLUSTER=redis): every frame goes through the
cluster (handoff/cluster.py), which delivers it on whichever bridge holds the
socket; locks, presence (who is connected) and the leader's duties (the
queue's sweeps, Telegram) are shared there too. Each bridge sends the queue to
its own agents and positions to its own customers whenever the queue changes
anywhere (a ``queue`` envelope); those broadcasts are coalesced, so a burst of
changes costs one read of the queue, not one per change.
"""
from __future__ import annotations

import asyncio
import base64
import collections
import datetime as dt
import hashlib
import hmac
import json
import logging
import os
import secrets
import time
from typing import Any, Awaitable, Callable, DefaultDict, Dict, List, Optional, Sequence, Set, Tuple

from websockets.exceptions import ConnectionClosed
from websockets.legacy.protocol import WebSocketCommonProtocol

from core.policy import StorePolicy, load_policy
from core.store import Store, create_store
from handoff.agents import LoginThrottle
from handoff.casecard import case_card, customer_view, earlier_conversation
from handoff.cluster import AGENT, CUSTOMER, QUEUE, SIGNAL, Cluster, Envelope, make_cluster
from handoff.frames import MESSAGE_ID, FrameError
from handoff.labels import LABEL_SUGGESTIONS, MAX_LABELS, check_labels
from handoff.metrics import Metrics
from handoff.nps import nps_selected
from handoff.queue import QueueView, estimate_wait_s, mean_handling_s, queue_changes, queue_frame, view_of
from handoff.queue_exit import ASK, LEAVE, queue_exit
from handoff.rasa import RasaClient, RasaUnavailable
from handoff.settings import HandoffSettings
from handoff.sla import SLA_DATA_KEY, Promise, iso, promise_for, sla_client_id, when_es
from handoff.state import (
    AlreadyHandedOff,
    Event,
    Route,
    State,
    TransitionError,
    customer_route,
    may_deliver,
)
from handoff.storage import (
    Agent,
    Attachment,
    Conversation,
    NoCsatPending,
    NoNpsPending,
    NotFound,
    Storage,
    StorageError,
    StoredMessage,
    TooManyLabels,
    Turn,
    utcnow,
)
from handoff.texts import TU, Texts, attachment_topic, texts_for, wait_text

logger = logging.getLogger(__name__)

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


class Bridge:
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
        self._last_status: Dict[str, Tuple[int, int, Optional[str]]] = {}
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

    # -- life cycle ------------------------------------------------------

    async def start(self) -> None:
        """Migrate the database, open the Rasa client, and start the grace timers
        of agents who own conversations (after a restart nobody is connected)."""
        await self.storage.create_schema()
        await self.rasa.start()
        await self.cluster.start(self._on_envelope)
        for agent_id in await self.storage.agents_with_conversations():
            self._schedule_grace(agent_id)
        self.metrics.queue_length.set(len(await self.storage.queue()))
        await self.cluster.on_leadership(self._lead, self._stop_leading)

    async def _lead(self) -> None:
        """The duties of one bridge only (the cluster's leader; the only bridge
        of a local cluster): the queue's sweeps and, with other bridges, the
        owed turns of a bridge that died and did not come back."""
        if self.settings.queue_abandon_after_s > 0 and self._sweeper is None:
            self._sweeper = asyncio.create_task(self._sweep_abandoned())
        if self._sla_sweeper is None:
            self._sla_sweeper = asyncio.create_task(self._sweep_sla())
        if self.cluster.shared and self._recovery_sweeper is None:
            self._recovery_sweeper = asyncio.create_task(self._sweep_owed_turns())

    async def _stop_leading(self) -> None:
        for task in (self._sweeper, self._sla_sweeper, self._recovery_sweeper):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        self._sweeper = self._sla_sweeper = self._recovery_sweeper = None

    async def stop(self) -> None:
        await self.cluster.stop()
        await self._stop_leading()
        if self._broadcaster is not None:
            self._broadcaster.cancel()
            await asyncio.gather(self._broadcaster, return_exceptions=True)
            self._broadcaster = None
        if self._recovery is not None:
            self._recovery.cancel()
            await asyncio.gather(self._recovery, return_exceptions=True)
            self._recovery = None
        for task in list(self._grace.values()):
            task.cancel()
        await asyncio.gather(*self._grace.values(), return_exceptions=True)
        self._grace.clear()
        await self.rasa.close()
        self.login_throttle.close()
        self.storage.dispose()
        dispose = getattr(self.store, "dispose", None)
        if callable(dispose):
            dispose()

    async def health(self) -> Tuple[int, Frame]:
        """200 ``{"status": "ok", "rasa": "up", "database": "up", ...}`` when
        every part answers; 503 ``"degraded"`` naming the part that is down.
        The action server is checked when its URL is known (ACTIONS_URL or
        ACTIONS_PORT, as ``make run`` sets)."""
        checks = [("rasa", self.rasa.is_up()), ("database", self.storage.ping())]
        if self.settings.actions_url:
            checks.append(("actions", self.rasa.url_up(f"{self.settings.actions_url}/health")))
        results = await asyncio.gather(*(check for _, check in checks))
        body: Frame = {name: "up" if ok else "down" for (name, _), ok in zip(checks, results)}
        for part, status in body.items():  # a change is worth a line, each poll is not
            if self._health.get(part, "up") != status:
                (logger.info if status == "up" else logger.warning)(f"{part}_{status}", extra={"part": part})
            self._health[part] = status
        healthy = all(results)
        return (200 if healthy else 503), {"status": "ok" if healthy else "degraded", **body}

    def start_recovery(self) -> None:
        """Finish owed turns in the background once Rasa answers (or after
        ``RECOVERY_WAIT_S``, with the apology): called when every channel is
        listening, so nothing recovered misses a channel."""
        if self._recovery is None:
            self._recovery = asyncio.create_task(self._recover_when_ready())

    async def _recover_when_ready(self) -> None:
        try:
            if not await self.storage.pending_turns():
                return
        except StorageError as exc:
            logger.error("recovery_failed", extra={"error": str(exc)})
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + RECOVERY_WAIT_S
        delay = 0.25
        while not await self.rasa.is_up() and loop.time() < deadline:
            await asyncio.sleep(delay)  # waiting for Rasa to load its model
            delay = min(delay * 2, 5.0)
        try:
            done = await self.recover()
        except StorageError as exc:
            logger.error("recovery_failed", extra={"error": str(exc)})
            return
        if done:
            logger.info("turns_recovered", extra={"count": done})

    # -- sending ---------------------------------------------------------

    @staticmethod
    async def send(ws: Socket, frame: Frame) -> None:
        """Send one frame; a closed socket is not an error (the frame is stored
        or re-sent on reconnection)."""
        try:
            await ws.send(json.dumps(frame, ensure_ascii=False))
        except ConnectionClosed:
            logger.debug("send_to_closed_socket")

    async def to_customer(self, conversation_id: str, frame: Frame) -> None:
        """To every customer sink (a channel without sockets: it stores the
        frame in its outbox here, whichever bridge this is), then through the
        cluster to the customer's sockets on whichever bridge holds them. A
        sink that cannot store the frame is logged: the message itself is
        already committed."""
        await self._to_sinks(conversation_id, frame)
        await self.cluster.publish(Envelope(CUSTOMER, conversation_id, frame))

    async def _to_sinks(self, conversation_id: str, frame: Frame) -> None:
        for sink in self._sinks:
            try:
                await sink(conversation_id, frame)
            except StorageError as exc:
                logger.error("customer_sink_failed", extra={"conversation_id": conversation_id, "error": str(exc)})

    async def _to_local_customer(self, conversation_id: str, frame: Frame) -> None:
        """To this bridge's sockets of the customer and to the sinks: what every
        bridge works out for itself (queue positions) never crosses bridges."""
        for ws in list(self.customers.get(conversation_id, ())):
            await self._send_live(ws, frame)
        await self._to_sinks(conversation_id, frame)

    async def _on_envelope(self, envelope: Envelope) -> None:
        """What the cluster delivers: frames for the sockets this bridge holds,
        another bridge's queue change, or a signal."""
        if envelope.kind == CUSTOMER:
            for ws in list(self.customers.get(envelope.key, ())):
                await self._send_live(ws, envelope.frame)
        elif envelope.kind == AGENT:
            for ws in list(self.agents.get(envelope.key, ())):
                await self._send_live(ws, envelope.frame)
        elif envelope.kind == QUEUE:
            if envelope.origin != self.cluster.bridge_id:
                self._broadcast_soon(publish=False)
        elif envelope.kind == SIGNAL:
            handler = self._signals.get(envelope.key)
            if handler is not None:
                handler()

    def on_signal(self, name: str, handler: Callable[[], None]) -> None:
        """Run ``handler`` on this bridge whenever any bridge calls ``signal(name)``."""
        self._signals[name] = handler

    async def signal(self, name: str) -> None:
        await self.cluster.publish(Envelope(SIGNAL, name))

    def add_customer_sink(self, sink: CustomerSink) -> None:
        """Register a channel that delivers customer frames itself (Telegram)."""
        self._sinks.append(sink)

    def remove_customer_sink(self, sink: CustomerSink) -> None:
        if sink in self._sinks:
            self._sinks.remove(sink)

    async def to_agent(self, agent_id: str, frame: Frame) -> None:
        """Through the cluster to the agent's sockets, on whichever bridges."""
        await self.cluster.publish(Envelope(AGENT, agent_id, frame))

    async def _send_live(self, ws: Socket, frame: Frame) -> None:
        held = self._held.get(ws)
        if held is not None:
            held.append(frame)
        elif frame.get("type") != "message" or frame.get("id") not in self._history_sent.get(ws, ()):
            await self.send(ws, frame)

    def _hold(self, ws: Socket) -> None:
        """Live frames for ``ws`` wait until :meth:`_release`: a socket that is
        being sent a history (a customer's on reconnection, an agent's case
        cards) must never get a message before the history that should hold it,
        nor miss one stored while that history was read."""
        self._held[ws] = []

    async def _release(self, ws: Socket, already_sent: Set[str]) -> None:
        """Send what was held for ``ws``, less the messages a history held."""
        held = self._held.get(ws)
        while held:
            frame = held.pop(0)
            if frame.get("type") != "message" or frame.get("id") not in already_sent:
                await self.send(ws, frame)
        self._held.pop(ws, None)  # no await since the last check: nothing new is held
        if already_sent and self.cluster.shared:  # a frame stored before the history may still be on its way
            self._history_sent[ws] = already_sent

    def lock(self, conversation_id: str) -> Any:
        """This conversation, one operation at a time, across bridges too
        (``async with bridge.lock(id)``)."""
        return self.cluster.lock(conversation_id)

    def customer_frame(self, message: StoredMessage, agent_name: Optional[str] = None) -> Frame:
        frame: Frame = {"type": "message", "id": str(message.id), "sender": message.sender,
                        "text": message.text, "buttons": _buttons(message.data.get("buttons")),
                        "at": _iso(message.created_at)}
        if message.sender == "agent":
            frame["agent_name"] = agent_name or ""
        if isinstance(message.data.get("csat_score"), int):
            frame["csat_score"] = message.data["csat_score"]
        if isinstance(message.data.get("nps_score"), int):  # a history shows the answer as given
            frame["nps_score"] = message.data["nps_score"]
        return frame

    async def _deliver(
        self, conversation_id: str, sender: str, text: str, data: Optional[Dict[str, Any]] = None,
        agent: Optional[Agent] = None, client_id: Optional[str] = None, resend: bool = False,
        finishes: Optional[int] = None,
    ) -> StoredMessage:
        """Store, then send to the customer's sockets (bot | agent | system).
        A message already stored under ``client_id`` is sent again only with
        ``resend`` (finishing a turn after a crash: it may never have left).
        ``finishes``: the customer message whose turn this one completes."""
        message, created = await self.storage.add_message(
            conversation_id, sender, text, data, agent.id if agent else None, client_id, finishes)
        await self._send_stored(message, created, agent, resend)
        return message

    async def _send_stored(
        self, message: StoredMessage, created: bool, agent: Optional[Agent] = None, resend: bool = False,
    ) -> None:
        """A just-stored message to the customer (a resend was sent already,
        unless ``resend``)."""
        if created:
            self.metrics.messages.labels(message.sender).inc()
        if created or resend:
            await self.to_customer(message.conversation_id, self.customer_frame(message, agent.name if agent else None))

    # -- customers -------------------------------------------------------

    async def open_session(self, session_id: Optional[str], channel: str = "web") -> Tuple[Conversation, bool]:
        """The conversation of a known session id, or a new one."""
        if session_id:
            found = await self.storage.by_session(session_id)
            if found is not None:
                return found, True
        conversation = await self.storage.create_conversation(channel)
        self.metrics.conversations.inc()
        logger.info("conversation_started", extra={"conversation_id": conversation.id, "channel": channel})
        return conversation, False

    def attach_customer(self, conversation_id: str, ws: Socket) -> None:
        """Live frames wait until :meth:`release_customer` (see :meth:`_hold`)."""
        self.customers[conversation_id].add(ws)
        self.cluster.attach(CUSTOMER, conversation_id)
        self._hold(ws)

    async def release_customer(self, ws: Socket, already_sent: Set[str]) -> None:
        await self._release(ws, already_sent)

    def detach_customer(self, conversation_id: str, ws: Socket) -> None:
        self._held.pop(ws, None)
        self._history_sent.pop(ws, None)
        sockets = self.customers.get(conversation_id)
        if sockets is not None and ws in sockets:
            sockets.discard(ws)
            self.cluster.detach(CUSTOMER, conversation_id, self.clock())
            if not sockets:
                del self.customers[conversation_id]

    async def resend_state(self, conversation_id: str, ws: Socket, after_id: int = 0) -> Set[str]:
        """After a reconnection: the history the customer may have missed, then
        the handoff state (queued with position, or assigned), then a pending
        CSAT request. Returns the ids of the messages sent."""
        conversation = await self.storage.get_conversation(conversation_id)
        history = await self.storage.history(conversation_id, after_id=after_id)
        events = await self.storage.events(conversation_id, after_id=after_id)
        names = await self.storage.agent_names(sorted({m.agent_id for m in [*history, *events] if m.agent_id}))
        await self.send(ws, {"type": "history", "messages": [
            self.customer_frame(m, names.get(m.agent_id or "")) for m in history],
            "events": [self._event_frame(e, names.get(e.agent_id or "")) for e in events]})
        if conversation.state is State.QUEUED:
            await self.send(ws, await self._queued_status(conversation))
            if conversation.id not in self._live_ids:
                await self.broadcast_queue()  # back: agents' queue no longer says "ha cerrado el chat"
        elif conversation.state is State.AGENT:
            names = await self.storage.agent_names([conversation.agent_id or ""])
            await self.send(ws, await self._handoff_frame(conversation.id, {
                "type": "handoff", "state": "assigned", "agent_name": names.get(conversation.agent_id or "", "")}))
        if conversation.csat_episode_id is not None:
            await self.send(ws, await self._csat_request(conversation))
        elif conversation.nps_episode_id is not None:
            await self.send(ws, self._nps_request())
        return {str(m.id) for m in history}

    @staticmethod
    def _event_frame(event: StoredMessage, agent_name: Optional[str]) -> Frame:
        """A handoff state change as the ``history`` frame's ``events`` carry it:
        its ``id`` places it among the messages (a notice goes before the first
        message with a larger id), ``text`` is the notice the shopper was shown."""
        frame: Frame = {"id": str(event.id), "state": event.data.get("state"), "text": event.text,
                        "at": _iso(event.created_at)}
        if event.data.get("outcome"):
            frame["outcome"] = event.data["outcome"]
        if event.agent_id:
            frame["agent_name"] = agent_name or ""
        return frame

    async def _handoff_frame(self, conversation_id: str, frame: Frame) -> Frame:
        """A ``handoff`` frame with ``event_id``, the id of the state change it
        tells (the latest one): a client that has shown that notice (live, or
        from a history's ``events``) shows it once."""
        latest = (await self.storage.latest_events([conversation_id])).get(conversation_id)
        if latest is not None:
            frame["event_id"] = str(latest)
        return frame

    async def _csat_request(self, conversation: Conversation) -> Frame:
        """The rating request of the handoff that waits for one, naming its
        agent (so a reload, or another browser, asks about the right person),
        with the question's ``text`` (handoff/texts.py: one wording for every
        channel)."""
        frame: Frame = {"type": "csat_request"}
        episode = next((e for e in await self.storage.episodes(conversation.id)
                        if e["id"] == conversation.csat_episode_id), None)
        if episode is not None and episode.get("agent_id"):
            names = await self.storage.agent_names([episode["agent_id"]])
            frame["agent_name"] = names.get(episode["agent_id"], "")
        # the question itself, so the widget and Telegram ask it in the same words
        frame["text"] = (self.texts.get("csat_ask", agent=frame["agent_name"]) if frame.get("agent_name")
                         else self.texts["csat_ask_team"])
        return frame

    async def button_live(self, conversation_id: str, reply_to: str) -> bool:
        """Whether the buttons of message ``reply_to`` still belong to the
        current step: it is this conversation's bot or system message with
        buttons, no later message has buttons, and the customer has not spoken
        since (a press, or typing instead, ends the step; a refused press does
        not). The same rule holds on every channel; the widget and Telegram
        disable buttons by it too."""
        if not MESSAGE_ID.match(reply_to):
            return False
        later = await self.storage.history(conversation_id, after_id=int(reply_to) - 1)
        if not later or str(later[0].id) != reply_to:
            return False
        first, rest = later[0], later[1:]
        if first.sender not in ("bot", "system") or not _buttons(first.data.get("buttons")):
            return False
        # a refused press (``stale_button``) did nothing, so it ends no step
        return not any((m.sender == "customer" and not m.data.get("stale_button"))
                       or (m.sender in ("bot", "system") and _buttons(m.data.get("buttons"))) for m in rest)

    async def customer_message(
        self, conversation_id: str, ws: Optional[Socket], text: str, payload: Optional[str], client_id: Optional[str],
        reply_to: Optional[str] = None,
    ) -> bool:
        """``ws`` is None for channels without a socket (no ``ack`` is sent).
        A resend (same client_id) is acknowledged again and, if its turn never
        finished (the bridge died mid-turn), the turn is finished now.
        ``reply_to``: the message whose button this is (payload only); a
        button of a finished step is stored but never reaches Rasa, and the
        customer is told the step is over. False for such a press."""
        async with self.lock(conversation_id):
            stale = bool(payload and reply_to is not None and not await self.button_live(conversation_id, reply_to))
            data: Optional[Dict[str, Any]] = {"payload": payload} if payload else None
            if stale and data is not None:
                data["stale_button"] = reply_to
            conversation, message, created = await self.storage.receive(conversation_id, text, data, client_id,
                                                                        now=self.clock())
            self.crash_point("turn_stored")
            if client_id is not None and ws is not None:
                await self.send(ws, {"type": "ack", "client_id": client_id, "id": str(message.id)})
            self.crash_point("turn_acked")
            if not created:
                if await self.storage.message_turn(message.id) is not None:
                    await self._bot_turn(await self.storage.get_conversation(conversation_id), message, replay=True)
                return not message.data.get("stale_button")
            self.metrics.messages.labels("customer").inc()
            route = customer_route(conversation.state)
            if stale:
                logger.info("stale_button", extra={"conversation_id": conversation_id, "reply_to": reply_to})
            if route is Route.RASA:
                await self._bot_turn(conversation, message)
            elif route is Route.QUEUE:
                await self._queued_message(conversation, message, payload)
            else:
                await self.to_agent(conversation.agent_id or "", self._agent_message_frame(message))
                if payload == LEAVE_QUEUE:  # pressed as the agent claimed: the claim won
                    names = await self.storage.agent_names([conversation.agent_id or ""])
                    await self._deliver(conversation_id, "system", self.texts.get(
                        "queue_exit_too_late", agent=names.get(conversation.agent_id or "") or "Una persona del equipo"))
            return not stale

    async def _queued_message(self, conversation: Conversation, message: StoredMessage, payload: Optional[str]) -> None:
        """A queued customer's message (caller holds the lock): for the agents
        (queue preview, history at claim), unless it asks to stop waiting. The
        "Volver al asistente" button, or a clear text ("ya no hace falta"),
        leaves the queue; a word that may mean it ("cancelar") is asked about,
        with buttons; "Seguir esperando" keeps the place."""
        exit_kind = None if payload else queue_exit(message.text)
        if payload == LEAVE_QUEUE or exit_kind == LEAVE:
            await self._withdraw(conversation, "button" if payload == LEAVE_QUEUE else "text")
            return
        if payload == KEEP_WAITING:
            await self._deliver(conversation.id, "system", self.texts["queue_kept"])
            await self.to_customer(conversation.id, await self._queued_status(conversation))
            return
        if payload is not None and payload.strip().startswith(REQUEST_HUMAN):  # /agente or the button, again
            status = await self._queued_status(conversation)
            await self._deliver(conversation.id, "system", self.texts.get("queue_already", position=status["position"]))
            return
        if in_words(message):  # a command or a button's title is no preview
            await self.storage.set_preview(conversation.id, message.text)
            await self.broadcast_queue()
        if exit_kind == ASK:
            await self._deliver(conversation.id, "system", self.texts["queue_exit_ask"], {"buttons": [
                {"title": self.texts["btn_leave_queue"], "payload": LEAVE_QUEUE},
                {"title": self.texts["btn_keep_waiting"], "payload": KEEP_WAITING}]})
        else:
            await self._queue_ack(conversation)

    async def _queue_ack(self, conversation: Conversation, file: bool = False) -> None:
        """Tell a queued shopper who wrote that the team will read it, and
        their place (caller holds the lock): the first time, then only after
        HANDOFF_QUEUE_ACK_INTERVAL_S or when the position changed, so a
        shopper who writes five lines gets one answer, not five. A ``file``
        is spoken of as the case is about (its reason: a payment's receipt,
        a damaged item; otherwise just «tu archivo»)."""
        status = await self._queued_status(conversation)
        position = int(status["position"])
        now = self.clock()
        last = self._acked.get(conversation.id)
        if last is not None and last[1] == position and \
                (now - last[0]).total_seconds() < self.settings.queue_ack_interval_s:
            return
        self._acked[conversation.id] = (now, position)
        if file:
            topic = attachment_topic(conversation.reason)
            text = self.texts.get(f"queue_ack_file_{topic}" if topic else "queue_ack_file", position=position)
        else:
            text = self.texts.get("queue_ack", position=position)
        if not status["offline"] and status["estimated_wait_s"]:
            text += self.texts.get("queue_ack_wait", wait=wait_text(status["estimated_wait_s"]))
        await self._deliver(conversation.id, "system", text)

    async def _withdraw(self, conversation: Conversation, how: str) -> None:
        """queued → bot (caller holds the lock): the episode ends ``withdrawn``,
        the agents' queue loses it, the customer gets ``handoff`` ended with
        ``outcome: withdrawn`` and the bot's line (a stored ``withdraw`` turn,
        finished once like a close's; no rating: nobody attended them)."""
        episode = await self.storage.episode(conversation.episode_id) if conversation.episode_id is not None else None
        now = self.clock()
        try:
            conversation = await self.storage.withdraw(conversation.id, now)
        except TransitionError:  # claimed meanwhile (another process): the message went to the queue
            logger.info("queue_leave_too_late", extra={"conversation_id": conversation.id})
            return
        self.metrics.queue_left.labels(how).inc()
        if episode is not None and episode.get("assigned_at") is None:
            self._observe_wait(episode, "withdrawn", now)
        logger.info("queue_left", extra={"conversation_id": conversation.id, "how": how})
        self.crash_point("withdraw_stored")
        await self.to_customer(conversation.id, await self._handoff_frame(
            conversation.id, {"type": "handoff", "state": "ended", "outcome": "withdrawn"}))
        await self.broadcast_queue()
        for turn in await self.storage.pending_turns(conversation.id):
            if turn.kind == "withdraw":
                await self._resume(conversation, turn)

    # -- abandoned web conversations ------------------------------------

    async def _presence(self, queued: Sequence[Conversation], now: dt.datetime) -> Seen:
        """Since when each queued web shopper has had no socket on any bridge
        (None: one is open); a conversation never seen counts from ``now``."""
        web = [c.id for c in queued if c.channel == "web"]
        if not web:
            return {}
        seen = await self.cluster.seen(CUSTOMER, web, now)
        unseen = [cid for cid in web if cid not in seen]
        if unseen:
            await self.cluster.gone_from(CUSTOMER, unseen, now)
            seen.update({cid: now for cid in unseen})
        return seen

    @staticmethod
    def _gone_since(conversation: Conversation, seen: Seen, now: dt.datetime) -> Optional[dt.datetime]:
        """When a web shopper's last socket closed (None: Telegram, or open)."""
        if conversation.channel != "web":
            return None
        return seen.get(conversation.id, now)

    def _customer_live(self, conversation: Conversation, now: dt.datetime, seen: Seen) -> bool:
        """Whether a queued shopper counts as waiting: Telegram always (the
        reply reaches the chat later anyway); web while a socket is open or
        for LIVE_GRACE_S after the last one closed (a reload, a tunnel)."""
        since = self._gone_since(conversation, seen, now)
        return since is None or (now - since).total_seconds() < LIVE_GRACE_S

    async def _sweep_abandoned(self) -> None:
        """Every ``ABANDON_SWEEP_S`` (shorter for a short setting): abandon
        what waited too long without its shopper, and re-send positions when
        who counts as waiting changed."""
        period = max(1.0, min(ABANDON_SWEEP_S, self.settings.queue_abandon_after_s / 4))
        while True:
            await asyncio.sleep(period)
            try:
                await self.abandon_idle()
            except StorageError as exc:
                logger.error("abandon_sweep_failed", extra={"error": str(exc)})

    async def abandon_idle(self) -> int:
        """Queued web conversations with no customer socket for
        HANDOFF_QUEUE_ABANDON_AFTER_S leave the queue: outcome ``abandoned``,
        the agents' queue loses them, and a system line (with "Hablar con una
        persona") waits in the history for the shopper's return. Returns how
        many; positions are re-sent if the live set changed."""
        limit = self.settings.queue_abandon_after_s
        done = 0
        now = self.clock()
        queued = await self.storage.queue()
        seen = await self._presence(queued, now)
        for conversation in queued:
            since = self._gone_since(conversation, seen, now)
            if limit <= 0 or since is None or (now - since).total_seconds() < max(limit, LIVE_GRACE_S):
                continue
            async with self.lock(conversation.id):
                if (await self.cluster.seen(CUSTOMER, [conversation.id], now)).get(conversation.id, since) is None:
                    continue  # back meanwhile
                episode = await self.storage.episode(conversation.episode_id) if conversation.episode_id else None
                try:
                    await self.storage.withdraw(conversation.id, now, outcome="abandoned")
                except TransitionError:
                    continue  # claimed or left meanwhile
                self.metrics.queue_left.labels("abandoned").inc()
                if episode is not None and episode.get("assigned_at") is None:
                    self._observe_wait(episode, "abandoned", now)
                logger.info("queue_abandoned", extra={"conversation_id": conversation.id,
                                                      "gone_s": int((now - since).total_seconds())})
                await self.to_customer(conversation.id, await self._handoff_frame(
                    conversation.id, {"type": "handoff", "state": "ended", "outcome": "abandoned"}))
                await self._deliver(conversation.id, "system", self.texts["queue_abandoned"], {"buttons": [HUMAN_BUTTON]})
                done += 1
        queued = await self.storage.queue()
        waiting = {c.id for c in queued}
        # counted again from the next time it is queued without a socket
        await self.cluster.prune(CUSTOMER, waiting, now)
        seen = await self._presence(queued, now)
        if done or {c.id for c in queued if self._customer_live(c, now, seen)} != self._live_ids:
            await self.broadcast_queue()
        return done

    async def _sweep_owed_turns(self) -> None:
        """With other bridges (leader only): every ``OWED_SWEEP_S``, finish the
        turns owed that long: their bridge died and has not come back to
        finish them itself (``recover`` at its start)."""
        while True:
            await asyncio.sleep(OWED_SWEEP_S)
            try:
                done = await self.recover(older_than_s=OWED_SWEEP_S)
            except (StorageError, RasaUnavailable) as exc:
                logger.error("owed_turns_sweep_failed", extra={"error": str(exc)})
                continue
            if done:
                logger.info("turns_recovered", extra={"count": done, "by": "leader"})

    # -- the first-response promise (SLA) --------------------------------

    def _observe_wait(self, episode: Dict[str, Any], outcome: str, now: dt.datetime) -> None:
        """``handoff_queue_wait_seconds{outcome}``: an episode's wait from its
        queueing to its first claim (``claimed``) or to leaving unclaimed
        (``withdrawn``, ``abandoned``); wall-clock seconds."""
        queued_at = episode.get("queued_at")
        if not isinstance(queued_at, dt.datetime):
            return
        if queued_at.tzinfo is None:  # SQLite gives naive UTC
            queued_at = queued_at.replace(tzinfo=dt.timezone.utc)
        self.metrics.queue_wait.labels(outcome).observe(max(0.0, (now - queued_at).total_seconds()))

    async def _sweep_sla(self) -> None:
        """Every ``SLA_SWEEP_S``: apologise for the promises that passed."""
        while True:
            await asyncio.sleep(SLA_SWEEP_S)
            try:
                await self.sla_sweep()
            except StorageError as exc:
                logger.error("sla_sweep_failed", extra={"error": str(exc)})

    async def sla_sweep(self) -> int:
        """Open handoff episodes nobody has answered (queued, or claimed
        without a reply) whose current promise has passed: the shopper gets
        one apology with a new time (a ``system`` message storing the new
        promise, client id ``sla:<episode>:<n>``: stored once, so a restart or
        a second sweep does not repeat it), the queued frame then carries the
        new ``respond_by``, and agents get the queue with the breach marked.
        ``handoff_sla_breaches_total`` counts each episode once. Returns how
        many apologies were sent."""
        now = self.clock()
        promises = await self._promises()
        done = 0
        for conversation_id, promise in promises.items():
            if not promise.missed(now):
                continue
            async with self.lock(conversation_id):
                fresh = (await self._promises([conversation_id])).get(conversation_id)
                if fresh is None or fresh.episode_id != promise.episode_id or not fresh.missed(now):
                    continue  # answered, left or apologised for meanwhile
                if await self._apologise_for_delay(conversation_id, fresh, now):
                    done += 1
        still = await self._promises()
        self.metrics.sla_breached_waiting.set(sum(1 for p in still.values() if p.breached(now)))
        if done:
            await self.broadcast_queue()
        return done

    async def _apologise_for_delay(self, conversation_id: str, promise: Promise, now: dt.datetime) -> bool:
        """One stored apology for a missed promise, with the new time (caller
        holds the lock); whether it was stored now (not by an earlier run)."""
        conversation = await self.storage.get_conversation(conversation_id)
        breach = promise.breaches + 1
        new = self.policy.breach_new_promise(now)
        when = when_es(new, now, self.policy.tz)
        if conversation.state is State.AGENT:
            names = await self.storage.agent_names([conversation.agent_id or ""])
            text = self.texts.get("sla_missed_assigned", when=when,
                                  agent=names.get(conversation.agent_id or "") or "Una persona del equipo")
        else:
            text = self.texts.get("sla_missed_queued", when=when,
                                  missed=when_es(promise.respond_by, now, self.policy.tz))
        data = {SLA_DATA_KEY: {"episode_id": promise.episode_id, "breach": breach,
                               "missed": iso(promise.respond_by), "respond_by": iso(new)}}
        message, created = await self.storage.add_message(
            conversation_id, "system", text, data, None, sla_client_id(promise.episode_id, breach))
        await self._send_stored(message, created)
        if conversation.state is State.AGENT and conversation.agent_id:
            # the agent holding it sees the breach and the new promise at once
            renewed = Promise(promise.episode_id, promise.due, new, breach)
            await self.to_agent(conversation.agent_id, {"type": "sla", "conversation_id": conversation_id,
                                                        **self._sla_fields(renewed)})
        if created:
            if breach == 1:
                self.metrics.sla_breaches.inc()
            logger.info("sla_missed", extra={"conversation_id": conversation_id, "episode_id": promise.episode_id,
                                             "breach": breach, "state": conversation.state.value})
        return created

    async def customer_attachments(
        self, conversation_id: str, caption: str, attachments: Sequence[Attachment], client_id: Optional[str],
        ws: Optional[Socket] = None,
    ) -> StoredMessage:
        """A customer's files (already stored; the files never go to Rasa). With
        an agent they reach the agent at once; while queued they wait for the
        claim (history); with the bot the customer is told they are kept for
        a person, and a caption is the shopper's message: it goes to Rasa like
        a text (a stored turn, answered once), after a line saying the file is
        kept ("mira cómo ha llegado la chaqueta, rota" starts the damaged-item
        flow). ``ws``: the web socket to acknowledge it on, once stored."""
        infos = [a.info() for a in attachments]
        caption = caption.strip()
        text = caption or ("[Foto]" if all(a.kind == "photo" for a in attachments) else "[Documento]")
        async with self.lock(conversation_id):
            if caption:  # stored with its turn when the bot owes an answer (like a text)
                conversation, message, created = await self.storage.receive(
                    conversation_id, text, {"attachments": infos}, client_id)
            else:
                conversation = await self.storage.get_conversation(conversation_id)
                message, created = await self.storage.add_message(
                    conversation_id, "customer", text, {"attachments": infos}, None, client_id)
            if client_id is not None and ws is not None:  # the web widget: stored, so out of its outbox
                await self.send(ws, {"type": "ack", "client_id": client_id, "id": str(message.id)})
            if not created:
                if caption and await self.storage.message_turn(message.id) is not None:
                    await self._bot_turn(await self.storage.get_conversation(conversation_id), message, replay=True)
                return message
            self.metrics.messages.labels("customer").inc()
            route = customer_route(conversation.state)
            if route is Route.AGENT:
                await self.to_agent(conversation.agent_id or "", self._agent_message_frame(message))
            elif route is Route.QUEUE:
                # a caption is the shopper's words; "[Foto]" never replaces words already quoted
                if caption or not conversation.preview:
                    await self.storage.set_preview(conversation_id, text)
                    await self.broadcast_queue()
                await self._queue_ack(conversation, file=True)
            elif caption:
                await self._bot_turn(conversation, message)
            else:
                await self._deliver(conversation_id, "system", self.texts["attachment_kept"], {"buttons": [HUMAN_BUTTON]})
            return message

    async def system_message(self, conversation_id: str, text: str, buttons: Sequence[Dict[str, str]] = ()) -> StoredMessage:
        """A system message (stored, then delivered), e.g. a channel's help text."""
        async with self.lock(conversation_id):
            return await self._deliver(conversation_id, "system", text, {"buttons": list(buttons)} if buttons else None)

    def _agent_message_frame(self, message: StoredMessage) -> Frame:
        frame: Frame = {"type": "message", "conversation_id": message.conversation_id, "id": str(message.id),
                        "sender": "customer", "text": message.text, "at": _iso(message.created_at)}
        attachments = self._attachment_frames(message)
        if attachments:
            frame["attachments"] = attachments
        return frame

    # -- attachments -----------------------------------------------------

    def _signature(self, attachment_id: str, expires: int) -> str:
        digest = hmac.new(self._attachment_key, f"{attachment_id}:{expires}".encode("utf-8"), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")

    def attachment_url(self, attachment_id: str) -> str:
        """A relative URL valid for HANDOFF_ATTACHMENT_URL_TTL_S, bound to this
        attachment (the console is a browser page: it cannot add headers to <img>)."""
        expires = int(time.time()) + self.settings.attachment_url_ttl_s
        return f"/attachments/{attachment_id}?exp={expires}&sig={self._signature(attachment_id, expires)}"

    def attachment_url_valid(self, attachment_id: str, expires: str, signature: str) -> bool:
        try:
            when = int(expires)
        except ValueError:
            return False
        if when < time.time():
            return False
        return hmac.compare_digest(self._signature(attachment_id, when), signature)

    def _attachment_frames(self, message: StoredMessage) -> List[Frame]:
        return [{"id": a["id"], "kind": a.get("kind", "document"), "name": a.get("name", ""),
                 "content_type": a.get("content_type", "application/octet-stream"),
                 "url": self.attachment_url(a["id"])}
                for a in _attachment_infos(message.data.get("attachments"))]

    # -- customer identity -----------------------------------------------

    async def _link_customer(self, conversation_id: str, customer: Dict[str, Any], linked_by: str,
                             profile: bool = True) -> bool:
        """The conversation's shopper proved to be store customer
        ``customer["id"]`` (caller holds the lock): stored on the conversation
        (``customer_id``, ``customer_linked_by``), so every later turn, handoff
        and channel knows it and the case card lists the customer's other
        conversations; and, with ``profile``, as the conversation's verified
        customer (the case card of a later handoff, even after Rasa forgot its
        slots). Whether the link is new."""
        raw_id = customer.get("id")
        if raw_id is None or isinstance(raw_id, bool) or not str(raw_id).strip():
            logger.warning("customer_link_without_id", extra={"conversation_id": conversation_id})
            return False
        linked_by = linked_by if linked_by in LINKED_BY else "order_email"
        customer_id = str(raw_id).strip()[:64]
        changed = await self.storage.link_customer(conversation_id, customer_id, linked_by)
        if profile:
            proved = {k: customer.get(k) for k in ("id", "name", "email", "verified_order_id")}
            proved["id"] = customer_id
            proved["verified_by"] = linked_by
            await self.storage.set_profile(conversation_id, verified_customer=proved)
        if changed:
            logger.info("customer_linked", extra={"conversation_id": conversation_id, "linked_by": linked_by})
        return changed

    async def verify_customer(self, conversation_id: str, customer: Dict[str, Any], slots: Dict[str, Any]) -> bool:
        """A customer the channel proved (Telegram: the customer's own phone).
        Stored on the conversation's profile (the case card of a later handoff
        shows them and their orders); merged into the context of a conversation
        already queued or assigned (agents get the new card); and set as Rasa
        slots so the bot's forms skip the e-mail question. Returns whether Rasa
        took the slots (through its bridge channel)."""
        async with self.lock(conversation_id):
            await self._link_customer(conversation_id, customer, str(customer.get("verified_by") or "telegram_phone"))
            conversation = await self.storage.get_conversation(conversation_id)
            if conversation.state is not State.BOT and not (conversation.context.get("customer") or {}).get("email"):
                conversation = await self.storage.update_context(conversation_id, {"customer": customer})
                if conversation.state is State.AGENT and conversation.agent_id:
                    await self.to_agent(conversation.agent_id, await self._conversation_frame(conversation))
            logger.info("customer_verified", extra={"conversation_id": conversation_id,
                                                    "verified_by": customer.get("verified_by")})
        if conversation.state is State.QUEUED:
            await self.broadcast_queue()
        try:
            await self.rasa.set_slots(conversation_id, slots)
        except RasaUnavailable as exc:
            logger.warning("rasa_slots_failed", extra={"conversation_id": conversation_id, "error": str(exc)})
            return False
        return True

    async def _bot_turn(self, conversation: Conversation, message: StoredMessage, replay: bool = False) -> None:
        """Answer a customer message through Rasa (caller holds the lock), then
        finish its turn. The Rasa call names the message, so a replay (after a
        crash) gets the answer Rasa gave the first time, never a second turn;
        the bot's messages are stored under ids derived from the message, so
        none is stored or shown twice. Rasa failing (or answering nothing)
        gets the apology and the offer of a person: never silence."""
        if message.data.get("payload") in BRIDGE_PAYLOADS:
            # "Volver al asistente" / "Seguir esperando" once the queue is left: never sent to Rasa
            await self._deliver(conversation.id, "system", self.texts["queue_not_queued"],
                                client_id=f"turn:{message.id}:bridge", resend=replay, finishes=message.id)
            if replay:
                await self.storage.finish_message_turn(message.id)
            return
        if message.data.get("stale_button"):
            # a button of a finished step: stored, never sent to Rasa, answered once
            await self._deliver(conversation.id, "system", self.texts["step_over"],
                                client_id=f"turn:{message.id}:stale", resend=replay, finishes=message.id)
            if replay:
                await self.storage.finish_message_turn(message.id)
            return
        if message.data.get("attachments"):
            # a file with a caption: the caption is the message; say once that the file is kept
            await self._deliver(conversation.id, "system", self.texts["attachment_kept_caption"],
                                client_id=f"turn:{message.id}:kept", resend=replay)
        text = message.text
        payload = message.data.get("payload") if isinstance(message.data.get("payload"), str) else None
        wants_human = (payload or text).strip().startswith(REQUEST_HUMAN)
        if wants_human and conversation.id in self._rasa_failed:
            await self._enqueue(conversation, "rasa_down", RASA_DOWN_CONTEXT, await self._preview(message))
            await self.storage.finish_message_turn(message.id)
            return
        await self.to_customer(conversation.id, {"type": "typing", "sender": "bot"})
        try:
            replies = await self.rasa.message(conversation.id, payload or text, message_id=f"m{message.id}",
                                              retry=replay)
            if not replies:
                raise RasaUnavailable("Rasa answered nothing")
        except RasaUnavailable as exc:
            logger.warning("rasa_unavailable", extra={"conversation_id": conversation.id, "error": str(exc)})
            if wants_human:
                await self._enqueue(conversation, "rasa_down", RASA_DOWN_CONTEXT, await self._preview(message))
                await self.storage.finish_message_turn(message.id)
            else:
                self._rasa_failed.add(conversation.id)
                await self._deliver(conversation.id, "system", self.texts["apology"], {"buttons": [HUMAN_BUTTON]},
                                    client_id=f"turn:{message.id}:apology", resend=replay, finishes=message.id)
                if replay:  # the apology may have been stored before: its turn not finished then
                    await self.storage.finish_message_turn(message.id)
            return
        self.crash_point("turn_rasa_answered")
        self._rasa_failed.discard(conversation.id)
        preview = await self._preview(message) if any(_is_handoff(r) for r in replies) else None
        finished = await self._relay_bot(conversation, replies, preview, f"turn:{message.id}", replay, message.id)
        self.crash_point("turn_relayed")
        if replay or not finished:
            await self.storage.finish_message_turn(message.id)

    async def _relay_bot(
        self, conversation: Conversation, replies: Sequence[Dict[str, Any]], preview: Optional[str],
        key: str, replay: bool = False, turn_of: Optional[int] = None,
    ) -> bool:
        """Rasa's replies in order; a handoff payload queues the conversation and
        nothing the bot says after it reaches the customer. Each reply is
        stored as ``<key>:<n>`` (once; a replay sends the stored one again,
        and the channels drop what they already showed). The last reply shown
        finishes the turn of customer message ``turn_of`` in its own
        transaction; whether one did."""
        last = _last_shown(conversation.state, replies)
        state = conversation.state
        for n, reply in enumerate(replies):
            proved = _silent_customer(reply)
            if proved is not None:  # never shown: links the conversation to the customer
                await self._link_customer(conversation.id, proved, "order_email")
                continue
            if _is_handoff(reply):
                handoff = reply["custom"]["handoff"]
                if state is State.BOT:
                    conversation = await self._enqueue(
                        conversation, str(handoff.get("reason") or "customer_request"), handoff, preview)
                    state = conversation.state
                    self.crash_point("handoff_queued")
                continue
            if not may_deliver(state, "bot"):
                logger.info("bot_message_dropped", extra={"conversation_id": conversation.id, "state": state.value})
                continue
            text, buttons = _reply_content(reply)
            if not text and not buttons:
                continue
            await self._deliver(conversation.id, "bot", text, {"buttons": buttons} if buttons else None,
                                client_id=f"{key}:{n}", resend=replay, finishes=turn_of if n == last else None)
            self.crash_point("turn_replied")
        return last is not None and turn_of is not None

    async def _preview(self, message: StoredMessage) -> Optional[str]:
        """What the agents' queue quotes for a handoff this message starts: its
        text if the shopper wrote it, else the latest text they wrote since the
        last handoff (a "/agente" or a button press quotes the words before
        it); None when there is none (the queue entry then has a
        ``preview_note``)."""
        if in_words(message):
            return message.text
        since = (await self.storage.latest_events([message.conversation_id])).get(message.conversation_id, 0)
        worded = [m for m in await self.storage.history(message.conversation_id, after_id=since)
                  if m.id < message.id and in_words(m)]
        return worded[-1].text if worded else None

    def _opening_text(self, promise: Promise, now: dt.datetime, known_email: Optional[str] = None) -> str:
        """Out of hours: the one line that says so, by when a person will
        answer (the promise) and the hours; a shopper whose e-mail is known
        (verified, or left before) is told it, not asked for it again."""
        text = self.texts.get("opening", promise=self._promise_text(promise, now),
                              hours=self.policy.support_hours_text)
        if known_email:
            return text + self.texts.get("opening_email_known", email=mask_email(known_email))
        return text + self.texts["opening_ask_email"]

    @staticmethod
    def known_email(conversation: Conversation) -> Optional[str]:
        """The e-mail the team can write to without asking: the verified
        customer's (handoff payload or a channel's proof) or the one left."""
        customer = conversation.context.get("customer")
        email = customer.get("email") if isinstance(customer, dict) else None
        return str(email) if email else conversation.contact_email

    async def _enqueue(
        self, conversation: Conversation, reason: str, context: Dict[str, Any], preview: Optional[str]
    ) -> Conversation:
        """bot → queued (caller holds the conversation's lock). Already queued or
        assigned: nothing is queued twice, the customer just gets the state again."""
        now = self.clock()
        offline = not self.policy.is_support_open(now)
        context = dict(context)
        profile = await self.storage.get_profile(conversation.id)
        if profile.display_name:
            context["customer_name"] = profile.display_name
        if profile.verified_customer and not (context.get("customer") or {}).get("email"):
            context["customer"] = profile.verified_customer
        details = context.get("details")
        described = details.get("description") if isinstance(details, dict) else None
        if isinstance(described, str) and described.strip():
            # the problem in the shopper's words (an issue form's description), not the answer that
            # ended the form (the e-mail, the order number) nor a later «/agente»
            preview = described.strip()
        if not preview:  # no words (a command, a button): the queue says what they did instead
            context["preview_note"] = self.texts["preview_request_human"]
        payload_customer = context.get("customer")
        if isinstance(payload_customer, dict) and payload_customer.get("id") is not None \
                and conversation.customer_id is None:  # an older action server: the payload proves it too
            await self._link_customer(conversation.id, payload_customer,
                                      str(payload_customer.get("verified_by") or "order_email"), profile=False)
        promise = promise_for(self.policy, 0, now)
        try:
            # out of hours the promise is in the opening line that follows: said once
            notice = self._queued_notice(None if offline else promise, now)
            conversation = await self.storage.enqueue(conversation.id, reason, context, offline, preview, now, notice)
        except AlreadyHandedOff:
            current = await self.storage.get_conversation(conversation.id)
            if current.state is State.QUEUED:
                await self.to_customer(current.id, await self._queued_status(current))
            return current
        self.metrics.handoffs.labels(reason).inc()
        logger.info("handoff_queued", extra={"conversation_id": conversation.id, "reason": reason, "offline": offline})
        # first that they are queued («Te hemos puesto en la cola…», the widget's notice and
        # Telegram's line), then, out of hours, why nobody answers yet and by when
        await self._send_queued_status(conversation)
        if offline:
            await self._deliver(conversation.id, "system",
                                self._opening_text(promise, now, self.known_email(conversation)))
        await self.broadcast_queue()
        return conversation

    async def _send_queued_status(self, conversation: Conversation) -> None:
        """The queued ``handoff`` frame to this customer now, remembered as
        sent, so the ``broadcast_queue`` that follows does not repeat it."""
        status = await self._queued_status(conversation)
        self._last_status[conversation.id] = (status["position"], status["estimated_wait_s"], status["respond_by"])
        await self.to_customer(conversation.id, status)

    async def customer_contact(self, conversation_id: str, ws: Socket, email: str, client_id: Optional[str]) -> None:
        async with self.lock(conversation_id):
            await self.storage.set_contact(conversation_id, email.strip())
            if client_id is not None:
                await self.send(ws, {"type": "ack", "client_id": client_id})
            logger.info("contact_left", extra={"conversation_id": conversation_id})
            await self._deliver(conversation_id, "system", self.texts["contact_thanks"])
            await self.broadcast_queue()

    async def customer_csat(self, conversation_id: str, score: int, comment: Optional[str]) -> None:
        async with self.lock(conversation_id):
            try:
                pending = await self.storage.get_conversation(conversation_id)
                ask_nps = (pending.csat_episode_id is not None
                           and nps_selected(pending.id, pending.csat_episode_id, self.policy.nps_share))
                stored = await self.storage.store_csat(conversation_id, score, (comment or "").strip() or None,
                                                       now=self.clock(), ask_nps=ask_nps)
            except NoCsatPending as exc:
                raise FrameError("no_csat_pending", "No hay ninguna valoración pendiente.") from exc
            self.metrics.csat.observe(score)
            logger.info("csat_stored", extra={"conversation_id": conversation_id, "score": score,
                                              "agent_id": stored["agent_id"], "reason": stored["reason"]})
            # the score rides on the thanks, so a history (a reload) shows the rating as given
            await self._deliver(conversation_id, "system", self.texts["csat_thanks"], {"csat_score": score})
            if ask_nps:
                await self.to_customer(conversation_id, self._nps_request())

    def _nps_request(self) -> Frame:
        """The NPS question (0-10), asked after the rating to the share of
        customers the policy's ``nps_share`` picks (``nps_selected``)."""
        return {"type": "nps_request", "text": self.texts["nps_ask"], "min": 0, "max": 10,
                "low": self.texts["nps_low"], "high": self.texts["nps_high"]}

    async def customer_nps(self, conversation_id: str, score: int) -> None:
        async with self.lock(conversation_id):
            try:
                await self.storage.store_nps(conversation_id, score, now=self.clock())
            except NoNpsPending as exc:
                raise FrameError("no_nps_pending", "No hay ninguna pregunta pendiente (no NPS question pending).") from exc
            logger.info("nps_stored", extra={"conversation_id": conversation_id, "score": score})
            await self._deliver(conversation_id, "system", self.texts["nps_thanks"], {"nps_score": score})

    async def message_received(self, conversation_id: str, message_id: str) -> None:
        """The shopper's side really has an agent's message (the widget showed
        it: ``received``; Telegram accepted it for the chat): its author's
        console marks it "entregado" (``delivered``). Until then the console
        says "enviado" (the ``ack``: stored and sent, maybe to a socket nobody
        reads any more). Another conversation's id, or not an agent's message,
        is ignored."""
        try:
            message = await self.storage.get_message(int(message_id))
        except (NotFound, ValueError):
            return
        if message.conversation_id != conversation_id or message.sender != "agent" or not message.agent_id:
            return
        # stored, so a console opened later shows the mark too
        await self.storage.mark_delivered(message.id, self.clock())
        await self.to_agent(message.agent_id, {"type": "delivered", "conversation_id": conversation_id,
                                               "id": str(message.id)})

    async def customer_typing(self, conversation_id: str) -> None:
        conversation = await self.storage.get_conversation(conversation_id)
        if conversation.state is State.AGENT and conversation.agent_id:
            await self.to_agent(conversation.agent_id, {
                "type": "typing", "conversation_id": conversation_id, "sender": "customer"})

    # -- queue -----------------------------------------------------------

    async def _queued_status(self, conversation: Conversation, queued: Optional[List[Conversation]] = None) -> Frame:
        queued = queued if queued is not None else await self.storage.queue()
        now = self.clock()
        seen = await self._presence(queued, now)
        position = self._positions(queued, seen).get(conversation.id)
        if position is None:
            position = len([c for c in queued if self._customer_live(c, now, seen)]) + 1
        handling = mean_handling_s(await self.storage.recent_handling_times(), self.settings.default_handling_s)
        promises = await self._promises([conversation.id])
        events = await self.storage.latest_events([conversation.id])
        return self._status_frame(conversation, position, handling, await self.cluster.online(AGENT),
                                  promises.get(conversation.id), events.get(conversation.id))

    async def _promises(self, conversation_ids: Optional[List[str]] = None) -> Dict[str, Promise]:
        """The first-response promise of each unanswered open episode (queued,
        or claimed without a reply), by conversation (handoff/sla.py); read
        from the episodes and the stored apologies, never from memory."""
        rows = await self.storage.unanswered_episodes(conversation_ids)
        return {cid: promise_for(self.policy, row["episode_id"], row["queued_at"], row["apologies"])
                for cid, row in rows.items()}

    def _queued_notice(self, promise: Optional[Promise], now: dt.datetime) -> str:
        """The queued notice as the widget shows it ("Te hemos puesto en la cola…"
        plus the promise), stored with the state change for the history."""
        promise_text = self._promise_text(promise, now)
        return self.texts["queued_notice"] + (" " + promise_text if promise_text else "")

    def _promise_text(self, promise: Optional[Promise], now: dt.datetime) -> Optional[str]:
        if promise is None:
            return None
        return self.texts.get("promise", when=when_es(promise.respond_by, now, self.policy.tz))

    def _positions(self, queued: Sequence[Conversation], seen: Seen) -> Dict[str, int]:
        """Each queued conversation's place, counting ahead of it only the
        shoppers still waiting (``_customer_live``): a web chat left open
        nowhere does not push new shoppers back."""
        now = self.clock()
        ahead = 0
        places: Dict[str, int] = {}
        for conversation in queued:
            places[conversation.id] = ahead + 1
            if self._customer_live(conversation, now, seen):
                ahead += 1
        return places

    def _status_frame(self, conversation: Conversation, position: int, handling_s: float, agents_online: int,
                      promise: Optional[Promise] = None, event_id: Optional[int] = None) -> Frame:
        """The queued ``handoff`` frame; ``respond_by`` is the promise (ISO,
        UTC; null once an agent answered in this handoff) and ``promise_text``
        says it in the store's voice and time zone ("Te respondemos antes de
        las 10:30."), the same words on every channel; ``wait_text`` says the
        estimate in words ("unos 5 minutos"); ``event_id`` is the queueing's
        state change (see ``_handoff_frame``)."""
        now = self.clock()
        opening = None if self.policy.is_support_open(now) else self.policy.next_support_opening(now)
        wait = estimate_wait_s(position, handling_s, agents_online, now, opening)
        return {"type": "handoff", "state": "queued", "position": position,
                "estimated_wait_s": wait, "offline": conversation.offline,
                "contact_known": self.known_email(conversation) is not None,
                "respond_by": iso(promise.respond_by) if promise else None,
                "promise_text": self._promise_text(promise, now),
                "wait_text": wait_text(wait) if wait is not None else None,
                **({"event_id": str(event_id)} if event_id is not None else {})}

    def _queue_frame(self, queued: List[Conversation], seen: Seen,
                     promises: Optional[Dict[str, Promise]] = None) -> Frame:
        """The queue frame plus ``customer_name`` (the name the channel knows,
        unverified: Telegram's first name), whether the shopper is still
        there (``present``; a web page closed past the grace: ``gone_since``),
        so agents take those who wait first and know a reply may go unread,
        and the first-response SLA: ``respond_by`` (the deadline),
        ``respond_in_s`` (seconds left when sent; negative: late),
        ``breached`` and ``promised_by`` (what the shopper was last promised:
        the deadline, or the new time of the apology once it passed)."""
        frame = queue_frame(queued)
        now = self.clock()
        promises = promises or {}
        for entry, conversation in zip(frame["conversations"], queued):
            entry["customer_name"] = conversation.context.get("customer_name")
            present = self._customer_live(conversation, now, seen)
            entry["present"] = present
            if not present:
                entry["gone_since"] = _iso(self._gone_since(conversation, seen, now))
            entry.update(self._sla_fields(promises.get(conversation.id)))
        return frame

    async def broadcast_queue(self) -> None:
        """Send the queue to this bridge's agents, and to each of its queued
        customers whose position or estimate changed; then tell the other
        bridges to do the same for theirs. Returns once a broadcast that read
        the queue after this call has been sent: callers that come while one
        runs share the next (coalesced)."""
        await asyncio.shield(self._broadcast_soon(publish=True))

    def _broadcast_soon(self, publish: bool) -> asyncio.Future:
        """The future of the next broadcast, started if none is running."""
        if self._next_broadcast is None:
            self._next_broadcast = asyncio.get_running_loop().create_future()
            self._next_broadcast.add_done_callback(_retrieved)
        if publish:
            self._publish_queue = True
        if self._broadcaster is None or self._broadcaster.done():
            self._broadcaster = asyncio.create_task(self._broadcast_loop(), name="queue-broadcast")
        return self._next_broadcast

    async def _broadcast_loop(self) -> None:
        while self._next_broadcast is not None:
            future, self._next_broadcast = self._next_broadcast, None
            publish, self._publish_queue = self._publish_queue, False
            try:
                await self._broadcast_once()
                if publish and self.cluster.shared:
                    await self.cluster.publish(Envelope(QUEUE, "changed"))
            except Exception as exc:  # noqa: BLE001 - handed to every caller waiting for this broadcast
                logger.error("queue_broadcast_failed", extra={"error": type(exc).__name__})
                future.set_exception(exc)
            else:
                future.set_result(None)

    async def _broadcast_once(self) -> None:
        async with self._queue_lock:
            queued = await self.storage.queue()
            self.metrics.queue_length.set(len(queued))
            promises = await self._promises([c.id for c in queued])
            now = self.clock()
            seen = await self._presence(queued, now)
            frame = self._queue_frame(queued, seen, promises)
            # who counts as waiting, as this frame shows it (not as a later clock would)
            self._live_ids = {c.id for c in queued if self._customer_live(c, now, seen)}
            for agent_id in list(self.agents):
                for ws in list(self.agents.get(agent_id, ())):
                    view = self._queue_views.get(ws)
                    if view is None:  # a client that asked for the whole queue each time
                        await self._send_live(ws, frame)
                        continue
                    changes, self._queue_views[ws] = queue_changes(view, frame["conversations"])
                    if changes is not None:
                        await self._send_live(ws, changes)
            handling = mean_handling_s(await self.storage.recent_handling_times(), self.settings.default_handling_s)
            places = self._positions(queued, seen)
            events = await self.storage.latest_events([c.id for c in queued])
            online = await self.cluster.online(AGENT)
            for conversation in queued:
                status = self._status_frame(conversation, places[conversation.id], handling, online,
                                            promises.get(conversation.id), events.get(conversation.id))
                key = (status["position"], status["estimated_wait_s"], status["respond_by"])
                if self._last_status.get(conversation.id) != key:
                    self._last_status[conversation.id] = key
                    await self._to_local_customer(conversation.id, status)
            for gone in set(self._last_status) - {c.id for c in queued}:
                del self._last_status[gone]
            for gone in set(self._acked) - {c.id for c in queued}:
                del self._acked[gone]

    # -- agents ----------------------------------------------------------

    async def authenticate(self, token: str, address: Optional[str]) -> Optional[Agent]:
        """The agent whose token this is, or None; through the login throttle
        (LoginRefused when ``address`` may not try now)."""
        return await self.login_throttle.authenticate(self.storage, token, address)

    async def agent_connected(self, agent: Agent, ws: Socket, queue_changes: bool = False) -> None:
        """Register, then: authenticated, the queue, and the agent's open
        conversations. ``queue_changes``: this socket gets the queue once, then
        only ``queue_changed`` frames (else a whole ``queue`` frame each time)."""
        self.agents[agent.id].add(ws)
        self.cluster.attach(AGENT, agent.id)
        self._hold(ws)
        task = self._grace.pop(agent.id, None)
        if task is not None:
            task.cancel()
        self.metrics.agents_online.set(len(self.agents))
        logger.info("agent_connected", extra={"agent_id": agent.id})
        sent: Set[str] = set()
        try:
            await self.send(ws, {"type": "authenticated", "agent": {"id": agent.id, "name": agent.name, "role": agent.role}})
            async with self._queue_lock:  # the first queue and the view its changes start from, together
                queued = await self.storage.queue()
                first = self._queue_frame(queued, await self._presence(queued, self.clock()),
                                          await self._promises([c.id for c in queued]))
                await self.send(ws, first)
                if queue_changes:
                    self._queue_views[ws] = view_of(first["conversations"])
            for conversation in await self.storage.conversations_of_agent(agent.id):
                card = await self._conversation_frame(conversation)
                sent.update(line["id"] for line in card["history"])
                await self.send(ws, card)
        finally:
            await self._release(ws, sent)
        await self.broadcast_queue()

    async def agent_disconnected(self, agent: Agent, ws: Socket) -> None:
        self._held.pop(ws, None)
        self._history_sent.pop(ws, None)
        self._queue_views.pop(ws, None)
        sockets = self.agents.get(agent.id)
        if sockets is not None and ws in sockets:
            sockets.discard(ws)
            self.cluster.detach(AGENT, agent.id, self.clock())
            if not sockets:
                del self.agents[agent.id]
                self._schedule_grace(agent.id)
        self.metrics.agents_online.set(len(self.agents))
        logger.info("agent_disconnected", extra={"agent_id": agent.id})

    def _schedule_grace(self, agent_id: str) -> None:
        if agent_id not in self._grace:
            self._grace[agent_id] = asyncio.create_task(self._grace_expired(agent_id))

    async def _grace_expired(self, agent_id: str) -> None:
        """After HANDOFF_AGENT_GRACE_S without a connection, the agent's
        conversations go back to the FRONT of the queue."""
        try:
            await asyncio.sleep(self.settings.agent_grace_s)
            if self.agents.get(agent_id):
                return
            seen = await self.cluster.seen(AGENT, [agent_id], self.clock())
            if agent_id in seen and seen[agent_id] is None:
                return  # connected to another bridge
            for conversation in await self.storage.conversations_of_agent(agent_id):
                async with self.lock(conversation.id):
                    try:
                        notice = self._queued_notice((await self._promises([conversation.id])).get(conversation.id),
                                                     self.clock())
                        await self.storage.requeue(conversation.id, agent_id, Event.AGENT_LOST, self.clock(), notice)
                    except TransitionError:
                        continue
                    logger.info("agent_lost_requeued", extra={"conversation_id": conversation.id, "agent_id": agent_id})
                    await self._deliver(conversation.id, "system", self.texts["agent_lost"])
            await self.broadcast_queue()
        finally:
            if self._grace.get(agent_id) is asyncio.current_task():
                del self._grace[agent_id]

    async def _conversation_frame(self, conversation: Conversation) -> Frame:
        history = await self.storage.history(conversation.id, include_notes=True)
        context = await case_card(conversation.context, conversation.reason, history, self.store, self.policy,
                                  (conversation.customer_id, conversation.customer_linked_by))
        lines = await self._history_lines(conversation.id)
        customer_id = conversation.customer_id or self._context_customer_id(conversation)
        earlier = await self.storage.customer_conversations(customer_id, exclude=conversation.id,
                                                            limit=PREVIOUS_CONVERSATIONS) if customer_id else []
        context["previous_conversations"] = [earlier_conversation(row) for row in earlier]
        context["customer_link"] = {"customer_id": customer_id, "linked_by": conversation.customer_linked_by,
                                    "linked_by_text": (customer_view({"verified_by": conversation.customer_linked_by}) or {})
                                    .get("verified_by_text") if conversation.customer_linked_by else None}
        frame: Frame = {"type": "conversation", "conversation_id": conversation.id, "channel": conversation.channel,
                        "waiting_since": _iso(conversation.queued_at), "contact_email": conversation.contact_email,
                        "customer_name": conversation.context.get("customer_name"),
                        "history": lines, "context": context,
                        "labels": await self.storage.labels(conversation.id),
                        "label_suggestions": await self.storage.popular_labels(LABEL_SUGGESTIONS)}
        promise = (await self._promises([conversation.id])).get(conversation.id)
        frame.update(self._sla_fields(promise))
        return frame

    @staticmethod
    def _context_customer_id(conversation: Conversation) -> Optional[str]:
        customer = conversation.context.get("customer")
        value = customer.get("id") if isinstance(customer, dict) else None
        return str(value) if value is not None else None

    async def _history_lines(self, conversation_id: str) -> List[Frame]:
        """A conversation's transcript as agents get it (notes included)."""
        history = await self.storage.history(conversation_id, include_notes=True)
        names = await self.storage.agent_names(sorted({m.agent_id for m in history if m.agent_id}))
        lines = []
        for m in history:
            line: Frame = {"id": str(m.id), "sender": m.sender, "text": m.text, "at": _iso(m.created_at)}
            if m.agent_id:
                line["agent_name"] = names.get(m.agent_id, "")
            if m.delivered_at:
                line["delivered_at"] = _iso(m.delivered_at)
            attachments = self._attachment_frames(m)
            if attachments:
                line["attachments"] = attachments
            lines.append(line)
        return lines

    async def transcript(self, agent: Agent, conversation_id: str, ws: Socket) -> None:
        """``{"type":"transcript","conversation_id"}`` from an agent: that
        conversation's whole history, read-only (an earlier conversation of
        the customer on the case card), whatever its state; ``not_found``
        otherwise. Agents only (the customer endpoint has no such frame)."""
        conversation = await self._get(conversation_id)
        customer_id = conversation.customer_id or self._context_customer_id(conversation)
        summary = None
        if customer_id:
            rows = await self.storage.customer_conversations(customer_id, limit=200)
            summary = next((earlier_conversation(r) for r in rows if r["conversation_id"] == conversation_id), None)
        logger.info("transcript_read", extra={"conversation_id": conversation_id, "agent_id": agent.id})
        await self.send(ws, {"type": "transcript", "conversation_id": conversation_id,
                             "channel": conversation.channel, "started_at": _iso(conversation.created_at),
                             "summary": summary, "labels": await self.storage.labels(conversation_id),
                             "history": await self._history_lines(conversation_id)})

    async def change_labels(self, agent: Agent, conversation_id: str, add: Any, remove: Any) -> None:
        """``{"type":"label","conversation_id","add":[...],"remove":[...]}``
        (../shared/design/reports.md, "Labels"): every label is checked
        (handoff/labels.py) before anything is stored; the answer is a
        ``labels`` frame (the conversation's labels and the suggestions) to
        the agent and to whoever holds the conversation."""
        adding, removing = check_labels(add, remove)
        conversation = await self._get(conversation_id)
        try:
            labels = await self.storage.change_labels(conversation_id, adding, removing, agent.id, self.clock(),
                                                      most=MAX_LABELS)
        except TooManyLabels as exc:
            raise FrameError("invalid_label", f"Una conversación puede tener como mucho {MAX_LABELS} etiquetas "
                                              "(too many labels).") from exc
        except NotFound as exc:
            raise FrameError("not_found", "No existe esa conversación (conversation not found).") from exc
        logger.info("labels_changed", extra={"conversation_id": conversation_id, "agent_id": agent.id,
                                             "added": len(adding), "removed": len(removing)})
        frame = {"type": "labels", "conversation_id": conversation_id, "labels": labels,
                 "suggestions": await self.storage.popular_labels(LABEL_SUGGESTIONS)}
        for agent_id in {agent.id, conversation.agent_id}:
            if agent_id:
                await self.to_agent(agent_id, frame)

    def _sla_fields(self, promise: Optional[Promise]) -> Frame:
        """The first-response SLA as agents see it (queue entries, the
        conversation frame, ``sla``): all null/false once a person answered."""
        now = self.clock()
        return {"respond_by": iso(promise.due) if promise else None,
                "respond_in_s": int((promise.due - now).total_seconds()) if promise else None,
                "breached": bool(promise and promise.breached(now)),
                "promised_by": iso(promise.respond_by) if promise else None}

    async def _get(self, conversation_id: str) -> Conversation:
        try:
            return await self.storage.get_conversation(conversation_id)
        except NotFound as exc:
            raise FrameError("not_found", "No existe esa conversación (conversation not found).") from exc

    @staticmethod
    def _not_assigned(exc: Exception) -> FrameError:
        error = FrameError("not_assigned", "Esta conversación no está asignada a ti (not assigned to you).")
        error.__cause__ = exc
        return error

    async def claim(self, agent: Agent, conversation_id: str) -> None:
        async with self.lock(conversation_id):
            before = await self._get(conversation_id)
            episode = await self.storage.episode(before.episode_id) if before.episode_id is not None else None
            now = self.clock()
            try:
                conversation = await self.storage.claim(conversation_id, agent.id, now,
                                                        self.texts.get("agent_joined", agent=agent.name))
            except TransitionError as exc:
                raise FrameError("already_claimed",
                                 "Otra persona ya atiende esta conversación o ya no está en cola "
                                 "(already claimed).") from exc
            if episode is not None and episode.get("assigned_at") is None:  # the first claim ends the wait
                self._observe_wait(episode, "claimed", now)
            logger.info("conversation_claimed", extra={"conversation_id": conversation_id, "agent_id": agent.id})
            self.crash_point("claim_stored")
            await self.to_agent(agent.id, await self._conversation_frame(conversation))
            await self.to_customer(conversation_id, await self._handoff_frame(
                conversation_id, {"type": "handoff", "state": "assigned", "agent_name": agent.name}))
        await self.broadcast_queue()

    async def agent_message(self, agent: Agent, conversation_id: str, text: str, client_id: Optional[str], ws: Socket) -> None:
        async with self.lock(conversation_id):
            conversation = await self._get(conversation_id)
            if not may_deliver(conversation.state, "agent", agent.id, conversation.agent_id):
                raise FrameError("not_assigned", "Esta conversación no está asignada a ti (not assigned to you).")
            stored_client_id = f"agent:{agent.id}:{client_id}" if client_id else None
            now = self.clock()
            message, created, queued_at = await self.storage.add_agent_reply(
                conversation_id, agent.id, text, stored_client_id, conversation.episode_id, now)
            self.crash_point("agent_reply_stored")
            await self._send_stored(message, created, agent)
            if client_id is not None:
                await self.send(ws, {"type": "ack", "client_id": client_id, "id": str(message.id)})
            if queued_at is not None:
                self.metrics.first_reply.observe(max(0.0, (now - queued_at).total_seconds()))

    async def agent_typing(self, agent: Agent, conversation_id: str) -> None:
        conversation = await self._get(conversation_id)
        if may_deliver(conversation.state, "agent", agent.id, conversation.agent_id):
            await self.to_customer(conversation_id, {"type": "typing", "sender": "agent"})

    async def note(self, agent: Agent, conversation_id: str, text: str) -> None:
        """Internal note: stored, shown to the author and the assigned agent only."""
        async with self.lock(conversation_id):
            conversation = await self._get(conversation_id)
            if conversation.state is State.AGENT and conversation.agent_id != agent.id:
                raise FrameError("not_assigned", "Esta conversación la atiende otra persona (assigned to another agent).")
            message, _ = await self.storage.add_message(conversation_id, "note", text, None, agent.id, None)
            self.metrics.messages.labels("note").inc()
            frame = {"type": "note", "conversation_id": conversation_id, "id": str(message.id), "text": text,
                     "agent_id": agent.id, "agent_name": agent.name, "at": _iso(message.created_at)}
            for agent_id in {agent.id, conversation.agent_id}:
                if agent_id:
                    await self.to_agent(agent_id, frame)

    async def transfer(self, agent: Agent, conversation_id: str, to: str) -> None:
        if to == "queue":
            async with self.lock(conversation_id):
                await self._get(conversation_id)
                try:
                    notice = self._queued_notice((await self._promises([conversation_id])).get(conversation_id),
                                                 self.clock())
                    await self.storage.requeue(conversation_id, agent.id, Event.TRANSFER_TO_QUEUE, self.clock(), notice)
                except TransitionError as exc:
                    raise self._not_assigned(exc) from exc
                logger.info("transferred_to_queue", extra={"conversation_id": conversation_id, "agent_id": agent.id})
                await self.to_agent(agent.id, {"type": "released", "conversation_id": conversation_id, "to": "queue"})
                await self.broadcast_queue()
            return
        target = await self.storage.get_agent(to)
        if target is None or target.id == agent.id:
            raise FrameError("not_found", "No existe ese agente o eres tú (unknown agent).")
        async with self.lock(conversation_id):
            await self._get(conversation_id)
            try:
                conversation = await self.storage.transfer(conversation_id, agent.id, target.id,
                                                           self.texts.get("agent_joined", agent=target.name),
                                                           self.clock())
            except TransitionError as exc:
                raise self._not_assigned(exc) from exc
            logger.info("transferred_to_agent", extra={"conversation_id": conversation_id,
                                                       "agent_id": agent.id, "to_agent_id": target.id})
            await self.to_agent(agent.id, {"type": "released", "conversation_id": conversation_id, "to": target.id})
            await self.to_agent(target.id, await self._conversation_frame(conversation))
            await self.to_customer(conversation_id, await self._handoff_frame(
                conversation_id, {"type": "handoff", "state": "assigned", "agent_name": target.name}))

    async def close(self, agent: Agent, conversation_id: str, resolution: Optional[str]) -> None:
        """agent → bot, then the owed ``resume`` turn: the bot's line and the
        CSAT request (``_resume``)."""
        resolution = resolution if resolution in ("resolved", "unresolved") else "resolved"
        async with self.lock(conversation_id):
            await self._get(conversation_id)
            try:
                conversation = await self.storage.close(conversation_id, agent.id, resolution, self.clock(),
                                                        self.texts.get("handoff_ended", agent=agent.name))
            except TransitionError as exc:
                raise self._not_assigned(exc) from exc
            logger.info("conversation_closed", extra={"conversation_id": conversation_id,
                                                      "agent_id": agent.id, "resolution": resolution})
            self.crash_point("close_stored")
            await self.to_agent(agent.id, {"type": "closed", "conversation_id": conversation_id, "resolution": resolution})
            # the agent's name, so every channel says "La conversación con Ana ha terminado."
            await self.to_customer(conversation_id, await self._handoff_frame(conversation_id, {
                "type": "handoff", "state": "ended", "outcome": "closed", "agent_name": agent.name}))
            for turn in await self.storage.pending_turns(conversation_id):
                if turn.kind == "resume":
                    await self._resume(conversation, turn)

    async def _resume(self, conversation: Conversation, turn: Turn, replay: bool = False) -> None:
        """After a close or the queue left (caller holds the lock): the bot says
        it is back (Rasa's response, in the store's voice; the bridge's own
        line if Rasa cannot), then, after a close only, the CSAT request; the
        turn is finished. Rasa never pauses a conversation (the bridge's state
        machine alone decides who talks), so a failed resume leaves nothing
        silent."""
        left = turn.kind == "withdraw"
        action = self.settings.queue_left_action if left else self.settings.resume_action
        try:
            replies = await self.rasa.resume(conversation.id, action)
        except RasaUnavailable as exc:
            logger.warning("rasa_resume_failed", extra={"conversation_id": conversation.id, "error": str(exc)})
            replies = []
        self.crash_point("close_resumed")
        if any(r.get("text") for r in replies):
            await self._relay_bot(conversation, replies, None, f"resume:{turn.key}", replay)
        elif left:  # a way back to a person, should the shopper change their mind
            await self._deliver(conversation.id, "system", self.texts["queue_left"], {"buttons": [HUMAN_BUTTON]},
                                client_id=f"resume:{turn.key}:0", resend=replay)
        else:
            await self._deliver(conversation.id, "system", self.texts["resumed"], client_id=f"resume:{turn.key}:0", resend=replay)
        if conversation.csat_episode_id is not None and not left:
            await self.to_customer(conversation.id, await self._csat_request(conversation))
        await self.storage.finish_turn(turn.id)

    # -- recovery --------------------------------------------------------

    async def recover(self, older_than_s: float = 0.0) -> int:
        """Finish the turns a previous process left owed (it died between
        storing a message and answering it, or between a close and the bot's
        line), oldest first, each under its conversation's lock; how many.
        Safe to run while customers talk: a turn finished meanwhile is gone.
        ``older_than_s``: only turns owed at least that long (another live
        bridge may be finishing a newer one)."""
        done = 0
        cutoff = self.clock() - dt.timedelta(seconds=older_than_s)
        for turn in await self.storage.pending_turns():
            created = turn.created_at
            if older_than_s and created is not None \
                    and (created if created.tzinfo else created.replace(tzinfo=dt.timezone.utc)) > cutoff:
                continue
            async with self.lock(turn.conversation_id):
                if turn not in await self.storage.pending_turns(turn.conversation_id):
                    continue
                conversation = await self.storage.get_conversation(turn.conversation_id)
                if turn.kind == "message" and turn.message_id is not None:
                    await self._bot_turn(conversation, await self.storage.get_message(turn.message_id), replay=True)
                else:
                    await self._resume(conversation, turn, replay=True)
                done += 1
                logger.info("turn_recovered", extra={"conversation_id": turn.conversation_id, "kind": turn.kind})
        return done

    def crash_point(self, step: str) -> None:
        """Fault-injection tests only (HANDOFF_CRASH_AT=<step>): exit at once,
        without cleanup, as kill -9 would."""
        if self.settings.crash_at == step:
            logger.warning("crash_point", extra={"step": step})
            os._exit(CRASH_EXIT_CODE)
