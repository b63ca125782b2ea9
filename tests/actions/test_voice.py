"""The store's voice (tú or usted) in everything the order actions say: the
domain's responses, the texts built in code (formatting.py), and what the
actions send when the policy chooses usted (STORE_BRAND_VOICE) or tú."""
from __future__ import annotations

import datetime as dt
import re
from typing import Dict, List

import pytest
import yaml
from rasa_sdk.executor import CollectingDispatcher

from actions.cancellation import ActionCancelOrder
from actions.invoices import ActionInvoice
from actions.orders import ActionOrderNotReceived, ActionOrderStatus, ValidateOrderStatusForm
from actions.refunds import ActionRefundStatus
from actions.verification import ActionAskOrderId
from actions.yes_no import ActionYesNoOutOfContext
from tests.actions.conftest import ROOT, make_tracker, verified_slots

# Forms that only one voice uses (3rd-person look-alikes such as "puede",
# "tiene" or "escribe" are left out: "una persona puede", "se lo escribe").
TU_FORMS = re.compile(
    r"\b(te|tu|tus|ti|contigo|quieres|puedes|tienes|prefieres|necesitas|dime|dímelo|escríbeme|cuéntame|"
    r"perdona|disculpa|inténtalo|escríbelo|revísalo|recibas|hiciste|confirmas|verás|pulsa|escribe)\b", re.I)
USTED_FORMS = re.compile(
    r"\b(usted|dígame|dígamelo|indíqueme|escríbame|cuénteme|disculpe|inténtelo|escríbalo|prefiere|necesita|"
    r"reciba|hizo|verá|revise|pulse|escriba|ayudarle|pasarle|decirle|le paso|le ayudo|le queda|le quedan)\b", re.I)
# Usted texts may keep these impersonal/3rd-person uses of tú-looking words.
USTED_ALLOWED = ("escribe de nuevo", "lo escribe igual")


DECEMBER_1 = dt.datetime(2026, 12, 1, 9, 30, tzinfo=dt.timezone.utc)


@pytest.fixture
def seeded_at() -> dt.datetime:
    """The store is seeded on the day the actions' clock is set to."""
    return DECEMBER_1


def _voiced(text: str, voice: str) -> List[str]:
    if voice == "usted":
        for allowed in USTED_ALLOWED:
            text = text.replace(allowed, "")
        return TU_FORMS.findall(text)
    return USTED_FORMS.findall(text)


def test_every_response_has_its_voice() -> None:
    """A response whose default (tú) text addresses the shopper has an usted
    variant, and neither variant slips into the other voice."""
    responses = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))["responses"]
    wrong: Dict[str, List[str]] = {}
    for name, variants in responses.items():
        tu = [v for v in variants if not v.get("condition")]
        usted = [v for v in variants if v.get("condition")] or tu
        for voice, chosen in (("tu", tu), ("usted", usted)):
            for variant in chosen:
                text = variant.get("text", "") + " " + " ".join(b["title"] for b in variant.get("buttons") or [])
                found = _voiced(text, voice)
                if found:
                    wrong[f"{name} ({voice})"] = found
    assert wrong == {}


async def _everything_said(domain, orders, demo_data) -> CollectingDispatcher:
    """Run the order actions over orders in every situation, collecting all
    they say into one dispatcher."""
    said = CollectingDispatcher()

    async def run(action, **tracker_args) -> None:
        dispatcher = CollectingDispatcher()
        await action.run(dispatcher, make_tracker(**tracker_args), domain)
        said.messages.extend(dispatcher.messages)

    for status in ("pending_payment", "processing", "shipped", "out_for_delivery", "delivered", "cancelled", "returned"):
        for order in orders.all(status=status)[:2]:
            for action in (ActionOrderStatus(), ActionOrderNotReceived(), ActionCancelOrder(),
                           ActionRefundStatus(), ActionInvoice()):
                await run(action, slots=dict(verified_slots(order), cancel_confirmed=False))
    late = next(o for o in orders.all(status="shipped") if o["expected_delivery_in_days"] == -11)
    await run(ActionOrderStatus(), slots=verified_slots(late))
    order = orders.find(status="processing")
    wrong = next(c["email"] for c in demo_data["customers"] if c["email"] != order["email"])
    for attempts in (0.0, 1.0):
        await run(ValidateOrderStatusForm(), active_loop="order_status_form", text=wrong,
                  slots={"order_id": order["order_id"], "verification_attempts": attempts}, new_slots={"email": wrong})
    await run(ValidateOrderStatusForm(), active_loop="order_status_form", text="hola",
              slots={"verification_pending": {"order_id": order["order_id"], "email": wrong}},
              new_slots={"order_id": "hola"})
    await run(ValidateOrderStatusForm(), active_loop="order_status_form", text="28013", new_slots={"order_id": "28013"})
    await run(ValidateOrderStatusForm(), active_loop="order_status_form", text="ana arroba", new_slots={"email": "ana arroba"})
    await run(ActionAskOrderId(), slots={"verification_pending": {"order_id": "1", "email": "a@b.co"}})
    await run(ActionOrderStatus(), slots={"verification_attempts": 3.0})
    await run(ActionOrderStatus(), slots={"form_stopped": True})
    for intent in ("affirm", "deny"):
        await run(ActionYesNoOutOfContext(), intent=intent)
    return said


@pytest.mark.asyncio
@pytest.mark.parametrize("voice", ["tu", "usted"])
async def test_what_the_order_actions_say_follows_the_store_voice(
    shop, domain, orders, demo_data, renderer, monkeypatch, voice: str
) -> None:
    monkeypatch.setattr("core.policy.utc_now", lambda: DECEMBER_1)
    said = await _everything_said(domain, orders, demo_data)
    texts = await renderer.texts(said, voice)
    assert len(texts) > 40
    wrong = {text: _voiced(text, voice) for text in texts if _voiced(text, voice)}
    assert wrong == {}
