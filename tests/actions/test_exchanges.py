"""Exchanges: another size or colour instead of a refund, on the return
path (same form, same eligibility), with a record of their own, converting a
return the conversation just created; refund status keeps them apart; every
answer in both voices. Real store (SQLite and PostgreSQL), Trackers built here."""
from __future__ import annotations

from typing import Any, Dict, List

import pytest
from rasa_sdk.executor import CollectingDispatcher

from actions.exchanges import current_variant, parse_variant, resolve_variant, wants_exchange
from actions.refunds import ActionRefundStatus
from actions.returns import (
    ActionAskExchangeConfirmed,
    ActionAskReturnItems,
    ActionCreateReturn,
    ValidateReturnForm,
)
from actions.shopper_words import names_another_kind
from core.policy import load_policy
from core.returns import return_eligibility
from core.store import Order, OrderItem
from tests.actions.conftest import make_tracker, responses, slot_events, verified_slots

TU_WORDS = (" te ", "quieres", "imprime", "tu paquete", " tú ")


def form_events(*texts: str, intent: str = "return_request") -> List[Dict[str, Any]]:
    """The events of a return_form started by ``texts[0]`` (the rest said inside it)."""
    first, *rest = texts
    events: List[Dict[str, Any]] = [
        {"event": "user", "text": first, "parse_data": {"intent": {"name": intent}, "text": first}},
        {"event": "action", "name": "return_form"},
        {"event": "active_loop", "name": "return_form"},
    ]
    for text in rest:
        events.append({"event": "user", "text": text, "parse_data": {"intent": {"name": "inform"}, "text": text}})
    return events


def other_size(item: OrderItem) -> str:
    """A size different from the item's own (its name says it: "… (talla 40)")."""
    current = current_variant(item.name) or ""
    return "talla 38" if current == "talla 41" else "talla 41"


async def returnable(shop: Any, orders: Any) -> Order:
    demo = orders.find(status="delivered", final_sale="none", max_delivered_days=20, has_returns=False)
    order = await shop.get_order(demo["order_id"])
    assert order is not None
    return order


async def rendered(domain: Dict[str, Any], message: Dict[str, Any], voice: str) -> str:
    from rasa.core.nlg import TemplatedNaturalLanguageGenerator
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.events import SlotSet
    from rasa.shared.core.trackers import DialogueStateTracker

    rasa_domain = Domain.from_dict(domain)
    tracker = DialogueStateTracker.from_events("s", [SlotSet("brand_voice", voice)], rasa_domain.slots)
    variables = {k: v for k, v in message.items() if k not in ("response", "buttons", "text")}
    generated = await TemplatedNaturalLanguageGenerator(rasa_domain.responses).generate(
        message["response"], tracker, "rest", **variables
    )
    assert generated, message["response"]
    return " " + str(generated["text"]) + " "


def test_the_shoppers_words_for_an_exchange() -> None:
    assert wants_exchange(["¿podría cambiarlas por una talla 41?"])
    assert wants_exchange(["quiero devolver las zapatillas", "mejor cámbiamelas por la 42"])
    assert not wants_exchange(["quiero devolver la camiseta"])
    assert not wants_exchange(["quiero cambiarlas", "no, mejor no quiero cambio, quiero mi dinero"])
    assert not wants_exchange(["cambié de opinión, quiero devolver el pedido"])
    assert not wants_exchange(["quiero devolverlas, no cambiarlas"])
    assert wants_exchange(["¿en lugar de reembolso me pueden enviar otra talla?"])
    assert wants_exchange(["mejor no me devuelvan el dinero, quiero cambiarla por la L"])
    assert parse_variant("¿podría cambiarlas por una talla 41?") == "talla 41"
    assert parse_variant("quiero cambiar la talla 38 por la 39") == "talla 39"
    assert parse_variant("me la cambian por una M?") == "talla M"
    assert parse_variant("la quiero en NEGRA") == "color negro"
    assert parse_variant("el del pedido 482913 por favor") is None
    # the size the shopper has is not the one wanted (the walkthrough's exchange asked for the XS back)
    assert parse_variant("quiero cambiar una camiseta por otra talla, la XS me queda chica, necesito la S") == "talla S"
    assert parse_variant("la XS me queda pequeña, quiero la S") == "talla S"
    assert parse_variant("las zapatillas de la 40 me están justas, ¿me mandan la 41?") == "talla 41"
    assert parse_variant("la 38 me queda pequeña") is None  # only what they have: the form asks what they want
    assert parse_variant("la quiero en azul, la negra me queda rara") == "color azul"
    # a lone S after "la" at the end of the answer («la S porfa» was not understood)
    assert parse_variant("la S porfa") == "talla S"
    assert parse_variant("cambiar la M por la L") == "talla L"
    assert resolve_variant(parse_variant("un número más") or "", ["Zapatillas running Brisa (talla 40)"]) == "talla 41"
    assert resolve_variant("una talla menos", ["Vaqueros slim fit (talla 40)"]) == "talla 38"
    assert resolve_variant("una talla más", ["Gorra de béisbol (negro)"]) is None


