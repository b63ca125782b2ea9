"""A new request inside a form, task slots left by an earlier run, and the
"No" at the address read-back (the form validations, with Trackers built
here; the real dialogue is in tests/e2e/test_walkthrough_flows.py)."""
from __future__ import annotations

from typing import Any, Dict, List

import pytest
from rasa_sdk.executor import CollectingDispatcher

from actions.address import ActionAskAddressConfirmed, ValidateAddressForm
from actions.cancellation import ValidateCancelForm
from actions.orders import ValidateOrderStatusForm
from actions.turns import applied_events, fresh_reply
from tests.actions.conftest import make_tracker, responses, slot_events, verified_slots


def running(form: str, first: str = "hola", intent: str = "greet") -> List[Dict[str, Any]]:
    """Events of ``form`` started by ``first`` and waiting for an answer."""
    return [
        {"event": "user", "text": first, "parse_data": {"intent": {"name": intent}, "text": first}},
        {"event": "action", "name": form},
        {"event": "active_loop", "name": form},
        {"event": "bot", "text": "¿…?"},
        {"event": "action", "name": "action_listen"},
    ]


def followups(events: List[Dict[str, Any]]) -> List[str]:
    return [e["name"] for e in events if e.get("event") == "followup"]


@pytest.mark.asyncio
async def test_another_task_while_the_order_number_is_asked_switches_to_its_form(shop, domain, orders) -> None:
    """Walkthrough: «quiero cambiar las zapatillas del pedido 690980 por una
    talla 44» at «¿Me dices el número de pedido?» got that order's status."""
    order = orders.find(status="delivered")
    text = f"quiero cambiar las zapatillas del pedido {order['order_id']} por una talla 44"
    tracker = make_tracker(slots={"requested_slot": "order_id"}, intent="return_request", text=text,
                           new_slots={"order_id": order["order_id"]}, active_loop="order_status_form",
                           events=running("order_status_form", "¿dónde está mi pedido?", "order_status"))
    dispatcher = CollectingDispatcher()
    events = await ValidateOrderStatusForm().run(dispatcher, tracker, domain)
    assert followups(events) == ["return_form"] and slot_events(events)["requested_slot"] is None
    assert dispatcher.messages == []  # nothing about the order before the new form verifies it


@pytest.mark.asyncio
async def test_a_low_confidence_or_an_answer_does_not_switch(shop, domain, orders) -> None:
    order = orders.find(status="processing")
    weak = make_tracker(slots={"requested_slot": "order_id"}, intent="return_request", confidence=0.4,
                        text=f"el {order['order_id']}", active_loop="order_status_form",
                        events=running("order_status_form"))
    assert followups(await ValidateOrderStatusForm().run(CollectingDispatcher(), weak, domain)) == []
    yes = make_tracker(slots=dict(verified_slots(order), requested_slot="cancel_confirmed"), intent="order_cancel",
                       text="sí, cancélalo", active_loop="cancel_form", events=running("cancel_form"))
    assert followups(await ValidateCancelForm().run(CollectingDispatcher(), yes, domain)) == []


@pytest.mark.asyncio
async def test_the_same_request_again_past_verification_starts_the_form_afresh(shop, domain, orders) -> None:
    order = orders.find(status="processing")
    tracker = make_tracker(slots=dict(verified_slots(order), requested_slot="new_street"), intent="change_address",
                           text=f"cambiar direccion pedido {order['order_id']}", active_loop="address_form",
                           events=running("address_form"))
    events = await ValidateAddressForm().run(CollectingDispatcher(), tracker, domain)
    assert followups(events) == ["address_form"]
    assert slot_events(events)["new_street"] is None


@pytest.mark.asyncio
async def test_task_slots_of_an_earlier_run_are_cleared_when_a_form_starts(shop, domain, orders) -> None:
    order = orders.find(status="processing")
    earlier = [{"event": "active_loop", "name": "address_form"},
               {"event": "slot", "name": "new_street", "value": "Cl. Mayor 14, bajo"},
               {"event": "active_loop", "name": "order_status_form"},
               {"event": "active_loop", "name": None}]
    text = f"quiero cambiar la dirección del pedido {order['order_id']}"
    tracker = make_tracker(slots=dict(verified_slots(order), new_street="Cl. Mayor 14, bajo"), intent="change_address",
                           text=text, active_loop="address_form",
                           events=earlier + [{"event": "user", "text": text, "parse_data": {"intent": {"name": "change_address"}}},
                                             {"event": "action", "name": "address_form"},
                                             {"event": "active_loop", "name": "address_form"}])
    tracker.events.pop()  # make_tracker appended the message again
    events = await ValidateAddressForm().run(CollectingDispatcher(), tracker, domain)
    assert slot_events(events)["new_street"] is None


