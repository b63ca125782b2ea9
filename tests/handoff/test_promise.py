"""The shopper's promise (issue 10): a queued shopper is told by when a person
will answer, counted in support time from the queueing; agents see each
queued conversation's deadline; a promise that passes unanswered gets one
apology with a new time (stored, so a restart does not repeat it); metrics.

The bridge's clock is set by each test (``bridge.clock``); the SLA sweep is
called directly (``Bridge.sla_sweep``), never waited for."""
from __future__ import annotations

import dataclasses
import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from core.policy import load_policy
from handoff.sla import promise_for, when_es
from handoff.texts import TU_FORMS, texts_for
from tests.handoff.conftest import (
    CLOSED_TIME,
    OPEN_TIME,
    agent_client,
    customer,
    new_agent,
    queued_customer,
)

MADRID = ZoneInfo("Europe/Madrid")
UTC = dt.timezone.utc


def madrid(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=MADRID)


def utc_iso(value: dt.datetime) -> str:
    return value.astimezone(UTC).isoformat()


def system_texts(frames):
    return [f["text"] for f in frames if f.get("type") == "message" and f.get("sender") == "system"]


# -- the wording ---------------------------------------------------------------

def test_the_promise_is_said_in_the_stores_time_zone() -> None:
    now = madrid(2025, 12, 4, 10, 0)  # a Thursday
    assert when_es(madrid(2025, 12, 4, 10, 30), now, MADRID) == "antes de las 10:30"
    assert when_es(madrid(2025, 12, 5, 9, 30), now, MADRID) == "mañana antes de las 9:30"
    assert when_es(madrid(2025, 12, 3, 19, 45), now, MADRID) == "ayer antes de las 19:45"
    assert when_es(madrid(2025, 12, 7, 9, 30), now, MADRID) == "el domingo 7 de diciembre antes de las 9:30"
    assert when_es(madrid(2026, 1, 2, 9, 30), now, MADRID) == "el viernes 2 de enero de 2026 antes de las 9:30"
    assert when_es(madrid(2025, 12, 4, 13, 5), now, MADRID) == "antes de las 13:05"
    assert when_es(madrid(2025, 12, 4, 1, 15), now, MADRID) == "antes de la 1:15"
    # an instant in UTC is said in Madrid: 23:30 UTC on the 4th is 0:30 on the 5th there
    assert when_es(dt.datetime(2025, 12, 4, 23, 30, tzinfo=UTC), now, MADRID) == "mañana antes de las 0:30"


def test_the_promise_texts_in_both_voices() -> None:
    tu, usted = texts_for("tu"), texts_for("usted")
    assert tu.get("promise", when="antes de las 10:30") == "Te respondemos antes de las 10:30."
    assert usted.get("promise", when="antes de las 10:30") == "Le respondemos antes de las 10:30."
    for key in ("promise", "sla_missed_queued", "sla_missed_assigned"):
        text = usted.get(key, when="antes de las 11:00", missed="antes de las 10:30", agent="Ana")
        assert not TU_FORMS.search(text), (key, text)
        assert TU_FORMS.search(tu.get(key, when="x", missed="y", agent="Ana")), key


def test_the_promise_is_the_deadline_then_the_latest_new_time() -> None:
    policy = load_policy()
    queued = madrid(2025, 11, 24, 12, 0)
    first = promise_for(policy, 7, queued)
    assert first.due == first.respond_by == policy.first_response_due(queued) and first.breaches == 0
    later = promise_for(policy, 7, queued, [
        {"episode_id": 7, "breach": 2, "respond_by": "2025-11-24T12:20:00+00:00"},
        {"episode_id": 7, "breach": 1, "respond_by": "2025-11-24T11:50:00+00:00"},
        {"broken": True}])
    assert later.due == first.due and later.breaches == 2
    assert later.respond_by == dt.datetime(2025, 11, 24, 12, 20, tzinfo=UTC)


# -- the queued frame and the agents' queue --------------------------------------

