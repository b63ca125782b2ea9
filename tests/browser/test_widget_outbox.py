"""The widget's outbox and composer limits, in Chromium, against the real stack
(Rasa + action server + bridge, tests/conftest.py ``stack``).

A message the bridge refuses (here: longer than MAX_TEXT, put straight into
the localStorage outbox, as an older widget or a paste past maxlength could
leave it) must not loop: it is shown as not sent with the server's Spanish
reason, can be edited or discarded, and the rest of the outbox goes through
in order. The composer shows what is left near the limit.

Synchronisation is Playwright's auto-waiting (expect / locators) and the
order of frames on the socket, never sleeps. Screenshots go to tmp_path (or
$BROWSER_SCREENSHOTS when set).
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Dict, List

import pytest
from playwright.sync_api import Locator, Page, expect

from handoff.frames import MAX_TEXT
from tests.browser.test_widget_and_console import shots_dir

pytestmark = pytest.mark.slow

RASA_TIMEOUT_MS = 30_000
UI_TIMEOUT_MS = 10_000
KEY = "tiendaAurora.chat."          # widget.js: localStorage keys
TOO_LONG = "Tu mensaje es demasiado largo (máximo 4000 caracteres)"
DESKTOP = {"width": 1280, "height": 820}
PHONE = {"width": 390, "height": 844}
# A phone, not a narrow desktop window: with mobile emulation a page wider than
# the screen is zoomed out and the widget slid off the screen's edge.
PHONE_CONTEXT = {"viewport": PHONE, "is_mobile": True, "has_touch": True, "device_scale_factor": 2}


class Wire:
    """Every frame of the page's /ws/chat sockets, both ways, decoded."""

    def __init__(self, page: Page) -> None:
        self.sent: List[Dict[str, Any]] = []
        self.received: List[Dict[str, Any]] = []
        page.on("websocket", self._socket)

    def _socket(self, ws: Any) -> None:
        if not ws.url.endswith("/ws/chat"):
            return
        ws.on("framesent", lambda payload: self.sent.append(json.loads(payload)))
        ws.on("framereceived", lambda payload: self.received.append(json.loads(payload)))

    def clear(self) -> None:
        self.sent.clear()
        self.received.clear()

    def sent_with(self, client_id: str) -> List[Dict[str, Any]]:
        return [f for f in self.sent if f.get("client_id") == client_id]

    def received_of(self, kind: str) -> List[Dict[str, Any]]:
        return [f for f in self.received if f.get("type") == kind]


def outbox_item(client_id: str, text: str) -> Dict[str, Any]:
    """An outbox entry exactly as widget.js stores it."""
    return {"client_id": client_id, "frame": {"type": "message", "text": text, "client_id": client_id}, "text": text}


def long_text(length: int) -> str:
    """A pasted complaint of exactly ``length`` characters (code points)."""
    text = ("Hola, os escribo otra vez por mi pedido 101490, que sigue sin llegar. " * 100)[:length]
    assert len(text) == length
    return text


def open_with_outbox(page: Page, base: str, items: List[Dict[str, Any]]) -> None:
    """The shop page, with ``items`` waiting in the widget's outbox and the
    panel left open (as after typing while offline and reloading)."""
    page.goto(base + "/health")  # same origin, without the widget: set its storage first
    page.evaluate("""([key, items]) => {
        localStorage.clear();
        localStorage.setItem(key + 'outbox', JSON.stringify(items));
        localStorage.setItem(key + 'open', 'true');
    }""", [KEY, items])
    page.goto(base + "/")


def stored_outbox(page: Page) -> List[Dict[str, Any]]:
    return json.loads(page.evaluate("(key) => localStorage.getItem(key + 'outbox') || '[]'", KEY))


def customer(log: Locator, client_id: str) -> Locator:
    return log.locator(f'.msg.customer[data-client-id="{client_id}"]')


def delivered(node: Locator, timeout: int = UI_TIMEOUT_MS) -> None:
    expect(node).not_to_have_class(re.compile(r"\b(pending|refused)\b"), timeout=timeout)
    expect(node.locator(".meta")).to_contain_text("Enviado ✓", timeout=timeout)


