"""Walkthrough (console at 1024 px): the canned-replies menu cut its own
label, a long e-mail stuck out of its conversation tab and broke mid-word in
the case card, the header cut the agent's name (for an id nobody reads
first), and a long tracking URL broke mid-word in the chat bubbles of the
console and the widget (and was not a link in the console). Checked at 1024
and 1440 px, the console at 390 px (one column: the claimed chat had a
150 px transcript and a 44 px reply box) and the widget at 390 px: nothing leaves its column, e-mails and
URLs break only at their own joints (after "@", "/", "=", "&", "-", before
"."), URLs are links, the whole name shows. Screenshots: $BROWSER_SCREENSHOTS
(or tmp_path). In-process bridge and stand-in Rasa; no sleeps."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest
from playwright.sync_api import Page, expect

from handoff.agents import add_agent
from tests.browser.test_widget_and_console import shots_dir
from tests.browser.test_widget_offline import ThreadedBridge, open_widget, send, start_bridge
from tests.browser.test_widget_outbox import PHONE_CONTEXT
from tests.handoff.conftest import CLOSED_TIME, OPEN_TIME, FakeRasa

pytestmark = pytest.mark.slow

URL = "https://www.correos.es/es/es/herramientas/localizador/envios/detalle?tracking-number=PQ4F6P0712345670128001X"
LONG_EMAIL = "maria.del.carmen.fernandez-villaverde@correo-electronico.example"
VERIFIED = "sebastian.iglesias@example.com"
AGENT = "María José Fernández-Villaverde"

# where a line may break inside an e-mail or a URL: (previous char, next char)
BREAKS_JS = """([root, needle]) => {
  const out = [];
  const scan = (node) => {
    const chars = [];
    const walker = document.createTreeWalker(node, NodeFilter.SHOW_TEXT);
    let t;
    while ((t = walker.nextNode())) {
      for (let i = 0; i < t.data.length; i++) {
        const r = document.createRange(); r.setStart(t, i); r.setEnd(t, i + 1);
        const rects = r.getClientRects();
        chars.push([t.data[i], rects.length ? rects[0].top : null]);
      }
    }
    const text = chars.map(c => c[0]).join('');
    let at = text.indexOf(needle);
    while (at >= 0) {
      for (let i = at + 1; i < at + needle.length; i++) {
        if (chars[i][1] !== null && chars[i - 1][1] !== null && chars[i][1] > chars[i - 1][1] + 2)
          out.push(chars[i - 1][0] + chars[i][0]);
      }
      at = text.indexOf(needle, at + needle.length);
    }
  };
  const host = document.getElementById('tienda-aurora-chat');
  const scope = root === 'widget' ? host.shadowRoot.querySelectorAll('*') : document.querySelectorAll(root + ' *');
  const all = Array.from(scope).filter(e => e.textContent.includes(needle));
  all.filter(e => !Array.from(e.children).some(c => c.textContent.includes(needle))).forEach(scan);
  return out;
}"""

# elements that stick out of the column (or the header) they are in
OVERFLOW_JS = """() => {
  const out = [];
  for (const box of document.querySelectorAll('.topbar, .sidebar, .workspace, .casecard')) {
    if (box.offsetParent === null && getComputedStyle(box).position !== 'fixed') continue;
    const edge = box.getBoundingClientRect();
    for (const e of box.querySelectorAll('*')) {
      if (e.closest('.sr') || !e.getClientRects().length) continue;
      const r = e.getBoundingClientRect();
      if (r.width && (r.right > edge.right + 1 || r.left < edge.left - 1))
        out.push(e.tagName + '.' + e.className + ': ' + (e.textContent || '').trim().slice(0, 50));
    }
  }
  return out;
}"""

# the agent's whole name within the header's box
NAME_SHOWN_JS = """(name) => {
  const me = document.getElementById('me');
  const walker = document.createTreeWalker(me, NodeFilter.SHOW_TEXT);
  let t;
  while ((t = walker.nextNode())) {
    const at = t.data.indexOf(name);
    if (at < 0) continue;
    const r = document.createRange(); r.setStart(t, at); r.setEnd(t, at + name.length);
    const box = r.getBoundingClientRect(), edge = me.getBoundingClientRect();
    let clip = t.parentElement, right = edge.right;
    for (; clip && clip !== me.parentElement; clip = clip.parentElement) {
      if (getComputedStyle(clip).overflow === 'visible') continue;
      if (clip.scrollWidth > clip.clientWidth && clip.contains(t)) {
        // a clipped box: the name must end before its edge (an ellipsis cuts even a pixel)
        const tail = document.createRange(); tail.selectNodeContents(clip);
        if (tail.getBoundingClientRect().right > box.right + 0.5 || clip === t.parentElement) return false;
      }
      right = Math.min(right, clip.getBoundingClientRect().right);
    }
    return box.right <= right + 0.5;
  }
  return false;
}"""

# the closed <select> shows its whole chosen label
SELECT_FITS_JS = """(id) => {
  const s = document.getElementById(id);
  const style = getComputedStyle(s);
  const ctx = document.createElement('canvas').getContext('2d');
  ctx.font = style.fontWeight + ' ' + style.fontSize + ' ' + style.fontFamily;
  const need = ctx.measureText(s.options[s.selectedIndex].text).width + parseFloat(style.paddingLeft) + 20;
  return [s.clientWidth, need];
}"""

EMAIL_JOINTS = ("@", "-")      # a break after these, or before "."
URL_JOINTS = ("/", "=", "&", "-", "?", "_")


def odd_breaks(page: Page, root: str, needle: str, joints: tuple) -> List[str]:
    return [pair for pair in page.evaluate(BREAKS_JS, [root, needle])
            if not (pair[0] in joints or pair[1] in ".?")]


class TrackingRasa(FakeRasa):
    """The stand-in Rasa plus a tracking answer with a long URL."""

    async def replies(self, sender: str, text: str) -> List[Dict[str, Any]]:
        if text == "seguimiento":
            return [{"recipient_id": sender, "text": f"Tu pedido 620327 va en camino. Síguelo aquí: {URL}. Llega el jueves."}]
        return await super().replies(sender, text)


@pytest.fixture
def bridge(tmp_path: Path) -> Iterator[ThreadedBridge]:
    running = start_bridge(tmp_path, OPEN_TIME, TrackingRasa, "tu")
    try:
        yield running
    finally:
        running.stop()


def test_console_at_1024_and_1440_and_the_widget_at_390_keep_long_names_emails_and_urls_tidy(
        bridge: ThreadedBridge, browser: Any, tmp_path: Path) -> None:
    expect.set_options(timeout=10_000)
    shots = shots_dir(tmp_path)
    assert bridge.server is not None and bridge.rasa is not None
    core = bridge.server.bridge
    found = bridge.run(core.store.get_customer_by_email(VERIFIED))
    bridge.rasa.verify_as = {"id": str(found.id), "name": found.name, "email": found.email,
                             "verified_order_id": "620327", "verified_by": "order_email"}
    errors: List[str] = []
    phone = browser.new_context(**PHONE_CONTEXT, locale="es-ES")
    other = browser.new_context(**PHONE_CONTEXT, locale="es-ES")
    contexts = [phone, other]
    try:
        shopper = open_widget(bridge.base_url, phone, errors)  # type: ignore[attr-defined]
        for text, answer in (("seguimiento", "Llega el jueves"), ("verifico", "Pedido verificado")):
            send(shopper, text)
            expect(shopper.locator("#ta-log")).to_contain_text(answer)
        send(shopper, "agente")
        expect(shopper.locator(".status")).to_contain_text("posición 1")
        # a second shopper, out of hours, leaves a long e-mail
        bridge.now = CLOSED_TIME
        late = open_widget(bridge.base_url, other, errors)  # type: ignore[attr-defined]
        send(late, "agente")
        expect(late.locator(".status")).to_contain_text("posición")
        late.get_by_label("Déjanos tu correo y te escribiremos:").fill(LONG_EMAIL)
        late.get_by_label("Déjanos tu correo y te escribiremos:").press("Enter")
        expect(late.locator(".status")).to_contain_text(LONG_EMAIL)
        bridge.now = OPEN_TIME
        late.screenshot(path=str(shots / "layout-390-widget-email.png"))
        assert odd_breaks(late, "widget", LONG_EMAIL, EMAIL_JOINTS) == []
        assert late.evaluate("() => document.documentElement.scrollWidth") <= 390
        _, token = bridge.run(add_agent(core.storage, AGENT, "supervisor"))  # the header has the view tabs too

        for width, height in ((1024, 768), (1440, 900), (390, 844)):
            context = browser.new_context(viewport={"width": width, "height": height}, locale="es-ES")
            contexts.append(context)
            console = context.new_page()
            console.on("pageerror", lambda exc: errors.append(str(exc)))
            console.goto(bridge.base_url + "/agent")  # type: ignore[attr-defined]
            console.get_by_label("Token de agente").fill(token)
            console.get_by_label("Token de agente").press("Enter")
            if width == 1024:
                entries = console.locator(".q-item")
                expect(entries).to_have_count(2)
                expect(entries.filter(has_text=LONG_EMAIL)).to_have_count(1)
                console.screenshot(path=str(shots / f"layout-{width}-queue.png"))
                assert console.evaluate(OVERFLOW_JS) == []
                assert odd_breaks(console, ".sidebar", LONG_EMAIL, EMAIL_JOINTS) == []
                entries.filter(has_text=LONG_EMAIL).get_by_role("button", name="Atender").click()
                expect(console.locator("#card-body")).to_contain_text(LONG_EMAIL)
                entries.filter(has_text="Verificado").get_by_role("button", name="Atender").click()
                expect(console.locator("#card-body")).to_contain_text(found.name)
                console.locator("#composer-text").fill(f"Hola, aquí tienes el enlace: {URL}")
                console.locator("#composer-text").press("Enter")
            tabs = console.locator(".tab")
            expect(tabs).to_have_count(2)
            expect(console.locator("#views")).to_be_visible()
            problems = []
            if not console.evaluate(NAME_SHOWN_JS, AGENT):
                problems.append("name cut: " + console.locator("#me").inner_text())
            client_width, needed = console.evaluate(SELECT_FITS_JS, "canned")
            if client_width < needed:
                problems.append(f"canned menu cut: {client_width} < {needed:.0f} px")
            problems += console.evaluate(OVERFLOW_JS)
            assert problems == [], problems

            # the verified customer: the tracking URL as a link, broken at its joints
            tabs.filter(has_text=found.name).click()
            transcript = console.locator("#transcripts .transcript:visible")
            expect(transcript).to_contain_text("aquí tienes el enlace")
            expect(transcript.locator(f'a[href="{URL}"]')).to_have_count(2)   # the bot's and the agent's
            console.screenshot(path=str(shots / f"layout-{width}-verified.png"), full_page=width == 390)
            assert console.evaluate(OVERFLOW_JS) == []
            if width == 390:
                # a phone (the walkthrough's claimed chat had a 150 px transcript, a 44 px reply box
                # and the send button off the screen): one column, everything within the screen
                assert console.evaluate("() => document.documentElement.scrollWidth") <= 390
                box = console.locator("#composer-text").bounding_box()
                send_box = console.get_by_role("button", name="Enviar").bounding_box()
                shown = transcript.bounding_box()
                assert box is not None and box["width"] >= 300, box
                assert send_box is not None and send_box["x"] + send_box["width"] <= 390, send_box
                assert shown is not None and shown["width"] >= 300 and shown["height"] >= 200, shown
            assert odd_breaks(console, "#transcripts", URL, URL_JOINTS) == []
            assert odd_breaks(console, "#casecard", VERIFIED, EMAIL_JOINTS) == []

            # the shopper with the long e-mail: tab, title and card
            tabs.filter(has_text=LONG_EMAIL).click()
            expect(console.locator("#conv-title")).to_have_text(LONG_EMAIL)
            console.screenshot(path=str(shots / f"layout-{width}-long-email.png"))
            assert console.evaluate(OVERFLOW_JS) == []
            for column in (".sidebar", ".conv-head", "#casecard"):
                assert odd_breaks(console, column, LONG_EMAIL, EMAIL_JOINTS) == [], column

        # the widget at 390 px: the agent's URL and the bot's, links broken at their joints
        log = shopper.locator("#ta-log")
        expect(log).to_contain_text("aquí tienes el enlace")
        expect(log.locator(f'a[href="{URL}"]')).to_have_count(2)
        shopper.screenshot(path=str(shots / "layout-390-widget-url.png"))
        assert odd_breaks(shopper, "widget", URL, URL_JOINTS) == []
        assert errors == []
    finally:
        for context in contexts:
            context.close()
