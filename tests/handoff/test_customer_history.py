"""The customer across conversations (issue 10, item 1): the bot's silent
"verified" message links a conversation to the store customer, the link
stays, and the case card of a later conversation lists the earlier ones
(with a read-only transcript) and shows every code in Spanish.

Real bridge, real WebSocket clients, the stand-in Rasa of conftest.py."""
from __future__ import annotations

import json
import re
from typing import Any, Dict

import pytest

from handoff import vocabulary
from tests.handoff.conftest import FakeRasa, agent_client, customer, new_agent

pytestmark = pytest.mark.asyncio
SANTIAGO = "santiago.cruz@example.org"   # demo customer with a return requested and refunds


async def _as_customer(server, fake_rasa: FakeRasa, email: str = SANTIAGO, order_id: str = "775950") -> Dict[str, Any]:
    found = await server.bridge.store.get_customer_by_email(email)
    assert found is not None
    fake_rasa.verify_as = {"id": str(found.id), "name": found.name, "email": email,
                           "verified_order_id": order_id, "verified_by": "order_email"}
    return fake_rasa.verify_as


async def _verified_shopper(server):
    shopper, session = await customer(server)
    await shopper.send({"type": "message", "text": "verifico", "client_id": "v1"})
    said = await shopper.wait_type("message", sender="bot")
    assert said["text"] == "Pedido verificado."
    return shopper, session["conversation_id"]


async def test_the_silent_message_links_the_conversation_and_is_never_shown(start_bridge, fake_rasa) -> None:
    server = await start_bridge()
    proved = await _as_customer(server, fake_rasa)
    shopper, cid = await _verified_shopper(server)
    rest = await shopper.barrier()
    assert all("customer" not in json.dumps(f) for f in shopper.seen + rest), "the silent message reached the shopper"
    stored = await server.bridge.storage.get_conversation(cid)
    assert (stored.customer_id, stored.customer_linked_by) == (proved["id"], "order_email")
    assert [m.text for m in await server.bridge.storage.history(cid)] == ["verifico", "Pedido verificado."]

    # later turns keep it, even when Rasa no longer sends the customer (slots expired)
    fake_rasa.verified.discard(cid)
    await shopper.send({"type": "message", "text": "hola", "client_id": "v2"})
    await shopper.wait_type("message", sender="bot", text="Eco: hola")
    await shopper.send({"type": "message", "text": "agente", "client_id": "v3"})
    await shopper.wait_type("handoff", state="queued")
    stored = await server.bridge.storage.get_conversation(cid)
    assert (stored.customer_id, stored.customer_linked_by) == (proved["id"], "order_email")
    _, token = await new_agent(server, "Ana")
    ana = await agent_client(server, token)
    await ana.send({"type": "claim", "conversation_id": cid})
    card = (await ana.wait_type("conversation"))["context"]
    assert card["customer"]["email"] == SANTIAGO and card["customer"]["verified_by_text"] == "Número de pedido y correo"
    assert card["customer_link"] == {"customer_id": proved["id"], "linked_by": "order_email",
                                     "linked_by_text": "Número de pedido y correo"}


async def test_a_message_without_an_id_links_nothing(start_bridge, fake_rasa) -> None:
    server = await start_bridge()
    fake_rasa.verify_as = {"name": "Sin id", "email": SANTIAGO}
    _, cid = await _verified_shopper(server)
    assert (await server.bridge.storage.get_conversation(cid)).customer_id is None


async def _handled(server, shopper, cid: str, agent, resolution: str = "resolved", score: int = 0) -> None:
    await shopper.send({"type": "message", "text": "agente", "client_id": "h1"})
    await shopper.wait_type("handoff", state="queued")
    await agent.send({"type": "claim", "conversation_id": cid})
    await agent.wait_type("conversation", conversation_id=cid)
    await agent.send({"type": "message", "conversation_id": cid, "text": "Hola, ya lo miro", "client_id": "a1"})
    await agent.wait_type("ack", client_id="a1")
    await agent.send({"type": "close", "conversation_id": cid, "resolution": resolution})
    await shopper.wait_type("csat_request")
    if score:
        await shopper.send({"type": "csat", "score": score})
        await shopper.wait_for(lambda f: f.get("csat_score") == score)