def expect_refused(log: Locator, client_id: str) -> Locator:
    node = customer(log, client_id)
    expect(node).to_have_class(re.compile(r"\brefused\b"))
    expect(node.locator(".meta")).to_have_text("No enviado")
    expect(node.locator(".refusal")).to_contain_text(TOO_LONG)
    expect(node.get_by_role("button", name="Editar el mensaje no enviado")).to_be_visible()
    expect(node.get_by_role("button", name="Descartar el mensaje no enviado")).to_be_visible()
    return node


def send_and_wait(page: Page, text: str) -> Locator:
    """Type ``text`` in the composer, send it and wait for its ack: any frame
    sent before it has been answered by then (one socket, frames in order)."""
    box = page.get_by_role("textbox", name="Escribe tu mensaje")
    box.fill(text)
    box.press("Enter")
    node = page.locator("#ta-log .msg.customer").filter(has_text=text)
    delivered(node)
    return node


def test_refused_message_is_kept_aside_and_the_rest_of_the_outbox_goes_through(
    stack: Any, browser: Any, tmp_path: Path
) -> None:
    expect.set_options(timeout=UI_TIMEOUT_MS)
    shots = shots_dir(tmp_path)
    base = stack.handoff_url
    poison, hola, envio = "c-poison-1", "c-hola-1", "c-envio-1"
    poison_text = long_text(MAX_TEXT + 1200)
    context = browser.new_context(viewport=DESKTOP, locale="es-ES")
    errors: List[str] = []
    try:
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        wire = Wire(page)
        page.clock.install()  # time flows, but the resend timer can be run ahead below
        open_with_outbox(page, base, [outbox_item(poison, poison_text), outbox_item(hola, "hola"),
                                      outbox_item(envio, "¿cuánto tarda el envío?")])
        log = page.locator("#ta-log")

        # the two normal messages are acknowledged and answered, in order
        delivered(customer(log, hola), RASA_TIMEOUT_MS)
        delivered(customer(log, envio), RASA_TIMEOUT_MS)
        expect(log.locator(".msg.bot").filter(has_text="¡Hola!")).to_have_count(1, timeout=RASA_TIMEOUT_MS)
        expect(log.locator(".msg.bot").filter(has_text="El envío estándar tarda")).to_have_count(
            1, timeout=RASA_TIMEOUT_MS)
        bot_texts = log.locator(".msg.bot .bubble").all_inner_texts()
        greet = next(i for i, t in enumerate(bot_texts) if "¡Hola!" in t)
        shipping = next(i for i, t in enumerate(bot_texts) if "El envío estándar tarda" in t)
        assert greet < shipping, bot_texts

        # the poisoned one: not sent, the server's reason, edit and discard
        refused = expect_refused(log, poison)
        expect(refused.locator(".refusal")).to_have_attribute("role", "alert")
        # kept last, next to the composer, in sight
        expect(log.locator(".msg").last).to_have_attribute("data-client-id", poison)
        expect(refused.get_by_role("button", name="Editar el mensaje no enviado")).to_be_in_viewport()
        expect(log.locator(".notice.error")).to_have_count(0)
        assert [f["client_id"] for f in wire.sent if f["type"] == "message"] == [poison, hola, envio]
        acks = {f["client_id"]: int(f["id"]) for f in wire.received_of("ack")}
        assert set(acks) == {hola, envio} and acks[hola] < acks[envio]
        refusals = wire.received_of("error")
        assert [(f["code"], f.get("client_id")) for f in refusals] == [("message_too_long", poison)]
        assert refusals[0]["detail"] in refused.locator(".refusal").inner_text()
        kept = stored_outbox(page)
        assert [item["client_id"] for item in kept] == [poison]
        assert kept[0]["refused"]["code"] == "message_too_long"

        page.screenshot(path=str(shots / "outbox-refused-desktop.png"))
        page.set_viewport_size(PHONE)
        expect(refused.get_by_role("button", name="Descartar el mensaje no enviado")).to_be_in_viewport()
        page.screenshot(path=str(shots / "outbox-refused-390.png"))
        page.set_viewport_size(DESKTOP)

        # well past the resend delay, nothing loops: run the widget's timers
        # ahead, then a new message; by its ack, any resend would have been refused
        page.clock.run_for(60_000)
        send_and_wait(page, "gracias")
        assert len(wire.sent_with(poison)) == 1
        assert len(wire.received_of("error")) == 1

        # after a reload it is still shown as not sent, and still not sent
        wire.clear()
        page.reload()
        expect(log.locator(".msg.bot").filter(has_text="El envío estándar tarda")).to_have_count(1)
        expect_refused(log, poison)
        expect(customer(log, poison).locator(".refusal")).not_to_have_attribute("role", "alert")
        send_and_wait(page, "sigo aquí")
        expect(log.locator(".msg").last).to_have_attribute("data-client-id", poison)
        assert wire.sent_with(poison) == []
        assert wire.received_of("error") == []

        # discarded: gone from the chat and from localStorage
        customer(log, poison).get_by_role("button", name="Descartar el mensaje no enviado").click()
        expect(log.locator(".msg.customer.refused")).to_have_count(0)
        expect(page.get_by_role("textbox", name="Escribe tu mensaje")).to_be_focused()
        assert stored_outbox(page) == []

        # and never sent again, also after a reload
        wire.clear()
        page.reload()
        expect(log.locator(".msg.customer").filter(has_text="sigo aquí")).to_have_count(1)
        expect(log.locator(".msg.bot").filter(has_text="El envío estándar tarda")).to_have_count(1)
        expect(log.locator(".msg.customer.refused, .msg.customer.pending")).to_have_count(0)
        expect(log.locator(".notice.error")).to_have_count(0)
        assert poison_text[:40] not in log.inner_text()
        assert [f["type"] for f in wire.sent] == ["start"]
        assert wire.received_of("error") == []
        assert stored_outbox(page) == []
        assert errors == []
    finally:
        context.close()


