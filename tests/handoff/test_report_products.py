"""The reports' ``top_products`` per product, not per order (docs/reports.md,
"Products"): handoffs naming verified demo orders with two products each,
built through the real bridge and read over HTTP, on SQLite and PostgreSQL.

The demo store (data/store/demo_store.json) has:
- 442780: Falda plisada (talla XL), returned; Auriculares inalámbricos
  Bluetooth (azul marino), not returned;
- 451461: Zapatillas urbanas de piel (talla 42), not returned; Sudadera con
  capucha (talla XS), returned.

The conversations (Monday 24 November 2025, Madrid support hours):
- P1: customer_request, order 442780;
- P2: damaged_or_wrong_item, order 451461, "me han llegado las zapatillas
  rotas" (names the shoes only);
- P3: complaint, order 442780, no product named (counts for both);
- P4: damaged_or_wrong_item, order 451461, "Llegó la caja rota" (names no
  product of the order: counts for both).
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any, AsyncIterator, Dict, List, Optional

import aiohttp
import pytest
import pytest_asyncio

from core.policy import load_policy
from core.store import create_store
from handoff import reports
from handoff.agents import add_agent
from handoff.bridge import Bridge
from handoff.server import BridgeServer
from handoff.settings import HandoffSettings
from tests.handoff.conftest import BRIDGE_SECRET, FakeRasa

UTC = dt.timezone.utc
NOW = dt.datetime(2025, 11, 24, 11, 0, tzinfo=UTC)
SKIRT = "Falda plisada (talla XL)"
HEADPHONES = "Auriculares inalámbricos Bluetooth (azul marino)"
SHOES = "Zapatillas urbanas de piel (talla 42)"
HOODIE = "Sudadera con capucha (talla XS)"


async def _customer_of(url: str, order_id: str) -> Dict[str, Any]:
    store = create_store(url)
    try:
        order = await store.get_order(order_id)
    finally:
        getattr(store, "dispose", lambda: None)()
    assert order is not None
    return {"id": order.customer.id, "name": order.customer.name, "email": order.customer.email,
            "verified_order_id": order_id}


async def _hand_over(bridge: Bridge, rasa: FakeRasa, customer: Dict[str, Any], reason: str,
                     description: Optional[str] = None) -> str:
    rasa.case_payload = {
        "reason": reason, "last_intent": reason, "intents": [], "entities": {"order_id": customer["verified_order_id"]},
        "details": {"description": description, "problem": "broken", "verified": True,
                    "order_id": customer["verified_order_id"]} if description else {},
        "customer": customer}
    conversation, _ = await bridge.open_session(None, "web")
    await bridge.customer_message(conversation.id, None, "caso", None, None)
    assert (await bridge.storage.get_conversation(conversation.id)).reason == reason
    return conversation.id


@dataclasses.dataclass
class Shop:
    server: BridgeServer
    supervisor: str


@pytest_asyncio.fixture
async def shop(fake_rasa: FakeRasa, any_db_url: str) -> AsyncIterator[Shop]:
    policy = dataclasses.replace(load_policy(), timezone="Europe/Madrid")
    settings = HandoffSettings(host="127.0.0.1", port=0, rasa_url=fake_rasa.url, rasa_bridge_secret=BRIDGE_SECRET,
                               rasa_timeout_s=1.0, agent_grace_s=60.0, database_url=any_db_url,
                               queue_abandon_after_s=0)
    bridge = Bridge(settings, policy=policy, clock=lambda: NOW)
    server = BridgeServer(settings, bridge)
    await server.start()
    try:
        _, supervisor = await add_agent(bridge.storage, "Sonia", role="supervisor")
        skirt_order = await _customer_of(any_db_url, "442780")
        shoes_order = await _customer_of(any_db_url, "451461")
        await _hand_over(bridge, fake_rasa, skirt_order, "customer_request")
        await _hand_over(bridge, fake_rasa, shoes_order, "damaged_or_wrong_item", "me han llegado las zapatillas rotas")
        await _hand_over(bridge, fake_rasa, skirt_order, "complaint")
        await _hand_over(bridge, fake_rasa, shoes_order, "damaged_or_wrong_item", "Llegó la caja rota")
        yield Shop(server, supervisor)
    finally:
        await server.stop()


async def _top_products(shop: Shop) -> List[Dict[str, Any]]:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{shop.server.port}/api/reports/summary"
                               "?from=2025-11-24&to=2025-11-24",
                               headers={"Authorization": f"Bearer {shop.supervisor}"}) as response:
            assert response.status == 200, await response.text()
            return (await response.json())["top_products"]


@pytest.mark.asyncio
async def test_returns_and_complaints_count_for_the_product_not_the_whole_order(shop: Shop) -> None:
    products = await _top_products(shop)
    assert products == [
        {"product": HEADPHONES, "contacts": 2, "returns": 0, "complaints": 1},
        {"product": SKIRT, "contacts": 2, "returns": 2, "complaints": 1},
        {"product": HOODIE, "contacts": 2, "returns": 2, "complaints": 1},
        {"product": SHOES, "contacts": 2, "returns": 0, "complaints": 2},
    ]


@pytest.mark.parametrize("description, names, named", [
    ("me han llegado las zapatillas rotas", [SHOES, HOODIE], {SHOES}),
    ("Me llegó roto el ALTAVOZ", ["Altavoz Bluetooth portátil resistente al agua (gris)", SHOES],
     {"Altavoz Bluetooth portátil resistente al agua (gris)"}),
    ("los dos altavoces vinieron sin cable", ["Altavoz Bluetooth portátil resistente al agua (gris)", SHOES],
     {"Altavoz Bluetooth portátil resistente al agua (gris)"}),
    ("los auriculares de diadema no encienden", [HEADPHONES, "Auriculares de diadema con cancelación de ruido (negro)"],
     {"Auriculares de diadema con cancelación de ruido (negro)"}),
    ("los auriculares no encienden", [HEADPHONES, "Auriculares de diadema con cancelación de ruido (negro)", SKIRT],
     {HEADPHONES, "Auriculares de diadema con cancelación de ruido (negro)"}),
    ("la falda y la sudadera vinieron manchadas", [SKIRT, HOODIE, SHOES], {SKIRT, HOODIE}),
    ("Llegó la caja rota", [SHOES, HOODIE], set()),
    ("", [SHOES, HOODIE], set()),
])
def test_the_products_a_description_names(description: str, names: List[str], named: set) -> None:
    assert reports.named_products(description, names) == named