@pytest.mark.asyncio
async def test_a_direct_exchange_takes_item_and_size_from_the_first_message(shop, domain, orders) -> None:
    order = await returnable(shop, orders)
    item = order.items[0]
    wanted = other_size(item)
    text = f"quiero cambiar {item.name.split()[0].lower()} por la {wanted}"
    slots = dict(verified_slots({"order_id": order.order_id, "email": order.customer.email}))
    tracker = make_tracker(slots=slots, intent="return_request", text=text, events=form_events(text)[:-1] + [
        {"event": "active_loop", "name": "return_form"}], active_loop="return_form")
    events = await ValidateReturnForm().run(CollectingDispatcher(), tracker, domain)
    filled = slot_events(events)
    assert filled["return_items"] == str(item.id) and filled["exchange_variant"] == wanted
    assert filled["requested_slot"] == "exchange_confirmed"  # only the yes to the summary is left
    assert "return_reason" not in filled


@pytest.mark.asyncio
async def test_an_exchange_without_details_asks_which_item_then_which_size(shop, domain, orders) -> None:
    order = await returnable(shop, orders)
    slots = verified_slots({"order_id": order.order_id, "email": order.customer.email})
    tracker = make_tracker(slots=slots, intent="return_request", text="quiero un cambio de talla",
                           events=form_events("quiero un cambio de talla")[:2], active_loop="return_form")
    tracker.events.append({"event": "active_loop", "name": "return_form"})
    events = await ValidateReturnForm().run(CollectingDispatcher(), tracker, domain)
    assert slot_events(events)["requested_slot"] == "return_items"
    dispatcher = CollectingDispatcher()
    await ActionAskReturnItems().run(dispatcher, tracker, domain)
    assert responses(dispatcher) == ["utter_ask_exchange_items"]
    # The size question's answer: a bare "la 42" whatever intent it got (here no
    # mapping filled it); an answer the domain mapped but with no size is asked again.
    item = order.items[0]
    for answer, expected, intent, mapped in (("la 42", "talla 42", "out_of_scope", {}),
                                             ("ni idea", None, "inform", {"exchange_variant": "ni idea"})):
        asked = dict(slots, return_items=str(item.id), requested_slot="exchange_variant")
        step = make_tracker(slots=asked, intent=intent, text=answer, active_loop="return_form", new_slots=mapped,
                            events=form_events("quiero un cambio de talla"))
        dispatcher = CollectingDispatcher()
        got = slot_events(await ValidateReturnForm().run(dispatcher, step, domain))
        if current_variant(item.name) == expected:
            continue
        assert got.get("exchange_variant") == expected, answer
        if expected is None:
            assert responses(dispatcher) == ["utter_invalid_exchange_variant"]


@pytest.mark.asyncio
async def test_the_exchange_record_and_its_instructions(shop, domain, orders) -> None:
    order = await returnable(shop, orders)
    item = order.items[0]
    wanted = other_size(item)
    text = f"quiero cambiarlo por la {wanted}"
    slots = dict(verified_slots({"order_id": order.order_id, "email": order.customer.email}),
                 return_items=str(item.id), exchange_variant=wanted, exchange_confirmed=True)
    dispatcher = CollectingDispatcher()
    events = await ActionCreateReturn().run(
        dispatcher, make_tracker(slots=slots, text=text, events=form_events(text)), domain)
    assert responses(dispatcher) == ["utter_exchange_created"]
    message = dispatcher.messages[0]
    stored = await shop.get_order(order.order_id)
    (exchange,) = [r for r in stored.returns if r.return_number == message["return_number"]]
    assert (exchange.kind, exchange.wanted_variant, exchange.item_ids) == ("exchange", wanted, (item.id,))
    assert stored.refunds == order.refunds
    assert slot_events(events)["last_return_number"] == exchange.return_number
    tu, usted = await rendered(domain, message, "tu"), await rendered(domain, message, "usted")
    for text in (tu, usted):
        # where to hand it in follows the order's country (an Argentinian order: not Correos)
        dropoff = load_policy().return_dropoff_for(order.shipping_address.country)
        assert exchange.return_number in text and wanted in text and dropoff in text
        assert "sujeto a disponibilidad" in text  # no stock promise the shop cannot keep
        # the last day counted from the delivery, not the whole window from today
        assert f"como tarde el {message['return_deadline']}" in text and "próximos" not in text, text
    assert "imprime" in tu and "imprima" in usted
    assert not any(word in usted for word in TU_WORDS), usted