def test_edit_puts_the_refused_text_back_to_shorten_and_send_as_new(
    stack: Any, browser: Any, tmp_path: Path
) -> None:
    expect.set_options(timeout=UI_TIMEOUT_MS)
    base = stack.handoff_url
    shots = shots_dir(tmp_path)
    poison = "c-poison-edit"
    poison_text = long_text(MAX_TEXT + 100)
    context = browser.new_context(**PHONE_CONTEXT, locale="es-ES")
    errors: List[str] = []
    try:
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        wire = Wire(page)
        open_with_outbox(page, base, [outbox_item(poison, poison_text)])
        log = page.locator("#ta-log")
        box = page.get_by_role("textbox", name="Escribe tu mensaje")
        counter = page.locator("#ta-count")
        live = page.locator("#ta-count-live")

        refused = expect_refused(log, poison)
        refused.get_by_role("button", name="Editar el mensaje no enviado").click()

        # back in the composer, whole, with the count of what is over
        expect(box).to_be_focused()
        expect(box).to_have_value(poison_text)
        expect(log.locator(".msg.customer")).to_have_count(0)
        assert stored_outbox(page) == []
        expect(counter).to_have_text("Sobran 100 caracteres: acórtalo para enviarlo")
        expect(counter).to_have_class(re.compile(r"\bover\b"))
        expect(box).to_have_attribute("aria-invalid", "true")
        expect(live).to_have_text("Sobran 100 caracteres: acórtalo para enviarlo")
        page.screenshot(path=str(shots / "edit-over-limit-390.png"))

        # too long still: Enter does not send it
        box.press("Enter")
        expect(live).to_have_text(re.compile(r"^No se ha enviado\. Sobran 100 caracteres"))
        expect(box).to_have_value(poison_text)
        expect(log.locator(".msg.customer")).to_have_count(0)

        # the shopper cuts the tail: 150 left, and it goes as a new message
        box.evaluate("(el) => el.setSelectionRange(3850, el.value.length)")
        box.press("Backspace")
        expect(counter).to_have_text("Quedan 150 caracteres")
        expect(counter).not_to_have_class(re.compile(r"\bover\b"))
        expect(box).not_to_have_attribute("aria-invalid", "true")
        box.press("Enter")
        expect(box).to_have_value("")
        expect(counter).to_be_hidden()
        sent = log.locator(".msg.customer")
        expect(sent).to_have_count(1)
        delivered(sent)
        new_id = sent.get_attribute("data-client-id")
        assert new_id and new_id != poison
        assert sent.locator(".bubble").inner_text() == poison_text[:3850].strip()
        expect(log.locator(".msg.bot")).not_to_have_count(0, timeout=RASA_TIMEOUT_MS)

        assert len(wire.sent_with(poison)) == 1                    # the refused one, once
        assert [len(f["text"]) for f in wire.sent_with(new_id)] == [len(poison_text[:3850].strip())]
        assert [f["client_id"] for f in wire.received_of("ack")] == [new_id]
        assert [f["client_id"] for f in wire.received_of("error")] == [poison]
        assert stored_outbox(page) == []
        assert errors == []
    finally:
        context.close()


