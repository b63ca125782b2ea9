"""Proof of ownership: number + purchase email, same answer for an unknown
number and a wrong email, three tries, then a person."""
from __future__ import annotations

from typing import Any, Dict

import pytest
from rasa_sdk.executor import CollectingDispatcher

from actions.orders import ActionOrderStatus, ValidateOrderStatusForm
from actions.verification import MAX_ATTEMPTS, ActionAskOrderId, parse_correction, parse_email, parse_order_id
from core.errors import InvalidEmail, InvalidOrderNumber
from core.store import use_store
from core.store.sql import SqlStore
from tests.actions.conftest import make_tracker, responses, said, slot_events, verified_slots
from tests.conftest import two_orders_of_one_customer


@pytest.mark.parametrize(
    "text, expected",
    [
        ("482913", "482913"),
        ("#482913", "482913"),
        ("nº482913", "482913"),
        ("es el pedido 482913, gracias", "482913"),
        ("N° 482913", "482913"),
        ("482913; DROP TABLE orders; --", "482913"),
    ],
)
def test_order_numbers_are_found_in_what_shoppers_write(text: str, expected: str) -> None:
    assert parse_order_id(text) == expected


@pytest.mark.parametrize(
    "text",
    ["28013", "612345678", "612 345 678", "12345", "1234567", "' OR '1'='1", "", "😀😀😀", "129,900000", "1.234567"],
)
def test_postal_codes_phones_and_junk_are_not_order_numbers(text: str) -> None:
    with pytest.raises(InvalidOrderNumber):
        parse_order_id(text)


def test_emails_are_normalised_and_junk_rejected() -> None:
    assert parse_email("mi correo es Ana.Lopez@Example.COM gracias") == "ana.lopez@example.com"
    with pytest.raises(InvalidEmail):
        parse_email("ana arroba gmail")


async def _validate(domain: Dict[str, Any], **kwargs: Any):
    dispatcher = CollectingDispatcher()
    tracker = make_tracker(active_loop="order_status_form", **kwargs)
    events = await ValidateOrderStatusForm().run(dispatcher, tracker, domain)
    return dispatcher, slot_events(events)


@pytest.mark.asyncio
async def test_matching_number_and_email_verify_the_order(shop, domain, orders) -> None:
    order = orders.find(status="shipped")
    dispatcher, slots = await _validate(
        domain, slots={"order_id": order["order_id"]},
        new_slots={"email": order["email"].upper()}, text=order["email"].upper(),
    )
    assert slots["verified_order_id"] == order["order_id"]
    assert slots["verified_email"] == order["email"]
    # nothing said to the shopper; only the silent message that tells the bridge who they are
    assert [m["custom"] for m in dispatcher.messages] == [{"customer": {
        "id": slots["customer_id"], "name": slots["customer_name"], "email": order["email"],
        "verified_order_id": order["order_id"], "verified_by": "order_email"}}]
    assert not any(m.get("text") or m.get("response") for m in dispatcher.messages)


@pytest.mark.asyncio
async def test_wrong_email_and_unknown_number_get_the_same_answer(shop, domain, orders, demo_data) -> None:
    order = orders.find(status="delivered")
    other_email = next(c["email"] for c in demo_data["customers"] if c["email"] != order["email"])
    known = {o["order_id"] for o in demo_data["orders"]}
    unknown = next(str(n) for n in range(100000, 999999) if str(n) not in known)

    wrong_email, slots_a = await _validate(
        domain, slots={"order_id": order["order_id"]}, new_slots={"email": other_email}
    )
    unknown_number, slots_b = await _validate(
        domain, slots={"email": order["email"]}, new_slots={"order_id": unknown}
    )
    assert wrong_email.messages == unknown_number.messages
    assert responses(wrong_email) == ["utter_order_not_verified"]
    for slots in (slots_a, slots_b):
        assert slots["order_id"] is None and slots["email"] is None
        assert slots["verification_attempts"] == 1
        assert "verified_order_id" not in slots


