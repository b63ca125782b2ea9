"""Walkthrough (console at 1024 px): after «Cerrar conversación» the
transcript did not show its end: the closing notice was added and the view
scrolled to it, then the header and the (now disabled) composer were drawn
again and the transcript's box changed size, leaving the last lines below
its edge. The same happened when the supervisor came back from «Informes»
(a hidden transcript forgets where it was) and when a transfer or a missed
promise was noted. Checked here: the transcript shows its end when a
conversation is claimed, after each new line, after it is closed, after the
page is reloaded, when the supervisor comes back from the reports view, and
an earlier conversation's transcript (the dialog) opens at its end.
In-process bridge and stand-in Rasa; Playwright's waiting, no sleeps."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator, List

import pytest
from playwright.sync_api import Page, expect

from handoff.agents import add_agent
from tests.browser.test_widget_and_console import shots_dir
from tests.browser.test_widget_offline import ThreadedBridge, start_bridge
from tests.handoff.conftest import OPEN_TIME
from tests.handoff.test_reports import _customer

pytestmark = pytest.mark.slow

# the visible transcript's end is inside the transcript's box (and nothing is left to scroll)
AT_END_JS = """(selector) => {
  const box = document.querySelector(selector);
  if (!box || !box.getClientRects().length) return false;
  const items = [...box.querySelectorAll('li')].filter(li => li.getClientRects().length);
  if (!items.length) return false;
  const last = items[items.length - 1].getBoundingClientRect(), edge = box.getBoundingClientRect();
  return box.scrollHeight - box.scrollTop - box.clientHeight <= 2 && last.bottom <= edge.bottom + 1
    && last.top >= edge.top - 1;
}"""


class _Clock:
    def __init__(self, bridge: ThreadedBridge) -> None:
        self._bridge = bridge

    @property
    def at(self) -> Any:
        return self._bridge.now

    @at.setter
    def at(self, moment: Any) -> None:
        self._bridge.now = moment


@pytest.fixture
def bridge(tmp_path: Path) -> Iterator[ThreadedBridge]:
    running = start_bridge(tmp_path, OPEN_TIME)
    try:
        yield running
    finally:
        running.stop()


def long_conversation(bridge: ThreadedBridge, lines: int = 24) -> str:
    """A web conversation with ``lines`` customer messages (each answered by
    the stand-in bot) and then a handoff: longer than the transcript's box."""
    assert bridge.server is not None
    core = bridge.server.bridge

    async def build() -> str:
        clock = _Clock(bridge)
        cid = await _customer(core, clock, OPEN_TIME, "hola")
        for n in range(lines):
            await _customer(core, clock, OPEN_TIME, f"mensaje {n + 1} del cliente, con algo de texto para ocupar sitio",
                            conversation_id=cid)
        await _customer(core, clock, OPEN_TIME, "agente", conversation_id=cid)
        return cid

    return bridge.run(build())


def at_end(page: Page, selector: str = "#transcripts") -> None:
    page.wait_for_function(AT_END_JS, arg=selector, timeout=5_000)


def sign_in(page: Page, base_url: str, token: str) -> None:
    page.goto(base_url + "/agent")
    page.get_by_label("Token de agente").fill(token)
    page.get_by_label("Token de agente").press("Enter")
    expect(page.locator("#conn")).to_have_text("Conectado")


@pytest.mark.parametrize("width,height", [(1024, 768), (1440, 900)])
def test_the_transcript_shows_its_end_after_close_reload_and_the_reports_view(
        bridge: ThreadedBridge, browser: Any, tmp_path: Path, width: int, height: int) -> None:
    expect.set_options(timeout=10_000)
    shots = shots_dir(tmp_path)
    assert bridge.server is not None
    core = bridge.server.bridge
    long_conversation(bridge)
    _, token = bridge.run(add_agent(core.storage, "Sonia", "supervisor"))
    errors: List[str] = []
    context = browser.new_context(viewport={"width": width, "height": height}, locale="es-ES")
    try:
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        sign_in(page, bridge.base_url, token)  # type: ignore[attr-defined]
        page.locator(".q-item").get_by_role("button", name="Atender").click()
        transcript = page.locator("#transcripts .transcript:visible")
        expect(transcript).to_contain_text("mensaje 24 del cliente")
        # the transcript is longer than its box: there is something to scroll
        assert page.evaluate("() => { const b = document.getElementById('transcripts');"
                             " return b.scrollHeight > b.clientHeight + 100; }")
        at_end(page)

        page.locator("#composer-text").fill("Hola, soy Sonia. Lo miro ahora mismo.")
        page.locator("#composer-text").press("Enter")
        expect(transcript.locator(".line.agent")).to_contain_text("enviado")
        at_end(page)

        # the reports view and back: the transcript where it was left, at its end
        page.get_by_role("button", name="Informes").click()
        expect(page.locator("#rep-status")).to_contain_text("Informe del")
        page.get_by_role("button", name="Conversaciones").click()
        expect(page.locator("#conv")).to_be_visible()
        at_end(page)

        # the reload: the conversation comes back from the bridge, shown at its end
        page.reload()
        expect(page.locator("#conn")).to_have_text("Conectado")
        expect(transcript).to_contain_text("Lo miro ahora mismo")
        at_end(page)

        head = page.locator(".conv-head").bounding_box()
        page.get_by_role("button", name="Cerrar conversación").click()
        notice = transcript.locator(".event", has_text="Conversación cerrada")
        expect(notice).to_have_count(1)
        expect(page.locator("#conv-sub")).to_contain_text("CERRADA")
        at_end(page)
        expect(notice).to_be_in_viewport()
        # the header kept its height (« · CERRADA» used to push the actions to a second row at 1440)
        assert page.locator(".conv-head").bounding_box()["height"] == pytest.approx(head["height"], abs=1)
        page.screenshot(path=str(shots / f"console-{width}-closed.png"))
        assert errors == []
    finally:
        context.close()

