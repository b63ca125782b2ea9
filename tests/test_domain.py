"""The domain's answers: brand voice kept in every variation, every response
an action names exists, and every response is used somewhere."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Dict, List

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DOMAIN = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
RESPONSES: Dict[str, List[Dict[str, Any]]] = DOMAIN["responses"]

# Words that only appear when addressing the shopper as "tú" / as "usted".
TU_WORDS = re.compile(
    r"\b(tu|tus|te|ti|tienes|puedes|quieres|necesitas|prefieres|dime|dímelo|escríbeme|escríbelo|"
    r"recibas|hiciste|cuéntame|déjalo|vuelves|inténtalo|confirmas|verás|tendrás|encuentras|"
    r"devuelves|tengas|compruebas|has pedido|lo has)\b",
    re.IGNORECASE,
)
# "te"/"tu" may appear inside quoted examples of what the shopper can type.
QUOTED = re.compile(r"«[^»]*»")


def _is_usted(variation: Dict[str, Any]) -> bool:
    return any(c.get("name") == "brand_voice" and c.get("value") == "usted" for c in variation.get("condition") or [])


def _text(variation: Dict[str, Any]) -> str:
    return QUOTED.sub("", variation.get("text", ""))


@pytest.mark.parametrize("name", sorted(RESPONSES))
def test_usted_variations_never_use_tu(name: str) -> None:
    for variation in RESPONSES[name]:
        if _is_usted(variation):
            found = TU_WORDS.findall(_text(variation))
            assert not found, (name, found)


@pytest.mark.parametrize("name", sorted(RESPONSES))
def test_a_response_that_addresses_the_shopper_has_both_voices(name: str) -> None:
    default = [v for v in RESPONSES[name] if not _is_usted(v)]
    usted = [v for v in RESPONSES[name] if _is_usted(v)]
    assert default, f"{name} has no default (tú) variation"
    if any(TU_WORDS.search(_text(v)) for v in default):
        assert usted, f"{name} speaks to the shopper as tú but has no usted variation"
        for v in usted:
            assert _text(v) != _text(default[0])


def test_responses_named_in_actions_exist_and_all_responses_are_used() -> None:
    code = "\n".join(p.read_text(encoding="utf-8") for folder in ("actions", "core") for p in (ROOT / folder).rglob("*.py"))
    named = set(re.findall(r"\"(utter_[a-z_]+)\"", code)) - {"utter_action"}  # Rasa's bot-event metadata key
    named |= {f"utter_order_status_{s}" for s in
              ("pending_payment", "processing", "shipped", "out_for_delivery", "delivered", "cancelled", "returned")}
    missing = sorted(n for n in named if n not in RESPONSES and not n.startswith("utter_order_status_"))
    assert not missing, f"actions name responses the domain lacks: {missing}"
    data = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "data").rglob("*.yml"))
    asked = {f"utter_ask_{slot}" for slot in DOMAIN["slots"]}
    unused = sorted(
        n for n in RESPONSES
        if n not in named and n not in data and n not in asked and not n.startswith("utter_faq/")
        and n not in ("utter_handoff_resumed", "utter_queue_left", "utter_bad_input", "utter_message_too_long")
    )
    assert not unused, f"responses nobody uses: {unused}"
