"""Address change: before shipping only, validated, confirmed, stored."""
from __future__ import annotations

import pytest
from rasa_sdk.executor import CollectingDispatcher

from actions.address import (
    ActionAskAddressConfirmed,
    ActionAskNewCity,
    ActionAskNewPostalCode,
    ActionChangeAddress,
    ValidateAddressForm,
    normalize_city,
    normalize_postal_code,
    normalize_street,
)
from core.addresses.postcodes import shipping_zone
from core.errors import InvalidCity, InvalidPostalCode, InvalidStreet
from tests.actions.conftest import make_tracker, responses, slot_events, verified_slots


@pytest.mark.parametrize("value, country, expected", [
    ("28013", "España", "28013"),
    ("CP 08001", "España", "08001"),
    ("c.p. 46035", "España", "46035"),
    ("06700", "México", "06700"),
    ("c1425abc", "Argentina", "C1425ABC"),
])
def test_valid_postal_codes(value, country, expected) -> None:
    assert normalize_postal_code(value, country) == expected


@pytest.mark.parametrize("value, country", [("99999", "España"), ("2801", "España"), ("280133", "España"), ("hola", "México")])
def test_invalid_postal_codes_explain_the_format(value, country) -> None:
    with pytest.raises(InvalidPostalCode) as info:
        normalize_postal_code(value, country)
    assert info.value.variables["country"] == country
    assert info.value.variables["postal_code_hint"]


def test_street_and_city_checks() -> None:
    assert normalize_street("  Calle Mayor 12,   3º B ") == "Calle Mayor 12, 3º B"
    assert normalize_city("sevilla") == "Sevilla"
    for bad in ("12", "Calle Mayor", "x" * 3):
        with pytest.raises(InvalidStreet):
            normalize_street(bad)
    with pytest.raises(InvalidCity):
        normalize_city("28013")


def mainland_order(orders, **conditions):
    """A not-yet-shipped order delivered in mainland Spain (not Madrid or Sevilla, so a change there is a change)."""
    return next(o for o in orders.all(status="processing", **conditions)
                if o["shipping_address"]["country"] == "España"
                and shipping_zone("España", o["shipping_address"]["postal_code"]) == "mainland"
                and o["shipping_address"]["postal_code"][:2] not in ("28", "41"))


def asking(order, slot, text, intent="inform", events=(), **slots):
    """The tracker when the shopper answers the form's question for ``slot``."""
    values = dict(verified_slots(order), requested_slot=slot, **slots)
    return make_tracker(slots=values, intent=intent, text=text, events=events, active_loop="address_form")


async def validate(tracker, domain):
    dispatcher = CollectingDispatcher()
    events = await ValidateAddressForm().run(dispatcher, tracker, domain)
    return dispatcher, slot_events(events)


@pytest.mark.asyncio
async def test_postal_code_is_checked_inside_the_form(shop, domain, orders) -> None:
    order = mainland_order(orders)
    dispatcher, slots = await validate(asking(order, "new_postal_code", "99999", new_street="Calle Mayor 12"), domain)
    assert slots["new_postal_code"] is None
    assert slots["address_problem"]["response"] == "utter_invalid_postal_code"
    assert dispatcher.messages == []  # said by the question, once


@pytest.mark.asyncio
@pytest.mark.parametrize("intent", ["out_of_scope", "nlu_fallback", "inform", "greet", "faq"])
async def test_a_town_alone_is_the_answer_whatever_the_nlu_made_of_it(shop, domain, orders, intent) -> None:
    order = mainland_order(orders)
    tracker = asking(order, "new_city", "Sevilla", intent=intent, new_street="Calle Sierpes 3", new_postal_code="41004")
    _, slots = await validate(tracker, domain)
    assert slots["new_city"] == "Sevilla" and slots["new_province"] == "Sevilla"
    assert slots["address_problem"] is None


@pytest.mark.asyncio
async def test_postal_code_and_town_in_one_answer_fill_both(shop, domain, orders) -> None:
    order = mainland_order(orders)
    tracker = asking(order, "new_postal_code", "28013 Madrid", intent="nlu_fallback", new_street="Calle Mayor 5")
    _, slots = await validate(tracker, domain)
    assert (slots["new_postal_code"], slots["new_city"], slots["new_province"]) == ("28013", "Madrid", "Madrid")
    assert slots["new_street"] == "Calle Mayor 5" and slots["address_problem"] is None


