"""What several bridge processes share: live frames, conversation locks,
who is connected, and which bridge leads.

Why one seam: the bridge (handoff/bridge/) decides and stores; this module
only moves what one process cannot know alone. Two implementations behind
one small interface, chosen by ``HANDOFF_CLUSTER`` (``make_cluster``):

- ``LocalCluster`` (default, ``make run``): one bridge per database. Frames
  are handed straight to this process's sockets, locks are ``asyncio.Lock``
  s, presence is two dictionaries, and this process always leads.
- ``RedisCluster``: any number of bridges behind a load balancer.
  * Frames: every frame for a customer or an agent is published on one Redis
    pub/sub channel; each bridge delivers those whose socket it holds. One
    path for every frame, local ones too, so a socket gets a conversation's
    frames in the order they were published (publishing is awaited under the
    conversation's lock, and Redis keeps the order of what it received).
  * Locks: one conversation at a time across processes: this process's
    ``asyncio.Lock`` first (no Redis traffic for local waiters), then a Redis
    lock (SET NX PX with a token; another bridge's is polled every
    ``LOCK_POLL_S``), released by a script and kept alive while held (a
    timer: most locks are released within milliseconds); a dead holder's
    lock expires after ``LOCK_TTL_S`` (4 s: the conversation waits that long,
    nothing is lost). The holder's last frame is published by the same
    script as the release (a relayed message costs two round trips: lock,
    then frame and release), so the lock is already free when the other
    bridge gets the frame (an agent answering at once never finds it held).
  * Presence: a sorted set per kind (customer, agent) whose score is "present
    until" (Unix seconds): a bridge refreshes its sockets' ids every third of
    ``presence_ttl_s``, and writes "gone since now" when the last one closes;
    a dead bridge's sockets count as gone once their time runs out.
  * Leadership: one bridge at a time holds ``<prefix>leader`` (SET NX PX,
    renewed every third of ``leader_ttl_s``; a script checks the owner); the
    leader runs the duties only one process may run (Telegram's poller and
    sender, the queue's sweeps). A leader that cannot renew steps down at
    once; another takes over within ``leader_ttl_s``.

Limits: a frame published while a socket's bridge is down is not kept (the
socket reconnects and gets the stored history); when one id has sockets on two
bridges and one closes, it may read as gone for up to a third of
``presence_ttl_s``; Redis is a single point: while it is unreachable, bridges
answer ``unavailable`` and retry.
"""
from __future__ import annotations

import asyncio
import contextlib
import contextvars
import datetime as dt
import json
import logging
import os
import secrets
import socket
import time
from dataclasses import dataclass, field
from typing import (
    Any,
    AsyncIterator,
    Awaitable,
    Callable,
    Coroutine,
    Dict,
    Iterable,
    List,
    Optional,
    Set,
    Tuple,
)

from handoff.settings import HandoffSettings
from handoff.storage import StorageError

logger = logging.getLogger(__name__)

Frame = Dict[str, Any]
LeaderHook = Callable[[], Awaitable[None]]

CUSTOMER = "customer"
AGENT = "agent"
QUEUE = "queue"      # the queue changed: every other bridge re-sends it to its agents
SIGNAL = "signal"    # a named nudge (``key``), e.g. the Telegram outbox has rows
KINDS = (CUSTOMER, AGENT, QUEUE, SIGNAL)
LOCK_TTL_S = 4.0     # how long a dead bridge's conversation lock outlives it (a live one extends it every third)
LOCK_POLL_S = 0.002  # how often a conversation lock another bridge holds is tried again


class ClusterError(StorageError):
    """Redis, which the bridges share, did not answer: the shopper or agent
    gets ``unavailable`` and may retry (a subclass of StorageError, so every
    channel already answers it in Spanish)."""


class ConversationBusy(ClusterError):
    """Another bridge held the conversation's lock for longer than a turn may
    take (it died holding it, or Rasa hung): refused rather than run twice."""


