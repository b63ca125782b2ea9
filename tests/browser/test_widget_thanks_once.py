"""Walkthrough: after a rating the shopper was thanked twice (the card's line
and the bridge's thanks as a notice of its own; the NPS card said "¡Gracias!"
above the bridge's "¡Gracias por tu respuesta!"). One thank-you per answer, on
the answered card, live and after a reload. In-process bridge and stand-in
Rasa (policy with every customer asked the NPS question); no sleeps."""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Iterator, List

import pytest
from playwright.sync_api import Page, expect

from core.policy import load_policy
from tests.browser.test_widget_and_console import shots_dir
from tests.browser.test_widget_offline import ThreadedBridge, open_widget, send
from tests.browser.test_widget_outbox import PHONE_CONTEXT
from tests.browser.test_widget_queue_phone_reload import claim
from tests.handoff.conftest import OPEN_TIME, FakeRasa

pytestmark = pytest.mark.slow


@pytest.fixture
def nps_bridge(tmp_path: Path) -> Iterator[ThreadedBridge]:
    from core.store.seed import seed_store

    url = f"sqlite:///{tmp_path / 'store.db'}"
    seed_store(url)
    running = ThreadedBridge(url, OPEN_TIME, FakeRasa,
                             dataclasses.replace(load_policy(), brand_voice="tu", nps_share=1.0))
    running.base_url = running.start()  # type: ignore[attr-defined]
    try:
        yield running
    finally:
        running.stop()


def thanks_in_log(page: Page) -> int:
    return page.locator("#ta-log").inner_text().lower().count("gracias")


def test_a_rating_and_the_nps_answer_are_thanked_once_each(nps_bridge: ThreadedBridge, browser: Any,
                                                          tmp_path: Path) -> None:
    expect.set_options(timeout=10_000)
    shots = shots_dir(tmp_path)
    context = browser.new_context(**PHONE_CONTEXT, locale="es-ES")
    errors: List[str] = []
    try:
        page = open_widget(nps_bridge.base_url, context, errors)  # type: ignore[attr-defined]
        log = page.locator("#ta-log")
        send(page, "agente")
        expect(page.locator(".status")).to_contain_text("posición 1")
        agent, cid = claim(nps_bridge, "Ana")
        assert nps_bridge.server is not None
        nps_bridge.run(nps_bridge.server.bridge.close(agent, cid, "resolved"))
        csat = page.locator(".csat")
        expect(csat).to_contain_text("¿Qué tal te ha atendido Ana?")
        page.get_by_role("button", name="5 de 5").click()
        nps = page.locator(".nps-card")
        expect(nps).to_be_visible()                      # asked after the thanks: the thanks is here
        expect(csat).to_contain_text("¡Gracias por tu valoración!")
        assert thanks_in_log(page) == 1, log.inner_text()
        page.get_by_role("button", name="9 de 10").click()
        expect(nps).to_contain_text("¡Gracias por tu respuesta!")
        page.screenshot(path=str(shots / "thanks-once-390-live.png"))
        assert thanks_in_log(page) == 2, log.inner_text()

        page.reload()
        expect(page.locator(".csat")).to_contain_text("Has valorado la atención con un 5 de 5. ¡Gracias por tu valoración!")
        expect(page.locator(".nps-card")).to_contain_text("Has respondido 9 de 10. ¡Gracias por tu respuesta!")
        expect(page.locator(".csat .score")).to_have_count(0)
        page.screenshot(path=str(shots / "thanks-once-390-reload.png"))
        assert thanks_in_log(page) == 2, log.inner_text()
        rows = nps_bridge.run(nps_bridge.server.bridge.storage.csat_rows())
        assert [r["score"] for r in rows] == [5]
        assert errors == []
    finally:
        context.close()
