"""Telegram shoppers get the same promise as the web (issue 10): the queued
notice says by when a person will answer, and a missed promise gets the
apology with the new time as a message of its own."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from handoff.sla import when_es
from tests.handoff.conftest import CLOSED_TIME, OPEN_TIME, FakeRasa
from tests.telegram.conftest import FakeBotApi, message_update

MADRID = ZoneInfo("Europe/Madrid")


@pytest.mark.asyncio
async def test_the_queued_notice_says_the_promise_and_a_missed_one_is_apologised_for(
        start_telegram, bot_api: FakeBotApi, fake_rasa: FakeRasa) -> None:
    server = await start_telegram()
    bridge = server.bridge
    due = bridge.policy.first_response_due(OPEN_TIME).astimezone(MADRID)
    await bot_api.push(message_update(text="/agente"))
    queued = await bot_api.wait_sent(lambda m: m["text"].startswith("Te hemos puesto en la cola"))
    assert queued["text"].endswith(f" Te respondemos antes de las {due:%-H:%M}.")

    late = due + dt.timedelta(minutes=2)
    bridge.clock = lambda: late
    assert await bridge.sla_sweep() == 1
    new = bridge.policy.breach_new_promise(late).astimezone(MADRID)
    await bot_api.wait_text(
        f"Perdona la espera: no hemos llegado a responderte antes de las {due:%-H:%M}, como te dijimos. "
        f"Sigues en la cola y te respondemos antes de las {new:%-H:%M}.")
    # the renewed promise changes no state: no second queued notice
    assert len([m for m in bot_api.sent if m["text"].startswith("Te hemos puesto en la cola")]) == 1


@pytest.mark.asyncio
async def test_out_of_hours_the_promise_is_said_once(start_telegram, bot_api: FakeBotApi, fake_rasa: FakeRasa) -> None:
    """Walkthrough: out of hours the queued notice and the out-of-hours line
    both said by when a person answers; the out-of-hours line says it alone."""
    server = await start_telegram(now=CLOSED_TIME)
    bridge = server.bridge
    promise = bridge.texts.get("promise", when=when_es(bridge.policy.first_response_due(CLOSED_TIME), CLOSED_TIME,
                                                       bridge.policy.tz))
    await bot_api.push(message_update(text="/agente"))
    await bot_api.wait_sent(lambda m: m["text"].startswith("Te hemos puesto en la cola"))
    closed = await bot_api.wait_sent(lambda m: m["text"].startswith("Ahora estamos fuera del horario de atención."))
    assert promise in closed["text"]
    texts = bot_api.texts()
    assert sum(t.count(promise) for t in texts) == 1, texts
    assert sum(t.count("fuera del horario") for t in texts) == 1, texts