@pytest.mark.asyncio
async def test_third_failure_locks_and_the_form_stops_asking(shop, domain, orders, demo_data) -> None:
    order = orders.find(status="processing")
    other_email = next(c["email"] for c in demo_data["customers"] if c["email"] != order["email"])
    dispatcher, slots = await _validate(
        domain,
        slots={"order_id": order["order_id"], "verification_attempts": float(MAX_ATTEMPTS - 1)},
        new_slots={"email": other_email},
    )
    assert slots["verification_attempts"] == MAX_ATTEMPTS
    assert slots.get("requested_slot", "missing") is None  # the form ends
    assert responses(dispatcher) == []

    # The submit action then says plainly that it is locked, offers a person
    # and reveals nothing of the order.
    status = CollectingDispatcher()
    tracker = make_tracker(slots={"verification_attempts": float(MAX_ATTEMPTS)})
    await ActionOrderStatus().run(status, tracker, domain)
    assert responses(status) == ["utter_verification_locked"]
    assert status.messages[0]["max_attempts"] == MAX_ATTEMPTS
    assert order["order_id"] not in str(status.messages)


@pytest.mark.asyncio
async def test_a_verified_customer_needs_only_the_number_of_another_order(shop, domain, demo_data) -> None:
    first, second = two_orders_of_one_customer(demo_data)
    dispatcher, slots = await _validate(
        domain, slots=verified_slots(first), new_slots={"order_id": second["order_id"]},
        text=f"y el {second['order_id']}?",
    )
    assert slots["verified_order_id"] == second["order_id"]
    assert said(dispatcher) == []


@pytest.mark.asyncio
async def test_someone_elses_order_is_refused_even_after_verifying_your_own(shop, domain, orders) -> None:
    mine = orders.find(status="delivered")
    theirs = next(o for o in orders.all(status="shipped") if o["email"] != mine["email"])
    dispatcher, slots = await _validate(
        domain, slots=verified_slots(mine), new_slots={"order_id": theirs["order_id"]}
    )
    # refused: with the proven email, as "none of your orders" (not counted as a guess)
    assert responses(dispatcher) == ["utter_order_not_in_account"]
    assert slots["order_id"] is None
    assert slots.get("verified_order_id") != theirs["order_id"]


@pytest.mark.asyncio
async def test_a_bad_order_number_explains_the_format_without_counting_a_try(shop, domain) -> None:
    dispatcher, slots = await _validate(domain, new_slots={"order_id": "28013"}, text="28013")
    assert responses(dispatcher) == ["utter_invalid_order_id"]
    assert slots["order_id"] is None
    assert "verification_attempts" not in slots


@pytest.mark.asyncio
async def test_no_while_asked_for_data_stops_the_form(shop, domain) -> None:
    dispatcher, slots = await _validate(domain, new_slots={"order_id": "no, déjalo"}, intent="deny", text="no, déjalo")
    assert slots["form_stopped"] is True
    assert slots["requested_slot"] is None
    status = CollectingDispatcher()
    events = await ActionOrderStatus().run(status, make_tracker(slots={"form_stopped": True}), domain)
    assert responses(status) == ["utter_form_stopped"]
    assert slot_events(events)["form_stopped"] is None


@pytest.mark.asyncio
async def test_store_down_gets_an_apology_and_the_offer_of_a_person(domain, orders) -> None:
    use_store(SqlStore("postgresql://postgres@127.0.0.1:1/none", connect_timeout=1))
    try:
        order = orders.find(status="shipped")
        dispatcher, slots = await _validate(
            domain, slots={"order_id": order["order_id"]}, new_slots={"email": order["email"]}
        )
        assert slots["store_error"] is True
        assert slots["requested_slot"] is None
        status = CollectingDispatcher()
        await ActionOrderStatus().run(status, make_tracker(slots={"store_error": True}), domain)
        assert responses(status) == ["utter_store_unavailable"]
    finally:
        use_store(None)


@pytest.mark.parametrize("text, intent, expected", [
    ("sí, cancélalo", "order_cancel", True),
    ("Sí", "affirm", True),
    ("vale", "inform", True),
    ("no, mantenerlo", "deny", False),
    ("mejor no", "inform", False),
    ("déjalo así", "deny", False),
    ("¿cuánto tarda?", "inform", None),
])
def test_confirmation_answers_are_read_as_yes_or_no(text: str, intent: str, expected) -> None:
    from actions.verification import interpret_yes_no
    assert interpret_yes_no(text, make_tracker(intent=intent, text=text)) is expected


