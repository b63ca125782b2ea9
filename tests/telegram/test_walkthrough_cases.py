"""A Telegram walkthrough of a payment problem (issue 11): the case keeps its
specific reason when the shopper asks for a person again, a photo is spoken
of as what the conversation is about (a payment: the receipt or a screenshot
of the charge), and out of hours the queued line comes before the
out-of-hours one (which alone says the promise)."""
from __future__ import annotations

import pytest

from handoff.sla import when_es
from tests.handoff.conftest import CLOSED_TIME, FakeRasa
from tests.telegram.conftest import FakeBotApi, message_update


@pytest.mark.asyncio
async def test_out_of_hours_the_queued_line_comes_first_then_the_out_of_hours_one(
        start_telegram, bot_api: FakeBotApi, fake_rasa: FakeRasa) -> None:
    """Walkthrough: «Ahora estamos fuera del horario…» arrived before «Te
    hemos puesto en la cola…» (the bridge said it before the queued frame)."""
    server = await start_telegram(now=CLOSED_TIME)
    bridge = server.bridge
    promise = bridge.texts.get("promise", when=when_es(bridge.policy.first_response_due(CLOSED_TIME), CLOSED_TIME,
                                                       bridge.policy.tz))
    await bot_api.push(message_update(text="/agente"))
    closed = await bot_api.wait_sent(lambda m: m["text"].startswith("Ahora estamos fuera del horario de atención."))
    queued = await bot_api.wait_sent(lambda m: m["text"].startswith(bridge.texts["queued_notice"]))
    assert queued["message_id"] < closed["message_id"], bot_api.texts()
    texts = bot_api.texts()
    assert texts.index(queued["text"]) == texts.index(closed["text"]) - 1, texts  # nothing between them
    assert sum(t.count(promise) for t in texts) == 1 and promise in closed["text"], texts
