"""RedisCluster's conversation lock and the frames published under it, on
the local Redis (a key prefix of the test's own): a relayed message's frame
goes out with the lock's release, in one round trip; frames stay in order
across two clusters; a frame held back is published as soon as its holder
waits for something else; a lock held long is kept alive."""
from __future__ import annotations

import asyncio
import dataclasses
from typing import Any, AsyncIterator, List, Tuple

import pytest
import pytest_asyncio
from redis.asyncio import Redis

from handoff.cluster import AGENT, ConversationBusy, Envelope, LocalCluster, RedisCluster
from handoff.settings import HandoffSettings

pytestmark = pytest.mark.asyncio


class CountingRedis(Redis):
    """A client that counts its round trips (each command)."""

    round_trips = 0

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        type(self).round_trips += 1
        return await super().execute_command(*args, **options)


class Inbox:
    """A cluster's receiver: every envelope, and a way to wait for some."""

    def __init__(self) -> None:
        self.envelopes: List[Envelope] = []
        self.changed = asyncio.Event()
        self.on_receive: Any = None

    async def __call__(self, envelope: Envelope) -> None:
        if self.on_receive is not None:
            await self.on_receive(envelope)
        self.envelopes.append(envelope)
        self.changed.set()

    async def wait(self, count: int) -> List[Envelope]:
        async def enough() -> None:
            while len(self.envelopes) < count:
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(enough(), 5)
        return self.envelopes


@pytest_asyncio.fixture
async def clusters(redis_prefix: str) -> AsyncIterator[Tuple[RedisCluster, Inbox, RedisCluster, Inbox]]:
    """Two bridges' clusters (a, b) on one prefix, started, with their inboxes."""
    base = HandoffSettings.from_env({})
    made: List[RedisCluster] = []
    inboxes: List[Inbox] = []
    for name in ("a", "b"):
        settings = dataclasses.replace(base, cluster="redis", cluster_prefix=redis_prefix, bridge_id=name)
        cluster = RedisCluster(settings, redis=CountingRedis(host="127.0.0.1", port=6379, socket_timeout=5))
        inbox = Inbox()
        await cluster.start(inbox)
        made.append(cluster)
        inboxes.append(inbox)
    yield made[0], inboxes[0], made[1], inboxes[1]
    for cluster in made:
        await cluster.stop()


def frame(n: int) -> Envelope:
    return Envelope(AGENT, "agent-1", {"type": "message", "text": f"m{n}"})


async def test_a_frame_published_as_the_lock_is_released_costs_no_round_trip_of_its_own(clusters: Any) -> None:
    a, _, _, inbox_b = clusters
    async with a.lock("c1"):  # warm: the pool's connections exist
        pass
    CountingRedis.round_trips = 0
    async with a.lock("c1"):
        await a.publish(frame(1))
    # SET NX PX, then PUBLISH and the release in one script (before: SET, PUBLISH, release)
    assert CountingRedis.round_trips == 2
    [got] = await inbox_b.wait(1)
    assert got.frame["text"] == "m1"


async def test_frames_published_under_the_lock_keep_their_order_across_bridges(clusters: Any) -> None:
    a, _, b, inbox_b = clusters
    for n in range(6):
        holder = a if n % 2 == 0 else b
        async with holder.lock("c2"):
            await holder.publish(frame(n))
    got = await inbox_b.wait(6)
    assert [e.frame["text"] for e in got] == [f"m{n}" for n in range(6)]


async def test_the_lock_is_free_when_its_holder_s_frame_arrives(clusters: Any) -> None:
    """The other bridge may answer a relayed message at once (an agent's
    echo): by then the lock must be free, or it waits for a poll."""
    a, _, b, inbox_b = clusters
    free_on_arrival: List[bool] = []

    async def check(envelope: Envelope) -> None:
        free_on_arrival.append(not await b.redis.exists(b._key(f"lock:{envelope.frame['text']}")))

    inbox_b.on_receive = check
    for n in range(5):
        async with a.lock(f"m{n}"):
            await a.publish(frame(n))
    await inbox_b.wait(5)
    assert free_on_arrival == [True] * 5


async def test_a_held_frame_goes_out_while_its_holder_waits(clusters: Any) -> None:
    a, _, _, inbox_b = clusters
    async with a.lock("c3"):
        await a.publish(Envelope(AGENT, "agent-1", {"type": "typing"}))
        # the holder now waits (as for Rasa): the typing frame must not wait with it
        [got] = await inbox_b.wait(1)
        assert got.frame["type"] == "typing"
        await a.publish(frame(2))
    got_all = await inbox_b.wait(2)
    assert [e.frame.get("text") for e in got_all] == [None, "m2"]


async def test_a_lock_held_past_its_time_to_live_is_kept(clusters: Any) -> None:
    a, _, b, _ = clusters
    a.lock_ttl_s = 0.3
    b.lock_wait_s = 0.0
    entered = asyncio.Event()
    leave = asyncio.Event()

    async def hold() -> None:
        async with a.lock("c4"):
            entered.set()
            await leave.wait()

    holder = asyncio.create_task(hold())
    await asyncio.wait_for(entered.wait(), 5)
    for _ in range(4):  # a second or more: longer than the lock's 0.3 s
        ttl_ms = await b.redis.pttl(b._key("lock:c4"))
        assert ttl_ms > 0
        with pytest.raises(ConversationBusy):
            async with b.lock("c4"):
                pass
        await asyncio.sleep(0.3)  # letting time pass, not synchronising
    leave.set()
    await asyncio.wait_for(holder, 5)
    async with b.lock("c4"):
        pass


async def test_a_failed_publish_under_the_lock_is_raised_at_the_release(clusters: Any, monkeypatch: Any) -> None:
    from redis.exceptions import ConnectionError as RedisConnectionError

    from handoff.cluster import ClusterError

    a, _, _, inbox_b = clusters

    async def broken(*args: Any) -> Any:
        raise RedisConnectionError("gone")

    with pytest.raises(ClusterError):
        async with a.lock("c5"):
            await a.publish(frame(5))
            monkeypatch.setattr(a.redis, "eval", broken)
    assert not inbox_b.envelopes


async def test_a_conversation_s_local_lock_is_kept_only_while_used() -> None:
    """One lock per conversation ever seen would pile up in the heap that
    every full garbage collection walks."""
    cluster = LocalCluster("solo")
    order: List[str] = []
    first_in = asyncio.Event()
    second_waiting = asyncio.Event()

    async def first() -> None:
        async with cluster.lock("c6"):
            first_in.set()
            await second_waiting.wait()
            order.append("first")

    async def second() -> None:
        await first_in.wait()
        entering = cluster.lock("c6")
        second_waiting.set()
        async with entering:
            order.append("second")

    await asyncio.wait_for(asyncio.gather(first(), second()), 5)
    assert order == ["first", "second"]
    assert cluster._local == {}


async def test_a_frame_that_failed_while_its_holder_waited_is_raised_once_the_lock_is_released(
        clusters: Any, monkeypatch: Any) -> None:
    from redis.exceptions import ConnectionError as RedisConnectionError

    from handoff.cluster import ClusterError

    a, _, b, _ = clusters

    async def broken(data: str) -> None:
        raise RedisConnectionError("gone")

    with pytest.raises(ClusterError):
        async with a.lock("c7"):
            monkeypatch.setattr(a, "_publish_now", broken)
            await a.publish(frame(7))
            await a.redis.ping()  # the holder waits for something: the held frame is sent (and fails)
    b.lock_wait_s = 0.0
    async with b.lock("c7"):  # released all the same, not left to expire
        pass