@pytest.mark.asyncio
async def test_an_exchange_right_after_a_return_converts_it(shop, domain, orders) -> None:
    """Issue 9: "¿podría cambiarlas por una talla 41?" got "no hay nada que devolver"."""
    order = await returnable(shop, orders)
    item = order.items[0]
    base = verified_slots({"order_id": order.order_id, "email": order.customer.email})
    dispatcher = CollectingDispatcher()
    events = await ActionCreateReturn().run(
        dispatcher, make_tracker(slots=dict(base, return_items=str(item.id), return_reason="talla", return_confirmed=True),
                                 events=form_events("quiero devolver algo")), domain)
    number = slot_events(events)["last_return_number"]
    # A wrong size: the exchange is offered instead of the refund.
    assert responses(dispatcher) == ["utter_return_created", "utter_return_offer_exchange"]

    wanted = other_size(item)
    text = f"¿podría cambiarlas por una {wanted}?"
    after = dict(base, last_return_number=number)
    tracker = make_tracker(slots=after, intent="return_request", text=text, active_loop="return_form",
                           events=form_events(text)[:-1] + [{"event": "active_loop", "name": "return_form"}])
    filled = slot_events(await ValidateReturnForm().run(CollectingDispatcher(), tracker, domain))
    assert filled["return_items"] == str(item.id) and filled["exchange_variant"] == wanted
    assert filled["requested_slot"] == "exchange_confirmed"

    dispatcher = CollectingDispatcher()
    submit = make_tracker(slots=dict(after, exchange_confirmed=True,
                                     **{k: filled[k] for k in ("return_items", "exchange_variant")}),
                          text=text, events=form_events(text))
    await ActionCreateReturn().run(dispatcher, submit, domain)
    assert responses(dispatcher) == ["utter_exchange_from_return"]
    assert dispatcher.messages[0]["return_number"] == number
    stored = await shop.get_order(order.order_id)
    (only,) = stored.returns
    assert (only.return_number, only.kind, only.wanted_variant) == (number, "exchange", wanted)

    # Refund status: the exchange is no pending refund.
    dispatcher = CollectingDispatcher()
    await ActionRefundStatus().run(dispatcher, make_tracker(slots=base, intent="refund_status"), domain)
    assert responses(dispatcher) == ["utter_refund_none_exchange"]
    text_tu = await rendered(domain, dispatcher.messages[0], "tu")
    assert number in text_tu and "no genera reembolso" in text_tu and "pendiente" not in text_tu


@pytest.mark.asyncio
async def test_exchanges_follow_the_return_window_and_final_sale(shop, domain, orders) -> None:
    policy = load_policy()
    cases = [
        (orders.find(status="delivered", min_delivered_days=policy.return_window_days + 2), "utter_exchange_window_expired"),
        (orders.find(status="delivered", final_sale="all", max_delivered_days=20), "utter_exchange_final_sale"),
        (orders.find(status="shipped"), "utter_exchange_not_delivered"),
        # another size before it ships: cancel and order again, or exchange once delivered
        (orders.find(status="processing"), "utter_exchange_not_shipped"),
    ]
    text = "quiero cambiarlo por una talla 42"
    for demo, expected in cases:
        slots = dict(verified_slots(demo), return_items="1", exchange_variant="talla 42", exchange_confirmed=True)
        dispatcher = CollectingDispatcher()
        await ActionCreateReturn().run(dispatcher, make_tracker(slots=slots, text=text, events=form_events(text)), domain)
        assert responses(dispatcher) == [expected], demo["order_id"]
        said = await rendered(domain, dispatcher.messages[0], "tu")
        assert "devolver" not in said.replace("plazo de devolución", ""), said  # it was an exchange
        stored = await shop.get_order(demo["order_id"])
        assert not any(r.is_exchange for r in stored.returns)


