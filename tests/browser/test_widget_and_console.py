"""The web widget and the agent console together, in Chromium, against the real
stack (Rasa + action server + bridge): a shopper asks for a person, an agent
claims, both talk, the agent closes and the shopper rates.

Synchronisation is Playwright's auto-waiting (expect / locators), never sleeps.
Screenshots go to tmp_path (or $BROWSER_SCREENSHOTS when set).
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import os
import re
import uuid
from pathlib import Path
from typing import Any, Dict, List

import pytest
from playwright.sync_api import Page, expect

from handoff.storage import Storage

pytestmark = pytest.mark.slow

RASA_TIMEOUT_MS = 30_000
UI_TIMEOUT_MS = 10_000
XSS = "<script>window.__pwned=1</script>hola"


def shots_dir(tmp_path: Path) -> Path:
    target = Path(os.environ.get("BROWSER_SCREENSHOTS") or tmp_path)
    target.mkdir(parents=True, exist_ok=True)
    return target


def csat_rows(database_url: str) -> List[Dict[str, Any]]:
    async def read() -> List[Dict[str, Any]]:
        storage = Storage(database_url)
        try:
            return await storage.csat_rows()
        finally:
            storage.dispose()

    # sync Playwright keeps an event loop running in this thread: read in another one
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, read()).result(timeout=30)


def message_ids(page: Page) -> List[str]:
    """data-id of every stored message shown in the widget (inside its shadow root)."""
    return page.evaluate("""() => {
        const root = document.getElementById('tienda-aurora-chat').shadowRoot;
        return Array.from(root.querySelectorAll('#ta-log [data-id]')).map(n => n.getAttribute('data-id'));
    }""")


def expect_no_duplicates(page: Page) -> List[str]:
    ids = message_ids(page)
    assert ids, "no stored messages shown"
    assert len(ids) == len(set(ids)), f"duplicated messages: {ids}"
    return ids


def test_shopper_and_agent_talk_through_widget_and_console(
    stack: Any, make_agent: Any, e2e_database_url: str, browser: Any, tmp_path: Path
) -> None:
    expect.set_options(timeout=UI_TIMEOUT_MS)
    shots = shots_dir(tmp_path)
    name, token = make_agent("Marta")
    agent_id = token.split(".", 1)[0]
    base = stack.handoff_url
    marker = "Pedido de prueba " + uuid.uuid4().hex[:8]
    reply = "Hola, soy Marta. Ahora mismo reviso tu pedido " + marker[-8:] + "."
    note = "Nota: cliente amable, revisar transportista " + marker[-8:]

    shop_context = browser.new_context(viewport={"width": 1280, "height": 820}, locale="es-ES")
    agent_context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="es-ES")
    errors: List[str] = []
    try:
        shop = shop_context.new_page()
        console = agent_context.new_page()
        for page in (shop, console):
            page.on("pageerror", lambda exc: errors.append(str(exc)))

        # -- the shopper opens the chat and asks for a person ----------------
        shop.goto(base + "/")
        expect(shop.get_by_role("heading", name="Colección de otoño, hecha para durar")).to_be_visible()
        shop.get_by_role("button", name="Abrir el chat de ayuda").click()
        box = shop.get_by_role("textbox", name="Escribe tu mensaje")
        expect(box).to_be_focused()
        box.fill("quiero hablar con una persona")
        box.press("Enter")
        log = shop.locator("#ta-log")
        expect(log).to_contain_text("Te paso con una persona", timeout=RASA_TIMEOUT_MS)
        status = shop.locator(".status")
        expect(status).to_contain_text(re.compile(r"posición \d+"))
        # a text while queued reaches the agents' queue (preview), not Rasa
        box.fill(marker)
        box.press("Enter")
        expect(shop.locator(".msg.customer.pending")).to_have_count(0)
        shop.screenshot(path=str(shots / "1-shopper-queued.png"))

        # reload while queued: history and queue state come back, nothing twice
        before = expect_no_duplicates(shop)
        shop.reload()
        expect(log).to_contain_text(marker)
        expect(status).to_contain_text(re.compile(r"posición \d+"))
        assert expect_no_duplicates(shop) == before

        # -- the agent signs in, sees the entry and claims it ---------------
        console.goto(base + "/agent")
        console.get_by_label("Token de agente").fill(agent_id + ".wrong-secret")
        console.get_by_role("button", name="Entrar").click()
        expect(console.locator("#signin-error")).to_contain_text("Token no válido")
        console.get_by_label("Token de agente").fill(token)
        console.get_by_role("button", name="Entrar").click()
        expect(console.locator("#conn")).to_have_text("Conectado")
        assert token not in console.url
        assert console.evaluate("sessionStorage.getItem('tiendaAurora.agentToken')") == token
        entry = console.locator(".q-item").filter(has_text=marker)
        expect(entry).to_be_visible()
        expect(entry).to_contain_text("Web")
        wait = entry.locator(".q-wait")
        expect(wait).to_have_text(re.compile(r"^\d+:\d\d$"))
        first_wait = wait.inner_text()
        expect(wait).not_to_have_text(first_wait)  # the waiting time ticks
        expect(console).to_have_title(re.compile(r"^\(\d+\) Nueva conversación"))
        console.screenshot(path=str(shots / "2a-agent-queue.png"))
        entry.get_by_role("button", name=re.compile("^Atender")).click()

        transcript = console.locator(".transcript:visible")
        expect(transcript).to_contain_text("quiero hablar con una persona")
        expect(transcript).to_contain_text(marker)
        card = console.locator("#card-body")
        expect(card).to_contain_text("Pide hablar con una persona")  # the reason, in the vocabulary's words
        expect(card).to_contain_text("Pide hablar con una persona")  # the intent, in Spanish
        expect(card).not_to_contain_text("request_human")
        expect(card).to_contain_text("Te paso con una persona")  # what the bot already answered
        expect(console.locator(".q-item").filter(has_text=marker)).to_have_count(0)

        # a canned reply fills the composer; the agent edits and sends
        composer = console.locator("#composer-text")
        console.locator("#canned").select_option(label="Saludo")
        expect(composer).to_have_value(re.compile("^¡Hola! Soy del equipo"))
        composer.fill(reply)
        composer.press("Enter")
        expect(transcript.locator(".line.agent").filter(has_text=reply)).not_to_have_class(re.compile("pending"))

        # -- the shopper sees the agent ---------------------------------------
        expect(log).to_contain_text(f"{name} se ha unido a la conversación")
        expect(log).to_contain_text(reply)
        expect(shop.locator(".status")).to_contain_text(f"{name} te está atendiendo")
        # "entregado" once the widget confirmed it showed the reply (before: "enviado", stored and sent)
        expect(transcript.locator(".line.agent").filter(has_text=reply).locator(".at")).to_contain_text("entregado ✓✓")

        # the shopper's script arrives at the console as text
        box.fill(XSS)
        box.press("Enter")
        expect(transcript.locator(".line.customer").filter(has_text=XSS)).to_have_count(1)
        assert console.evaluate("window.__pwned") is None
        assert shop.evaluate("window.__pwned") is None
        expect(log.locator(".msg.customer").filter(has_text=XSS)).to_have_count(1)

        # an internal note: shown to the agent, visibly different, never to the shopper
        console.get_by_label("Nota interna", exact=True).check()
        expect(console.locator("#composer-send")).to_have_text("Guardar nota")
        composer.fill(note)
        composer.press("Enter")
        expect(transcript.locator(".line.note").filter(has_text=note)).to_have_count(1)
        console.get_by_label("Respuesta al cliente").check()

        # an error frame is shown next to the conversation
        console.locator("#transfer-to").select_option("agent")
        console.get_by_label("Id del agente").fill("a_nadie")
        console.get_by_role("button", name="Transferir").click()
        expect(console.locator("#conv-error")).to_contain_text("No existe ese agente")
        console.screenshot(path=str(shots / "2-agent-console.png"))

        # reload while assigned: everything once, still with Marta
        before = expect_no_duplicates(shop)
        shop.reload()
        expect(log).to_contain_text(reply)
        expect(shop.locator(".status")).to_contain_text(f"{name} te está atendiendo")
        # "entregado" once the widget confirmed it showed the reply (before: "enviado", stored and sent)
        expect(transcript.locator(".line.agent").filter(has_text=reply).locator(".at")).to_contain_text("entregado ✓✓")
        expect(log.locator(".msg.agent").filter(has_text=reply)).to_have_count(1)
        assert expect_no_duplicates(shop) == before

        # a network drop: the message waits, is sent on reconnection, shown once
        offline_text = "Sigo aquí " + marker[-8:]
        shop_context.set_offline(True)
        expect(shop.locator(".conn")).to_be_visible()
        box.fill(offline_text)
        box.press("Enter")
        expect(log.locator(".msg.customer.pending").filter(has_text=offline_text)).to_have_count(1)
        shop_context.set_offline(False)
        expect(log.locator(".msg.customer.pending")).to_have_count(0, timeout=20_000)
        expect(transcript.locator(".line.customer").filter(has_text=offline_text)).to_have_count(1)
        shop.screenshot(path=str(shots / "3-shopper-with-agent.png"))

        # -- the agent closes; the shopper is back with the bot and rates -----
        console.locator("#resolution").select_option("resolved")
        console.get_by_role("button", name="Cerrar conversación").click()
        expect(transcript).to_contain_text("Conversación cerrada (resuelta)")
        expect(log).to_contain_text("¿Algo más", timeout=RASA_TIMEOUT_MS)
        rating = shop.locator("#ta-csat")
        expect(rating).to_be_visible()
        shop.screenshot(path=str(shots / "4-shopper-rating.png"))
        rating.get_by_role("button", name="4 de 5").click()
        expect(log).to_contain_text("¡Gracias por tu valoración!")
        assert note not in log.inner_text()
        shop.screenshot(path=str(shots / "5-shopper-thanks.png"))
        console.screenshot(path=str(shots / "6-agent-closed.png"))

        rows = [r for r in csat_rows(e2e_database_url) if r["agent_id"] == agent_id]
        assert [r["score"] for r in rows] == [4]
        assert rows[0]["reason"] == "customer_request"
        assert errors == []
    finally:
        shop_context.close()
        agent_context.close()