# --- a failed try re-asks only what was wrong (issue 9) ----------------------

def _other_email(order: Dict[str, Any], demo_data: Dict[str, Any]) -> str:
    return next(c["email"] for c in demo_data["customers"] if c["email"] != order["email"])


def _unknown_number(demo_data: Dict[str, Any]) -> str:
    known = {o["order_id"] for o in demo_data["orders"]}
    return next(str(n) for n in range(100000, 999999) if str(n) not in known)


@pytest.mark.asyncio
async def test_a_failed_try_keeps_both_data_and_asks_for_the_wrong_one(shop, domain, orders, demo_data) -> None:
    order = orders.find(status="shipped")
    wrong = _other_email(order, demo_data)
    dispatcher, slots = await _validate(
        domain, slots={"order_id": order["order_id"]}, new_slots={"email": wrong}, text=wrong
    )
    assert responses(dispatcher) == ["utter_order_not_verified"]
    assert slots["verification_pending"] == {"order_id": order["order_id"], "email": wrong}

    # The form's next question is not "the order number?" but "the wrong one".
    ask = CollectingDispatcher()
    await ActionAskOrderId().run(ask, make_tracker(slots={"verification_pending": slots["verification_pending"]}), domain)
    assert responses(ask) == ["utter_ask_verification_correction"]
    fresh = CollectingDispatcher()
    await ActionAskOrderId().run(fresh, make_tracker(), domain)
    assert responses(fresh) == ["utter_ask_order_id"]


@pytest.mark.asyncio
@pytest.mark.parametrize("candidates", ["both", "order_id_text", "email_entity"])
async def test_the_corrected_email_verifies_without_asking_the_number_again(
    shop, domain, orders, demo_data, candidates: str
) -> None:
    """However Rasa fills the slots from "ana@..." (the order number's text
    mapping, the email entity, or both), the kept number is used with it."""
    order = orders.find(status="shipped")
    text = f"perdona, es {order['email']}"
    new_slots = {
        "both": {"order_id": text, "email": order["email"]},
        "order_id_text": {"order_id": text},
        "email_entity": {"email": order["email"]},
    }[candidates]
    dispatcher, slots = await _validate(
        domain,
        slots={"verification_attempts": 1.0,
               "verification_pending": {"order_id": order["order_id"], "email": _other_email(order, demo_data)}},
        new_slots=new_slots, text=text,
    )
    assert said(dispatcher) == []
    assert slots["verified_order_id"] == order["order_id"]
    assert slots["verified_email"] == order["email"]
    assert slots["verification_pending"] is None


@pytest.mark.asyncio
async def test_the_corrected_number_verifies_with_the_kept_email(shop, domain, orders, demo_data) -> None:
    order = orders.find(status="processing")
    text = f"uy, el bueno es el {order['order_id']}"
    dispatcher, slots = await _validate(
        domain,
        slots={"verification_attempts": 1.0,
               "verification_pending": {"order_id": _unknown_number(demo_data), "email": order["email"]}},
        new_slots={"order_id": order["order_id"]}, text=text,
    )
    assert said(dispatcher) == []
    assert slots["verified_order_id"] == order["order_id"]


@pytest.mark.asyncio
async def test_a_wrong_correction_counts_a_try_and_the_answer_is_still_the_same(shop, domain, orders, demo_data) -> None:
    order = orders.find(status="delivered")
    wrong = _other_email(order, demo_data)
    dispatcher, slots = await _validate(
        domain,
        slots={"verification_attempts": 1.0,
               "verification_pending": {"order_id": order["order_id"], "email": "otra@correo.example"}},
        new_slots={"email": wrong}, text=wrong,
    )
    assert responses(dispatcher) == ["utter_order_not_verified_last_try"]
    assert dispatcher.messages[0]["attempts_left"] == 1
    assert slots["verification_attempts"] == 2
    assert "verified_order_id" not in slots


