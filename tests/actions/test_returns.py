"""Returns: eligibility by window and final sale, item choice, creation."""
from __future__ import annotations

import pytest
from rasa_sdk.executor import CollectingDispatcher

from actions.returns import (
    ActionAskReturnConfirmed,
    ActionAskReturnItems,
    ActionCreateReturn,
    ValidateReturnForm,
    parse_item_choice,
)
from core.errors import InvalidReturnItems
from core.policy import load_policy
from core.returns import return_eligibility
from tests.actions.conftest import make_tracker, responses, slot_events, verified_slots


@pytest.mark.asyncio
async def test_eligibility_follows_the_policy(shop, orders) -> None:
    policy = load_policy()
    cases = [
        (orders.find(status="delivered", final_sale="none", max_delivered_days=20, has_returns=False), None),
        (orders.find(status="delivered", min_delivered_days=policy.return_window_days + 2), "window_expired"),
        (orders.find(status="delivered", final_sale="all", max_delivered_days=20), "final_sale"),
        (orders.find(status="shipped"), "not_delivered"),
        (orders.find(status="cancelled"), "closed"),
    ]
    for demo_order, reason in cases:
        order = await shop.get_order(demo_order["order_id"])
        assert return_eligibility(order, policy).reason == reason, demo_order["order_id"]


@pytest.mark.asyncio
async def test_final_sale_items_are_left_out_of_a_mixed_order(shop, orders) -> None:
    demo = orders.find(status="delivered", final_sale="some", max_delivered_days=20, has_returns=False)
    order = await shop.get_order(demo["order_id"])
    result = return_eligibility(order, load_policy())
    assert result.ok
    assert {i.name for i in result.eligible} == {i["name"] for i in demo["items"] if not i["final_sale"]}
    assert {i.name for i in result.final_sale} == {i["name"] for i in demo["items"] if i["final_sale"]}


@pytest.mark.asyncio
async def test_items_already_returned_cannot_be_returned_again(shop, orders) -> None:
    demo = next(o for o in orders.all(status="delivered", has_returns=True)
                if o.get("delivered_days_ago", 99) <= 20)
    order = await shop.get_order(demo["order_id"])
    returned = {sku for r in demo["returns"] if r["status"] != "rejected" for sku in r["item_skus"]}
    result = return_eligibility(order, load_policy())
    assert not {i.sku for i in result.eligible} & returned


def test_item_choice_parsing(shop) -> None:
    from decimal import Decimal

    from core.store import OrderItem
    items = tuple(OrderItem(i, f"SKU{i}", name, 1, Decimal("10"), False)
                  for i, name in ((11, "Zapatillas running"), (12, "Camiseta técnica"), (13, "Gorra")))
    assert parse_item_choice("todos", items) == [11, 12, 13]
    assert parse_item_choice("1 y 3", items) == [11, 13]
    assert parse_item_choice("2", items) == [12]
    assert parse_item_choice("la gorra", items) == [13]
    for bad in ("7", "ninguno de esos", ""):
        with pytest.raises(InvalidReturnItems):
            parse_item_choice(bad, items)


@pytest.mark.asyncio
async def test_return_is_created_with_its_number_and_instructions(shop, domain, orders) -> None:
    demo = orders.find(status="delivered", final_sale="none", max_delivered_days=20, has_returns=False)
    order = await shop.get_order(demo["order_id"])
    chosen = order.items[0]
    slots = dict(verified_slots(demo), return_items=str(chosen.id), return_reason="no_esperado", return_confirmed=True)
    dispatcher = CollectingDispatcher()
    await ActionCreateReturn().run(dispatcher, make_tracker(slots=slots), domain)
    assert responses(dispatcher) == ["utter_return_created"]  # no exchange offered: the size was fine
    message = dispatcher.messages[0]
    assert message["return_number"].startswith("DEV-") and len(message["return_number"]) == 10
    stored = await shop.get_order(demo["order_id"])
    new = [r for r in stored.returns if r.return_number == message["return_number"]]
    assert new and new[0].item_ids == (chosen.id,)
    assert chosen.name in message["items"]


