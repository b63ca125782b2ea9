"""The widget outside support hours, in Chromium, against an in-process bridge
with the stand-in Rasa of tests/handoff (fast: no real Rasa). The bridge's
clock is fixed on a Sunday, so the queue entry is ``offline`` and the widget
offers to leave an e-mail. Also: bot buttons as chips, keyboard use."""
from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import re
import threading
from pathlib import Path
from typing import Any, Iterator, List, Optional

import pytest
from playwright.sync_api import Page, expect

from core.policy import StorePolicy, load_policy
from core.store.seed import seed_store
from handoff.bridge import Bridge
from handoff.server import BridgeServer
from handoff.settings import HandoffSettings
from handoff.storage import Storage
from tests.browser.test_widget_and_console import shots_dir
from tests.handoff.conftest import BRIDGE_SECRET, CLOSED_TIME, FakeRasa

pytestmark = pytest.mark.slow


class ThreadedBridge:
    """The stand-in Rasa and a bridge on their own event loop in a thread (sync
    Playwright owns the test thread's loop)."""

    def __init__(self, database_url: str, now: dt.datetime, rasa_class: type = FakeRasa,
                 policy: Optional[StorePolicy] = None, **settings: Any) -> None:
        self.database_url = database_url
        self.settings = settings  # more HandoffSettings fields
        self.now = now
        self.rasa_class = rasa_class
        self.policy = policy
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="bridge", daemon=True)
        self.server: Optional[BridgeServer] = None
        self.rasa: Optional[FakeRasa] = None

    def run(self, coroutine: Any, timeout: float = 30) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def start(self) -> str:
        self.thread.start()
        return self.run(self._start())

    async def _start(self) -> str:
        rasa = self.rasa = await self.rasa_class().serve()
        settings = HandoffSettings(host="127.0.0.1", port=0, rasa_url=rasa.url, rasa_bridge_secret=BRIDGE_SECRET,
                                   rasa_timeout_s=2.0, database_url=self.database_url, **self.settings)
        self.server = BridgeServer(settings, Bridge(settings, policy=self.policy or load_policy(), clock=lambda: self.now))
        port = await self.server.start()
        return f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        async def _stop() -> None:
            if self.server is not None:
                await self.server.stop()
            if self.rasa is not None:
                await self.rasa.stop()

        try:
            self.run(_stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)


