"""The shopper's promise in Chromium (issue 10), against an in-process bridge
with the stand-in Rasa: the widget's queued notice and status say by when a
person will answer; the agent console counts each queued conversation's time
down live and marks the one whose promise passed; that shopper reads the
apology with a new time. The bridge's clock is set by the test and the SLA
sweep is called directly (no waiting for its 30 s period)."""
from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any, Iterator
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from tests.browser.test_widget_and_console import shots_dir
from tests.browser.test_widget_offline import ThreadedBridge, add_agent_in, open_widget, send, start_bridge
from tests.handoff.conftest import OPEN_TIME

pytestmark = pytest.mark.slow
MADRID = ZoneInfo("Europe/Madrid")


@pytest.fixture
def open_bridge(tmp_path: Path) -> Iterator[ThreadedBridge]:
    bridge = start_bridge(tmp_path, OPEN_TIME)  # Monday 12:00 in Madrid
    try:
        yield bridge
    finally:
        bridge.stop()


def hm(value: dt.datetime) -> str:
    local = value.astimezone(MADRID)
    return f"{local.hour}:{local.minute:02d}"


def test_the_widget_shows_the_promise_and_the_console_counts_down_and_marks_the_breach(
        open_bridge: ThreadedBridge, browser: Any, tmp_path: Path) -> None:
    expect.set_options(timeout=10_000)
    shots = shots_dir(tmp_path)
    bridge = open_bridge.server.bridge  # type: ignore[union-attr]
    policy = bridge.policy
    errors: list = []
    first_ctx = browser.new_context(viewport={"width": 1280, "height": 820}, locale="es-ES")
    second_ctx = browser.new_context(viewport={"width": 1280, "height": 820}, locale="es-ES")
    console_ctx = browser.new_context(viewport={"width": 1440, "height": 900}, locale="es-ES")
    try:
        # the first shopper, queued at 12:00: promised 12:00 + the target
        first = open_widget(open_bridge.base_url, first_ctx, errors)  # type: ignore[attr-defined]
        send(first, "agente")
        due = policy.first_response_due(OPEN_TIME)
        promise = f"Te respondemos antes de las {hm(due)}."
        log, status = first.locator("#ta-log"), first.locator(".status")
        expect(log).to_contain_text("Te hemos puesto en la cola para hablar con una persona del equipo. " + promise)
        expect(status).to_contain_text(promise)
        first.screenshot(path=str(shots / "promise-1-widget-queued.png"))

        # a second shopper twenty minutes later
        open_bridge.now = OPEN_TIME + dt.timedelta(minutes=20)
        second = open_widget(open_bridge.base_url, second_ctx, errors)  # type: ignore[attr-defined]
        send(second, "agente")
        second_due = policy.first_response_due(open_bridge.now)
        expect(second.locator(".status")).to_contain_text(f"Te respondemos antes de las {hm(second_due)}.")
        expect(second.locator(".status")).to_contain_text("posición 2")

        # a minute past the first promise: the sweep apologises to the first shopper, with a new time
        late = due + dt.timedelta(minutes=1)
        open_bridge.now = late
        assert open_bridge.run(bridge.sla_sweep()) == 1
        new = policy.breach_new_promise(late)
        expect(log).to_contain_text(f"Perdona la espera: no hemos llegado a responderte antes de las {hm(due)}, "
                                    f"como te dijimos. Sigues en la cola y te respondemos antes de las {hm(new)}.")
        expect(status).to_contain_text(f"Te respondemos antes de las {hm(new)}.")
        first.screenshot(path=str(shots / "promise-2-widget-apology.png"))

        # the console: the first marked late, the second counting down live
        _, token = open_bridge.run(add_agent_in(open_bridge, "Marta"))
        console = console_ctx.new_page()
        console.on("pageerror", lambda exc: errors.append(str(exc)))
        console.goto(open_bridge.base_url + "/agent")  # type: ignore[attr-defined]
        console.get_by_label("Token de agente").fill(token)
        console.get_by_label("Token de agente").press("Enter")
        entries = console.locator(".q-item")
        expect(entries).to_have_count(2)
        late_entry, waiting_entry = entries.nth(0), entries.nth(1)
        expect(late_entry).to_have_class(re.compile(r"\bbreached\b"))
        expect(late_entry.locator(".sla.breached")).to_contain_text(re.compile(r"SLA vencido hace 1:0\d"))
        countdown = waiting_entry.locator(".sla")
        expect(waiting_entry).not_to_have_class(re.compile(r"\bbreached\b"))
        left = int((second_due - late).total_seconds())
        expect(countdown).to_contain_text(re.compile(r"Responder en \d+:\d\d"))
        shown = countdown.inner_text()
        minutes, seconds = map(int, re.search(r"(\d+):(\d\d)", shown).groups())  # type: ignore[union-attr]
        assert left - 3 <= minutes * 60 + seconds <= left
        expect(countdown).not_to_have_text(shown)  # it ticks on its own
        assert "antes de las" in (late_entry.locator(".sla").get_attribute("title") or "")
        console.screenshot(path=str(shots / "promise-3-console-countdown-breach.png"))

        # claimed and still unanswered: the card shows the breach too; a reply ends the countdown
        late_entry.get_by_role("button", name=re.compile("^Atender")).click()
        expect(console.locator("#conv-sla .sla.breached")).to_be_visible()
        console.screenshot(path=str(shots / "promise-4-console-claimed-breach.png"))
        console.locator("#composer-text").fill("Hola, soy Marta. Perdona la espera.")
        console.locator("#composer-text").press("Enter")
        expect(log).to_contain_text("Hola, soy Marta. Perdona la espera.")
        expect(console.locator("#conv-sla")).to_be_hidden()
        assert not errors, errors
    finally:
        for context in (first_ctx, second_ctx, console_ctx):
            context.close()
