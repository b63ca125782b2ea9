"""Returns of part of a line (issue 9 walkthrough, Telegram, verified: «quiero
devolver la camiseta del pedido 564595, me queda grande» returned and refunded
all 3 units of the line). The form asks «¿Cuántas unidades quieres devolver?
Tienes 3.» unless the words say it; the summary, the record and the amount
are for the units chosen; what is left can be returned later."""
from __future__ import annotations

from typing import Any, Dict

import pytest
from rasa_sdk.executor import CollectingDispatcher

from actions.returns import (
    ActionAskReturnConfirmed,
    ActionAskReturnQuantity,
    ActionCreateReturn,
    ValidateReturnForm,
)
from core.formatting import money_es
from core.policy import load_policy
from core.returns import return_eligibility
from tests.actions.conftest import make_tracker, responses, said, slot_events, verified_slots
from tests.actions.test_exchanges import form_events, rendered

ORDER = "564595"  # the walkthrough's: 1 vaqueros (final sale), 3 camisetas, 1 funda


def _walkthrough(demo_data) -> Dict[str, Any]:
    return next(o for o in demo_data["orders"] if o["order_id"] == ORDER)


async def _line(shop):
    order = await shop.get_order(ORDER)
    return order, next(i for i in order.items if i.name.startswith("Camiseta"))


async def _verify_with(shop, domain, text: str, demo: Dict[str, Any]) -> Dict[str, Any]:
    """The verification turn of a request that named the item (email sent next)."""
    tracker = make_tracker(slots={"order_id": ORDER}, new_slots={"email": demo["email"]}, text=demo["email"],
                           events=form_events(text, demo["email"])[:-1], active_loop="return_form")
    dispatcher = CollectingDispatcher()
    filled = slot_events(await ValidateReturnForm().run(dispatcher, tracker, domain))
    assert filled["verified_order_id"] == ORDER
    return filled


@pytest.mark.asyncio
async def test_la_camiseta_of_three_asks_how_many(shop, domain, demo_data) -> None:
    demo = _walkthrough(demo_data)
    order, line = await _line(shop)
    assert line.quantity == 3
    text = f"quiero devolver la camiseta del pedido {ORDER}, me queda grande"
    filled = await _verify_with(shop, domain, text, demo)
    assert filled["return_items"] == str(line.id) and filled["return_reason"] == "talla"
    assert filled.get("return_quantity") is None and filled["requested_slot"] == "return_quantity"

    asked = dict(verified_slots(demo), return_items=str(line.id), return_reason="talla",
                 requested_slot="return_quantity")
    dispatcher = CollectingDispatcher()
    await ActionAskReturnQuantity().run(dispatcher, make_tracker(slots=asked, events=form_events(text)), domain)
    assert responses(dispatcher) == ["utter_ask_return_quantity"]
    assert [b["title"] for b in dispatcher.messages[0]["buttons"]] == ["1", "2", "Todas"]
    for voice, words in (("tu", "¿Cuántas unidades quieres devolver? Tienes 3"),
                         ("usted", "¿Cuántas unidades quiere devolver? Tiene 3")):
        said = await rendered(domain, dispatcher.messages[0], voice)
        assert words in said and line.name in said, said

    # "1" (typed or the button): one unit, and only the yes is left
    for answer in ("1", '/inform{"return_quantity":"1"}', "una"):
        step = make_tracker(slots=asked, text=answer, active_loop="return_form", events=form_events(text))
        got = slot_events(await ValidateReturnForm().run(CollectingDispatcher(), step, domain))
        assert got["return_quantity"] == f"{line.id}:1", answer
        assert got["requested_slot"] == "return_confirmed", answer
    # a number she does not have is asked again, with why
    wrong = CollectingDispatcher()
    step = make_tracker(slots=asked, text="5", active_loop="return_form", events=form_events(text))
    got = slot_events(await ValidateReturnForm().run(wrong, step, domain))
    assert got["return_quantity"] is None and responses(wrong) == ["utter_invalid_return_quantity"]


@pytest.mark.asyncio
@pytest.mark.parametrize("words, units", [
    ("quiero devolver 2 camisetas del pedido 564595", 2),
    ("quiero devolver las tres camisetas del pedido 564595", 3),
    ("quiero devolver una de las camisetas del pedido 564595", 1),
    ("quiero devolver todas las camisetas del pedido 564595", 3),
])
async def test_units_said_in_the_request_are_not_asked(shop, domain, demo_data, words: str, units: int) -> None:
    demo = _walkthrough(demo_data)
    order, line = await _line(shop)
    filled = await _verify_with(shop, domain, words, demo)
    assert filled["return_items"] == str(line.id)
    assert filled["return_quantity"] == f"{line.id}:{units}"
    assert filled["requested_slot"] == "return_reason"