@pytest.mark.asyncio
async def test_the_whole_address_in_one_message_is_split_and_nothing_is_asked_again(shop, domain, orders) -> None:
    order = mainland_order(orders)
    _, slots = await validate(asking(order, "new_street", "Calle Mayor 5, 2ºB, 28013 Madrid"), domain)
    assert slots["new_street"] == "Calle Mayor 5, 2ºB"
    assert (slots["new_postal_code"], slots["new_city"], slots["new_province"]) == ("28013", "Madrid", "Madrid")
    assert slots["address_problem"] is None  # every part given: the next step is the read-back


@pytest.mark.asyncio
async def test_a_postal_code_of_another_province_is_asked_about_kindly(shop, domain, orders) -> None:
    order = mainland_order(orders)
    _, slots = await validate(asking(order, "new_postal_code", "08001 Madrid", new_street="Calle Mayor 5"), domain)
    assert slots["new_postal_code"] is None and slots["new_city"] is None and slots["new_street"] == "Calle Mayor 5"
    problem = slots["address_problem"]
    assert problem["response"] == "utter_address_postal_conflict"
    assert problem["variables"] == {"postal_code": "08001", "postal_region": "Barcelona", "place": "Madrid"}
    # the next question is that one
    dispatcher = CollectingDispatcher()
    events = await ActionAskNewPostalCode().run(
        dispatcher, make_tracker(slots=dict(verified_slots(order), address_problem=problem)), domain)
    assert responses(dispatcher) == ["utter_address_postal_conflict"]
    assert dispatcher.messages[0]["postal_region"] == "Barcelona"
    assert slot_events(events) == {"address_problem": None}


@pytest.mark.asyncio
async def test_without_a_problem_the_plain_question_is_asked(shop, domain, orders) -> None:
    order = mainland_order(orders)
    dispatcher = CollectingDispatcher()
    await ActionAskNewCity().run(dispatcher, make_tracker(slots=verified_slots(order)), domain)
    assert responses(dispatcher) == ["utter_ask_new_city"]


@pytest.mark.asyncio
async def test_a_move_to_the_islands_or_abroad_is_not_done_by_the_bot(shop, domain, orders) -> None:
    order = mainland_order(orders)
    _, slots = await validate(asking(order, "new_street", "Calle Triana 10, 35002 Las Palmas de Gran Canaria"), domain)
    assert slots["address_problem"]["response"] == "utter_address_zone_change"
    assert slots["new_street"] == "Calle Triana 10" and slots["new_postal_code"] is None
    _, slots = await validate(asking(order, "new_street", "Rua Augusta 100, 1100-053 Lisboa, Portugal"), domain)
    assert slots["address_problem"]["response"] == "utter_address_other_country"
    assert slots["new_street"] is None


@pytest.mark.asyncio
async def test_an_island_order_can_move_within_its_zone(shop, domain, orders) -> None:
    order = next(o for o in orders.all(status="processing") if o["shipping_address"]["postal_code"].startswith("07"))
    _, slots = await validate(asking(order, "new_street", "Carrer de Sant Jaume 4, 07800 Eivissa"), domain)
    assert slots["address_problem"] is None and slots["new_province"] == "Illes Balears"
    _, slots = await validate(asking(order, "new_street", "Calle Mayor 5, 28013 Madrid"), domain)
    assert slots["address_problem"]["response"] == "utter_address_zone_change"


@pytest.mark.asyncio
async def test_an_address_abroad_is_read_with_the_countrys_format(shop, domain, orders) -> None:
    order = next(o for o in orders.all(status="processing") if o["shipping_address"]["country"] == "Colombia")
    _, slots = await validate(asking(order, "new_street", "Calle 72 # 10-34, apto 501, 110231 Bogotá"), domain)
    assert (slots["new_street"], slots["new_postal_code"], slots["new_city"]) == (
        "Calle 72 # 10-34, apto 501", "110231", "Bogotá")
    assert slots["new_province"] == "Bogotá D.C."


@pytest.mark.asyncio
async def test_six_digits_of_a_postal_code_are_not_taken_for_another_order(shop, domain, orders) -> None:
    order = next(o for o in orders.all(status="processing") if o["shipping_address"]["country"] == "Colombia")
    text = "Calle 72 # 10-34, 110231 Bogotá"
    tracker = make_tracker(slots=dict(verified_slots(order), requested_slot="new_street"), text=text,
                           new_slots={"order_id": "110231"}, active_loop="address_form")
    _, slots = await validate(tracker, domain)
    assert slots["order_id"] == order["order_id"] and slots["new_postal_code"] == "110231"
    # the same at the read-back, with a corrected postal code
    tracker = make_tracker(slots=dict(verified_slots(order), requested_slot="address_confirmed",
                                      new_street="Calle 72 # 10-34", new_postal_code="110231", new_city="Bogotá"),
                           text="no, el codigo postal es 110221", intent="deny",
                           new_slots={"order_id": "110221", "address_confirmed": "no, el codigo postal es 110221"},
                           active_loop="address_form")
    _, slots = await validate(tracker, domain)
    assert slots["order_id"] == order["order_id"] and slots["new_postal_code"] == "110221"


