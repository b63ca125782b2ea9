"""The widget in Chromium against an in-process bridge and a stand-in Rasa
(issue 9): buttons of a finished step are disabled (also after a reload),
links in bot messages are real links (http/https only, never HTML), handoff
notices survive a reload exactly once, and with the store in usted every text
the widget shows is usted and a verified shopper is not asked for an e-mail.

Screenshots go to $BROWSER_SCREENSHOTS (or tmp_path): desktop and the 390 px
phone. Synchronisation is Playwright's auto-waiting, never sleeps."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest
from playwright.sync_api import Page, expect

from handoff.agents import add_agent
from handoff.storage import Storage
from handoff.texts import TU_FORMS
from tests.browser.test_widget_and_console import shots_dir
from tests.browser.test_widget_offline import ThreadedBridge, open_widget, send, start_bridge
from tests.browser.test_widget_outbox import PHONE_CONTEXT
from tests.handoff.conftest import CLOSED_TIME, OPEN_TIME, VERIFIED_EMAIL, FakeRasa, handoff_payload

pytestmark = pytest.mark.slow

TRACKING = "https://seguimiento.example/envios?id=ES123&lang=es"
INVOICE = "https://tienda.example/facturas/F-2025-101490.pdf"
HOSTILE = ('Prueba javascript:alert(1) y <a href="javascript:alert(2)">pulsa</a> '
           '<img src=x onerror="window.__pwned=1"> data:text/html,hola ftp://ftp.example/x')


class ShopRasa(FakeRasa):
    """The stand-in Rasa plus a cancellation with buttons, links and hostile text."""

    async def replies(self, sender: str, text: str) -> List[Dict[str, Any]]:
        if text == "cancelar":
            return [{"recipient_id": sender, "text": "¿Seguro que quieres cancelar el pedido 101490?", "buttons": [
                {"title": "Sí, cancelarlo", "payload": "/affirm"}, {"title": "No, mantenerlo", "payload": "/deny"}]}]
        if text == "/affirm":
            return [{"recipient_id": sender, "text": "Pedido 101490 cancelado."}]
        if text == "/deny":
            return [{"recipient_id": sender, "text": "¡Hasta pronto!"}]
        if text == "enlace":
            return [{"recipient_id": sender, "text": f"Sigue tu paquete aquí: {TRACKING}. Factura: {INVOICE}"}]
        if text == "raro":
            return [{"recipient_id": sender, "text": HOSTILE}]
        if text == "verificado":  # in usted, as the bot would be with this store
            customer = {"id": 1, "name": "Luis Prieto", "email": VERIFIED_EMAIL, "verified_order_id": "101490"}
            return [{"recipient_id": sender, "text": "Le paso con una persona del equipo."},
                    {"recipient_id": sender, "custom": handoff_payload("order_overdue", customer)}]
        return await super().replies(sender, text)

    async def resume(self, request: Any) -> Any:
        self.fail_resume = True  # the bridge's own line (in the store's voice)
        return await super().resume(request)


@pytest.fixture
def open_bridge(tmp_path: Path) -> Iterator[ThreadedBridge]:
    bridge = start_bridge(tmp_path, OPEN_TIME, ShopRasa, "tu")
    try:
        yield bridge
    finally:
        bridge.stop()


@pytest.fixture
def usted_bridge(tmp_path: Path) -> Iterator[ThreadedBridge]:
    bridge = start_bridge(tmp_path, CLOSED_TIME, ShopRasa, "usted")
    try:
        yield bridge
    finally:
        bridge.stop()


def agent_claims_and_closes(bridge: ThreadedBridge, name: str, page: Page) -> None:
    """An agent (through the bridge's own API) claims the queued conversation,
    the widget shows it, then the agent closes it."""
    async def claim() -> Any:
        assert bridge.server is not None
        core = bridge.server.bridge
        agent, _ = await add_agent(core.storage, name)
        [conversation] = await core.storage.queue()
        await core.claim(agent, conversation.id)
        return agent, conversation.id

    agent, cid = bridge.run(claim())
    expect(page.locator("#ta-log")).to_contain_text(f"{name} se ha unido a la conversación")
    assert bridge.server is not None
    bridge.run(bridge.server.bridge.close(agent, cid, "resolved"))
    expect(page.locator(".csat")).to_be_visible()


def notices(page: Page) -> List[str]:
    return page.locator("#ta-log .notice:not(.system)").all_inner_texts()


def test_buttons_of_a_finished_step_are_disabled_also_after_a_reload(open_bridge: ThreadedBridge, browser: Any,
                                                                      tmp_path: Path) -> None:
    expect.set_options(timeout=10_000)
    shots = shots_dir(tmp_path)
    context = browser.new_context(viewport={"width": 1280, "height": 820}, locale="es-ES")
    errors: List[str] = []
    try:
        page = open_widget(open_bridge.base_url, context, errors)  # type: ignore[attr-defined]
        log = page.locator("#ta-log")
        # pressing one disables the message's buttons, visibly and for screen readers
        send(page, "cancelar")
        asked = log.locator(".msg.bot").filter(has_text="¿Seguro que quieres cancelar")
        keep = asked.get_by_role("button", name="No, mantenerlo")
        expect(keep).to_be_enabled()
        asked.get_by_role("button", name="Sí, cancelarlo").click()
        expect(log).to_contain_text("Pedido 101490 cancelado.")
        expect(keep).to_be_disabled()
        expect(keep).to_have_attribute("aria-disabled", "true")
        expect(asked.locator(".chips")).to_have_attribute("aria-label", re.compile("ya ha terminado"))
        keep.dispatch_event("click")                       # even a forced click sends nothing
        # typing instead of pressing also ends a step
        send(page, "cancelar")
        second = log.locator(".msg.bot").filter(has_text="¿Seguro que quieres cancelar").nth(1)
        expect(second.get_by_role("button", name="No, mantenerlo")).to_be_enabled()
        send(page, "otra cosa")
        expect(log).to_contain_text("Eco: otra cosa")
        expect(second.get_by_role("button", name="No, mantenerlo")).to_be_disabled()
        # the newest step's buttons stay live, the older ones come back disabled after a reload
        send(page, "cancelar")
        third = log.locator(".msg.bot").filter(has_text="¿Seguro que quieres cancelar").nth(2)
        expect(third.get_by_role("button", name="No, mantenerlo")).to_be_enabled()
        page.screenshot(path=str(shots / "front-1-desktop-buttons.png"))
        page.reload()
        expect(log.locator(".msg.bot").filter(has_text="¿Seguro que quieres cancelar")).to_have_count(3)
        chips = log.locator(".msg.bot .chips button")
        expect(chips).to_have_count(6)
        for n in range(4):
            expect(chips.nth(n)).to_be_disabled()
        expect(chips.nth(4)).to_be_enabled()
        # the live one, pressed with its message id: the bridge accepts it
        third = log.locator(".msg.bot").filter(has_text="¿Seguro que quieres cancelar").nth(2)
        third.get_by_role("button", name="No, mantenerlo").click()
        expect(log).to_contain_text("¡Hasta pronto!")
        assert open_bridge.rasa is not None
        assert [c["message"] for c in open_bridge.rasa.webhook_calls] == [
            "cancelar", "/affirm", "cancelar", "otra cosa", "cancelar", "/deny"]
        assert errors == []
    finally:
        context.close()


def test_links_in_bot_messages_are_links_and_hostile_text_stays_text(open_bridge: ThreadedBridge, browser: Any,
                                                                     tmp_path: Path) -> None:
    expect.set_options(timeout=10_000)
    shots = shots_dir(tmp_path)
    context = browser.new_context(**PHONE_CONTEXT, locale="es-ES")
    errors: List[str] = []
    try:
        page = open_widget(open_bridge.base_url, context, errors)  # type: ignore[attr-defined]
        log = page.locator("#ta-log")
        send(page, "enlace")
        tracking = log.get_by_role("link", name=TRACKING)
        expect(tracking).to_have_attribute("href", TRACKING)  # the sentence's final "." is not part of it
        expect(tracking).to_have_attribute("target", "_blank")
        expect(tracking).to_have_attribute("rel", "noopener noreferrer")
        expect(log.get_by_role("link", name=INVOICE)).to_have_attribute("href", INVOICE)
        expect(log.locator(".msg.bot .bubble").filter(has_text="Sigue tu paquete")).to_have_text(
            f"Sigue tu paquete aquí: {TRACKING}. Factura: {INVOICE}")
        send(page, "raro")
        hostile = log.locator(".msg.bot .bubble").filter(has_text="Prueba javascript")
        expect(hostile).to_have_text(HOSTILE)              # every character shown as written
        expect(hostile.locator("a, img")).to_have_count(0)
        assert page.evaluate("() => window.__pwned") is None
        send(page, f"mira {TRACKING}")                     # the shopper's own text is never turned into links
        expect(log.locator(".msg.customer").filter(has_text="mira")).to_be_visible()
        expect(log.locator(".msg.customer a")).to_have_count(0)
        expect(log.locator(".msg.bot").filter(has_text="Eco: mira").get_by_role("link")).to_have_count(1)  # the echo
        tracking = log.get_by_role("link", name=TRACKING).first
        tracking.scroll_into_view_if_needed()
        page.screenshot(path=str(shots / "front-2-phone-links.png"))
        page.reload()
        expect(log.get_by_role("link", name=TRACKING).first).to_have_attribute("href", TRACKING)
        assert errors == []
    finally:
        context.close()


def test_handoff_notices_survive_a_reload_once_and_in_place(open_bridge: ThreadedBridge, browser: Any,
                                                            tmp_path: Path) -> None:
    expect.set_options(timeout=10_000)
    shots = shots_dir(tmp_path)
    context = browser.new_context(viewport={"width": 1280, "height": 820}, locale="es-ES")
    errors: List[str] = []
    try:
        page = open_widget(open_bridge.base_url, context, errors)  # type: ignore[attr-defined]
        log = page.locator("#ta-log")
        send(page, "agente")
        expect(log).to_contain_text("Te hemos puesto en la cola para hablar con una persona del equipo.")
        agent_claims_and_closes(open_bridge, "Ana", page)
        expect(log).to_contain_text("La conversación con Ana ha terminado.")
        before = notices(page)
        # the queue notice says the promise (the bridge's promise_text: queued at 12:00 + the target)
        due = open_bridge.server.bridge.policy.first_response_due(open_bridge.now)  # type: ignore[union-attr]
        due_local = due.astimezone(open_bridge.server.bridge.policy.tz)  # type: ignore[union-attr]
        assert before == ["Te hemos puesto en la cola para hablar con una persona del equipo. "
                          f"Te respondemos antes de las {due_local.hour}:{due_local.minute:02d}.",
                          "Ana se ha unido a la conversación", "La conversación con Ana ha terminado."]
        expect(page.locator(".csat")).to_contain_text("¿Qué tal te ha atendido Ana?")
        for _ in range(2):
            page.reload()
            expect(log).to_contain_text("Vuelves a hablar con el asistente virtual")
            expect(log.locator(".notice").filter(has_text="Ana ha terminado")).to_have_count(1)
            assert notices(page) == before
            # in place: the queue notice right after the bot's "Te paso..." line
            order = page.evaluate("""() => Array.from(document.getElementById('tienda-aurora-chat').shadowRoot
                .querySelectorAll('#ta-log > *')).map(n => n.innerText)""")
            assert "Te paso con una persona del equipo." in order[order.index(before[0]) - 1]
            expect(page.locator(".csat")).to_contain_text("¿Qué tal te ha atendido Ana?")
        page.screenshot(path=str(shots / "front-3-desktop-notices-after-reload.png"))

        # the same shopper on a phone-sized window (same stored session)
        phone = browser.new_context(**PHONE_CONTEXT, locale="es-ES", storage_state=context.storage_state())
        try:
            mobile = phone.new_page()
            mobile.on("pageerror", lambda exc: errors.append(str(exc)))
            mobile.goto(open_bridge.base_url + "/")  # type: ignore[attr-defined]
            expect(mobile.locator("#ta-log")).to_contain_text("La conversación con Ana ha terminado.")
            assert notices(mobile) == before
            mobile.locator("#ta-log .notice").first.scroll_into_view_if_needed()
            mobile.screenshot(path=str(shots / "front-4-phone-notices-after-reload.png"))
        finally:
            phone.close()
        assert errors == []
    finally:
        context.close()


def test_widget_in_usted_and_a_verified_shopper_is_not_asked_for_an_email(
    usted_bridge: ThreadedBridge, browser: Any, tmp_path: Path
) -> None:
    expect.set_options(timeout=10_000)
    shots = shots_dir(tmp_path)
    context = browser.new_context(**PHONE_CONTEXT, locale="es-ES")
    errors: List[str] = []
    try:
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(usted_bridge.base_url + "/")  # type: ignore[attr-defined]
        expect(page.locator(".launcher")).to_contain_text("¿Le ayudamos?")
        page.get_by_role("button", name="Abrir el chat de ayuda").click()
        box = page.get_by_role("textbox", name="Escriba su mensaje")
        expect(box).to_be_focused()
        send(page, "verificado")
        status = page.locator(".status")
        expect(status).to_contain_text("Está en la cola · posición 1")
        expect(status).to_contain_text("Le escribiremos a su correo si hace falta.")
        expect(page.locator("#ta-email")).to_be_hidden()    # verified: no e-mail form
        log = page.locator("#ta-log")
        expect(log).to_contain_text("Ya tenemos su correo (l***@correo.example)")
        expect(log).to_contain_text("Le hemos puesto en la cola")
        page.screenshot(path=str(shots / "front-5-phone-usted-verified-queued.png"))
        agent_claims_and_closes(usted_bridge, "Marta", page)
        expect(page.locator(".csat")).to_contain_text("¿Qué tal le ha atendido Marta?")
        expect(log).to_contain_text("Vuelve a hablar con el asistente virtual")
        page.get_by_role("button", name="5 de 5").click()
        expect(page.locator(".csat")).to_contain_text("Ha valorado la atención con un 5 de 5.")
        expect(log).to_contain_text("¡Gracias por su valoración!")
        page.screenshot(path=str(shots / "front-6-phone-usted-csat.png"))

        # everything the widget shows, its own labels included, bar the stand-in Rasa's echo lines
        shown = page.evaluate("""() => {
            const root = document.getElementById('tienda-aurora-chat').shadowRoot;
            const texts = [root.querySelector('.panel').innerText, root.querySelector('.launcher').innerText];
            root.querySelectorAll('[placeholder],[aria-label]').forEach(n => {
                texts.push(n.getAttribute('placeholder') || ''); texts.push(n.getAttribute('aria-label') || ''); });
            return texts.join('\\n');
        }""")
        lines = [line for line in shown.split("\n") if line.strip()]
        tu = [(line, m.group()) for line in lines for m in [TU_FORMS.search(line)] if m]
        assert not tu, f"tú forms in the usted widget: {tu}"
        assert "Usted" in lines                            # the shopper's own messages are labelled in usted
        assert errors == []
    finally:
        context.close()


def test_a_shopper_not_verified_is_still_offered_the_email_form(usted_bridge: ThreadedBridge, browser: Any) -> None:
    expect.set_options(timeout=10_000)
    context = browser.new_context(viewport={"width": 1280, "height": 820}, locale="es-ES")
    try:
        page = context.new_page()
        page.goto(usted_bridge.base_url + "/")  # type: ignore[attr-defined]
        page.get_by_role("button", name="Abrir el chat de ayuda").click()
        send(page, "agente")
        expect(page.get_by_label("Déjenos su correo y le escribiremos:")).to_be_visible()
        expect(page.locator("#ta-log")).to_contain_text("déjenos su correo electrónico")

        async def contacts() -> List[Any]:
            storage = Storage(usted_bridge.database_url)
            try:
                return [c.contact_email for c in await storage.queue()]
            finally:
                storage.dispose()

        assert usted_bridge.run(contacts()) == [None]
    finally:
        context.close()