@pytest.mark.asyncio
async def test_a_second_return_of_the_same_items_says_they_are_in_a_return(shop, domain, orders) -> None:
    order = await returnable(shop, orders)
    base = verified_slots({"order_id": order.order_id, "email": order.customer.email})
    await shop.create_return(order.order_id, [i.id for i in order.items], "ya no lo quiero")
    dispatcher = CollectingDispatcher()
    await ActionCreateReturn().run(dispatcher, make_tracker(slots=dict(base, return_items="1", return_reason="talla", return_confirmed=True)), domain)
    assert responses(dispatcher) == ["utter_return_all_in_returns"]
    usted = await rendered(domain, dispatcher.messages[0], "usted")
    assert "nada que devolver" not in usted and "dígame" in usted


@pytest.mark.asyncio
async def test_the_item_questions_speak_in_the_stores_voice(shop, domain, orders) -> None:
    order = await returnable(shop, orders)
    slots = verified_slots({"order_id": order.order_id, "email": order.customer.email})
    for text, response in (("quiero devolver algo", "utter_ask_return_items"), ("quiero un cambio", "utter_ask_exchange_items")):
        dispatcher = CollectingDispatcher()
        tracker = make_tracker(slots=dict(slots, brand_voice="usted"), text=text, events=form_events(text))
        await ActionAskReturnItems().run(dispatcher, tracker, domain)
        message = dispatcher.messages[-1]
        assert message["response"] == response and message["buttons"]
        usted, tu = await rendered(domain, message, "usted"), await rendered(domain, message, "tu")
        assert "quiere" in usted and "quieres" in tu and order.items[0].name in usted
    eligible = return_eligibility(order, load_policy()).eligible
    assert len(message["buttons"]) == len(eligible) + (1 if len(eligible) > 1 else 0)


@pytest.mark.asyncio
async def test_a_size_left_by_an_unfinished_exchange_is_not_reused(shop, domain, orders) -> None:
    order = await returnable(shop, orders)
    slots = dict(verified_slots({"order_id": order.order_id, "email": order.customer.email}),
                 exchange_variant="talla 45")  # from an exchange a handoff interrupted
    text = "quiero un cambio"
    tracker = make_tracker(slots=slots, intent="return_request", text=text, active_loop="return_form",
                           events=form_events(text)[:-1] + [{"event": "active_loop", "name": "return_form"}])
    dispatcher = CollectingDispatcher()
    filled = slot_events(await ValidateReturnForm().run(dispatcher, tracker, domain))
    assert filled["exchange_variant"] is None and filled["requested_slot"] == "return_items"
    assert dispatcher.messages == []