@pytest.mark.asyncio
@pytest.mark.parametrize("text, intent", [
    ("¿cuánto cuesta el envío?", "faq"), ("quiero hablar con una persona", "request_human"), ("hola", "greet"),
])
async def test_a_question_in_the_middle_is_left_to_the_dialogue(shop, domain, orders, text, intent) -> None:
    order = mainland_order(orders)
    _, slots = await validate(asking(order, "new_city", text, intent=intent, new_street="Calle Mayor 5",
                                     new_postal_code="28013"), domain)
    # no slot set: Rasa rejects the form and the question gets its own answer
    assert slots == {}


@pytest.mark.asyncio
async def test_coming_back_after_a_question_does_not_take_it_as_the_town(shop, domain, orders) -> None:
    order = mainland_order(orders)
    answered = [{"event": "user", "text": "Sevilla", "parse_data": {}},
                {"event": "action", "name": "utter_faq"}, {"event": "bot", "text": "..."}]
    tracker = asking(order, "new_city", "Sevilla", new_street="Calle Mayor 5", new_postal_code="41004")
    tracker.events = tracker.events[:-1] + answered[1:]
    _, slots = await validate(tracker, domain)
    assert "new_city" not in slots


@pytest.mark.asyncio
async def test_an_address_in_the_request_is_kept_until_verified_and_not_asked_again(shop, domain, orders) -> None:
    order = mainland_order(orders)
    request = f"quiero cambiar la dirección del pedido {order['order_id']} a calle Mayor 5, 2ºB, 28013 Madrid"
    tracker = make_tracker(slots={"order_id": order["order_id"]}, intent="change_address", text=request,
                           active_loop="address_form")
    _, slots = await validate(tracker, domain)
    assert slots["address_given"] == "calle Mayor 5, 2ºB, 28013 Madrid"
    # the email verifies the order: the address is read then, all at once
    tracker = make_tracker(slots={"order_id": order["order_id"], "requested_slot": "email",
                                  "address_given": slots["address_given"]},
                           text=order["email"], new_slots={"email": order["email"]}, active_loop="address_form")
    _, slots = await validate(tracker, domain)
    assert slots["verified_order_id"] == order["order_id"]
    assert (slots["new_street"], slots["new_postal_code"], slots["new_city"]) == ("Calle Mayor 5, 2ºB", "28013", "Madrid")
    assert slots["address_given"] is None


@pytest.mark.asyncio
@pytest.mark.parametrize("text, intent, expected", [
    ("no, el código postal es 28014", "deny", ("Calle Mayor 5", "28014", "Madrid", "Madrid")),
    ("no, es en Getafe, 28901", "deny", ("Calle Mayor 5", "28901", "Getafe", "Madrid")),
    ("perdona, es Calle Mayor 7, 28013 Madrid", "inform", ("Calle Mayor 7", "28013", "Madrid", "Madrid")),
])
async def test_a_correction_at_the_read_back_is_merged_and_read_back_again(shop, domain, orders, text, intent,
                                                                          expected) -> None:
    order = mainland_order(orders)
    tracker = asking(order, "address_confirmed", text, intent=intent, new_street="Calle Mayor 5",
                     new_postal_code="28013", new_city="Madrid", new_province="Madrid")
    tracker.events.append({"event": "slot", "name": "address_confirmed", "value": text})
    _, slots = await validate(tracker, domain)
    assert slots["address_confirmed"] is None and "form_stopped" not in slots
    assert (slots["new_street"], slots["new_postal_code"], slots["new_city"], slots["new_province"]) == expected


@pytest.mark.asyncio
@pytest.mark.parametrize("text, intent, expected", [("sí", "affirm", True), ("/affirm", "affirm", True),
                                                     ("déjalo", "deny", False), ("no quiero cambiarla", "deny", False)])
async def test_yes_and_no_at_the_read_back(shop, domain, orders, text, intent, expected) -> None:
    order = mainland_order(orders)
    tracker = asking(order, "address_confirmed", text, intent=intent, new_street="Calle Mayor 5",
                     new_postal_code="28013", new_city="Madrid")
    tracker.events.append({"event": "slot", "name": "address_confirmed", "value": text})
    _, slots = await validate(tracker, domain)
    assert slots["address_confirmed"] is expected


