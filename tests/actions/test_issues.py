"""Damaged / wrong / incomplete items (and payment problems): the first
message's description is kept and never asked again, the first answer
apologises for that problem (once), only what is missing is asked, and the
person gets the description. Both voices."""
from __future__ import annotations

from typing import Any, Dict, List

import pytest
from rasa_sdk.executor import CollectingDispatcher

from actions.issue_text import read_problem
from actions.issues import (
    ActionAskDamagedEmail,
    ActionAskDamagedOrderId,
    ActionAskPaymentOrderId,
    ActionReportIssue,
    ValidateDamagedForm,
    ValidatePaymentForm,
)
from tests.actions.conftest import make_tracker, responses, slot_events
from tests.actions.test_exchanges import rendered
from tests.conftest import two_orders_of_one_customer

ANGRY = "me llego roto el altavoz 😡"


def started(text: str, form: str = "damaged_form", intent: str = "damaged_or_wrong_item") -> List[Dict[str, Any]]:
    return [
        {"event": "user", "text": text, "parse_data": {"intent": {"name": intent}, "text": text}},
        {"event": "action", "name": form},
        {"event": "active_loop", "name": form},
    ]


def test_what_the_first_message_already_says() -> None:
    assert read_problem(ANGRY) == read_problem(ANGRY)  # pure
    broken = read_problem(ANGRY)
    assert (broken.kind, broken.adjective, broken.described) == ("broken", "roto", True)
    assert read_problem("ME LLEGARON ROTAS LAS GAFAS!!!").adjective == "rotas"
    assert read_problem("me mandaron otra talla").kind == "wrong"
    assert read_problem("el paquete vino incompleto, falta el cargador").kind == "missing"
    assert read_problem("el reloj no enciende").kind == "broken"
    generic = read_problem("tengo un problema con mi pedido")
    assert (generic.kind, generic.described) == ("generic", False)
    assert read_problem("me cobraron dos veces el pedido", "payment_form").described


@pytest.mark.asyncio
async def test_the_first_question_apologises_for_the_problem_once(domain) -> None:
    tracker = make_tracker(intent="damaged_or_wrong_item", text=ANGRY, events=started(ANGRY)[:-1],
                           active_loop="damaged_form")
    tracker.events.append({"event": "active_loop", "name": "damaged_form"})
    dispatcher = CollectingDispatcher()
    await ActionAskDamagedOrderId().run(dispatcher, tracker, domain)
    assert responses(dispatcher) == ["utter_issue_apology_broken", "utter_ask_order_id"]
    tu = await rendered(domain, dispatcher.messages[0], "tu")
    usted = await rendered(domain, dispatcher.messages[0], "usted")
    assert "Siento mucho que te haya llegado roto" in tu
    assert "Siento mucho que le haya llegado roto" in usted and " te " not in usted
    plural = make_tracker(text="ME LLEGARON ROTAS LAS GAFAS!!!", events=started("ME LLEGARON ROTAS LAS GAFAS!!!"))
    dispatcher = CollectingDispatcher()
    await ActionAskDamagedOrderId().run(dispatcher, plural, domain)
    assert "Siento mucho que le hayan llegado rotas" in await rendered(domain, dispatcher.messages[0], "usted")
    # Asked again (a wrong number), or the email next: no second apology.
    apologised = started(ANGRY) + [
        {"event": "bot", "text": "Siento mucho…", "metadata": {"utter_action": "utter_issue_apology_broken"}},
        {"event": "user", "text": "123", "parse_data": {"intent": {"name": "inform"}}},
    ]
    for action in (ActionAskDamagedOrderId(), ActionAskDamagedEmail()):
        dispatcher = CollectingDispatcher()
        await action.run(dispatcher, make_tracker(text="123", events=apologised, active_loop="damaged_form"), domain)
        assert responses(dispatcher) == [f"utter_ask_{action.slot}"]
    # A new report later in the conversation gets its own apology.
    again = apologised + [{"event": "active_loop", "name": None}] + started("falta una pieza")
    dispatcher = CollectingDispatcher()
    await ActionAskDamagedOrderId().run(dispatcher, make_tracker(text="falta una pieza", events=again), domain)
    assert responses(dispatcher) == ["utter_issue_apology_missing", "utter_ask_order_id"]


@pytest.mark.asyncio
async def test_payment_form_apologises_for_the_payment(domain) -> None:
    text = "me han cobrado dos veces"
    dispatcher = CollectingDispatcher()
    tracker = make_tracker(intent="payment_problem", text=text, events=started(text, "payment_form", "payment_problem"))
    await ActionAskPaymentOrderId().run(dispatcher, tracker, domain)
    assert responses(dispatcher) == ["utter_issue_apology_payment", "utter_ask_order_id"]


