"""A Telegram walkthrough of a payment problem (issue 11): the case keeps its
specific reason when the shopper asks for a person again, a photo is spoken
of as what the conversation is about (a payment: the receipt or a screenshot
of the charge), and out of hours the queued line comes before the
out-of-hours one (which alone says the promise)."""
from __future__ import annotations

import pytest

from handoff.sla import when_es
from tests.handoff.conftest import CLOSED_TIME, FakeRasa, handoff_payload
from tests.telegram.conftest import PNG_BYTES, FakeBotApi, message_update


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


PHOTO = [{"file_id": "ph_cargo", "file_unique_id": "c", "width": 800, "height": 600, "file_size": len(PNG_BYTES)}]


def payment_case() -> dict:
    payload = handoff_payload("payment_problem")["handoff"]
    payload["reason_text"] = "Problema con el pago"
    payload["details"] = {"description": "me han cobrado dos veces el pedido", "problem": "payment"}
    return payload


@pytest.mark.asyncio
async def test_a_payment_case_keeps_its_reason_and_a_photo_is_the_charges(
        start_telegram, bot_api: FakeBotApi, fake_rasa: FakeRasa) -> None:
    """Walkthrough: the bot hands a payment problem over, the shopper types
    /agente again and sends a photo of the charge: the case stays «Problema
    con el pago», queued once, and the photo is spoken of as the charge's
    receipt or screenshot, not as a damaged item."""
    server = await start_telegram(queue_ack_interval_s=0)  # each ack said (no rate limit here)
    fake_rasa.case_payload = payment_case()
    bot_api.files["ph_cargo"] = PNG_BYTES
    await bot_api.push(message_update(text="caso"))
    await bot_api.wait_sent(lambda m: m["text"].startswith(server.bridge.texts["queued_notice"]))
    await bot_api.push(message_update(text="/agente"))
    await bot_api.wait_sent(lambda m: m["text"].startswith("Ya estás en la cola"))
    cid = fake_rasa.webhook_calls[-1]["sender"]
    conversation = await server.bridge.storage.get_conversation(cid)
    assert conversation.reason == "payment_problem" and conversation.context["reason"] == "payment_problem"
    assert len(await server.bridge.storage.episodes(cid)) == 1 and fake_rasa.processed == ["caso"]

    await bot_api.push(message_update(photo=PHOTO))
    said = await bot_api.wait_sent(lambda m: m["text"].startswith("He pasado tu archivo al equipo"))
    assert "el justificante o la captura del cargo" in said["text"], said["text"]
    assert not [t for t in bot_api.texts() if "producto" in t or "dañad" in t or "roto" in t], bot_api.texts()
    conversation = await server.bridge.storage.get_conversation(cid)
    assert conversation.reason == "payment_problem" and conversation.preview == "me han cobrado dos veces el pedido"