@pytest.mark.asyncio
async def test_a_correction_with_neither_datum_explains_and_counts_nothing(shop, domain, orders) -> None:
    order = orders.find(status="shipped")
    dispatcher, slots = await _validate(
        domain,
        slots={"verification_attempts": 1.0,
               "verification_pending": {"order_id": order["order_id"], "email": "otra@correo.example"}},
        new_slots={"order_id": "el email estaba mal"}, text="el email estaba mal",
    )
    assert responses(dispatcher) == ["utter_invalid_verification_correction"]
    assert "verification_attempts" not in slots


def test_an_email_with_six_digits_is_a_correction_of_the_email_only() -> None:
    assert parse_correction("juan123456@correo.com") == (None, "juan123456@correo.com")
    assert parse_correction("es el 482913") == ("482913", None)
    assert parse_correction("482913 y Ana@Correo.com") == ("482913", "ana@correo.com")


@pytest.mark.asyncio
async def test_number_and_email_in_one_message_get_one_answer(shop, domain, orders, demo_data) -> None:
    """Both slots are validated in the same turn; the shopper reads the refusal once."""
    order = orders.find(status="shipped")
    wrong = _other_email(order, demo_data)
    dispatcher, slots = await _validate(
        domain, new_slots={"order_id": order["order_id"], "email": wrong}, text=f"{order['order_id']} {wrong}"
    )
    assert responses(dispatcher) == ["utter_order_not_verified"]
    assert slots["verification_attempts"] == 1


@pytest.mark.asyncio
async def test_a_verified_shopper_is_not_asked_for_the_email_again(shop, domain, demo_data) -> None:
    first, second = two_orders_of_one_customer(demo_data)
    proved = dict(verified_slots(first), email=None)  # the email slot was emptied meanwhile
    dispatcher, slots = await _validate(
        domain, slots=proved, new_slots={"order_id": second["order_id"]}, text=second["order_id"],
    )
    assert slots["verified_order_id"] == second["order_id"]
    assert slots["email"] == first["email"]
    assert said(dispatcher) == []


@pytest.mark.asyncio
@pytest.mark.parametrize("voice, two_left, one_left", [
    ("tu", "te quedan 2 intentos", "te queda 1 intento"),
    ("usted", "le quedan 2 intentos", "le queda 1 intento"),
])
async def test_the_tries_left_are_said_in_correct_spanish(
    shop, domain, orders, demo_data, renderer, voice: str, two_left: str, one_left: str
) -> None:
    order = orders.find(status="shipped")
    wrong = _other_email(order, demo_data)
    said = []
    for attempts in (0.0, 1.0):
        dispatcher, _ = await _validate(
            domain, slots={"order_id": order["order_id"], "verification_attempts": attempts},
            new_slots={"email": wrong}, text=wrong,
        )
        said += await renderer.texts(dispatcher, voice)
    assert two_left in said[0] and one_left in said[1], said
    assert "1 intentos" not in " ".join(said)


@pytest.mark.asyncio
async def test_the_same_data_again_is_not_counted_as_a_new_try(shop, domain, orders, demo_data) -> None:
    order = orders.find(status="shipped")
    wrong = _other_email(order, demo_data)
    dispatcher, slots = await _validate(
        domain,
        slots={"verification_attempts": 1.0, "verification_pending": {"order_id": order["order_id"], "email": wrong}},
        new_slots={"order_id": order["order_id"]}, text=order["order_id"],
    )
    assert responses(dispatcher) == ["utter_verification_same_data"]
    assert "verification_attempts" not in slots
    assert slots["order_id"] is None  # the form asks for the correction again


# --- a verified shopper's proven email with a wrong number -------------------

