"""Address change: before shipping only, validated, confirmed, stored."""
from __future__ import annotations

import pytest
from rasa_sdk.executor import CollectingDispatcher

from actions.address import (
    ActionChangeAddress,
    ValidateAddressForm,
    normalize_city,
    normalize_postal_code,
    normalize_street,
)
from actions.errors import InvalidCity, InvalidPostalCode, InvalidStreet
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


@pytest.mark.asyncio
async def test_postal_code_is_checked_inside_the_form(shop, domain, orders) -> None:
    order = orders.find(status="processing")
    dispatcher = CollectingDispatcher()
    tracker = make_tracker(slots=dict(verified_slots(order), new_street="Calle Mayor 12"),
                           new_slots={"new_postal_code": "99999"}, active_loop="address_form", text="99999")
    events = await ValidateAddressForm().run(dispatcher, tracker, domain)
    assert responses(dispatcher) == ["utter_invalid_postal_code"]
    assert slot_events(events)["new_postal_code"] is None


@pytest.mark.asyncio
async def test_confirmed_new_address_is_stored(shop, domain, orders) -> None:
    order = orders.find(status="processing")
    slots = dict(verified_slots(order), new_street="Calle de Alcalá 100, 2º A", new_postal_code="28009",
                 new_city="Madrid", address_confirmed=True)
    dispatcher = CollectingDispatcher()
    await ActionChangeAddress().run(dispatcher, make_tracker(slots=slots), domain)
    assert responses(dispatcher) == ["utter_address_changed"]
    stored = await shop.get_order(order["order_id"])
    assert stored.shipping_address.street == "Calle de Alcalá 100, 2º A"
    assert stored.shipping_address.postal_code == "28009"
    assert stored.shipping_address.city == "Madrid"


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
