"""A bare yes/no with no form active is read against the bot's previous turn:
a finished step's old button does nothing, an offer is accepted or declined,
"¿Algo más?" + "no" is a goodbye."""
from __future__ import annotations

from typing import Any, Dict, List, Optional

import pytest
from rasa_sdk.events import FollowupAction
from rasa_sdk.executor import CollectingDispatcher

from actions.yes_no import ActionYesNoOutOfContext
from tests.actions.conftest import make_tracker, responses, verified_slots


def _turn(text: str, buttons: Optional[List[Dict[str, str]]] = None, utter: str = "") -> List[Dict[str, Any]]:
    """The previous exchange: the shopper's message, then the bot's answer."""
    return [
        {"event": "user", "text": "antes", "parse_data": {"intent": {"name": "inform"}}},
        {"event": "action", "name": utter or "action_x"},
        {"event": "bot", "text": text, "data": {"buttons": buttons or []}, "metadata": {"utter_action": utter}},
        {"event": "action", "name": "action_listen"},
    ]


async def _answer(domain, intent: str, text: str, previous: List[Dict[str, Any]], slots=None):
    dispatcher = CollectingDispatcher()
    tracker = make_tracker(intent=intent, text=text, events=previous, slots=slots)
    events = await ActionYesNoOutOfContext().run(dispatcher, tracker, domain)
    return dispatcher, events


CANCELLED = "Hecho: el pedido 123456 está cancelado. Te devolvemos 20,00 € en tu tarjeta; lo verás como tarde el lunes."
OFFER_PERSON = [{"title": "Sí, con una persona", "payload": '/request_human{"handoff_reason":"verification_failed"}'},
                {"title": "No, gracias", "payload": "/deny"}]


@pytest.mark.asyncio
@pytest.mark.parametrize("intent, text", [("deny", "/deny"), ("deny", "no"), ("affirm", "/affirm"), ("affirm", "sí")])
async def test_an_old_button_of_a_finished_step_does_nothing(domain, intent: str, text: str) -> None:
    dispatcher, events = await _answer(domain, intent, text, _turn(CANCELLED, utter="utter_cancel_done"))
    assert responses(dispatcher) == ["utter_step_over"]
    assert events == []
    assert not any(m.get("custom") for m in dispatcher.messages)


@pytest.mark.asyncio
async def test_no_to_anything_else_is_a_goodbye_and_yes_asks_what(domain) -> None:
    previous = _turn("¡De nada! ¿Puedo ayudarte en algo más?", utter="utter_thank")
    bye, _ = await _answer(domain, "deny", "no, nada más", previous)
    assert responses(bye) == ["utter_goodbye"]
    more, _ = await _answer(domain, "affirm", "sí", previous)
    assert responses(more) == ["utter_ask_what_else"]


@pytest.mark.asyncio
async def test_a_pressed_button_after_a_question_without_buttons_is_stale(domain) -> None:
    """"/deny" is an old button even if the bot's last words were a question."""
    dispatcher, _ = await _answer(domain, "deny", "/deny", _turn("¿Te ayudo con algo más?", utter="utter_step_over"))
    assert responses(dispatcher) == ["utter_step_over"]


@pytest.mark.asyncio
async def test_an_offer_of_a_person_is_accepted_with_its_reason_or_declined(domain, orders) -> None:
    previous = _turn("¿Te paso con ella?", OFFER_PERSON, "utter_verification_locked")
    no, events = await _answer(domain, "deny", "no gracias", previous)
    assert responses(no) == ["utter_offer_declined"] and events == []
    yes, events = await _answer(domain, "affirm", "vale", previous)
    assert yes.messages[-1]["custom"]["handoff"]["reason"] == "verification_failed"


@pytest.mark.asyncio
async def test_yes_to_a_late_order_offer_runs_the_not_received_flow(domain, orders) -> None:
    previous = _turn("Tu pedido va con retraso… ¿Te paso con ella?",
                     [{"title": "Sí, abrir una incidencia", "payload": "/order_not_received"},
                      {"title": "No, gracias", "payload": "/deny"}], "utter_order_status_overdue")
    order = orders.find(status="shipped", overdue=True)
    dispatcher, events = await _answer(domain, "affirm", "sí porfa", previous, slots=verified_slots(order))
    assert dispatcher.messages == []
    assert events == [FollowupAction("not_received_form")]


@pytest.mark.asyncio
async def test_yes_to_an_faq_offer_gives_that_answer(domain) -> None:
    previous = _turn("¿Quieres que te explique cómo?",
                     [{"title": "Sí, cómo devolverlo", "payload": "/faq/return_policy"},
                      {"title": "No, gracias", "payload": "/deny"}], "utter_cancel_not_possible_shipped")
    dispatcher, _ = await _answer(domain, "affirm", "si", previous)
    assert responses(dispatcher) == ["utter_faq/return_policy"]