@pytest.mark.asyncio
@pytest.mark.parametrize("number", ["unknown", "someone_elses"])
@pytest.mark.parametrize("email_written", [False, True])
async def test_a_verified_shopper_with_a_wrong_number_is_not_counted_as_a_guess(
    shop, domain, orders, demo_data, number: str, email_written: bool
) -> None:
    """The email is proven; only the number is wrong. Guessing numbers with a
    proven email can only find the shopper's own orders, so it is not a try:
    the shopper is told none of their email's orders has that number (the
    same words for an unknown number and someone else's), and never locked."""
    mine, _ = two_orders_of_one_customer(demo_data)
    wrong = (_unknown_number(demo_data) if number == "unknown"
             else next(o["order_id"] for o in demo_data["orders"] if o["email"] != mine["email"]))
    slots = dict(verified_slots(mine), verification_attempts=float(MAX_ATTEMPTS - 1))
    new_slots = {"order_id": wrong, **({"email": mine["email"]} if email_written else {})}
    dispatcher, events = await _validate(domain, slots=slots, new_slots=new_slots,
                                         text=f"y el pedido {wrong}" + (f" con {mine['email']}" if email_written else ""))
    assert responses(dispatcher) == ["utter_order_not_in_account"]
    assert dispatcher.messages[0]["order_id"] == wrong
    assert "verification_attempts" not in events  # not a try: the lock is not reached
    # both kept aside: the shopper writes only that order's email or a corrected number
    assert events["order_id"] is None and events["email"] is None
    assert events["verification_pending"] == {"order_id": wrong, "email": mine["email"], "kind": "not_in_account"}
    assert events.get("verified_order_id") in (None, mine["order_id"])
    assert "requested_slot" not in events or events["requested_slot"] == "order_id"


@pytest.mark.asyncio
@pytest.mark.parametrize("right_email", [True, False])
async def test_after_a_number_not_in_the_account_the_other_email_alone_verifies_that_order(
    shop, domain, orders, demo_data, right_email: bool
) -> None:
    """Walkthrough: the shopper answered "none of your orders has that number"
    with the other order's email, and got "no parece un número de pedido".
    The number is kept: the email alone is checked with it (a wrong one is a try)."""
    mine, _ = two_orders_of_one_customer(demo_data)
    theirs = next(o for o in demo_data["orders"] if o["email"] != mine["email"])
    email = theirs["email"] if right_email else "otra.persona@correo.example"
    pending = {"order_id": theirs["order_id"], "email": mine["email"], "kind": "not_in_account"}
    slots = dict(verified_slots(mine), verification_pending=pending)
    dispatcher, events = await _validate(domain, slots=slots, new_slots={"email": email}, text=email)
    if right_email:
        assert events["verified_order_id"] == theirs["order_id"] and events["verified_email"] == email
        assert not events.get("verification_pending")
    else:
        assert events["verification_attempts"] == 1.0
        assert events["verification_pending"]["order_id"] == theirs["order_id"]
        assert events.get("verified_order_id") in (None, mine["order_id"])
    assert "utter_invalid_order_id" not in responses(dispatcher)


@pytest.mark.asyncio
async def test_the_question_after_a_number_not_in_the_account_names_that_order(domain) -> None:
    pending = {"order_id": "123456", "email": "ana@correo.example", "kind": "not_in_account"}
    dispatcher = CollectingDispatcher()
    await ActionAskOrderId().run(dispatcher, make_tracker(slots={"verification_pending": pending}), domain)
    assert responses(dispatcher) == ["utter_ask_other_order_email"]
    assert dispatcher.messages[0]["order_id"] == "123456"


@pytest.mark.asyncio
async def test_the_own_email_miss_reads_the_same_for_an_unknown_and_someone_elses_number(
    shop, domain, demo_data, renderer
) -> None:
    mine, _ = two_orders_of_one_customer(demo_data)
    said = {}
    for kind, wrong in (("unknown", _unknown_number(demo_data)),
                        ("theirs", next(o["order_id"] for o in demo_data["orders"] if o["email"] != mine["email"]))):
        dispatcher, _ = await _validate(domain, slots=verified_slots(mine), new_slots={"order_id": wrong}, text=wrong)
        said[kind] = [t.replace(wrong, "N") for t in await renderer.texts(dispatcher, "tu")]
        usted = await renderer.texts(dispatcher, "usted")
        assert "su email" in usted[0] and "tu email" in said[kind][0]
    assert said["unknown"] == said["theirs"]


