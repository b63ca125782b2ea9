"""Accessibility and layout of the agent console and the chat widget, in
Chromium against an in-process bridge and the stand-in Rasa (fast: no model).

- axe-core (tests/browser/a11y.py, vendored release) finds no violation of
  impact serious or critical in the console (sign-in, a queue with entries, an
  open conversation with its transcript and case card) nor in the widget
  (closed launcher, open chat with bot messages and buttons, the queued
  notice, the rating request), on a desktop and on a 390 px phone;
- the console works from 1024 px wide: nothing overflows horizontally and the
  transcript keeps its room beside the queue and the case card (1024, 1280,
  1440);
- re-rendering the queue (every `queue` frame) keeps keyboard focus on the
  same entry's button, keeps a pending claim "Atendiendo…" and disabled until
  the bridge answers, and never takes focus from the reply box.

Screenshots go to $BROWSER_SCREENSHOTS (or tmp_path). Synchronisation is
Playwright's auto-waiting, never sleeps."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import pytest
from playwright.sync_api import Page, expect

from tests.browser.a11y import horizontal_overflow, serious_violations
from tests.browser.test_widget_and_console import shots_dir
from tests.browser.test_widget_offline import ThreadedBridge, add_agent_in, open_widget, send, start_bridge
from tests.browser.test_widget_outbox import PHONE_CONTEXT
from tests.browser.test_widget_queue_phone_reload import claim
from tests.handoff.conftest import OPEN_TIME

pytestmark = pytest.mark.slow

DESKTOP_CONTEXT = {"viewport": {"width": 1280, "height": 820}}
CONSOLE_SIZES = [(1024, 768), (1280, 800), (1440, 900)]


@pytest.fixture
def bridge(tmp_path: Path) -> Iterator[ThreadedBridge]:
    running = start_bridge(tmp_path, OPEN_TIME)
    try:
        yield running
    finally:
        running.stop()


def queued_shopper(browser: Any, bridge: ThreadedBridge, text: str, errors: List[str]) -> Tuple[Any, Page]:
    """A shopper of their own (browser context) who asks for a person with ``text``."""
    context = browser.new_context(**DESKTOP_CONTEXT, locale="es-ES")
    page = open_widget(bridge.base_url, context, errors)  # type: ignore[attr-defined]
    send(page, text)
    expect(page.locator(".status")).to_contain_text(re.compile(r"posición \d"))
    return context, page


def assert_no_violations(found: Dict[str, List[str]]) -> None:
    bad = {state: lines for state, lines in found.items() if lines}
    assert not bad, "axe-core, serious or critical:\n" + "\n".join(
        f"- {state}: {line}" for state, lines in bad.items() for line in lines)


def sign_in(page: Page, token: str) -> None:
    page.get_by_label("Token de agente").fill(token)
    page.get_by_label("Token de agente").press("Enter")
    expect(page.locator("#conn")).to_have_text("Conectado")


def focused_entry(page: Page) -> Dict[str, Any]:
    """Where keyboard focus is: the queue entry (conversation id) and the element."""
    return page.evaluate("""() => {
        const a = document.activeElement;
        const item = a && a.closest('#queue [data-conversation-id]');
        return {id: item ? item.getAttribute('data-conversation-id') : null,
                tag: a ? a.tagName : null, elementId: a ? a.id : null, text: a ? a.textContent : null};
    }""")


def layout(page: Page) -> Dict[str, Any]:
    return page.evaluate("""() => {
        const box = id => { const r = document.getElementById(id).getBoundingClientRect();
                            return {left: r.left, right: r.right, width: r.width, height: r.height}; };
        return {transcripts: box('transcripts'), composer: box('composer-text'), card: box('casecard'),
                sidebar: document.querySelector('.sidebar').getBoundingClientRect().width};
    }""")


@pytest.mark.parametrize("size", CONSOLE_SIZES, ids=lambda s: f"{s[0]}px")
def test_console_has_no_serious_violations_and_keeps_the_transcript_from_1024px(
        bridge: ThreadedBridge, browser: Any, tmp_path: Path, size: Tuple[int, int]) -> None:
    expect.set_options(timeout=10_000)
    shots = shots_dir(tmp_path)
    width, height = size
    errors: List[str] = []
    found: Dict[str, List[str]] = {}
    shoppers = []
    context = browser.new_context(viewport={"width": width, "height": height}, locale="es-ES")
    try:
        console = context.new_page()
        console.on("pageerror", lambda exc: errors.append(str(exc)))
        console.goto(bridge.base_url + "/agent")  # type: ignore[attr-defined]
        expect(console.get_by_label("Token de agente")).to_be_focused()
        found["sign-in"] = serious_violations(console)

        shoppers.append(queued_shopper(browser, bridge, "agente", errors))
        shoppers.append(queued_shopper(browser, bridge, "verificado", errors))
        _, token = bridge.run(add_agent_in(bridge, "Marta"))
        sign_in(console, token)
        entries = console.locator(".q-item")
        expect(entries).to_have_count(2)
        found["queue"] = serious_violations(console)
        assert horizontal_overflow(console) <= 0
        console.screenshot(path=str(shots / f"a11y-console-{width}-queue.png"))

        entries.filter(has_text="Verificado: Luis Prieto").get_by_role("button", name=re.compile("^Atender")).click()
        card = console.locator("#card-body")
        expect(card).to_contain_text("Pedido 101490")
        composer = console.locator("#composer-text")
        expect(composer).to_be_focused()
        composer.fill("Hola, soy Marta. Reviso tu pedido ahora mismo.")
        composer.press("Enter")
        transcript = console.locator(".transcript:visible")
        expect(transcript.locator(".line.agent")).to_contain_text(re.compile(r"(enviado ✓|entregado ✓✓)$"))
        console.get_by_label("Nota interna").check()
        composer.fill("Cliente amable; revisar el transportista.")
        composer.press("Enter")
        expect(transcript.locator(".line.note")).to_have_count(1)
        console.get_by_label("Respuesta al cliente").check()
        send(shoppers[1][1], "Gracias, espero")
        expect(transcript).to_contain_text("Gracias, espero")
        for n in range(1, 11):                       # enough lines for the transcript to scroll
            composer.fill(f"Línea {n} de la respuesta, para que la transcripción tenga que desplazarse.")
            composer.press("Enter")
        expect(transcript.locator(".line.agent.pending")).to_have_count(0)
        expect(transcript.locator(".line.agent")).to_have_count(11)
        assert console.evaluate("() => { const b = document.getElementById('transcripts'); "
                                "return b.scrollHeight > b.clientHeight; }")
        found["conversation"] = serious_violations(console)
        console.screenshot(path=str(shots / f"a11y-console-{width}-conversation.png"))

        # the transcript keeps its room beside the queue and the case card; nothing overflows
        assert horizontal_overflow(console) <= 0
        boxes = layout(console)
        assert boxes["transcripts"]["width"] >= 440, boxes
        assert boxes["transcripts"]["height"] >= 0.35 * height, boxes
        assert boxes["composer"]["right"] <= width and boxes["transcripts"]["right"] <= width, boxes
        overflowing = console.evaluate("""() => Array.from(document.querySelectorAll('#app *'))
            .filter(n => n.offsetParent !== null && n.getBoundingClientRect().right > window.innerWidth + 0.5)
            .map(n => n.tagName + '.' + n.className).slice(0, 5)""")
        assert overflowing == []

        assert_no_violations(found)
        assert errors == []
    finally:
        for shopper_context, _ in shoppers:
            shopper_context.close()
        context.close()


@pytest.mark.parametrize("device", ["desktop", "phone"])
def test_widget_has_no_serious_violations(bridge: ThreadedBridge, browser: Any, tmp_path: Path, device: str) -> None:
    expect.set_options(timeout=10_000)
    shots = shots_dir(tmp_path)
    errors: List[str] = []
    found: Dict[str, List[str]] = {}
    context = browser.new_context(**(PHONE_CONTEXT if device == "phone" else DESKTOP_CONTEXT), locale="es-ES")
    try:
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(bridge.base_url + "/")  # type: ignore[attr-defined]
        launcher = page.get_by_role("button", name="Abrir el chat de ayuda")
        expect(launcher).to_be_visible()
        found["launcher"] = serious_violations(page)
        page.screenshot(path=str(shots / f"a11y-widget-{device}-1-launcher.png"))

        launcher.click()
        found["open, intro"] = serious_violations(page)
        send(page, "botones")
        log = page.locator("#ta-log")
        chip = log.locator(".msg.bot .chip").filter(has_text="Hablar con una persona")
        expect(chip).to_be_enabled()
        expect(log).to_contain_text("Segundo mensaje")
        found["bot messages and buttons"] = serious_violations(page)
        page.screenshot(path=str(shots / f"a11y-widget-{device}-2-buttons.png"))

        chip.click()
        status = page.locator(".status")
        expect(status).to_contain_text("posición 1")
        expect(status.get_by_role("button", name="Volver al asistente")).to_be_visible()
        found["queued"] = serious_violations(page)
        page.screenshot(path=str(shots / f"a11y-widget-{device}-3-queued.png"))

        agent, cid = claim(bridge, "Ana")
        expect(log).to_contain_text("Ana se ha unido a la conversación")
        assert bridge.server is not None
        bridge.run(bridge.server.bridge.close(agent, cid, "resolved"))
        expect(page.locator(".csat")).to_contain_text("¿Qué tal te ha atendido Ana?")
        found["rating request"] = serious_violations(page)
        page.screenshot(path=str(shots / f"a11y-widget-{device}-4-csat.png"))
        assert horizontal_overflow(page) <= 0

        assert_no_violations(found)
        assert errors == []
    finally:
        context.close()


def test_queue_rerender_keeps_focus_and_a_pending_claim(bridge: ThreadedBridge, browser: Any, tmp_path: Path) -> None:
    expect.set_options(timeout=10_000)
    errors: List[str] = []
    shoppers = []
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="es-ES")
    try:
        console = context.new_page()
        console.on("pageerror", lambda exc: errors.append(str(exc)))
        # claims are held here until the test lets them through: the answer comes late
        holding = {"on": True}
        held: List[str] = []

        def route(ws: Any) -> None:
            server = ws.connect_to_server()

            def from_page(message: Any) -> None:
                if holding["on"] and isinstance(message, str) and '"type":"claim"' in message.replace(" ", ""):
                    held.append(message)
                else:
                    server.send(message)
            ws.on_message(from_page)
            routes.append(server)

        routes: List[Any] = []
        console.route_web_socket(re.compile(r"/ws/agent$"), route)
        console.goto(bridge.base_url + "/agent")  # type: ignore[attr-defined]
        shoppers.append(queued_shopper(browser, bridge, "agente", errors))
        shoppers.append(queued_shopper(browser, bridge, "verificado", errors))
        _, token = bridge.run(add_agent_in(bridge, "Marta"))
        sign_in(console, token)
        entries = console.locator(".q-item")
        expect(entries).to_have_count(2)
        second = entries.nth(1)
        second_id = second.get_attribute("data-conversation-id")

        # focus on the second entry's button; a new shopper re-renders the queue
        second.get_by_role("button", name=re.compile("^Atender")).focus()
        shoppers.append(queued_shopper(browser, bridge, "agente", errors))
        expect(entries).to_have_count(3)
        assert focused_entry(console)["id"] == second_id
        assert focused_entry(console)["tag"] == "BUTTON"

        # pressed: "Atendiendo…", disabled, and still focused after another re-render
        console.keyboard.press("Enter")
        pending = console.locator(f'.q-item[data-conversation-id="{second_id}"] button')
        expect(pending).to_have_text("Atendiendo…")
        expect(pending).to_be_disabled()
        assert len(held) == 1
        console.keyboard.press("Enter")              # pressed again while pending: nothing more is sent
        shoppers.append(queued_shopper(browser, bridge, "agente", errors))
        expect(entries).to_have_count(4)
        expect(pending).to_have_text("Atendiendo…")
        expect(pending).to_be_disabled()
        assert focused_entry(console)["id"] == second_id
        assert len(held) == 1

        # the answer comes: the conversation opens with the reply box focused
        holding["on"] = False
        for message in held:
            routes[-1].send(message)
        expect(console.locator("#card-body")).to_contain_text("Luis Prieto")
        composer = console.locator("#composer-text")
        expect(composer).to_be_focused()
        expect(entries).to_have_count(3)

        # typing a reply while the queue changes: focus stays in the reply box
        composer.type("Hola, ")
        shoppers.append(queued_shopper(browser, bridge, "agente", errors))
        expect(entries).to_have_count(4)
        expect(composer).to_be_focused()
        composer.type("Luis.")
        expect(composer).to_have_value("Hola, Luis.")

        # the focused entry is claimed elsewhere (leaves the queue): focus goes to the
        # next entry's button, not to the page's body
        first = entries.nth(0)
        first.get_by_role("button", name=re.compile("^Atender")).focus()
        first_id = first.get_attribute("data-conversation-id")
        next_id = entries.nth(1).get_attribute("data-conversation-id")

        async def claimed_elsewhere() -> None:
            from handoff.agents import add_agent
            assert bridge.server is not None
            core = bridge.server.bridge
            other, _ = await add_agent(core.storage, "Ana")
            await core.claim(other, first_id)

        bridge.run(claimed_elsewhere())
        expect(entries).to_have_count(3)
        assert focused_entry(console)["id"] == next_id
        assert errors == []
    finally:
        for shopper_context, _ in shoppers:
            shopper_context.close()
        context.close()