@pytest.mark.asyncio
async def test_a_queued_shopper_is_promised_a_time_that_the_queue_does_not_move(start_bridge) -> None:
    server = await start_bridge()  # Monday 12:00 in Madrid, open
    bridge = server.bridge
    target = bridge.policy.first_response_target_minutes
    due = OPEN_TIME + dt.timedelta(minutes=target)
    _, token = await new_agent(server, "Ana")
    agent = await agent_client(server, token)
    first, first_session, handoff = await queued_customer(server)
    assert handoff["respond_by"] == utc_iso(due)
    assert handoff["promise_text"] == f"Te respondemos antes de las {due.astimezone(MADRID):%-H:%M}."

    # a second shopper five minutes later: their own promise, and the first's does not move
    bridge.clock = lambda: OPEN_TIME + dt.timedelta(minutes=5)
    second, second_session, handoff2 = await queued_customer(server)
    assert handoff2["position"] == 2
    assert handoff2["respond_by"] == utc_iso(due + dt.timedelta(minutes=5))
    queue = await agent.wait_for(lambda f: f["type"] == "queue" and len(f["conversations"]) == 2)
    entries = {e["conversation_id"]: e for e in queue["conversations"]}
    entry = entries[first_session["conversation_id"]]
    assert entry["respond_by"] == entry["promised_by"] == utc_iso(due)
    assert entry["respond_in_s"] == (target - 5) * 60 and entry["breached"] is False

    # the first leaves: the second moves up, the promise stays
    await first.send({"type": "message", "text": "Volver al asistente", "payload": "/leave_queue", "client_id": "l1"})
    moved = await second.wait_for(lambda f: f.get("type") == "handoff" and f.get("position") == 1)
    assert moved["respond_by"] == handoff2["respond_by"]

    # a reconnection reads the same promise (nothing kept in memory decides it)
    await second.close()
    again, _ = await customer(server, second_session["session_id"])
    resumed = await again.wait_type("handoff", state="queued")
    assert resumed["respond_by"] == handoff2["respond_by"]


@pytest.mark.asyncio
async def test_out_of_hours_the_promise_counts_from_the_next_opening(start_bridge) -> None:
    server = await start_bridge(now=CLOSED_TIME)  # Sunday 12:00: opens Monday 9:00
    target = server.bridge.policy.first_response_target_minutes
    client, _, handoff = await queued_customer(server)
    opening_due = madrid(2025, 11, 24, 9, 0) + dt.timedelta(minutes=target)
    assert handoff["offline"] is True
    assert handoff["respond_by"] == utc_iso(opening_due)
    assert handoff["promise_text"] == f"Te respondemos mañana antes de las {opening_due:%-H:%M}."


@pytest.mark.asyncio
async def test_on_saturday_after_closing_the_promise_names_the_day(start_bridge) -> None:
    server = await start_bridge(now=madrid(2025, 11, 29, 14, 30).astimezone(UTC))  # Saturday, closed at 14:00
    _, _, handoff = await queued_customer(server)
    target = server.bridge.policy.first_response_target_minutes
    due = madrid(2025, 12, 1, 9, 0) + dt.timedelta(minutes=target)
    assert handoff["respond_by"] == utc_iso(due)
    assert handoff["promise_text"] == f"Te respondemos el lunes 1 de diciembre antes de las {due:%-H:%M}."


@pytest.mark.asyncio
async def test_a_holiday_is_skipped(start_bridge) -> None:
    # Friday 5 December 2025 19:50: Saturday 6 and Monday 8 are holidays, Sunday has no hours
    server = await start_bridge(now=madrid(2025, 12, 5, 19, 50).astimezone(UTC))
    policy = server.bridge.policy
    assert policy.is_holiday(dt.date(2025, 12, 6)) and policy.is_holiday(dt.date(2025, 12, 8))
    _, _, handoff = await queued_customer(server)
    due = policy.add_support_time(madrid(2025, 12, 5, 19, 50), minutes=policy.first_response_target_minutes)
    assert due.date() == dt.date(2025, 12, 9)
    assert handoff["respond_by"] == utc_iso(due)
    assert "el martes 9 de diciembre antes de las" in handoff["promise_text"]


# -- a promise that passes -------------------------------------------------------

