"""Walkthrough: on a 390 px phone, out of hours, the widget said "Ahora
estamos fuera del horario de atención…" and the respond-by promise three
times (the status bar, the bridge's out-of-hours line and the queued notice),
and the queued notice moved above the out-of-hours line after a reload. Said
once, in one place of the log, live and after a reload; the status bar keeps
the place in the queue and the e-mail form. In-process bridge with the stand-in
Rasa (clock on a Sunday); Playwright's auto-waiting, no sleeps."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator, List

import pytest
from playwright.sync_api import Page, expect

from core.policy import load_policy
from handoff.sla import when_es
from tests.browser.test_widget_and_console import shots_dir
from tests.browser.test_widget_notice_order import log_lines
from tests.browser.test_widget_offline import ThreadedBridge, open_widget, send, start_bridge
from tests.browser.test_widget_outbox import PHONE_CONTEXT
from tests.handoff.conftest import CLOSED_TIME

pytestmark = pytest.mark.slow

OUT_OF_HOURS = "fuera del horario de atención"


@pytest.fixture
def closed_bridge(tmp_path: Path) -> Iterator[ThreadedBridge]:
    running = start_bridge(tmp_path, CLOSED_TIME, voice="tu")
    try:
        yield running
    finally:
        running.stop()


def promise_words() -> str:
    """What the bridge promises a shopper queued at CLOSED_TIME ("mañana antes de las 9:30")."""
    policy = load_policy()
    return when_es(policy.first_response_due(CLOSED_TIME), CLOSED_TIME, policy.tz)


def panel_text(page: Page) -> str:
    """Everything the open chat shows: status bar and log."""
    return page.locator("#ta-panel").inner_text()


def test_out_of_hours_the_promise_is_said_once_also_after_a_reload(
        closed_bridge: ThreadedBridge, browser: Any, tmp_path: Path) -> None:
    expect.set_options(timeout=10_000)
    shots = shots_dir(tmp_path)
    context = browser.new_context(**PHONE_CONTEXT, locale="es-ES")
    errors: List[str] = []
    when = promise_words()
    try:
        page = open_widget(closed_bridge.base_url, context, errors)  # type: ignore[attr-defined]
        send(page, "agente")
        status, log = page.locator(".status"), page.locator("#ta-log")
        expect(status).to_contain_text("posición 1")
        expect(log).to_contain_text(when)
        expect(log.locator(".notice").filter(has_text="Te hemos puesto en la cola")).to_have_count(1)
        expect(page.get_by_label("Déjanos tu correo y te escribiremos:")).to_be_visible()
        page.screenshot(path=str(shots / "out-of-hours-once-390-live.png"))
        shown = panel_text(page)
        assert shown.count(OUT_OF_HOURS) == 1, shown
        assert shown.count(when) == 1, shown
        live = log_lines(page)

        page.reload()
        expect(status).to_contain_text("posición 1")
        expect(log).to_contain_text(when)
        expect(log.locator(".notice").filter(has_text="Te hemos puesto en la cola")).to_have_count(1)
        page.screenshot(path=str(shots / "out-of-hours-once-390-reload.png"))
        shown = panel_text(page)
        assert shown.count(OUT_OF_HOURS) == 1, shown
        assert shown.count(when) == 1, shown
        assert log_lines(page) == live  # the same lines in the same order
        assert errors == []
    finally:
        context.close()