@pytest.mark.asyncio
async def test_a_verified_shopper_trying_another_email_still_counts(shop, domain, demo_data) -> None:
    """A new, unproven email with the number is a real try."""
    mine, _ = two_orders_of_one_customer(demo_data)
    other = next(o for o in demo_data["orders"] if o["email"] != mine["email"])
    dispatcher, events = await _validate(
        domain, slots=verified_slots(mine),
        new_slots={"order_id": other["order_id"], "email": "otra.persona@correo.example"},
        text=f"{other['order_id']} otra.persona@correo.example",
    )
    assert responses(dispatcher) == ["utter_order_not_verified"]
    assert events["verification_attempts"] == 1


@pytest.mark.asyncio
@pytest.mark.parametrize("voice, offer", [("tu", "¿Te paso con ella?"), ("usted", "¿Le paso con ella?")])
async def test_the_lock_is_said_plainly_once_with_the_offer_of_a_person(
    shop, domain, orders, demo_data, renderer, voice: str, offer: str
) -> None:
    order = orders.find(status="processing")
    said = CollectingDispatcher()
    validation, _ = await _validate(
        domain, slots={"order_id": order["order_id"], "verification_attempts": float(MAX_ATTEMPTS - 1)},
        new_slots={"email": _other_email(order, demo_data)},
    )
    said.messages.extend(validation.messages)
    await ActionOrderStatus().run(said, make_tracker(slots={"verification_attempts": float(MAX_ATTEMPTS)}), domain)
    texts = await renderer.texts(said, voice)
    assert len(texts) == 1, texts  # one message, not the refusal and then the lock
    assert "no puedo comprobar más pedidos en esta conversación" in texts[0]
    assert f"{MAX_ATTEMPTS} intentos" in texts[0] and offer in texts[0] and "Sí, con una persona" in texts[0]
    assert order["order_id"] not in texts[0]


@pytest.mark.asyncio
@pytest.mark.parametrize("text, intent, last_words", [
    ("ok gracias chao", "goodbye", "utter_form_left"),
    ("vale gracias, hasta luego", "thank", "utter_form_left"),
    ("olvídalo", "deny", "utter_form_stopped"),
    ("déjalo, gracias", "inform", "utter_form_stopped"),
    # the queue's goodbyes (core/goodbyes.py): once missing here
    ("vale, me voy", "affirm", "utter_form_left"),
    ("no, es todo, gracias", "thank", "utter_form_left"),
])
async def test_a_goodbye_or_let_go_inside_the_form_ends_it_without_asking_again(
    shop, domain, text: str, intent: str, last_words: str
) -> None:
    """Tester's report: 'ok gracias chao' while the number was asked got
    '¡Hasta pronto!' and then '¿Me dices el número de pedido?' again."""
    dispatcher, slots = await _validate(domain, slots={"requested_slot": "order_id"}, intent=intent, text=text)
    assert slots["form_stopped"] is True and slots["requested_slot"] is None
    assert said(dispatcher) == []
    status = CollectingDispatcher()
    tracker = make_tracker(slots={"form_stopped": True}, intent=intent, text=text)
    await ActionOrderStatus().run(status, tracker, domain)
    assert responses(status) == [last_words]


@pytest.mark.asyncio
@pytest.mark.parametrize("text, intent", [("gracias", "thank"), ("ok gracias", "thank"),
                                          ("déjalo en la portería", "inform"), ("482913 gracias, adiós", "thank")])
async def test_plain_thanks_inside_the_form_is_no_goodbye(shop, domain, text: str, intent: str) -> None:
    _, slots = await _validate(domain, slots={"requested_slot": "order_id"}, intent=intent, text=text)
    assert not slots.get("form_stopped")


@pytest.mark.asyncio
async def test_a_yes_with_a_goodbye_to_a_confirmation_is_a_yes(shop, domain) -> None:
    """'sí, gracias, adiós' to '¿Confirmas la cancelación?' cancels; it does not drop the form."""
    from actions.verification import leaving_message

    for text, intent, expected in (("sí, gracias, adiós", "goodbye", None), ("vale, chao", "goodbye", None),
                                   ("no, gracias, adiós", "goodbye", "goodbye"), ("déjalo", "deny", None)):
        tracker = make_tracker(slots={"requested_slot": "cancel_confirmed"}, intent=intent, text=text,
                               active_loop="cancel_form")
        assert leaving_message(tracker) == expected, text