@pytest.mark.asyncio
async def test_a_plain_no_stops_the_form(shop, domain, orders) -> None:
    order = mainland_order(orders)
    _, slots = await validate(asking(order, "new_street", "no", intent="deny"), domain)
    assert slots["form_stopped"] is True


@pytest.mark.asyncio
async def test_the_read_back_shows_every_part(shop, domain, orders) -> None:
    order = mainland_order(orders)
    slots = dict(verified_slots(order), new_street="Calle Mayor 5, 2ºB", new_postal_code="28013", new_city="Getafe",
                 new_province="Madrid")
    dispatcher = CollectingDispatcher()
    await ActionAskAddressConfirmed().run(dispatcher, make_tracker(slots=slots), domain)
    shown = dispatcher.messages[0]["new_address"]
    for line in ("Calle y número: Calle Mayor 5, 2ºB", "Código postal: 28013", "Localidad: Getafe",
                 "Provincia: Madrid", "País: España"):
        assert line in shown


@pytest.mark.asyncio
async def test_confirmed_new_address_is_stored(shop, domain, orders) -> None:
    order = mainland_order(orders)
    slots = dict(verified_slots(order), new_street="Calle de Alcalá 100, 2º A", new_postal_code="28009",
                 new_city="Madrid", address_confirmed=True)
    dispatcher = CollectingDispatcher()
    await ActionChangeAddress().run(dispatcher, make_tracker(slots=slots), domain)
    assert responses(dispatcher) == ["utter_address_changed"]
    assert dispatcher.messages[0]["new_address"] == "Calle de Alcalá 100, 2º A\n28009 Madrid, España"
    stored = await shop.get_order(order["order_id"])
    assert stored.shipping_address.street == "Calle de Alcalá 100, 2º A"
    assert stored.shipping_address.postal_code == "28009"
    assert stored.shipping_address.city == "Madrid"
    assert stored.shipping_address.province == "Madrid"


@pytest.mark.asyncio
async def test_a_contradicting_address_is_never_stored(shop, domain, orders) -> None:
    order = mainland_order(orders)
    slots = dict(verified_slots(order), new_street="Calle Mayor 5", new_postal_code="08001", new_city="Madrid",
                 address_confirmed=True)
    dispatcher = CollectingDispatcher()
    await ActionChangeAddress().run(dispatcher, make_tracker(slots=slots), domain)
    assert responses(dispatcher) == ["utter_address_not_changed"]
    assert (await shop.get_order(order["order_id"])).shipping_address.postal_code == order["shipping_address"]["postal_code"]


@pytest.mark.asyncio
async def test_unconfirmed_address_changes_nothing(shop, domain, orders) -> None:
    order = orders.find(status="processing")
    slots = dict(verified_slots(order), new_street="Calle de Alcalá 100", new_postal_code="28009",
                 new_city="Madrid", address_confirmed=False)
    dispatcher = CollectingDispatcher()
    await ActionChangeAddress().run(dispatcher, make_tracker(slots=slots), domain)
    assert responses(dispatcher) == ["utter_address_not_changed"]
    assert (await shop.get_order(order["order_id"])).shipping_address.street == order["shipping_address"]["street"]


@pytest.mark.asyncio
async def test_shipped_order_address_cannot_change(shop, domain, orders) -> None:
    order = orders.find(status="shipped")
    form = ValidateAddressForm()
    tracker = make_tracker(slots=verified_slots(order), active_loop="address_form")
    assert await form.required_slots(form.domain_slots(domain), CollectingDispatcher(), tracker, domain) == ["order_id", "email"]
    dispatcher = CollectingDispatcher()
    await ActionChangeAddress().run(dispatcher, tracker, domain)
    assert responses(dispatcher) == ["utter_address_change_not_possible"]


# --- the address of the opening request, read once the order is verified -----

FORM_SLOTS = ("order_id", "email", "new_street", "new_postal_code", "new_city", "address_confirmed")


def next_question(before, events) -> str:
    """What the form asks next: the slot the validation names, else (Rasa's
    own choice when every slot is required) the first one still empty."""
    if "requested_slot" in events:
        return events["requested_slot"]
    merged = {**before, **events}
    return next(slot for slot in FORM_SLOTS if merged.get(slot) is None)