def start_bridge(tmp_path: Path, now: dt.datetime, rasa_class: type = FakeRasa,
                 voice: Optional[str] = None, **settings: Any) -> ThreadedBridge:
    """A seeded SQLite store and a started ``ThreadedBridge`` (``base_url`` set);
    ``voice`` overrides the policy's tú/usted; ``settings``: more HandoffSettings fields."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    seed_store(url)
    policy = dataclasses.replace(load_policy(), brand_voice=voice) if voice else None
    bridge = ThreadedBridge(url, now, rasa_class, policy, **settings)
    bridge.base_url = bridge.start()  # type: ignore[attr-defined]
    return bridge


def open_widget(base_url: str, context: Any, errors: List[str]) -> Page:
    """The demo shop page at ``base_url`` (a ThreadedBridge's or the real
    stack's) with the chat open; page errors go to ``errors``."""
    page = context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(base_url + "/")
    page.get_by_role("button", name="Abrir el chat de ayuda").click()
    return page


def send(page: Page, text: str) -> None:
    box = page.locator("#ta-input")
    box.fill(text)
    box.press("Enter")


@pytest.fixture
def closed_bridge(tmp_path: Path) -> Iterator[ThreadedBridge]:
    bridge = start_bridge(tmp_path, CLOSED_TIME)
    try:
        yield bridge
    finally:
        bridge.stop()


def test_offline_queue_offers_email_and_buttons_are_chips(closed_bridge: ThreadedBridge, browser: Any, tmp_path: Path) -> None:
    expect.set_options(timeout=10_000)
    shots = shots_dir(tmp_path)
    context = browser.new_context(viewport={"width": 1280, "height": 820}, locale="es-ES")
    errors = []
    try:
        shop = context.new_page()
        shop.on("pageerror", lambda exc: errors.append(str(exc)))
        shop.goto(closed_bridge.base_url + "/")  # type: ignore[attr-defined]
        launcher = shop.get_by_role("button", name="Abrir el chat de ayuda")
        shop.screenshot(path=str(shots / "7-shop-closed-widget.png"))

        # keyboard: Tab to the launcher, Enter opens and focuses the input, Escape closes
        launcher.focus()
        shop.keyboard.press("Enter")
        box = shop.get_by_role("textbox", name="Escribe tu mensaje")
        expect(box).to_be_focused()
        shop.screenshot(path=str(shots / "8-widget-empty.png"))
        shop.keyboard.press("Escape")
        expect(shop.get_by_role("dialog")).to_be_hidden()
        expect(launcher).to_be_focused()
        shop.keyboard.press("Enter")
        expect(box).to_be_focused()
        shop.keyboard.press("Tab")
        expect(shop.get_by_role("button", name="Enviar", exact=True)).to_be_focused()

        # bot buttons become chips that send title + payload
        box.fill("botones")
        box.press("Enter")
        chip = shop.locator(".msg.bot .chip").filter(has_text="Hablar con una persona")
        expect(chip).to_be_visible()
        chip.click()
        log = shop.locator("#ta-log")
        expect(log.locator(".msg.customer").filter(has_text="Hablar con una persona")).to_have_count(1)

        # outside support hours: queued offline, the widget asks for an e-mail
        status = shop.locator(".status")
        expect(status).to_contain_text(re.compile(r"posición 1"))
        expect(log).to_contain_text("Ahora estamos fuera del horario de atención")  # said once, in the log
        expect(status).not_to_contain_text("fuera del horario")
        expect(log).to_contain_text("déjanos tu correo")
        email = shop.get_by_label("Déjanos tu correo y te escribiremos:")
        email.fill("no-es-un-correo")
        shop.get_by_role("button", name="Avísame").click()
        expect(email).to_be_visible()  # the browser refuses an invalid address
        shop.screenshot(path=str(shots / "9-widget-offline.png"))
        email.fill("lucia@correo.example")
        email.press("Enter")
        expect(log).to_contain_text("Te escribiremos a ese correo")
        expect(status).to_contain_text("Te escribiremos a lucia@correo.example")
        expect(email).to_be_hidden()

        async def contact() -> Any:
            storage = Storage(closed_bridge.database_url)
            try:
                queued = await storage.queue()
                return [c.contact_email for c in queued]
            finally:
                storage.dispose()

        assert closed_bridge.run(contact()) == ["lucia@correo.example"]

        # the reply the stand-in Rasa sends after the handoff never shows
        assert "ESTO NO DEBE LLEGAR" not in log.inner_text()

        # a second shopper, verified by the bot: the agent sees both entries and
        # the case card with the verified customer's orders
        other = browser.new_context(viewport={"width": 1280, "height": 820}, locale="es-ES")
        other_page = other.new_page()
        other_page.goto(closed_bridge.base_url + "/")  # type: ignore[attr-defined]
        other_page.get_by_role("button", name="Abrir el chat de ayuda").click()
        other_box = other_page.get_by_role("textbox", name="Escribe tu mensaje")
        other_box.fill("verificado")
        other_box.press("Enter")
        expect(other_page.locator(".status")).to_contain_text("posición 2")

        _, token = closed_bridge.run(add_agent_in(closed_bridge, "Marta"))
        console = context.new_page()
        console.on("pageerror", lambda exc: errors.append(str(exc)))
        console.set_viewport_size({"width": 1440, "height": 900})
        console.goto(closed_bridge.base_url + "/agent")  # type: ignore[attr-defined]
        console.get_by_label("Token de agente").fill(token)
        console.get_by_label("Token de agente").press("Enter")
        entries = console.locator(".q-item")
        expect(entries).to_have_count(2)
        expect(entries.nth(0)).to_contain_text("lucia@correo.example")
        expect(entries.nth(0)).to_contain_text("Fuera de horario")
        expect(entries.nth(1)).to_contain_text("Verificado: Luis Prieto")
        entries.nth(1).get_by_role("button", name=re.compile("^Atender")).click()
        card = console.locator("#card-body")
        expect(card).to_contain_text("Luis Prieto")
        expect(card).to_contain_text("Pedido 101490")
        expect(card).to_contain_text("¿Se puede devolver?")
        expect(card).not_to_contain_text("window_expired")
        expect(console.locator("#composer-text")).to_be_focused()
        console.screenshot(path=str(shots / "10-agent-verified-case-card.png"), full_page=True)
        expect(other_page.locator("#ta-log")).to_contain_text("Marta se ha unido a la conversación")
        other.close()
        assert errors == []
    finally:
        context.close()


async def add_agent_in(bridge: ThreadedBridge, name: str) -> Any:
    from handoff.agents import add_agent

    assert bridge.server is not None
    agent, token = await add_agent(bridge.server.bridge.storage, name)
    return agent.id, token