def test_counter_shows_what_is_left_near_the_limit(stack: Any, browser: Any, tmp_path: Path) -> None:
    expect.set_options(timeout=UI_TIMEOUT_MS)
    shots = shots_dir(tmp_path)
    base = stack.handoff_url
    context = browser.new_context(**PHONE_CONTEXT, locale="es-ES")
    errors: List[str] = []
    try:
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        wire = Wire(page)
        page.goto(base + "/")
        page.get_by_role("button", name="Abrir el chat de ayuda").click()
        box = page.get_by_role("textbox", name="Escribe tu mensaje")
        counter = page.locator("#ta-count")
        live = page.locator("#ta-count-live")
        expect(box).to_be_focused()
        expect(box).to_have_attribute("aria-describedby", "ta-count")
        expect(live).to_have_attribute("aria-live", "polite")

        # far from the limit: no counter
        box.press_sequentially("hola")
        expect(counter).to_be_hidden()

        # close to it: what is left, shown and said politely once typing pauses
        box.fill("a" * 3870)
        box.press_sequentially("b" * 10)
        expect(counter).to_be_visible()
        expect(counter).to_have_text("Quedan 120 caracteres")
        expect(live).to_have_text("Quedan 120 caracteres")
        box.press("Backspace")
        expect(counter).to_have_text("Quedan 121 caracteres")

        # fits the 390 px phone: inside the panel, under the field, not clipped
        panel = page.locator("#ta-panel").bounding_box()
        field = box.bounding_box()
        shown = counter.bounding_box()
        assert panel and field and shown
        assert panel["x"] >= 0 and panel["x"] + panel["width"] <= PHONE["width"]
        assert panel["y"] >= 0 and panel["y"] + panel["height"] <= PHONE["height"]
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]  # the shop fits too
        assert shown["x"] >= panel["x"] and shown["x"] + shown["width"] <= panel["x"] + panel["width"]
        assert shown["y"] >= field["y"] + field["height"] - 1
        assert shown["y"] + shown["height"] <= panel["y"] + panel["height"]
        page.screenshot(path=str(shots / "counter-390.png"))

        # the limit stops typing
        box.fill("a" * 3999)
        expect(counter).to_have_text("Queda 1 carácter")
        box.press_sequentially("xyz")
        expect(box).to_have_value("a" * 3999 + "x")
        expect(counter).to_have_text("Has llegado al máximo de 4000 caracteres")

        # code points, like the server: an emoji counts one (two UTF-16 units
        # for maxlength), and 4000 of them are accepted; only the very last
        # place takes no emoji (it would need one unit more than is left)
        box.fill("a" * 3990)
        box.press_sequentially("😀" * 12)
        expect(box).to_have_value("a" * 3990 + "😀" * 9)
        expect(counter).to_have_text("Queda 1 carácter")
        box.press_sequentially("bc")
        text = "a" * 3990 + "😀" * 9 + "b"
        expect(box).to_have_value(text)
        expect(counter).to_have_text("Has llegado al máximo de 4000 caracteres")
        assert box.evaluate("(el) => el.value.length") == MAX_TEXT + 9
        box.press("Enter")
        sent = page.locator("#ta-log .msg.customer")
        expect(sent).to_have_count(1)
        delivered(sent)
        expect(counter).to_be_hidden()
        assert [f["text"] for f in wire.sent if f["type"] == "message"] == [text]
        assert wire.received_of("error") == []
        assert errors == []
    finally:
        context.close()
