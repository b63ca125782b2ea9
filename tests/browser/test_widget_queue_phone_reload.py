"""The widget in Chromium against an in-process bridge and a stand-in Rasa:
- a queued shopper goes back to the bot with "Volver al asistente" (not
  offered once an agent has claimed the chat);
- the demo shop page speaks the store's voice (usted too);
- on a 390 px phone the chat is full-screen, without the keyboard hint, and an
  amount ("69,00 €") never splits across lines;
- after a reload the delivery marks ("Enviado ✓") and the rating prompt's state
  come back from the server's history (a pending rating asks about the right
  agent, a given one shows as given and is never asked again).

Screenshots go to $BROWSER_SCREENSHOTS (or tmp_path), desktop and phone.
Synchronisation is Playwright's auto-waiting, never sleeps."""
from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest
from playwright.sync_api import expect

from handoff.agents import add_agent
from handoff.texts import TU_FORMS
from tests.browser.test_widget_and_console import shots_dir
from tests.browser.test_widget_offline import ThreadedBridge, open_widget, send, start_bridge
from tests.browser.test_widget_outbox import PHONE, PHONE_CONTEXT
from tests.handoff.conftest import CLOSED_TIME, OPEN_TIME, QUEUE_LEFT_LINE, FakeRasa

pytestmark = pytest.mark.slow

DESKTOP = {"viewport": {"width": 1280, "height": 820}}
PRICES = ("El jersey de lana merino cuesta 69,00 € y el envío exprés 6,95 €, así que en total son 75,95 €; "
          "desde 50,00 € el envío estándar es gratis.")


class PriceRasa(FakeRasa):
    """The stand-in Rasa plus a line full of amounts."""

    async def replies(self, sender: str, text: str) -> List[Dict[str, Any]]:
        if text == "precio":
            return [{"recipient_id": sender, "text": PRICES}]
        return await super().replies(sender, text)


@pytest.fixture
def bridge(tmp_path: Path) -> Iterator[ThreadedBridge]:
    running = start_bridge(tmp_path, OPEN_TIME, PriceRasa, "tu")
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def usted_bridge(tmp_path: Path) -> Iterator[ThreadedBridge]:
    running = start_bridge(tmp_path, CLOSED_TIME, PriceRasa, "usted")
    try:
        yield running
    finally:
        running.stop()


def claim(bridge: ThreadedBridge, name: str) -> Any:
    """An agent (through the bridge's own API) claims the queued conversation."""
    async def run() -> Any:
        assert bridge.server is not None
        core = bridge.server.bridge
        agent, _ = await add_agent(core.storage, name)
        [conversation] = await core.storage.queue()
        await core.claim(agent, conversation.id)
        return agent, conversation.id

    return bridge.run(run())


def queue_ids(bridge: ThreadedBridge) -> List[str]:
    assert bridge.server is not None
    return [c.id for c in bridge.run(bridge.server.bridge.storage.queue())]


def tu_forms(text: str) -> List[Any]:
    return [(line, m.group()) for line in text.split("\n") for m in [TU_FORMS.search(line)] if m]