@pytest.mark.asyncio
@pytest.mark.parametrize("text", ["no se el numero", "no lo encuentro", "ni idea", "no me acuerdo del número"])
async def test_no_number_gets_where_to_find_it_and_the_form_goes_on(shop, domain, text: str) -> None:
    """Walkthrough: "no sé el número" was read as "no" and ended the form."""
    dispatcher, events = await _validate(domain, slots={"requested_slot": "order_id"},
                                         new_slots={"order_id": text}, intent="deny", text=text)
    assert not events.get("form_stopped") and events.get("order_id") is None
    assert responses(dispatcher) == []  # no "no parece un número de pedido"
    ask = CollectingDispatcher()
    await ActionAskOrderId().run(ask, make_tracker(slots={"requested_slot": "order_id"}, intent="deny", text=text),
                                 domain)
    assert responses(ask) == ["utter_order_number_help"]
    assert not ask.messages[0].get("buttons")  # the response's own button ("Hablar con una persona") stays


@pytest.mark.asyncio
async def test_a_shopper_known_by_telegram_phone_picks_one_of_their_orders(shop, domain, demo_data) -> None:
    """Walkthrough: a Telegram chat verified by its phone was asked for an order
    number like a stranger. Their own orders are offered as buttons."""
    first, second = two_orders_of_one_customer(demo_data)
    customer = await shop.get_customer_by_email(first["email"])
    slots = {"email": first["email"], "verified_email": first["email"], "customer_id": str(customer.id)}
    ask = CollectingDispatcher()
    await ActionAskOrderId().run(ask, make_tracker(slots=slots), domain)
    assert responses(ask) == ["utter_ask_which_order"]
    titles = [b["title"] for b in ask.messages[0]["buttons"]]
    assert any(t.startswith(first["order_id"]) for t in titles) and any(t.startswith(second["order_id"]) for t in titles)
    assert all(len(t.encode()) <= 64 for t in titles)  # Telegram's limit for a button's text
    # someone else's customer id with this email proven lists nothing of theirs
    other = dict(slots, customer_id=str(customer.id + 1))
    ask = CollectingDispatcher()
    await ActionAskOrderId().run(ask, make_tracker(slots=other), domain)
    assert responses(ask) == ["utter_ask_order_id"]


@pytest.mark.asyncio
async def test_an_email_alone_at_the_number_question_is_kept_and_explained(shop, domain) -> None:
    """Walkthrough: after «no sé el número», the email alone got «Eso no parece
    un número de pedido». It is kept, and the shopper is told why the number is needed."""
    dispatcher, events = await _validate(domain, slots={"requested_slot": "order_id"},
                                         new_slots={"order_id": "xabier.gil@example.com",
                                                    "email": "xabier.gil@example.com"},
                                         text="xabier.gil@example.com")
    assert responses(dispatcher) == ["utter_email_kept_need_number"]
    assert events.get("email") == "xabier.gil@example.com" and events.get("order_id") is None


@pytest.mark.asyncio
@pytest.mark.parametrize("text", ["ok", "vale, gracias"])
async def test_ok_at_the_number_question_is_no_wrong_number(shop, domain, text: str) -> None:
    """New-user check: «ok» after the help for a missing number got «Eso no
    parece un número de pedido». The question comes back, with no error."""
    dispatcher, events = await _validate(domain, slots={"requested_slot": "order_id"},
                                         new_slots={"order_id": text}, intent="affirm", text=text)
    assert responses(dispatcher) == [] and events.get("order_id") is None and not events.get("form_stopped")
    dispatcher, events = await _validate(domain, slots={"requested_slot": "email", "order_id": "101490"},
                                         new_slots={"email": text}, intent="affirm", text=text)
    assert responses(dispatcher) == [] and events.get("email") is None and not events.get("form_stopped")
