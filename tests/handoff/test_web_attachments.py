"""Photos and documents from the web widget (``attachment`` frames, base64):
stored once per client_id and acknowledged, kept for the person with the bot
(the caption goes to Rasa), shown to the agent with a working URL; a file of
another type, one whose bytes are not what it says, or one too big gets an
error frame in Spanish, and the socket stays."""
from __future__ import annotations

import base64
import json

import aiohttp
import pytest

from tests.handoff.conftest import FakeRasa, agent_client, customer, new_agent, queued_customer
from tests.telegram.conftest import PNG_BYTES

PDF_BYTES = b"%PDF-1.4\n" + b"% un recibo\n" * 40


def attachment(data: bytes, content_type: str = "image/png", client_id: str = "f1", **extra) -> dict:
    return {"type": "attachment", "name": "roto.png", "content_type": content_type,
            "data": base64.b64encode(data).decode(), "client_id": client_id, **extra}


@pytest.mark.asyncio
async def test_a_photo_with_the_bot_is_kept_and_acknowledged_once(start_bridge, fake_rasa: FakeRasa) -> None:
    server = await start_bridge()
    client, session = await customer(server)
    await client.send(attachment(PNG_BYTES))
    ack = await client.wait_type("ack", client_id="f1")
    kept = await client.wait_type("message", sender="system")
    assert "He guardado tu archivo" in kept["text"]
    await client.send(attachment(PNG_BYTES))  # the widget resending it from its outbox
    again = await client.wait_type("ack", client_id="f1")
    assert again["id"] == ack["id"]
    stored = await server.bridge.storage.history(session["conversation_id"])
    photos = [m for m in stored if m.data.get("attachments")]
    assert len(photos) == 1 and photos[0].data["attachments"][0]["kind"] == "photo"
    assert not fake_rasa.webhook_calls  # a file without words never reaches Rasa


@pytest.mark.asyncio
async def test_a_caption_goes_to_the_bot_and_the_agent_sees_the_file(start_bridge, fake_rasa: FakeRasa) -> None:
    server = await start_bridge()
    _, agent_token = await new_agent(server, "Marta")
    client, session, _ = await queued_customer(server)
    marta = await agent_client(server, agent_token)
    await marta.send({"type": "claim", "conversation_id": session["conversation_id"]})
    await marta.wait_type("conversation", conversation_id=session["conversation_id"])
    await client.send(attachment(PDF_BYTES, "application/pdf", caption="el recibo del cargo doble"))
    await client.wait_type("ack", client_id="f1")
    seen = await marta.wait_type("message", sender="customer")
    assert seen["text"] == "el recibo del cargo doble"
    [file] = seen["attachments"]
    assert file["kind"] == "document" and file["content_type"] == "application/pdf"
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http:
        async with http.get(f"http://127.0.0.1:{server.port}{file['url']}") as response:
            assert response.status == 200 and await response.read() == PDF_BYTES


@pytest.mark.asyncio
@pytest.mark.parametrize("frame, words", [
    (attachment(b"<html><script>alert(1)</script></html>", "text/html"), "Solo puedo recibir fotos"),
    (attachment(b"<html>no soy un png</html>", "image/png"), "Solo puedo recibir fotos"),  # bytes not a PNG
    ({**attachment(PNG_BYTES), "data": "esto no es base64!!"}, "No he podido leer ese archivo"),
])
async def test_a_file_the_bridge_cannot_take_gets_a_spanish_error_and_the_socket_stays(
        start_bridge, fake_rasa: FakeRasa, frame: dict, words: str) -> None:
    server = await start_bridge()
    client, session = await customer(server)
    await client.send(frame)
    error = await client.wait_type("error", code="invalid_attachment")
    assert words in error["detail"] and error["client_id"] == "f1"
    await client.send({"type": "message", "text": "hola", "client_id": "m2"})
    await client.wait_type("ack", client_id="m2")  # still open
    assert not await server.bridge.storage.history(session["conversation_id"]) or all(
        not m.data.get("attachments") for m in await server.bridge.storage.history(session["conversation_id"]))


@pytest.mark.asyncio
async def test_a_file_over_the_limit_is_refused_with_the_limit(start_bridge, fake_rasa: FakeRasa) -> None:
    server = await start_bridge(max_attachment_bytes=len(PNG_BYTES) - 1)
    client, _ = await customer(server)
    await client.send(attachment(PNG_BYTES))
    error = await client.wait_type("error", code="invalid_attachment")
    assert "demasiado grande" in error["detail"]


@pytest.mark.asyncio
async def test_an_attachment_may_be_larger_than_a_message_frame(start_bridge, fake_rasa: FakeRasa) -> None:
    """HANDOFF_MAX_FRAME_BYTES bounds messages (64 KB); a photo frame may be up to 1 MB."""
    server = await start_bridge()
    client, _ = await customer(server)
    photo = PNG_BYTES + b"\0" * 300_000
    frame = attachment(photo)
    assert len(json.dumps(frame)) > server.bridge.settings.max_frame_bytes
    await client.send(frame)
    await client.wait_type("ack", client_id="f1")
    await client.send({"type": "message", "text": "x" * 10, "client_id": "m9", "payload": "y" * 70_000})
    assert (await client.wait_type("error"))["code"] in ("message_too_long", "frame_too_large")