def test_a_queued_shopper_goes_back_to_the_assistant(bridge: ThreadedBridge, browser: Any, tmp_path: Path) -> None:
    expect.set_options(timeout=10_000)
    shots = shots_dir(tmp_path)
    context = browser.new_context(**DESKTOP, locale="es-ES")
    errors: List[str] = []
    try:
        page = open_widget(bridge.base_url, context, errors)  # type: ignore[attr-defined]
        log = page.locator("#ta-log")
        status = page.locator(".status")
        send(page, "agente")
        expect(status).to_contain_text("Estás en la cola · posición 1")
        leave = status.get_by_role("button", name="Volver al asistente")
        expect(leave).to_be_visible()
        page.screenshot(path=str(shots / "queue-1-desktop-queued-leave.png"))
        assert len(queue_ids(bridge)) == 1

        leave.click()
        expect(log).to_contain_text(QUEUE_LEFT_LINE)
        # one line says it (the tester saw a notice and the bot's line saying the same)
        expect(log.locator(".msg, .notice").filter(has_text="he cancelado la espera")).to_have_count(1)
        expect(log.locator(".notice").filter(has_text="Has salido de la cola")).to_have_count(0)
        expect(status).to_be_hidden()
        expect(page.locator("#ta-sub")).to_have_text("Te responde el asistente virtual")
        assert queue_ids(bridge) == []
        expect(page.locator(".csat")).to_have_count(0)
        page.screenshot(path=str(shots / "queue-2-desktop-left.png"))
        send(page, "hola")                                 # the bot answers again
        expect(log).to_contain_text("Eco: hola")

        # queued again and claimed: the way out is no longer offered
        send(page, "agente")
        expect(leave).to_be_visible()
        claim(bridge, "Ana")
        expect(log).to_contain_text("Ana se ha unido a la conversación")
        expect(status).to_contain_text("Ana te está atendiendo")
        expect(leave).to_be_hidden()
        page.reload()
        expect(status).to_contain_text("Ana te está atendiendo")
        expect(page.locator(".status").get_by_role("button", name="Volver al asistente")).to_be_hidden()
        expect(log.locator(".msg").filter(has_text="he cancelado la espera")).to_have_count(1)
        assert errors == []
    finally:
        context.close()


def test_on_a_phone_the_chat_is_full_screen_without_key_hints_and_amounts_stay_whole(
        bridge: ThreadedBridge, browser: Any, tmp_path: Path) -> None:
    expect.set_options(timeout=10_000)
    shots = shots_dir(tmp_path)
    context = browser.new_context(**PHONE_CONTEXT, locale="es-ES")
    errors: List[str] = []
    try:
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(bridge.base_url + "/")  # type: ignore[attr-defined]
        page.screenshot(path=str(shots / "phone-1-shop.png"), full_page=True)
        # the shop's own prices never wrap either
        assert page.evaluate("""() => Array.from(document.querySelectorAll('.price')).every(
            p => getComputedStyle(p).whiteSpace === 'nowrap' && !/\\d \\u20ac/.test(p.textContent))""")
        page.get_by_role("button", name="Abrir el chat de ayuda").click()
        panel = page.get_by_role("dialog")
        expect(panel).to_be_visible()
        box = panel.bounding_box()
        assert box is not None
        assert (box["x"], box["y"], box["width"], box["height"]) == (0, 0, PHONE["width"], PHONE["height"])
        # "Enter envía…" means nothing on a touch screen
        expect(page.locator(".foot")).to_be_hidden()
        expect(page.locator("#ta-input")).to_have_attribute("enterkeyhint", "send")
        send(page, "precio")
        bubble = page.locator(".msg.bot .bubble").filter(has_text="jersey")
        expect(bubble).to_be_visible()
        text = bubble.text_content() or ""
        for amount in ("69,00", "6,95", "75,95", "50,00"):
            assert f"{amount}\u00a0€" in text, (amount, text)
        # each amount on one line, wherever the bubble wraps
        lines = page.evaluate("""() => {
            const bubble = Array.from(document.getElementById('tienda-aurora-chat').shadowRoot
                .querySelectorAll('.msg.bot .bubble')).find(b => b.textContent.includes('jersey'));
            const node = bubble.firstChild, out = [];
            for (const m of node.textContent.matchAll(/\\d+,\\d\\d\\u00a0\\u20ac/g)) {
                const r = document.createRange();
                r.setStart(node, m.index); r.setEnd(node, m.index + m[0].length);
                out.push(new Set(Array.from(r.getClientRects()).map(c => Math.round(c.top))).size);
            }
            return out;
        }""")
        assert lines == [1, 1, 1, 1]
        page.screenshot(path=str(shots / "phone-2-chat-full-screen.png"))
        send(page, "agente")
        expect(page.locator(".status").get_by_role("button", name="Volver al asistente")).to_be_visible()
        page.screenshot(path=str(shots / "phone-3-queued-leave.png"))
        send(page, "cancelar")                              # may be the order: asked, with buttons
        asked = page.locator("#ta-log .notice.system").filter(has_text="¿Quieres dejar de esperar")
        expect(asked.get_by_role("button", name="Volver al asistente")).to_be_enabled()
        page.screenshot(path=str(shots / "phone-3b-queued-asked.png"))
        asked.get_by_role("button", name="Seguir esperando").click()
        expect(page.locator("#ta-log")).to_contain_text("Perfecto, sigues en la cola.")
        expect(page.locator(".status")).to_contain_text("posición 1")
        expect(asked.get_by_role("button", name="Volver al asistente")).to_be_disabled()
        send(page, "necesito hablar con una persona YA")    # told the team has it, and the place
        expect(page.locator("#ta-log")).to_contain_text("He pasado tu mensaje al equipo")
        page.screenshot(path=str(shots / "phone-3c-queued-acknowledged.png"))
        claim(bridge, "Marta")
        expect(page.locator(".status")).to_contain_text("Marta te está atendiendo")
        # once, not in the header as well
        expect(page.locator("#ta-sub")).to_have_text("Te responde una persona del equipo")
        assert page.locator("#tienda-aurora-chat").evaluate(
            "host => host.shadowRoot.querySelector('[role=dialog]').innerText.split('Marta te está atendiendo').length"
        ) == 2
        page.screenshot(path=str(shots / "phone-3d-assigned.png"))
        page.get_by_role("button", name="Cerrar el chat").click()
        expect(page.get_by_role("button", name="Abrir el chat de ayuda")).to_be_visible()
        page.screenshot(path=str(shots / "phone-4-closed.png"))
        assert errors == []
    finally:
        context.close()

    desktop = browser.new_context(**DESKTOP, locale="es-ES")
    try:
        page = open_widget(bridge.base_url, desktop, errors)  # type: ignore[attr-defined]
        expect(page.locator(".foot")).to_be_visible()       # a keyboard: the hint stays
        box = page.get_by_role("dialog").bounding_box()
        assert box is not None and box["width"] == 380
    finally:
        desktop.close()