@pytest.mark.asyncio
async def test_expired_window_gets_the_reason_and_the_offer_of_a_person(shop, domain, orders) -> None:
    demo = orders.find(status="delivered", min_delivered_days=load_policy().return_window_days + 2)
    dispatcher = CollectingDispatcher()
    await ActionCreateReturn().run(dispatcher, make_tracker(slots=verified_slots(demo)), domain)
    assert responses(dispatcher) == ["utter_return_window_expired"]
    assert dispatcher.messages[0]["days_since_delivery"] >= demo["delivered_days_ago"] - 1


@pytest.mark.asyncio
@pytest.mark.parametrize("status, response", [("processing", "utter_return_not_shipped"),
                                              ("shipped", "utter_return_not_delivered")])
async def test_an_undelivered_order_offers_cancelling_only_while_it_can_be_cancelled(
        shop, domain, orders, status: str, response: str) -> None:
    """A parcel on its way cannot be cancelled (the walkthrough's shipped order got «también puedes cancelarlo»)."""
    demo = orders.find(status=status)
    dispatcher = CollectingDispatcher()
    await ActionCreateReturn().run(dispatcher, make_tracker(slots=verified_slots(demo)), domain)
    assert responses(dispatcher) == [response]
    texts = " ".join(v["text"] for v in domain["responses"][response])
    assert ("cancel" in texts) == (status == "processing")


@pytest.mark.asyncio
async def test_the_item_question_lists_only_returnable_items(shop, domain, orders) -> None:
    demo = orders.find(status="delivered", final_sale="some", max_delivered_days=20, has_returns=False)
    dispatcher = CollectingDispatcher()
    await ActionAskReturnItems().run(dispatcher, make_tracker(slots=verified_slots(demo)), domain)
    assert responses(dispatcher)[0] == "utter_return_some_final_sale"
    buttons = dispatcher.messages[-1]["buttons"]
    names = [b["title"] for b in buttons]
    for item in demo["items"]:
        assert any(item["name"] in n for n in names) != item["final_sale"]


@pytest.mark.asyncio
async def test_item_choice_inside_the_form(shop, domain, orders) -> None:
    demo = orders.find(status="delivered", final_sale="none", max_delivered_days=20, has_returns=False)
    order = await shop.get_order(demo["order_id"])
    tracker = make_tracker(slots=verified_slots(demo), new_slots={"return_items": "1"},
                           active_loop="return_form", text="1")
    events = await ValidateReturnForm().run(CollectingDispatcher(), tracker, domain)
    eligible = return_eligibility(order, load_policy()).eligible
    assert slot_events(events)["return_items"] == str(eligible[0].id)
    assert slot_events(events).get("requested_slot", "return_reason") == "return_reason"


@pytest.mark.asyncio
async def test_a_typed_number_is_the_item_choice_whatever_the_intent(shop, domain, orders) -> None:
    demo = orders.find(status="delivered", final_sale="none", max_delivered_days=20, has_returns=False)
    order = await shop.get_order(demo["order_id"])
    slots = dict(verified_slots(demo), requested_slot="return_items")
    # The classifier read the bare "1" as out_of_scope, so no mapping filled the slot.
    tracker = make_tracker(slots=slots, intent="out_of_scope", text="1", active_loop="return_form")
    events = await ValidateReturnForm().run(CollectingDispatcher(), tracker, domain)
    eligible = return_eligibility(order, load_policy()).eligible
    assert slot_events(events)["return_items"] == str(eligible[0].id)
    # A real question is not taken for a choice: the form rejects and the FAQ rule answers.
    other = make_tracker(slots=slots, intent="faq", text="¿cuánto cuesta el envío?", active_loop="return_form")
    events = await ValidateReturnForm().run(CollectingDispatcher(), other, domain)
    assert "return_items" not in slot_events(events)


# --- where the parcel is handed in follows the order's country ---------------

def _returnable_in(demo_data, abroad: bool):
    policy = load_policy()
    return next(
        o for o in demo_data["orders"]
        if o["status"] == "delivered" and not o.get("returns") and 1 <= o.get("delivered_days_ago", 99) <= 20
        and not any(i["final_sale"] for i in o["items"])
        and (o["shipping_address"]["country"] != "España") == abroad
        and o["shipping_address"]["country"] not in policy.return_dropoff
    ) if abroad else next(
        o for o in demo_data["orders"]
        if o["status"] == "delivered" and not o.get("returns") and 1 <= o.get("delivered_days_ago", 99) <= 20
        and not any(i["final_sale"] for i in o["items"]) and o["shipping_address"]["country"] == "España"
    )