@pytest.mark.asyncio
async def test_an_inferred_size_is_summarised_and_confirmed_before_the_exchange_is_created(
    shop, domain, orders
) -> None:
    """Tester's report: 'me quedan chicas, ¿las puedo cambiar por una talla más?'
    created the exchange for the size 41 at once. Now the summary is asked
    about; a no creates nothing, another size shows the summary again."""
    order = await next_size_order(shop, orders)
    item = next(i for i in order.items if (current_variant(i.name) or "").startswith("talla "))
    text = "me quedan chicas, ¿las puedo cambiar por una talla más?"
    base = dict(verified_slots({"order_id": order.order_id, "email": order.customer.email}),
                return_items=str(item.id))
    tracker = make_tracker(slots=base, intent="return_request", text=text, active_loop="return_form",
                           events=form_events(text)[:-1] + [{"event": "active_loop", "name": "return_form"}])
    filled = slot_events(await ValidateReturnForm().run(CollectingDispatcher(), tracker, domain))
    wanted = filled["exchange_variant"]
    assert wanted.startswith("talla ") and filled["requested_slot"] == "exchange_confirmed"

    asked = dict(base, exchange_variant=wanted, requested_slot="exchange_confirmed")
    dispatcher = CollectingDispatcher()
    await ActionAskExchangeConfirmed().run(dispatcher, make_tracker(slots=asked), domain)
    assert responses(dispatcher) == ["utter_confirm_exchange"]
    for voice in ("tu", "usted"):
        summary = await rendered(domain, dispatcher.messages[0], voice)
        assert item.name in summary and wanted in summary and order.order_id in summary, summary

    # another size instead of yes: it replaces the inferred one, the summary is asked again
    other = "talla 38" if wanted != "talla 38" else "talla 39"
    step = make_tracker(slots=asked, text=f"mejor la {other[6:]}", active_loop="return_form",
                        new_slots={"exchange_confirmed": f"mejor la {other[6:]}"}, events=form_events(text))
    got = slot_events(await ValidateReturnForm().run(CollectingDispatcher(), step, domain))
    assert got["exchange_variant"] == other and got["exchange_confirmed"] is None
    assert got["requested_slot"] == "exchange_confirmed"

    for answer, intent, confirmed in (("no", "deny", False), ("sí", "affirm", True)):
        step = make_tracker(slots=asked, intent=intent, text=answer, active_loop="return_form",
                            new_slots={"exchange_confirmed": answer}, events=form_events(text))
        got = slot_events(await ValidateReturnForm().run(CollectingDispatcher(), step, domain))
        assert got["exchange_confirmed"] is confirmed, answer

    # a no: nothing is created
    dispatcher = CollectingDispatcher()
    await ActionCreateReturn().run(
        dispatcher, make_tracker(slots=dict(asked, exchange_confirmed=False), text="no", events=form_events(text)),
        domain)
    assert responses(dispatcher) == ["utter_exchange_kept"]
    assert (await shop.get_order(order.order_id)).returns == order.returns


async def next_size_order(shop: Any, orders: Any) -> Order:
    """A returnable order with an item whose name carries a numeric size."""
    for demo in orders.all(status="delivered", final_sale="none", max_delivered_days=20, has_returns=False):
        order = await shop.get_order(demo["order_id"])
        if order and any(resolve_variant("una talla más", [i.name]) for i in order.items):
            return order
    raise AssertionError("no demo order with a sized item")


@pytest.mark.asyncio
async def test_order_status_after_an_exchange_says_when_the_new_size_comes(shop, domain, orders) -> None:
    """Walkthrough: «¿y cuándo llega la nueva?» right after an exchange got the
    old delivery («Tu pedido se entregó el…»): nothing about the new size."""
    from actions.orders import ActionOrderStatus

    order = await returnable(shop, orders)
    item = order.items[0]
    wanted = other_size(item)
    base = verified_slots({"order_id": order.order_id, "email": order.customer.email})
    created = CollectingDispatcher()
    await ActionCreateReturn().run(created, make_tracker(
        slots=dict(base, return_items=str(item.id), exchange_variant=wanted, exchange_confirmed=True),
        events=form_events(f"quiero cambiarlo por la {wanted}")), domain)
    number = created.messages[0]["return_number"]
    dispatcher = CollectingDispatcher()
    await ActionOrderStatus().run(dispatcher, make_tracker(slots=base, text="¿y cuándo llega la nueva?"), domain)
    assert responses(dispatcher) == ["utter_order_status_delivered", "utter_exchange_status_requested"]
    policy = load_policy().raw
    for voice in ("tu", "usted"):
        text = await rendered(domain, dispatcher.messages[1], voice)
        assert number in text and f"la {wanted}" in text, text
        assert created.messages[0]["return_deadline"] in text and "{" not in text, text
        days = "international_" if order.shipping_address.country != "España" else ""
        if not days and order.shipping_address.postal_code[:2] in ("07", "35", "38", "51", "52"):
            days = "islands_"
        assert f"de {policy[days + 'delivery_days_min']} a {policy[days + 'delivery_days_max']} días" in text, text
    assert "llegarle" in await rendered(domain, dispatcher.messages[1], "usted")


def test_an_exchange_right_after_a_return_is_of_the_returned_item_unless_another_kind_is_named() -> None:
    """The walkthrough's «cambiar una camiseta…» right after the boots' return was summarised as the boots."""
    boots = ["Botas de montaña impermeables (talla 38)"]
    assert names_another_kind(["ahora quiero cambiar una camiseta por otra talla, quiero la S"], boots)
    assert not names_another_kind(["¿podría cambiarlas por una talla 41?"], boots)
    assert not names_another_kind(["quiero cambiar las botas por la 39"], boots)
