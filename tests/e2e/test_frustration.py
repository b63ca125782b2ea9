"""A frustrated shopper on the real stack: the bot says sorry first and then
answers as usual; high or sustained frustration goes to a person with reason
``frustration`` and the score in the case card."""
from __future__ import annotations

from typing import Any, Dict, List

import pytest

from bot.settings import Settings
from tests.e2e.conftest import Shopper
from tests.e2e.test_bridge import agent, shopper

pytestmark = pytest.mark.slow
APOLOGY = "Perdona las molestias"


def handoffs(replies: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    return [m["custom"]["handoff"] for m in replies if isinstance(m.get("custom"), dict) and "handoff" in m["custom"]]


def test_an_annoyed_question_gets_sorry_first_then_its_answer(shopper: Shopper) -> None:
    replies = shopper.say("estoy molesta, ¿cuánto tarda el envío?")
    texts = [m.get("text", "") for m in replies]
    assert texts[0].startswith(APOLOGY), texts
    assert any("días laborables" in t for t in texts[1:]), texts  # the FAQ still answers
    assert not handoffs(replies)


def test_a_calm_question_gets_no_apology(shopper: Shopper) -> None:
    body = shopper.texts("¿cuánto tarda el envío?")
    assert APOLOGY not in body and "días laborables" in body


def test_an_apology_inside_a_form_keeps_the_form_going(shopper: Shopper) -> None:
    first = shopper.say("¿¿dónde está mi pedido??")
    assert first[0]["text"].startswith(APOLOGY)
    assert "número de pedido" in " ".join(m.get("text", "") for m in first[1:]).lower()
    asked = shopper.texts("123456")  # the form asks on: an order number, then the email
    assert APOLOGY not in asked and "no te he entendido" not in asked


def test_insults_go_to_a_person_with_reason_frustration(shopper: Shopper) -> None:
    replies = shopper.say("sois unos estafadores, os voy a denunciar")
    handed = handoffs(replies)
    assert len(handed) == 1 and handed[0]["reason"] == "frustration"
    assert handed[0]["frustration"]["score"] >= 0.65 and handed[0]["frustration"]["max"] >= 0.65
    assert "lexicon:estafadores" in handed[0]["frustration"]["signals"]
    assert "Siento mucho" in replies[0]["text"]


def test_an_angry_damage_report_is_verified_before_a_person_takes_it(shopper: Shopper) -> None:
    """Its own flow ends with a person; handed over at once, the agent saw no order."""
    replies = shopper.say("me ha llegado el altavoz roto 😡😡 esto es una vergüenza")
    assert not handoffs(replies), replies
    assert "número de pedido" in " ".join(m.get("text", "") for m in replies).lower(), replies


def test_still_frustrated_after_the_apology_goes_to_a_person(shopper: Shopper) -> None:
    assert handoffs(shopper.say("¿¿dónde está mi pedido??")) == []
    replies = shopper.say("ya te lo dije, es el 123456!!")
    handed = handoffs(replies)
    assert [h["reason"] for h in handed] == ["frustration"]


@pytest.mark.asyncio
async def test_the_case_card_shows_reason_and_score(stack: Settings, make_agent) -> None:
    _, token = make_agent("Nerea")
    nerea = await agent(stack, token)
    customer = await shopper(stack)
    await customer.send(type="message", text="QUE VERGÜENZA!!! nadie me responde 😡")
    await customer.until("handoff", state="queued")
    conversation_id = next(f for f in customer.seen if f["type"] == "session")["conversation_id"]

    def queued() -> List[Dict[str, Any]]:
        return [c for f in nerea.seen if f["type"] == "queue" for c in f["conversations"]
                if c["conversation_id"] == conversation_id]

    while not queued():
        await nerea.until("queue")
    assert queued()[-1]["reason"] == "frustration"
    await nerea.send(type="claim", conversation_id=conversation_id)
    card = await nerea.until("conversation", conversation_id=conversation_id)
    assert card["context"]["reason"] == "frustration"
    assert card["context"]["frustration"]["score"] >= 0.65 and "exclamations" in card["context"]["frustration"]["signals"]
    await customer.socket.close()
    await nerea.socket.close()