def test_delivery_marks_and_the_rating_come_back_after_a_reload(bridge: ThreadedBridge, browser: Any,
                                                               tmp_path: Path) -> None:
    expect.set_options(timeout=10_000)
    shots = shots_dir(tmp_path)
    context = browser.new_context(**DESKTOP, locale="es-ES")
    errors: List[str] = []
    try:
        page = open_widget(bridge.base_url, context, errors)  # type: ignore[attr-defined]
        log = page.locator("#ta-log")
        send(page, "hola")
        expect(log).to_contain_text("Eco: hola")
        mine = log.locator(".msg.customer").filter(has_text="hola")
        expect(mine.locator(".meta")).to_contain_text("Enviado ✓")
        page.reload()
        expect(mine.locator(".meta")).to_contain_text("Enviado ✓")   # from the server's history

        # a rating asked and not answered: back after a reload, about the right agent,
        # even when the browser kept nothing of the handoff (another tab, storage cleared)
        send(page, "agente")
        expect(page.locator(".status")).to_contain_text("posición 1")
        agent, cid = claim(bridge, "Ana")
        expect(log).to_contain_text("Ana se ha unido a la conversación")
        assert bridge.server is not None
        bridge.run(bridge.server.bridge.close(agent, cid, "resolved"))
        expect(page.locator(".csat")).to_contain_text("¿Qué tal te ha atendido Ana?")
        page.evaluate("""() => ['handoff', 'notices'].forEach(
            k => localStorage.removeItem('tiendaAurora.chat.' + k))""")
        page.reload()
        expect(page.locator(".csat")).to_contain_text("¿Qué tal te ha atendido Ana?")
        expect(page.locator(".csat")).to_have_count(1)

        # answered: after a reload it shows as given, and is not asked again
        page.get_by_role("button", name="5 de 5").click()
        expect(log).to_contain_text("¡Gracias por tu valoración!")
        page.reload()
        expect(log).to_contain_text("¡Gracias por tu valoración!")
        expect(page.locator(".csat")).to_have_count(1)
        expect(page.locator(".csat")).to_contain_text("Has valorado la atención con un 5 de 5.")
        expect(page.locator(".csat .score")).to_have_count(0)
        expect(mine.locator(".meta")).to_contain_text("Enviado ✓")
        page.screenshot(path=str(shots / "reload-1-desktop-rated.png"))

        # answered while the connection was down, then the page closed: the next
        # visit sends that rating instead of asking again
        send(page, "agente")
        expect(page.locator(".status")).to_contain_text("posición 1")
        agent, cid = claim(bridge, "Marta")
        expect(log).to_contain_text("Marta se ha unido a la conversación")
        bridge.run(bridge.server.bridge.close(agent, cid, "resolved"))
        card = page.locator(".csat").filter(has_text="Marta")
        expect(card).to_be_visible()
        context.set_offline(True)
        expect(page.locator(".conn")).to_be_visible()
        card.get_by_role("button", name="4 de 5").click()
        page.close()
        context.set_offline(False)
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(bridge.base_url + "/")  # type: ignore[attr-defined]
        log = page.locator("#ta-log")
        expect(log.locator(".csat").filter(has_text="¡Gracias por tu valoración!")).to_have_count(2)  # on each card
        expect(page.locator(".csat .score")).to_have_count(0)
        expect(page.locator(".csat").last).to_contain_text("Has valorado la atención con un 4 de 5.")
        rows = bridge.run(bridge.server.bridge.storage.csat_rows())
        assert [r["score"] for r in rows] == [5, 4]
        assert errors == []
    finally:
        context.close()


