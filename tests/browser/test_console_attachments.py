"""The agent console with a Telegram customer's files, in Chromium, against the
in-process bridge of test_widget_offline (stand-in Rasa, no Telegram): the
conversation is made through the bridge's own API, as handoff/channels/telegram/
does (``open_session(channel="telegram")``, ``set_profile(display_name=...)``,
``add_attachment`` + ``customer_attachments``). The agent sees the channel badge
and the unverified Telegram name in the queue and the case card, the photo as a
thumbnail whose signed URL loads, the document as a download link, and a photo
sent after the claim live."""
from __future__ import annotations

import re
import struct
import zlib
from pathlib import Path
from typing import Any, Dict, Iterator

import pytest
from playwright.sync_api import expect

from core.store.seed import seed_store
from handoff.bridge import Bridge
from tests.browser import test_widget_offline as offline
from tests.browser.test_widget_and_console import shots_dir
from tests.handoff.conftest import OPEN_TIME, VERIFIED_EMAIL

pytestmark = pytest.mark.slow

TELEGRAM_NAME = "Lucía"


def png(width: int, height: int, rgb: tuple) -> bytes:
    """A small solid-colour PNG (no imaging library needed)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    row = b"\x00" + bytes(rgb) * width
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(row * height)) + chunk(b"IEND", b""))


@pytest.fixture
def open_bridge(tmp_path: Path) -> Iterator[offline.ThreadedBridge]:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    seed_store(url)
    bridge = offline.ThreadedBridge(url, OPEN_TIME)
    bridge.base_url = bridge.start()  # type: ignore[attr-defined]
    try:
        yield bridge
    finally:
        bridge.stop()


async def telegram_customer_with_files(bridge: Bridge) -> Dict[str, str]:
    """What the Telegram channel does for a new chat that asks for a person and
    then sends a photo with a caption and a PDF (queued: they wait for the claim)."""
    conversation, _ = await bridge.open_session(None, channel="telegram")
    cid = conversation.id
    await bridge.storage.set_profile(cid, display_name=TELEGRAM_NAME)
    await bridge.customer_message(cid, None, "agente", "/request_human", "tg:1")
    photo = await bridge.storage.add_attachment(cid, "photo", "caja.png", "image/png", png(96, 64, (210, 90, 40)), "tg:2")
    await bridge.customer_attachments(cid, "Así llegó la caja", [photo], "tg:2")
    doc = await bridge.storage.add_attachment(cid, "document", "factura <1>.pdf", "application/pdf", b"%PDF-1.4\n%%EOF\n", "tg:3")
    await bridge.customer_attachments(cid, "", [doc], "tg:3")
    return {"conversation_id": cid, "photo": photo.id, "doc": doc.id}


async def live_photo(bridge: Bridge, cid: str) -> str:
    photo = await bridge.storage.add_attachment(cid, "photo", "etiqueta.png", "image/png", png(40, 80, (30, 110, 200)), "tg:4")
    await bridge.customer_attachments(cid, "", [photo], "tg:4")
    return photo.id


def test_console_shows_telegram_name_and_attachments(open_bridge: offline.ThreadedBridge, browser: Any, tmp_path: Path) -> None:
    expect.set_options(timeout=10_000)
    shots = shots_dir(tmp_path)
    assert open_bridge.server is not None
    bridge = open_bridge.server.bridge
    ids = open_bridge.run(telegram_customer_with_files(bridge))
    _, token = open_bridge.run(offline.add_agent_in(open_bridge, "Marta"))

    context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="es-ES")
    errors = []
    try:
        console = context.new_page()
        console.on("pageerror", lambda exc: errors.append(str(exc)))
        console.goto(open_bridge.base_url + "/agent")  # type: ignore[attr-defined]
        console.get_by_label("Token de agente").fill(token)
        console.get_by_label("Token de agente").press("Enter")

        entry = console.locator(".q-item")
        expect(entry).to_have_count(1)
        expect(entry.locator(".pill.ch-telegram")).to_have_text("Telegram")
        expect(entry.locator(".q-name")).to_have_text(f"Nombre en Telegram (no verificado): {TELEGRAM_NAME}")
        expect(entry).to_contain_text("Sin verificar")
        console.screenshot(path=str(shots / "11-agent-telegram-queue.png"))
        entry.get_by_role("button", name=re.compile("^Atender")).click()

        # the case card: channel badge and the unverified Telegram name
        card = console.locator("#card-body")
        expect(card.locator(".pill.ch-telegram")).to_have_text("Telegram")
        expect(card.locator(".ch-name")).to_have_text(f"Nombre en Telegram (no verificado): {TELEGRAM_NAME}")
        expect(console.locator("#conv-title")).to_contain_text(TELEGRAM_NAME)

        # history: the photo as a thumbnail whose signed URL loads, the PDF as a download link
        transcript = console.locator(f'.transcript[data-conversation-id="{ids["conversation_id"]}"]')
        thumb = transcript.locator(f'a.att-photo[data-attachment-id="{ids["photo"]}"] img.att-thumb')
        expect(thumb).to_have_count(1)
        src = thumb.get_attribute("src") or ""
        assert re.search(rf"/attachments/{ids['photo']}\?exp=\d+&sig=[\w-]+$", src), src
        console.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=thumb.element_handle())
        assert thumb.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [96, 64]
        link = transcript.locator(f'a.att-photo[data-attachment-id="{ids["photo"]}"]')
        assert link.get_attribute("target") == "_blank"
        assert "noopener" in (link.get_attribute("rel") or "")
        expect(transcript).to_contain_text("Así llegó la caja")
        doc = transcript.locator(f'a.att-doc[data-attachment-id="{ids["doc"]}"]')
        expect(doc).to_have_text(re.compile(r"factura <1>\.pdf"))
        assert doc.get_attribute("download") == "factura <1>.pdf"
        assert re.search(rf"/attachments/{ids['doc']}\?exp=", doc.get_attribute("href") or "")
        # the signed URL answers the file to this page (same origin)
        status = console.evaluate("url => fetch(url).then(r => r.status + ' ' + r.headers.get('content-type'))",
                                  doc.get_attribute("href"))
        assert status == "200 application/pdf"

        # a photo sent while assigned arrives live
        live_id = open_bridge.run(live_photo(bridge, ids["conversation_id"]))
        live = transcript.locator(f'a.att-photo[data-attachment-id="{live_id}"] img.att-thumb')
        expect(live).to_have_count(1)
        console.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=live.element_handle())
        last = transcript.locator(".line.customer").last
        expect(last.locator("img.att-thumb")).to_have_count(1)
        expect(last).not_to_contain_text("[Foto]")  # the bridge's placeholder: the photo says it
        # the late-loading thumbnail did not leave the agent above the newest line
        console.wait_for_function("() => { const b = document.getElementById('transcripts');"
                                  " return b.scrollHeight - b.scrollTop - b.clientHeight < 2; }")

        # clicking the thumbnail opens the full-size photo in a new tab
        with context.expect_page() as opened:
            thumb.click()
        full = opened.value
        full.wait_for_load_state()
        assert f"/attachments/{ids['photo']}?" in full.url
        full.close()

        console.screenshot(path=str(shots / "12-agent-telegram-attachments.png"))

        # the customer shares their phone: verified, and the Telegram name is still shown
        # as what it is; the new conversation frame re-signs the photo URLs (swapped in place)
        verified = {"id": "1", "name": "Luis Prieto", "email": VERIFIED_EMAIL,
                    "verified_order_id": None, "verified_by": "telegram_phone"}
        open_bridge.run(bridge.verify_customer(ids["conversation_id"], verified, {}))
        expect(card.locator(".pill.ok", has_text=re.compile("^Verificado$"))).to_have_count(1)
        expect(card).to_contain_text("Luis Prieto")
        expect(card).to_contain_text("Su teléfono de Telegram")
        expect(card.locator(".ch-name")).to_have_text(f"Nombre en Telegram (no verificado): {TELEGRAM_NAME}")
        expect(card.locator(".pill.ch-telegram")).to_have_text("Telegram")
        expect(console.locator("#conv-title")).to_have_text("Luis Prieto")
        expect(transcript.locator("img.att-thumb")).to_have_count(2)
        console.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=thumb.element_handle())
        console.screenshot(path=str(shots / "13-agent-telegram-verified.png"))
        assert errors == []
    finally:
        context.close()
