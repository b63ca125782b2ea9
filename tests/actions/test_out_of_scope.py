"""The honest "no lo sé" is worded for the kind of question
(actions/off_topic.py, action_out_of_scope): a tester got "…si es sobre un
producto, una persona te lo mira" after "¿tenéis tienda física en Madrid?"."""
from __future__ import annotations

from typing import Dict, List, Optional

import pytest
from rasa_sdk.executor import CollectingDispatcher

from actions.faq import ActionOutOfScope
from actions.off_topic import BUSINESS, GENERAL, LAUGHTER, OTHER_COMPANY, PHYSICAL_STORE, PRODUCT, off_topic_kind
from core.policy import load_policy
from tests.actions.conftest import make_tracker, responses


@pytest.mark.parametrize("text, companies, kind", [
    ("teneis tienda fisica en madrid", (), PHYSICAL_STORE),
    ("¿hay algún punto de venta en Sevilla?", (), PHYSICAL_STORE),
    ("¿puedo ir a probarme la ropa a algún sitio?", (), PHYSICAL_STORE),
    ("donde queda su oficina", (), PHYSICAL_STORE),        # walkthrough: «quedan» read as stock
    ("puedo recoger en tienda?", (), PHYSICAL_STORE),
    ("jajaja", (), LAUGHTER),                             # walkthrough: got «Eso no lo sé»
    ("xD 😂", (), LAUGHTER),
    ("jamás me había pasado, ¿qué tiempo hace?", (), GENERAL),
    ("¿puedo pasar a buscarlo yo?", (), PHYSICAL_STORE),
    ("¿cómo contacto con Movistar?", ("Movistar",), OTHER_COMPANY),
    ("¿están buscando personal? les mando mi currículum", (), BUSINESS),
    ("quiero ser distribuidor en México", (), BUSINESS),
    ("¿están buscando personal?", (), BUSINESS),  # the e2e test caught this one
    ("busco trabajo, ¿tienen algo?", (), BUSINESS),
    ("¿qué talla me pido si calzo un 38?", (), PRODUCT),
    ("¿cuándo reponen el jersey azul?", (), PRODUCT),
    ("¿el altavoz es compatible con Alexa?", (), PRODUCT),
    ("cuéntame un chiste", (), GENERAL),
    ("¿qué tiempo hace mañana?", (), GENERAL),
])
def test_the_kind_of_question(text: str, companies, kind: str) -> None:
    assert off_topic_kind(text, companies) == kind


async def _answer(domain, text: str, mentions: Optional[Dict[str, List[str]]] = None) -> CollectingDispatcher:
    dispatcher = CollectingDispatcher()
    tracker = make_tracker(intent="out_of_scope", text=text)
    if mentions:
        tracker.latest_message["mentions"] = mentions
    assert await ActionOutOfScope().run(dispatcher, tracker, domain) == []
    return dispatcher


@pytest.mark.asyncio
@pytest.mark.parametrize("text, expected", [
    ("tienen tienda fisica?", "utter_out_of_scope_online_only"),
    ("¿de qué material es la manta?", "utter_out_of_scope_product"),
    ("¿están contratando?", "utter_out_of_scope_business"),
    ("cuéntame un chiste", "utter_out_of_scope"),
])
async def test_each_kind_gets_its_answer(domain, text: str, expected: str) -> None:
    assert responses(await _answer(domain, text)) == [expected]


@pytest.mark.asyncio
async def test_another_company_is_named_in_the_answer(domain) -> None:
    dispatcher = await _answer(domain, "mi pedido de shein no llega", {"other_company": ["Shein"]})
    assert responses(dispatcher) == ["utter_out_of_scope_other_company"]
    assert dispatcher.messages[0]["company"] == "Shein"


@pytest.mark.asyncio
async def test_a_store_with_shops_sends_the_shop_question_to_a_person(domain, monkeypatch) -> None:
    monkeypatch.setattr("actions.faq.load_policy", lambda: load_policy().__class__(
        **{**load_policy().__dict__, "online_only": False}))
    assert responses(await _answer(domain, "¿tenéis tienda física?")) == ["utter_out_of_scope_product"]


def test_only_the_answers_where_a_person_can_help_offer_one(domain) -> None:
    """A person for products; not for the weather, another company, business
    mail or a fact the bot knows (the shop is online only)."""
    def buttons(name: str) -> List[str]:
        return [b["payload"] for v in domain["responses"][name] for b in v.get("buttons", [])]
    assert "/request_human" in buttons("utter_out_of_scope_product")
    for name in ("utter_out_of_scope", "utter_out_of_scope_online_only", "utter_out_of_scope_other_company",
                 "utter_out_of_scope_business"):
        assert buttons(name) == [], name