@pytest.mark.asyncio
async def test_yes_to_a_menu_does_not_pick_for_the_shopper(domain) -> None:
    menu = [{"title": "Dónde está mi pedido", "payload": "/order_status"},
            {"title": "Devolver un producto", "payload": "/return_request"},
            {"title": "Hablar con una persona", "payload": "/request_human"}]
    dispatcher, events = await _answer(domain, "affirm", "sí", _turn("Puedo ayudarte con…", menu, "utter_help"))
    assert responses(dispatcher) == ["utter_ask_what_else"] and events == []


@pytest.mark.asyncio
@pytest.mark.parametrize("text", ["👍", "👌", "👍👍"])
async def test_a_thumbs_up_is_an_acknowledgement_never_a_yes_to_a_person(domain, text: str) -> None:
    """After the out-of-scope answer's "Hablar con una persona" button, a 👍 used
    to queue the shopper for a person; after a FAQ it said "ese paso ha terminado"."""
    person = [{"title": "Hablar con una persona", "payload": "/request_human"}]
    for previous in (_turn("Eso no lo sé: …", buttons=person, utter="utter_out_of_scope"),
                     _turn("El envío tarda de 2 a 4 días laborables.", utter="utter_faq")):
        dispatcher, events = await _answer(domain, "affirm", text, previous)
        assert responses(dispatcher) == ["utter_anything_else"]
        assert events == [] and not any(m.get("custom") for m in dispatcher.messages)


@pytest.mark.asyncio
@pytest.mark.parametrize("intent, text", [("deny", "y eso ya paso, no?"), ("affirm", "lo enviasteis ayer, ¿verdad?"),
                                          ("deny", "pero eso ya lo hicimos, ¿no?")])
async def test_a_question_that_ends_in_a_tag_is_not_a_yes_or_no(domain, intent: str, text: str) -> None:
    """Walkthrough: "y eso ya paso, no?" got "Ese paso ya ha terminado, así
    que no he hecho nada" (read as a no to a finished step) or a declined offer."""
    for previous in (_turn(CANCELLED, utter="utter_cancel_done"), _turn("¿Te paso con ella?", OFFER_PERSON)):
        dispatcher, events = await _answer(domain, intent, text, previous)
        assert responses(dispatcher) == ["utter_default"] and events == [], text


@pytest.mark.asyncio
@pytest.mark.parametrize("text", ["¿no?", "no, gracias, ¿vale?", "no, ¿verdad?"])
async def test_a_short_or_answer_first_tag_is_still_the_answer(domain, text: str) -> None:
    dispatcher, _ = await _answer(domain, "deny", text, _turn("¿Te paso con ella?", OFFER_PERSON))
    assert responses(dispatcher) == ["utter_offer_declined"], text


@pytest.mark.asyncio
@pytest.mark.parametrize("intent, text", [("affirm", "👍"), ("affirm", "vale"), ("deny", "no")])
async def test_an_acknowledgement_after_the_goodbye_closes_without_a_new_question(domain, intent, text) -> None:
    """Walkthrough: "👍" after "¡Hasta pronto!" got "¿Puedo ayudarte en algo más?"."""
    dispatcher, _ = await _answer(domain, intent, text, _turn("¡Hasta pronto!", utter="utter_goodbye"))
    assert responses(dispatcher) == ["utter_closing_ack"]


@pytest.mark.asyncio
@pytest.mark.parametrize("intent, text", [("affirm", "ok"), ("affirm", "👍"), ("deny", "no")])
async def test_a_yes_or_no_as_the_first_message_gets_the_introduction(domain, intent, text) -> None:
    """Walkthrough: "ok" as the first message got «Ese paso ya ha terminado»."""
    dispatcher, _ = await _answer(domain, intent, text, [{"event": "session_started"}])
    assert responses(dispatcher) == ["utter_greet"]


@pytest.mark.asyncio
async def test_no_number_at_an_offer_is_not_a_no(domain) -> None:
    """Walkthrough: «no sé el número» at [Sí, con una persona / No, gracias] got «De acuerdo»."""
    dispatcher, _ = await _answer(domain, "deny", "no sé el número", _turn("¿Te paso con una persona?", OFFER_PERSON))
    assert responses(dispatcher) == ["utter_order_number_help"]


@pytest.mark.asyncio
async def test_a_thumbs_up_after_you_are_welcome_closes(domain) -> None:
    """Walkthrough: «gracias!!» → «¡De nada! ¿Algo más?», then «👍» got the same question again."""
    dispatcher, _ = await _answer(domain, "affirm", "👍", _turn("¡De nada! ¿Puedo ayudarte en algo más?", utter="utter_thank"))
    assert responses(dispatcher) == ["utter_closing_ack"]


@pytest.mark.asyncio
@pytest.mark.parametrize("text", ["ok", "ok 👍", "vale, gracias"])
async def test_an_ok_after_an_answer_is_taken_in(domain, text) -> None:
    """Walkthrough: «ok» after the exchange's information got «Ese paso ya ha terminado»."""
    dispatcher, _ = await _answer(domain, "affirm", text, _turn("Tu cambio está en camino hacia nosotros."))
    assert responses(dispatcher) == ["utter_anything_else"]