@pytest.mark.asyncio
async def test_a_missed_promise_gets_one_apology_and_a_new_time(start_bridge, db_url: str) -> None:
    server = await start_bridge()
    bridge = server.bridge
    policy = bridge.policy
    _, token = await new_agent(server, "Ana")
    agent = await agent_client(server, token)
    client, session, handoff = await queued_customer(server)
    cid = session["conversation_id"]
    due = dt.datetime.fromisoformat(handoff["respond_by"])

    bridge.clock = lambda: due  # the promise itself: not missed yet
    assert await bridge.sla_sweep() == 0

    late = due + dt.timedelta(seconds=30)
    bridge.clock = lambda: late
    assert await bridge.sla_sweep() == 1
    new = policy.breach_new_promise(late)
    apology = await client.wait_for(lambda f: f.get("type") == "message" and f.get("sender") == "system")
    assert apology["text"] == (
        f"Perdona la espera: no hemos llegado a responderte antes de las {due.astimezone(MADRID):%-H:%M}, "
        f"como te dijimos. Sigues en la cola y te respondemos antes de las {new.astimezone(MADRID):%-H:%M}.")
    status = await client.wait_type("handoff", state="queued")
    assert status["respond_by"] == utc_iso(new)
    assert status["promise_text"] == f"Te respondemos antes de las {new.astimezone(MADRID):%-H:%M}."
    queue = await agent.wait_for(lambda f: f["type"] == "queue" and f["conversations"] and f["conversations"][0]["breached"])
    entry = queue["conversations"][0]
    assert entry["respond_by"] == utc_iso(due) and entry["promised_by"] == utc_iso(new)
    assert entry["respond_in_s"] == -30

    # stored with the new promise, which can be read back
    [stored] = [m for m in await bridge.storage.history(cid) if m.data.get("sla")]
    assert stored.data["sla"] == {"episode_id": (await bridge.storage.get_conversation(cid)).episode_id,
                                  "breach": 1, "missed": utc_iso(due), "respond_by": utc_iso(new)}
    metrics = bridge.metrics.exposition().decode()
    assert "handoff_sla_breaches_total 1.0" in metrics
    assert "handoff_sla_breached_waiting 1.0" in metrics

    # a second sweep, and a restarted bridge, say nothing more
    assert await bridge.sla_sweep() == 0
    await client.barrier()
    restarted = await start_bridge(now=late + dt.timedelta(seconds=60))
    assert await restarted.bridge.sla_sweep() == 0
    again, _ = await customer(restarted, session["session_id"])
    assert (await again.wait_type("handoff", state="queued"))["respond_by"] == utc_iso(new)
    history = [m for m in again.seen if m.get("type") == "history"]
    assert sum(1 for m in history[0]["messages"] if m["text"].startswith("Perdona la espera")) == 1

    # the new time passes too: a second apology (one breach of the SLA in the metrics still)
    later = new + dt.timedelta(seconds=5)
    bridge.clock = lambda: later
    assert await bridge.sla_sweep() == 1
    second = await client.wait_for(lambda f: f.get("type") == "message" and f.get("sender") == "system")
    assert f"no hemos llegado a responderte antes de las {new.astimezone(MADRID):%-H:%M}" in second["text"]
    assert "handoff_sla_breaches_total 1.0" in bridge.metrics.exposition().decode()


@pytest.mark.asyncio
async def test_claimed_but_unanswered_is_apologised_for_and_an_answer_stops_it(start_bridge) -> None:
    server = await start_bridge()
    bridge = server.bridge
    _, token = await new_agent(server, "Ana")
    agent = await agent_client(server, token)
    client, session, handoff = await queued_customer(server)
    cid = session["conversation_id"]
    due = dt.datetime.fromisoformat(handoff["respond_by"])
    bridge.clock = lambda: OPEN_TIME + dt.timedelta(minutes=2)
    await agent.send({"type": "claim", "conversation_id": cid})
    card = await agent.wait_type("conversation", conversation_id=cid)
    assert card["respond_by"] == utc_iso(due) and card["breached"] is False

    late = due + dt.timedelta(minutes=1)
    bridge.clock = lambda: late
    assert await bridge.sla_sweep() == 1
    apology = await client.wait_for(lambda f: f.get("type") == "message" and f.get("sender") == "system")
    new = bridge.policy.breach_new_promise(late)
    assert apology["text"] == ("Perdona la espera: Ana ya tiene tu conversación y te responde antes de las "
                               f"{new.astimezone(MADRID):%-H:%M}.")
    # the agent sees it happen in the conversation
    marked = await agent.wait_type("sla", conversation_id=cid)
    assert marked["breached"] is True and marked["promised_by"] == utc_iso(new)

    await agent.send({"type": "message", "conversation_id": cid, "text": "Hola, soy Ana.", "client_id": "a1"})
    await agent.wait_type("ack", client_id="a1")
    bridge.clock = lambda: new + dt.timedelta(hours=1)
    assert await bridge.sla_sweep() == 0
    assert "handoff_sla_breached_waiting 0.0" in bridge.metrics.exposition().decode()