@dataclass(frozen=True)
class Envelope:
    """One message between bridges: a ``frame`` for the ``customer`` or
    ``agent`` whose id is ``key``, a ``queue`` change, or a ``signal``
    named by ``key``; ``origin`` is the publishing bridge."""

    kind: str
    key: str
    frame: Frame = field(default_factory=dict)
    origin: str = ""

    def dumps(self) -> str:
        return json.dumps({"kind": self.kind, "key": self.key, "frame": self.frame, "origin": self.origin},
                          ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def loads(cls, raw: Any) -> "Envelope":
        """An envelope from the wire; ValueError for anything else."""
        data = json.loads(raw)
        if not isinstance(data, dict) or data.get("kind") not in KINDS or not isinstance(data.get("key"), str) \
                or not isinstance(data.get("frame"), dict):
            raise ValueError("not an envelope")
        return cls(data["kind"], data["key"], data["frame"], str(data.get("origin") or ""))


Receiver = Callable[[Envelope], Awaitable[None]]


def default_bridge_id() -> str:
    """Host name and process id: unique per running bridge, readable in logs."""
    return f"{socket.gethostname()}-{os.getpid()}"


def _utc(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc)


class Cluster:
    """The interface the bridge uses (LocalCluster's behaviour is the default).

    Presence answers, for each id asked about, ``None`` while a socket for it
    is open on some bridge, the time it has been gone since otherwise, and
    nothing for an id never seen."""

    def __init__(self, bridge_id: str = "") -> None:
        self.bridge_id = bridge_id or default_bridge_id()
        self._receiver: Optional[Receiver] = None
        self._gain: List[LeaderHook] = []
        self._lose: List[LeaderHook] = []
        self.leader = False
        self._local: Dict[str, Tuple[asyncio.Lock, int]] = {}  # conversation -> its lock, tasks using it
        self._counts: Dict[Tuple[str, str], int] = {}  # (kind, id) -> this process's open sockets
        self._gone: Dict[Tuple[str, str], dt.datetime] = {}  # (kind, id) -> gone since (LocalCluster)

    @property
    def shared(self) -> bool:
        """Whether other bridges may exist (frames and queue changes cross processes)."""
        return False

    async def start(self, receiver: Receiver) -> None:
        self._receiver = receiver
        await self._become_leader()

    async def stop(self) -> None:
        await self._step_down()

    async def on_leadership(self, gain: LeaderHook, lose: LeaderHook) -> None:
        """Run ``gain`` when this bridge becomes the leader (now, if it is) and
        ``lose`` when it stops being it."""
        self._gain.append(gain)
        self._lose.append(lose)
        if self.leader:
            await self._run_hook(gain, "gain")

    async def _run_hook(self, hook: LeaderHook, what: str) -> None:
        try:
            await hook()
        except Exception:  # noqa: BLE001 - one duty's failure must not stop the others' start or stop
            logger.exception("leader_hook_failed", extra={"step": what})

    async def _become_leader(self) -> None:
        if self.leader:
            return
        self.leader = True
        logger.info("bridge_leads", extra={"bridge_id": self.bridge_id})
        for hook in list(self._gain):
            await self._run_hook(hook, "gain")

    async def _step_down(self) -> None:
        if not self.leader:
            return
        self.leader = False
        logger.info("bridge_stepped_down", extra={"bridge_id": self.bridge_id})
        for hook in list(self._lose):
            await self._run_hook(hook, "lose")

    async def publish(self, envelope: Envelope) -> None:
        """To every bridge's receiver, this one's included."""
        if self._receiver is not None:
            await self._receiver(envelope)

    def lock(self, conversation_id: str) -> Any:
        """An async context manager: this conversation, one operation at a time."""
        return self._local_lock(conversation_id)

    @contextlib.asynccontextmanager
    async def _local_lock(self, conversation_id: str) -> AsyncIterator[None]:
        """This process's lock of the conversation, kept only while some task
        holds or waits for it (one per conversation ever seen would pile up in
        the heap every full garbage collection walks)."""
        lock, users = self._local.get(conversation_id) or (asyncio.Lock(), 0)
        self._local[conversation_id] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._local[conversation_id]
            if users > 1:
                self._local[conversation_id] = (lock, users - 1)
            else:
                del self._local[conversation_id]

    # -- presence ------------------------------------------------------------

    def attach(self, kind: str, key: str) -> None:
        """A socket for ``key`` opened here (synchronous: the caller must not
        yield before holding the socket's live frames)."""
        self._counts[(kind, key)] = self._counts.get((kind, key), 0) + 1
        self._attached(kind, key)

    def detach(self, kind: str, key: str, now: dt.datetime) -> None:
        """A socket closed; the last one makes ``key`` gone since ``now``."""
        left = self._counts.get((kind, key), 0) - 1
        if left > 0:
            self._counts[(kind, key)] = left
            return
        self._counts.pop((kind, key), None)
        self._detached(kind, key, now)

    def here(self, kind: str, key: str) -> bool:
        """Whether this process holds a socket for it."""
        return (kind, key) in self._counts

    def _attached(self, kind: str, key: str) -> None:
        self._gone.pop((kind, key), None)

    def _detached(self, kind: str, key: str, now: dt.datetime) -> None:
        self._gone[(kind, key)] = now

    async def seen(self, kind: str, keys: Iterable[str], now: dt.datetime) -> Dict[str, Optional[dt.datetime]]:
        found: Dict[str, Optional[dt.datetime]] = {}
        for key in keys:
            if (kind, key) in self._counts:
                found[key] = None
            elif (kind, key) in self._gone:
                found[key] = self._gone[(kind, key)]
        return found

    async def gone_from(self, kind: str, keys: Iterable[str], when: dt.datetime) -> None:
        """Ids never seen count as gone since ``when`` (never overwrites)."""
        for key in keys:
            if (kind, key) not in self._counts:
                self._gone.setdefault((kind, key), when)

    async def prune(self, kind: str, keep: Set[str], now: dt.datetime) -> None:
        """Forget the ids gone by ``now`` that are not in ``keep`` (a
        conversation that left the queue counts from its next queueing)."""
        for (k, key) in [gone for gone in self._gone if gone[0] == kind and gone[1] not in keep]:
            if self._gone[(k, key)] <= now:
                del self._gone[(k, key)]

    async def online(self, kind: str) -> int:
        """How many ids of ``kind`` have a socket open on some bridge."""
        return len({key for (k, key) in self._counts if k == kind})


class LocalCluster(Cluster):
    """One bridge: everything in this process (the embedded default)."""


class RedisCluster(Cluster):
    """Several bridges sharing one Redis (see the module docstring)."""

    RENEW = ("if redis.call('get', KEYS[1]) == ARGV[1] then "
             "return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end")
    RESIGN = ("if redis.call('get', KEYS[1]) == ARGV[1] then "
              "return redis.call('del', KEYS[1]) else return 0 end")
    # a lock holder's last frame and the release, in one call: PUBLISH on KEYS[2], then RESIGN
    PUBLISH_RESIGN = "redis.call('publish', KEYS[2], ARGV[2]) " + RESIGN

    def __init__(self, settings: HandoffSettings, redis: Any = None) -> None:
        super().__init__(settings.bridge_id)
        self.settings = settings
        self.prefix = settings.cluster_prefix
        self.channel = f"{self.prefix}frames"
        self.leader_ttl_s = settings.leader_ttl_s
        self.presence_ttl_s = settings.presence_ttl_s
        self.lock_ttl_s = LOCK_TTL_S
        self.lock_wait_s = settings.rasa_timeout_s * 2 + LOCK_TTL_S  # a turn and a dead holder's lock
        self._redis = redis
        self._tasks: List[asyncio.Task] = []
        self._writes: Set[asyncio.Task] = set()
        self._subscribed = asyncio.Event()
        self._stopping = False
        self._holder: contextvars.ContextVar[Optional[_Holder]] = contextvars.ContextVar("holder", default=None)

    @property
    def shared(self) -> bool:
        return True

    @property
    def redis(self) -> Any:
        if self._redis is None:
            raise ClusterError("the cluster is not started")
        return self._redis

    def _connect(self) -> Any:
        """A client with every call bounded (nothing connects at import or here:
        the pool connects on first use)."""
        from redis.asyncio import Redis

        r = self.settings.redis
        return Redis(host=r.host, port=r.port, db=r.db, password=r.password or None,
                     socket_timeout=5.0, socket_connect_timeout=5.0, health_check_interval=15)

    async def start(self, receiver: Receiver) -> None:
        """Subscribe (before returning: no frame published after the start is
        missed), then keep presence and leadership in the background."""
        from redis.exceptions import RedisError

        self._receiver = receiver
        if self._redis is None:
            self._redis = self._connect()
        try:
            await self.redis.ping()
        except (RedisError, OSError) as exc:
            raise ClusterError(f"Redis at {self.settings.redis.host}:{self.settings.redis.port} "
                               f"did not answer ({type(exc).__name__})") from exc
        self._tasks = [asyncio.create_task(self._listen(), name="cluster-listen"),
                       asyncio.create_task(self._heartbeat(), name="cluster-presence"),
                       asyncio.create_task(self._lead(), name="cluster-leader")]
        await asyncio.wait_for(self._subscribed.wait(), timeout=10.0)
        logger.info("cluster_joined", extra={"bridge_id": self.bridge_id})

    async def stop(self) -> None:
        """Step down (and hand the leadership over at once), mark this
        bridge's sockets gone, stop."""
        from redis.exceptions import RedisError

        self._stopping = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        was_leader = self.leader
        await self._step_down()
        if self._redis is not None:
            try:
                if was_leader:
                    await self.redis.eval(self.RESIGN, 1, self._key("leader"), self.bridge_id)
                await self._flush()
                now = time.time()
                for kind in (CUSTOMER, AGENT):
                    ids = [key for (k, key) in self._counts if k == kind]
                    if ids:
                        await self.redis.zadd(self._key(f"presence:{kind}"), {key: now for key in ids})
            except (RedisError, OSError) as exc:
                logger.warning("cluster_leave_failed", extra={"error": type(exc).__name__})
            await self.redis.close()
            self._redis = None

    def _key(self, name: str) -> str:
        return f"{self.prefix}{name}"

    # -- frames --------------------------------------------------------------

    async def publish(self, envelope: Envelope) -> None:
        """Publish once Redis has this process's presence changes (a bridge
        that reads presence on this envelope sees them). Under a conversation
        lock this task holds, the envelope is held back until the task next
        waits for something (then published, in order) or releases the lock
        (then published with the release, one round trip): a relayed message
        costs no round trip of its own. A publish that fails then is raised by
        the holder's next publish or by the release."""
        from redis.exceptions import RedisError

        data = Envelope(envelope.kind, envelope.key, envelope.frame, self.bridge_id).dumps()
        await self._flush()
        holder = self._holder.get()
        if holder is not None and holder.open and holder.task is asyncio.current_task():
            await holder.settle()
            holder.hold(data, self._publish_now)
            return
        try:
            await self._publish_now(data)
        except (RedisError, OSError) as exc:
            raise ClusterError(f"could not publish to the other bridges ({type(exc).__name__})") from exc

    async def _publish_now(self, data: str) -> None:
        await self.redis.publish(self.channel, data)

    async def _listen(self) -> None:
        """Deliver every envelope to the receiver, one at a time, in the order
        Redis sends them; resubscribe after a lost connection."""
        from redis.exceptions import RedisError

        attempt = 0
        while True:
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                self._subscribed.set()
                attempt = 0
                while True:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is None or message.get("type") != "message":
                        continue
                    try:
                        envelope = Envelope.loads(message["data"])
                    except ValueError:
                        logger.warning("cluster_bad_envelope")
                        continue
                    if self._receiver is not None:
                        try:
                            await self._receiver(envelope)
                        except Exception:  # noqa: BLE001 - one bad delivery must not stop the others
                            logger.exception("cluster_delivery_failed", extra={"kind": envelope.kind})
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the listener must outlive any fault (redis-py's included)
                attempt += 1
                delay = min(5.0, 0.05 * 2 ** attempt)
                logger.warning("cluster_listen_retry", extra={"error": type(exc).__name__, "detail": str(exc)[:200],
                                                              "retry_in_s": delay})
                await asyncio.sleep(delay)
            finally:
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.close()

    # -- locks ---------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def lock(self, conversation_id: str) -> AsyncIterator[None]:
        """This process's lock, then Redis's (SET NX PX with a token of this
        holder, polled while another bridge holds it). The holder's last frame
        goes out with the release, in one round trip (see ``publish``)."""
        async with self._local_lock(conversation_id):
            key = self._key(f"lock:{conversation_id}")
            token = secrets.token_hex(8)
            await self._acquire(key, token, conversation_id)
            holder = _Holder(asyncio.current_task())
            keeper = _Keeper(self, key, token)
            reset = self._holder.set(holder)
            try:
                yield
            finally:
                self._holder.reset(reset)
                holder.open = False
                # never cancelled mid-command: redis-py's asyncio client hands a connection
                # cancelled in the middle of a reply back to its pool, and the next command
                # on it can wait for ever (seen: claims stuck holding their locks under load)
                await keeper.stop()
                await self._release(key, token, holder, conversation_id)

    async def _acquire(self, key: str, token: str, conversation_id: str) -> None:
        from redis.exceptions import RedisError

        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.lock_wait_s
        try:
            while not await self.redis.set(key, token, nx=True, px=int(self.lock_ttl_s * 1000)):
                if loop.time() > deadline:
                    raise ConversationBusy(f"conversation {conversation_id} stayed locked by another bridge")
                await asyncio.sleep(LOCK_POLL_S)  # another bridge holds it (no wake-up from Redis)
        except (RedisError, OSError) as exc:
            raise ClusterError(f"conversation lock unavailable ({type(exc).__name__})") from exc

    async def _release(self, key: str, token: str, holder: "_Holder", conversation_id: str) -> None:
        """The holder's pending frame and the release in one script (so the
        next holder's frames come after it, and the lock is free once the
        frame is out); a frame that could not be published is raised
        (ClusterError, the lock then expires by itself), a release that
        failed alone is only logged."""
        from redis.exceptions import RedisError

        failed: Optional[ClusterError] = None
        try:
            await holder.settle(held_too=False)
        except ClusterError as exc:  # raised once the lock is released
            failed = exc
        data = holder.take()
        try:
            if data is None:
                released = await self.redis.eval(self.RESIGN, 1, key, token)
            else:
                await self._flush()
                released = await self.redis.eval(self.PUBLISH_RESIGN, 2, key, self.channel, token, data)
        except (RedisError, OSError) as exc:
            if data is not None or failed is not None:
                raise ClusterError(f"could not publish to the other bridges ({type(exc).__name__})") from exc
            logger.warning("conversation_unlock_failed", extra={"error": type(exc).__name__})
            return
        if not released:
            logger.warning("conversation_lock_expired", extra={"conversation_id": conversation_id})
        if failed is not None:
            raise failed

    async def _extend(self, key: str, token: str) -> str:
        """Extend a held lock (the RENEW script: only while this token holds
        it); "" when done, else why not."""
        from redis.exceptions import RedisError

        try:
            return "" if await self.redis.eval(self.RENEW, 1, key, token, int(self.lock_ttl_s * 1000)) else "expired"
        except (RedisError, OSError) as exc:
            return type(exc).__name__

    # -- presence ------------------------------------------------------------

    def _attached(self, kind: str, key: str) -> None:
        self._write(self._present(kind, [key]))

    def _detached(self, kind: str, key: str, now: dt.datetime) -> None:
        self._write(self._mark(kind, {key: now.timestamp()}))

    def _write(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task: asyncio.Task = asyncio.get_running_loop().create_task(coroutine)
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def _flush(self) -> None:
        """Wait for presence writes still on their way."""
        if self._writes:
            await asyncio.gather(*list(self._writes), return_exceptions=True)

    async def _present(self, kind: str, keys: List[str]) -> None:
        until = time.time() + self.presence_ttl_s
        await self._mark(kind, {key: until for key in keys})

    async def _mark(self, kind: str, scores: Dict[str, float]) -> None:
        from redis.exceptions import RedisError

        if not scores or self._redis is None:
            return
        try:
            await self.redis.zadd(self._key(f"presence:{kind}"), scores)
        except (RedisError, OSError) as exc:
            logger.warning("presence_write_failed", extra={"error": type(exc).__name__})

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.presence_ttl_s / 3)
            for kind in (CUSTOMER, AGENT):
                keys = [key for (k, key) in self._counts if k == kind]
                for start in range(0, len(keys), 500):
                    await self._present(kind, keys[start:start + 500])

    async def seen(self, kind: str, keys: Iterable[str], now: dt.datetime) -> Dict[str, Optional[dt.datetime]]:
        from redis.exceptions import RedisError

        keys = list(keys)
        found: Dict[str, Optional[dt.datetime]] = {}
        remote = [key for key in keys if (kind, key) not in self._counts]
        for key in keys:
            if (kind, key) in self._counts:
                found[key] = None
        if not remote:
            return found
        try:
            scores = await self.redis.zmscore(self._key(f"presence:{kind}"), remote)
        except (RedisError, OSError) as exc:
            raise ClusterError(f"presence unavailable ({type(exc).__name__})") from exc
        moment = now.timestamp()
        for key, score in zip(remote, scores):
            if score is None:
                continue
            found[key] = None if score > moment else _utc(score)
        return found

    async def gone_from(self, kind: str, keys: Iterable[str], when: dt.datetime) -> None:
        from redis.exceptions import RedisError

        scores = {key: when.timestamp() for key in keys if (kind, key) not in self._counts}
        if not scores:
            return
        try:
            await self.redis.zadd(self._key(f"presence:{kind}"), scores, nx=True)
        except (RedisError, OSError) as exc:
            raise ClusterError(f"presence unavailable ({type(exc).__name__})") from exc

    async def prune(self, kind: str, keep: Set[str], now: dt.datetime) -> None:
        from redis.exceptions import RedisError

        key = self._key(f"presence:{kind}")
        try:
            gone = [m.decode() if isinstance(m, bytes) else str(m)
                    for m in await self.redis.zrangebyscore(key, "-inf", now.timestamp())]
            drop = [m for m in gone if m not in keep and (kind, m) not in self._counts]
            for start in range(0, len(drop), 500):
                await self.redis.zrem(key, *drop[start:start + 500])
        except (RedisError, OSError) as exc:
            logger.warning("presence_prune_failed", extra={"error": type(exc).__name__})

    async def online(self, kind: str) -> int:
        from redis.exceptions import RedisError

        try:
            return int(await self.redis.zcount(self._key(f"presence:{kind}"), f"({time.time()}", "+inf"))
        except (RedisError, OSError) as exc:
            raise ClusterError(f"presence unavailable ({type(exc).__name__})") from exc

    # -- leadership ----------------------------------------------------------

    async def _lead(self) -> None:
        """Take the leadership when it is free; renew it while held; step
        down at once when renewing fails (another bridge may take it)."""
        from redis.exceptions import RedisError

        ttl_ms = int(self.leader_ttl_s * 1000)
        key = self._key("leader")
        while True:
            try:
                if self.leader:
                    if not await self.redis.eval(self.RENEW, 1, key, self.bridge_id, ttl_ms):
                        logger.warning("leadership_lost", extra={"bridge_id": self.bridge_id})
                        await self._step_down()
                elif await self.redis.set(key, self.bridge_id, nx=True, px=ttl_ms):
                    await self._become_leader()
            except (RedisError, OSError) as exc:
                logger.warning("leadership_check_failed", extra={"error": type(exc).__name__})
                await self._step_down()
            await asyncio.sleep(self.leader_ttl_s / 3)


class _Holder:
    """What a task holding a conversation lock has published but Redis may
    not have yet: at most one ``pending`` envelope (held until the task waits
    for something or releases), or one being ``sent``."""

    def __init__(self, task: Optional["asyncio.Task[Any]"]) -> None:
        self.task = task
        self.open = True
        self.pending: Optional[str] = None
        self.sent: Optional["asyncio.Task[None]"] = None
        self._send: Optional[Callable[[str], Coroutine[Any, Any, None]]] = None

    def hold(self, data: str, send: Callable[[str], Coroutine[Any, Any, None]]) -> None:
        """Hold ``data``; publish it with ``send`` once the holder yields to the loop
        without having released (a Rasa call, a database read: nothing waits on it then)."""
        self.pending, self._send = data, send
        asyncio.get_running_loop().call_soon(self._send_pending)

    def _send_pending(self) -> None:
        if self.pending is None or self.sent is not None or self._send is None:
            return  # taken by the release, or by the holder's next publish
        data, self.pending = self.pending, None
        self.sent = asyncio.get_running_loop().create_task(self._send(data))

    def take(self) -> Optional[str]:
        data, self.pending = self.pending, None
        return data

    async def settle(self, held_too: bool = True) -> None:
        """Wait for what is being sent (a failure raises ClusterError), then,
        with ``held_too``, send what is still held: the order of this
        holder's envelopes."""
        from redis.exceptions import RedisError

        sent, self.sent = self.sent, None
        data = self.take() if held_too else None
        try:
            if sent is not None:
                await sent
            if data is not None and self._send is not None:
                await self._send(data)
        except (RedisError, OSError) as exc:
            raise ClusterError(f"could not publish to the other bridges ({type(exc).__name__})") from exc


class _Keeper:
    """Extends a held conversation lock every third of its time to live
    while its work runs (a long Rasa turn). Most locks are released within
    milliseconds: a timer, and a task only once the first third has passed;
    never cancelled while a Redis command is in flight."""

    def __init__(self, cluster: RedisCluster, key: str, token: str) -> None:
        self.cluster, self.key, self.token = cluster, key, token
        self.done = asyncio.Event()
        self.task: Optional["asyncio.Task[None]"] = None
        self.timer = asyncio.get_running_loop().call_later(cluster.lock_ttl_s / 3, self._start)

    def _start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._keep())

    async def _keep(self) -> None:
        while True:
            failed = await self.cluster._extend(self.key, self.token)
            if failed:
                logger.warning("conversation_lock_not_extended", extra={"error": failed})
                return
            try:
                await asyncio.wait_for(self.done.wait(), self.cluster.lock_ttl_s / 3)
                return
            except asyncio.TimeoutError:
                pass

    async def stop(self) -> None:
        self.timer.cancel()
        self.done.set()
        if self.task is not None:
            await self.task


def make_cluster(settings: HandoffSettings) -> Cluster:
    """The cluster ``HANDOFF_CLUSTER`` names (``local`` by default)."""
    if settings.cluster == "redis":
        return RedisCluster(settings)
    return LocalCluster(settings.bridge_id)