async def test_the_case_card_lists_earlier_conversations_and_opens_their_transcripts(start_bridge, fake_rasa) -> None:
    server = await start_bridge()
    proved = await _as_customer(server, fake_rasa)
    _, ana_token = await new_agent(server, "Ana")
    _, beto_token = await new_agent(server, "Beto")
    ana = await agent_client(server, ana_token)

    first, first_id = await _verified_shopper(server)
    await _handled(server, first, first_id, ana, "resolved", score=4)
    await ana.send({"type": "label", "conversation_id": first_id, "add": ["talla"]})
    await ana.wait_type("labels", conversation_id=first_id)
    other, other_id = await _verified_shopper(server)   # bot only, no person
    await other.close()

    second, second_id = await _verified_shopper(server)
    await second.send({"type": "message", "text": "agente", "client_id": "h1"})
    await second.wait_type("handoff", state="queued")
    beto = await agent_client(server, beto_token)
    await beto.send({"type": "claim", "conversation_id": second_id})
    frame = await beto.wait_type("conversation", conversation_id=second_id)
    earlier = frame["context"]["previous_conversations"]
    assert [e["conversation_id"] for e in earlier] == [other_id, first_id]  # newest first, not itself
    handled = earlier[1]
    assert handled["channel_text"] == "Web" and handled["reason_text"] == "Pide hablar con una persona"
    assert handled["outcome"] == "resolved" and handled["outcome_text"] == "Cerrada: resuelta"
    assert handled["agent_name"] == "Ana" and handled["csat"] == 4 and handled["labels"] == ["talla"]
    assert handled["started_at"] and handled["handoffs"] == 1
    assert earlier[0]["outcome_text"] == "Solo con el asistente" and earlier[0]["reason_text"] == "Sin paso a una persona"
    assert earlier[0]["agent_name"] is None and earlier[0]["csat"] is None

    # the orders: the verified one marked, returns and refunds with Spanish statuses
    orders = {o["order_id"]: o for o in frame["context"]["orders"]}
    assert orders[proved["verified_order_id"]]["verified"] is True
    assert [o["order_id"] for o in orders.values() if o["verified"]] == [proved["verified_order_id"]]
    requested = orders["775950"]
    assert requested["returns"][0]["status_text"] == "Solicitada" and requested["returns"][0]["kind_text"] == "Devolución"
    assert requested["refunds"][0]["status_text"] == "En curso"
    eligibility = requested["return_eligibility"]
    assert eligibility["eligible_text"] in ("Sí", "No")
    assert eligibility["reason_text"] == (vocabulary.label("return_block", eligibility["reason"]) if eligibility["reason"] else None)

    # the earlier conversation's transcript, read-only, for agents
    await beto.send({"type": "transcript", "conversation_id": first_id})
    transcript = await beto.wait_type("transcript", conversation_id=first_id)
    assert [(h["sender"], h["text"]) for h in transcript["history"]][:2] == [("customer", "verifico"), ("bot", "Pedido verificado.")]
    assert ("agent", "Hola, ya lo miro") in [(h["sender"], h["text"]) for h in transcript["history"]]
    assert transcript["channel"] == "web" and transcript["labels"] == ["talla"]
    assert transcript["summary"]["agent_name"] == "Ana" and transcript["summary"]["csat"] == 4
    await beto.send({"type": "transcript", "conversation_id": "c_no_such_conversation"})
    missing = await beto.wait_type("error", code="not_found")
    assert missing["conversation_id"] == "c_no_such_conversation" and "conversación" in missing["detail"]
    # a customer cannot ask for one
    await second.send({"type": "transcript", "conversation_id": first_id})
    assert (await second.wait_type("error"))["code"] == "unknown_type"


async def test_a_customer_without_a_link_has_no_earlier_conversations(start_bridge, fake_rasa) -> None:
    server = await start_bridge()
    await _as_customer(server, fake_rasa)
    await _verified_shopper(server)
    stranger, session = await customer(server)
    await stranger.send({"type": "message", "text": "agente", "client_id": "s1"})
    await stranger.wait_type("handoff", state="queued")
    _, token = await new_agent(server, "Ana")
    ana = await agent_client(server, token)
    await ana.send({"type": "claim", "conversation_id": session["conversation_id"]})
    context = (await ana.wait_type("conversation"))["context"]
    assert context["previous_conversations"] == [] and context["customer"] is None


CODE = re.compile(r"^[a-z]+(_[a-z]+)+$")


def _texts(card: Dict[str, Any]):
    """Every text the console prints from a card (the *_text, label and value fields)."""
    yield card["reason_text"]
    yield card["last_intent_text"]
    for intent in card["intents"]:
        yield intent["label"]
    for row in card["details_list"] + card["entities_list"]:
        yield row["label"]
        yield row["value"]
    yield card["customer"]["verified_by_text"]
    for order in card["orders"]:
        yield order["status_text"]
        yield order["return_eligibility"]["eligible_text"]
        if order["return_eligibility"]["reason_text"]:
            yield order["return_eligibility"]["reason_text"]
        for r in order["returns"]:
            yield r["status_text"]
            yield r["kind_text"]
        for r in order["refunds"]:
            yield r["status_text"]


