"""An angry shopper in the widget, on the real stack: the bot says sorry and
a person is called; the agent's case card names the reason and shows the
frustration in words (no raw keys). Chromium, desktop and a 390 px phone."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.test_widget_and_console import RASA_TIMEOUT_MS, UI_TIMEOUT_MS, shots_dir
from tests.browser.test_widget_outbox import PHONE_CONTEXT

pytestmark = pytest.mark.slow


def test_an_angry_shopper_gets_sorry_and_a_person_who_sees_why(
    stack: Any, make_agent: Any, browser: Any, tmp_path: Path
) -> None:
    expect.set_options(timeout=UI_TIMEOUT_MS)
    shots = shots_dir(tmp_path)
    _, token = make_agent("Irene")
    shop_context = browser.new_context(**PHONE_CONTEXT)
    agent_context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="es-ES")
    try:
        shop = shop_context.new_page()
        shop.goto(stack.handoff_url + "/")
        shop.get_by_role("button", name="Abrir el chat de ayuda").click()
        box = shop.get_by_role("textbox", name="Escribe tu mensaje")
        box.fill("ES LA TERCERA VEZ QUE ESCRIBO Y NADIE ME RESPONDE!!! 😡")
        box.press("Enter")
        log = shop.locator("#ta-log")
        expect(log).to_contain_text("Siento mucho todo esto", timeout=RASA_TIMEOUT_MS)
        expect(shop.locator(".status")).to_contain_text(re.compile(r"posición \d+"))
        shop.screenshot(path=str(shots / "frustration-1-phone-widget.png"))

        console = agent_context.new_page()
        console.goto(stack.handoff_url + "/agent")
        console.get_by_label("Token de agente").fill(token)
        console.get_by_role("button", name="Entrar").click()
        entry = console.locator(".q-item").filter(has_text="NADIE ME RESPONDE")
        expect(entry).to_contain_text("Cliente muy molesto")
        entry.get_by_role("button", name=re.compile("^Atender")).click()
        card = console.locator("#card-body")
        expect(card).to_contain_text("Cliente muy molesto")
        expect(card.locator(".frustration")).to_contain_text(re.compile(r"Frustración alta \(último mensaje \d,\d\d"))
        expect(card.locator(".frustration")).to_contain_text("mayúsculas")
        expect(card.locator(".frustration")).to_contain_text("«nadie me responde»")
        expect(card).not_to_contain_text("lexicon:")
        console.screenshot(path=str(shots / "frustration-2-console-card.png"))
    finally:
        shop_context.close()
        agent_context.close()