def test_the_shop_page_and_the_way_out_of_the_queue_speak_usted(usted_bridge: ThreadedBridge, browser: Any,
                                                                 tmp_path: Path) -> None:
    expect.set_options(timeout=10_000)
    shots = shots_dir(tmp_path)
    context = browser.new_context(**PHONE_CONTEXT, locale="es-ES")
    errors: List[str] = []
    try:
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(usted_bridge.base_url + "/")  # type: ignore[attr-defined]
        shop_text = page.evaluate("() => document.body.innerText")
        assert "le ayuda al momento" in shop_text
        assert not tu_forms(shop_text), tu_forms(shop_text)
        page.get_by_role("button", name="Abrir el chat de ayuda").click()
        send(page, "agente")
        status = page.locator(".status")
        expect(status).to_contain_text("¿Ya no lo necesita? Puede volver al asistente sin esperar.")
        page.screenshot(path=str(shots / "usted-1-phone-queued-leave.png"))
        status.get_by_role("button", name="Volver al asistente").click()
        log = page.locator("#ta-log")
        expect(log).to_contain_text(QUEUE_LEFT_LINE)      # the one line for leaving (the bot's)
        expect(log.locator(".notice").filter(has_text="Ha salido de la cola")).to_have_count(0)
        widget_text = page.evaluate("""() => document.getElementById('tienda-aurora-chat').shadowRoot
            .querySelector('.panel').innerText""")
        lines = "\n".join(line for line in widget_text.split("\n") if QUEUE_LEFT_LINE not in line
                          and not line.startswith("Eco") and "Te paso" not in line)  # the stand-in Rasa's tú
        assert not tu_forms(lines), tu_forms(lines)
        page.screenshot(path=str(shots / "usted-2-phone-left.png"))
        assert errors == []
    finally:
        context.close()


