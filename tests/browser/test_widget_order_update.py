"""An order update reaching the open widget in Chromium (handoff/static/
widget.js renders the ``order_update`` frame), against an in-process bridge
with the stand-in Rasa: the shopper identified by the demo page's logged-in
mode sees the shop's «ya está en camino» with its buttons as it happens, and
once again (not twice) after a reload, from the history."""
from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any, Iterator, List

import pytest
from playwright.sync_api import expect

from tests.browser.test_widget_offline import ThreadedBridge, open_widget, send, start_bridge
from tests.handoff.order_updates import SECRET, SHIPPED, SHOPPER_EMAIL, post_event, shopper_order

pytestmark = pytest.mark.slow


@pytest.fixture
def shop_bridge(tmp_path: Path) -> Iterator[ThreadedBridge]:
    bridge = start_bridge(tmp_path, dt.datetime.now(dt.timezone.utc), shop_webhook_secret=SECRET, demo_identity=True)
    try:
        yield bridge
    finally:
        bridge.stop()


def test_the_open_widget_shows_the_update_live_and_once_after_a_reload(shop_bridge: ThreadedBridge,
                                                                       browser: Any) -> None:
    expect.set_options(timeout=10_000)
    context = browser.new_context(viewport={"width": 1280, "height": 820}, locale="es-ES")
    errors: List[str] = []
    try:
        page = open_widget(shop_bridge.base_url, context, errors)  # type: ignore[attr-defined]
        page.get_by_label("Correo del cliente").fill(SHOPPER_EMAIL)
        page.get_by_role("button", name="Entrar").click()
        send(page, "hola")
        expect(page.locator(".msg.bot").last).to_contain_text("Eco: hola")
        assert shop_bridge.server is not None
        order = shop_bridge.run(shopper_order(shop_bridge.server, "processing"))
        status, _ = shop_bridge.run(post_event(shop_bridge.server.port, "ship-browser", "order.shipped",
                                           {"order_id": order.order_id, **SHIPPED}, ts=int(time.time())))
        assert status == 200
        update = page.locator(".order-update")
        expect(update).to_have_count(1)
        expect(update).to_contain_text(f"¡Tu pedido {order.order_id} ya está en camino!")
        expect(update.get_by_role("button", name="¿Dónde está ahora?")).to_be_visible()
        expect(update.get_by_role("button", name="Hablar con una persona")).to_be_visible()

        page.reload()  # the next visit of the session: from the history, once
        told = page.locator(".notice.system").filter(has_text=f"¡Tu pedido {order.order_id} ya está en camino!")
        expect(told).to_have_count(1)
        assert errors == []
    finally:
        context.close()
