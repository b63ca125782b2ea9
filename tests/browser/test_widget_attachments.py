"""A shopper sends a photo and a PDF from the widget, in Chromium (desktop and a
390 px phone), against the in-process bridge of test_widget_offline: the photo
is shrunk in the browser to a JPEG, acknowledged (delivered mark), stored, and
the agent console shows it as a thumbnail after the claim; a file of another
type is refused in the widget in Spanish before anything is sent."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, List

import pytest
from playwright.sync_api import expect

from tests.browser import test_widget_offline as offline
from tests.browser.test_console_attachments import open_bridge, png  # noqa: F401  (fixture used by name)
from tests.browser.test_widget_and_console import shots_dir

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("viewport", [{"width": 1280, "height": 820}, {"width": 390, "height": 844}])
def test_a_photo_and_a_pdf_from_the_widget_reach_the_agent(open_bridge: offline.ThreadedBridge, browser: Any,
                                                          tmp_path: Path, viewport: dict) -> None:
    expect.set_options(timeout=10_000)
    shots = shots_dir(tmp_path)
    errors: List[str] = []
    photo = tmp_path / "altavoz roto.png"
    photo.write_bytes(png(2400, 1800, (200, 60, 40)))  # bigger than the widget sends: shrunk to 1600 px
    receipt = tmp_path / "recibo.pdf"
    receipt.write_bytes(b"%PDF-1.4\n% recibo\n%%EOF\n")
    other = tmp_path / "nota.txt"
    other.write_text("hola")
    context = browser.new_context(viewport=viewport, locale="es-ES")
    try:
        page = offline.open_widget(open_bridge.base_url, context, errors)  # type: ignore[attr-defined]
        offline.send(page, "agente")
        expect(page.locator(".notice").last).to_be_visible()
        page.locator('input[type="file"]').set_input_files(str(other))
        expect(page.locator(".notice.error").last).to_contain_text("Solo puedo enviar fotos")
        page.locator('input[type="file"]').set_input_files([str(photo), str(receipt)])
        sent = page.locator(".msg.customer").filter(has_text="altavoz roto.jpg")
        expect(sent.locator(".meta")).to_contain_text("✓")           # acknowledged: stored
        expect(page.locator(".msg.customer").filter(has_text="recibo.pdf").locator(".meta")).to_contain_text("✓")
        assert page.get_by_role("button", name="Adjuntar una foto o un PDF").is_visible()
        page.screenshot(path=str(shots / f"widget-attachments-{viewport['width']}.png"))

        conversation_id = page.evaluate("() => localStorage.getItem('tiendaAurora.chat.conversation') || ''")
        history = open_bridge.run(_stored_files(open_bridge))
        kinds = sorted((a["kind"], a["content_type"]) for a in history)
        assert kinds == [("document", "application/pdf"), ("photo", "image/jpeg")], (kinds, conversation_id)
        photo_info = next(a for a in history if a["kind"] == "photo")
        assert photo_info["size"] < 700 * 1024

        _, token = open_bridge.run(offline.add_agent_in(open_bridge, "Marta"))
        console = context.new_page()
        console.goto(open_bridge.base_url + "/agent")  # type: ignore[attr-defined]
        console.get_by_label("Token de agente").fill(token)
        console.get_by_label("Token de agente").press("Enter")
        console.locator(".q-item").get_by_role("button", name=re.compile("^Atender")).click()
        thumb = console.locator("a.att-photo img.att-thumb")
        expect(thumb).to_have_count(1)
        console.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=thumb.element_handle())
        assert max(thumb.evaluate("img => [img.naturalWidth, img.naturalHeight]")) == 1600
        expect(console.locator("a.att-doc")).to_contain_text("recibo.pdf")
        assert not errors, errors
    finally:
        context.close()


async def _stored_files(bridge: offline.ThreadedBridge) -> List[dict]:
    assert bridge.server is not None
    storage = bridge.server.bridge.storage
    [conversation] = [c for c in await storage.queue()]
    return [a for m in await storage.history(conversation.id) for a in m.data.get("attachments") or []]