@pytest.mark.asyncio
async def test_the_description_is_not_asked_again_once_verified(shop, domain, orders) -> None:
    """Issue 9: after the order and email the form asked "Cuéntame qué ha pasado"."""
    demo = orders.find(status="delivered")
    events = started(ANGRY) + [
        {"event": "bot", "text": "…", "metadata": {"utter_action": "utter_issue_apology_broken"}},
        {"event": "user", "text": demo["order_id"], "parse_data": {"intent": {"name": "inform"}}},
        {"event": "slot", "name": "order_id", "value": demo["order_id"]},
    ]
    tracker = make_tracker(slots={"order_id": demo["order_id"], "requested_slot": "email"}, text=demo["email"],
                           events=events, new_slots={"email": demo["email"]}, active_loop="damaged_form")
    filled = slot_events(await ValidateDamagedForm().run(CollectingDispatcher(), tracker, domain))
    assert filled["verified_order_id"] == demo["order_id"]
    assert filled["issue_description"] == ANGRY
    assert filled.get("requested_slot") is None  # the form has all it needs (Rasa ends it)


@pytest.mark.asyncio
async def test_a_report_without_a_description_still_asks_for_one(shop, domain, orders) -> None:
    demo = orders.find(status="delivered")
    text = "tengo un problema con un producto"
    events = started(text) + [{"event": "user", "text": demo["order_id"], "parse_data": {"intent": {"name": "inform"}}}]
    tracker = make_tracker(slots={"order_id": demo["order_id"], "requested_slot": "email"}, text=demo["email"],
                           events=events, new_slots={"email": demo["email"]}, active_loop="damaged_form")
    filled = slot_events(await ValidateDamagedForm().run(CollectingDispatcher(), tracker, domain))
    assert filled["verified_order_id"] == demo["order_id"]
    assert "issue_description" not in filled  # so the form asks for it next


@pytest.mark.asyncio
async def test_the_person_gets_the_description_and_the_apology_is_never_skipped(shop, domain, orders) -> None:
    demo = orders.find(status="delivered")
    slots = {"order_id": demo["order_id"], "email": demo["email"], "verified_order_id": demo["order_id"],
             "verified_email": demo["email"], "issue_description": ANGRY, "brand_voice": "usted"}
    dispatcher = CollectingDispatcher()
    await ActionReportIssue().run(dispatcher, make_tracker(slots=slots, text=ANGRY, events=started(ANGRY)), domain)
    assert responses(dispatcher)[:2] == ["utter_issue_apology_broken", "utter_handoff"]
    (payload,) = [m["custom"]["handoff"] for m in dispatcher.messages if m.get("custom")]
    assert payload["reason"] == "damaged_or_wrong_item"
    assert payload["details"]["description"] == ANGRY and payload["details"]["problem"] == "broken"
    assert payload["details"]["verified"] is True


async def _customer_slots(shop, order: Dict[str, Any]) -> Dict[str, Any]:
    """A shopper verified with ``order`` (the real customer id, so their orders can be listed)."""
    customer = await shop.get_customer_by_email(order["email"])
    return {"order_id": order["order_id"], "email": order["email"], "verified_order_id": order["order_id"],
            "verified_email": order["email"], "customer_id": str(customer.id), "customer_name": customer.name}


@pytest.mark.asyncio
@pytest.mark.parametrize("form, intent, text", [
    ("damaged_form", "damaged_or_wrong_item", ANGRY),
    ("payment_form", "payment_problem", "me cobraron dos veces"),
])
async def test_a_problem_is_not_pinned_on_the_order_spoken_of_before(shop, domain, demo_data, form, intent,
                                                                    text) -> None:
    """Walkthrough: after the status of one order, "me llegó roto el altavoz"
    went to a person with that order attached (it held no speaker). The
    form asks which order, with the shopper's own orders as buttons."""
    first, second = two_orders_of_one_customer(demo_data)
    slots = await _customer_slots(shop, first)
    tracker = make_tracker(slots=slots, intent=intent, text=text, events=started(text, form, intent)[:-1],
                           active_loop=form)
    tracker.events.append({"event": "active_loop", "name": form})
    validator = ValidateDamagedForm() if form == "damaged_form" else ValidatePaymentForm()
    events = slot_events(await validator.run(CollectingDispatcher(), tracker, domain))
    assert events.get("order_id", "kept") is None and events.get("requested_slot") == "order_id"
    tracker.slots.update(events)
    dispatcher = CollectingDispatcher()
    ask = ActionAskDamagedOrderId() if form == "damaged_form" else ActionAskPaymentOrderId()
    await ask.run(dispatcher, tracker, domain)
    assert responses(dispatcher)[-1] == "utter_ask_which_order"
    offered = [b["payload"] for b in dispatcher.messages[-1]["buttons"]]
    assert f'/inform{{"order_id":"{first["order_id"]}"}}' in offered
    assert f'/inform{{"order_id":"{second["order_id"]}"}}' in offered


@pytest.mark.asyncio
@pytest.mark.parametrize("text", ["ese pedido me llegó roto", "el {order} llegó roto"])
async def test_a_problem_that_points_at_the_order_spoken_of_keeps_it(shop, domain, demo_data, text) -> None:
    first, _ = two_orders_of_one_customer(demo_data)
    text = text.format(order=first["order_id"])
    tracker = make_tracker(slots=await _customer_slots(shop, first), intent="damaged_or_wrong_item", text=text,
                           events=started(text)[:-1], active_loop="damaged_form")
    tracker.events.append({"event": "active_loop", "name": "damaged_form"})
    events = slot_events(await ValidateDamagedForm().run(CollectingDispatcher(), tracker, domain))
    assert events.get("order_id", first["order_id"]) == first["order_id"]