@pytest.mark.asyncio
@pytest.mark.parametrize("abroad", [False, True])
@pytest.mark.parametrize("exchange", [False, True])
async def test_return_instructions_follow_the_shipping_country(
    shop, domain, demo_data, renderer, abroad: bool, exchange: bool
) -> None:
    """An order shipped to Colombia was told to take the parcel to a Spanish
    Correos office; the drop-off is the policy's (return_dropoff) for the country."""
    demo = _returnable_in(demo_data, abroad)
    order = await shop.get_order(demo["order_id"])
    chosen = order.items[0]
    text = "quiero cambiarlo por otra talla" if exchange else "quiero devolverlo"
    slots = dict(verified_slots(demo), return_items=str(chosen.id), return_reason="no_esperado", return_confirmed=True,
                 exchange_variant="color negro" if exchange else None, exchange_confirmed=exchange or None)
    dispatcher = CollectingDispatcher()
    events = [{"event": "user", "text": text, "parse_data": {"intent": {"name": "return_request"}}},
              {"event": "active_loop", "name": "return_form"}]
    await ActionCreateReturn().run(dispatcher, make_tracker(slots=slots, text=text, events=events), domain)
    assert responses(dispatcher)[0] == ("utter_exchange_created" if exchange else "utter_return_created")
    expected = load_policy().return_dropoff_for(demo["shipping_address"]["country"])
    for voice in ("tu", "usted"):
        said = (await renderer.texts(dispatcher, voice))[0]
        assert expected in said, said
        assert ("Correos" in said) == (not abroad), said


# --- what the shopper already said is not asked again ------------------------

def _form_events(*texts: str):
    first, *rest = texts
    events = [{"event": "user", "text": first, "parse_data": {"intent": {"name": "return_request"}, "text": first}},
              {"event": "action", "name": "return_form"},
              {"event": "active_loop", "name": "return_form"}]
    for text in rest:
        events.append({"event": "user", "text": text, "parse_data": {"intent": {"name": "inform"}, "text": text}})
    return events


def _named_returnable(demo_data):
    """A returnable order with two items or more whose first item's kind is its own."""
    for o in demo_data["orders"]:
        heads = [i["name"].split()[0].lower() for i in o["items"]]
        if (o["status"] == "delivered" and not o.get("returns") and 1 <= o.get("delivered_days_ago", 99) <= 20
                and not any(i["final_sale"] for i in o["items"]) and len(heads) >= 2 and heads.count(heads[0]) == 1):
            return o
    raise AssertionError("no such demo order")


@pytest.mark.asyncio
@pytest.mark.parametrize("where", ["opening", "later"])
async def test_the_item_and_reason_named_before_are_not_asked(shop, domain, demo_data, where: str) -> None:
    """'quiero devolver las zapatillas del pedido N porque me quedan pequeñas'
    was answered with '¿Qué artículos quieres devolver?'. On the turn that
    verifies the order, what was said is taken, and nothing is left to ask."""
    demo = _named_returnable(demo_data)
    order = await shop.get_order(demo["order_id"])
    kind = order.items[0].name.split()[0].lower()
    if where == "opening":
        texts = (f"quiero devolver {kind} del pedido {demo['order_id']} porque me quedan pequeños", demo["email"])
    else:
        texts = (f"quiero hacer una devolución del pedido {demo['order_id']}",
                 f"es {kind}, me quedan pequeños", demo["email"])
    tracker = make_tracker(slots={"order_id": demo["order_id"]}, new_slots={"email": demo["email"]},
                           text=demo["email"], events=_form_events(*texts)[:-1], active_loop="return_form")
    dispatcher = CollectingDispatcher()
    filled = slot_events(await ValidateReturnForm().run(dispatcher, tracker, domain))
    assert filled["verified_order_id"] == demo["order_id"]
    assert filled["return_items"] == str(order.items[0].id)
    assert filled["return_reason"] == "talla"
    assert filled["requested_slot"] == "return_confirmed"  # only the yes to the summary is left
    assert responses(dispatcher) == []


