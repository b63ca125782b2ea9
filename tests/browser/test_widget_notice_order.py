"""Issue 9 (walkthrough): the shopper's page was closed while Marta claimed
the chat and wrote; on the next visit «Marta se ha unido a la conversación»
came BELOW «Hola Julia, soy Marta…» (the notice was made from the handoff
frame sent after the history). The history's events place it where it
happened, and once. In-process bridge and stand-in Rasa, as
test_widget_queue_phone_reload.py; Playwright's auto-waiting, no sleeps."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator, List

import pytest
from playwright.sync_api import expect

from tests.browser.test_widget_offline import ThreadedBridge, open_widget, send, start_bridge
from tests.browser.test_widget_queue_phone_reload import DESKTOP, PriceRasa, claim
from tests.handoff.conftest import OPEN_TIME

pytestmark = pytest.mark.slow

GREETING = "Hola Julia, soy Marta. ¿En qué te ayudo?"


@pytest.fixture
def bridge(tmp_path: Path) -> Iterator[ThreadedBridge]:
    running = start_bridge(tmp_path, OPEN_TIME, PriceRasa, "tu")
    try:
        yield running
    finally:
        running.stop()


def log_lines(page) -> List[str]:  # type: ignore[no-untyped-def]
    """The log's notices and messages, in the order shown."""
    return page.locator("#ta-log").evaluate("""log => Array.from(log.children)
        .filter(n => n.matches('.notice, .msg')).map(n => (n.querySelector('.bubble') || n).textContent)""")


def test_the_join_notice_comes_back_before_the_agents_first_message(bridge: ThreadedBridge, browser) -> None:
    context = browser.new_context(**DESKTOP, locale="es-ES")
    errors: List[str] = []
    try:
        page = open_widget(bridge.base_url, context, errors)  # type: ignore[attr-defined]
        send(page, "agente")
        expect(page.locator(".status")).to_contain_text("posición 1")
        page.close()                                   # gone while Marta claims and writes
        agent, cid = claim(bridge, "Marta")
        assert bridge.server is not None
        bridge.run(bridge.server.bridge.agent_message(agent, cid, GREETING, None, None))  # type: ignore[arg-type]

        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(bridge.base_url + "/")  # type: ignore[attr-defined]
        log = page.locator("#ta-log")
        expect(log).to_contain_text(GREETING)
        expect(page.locator(".status")).to_contain_text("Marta te está atendiendo")
        joined = log.locator(".notice.joined")
        expect(joined).to_have_count(1)
        lines = log_lines(page)
        at = {text: n for n, text in enumerate(lines)}
        assert "Marta se ha unido a la conversación" in at and GREETING in at, lines
        assert at["Marta se ha unido a la conversación"] < at[GREETING], lines
        queued = [n for n, text in enumerate(lines) if text.startswith("Te hemos puesto en la cola")]
        assert len(queued) == 1 and queued[0] < at["Marta se ha unido a la conversación"], lines

        page.reload()                                  # and again: same order, once each
        expect(log).to_contain_text(GREETING)
        expect(joined).to_have_count(1)
        assert log_lines(page) == lines
        assert errors == []
    finally:
        context.close()