async def _request_then_email(order, request, domain):
    """The request, then the email that verifies the order; the second turn's slots."""
    _, first = await validate(make_tracker(slots={"order_id": order["order_id"]}, intent="change_address",
                                           text=request, active_loop="address_form"), domain)
    assert first["requested_slot"] == "email"
    before = {"order_id": order["order_id"], "requested_slot": "email", "address_given": first.get("address_given")}
    tracker = make_tracker(slots=before, text=order["email"], new_slots={"email": order["email"]},
                           active_loop="address_form")
    dispatcher, slots = await validate(tracker, domain)
    return dispatcher, dict(before, email=order["email"]), slots


@pytest.mark.asyncio
@pytest.mark.parametrize("address, expected, asked", [
    ("a Calle Mayor 5, 28013 Madrid", ("Calle Mayor 5", "28013", "Madrid"), "address_confirmed"),
    ("a Mayor 5, 28013 Madrid", ("Mayor 5", "28013", "Madrid"), "address_confirmed"),
    ("a 28013 Madrid", (None, "28013", "Madrid"), "new_street"),       # only the street is asked
    ("a Calle Mayor 5, Madrid", ("Calle Mayor 5", None, "Madrid"), "new_postal_code"),
])
async def test_the_address_of_the_request_asks_only_what_it_lacks(
    shop, domain, orders, address: str, expected, asked: str
) -> None:
    """'quiero cambiar la dirección del pedido N a Calle Mayor 5, 28013 Madrid'
    then asked for the street: on the turn that verifies the order, the parts
    the request gave are kept and only a missing one is asked."""
    order = mainland_order(orders)
    request = f"quiero cambiar la dirección del pedido {order['order_id']} {address}"
    dispatcher, before, slots = await _request_then_email(order, request, domain)
    assert slots["verified_order_id"] == order["order_id"]
    assert (slots.get("new_street"), slots.get("new_postal_code"), slots.get("new_city")) == expected
    assert not slots.get("address_problem")
    assert next_question(before, slots) == asked
    assert responses(dispatcher) == []


@pytest.mark.asyncio
async def test_the_address_and_the_email_in_one_request_go_straight_to_the_read_back(shop, domain, orders) -> None:
    """'… a Calle Mayor 5, 28013 Madrid. Mi email es …' asked '¿En qué ciudad?'
    (the sentence with the email was read as the town)."""
    order = mainland_order(orders)
    request = (f"quiero cambiar la dirección del pedido {order['order_id']} a Calle Mayor 5, 28013 Madrid. "
               f"Mi email es {order['email']}")
    before = {"order_id": order["order_id"], "email": order["email"]}
    tracker = make_tracker(slots={}, new_slots=before, intent="change_address", text=request,
                           active_loop="address_form")
    _, slots = await validate(tracker, domain)
    assert slots["verified_order_id"] == order["order_id"]
    assert (slots["new_street"], slots["new_postal_code"], slots["new_city"]) == ("Calle Mayor 5", "28013", "Madrid")
    assert next_question(before, slots) == "address_confirmed"


@pytest.mark.asyncio
async def test_a_shopper_verified_before_gets_the_read_back_at_once(shop, domain, orders, demo_data) -> None:
    order = mainland_order(orders)
    other = next(o for o in demo_data["orders"] if o["email"] == order["email"] and o["order_id"] != order["order_id"])
    request = f"quiero cambiar la dirección del pedido {order['order_id']} a Calle Mayor 5, 28013 Madrid"
    before = dict(verified_slots(other))
    tracker = make_tracker(slots=before, new_slots={"order_id": order["order_id"]}, intent="change_address",
                           text=request, active_loop="address_form")
    _, slots = await validate(tracker, domain)
    assert slots["verified_order_id"] == order["order_id"]
    assert next_question(dict(before, order_id=order["order_id"]), slots) == "address_confirmed"


@pytest.mark.asyncio
async def test_a_contradiction_in_the_request_is_asked_about_once_verified(shop, domain, orders) -> None:
    order = mainland_order(orders)
    request = f"quiero cambiar la dirección del pedido {order['order_id']} a Calle Mayor 5, 08001 Madrid"
    dispatcher, before, slots = await _request_then_email(order, request, domain)
    assert slots["verified_order_id"] == order["order_id"]
    assert slots["new_street"] == "Calle Mayor 5" and slots["new_postal_code"] is None
    assert slots["address_problem"]["response"] == "utter_address_postal_conflict"
    assert next_question(before, slots) == "new_postal_code"
    ask = CollectingDispatcher()
    await ActionAskNewPostalCode().run(ask, make_tracker(slots=dict(verified_slots(order), **slots)), domain)
    assert responses(ask) == ["utter_address_postal_conflict"]