@pytest.mark.asyncio
async def test_a_request_without_the_item_still_asks_which(shop, domain, demo_data) -> None:
    demo = _named_returnable(demo_data)
    texts = (f"quiero devolver algo del pedido {demo['order_id']}", demo["email"])
    tracker = make_tracker(slots={"order_id": demo["order_id"]}, new_slots={"email": demo["email"]},
                           text=demo["email"], events=_form_events(*texts)[:-1], active_loop="return_form")
    filled = slot_events(await ValidateReturnForm().run(CollectingDispatcher(), tracker, domain))
    assert filled["requested_slot"] == "return_items"


def test_items_are_taken_from_the_words_only_when_unambiguous() -> None:
    from actions.shopper_words import items_mentioned
    names = ["Zapatillas urbanas de piel (talla 38)", "Zapatillas running Brisa (talla 36)", "Gorra de béisbol (blanco)"]
    assert items_mentioned(["quiero devolver la gorra"], names) == [2]
    assert items_mentioned(["quiero devolver las zapatillas"], names) is None  # which pair? asked
    assert items_mentioned(["las zapatillas running"], names) == [1]
    assert items_mentioned(["las zapatillas de la talla 38"], names) == [0]
    assert items_mentioned(["las dos zapatillas y la gorra"], names) == [0, 1, 2]
    assert items_mentioned(["devolver el pedido 123456, mi email es gorra.fan@correo.example"], names) is None
    assert items_mentioned(["los pantalones"], ["Pantalón chino (talla 44)", "Cinturón de piel (talla 42)"]) == [0]
    assert items_mentioned(["los auriculares"], ["Zapatillas urbanas (talla 40)", "Auriculares Bluetooth (blanco)"]) == [1]
    jackets = ["Chaqueta vaquera (talla M)", "Bolso bandolera de piel (negro)", "Bolso bandolera de piel (blanco)"]
    assert items_mentioned(["el bolso blanco"], jackets) == [2]
    assert items_mentioned(["devuelvo la bandolera negra"], jackets) is None  # 'bandolera' is no item's first word
    assert items_mentioned(["el bolso, el negro"], jackets) == [1]
    assert items_mentioned(["la gorra negra"], ["Gorra de béisbol (negro)", "Gorra de béisbol (blanco)"]) == [0]


def test_the_return_reason_from_the_shoppers_words() -> None:
    from actions.shopper_words import reason_in
    assert reason_in(["quiero devolverlas, me quedan pequeñas"]) == "talla"
    assert reason_in(["no me quedan bien"]) == "talla"
    assert reason_in(["no es lo que esperaba"]) == "no_esperado"
    assert reason_in(["ya no lo necesito"]) == "ya_no_lo_quiero"
    assert reason_in(["llegó tarde para el cumpleaños"]) == "tarde"
    assert reason_in(["quiero devolver las zapatillas"]) is None


def test_the_return_deadline_counts_from_the_delivery() -> None:
    """Tester's report: an order delivered 29 days ago was told it had 30 more days."""
    import datetime as dt

    policy = load_policy()
    delivered = dt.date(2026, 11, 2)
    assert (delivered + dt.timedelta(days=policy.return_window_days)).weekday() < 6
    assert policy.return_deadline(delivered) == delivered + dt.timedelta(days=policy.return_window_days)
    assert policy.return_days_left(delivered, today=delivered + dt.timedelta(days=29)) == \
        policy.return_window_days - 29


def test_a_return_deadline_never_falls_on_a_sunday_or_a_holiday() -> None:
    """Walkthrough: «como tarde el domingo 27 de diciembre», a day no drop-off
    office opens. Such a window runs to the next day that is neither."""
    import datetime as dt
    from dataclasses import replace

    policy = replace(load_policy(), return_window_days=30)
    sunday_end = dt.date(2026, 11, 27)  # + 30 days = Sunday 27 December 2026
    assert (sunday_end + dt.timedelta(days=30)).weekday() == 6
    assert policy.return_deadline(sunday_end) == dt.date(2026, 12, 28)
    # Sunday 6 December is followed by the 7th; the 8th (Inmaculada) is a
    # holiday: a window ending on the 8th runs to the 9th.
    assert policy.is_holiday(dt.date(2026, 12, 8))
    assert policy.return_deadline(dt.date(2026, 11, 8)) == dt.date(2026, 12, 9)
    # Sunday 6 December (a holiday too) → Monday 7.
    assert policy.return_deadline(dt.date(2026, 11, 6)) == dt.date(2026, 12, 7)
    for start in (dt.date(2026, 1, 1) + dt.timedelta(days=n) for n in range(365)):
        deadline = policy.return_deadline(start)
        assert deadline.weekday() != 6 and not policy.is_holiday(deadline), start
        assert 0 <= (deadline - start).days - 30 <= 3, start


