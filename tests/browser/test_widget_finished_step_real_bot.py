"""Issue 9's own case, against the real stack (Rasa + action server + bridge)
in Chromium: after an order is cancelled, its "No, mantenerlo" button is
disabled in the widget, and a press of it from an older client (another tab
still showing it, sent with ``reply_to``) is stored, never reaches Rasa, and
gets "Ese paso ya ha terminado…" instead of the bot's "¡Hasta pronto!"."""
from __future__ import annotations

import asyncio
import concurrent.futures
import json
from pathlib import Path
from typing import Any, Dict, List

import pytest
import websockets
from playwright.sync_api import expect

from handoff.texts import texts_for
from tests.actions.conftest import DemoOrders
from tests.browser.test_widget_and_console import RASA_TIMEOUT_MS, shots_dir
from tests.browser.test_widget_offline import open_widget

pytestmark = pytest.mark.slow


def press_from_an_old_tab(ws_url: str, session_id: str, title: str, payload: str, reply_to: str) -> List[Dict[str, Any]]:
    """Resume the session on a second socket, press the old button, and return
    the frames up to the bridge's answer (a thread: sync Playwright owns this loop)."""
    async def run() -> List[Dict[str, Any]]:
        async with websockets.connect(ws_url) as ws:
            await ws.send(json.dumps({"type": "start", "session_id": session_id, "after_id": 10**9}))
            seen: List[Dict[str, Any]] = []
            await ws.send(json.dumps({"type": "message", "text": title, "payload": payload,
                                      "reply_to": reply_to, "client_id": "old-tab-1"}))
            while True:
                frame = json.loads(await asyncio.wait_for(ws.recv(), 30))
                seen.append(frame)
                if frame.get("type") == "message" and frame.get("sender") in ("system", "bot"):
                    return seen

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, run()).result(timeout=60)


def test_a_cancelled_orders_keep_button_is_disabled_and_harmless(stack: Any, demo_data: Dict[str, Any],
                                                                 browser: Any, tmp_path: Path) -> None:
    expect.set_options(timeout=10_000)
    shots = shots_dir(tmp_path)
    order = DemoOrders(demo_data).all(status="processing")[-1]  # the e2e tests cancel the first ones
    context = browser.new_context(viewport={"width": 1280, "height": 820}, locale="es-ES")
    errors: List[str] = []
    try:
        page = open_widget(stack.handoff_url, context, errors)
        box = page.get_by_role("textbox", name="Escribe tu mensaje")
        log = page.locator("#ta-log")
        box.fill(f"quiero cancelar el pedido {order['order_id']}")
        box.press("Enter")
        expect(log.locator(".msg.bot").last).to_contain_text("email", timeout=RASA_TIMEOUT_MS)
        box.fill(order["email"])
        box.press("Enter")
        confirm = log.locator(".msg.bot").filter(has=page.get_by_role("button", name="No, mantenerlo"))
        expect(confirm).to_have_count(1, timeout=RASA_TIMEOUT_MS)
        keep = confirm.get_by_role("button", name="No, mantenerlo")
        confirm.get_by_role("button", name="Sí, cancelar").click()
        expect(log).to_contain_text("cancelado", timeout=RASA_TIMEOUT_MS)
        expect(keep).to_be_disabled()
        reply_to = confirm.get_attribute("data-id")
        assert reply_to

        session_id = json.loads(page.evaluate("() => localStorage.getItem('tiendaAurora.chat.session')"))
        ws_url = stack.handoff_url.replace("http://", "ws://") + "/ws/chat"
        frames = press_from_an_old_tab(ws_url, session_id, "No, mantenerlo", "/deny", reply_to)
        answer = frames[-1]
        assert answer["sender"] == "system" and answer["text"] == texts_for("tu")["step_over"]
        assert [f["client_id"] for f in frames if f["type"] == "ack"] == ["old-tab-1"]  # stored
        expect(log).to_contain_text("Ese paso ya ha terminado")  # the open widget is told too
        assert "Hasta pronto" not in log.inner_text()
        page.screenshot(path=str(shots / "front-7-desktop-real-bot-finished-step.png"))
        assert errors == []
    finally:
        context.close()
