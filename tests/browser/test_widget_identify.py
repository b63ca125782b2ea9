"""``TiendaChat.identify`` in Chromium, on the demo page's "logged-in" mode,
against an in-process bridge with the stand-in Rasa (fast: no real Rasa):
the page gets a signature from ``/demo/identity``, the widget sends it in
its ``start`` frame and the bridge verifies the conversation (the Rasa slots
are set); another shopper signing in gets a new conversation, and signing
out starts one without identity."""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Iterator, List

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_widget_offline import ThreadedBridge, open_widget, send, start_bridge
from tests.handoff.conftest import VERIFIED_EMAIL

pytestmark = pytest.mark.slow
SECRET = "browser-shop-secret"


@pytest.fixture
def demo_bridge(tmp_path: Path) -> Iterator[ThreadedBridge]:
    bridge = start_bridge(tmp_path, dt.datetime.now(dt.timezone.utc), shop_webhook_secret=SECRET, demo_identity=True)
    try:
        yield bridge
    finally:
        bridge.stop()


def verified_emails(bridge: ThreadedBridge) -> List[str]:
    assert bridge.rasa is not None
    return [c["body"]["slots"]["verified_email"] for c in bridge.rasa.api_calls if c["path"].endswith("/slots")]


def session_id(page: Page) -> str:
    return str(page.evaluate("JSON.parse(localStorage.getItem('tiendaAurora.chat.session'))"))


def test_the_demo_login_identifies_the_shopper_to_the_bridge(demo_bridge: ThreadedBridge, browser: Any) -> None:
    expect.set_options(timeout=10_000)
    context = browser.new_context(viewport={"width": 1280, "height": 820}, locale="es-ES")
    errors: List[str] = []
    try:
        page = open_widget(demo_bridge.base_url, context, errors)  # type: ignore[attr-defined]
        send(page, "hola")
        expect(page.locator(".msg.bot").last).to_contain_text("Eco: hola")
        anonymous = session_id(page)
        assert verified_emails(demo_bridge) == []

        login = page.get_by_role("form", name="Sesión de demostración")
        expect(login).to_be_visible()
        page.get_by_label("Correo del cliente").fill(VERIFIED_EMAIL)
        page.get_by_role("button", name="Entrar").click()
        expect(login).to_contain_text(f"has entrado como {VERIFIED_EMAIL}")
        send(page, "sigo aquí")
        expect(page.locator(".msg.bot").last).to_contain_text("Eco: sigo aquí")
        assert verified_emails(demo_bridge) == [VERIFIED_EMAIL]
        assert session_id(page) == anonymous  # the same conversation, now verified

        page.reload()  # the page identifies again on every load (the chat stays open): same conversation
        expect(login).to_contain_text(f"has entrado como {VERIFIED_EMAIL}")
        send(page, "otra vez")
        expect(page.locator(".msg.bot").last).to_contain_text("Eco: otra vez")
        assert session_id(page) == anonymous and verified_emails(demo_bridge) == [VERIFIED_EMAIL]

        page.get_by_role("button", name="Salir").click()  # signed out: a new conversation, nothing shown of the old
        send(page, "soy otra persona")
        expect(page.locator(".msg.bot").last).to_contain_text("Eco: soy otra persona")
        assert session_id(page) != anonymous
        expect(page.locator(".msg").filter(has_text="sigo aquí")).to_have_count(0)
        assert errors == []
    finally:
        context.close()