@pytest.mark.asyncio
async def test_an_answer_in_time_is_no_breach_and_the_wait_is_measured(start_bridge) -> None:
    server = await start_bridge()
    bridge = server.bridge
    _, token = await new_agent(server, "Ana")
    agent = await agent_client(server, token)
    client, session, handoff = await queued_customer(server)
    cid = session["conversation_id"]
    bridge.clock = lambda: OPEN_TIME + dt.timedelta(seconds=90)
    await agent.send({"type": "claim", "conversation_id": cid})
    await agent.wait_type("conversation", conversation_id=cid)
    await agent.send({"type": "message", "conversation_id": cid, "text": "Hola", "client_id": "a1"})
    await agent.wait_type("ack", client_id="a1")
    bridge.clock = lambda: OPEN_TIME + dt.timedelta(days=3)
    assert await bridge.sla_sweep() == 0
    assert "Perdona la espera" not in " ".join(system_texts(await client.barrier()))
    metrics = bridge.metrics.exposition().decode()
    assert "handoff_sla_breaches_total 0.0" in metrics
    assert 'handoff_queue_wait_seconds_count{outcome="claimed"} 1.0' in metrics
    assert 'handoff_queue_wait_seconds_sum{outcome="claimed"} 90.0' in metrics
    assert 'handoff_queue_wait_seconds_bucket{le="120.0",outcome="claimed"} 1.0' in metrics


@pytest.mark.asyncio
async def test_leaving_the_queue_is_a_measured_wait_and_never_breaches(start_bridge) -> None:
    server = await start_bridge()
    bridge = server.bridge
    client, _, _ = await queued_customer(server)
    bridge.clock = lambda: OPEN_TIME + dt.timedelta(minutes=4)
    await client.send({"type": "message", "text": "Volver al asistente", "payload": "/leave_queue", "client_id": "l1"})
    await client.wait_type("handoff", state="ended")
    bridge.clock = lambda: OPEN_TIME + dt.timedelta(days=1)
    assert await bridge.sla_sweep() == 0
    assert 'handoff_queue_wait_seconds_sum{outcome="withdrawn"} 240.0' in bridge.metrics.exposition().decode()


@pytest.mark.asyncio
async def test_the_promise_and_the_apology_in_usted(start_bridge) -> None:
    server = await start_bridge()
    bridge = server.bridge
    bridge.policy = dataclasses.replace(bridge.policy, brand_voice="usted")
    client, _, handoff = await queued_customer(server)
    assert handoff["promise_text"].startswith("Le respondemos antes de las ")
    due = dt.datetime.fromisoformat(handoff["respond_by"])
    bridge.clock = lambda: due + dt.timedelta(minutes=1)
    assert await bridge.sla_sweep() == 1
    apology = await client.wait_for(lambda f: f.get("type") == "message" and f.get("sender") == "system")
    assert apology["text"].startswith("Disculpe la espera: no hemos llegado a responderle antes de las ")
    assert not TU_FORMS.search(apology["text"])


@pytest.mark.asyncio
@pytest.mark.parametrize("voice", ["tu", "usted"])
async def test_the_apology_when_the_new_time_is_after_closing(start_bridge, voice: str) -> None:
    # queued Monday 19:40: due 20:00 sharp (the close); missed at 20:00:30 → new time Tuesday morning
    server = await start_bridge(now=madrid(2025, 11, 24, 19, 40).astimezone(UTC))
    bridge = server.bridge
    bridge.policy = dataclasses.replace(bridge.policy, brand_voice=voice, first_response_target_minutes=20)
    client, _, handoff = await queued_customer(server)
    assert handoff["promise_text"].endswith("antes de las 20:00.")
    bridge.clock = lambda: madrid(2025, 11, 24, 20, 0, 30).astimezone(UTC)
    assert await bridge.sla_sweep() == 1
    apology = await client.wait_for(lambda f: f.get("type") == "message" and f.get("sender") == "system")
    minutes = bridge.policy.breach_new_promise_minutes
    assert apology["text"].endswith(f"respondemos mañana antes de las 9:{minutes:02d}.")