def test_a_reverted_apology_does_not_hide_the_reply() -> None:
    tracker = make_tracker(text="Avda. de la Constitución 5", events=[{"event": "action", "name": "action_listen"}])
    tracker.events += [{"event": "action", "name": "action_acknowledge_frustration"},
                       {"event": "bot", "text": "Perdona las molestias"}, {"event": "undo"},
                       {"event": "action", "name": "address_form"}]
    assert [e["event"] for e in applied_events(tracker.events)][-2:] == ["user", "action"]
    assert fresh_reply(tracker, "address_form")


def read_back(order: Dict[str, Any], text: str, intent: str = "inform", **slots: Any):
    values = dict(verified_slots(order), requested_slot="address_confirmed", new_street="Pza. Nueva 2",
                  new_postal_code="41001", new_city="Sevilla", **slots)
    tracker = make_tracker(slots=values, intent=intent, text=text, active_loop="address_form",
                           new_slots={"address_confirmed": text})
    return tracker


@pytest.mark.asyncio
@pytest.mark.parametrize("text, intent", [("No", "deny"), ("/deny", "deny"), ("no, no es correcta", "deny")])
async def test_a_no_at_the_read_back_asks_what_to_correct(shop, domain, orders, renderer, text, intent) -> None:
    """Walkthrough: «No» at «¿Es correcta?» ended the change."""
    order = orders.find(status="processing")
    slots = slot_events(await ValidateAddressForm().run(CollectingDispatcher(), read_back(order, text, intent), domain))
    assert slots["address_confirmed"] is None and slots["address_fix"] is True
    dispatcher = CollectingDispatcher()
    await ActionAskAddressConfirmed().run(dispatcher, make_tracker(slots={"address_fix": True}), domain)
    assert responses(dispatcher) == ["utter_ask_address_fix"]
    tu, usted = await renderer.texts(dispatcher, "tu"), await renderer.texts(dispatcher, "usted")
    for shown in (tu[0], usted[0]):
        assert "¿Qué dato corrijo: la calle, el código postal o la localidad?" in shown
        assert "[La calle / El código postal / La localidad]" in shown
    assert "puedes" in tu[0] and "puede escribirme" in usted[0]


@pytest.mark.asyncio
@pytest.mark.parametrize("text, entities, cleared", [
    ('/inform{"address_part":"postal_code"}', [{"entity": "address_part", "value": "postal_code"}], "new_postal_code"),
    ("la calle", [], "new_street"), ("el código postal", [], "new_postal_code"), ("la localidad", [], "new_city"),
])
async def test_the_part_chosen_is_asked_again(shop, domain, orders, text, entities, cleared) -> None:
    order = orders.find(status="processing")
    tracker = read_back(order, text, address_fix=True)
    tracker.latest_message["entities"] = entities
    slots = slot_events(await ValidateAddressForm().run(CollectingDispatcher(), tracker, domain))
    assert slots[cleared] is None and slots["address_fix"] is None
    assert slots["address_problem"]["response"].startswith("utter_ask_fixed_")


@pytest.mark.asyncio
async def test_only_an_explicit_no_ends_the_change(shop, domain, orders) -> None:
    order = orders.find(status="processing")
    for text in ("déjalo", "no quiero cambiarla", "mejor no"):
        slots = slot_events(await ValidateAddressForm().run(
            CollectingDispatcher(), read_back(order, text, "deny", address_fix=True), domain))
        assert slots["address_confirmed"] is False, text
    typed = slot_events(await ValidateAddressForm().run(
        CollectingDispatcher(), read_back(order, "Ctra. de Carmona 12, 41008 Sevilla", address_fix=True), domain))
    assert typed["new_street"] == "Ctra. de Carmona 12" and typed["new_postal_code"] == "41008"
    assert typed["address_confirmed"] is None