@pytest.mark.asyncio
async def test_return_instructions_give_the_last_day_from_the_delivery(shop, domain, orders) -> None:
    """'déjalo … en los próximos 30 días' counted the whole window from today;
    the instructions now give the last day, and 'el artículo' for one item."""
    from core.formatting import date_es
    from core.returns import delivered_day
    from tests.actions.test_exchanges import rendered

    candidates = orders.all(status="delivered", final_sale="none", has_returns=False,
                            max_delivered_days=load_policy().return_window_days - 2)
    demo = max(candidates, key=lambda o: o["delivered_days_ago"])
    assert demo["delivered_days_ago"] >= 5
    order = await shop.get_order(demo["order_id"])
    chosen = next(item for item in order.items if item.quantity == 1)
    slots = dict(verified_slots(demo), return_items=str(chosen.id), return_reason="no_esperado", return_confirmed=True)
    dispatcher = CollectingDispatcher()
    await ActionCreateReturn().run(dispatcher, make_tracker(slots=slots), domain)
    policy = load_policy()
    deadline = date_es(policy.return_deadline(delivered_day(order, policy)))
    for voice in ("tu", "usted"):
        text = await rendered(domain, dispatcher.messages[0], voice)
        assert f"como tarde el {deadline}" in text, text
        assert "próximos" not in text and f"{policy.return_window_days} días" not in text, text
        assert " el artículo " in text and "los artículos" not in text, text


@pytest.mark.asyncio
async def test_a_return_is_summarised_and_created_only_after_a_yes(shop, domain, orders) -> None:
    from tests.actions.test_exchanges import rendered
    """Issue 9 walkthrough: a plain return was created the moment the reason
    was given (an exchange asked first). Now both show a summary, with the
    amount, and wait for the yes; a "no" creates nothing."""
    demo = orders.find(status="delivered", final_sale="none", max_delivered_days=20, has_returns=False)
    order = await shop.get_order(demo["order_id"])
    chosen = order.items[0]
    asked = dict(verified_slots(demo), return_items=str(chosen.id), return_reason="no_esperado",
                 requested_slot="return_confirmed")
    dispatcher = CollectingDispatcher()
    await ActionAskReturnConfirmed().run(dispatcher, make_tracker(slots=asked), domain)
    assert responses(dispatcher) == ["utter_confirm_return"]
    for voice, ask in (("tu", "te devolvemos"), ("usted", "le devolvemos")):
        text = await rendered(domain, dispatcher.messages[0], voice)
        assert chosen.name in text and demo["order_id"] in text and ask in text and "¿La creo?" in text, text
        assert "€" in text, text

    for answer, intent, confirmed in (("sí", "affirm", True), ("no", "deny", False), ("vale, hazla", "affirm", True)):
        got = slot_events(await ValidateReturnForm().run(
            CollectingDispatcher(), make_tracker(slots=asked, new_slots={"return_confirmed": answer}, text=answer,
                                                 intent=intent, active_loop="return_form",
                                                 events=_form_events("quiero devolverlo")), domain))
        assert got["return_confirmed"] is confirmed, answer

    refused = CollectingDispatcher()
    await ActionCreateReturn().run(refused, make_tracker(slots=dict(asked, return_confirmed=False)), domain)
    assert responses(refused) == ["utter_return_kept"]
    unconfirmed = CollectingDispatcher()
    await ActionCreateReturn().run(unconfirmed, make_tracker(slots=dict(asked, return_confirmed=None)), domain)
    assert responses(unconfirmed) == ["utter_return_kept"]
    assert (await shop.get_order(demo["order_id"])).returns == ()