@pytest.mark.asyncio
async def test_one_of_three_is_summarised_created_and_refunded_as_one(shop, domain, demo_data) -> None:
    demo = _walkthrough(demo_data)
    order, line = await _line(shop)
    slots = dict(verified_slots(demo), return_items=str(line.id), return_quantity=f"{line.id}:1",
                 return_reason="talla", requested_slot="return_confirmed")
    one_unit = money_es(line.unit_price, load_policy().currency)
    summary = CollectingDispatcher()
    await ActionAskReturnConfirmed().run(summary, make_tracker(slots=slots), domain)
    assert summary.messages[0]["amount"] == one_unit
    text = await rendered(domain, summary.messages[0], "tu")
    assert f"1 de 3 × {line.name}" in text and one_unit in text, text

    created = CollectingDispatcher()
    await ActionCreateReturn().run(created, make_tracker(slots=dict(slots, return_confirmed=True)), domain)
    assert responses(created)[0] == "utter_return_created"
    message = created.messages[0]
    assert message["amount"] == one_unit and f"1 de 3 × {line.name}" in message["items"]
    assert money_es(line.unit_price * 3, load_policy().currency) not in str(message)
    stored = await shop.get_order(ORDER)
    ret = next(r for r in stored.returns if r.return_number == message["return_number"])
    assert ret.units_of(line) == 1
    assert return_eligibility(stored, load_policy()).units(line) == 2

    # the other two, in a second return: «¿Cuántas…? Tienes 2.», «todas»
    again = dict(verified_slots(demo), return_items=str(line.id), return_reason="talla",
                 requested_slot="return_quantity")
    step = make_tracker(slots=again, text="todas", active_loop="return_form", events=form_events("devolver la camiseta"))
    got = slot_events(await ValidateReturnForm().run(CollectingDispatcher(), step, domain))
    assert got["return_quantity"] == f"{line.id}:2"
    second = CollectingDispatcher()
    await ActionCreateReturn().run(second, make_tracker(
        slots=dict(again, return_quantity=got["return_quantity"], return_confirmed=True)), domain)
    assert responses(second)[0] == "utter_return_created"
    assert second.messages[0]["amount"] == money_es(line.unit_price * 2, load_policy().currency)
    stored = await shop.get_order(ORDER)
    assert sum(r.units_of(line) for r in stored.returns) == 3
    assert line.id not in {i.id for i in return_eligibility(stored, load_policy()).eligible}

    # a third: the camiseta has nothing left, and that is said with its returns
    text = f"quiero devolver la camiseta del pedido {ORDER}"
    tracker = make_tracker(slots={"order_id": ORDER}, new_slots={"email": demo["email"]}, text=demo["email"],
                           events=form_events(text, demo["email"])[:-1], active_loop="return_form")
    told = CollectingDispatcher()
    filled = slot_events(await ValidateReturnForm().run(told, tracker, domain))
    assert "return_items" not in filled or filled["return_items"] is None
    assert responses(told) == ["utter_return_item_all_in_returns"]
    told_text = await rendered(domain, said(told)[0], "tu")  # not the silent "verified" message
    assert "ninguna unidad" in told_text and "1 de 3 × " + line.name in told_text and "2 de 3 × " + line.name in told_text, told_text


@pytest.mark.asyncio
async def test_an_exchange_of_one_of_three(shop, domain, demo_data) -> None:
    """Exchanges are returns of kind exchange: the same units question and record."""
    demo = _walkthrough(demo_data)
    order, line = await _line(shop)
    text = "quiero cambiar una de las camisetas por una talla L"
    slots = dict(verified_slots(demo), return_items=str(line.id), return_quantity=f"{line.id}:1",
                 exchange_variant="talla L", exchange_confirmed=True)
    dispatcher = CollectingDispatcher()
    await ActionCreateReturn().run(dispatcher, make_tracker(slots=slots, text=text, events=form_events(text)), domain)
    assert responses(dispatcher)[0] == "utter_exchange_created"
    assert f"1 de 3 × {line.name}" in dispatcher.messages[0]["items"]
    stored = await shop.get_order(ORDER)
    (exchange,) = stored.returns
    assert exchange.is_exchange and exchange.units_of(line) == 1


@pytest.mark.asyncio
async def test_the_case_card_and_the_refund_status_say_one_of_three(shop, domain, demo_data) -> None:
    import datetime as dt

    from sqlalchemy import select

    from actions.refunds import ActionRefundStatus
    from core.store.models import RefundRow, ReturnRow
    from handoff.casecard import order_summary

    demo = _walkthrough(demo_data)
    order, line = await _line(shop)
    ret = await shop.create_return(ORDER, [line.id], "talla", quantities={line.id: 1})
    card = order_summary(await shop.get_order(ORDER), load_policy())
    (entry,) = card["returns"]
    assert entry["items"] == f"1 de 3 × {line.name}"
    assert card["return_eligibility"]["returnable_units"][str(line.id)] == 2

    def refund(s) -> None:
        row = s.execute(select(ReturnRow).where(ReturnRow.return_number == ret.return_number)).scalar_one()
        s.add(RefundRow(order_id=ORDER, return_id=row.id, amount=line.unit_price, status="pending",
                        expected_at=dt.date.today() + dt.timedelta(days=5)))

    shop.run_in_transaction(refund)
    dispatcher = CollectingDispatcher()
    await ActionRefundStatus().run(dispatcher, make_tracker(slots=verified_slots(demo)), domain)
    refunds = next(m for m in dispatcher.messages if m["response"] == "utter_refund_status")["refunds"]
    assert f"{ret.return_number}: 1 de 3 × {line.name}" in refunds, refunds
    assert money_es(line.unit_price, load_policy().currency) in refunds