async def test_every_code_on_the_card_has_its_spanish_text(start_bridge, fake_rasa) -> None:
    server = await start_bridge()
    proved = await _as_customer(server, fake_rasa, "pablo.guerrero2@mail.example", "518019")
    fake_rasa.case_payload = {
        "reason": "damaged_or_wrong_item", "last_intent": "damaged_or_wrong_item",
        "intents": [{"name": "damaged_or_wrong_item", "confidence": 0.9}, {"name": "request_human", "confidence": 0.5},
                    {"name": "faq/shipping_time", "confidence": 0.2}, {"name": "brand_new_intent", "confidence": 0.1}],
        "entities": {"order_id": "518019", "email": proved["email"], "brand_new_entity": "algo_raro"},
        "details": {"problem": "broken", "verified": True, "store_error": False, "order_id": "518019",
                    "description": "Llegó la caja rota", "expected_delivery": "2025-11-20",
                    "status": "in_a_new_state", "new_detail": "some_code"},
        "customer": {k: v for k, v in proved.items() if k != "verified_by"},
    }
    shopper, session = await customer(server)
    await shopper.send({"type": "message", "text": "caso", "client_id": "k1"})
    await shopper.wait_type("handoff", state="queued")
    _, token = await new_agent(server, "Ana")
    ana = await agent_client(server, token)
    await ana.send({"type": "claim", "conversation_id": session["conversation_id"]})
    card = (await ana.wait_type("conversation"))["context"]

    texts = list(_texts(card))
    assert all(isinstance(t, str) and t for t in texts)
    leaked = [t for t in texts if CODE.match(t) or t in ("True", "False", "true", "false")]
    assert leaked == [], f"raw codes on the card: {leaked}"
    assert card["reason_text"] == "Producto dañado o equivocado" or card["reason_text"].startswith("Producto")
    assert [i["label"] for i in card["intents"]] == [
        "Producto dañado o equivocado", "Pide hablar con una persona", "Pregunta frecuente: plazo de envío", "Otra intención"]
    details = {row["label"]: row["value"] for row in card["details_list"]}
    assert details["Tipo de problema"] == "Roto o dañado"
    assert details["Pedido verificado"] == "Sí" and details["Error de la tienda"] == "No"
    assert details["Entrega prevista"] == "20/11/2025" and details["Descripción del cliente"] == "Llegó la caja rota"
    assert details["Estado del pedido"] == "Otro estado" and details["Otro dato"] == "Valor interno sin traducir"
    entities = {row["label"]: row["value"] for row in card["entities_list"]}
    assert entities["Número de pedido"] == "518019" and entities["Otro dato"] == "Valor interno sin traducir"
    received = next(o for o in card["orders"] if o["order_id"] == "518019")
    assert received["verified"] and received["returns"][0]["status_text"] == "Recibida en el almacén"
    assert received["refunds"][0]["status_text"] == "Pendiente"


def test_unknown_codes_get_the_generic_label_of_their_kind() -> None:
    for kind, generic in vocabulary.GENERIC.items():
        assert vocabulary.label(kind, "not_a_known_code") == generic
        assert vocabulary.label(kind, None) == generic
    assert vocabulary.label("refund_status", "pending") == "Pendiente"
    assert vocabulary.label("return_block", "in_return") == "Ya tiene una devolución en curso"
    assert vocabulary.fields_list({"verified": True, "store_error": False, "order_id": None}) == [
        {"label": "Pedido verificado", "value": "Sí"}, {"label": "Error de la tienda", "value": "No"}]


def test_the_card_says_how_this_conversation_proved_the_customer() -> None:
    """The bot's handoff payload names the customer without saying how it was
    proved; a Telegram chat linked by its phone must not read "order and
    e-mail" (the walkthrough saw that), and a payload for another customer
    keeps the bot's proof."""
    from handoff.casecard import customer_view

    payload = {"id": 7, "email": "miguel@example.net", "name": "Miguel"}
    assert customer_view(payload, ("7", "telegram_phone"))["verified_by_text"] == "Su teléfono de Telegram"
    assert customer_view(payload, ("31", "telegram_phone"))["verified_by_text"] == "Número de pedido y correo"
    assert customer_view(payload, None)["verified_by_text"] == "Número de pedido y correo"
    assert customer_view({**payload, "verified_by": "order_email"}, ("7", "telegram_phone"))["verified_by"] == \
        "order_email"


def test_a_reason_reads_the_same_in_the_queue_the_card_and_the_reports() -> None:
    """The queue showed the payload's «Producto dañado, equivocado o
    incompleto», the report «Producto dañado o equivocado» (walkthrough)."""
    assert vocabulary.reason_text("damaged_or_wrong_item", "Producto dañado, equivocado o incompleto") == \
        vocabulary.label("reason", "damaged_or_wrong_item")
    assert vocabulary.reason_text("a_new_reason", "Algo nuevo") == "Algo nuevo"
    assert vocabulary.reason_text(None, None) is None