def test_leaving_the_queue_with_the_real_bot(stack: Any, browser: Any, tmp_path: Path) -> None:
    """The real Rasa answers the bridge's resume with utter_queue_left (its button
    queues again) and understands the next message as any other."""
    from tests.browser.test_widget_and_console import RASA_TIMEOUT_MS

    expect.set_options(timeout=10_000)
    shots = shots_dir(tmp_path)
    context = browser.new_context(**DESKTOP, locale="es-ES")
    errors: List[str] = []
    try:
        page = open_widget(stack.handoff_url, context, errors)
        log = page.locator("#ta-log")
        status = page.locator(".status")
        send(page, "quiero hablar con una persona")
        expect(status).to_contain_text("posición", timeout=RASA_TIMEOUT_MS)
        send(page, "ya no hace falta, gracias")
        expect(log).to_contain_text("he cancelado la espera", timeout=RASA_TIMEOUT_MS)
        expect(status).to_be_hidden()
        line = log.locator(".msg.bot").filter(has_text="he cancelado la espera")
        expect(line.get_by_role("button", name="Hablar con una persona")).to_be_enabled()
        page.screenshot(path=str(shots / "queue-3-desktop-real-bot-left.png"))
        send(page, "¿cuánto cuesta el envío?")
        expect(log.locator(".msg.bot").last).to_contain_text("envío", timeout=RASA_TIMEOUT_MS)
        send(page, "quiero hablar con una persona")
        expect(status.get_by_role("button", name="Volver al asistente")).to_be_visible(timeout=RASA_TIMEOUT_MS)
        status.get_by_role("button", name="Volver al asistente").click()
        expect(log.locator(".msg.bot").filter(has_text="he cancelado la espera")).to_have_count(2,
                                                                                           timeout=RASA_TIMEOUT_MS)
        expect(log.locator(".notice").filter(has_text="Has salido de la cola")).to_have_count(0)
        assert errors == []
    finally:
        context.close()


def test_a_phone_shopper_who_closed_the_chat_while_queued_reads_that_the_wait_ended(
        bridge: ThreadedBridge, browser: Any, tmp_path: Path) -> None:
    """Tester: queued web chats whose shopper had left stayed queued forever.
    After HANDOFF_QUEUE_ABANDON_AFTER_S without the shopper's page the wait
    ends (outcome ``abandoned``); back on the page, the shopper reads it and can
    ask for a person again."""
    import datetime as dt

    expect.set_options(timeout=10_000)
    shots = shots_dir(tmp_path)
    errors: List[str] = []
    context = browser.new_context(**PHONE_CONTEXT, locale="es-ES")
    try:
        page = open_widget(bridge.base_url, context, errors)  # type: ignore[attr-defined]
        send(page, "agente")
        expect(page.locator(".status")).to_contain_text("posición 1")
        state = context.storage_state()
        page.close()                                     # the browser goes: no socket any more
    finally:
        context.close()
    assert bridge.server is not None
    core = bridge.server.bridge

    async def socket_gone() -> None:                     # the bridge has seen the page go
        while core.customers:
            await asyncio.sleep(0.05)

    bridge.run(asyncio.wait_for(socket_gone(), 10))
    later = core.clock() + dt.timedelta(seconds=core.settings.queue_abandon_after_s + 61)
    core.clock = lambda: later
    assert bridge.run(core.abandon_idle()) == 1
    assert queue_ids(bridge) == []

    context = browser.new_context(**PHONE_CONTEXT, locale="es-ES", storage_state=state)
    try:
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(bridge.base_url + "/")  # type: ignore[attr-defined]
        expect(page.get_by_role("dialog")).to_be_visible()  # the chat was open: it opens again
        log = page.locator("#ta-log")
        told = log.locator(".notice.system").filter(has_text="la espera ha terminado")
        expect(told).to_have_count(1)
        expect(page.locator(".status")).to_be_hidden()
        expect(page.locator("#ta-sub")).to_have_text("Te responde el asistente virtual")
        page.screenshot(path=str(shots / "phone-5-abandoned-back.png"))
        told.get_by_role("button", name="Hablar con una persona").click()
        expect(page.locator(".status")).to_be_visible()   # (a hidden status box keeps its old text)
        expect(page.locator(".status")).to_contain_text("posición 1")
        assert len(queue_ids(bridge)) == 1
        assert errors == []
    finally:
        context.close()
