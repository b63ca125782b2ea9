"""Customer side against a real bridge and the stand-in Rasa."""
from __future__ import annotations

import asyncio
import json
import urllib.request
from typing import Tuple

import pytest
import websockets

from tests.handoff.conftest import CLOSED_TIME, FakeRasa, connect, customer, queued_customer


def http_get(port: int, path: str) -> Tuple[int, bytes, str]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read(), response.headers.get("Content-Type", "")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), exc.headers.get("Content-Type", "")


@pytest.mark.asyncio
async def test_bot_answers_in_order_with_buttons_typing_and_ack(start_bridge, fake_rasa: FakeRasa) -> None:
    server = await start_bridge()
    client, session = await customer(server)
    assert session["resumed"] is False and session["session_id"]
    await client.send({"type": "message", "text": "botones", "client_id": "c-1"})
    ack = await client.next()
    assert ack == {"type": "ack", "client_id": "c-1", "id": ack["id"]}
    assert await client.next() == {"type": "typing", "sender": "bot"}
    first = await client.next()
    second = await client.next()
    assert first["sender"] == "bot" and first["text"] == "¿Qué quieres hacer?"
    assert first["buttons"] == [{"title": "Ver mi pedido", "payload": "/order_status"},
                                {"title": "Hablar con una persona", "payload": "/request_human"}]
    assert second["text"] == "Segundo mensaje" and second["buttons"] == []
    assert fake_rasa.webhook_calls == [{"sender": session["conversation_id"], "message": "botones"}]
    assert await server.bridge.storage.pending_turns() == []  # the last reply finished the turn
    for text in ("agente", "mudo"):  # a turn ending in a handoff, and one Rasa answers with nothing
        other, _ = await customer(server)
        await other.send({"type": "message", "text": text, "client_id": "x"})
        await other.wait_type("handoff" if text == "agente" else "message")
        await other.barrier()
        assert await server.bridge.storage.pending_turns() == []


@pytest.mark.asyncio
async def test_button_payload_goes_to_rasa_and_a_resend_is_handled_once(start_bridge, fake_rasa: FakeRasa) -> None:
    server = await start_bridge()
    client, _ = await customer(server)
    frame = {"type": "message", "text": "Ver mi pedido", "payload": "/order_status", "client_id": "same"}
    await client.send(frame)
    assert (await client.wait_type("message"))["text"] == "Eco: /order_status"
    await client.send(frame)  # resent after a lost ack: acked again, not processed twice
    await client.wait_type("ack", client_id="same")
    later = await client.barrier()
    assert not [f for f in later if f["type"] == "message"]
    assert [c["message"] for c in fake_rasa.webhook_calls] == ["/order_status"]


@pytest.mark.asyncio
async def test_handoff_queues_with_position_and_no_bot_message_after_it(start_bridge) -> None:
    server = await start_bridge()
    client, _ = await customer(server)
    await client.send({"type": "message", "text": "agente"})
    announcement = await client.wait_type("message")
    assert announcement["text"] == "Te paso con una persona del equipo."
    handoff = await client.wait_type("handoff")
    assert handoff["state"] == "queued" and handoff["position"] == 1
    assert handoff["offline"] is False and isinstance(handoff["estimated_wait_s"], int)
    seen = await client.barrier()
    assert all("ESTO NO DEBE LLEGAR" not in json.dumps(f) for f in client.seen + seen)

    other, _, other_handoff = await queued_customer(server)
    assert other_handoff["position"] == 2


@pytest.mark.asyncio
async def test_asking_again_while_queued_does_not_queue_twice(start_bridge, fake_rasa: FakeRasa) -> None:
    server = await start_bridge()
    client, session, _ = await queued_customer(server)
    calls = len(fake_rasa.webhook_calls)
    await client.send({"type": "message", "text": "agente", "client_id": "m2"})
    await client.send({"type": "message", "text": "¿Hay alguien?", "payload": "/request_human", "client_id": "m3"})
    await client.wait_type("ack", client_id="m3")
    seen = await client.barrier()
    # the text is for the agents; asking for a person again gets the place in the queue, once
    said = [f for f in seen if f["type"] == "message"]
    assert [(f["sender"], f["text"][:19]) for f in said] == [("system", "Ya estás en la cola")], said
    assert len(fake_rasa.webhook_calls) == calls  # queued text never goes to Rasa
    queue = await server.bridge.storage.queue()
    assert [c.id for c in queue] == [session["conversation_id"]]
    # shown to agents: what the shopper wrote, not the title of a button they pressed
    assert queue[0].preview == "agente"


@pytest.mark.asyncio
async def test_offline_queueing_outside_support_hours_with_contact(start_bridge) -> None:
    server = await start_bridge(now=CLOSED_TIME)
    client, session = await customer(server)
    await client.send({"type": "message", "text": "agente"})
    await client.wait_type("message", sender="bot")
    handoff = await client.wait_type("handoff", state="queued")  # queued first, then why nobody answers yet
    notice = await client.wait_type("message", sender="system")
    # Sunday: the promise (Monday's opening at 9:00 plus the target) in the out-of-hours line, once
    assert notice["text"].startswith("Ahora estamos fuera del horario de atención. Te respondemos mañana antes de las")
    assert handoff["promise_text"] and handoff["promise_text"] in notice["text"]
    assert handoff["offline"] is True
    assert handoff["estimated_wait_s"] >= 21 * 3600  # Sunday 12:00 → Monday 9:00
    await client.send({"type": "contact", "email": "cliente@example.com", "client_id": "e1"})
    await client.wait_type("ack", client_id="e1")
    thanks = await client.wait_type("message", sender="system")
    assert "correo" in thanks["text"]
    conversation = await server.bridge.storage.get_conversation(session["conversation_id"])
    assert conversation.offline and conversation.contact_email == "cliente@example.com"
    await client.send({"type": "contact", "email": "no-es-un-correo"})
    assert (await client.wait_type("error"))["code"] == "invalid_field"


@pytest.mark.asyncio
@pytest.mark.parametrize("raw, code", [
    ("esto no es json", "invalid_json"),
    (json.dumps({"type": "volar"}), "unknown_type"),
    (json.dumps({"type": "message"}), "missing_field"),
    (json.dumps({"type": "message", "text": 42}), "invalid_field"),
    (json.dumps(["type", "message"]), "invalid_frame"),
    (json.dumps({"type": "message", "text": "x" * 9000}), "message_too_long"),
    (b"\x00\x01binary", "not_text"),
])
async def test_bad_frames_get_an_error_and_the_connection_stays_usable(start_bridge, raw, code) -> None:
    server = await start_bridge()
    client, _ = await customer(server)
    await client.send(raw)
    error = await client.next()
    assert error["type"] == "error" and error["code"] == code and error["detail"]
    await client.send({"type": "message", "text": "hola"})
    assert (await client.wait_type("message"))["text"] == "Eco: hola"


@pytest.mark.asyncio
async def test_start_must_come_first(start_bridge) -> None:
    server = await start_bridge()
    client = await connect(server, "/ws/chat")
    await client.send({"type": "message", "text": "hola"})
    assert (await client.next())["code"] == "start_required"
    await client.send({"type": "start", "session_id": None})
    assert (await client.next())["type"] == "session"


@pytest.mark.asyncio
async def test_rate_limit_per_connection(start_bridge) -> None:
    server = await start_bridge(rate_limit=5, rate_window_s=60)
    client, _ = await customer(server)  # the start frame counts: 4 left
    for _ in range(4):
        await client.send({"type": "typing"})
    await client.send({"type": "typing"})
    error = await client.next()
    assert error["code"] == "rate_limited"
    assert client.ws.open
    other, _ = await customer(server)  # another connection has its own budget
    await other.send({"type": "message", "text": "hola"})
    assert (await other.wait_type("message"))["text"] == "Eco: hola"


@pytest.mark.asyncio
async def test_origin_allow_list(start_bridge) -> None:
    server = await start_bridge()
    with pytest.raises(websockets.InvalidStatusCode) as refused:
        await connect(server, "/ws/chat", origin="http://evil.example")
    assert refused.value.status_code == 403
    same_host = await connect(server, "/ws/chat", origin=f"http://127.0.0.1:{server.port}")
    await same_host.close()
    configured = await start_bridge(allowed_origins=("https://tienda.example",))
    with pytest.raises(websockets.InvalidStatusCode):
        await connect(configured, "/ws/chat", origin=f"http://127.0.0.1:{configured.port}")
    allowed = await connect(configured, "/ws/chat", origin="https://tienda.example")
    await allowed.close()


@pytest.mark.asyncio
async def test_rasa_slow_gives_apology_then_a_person(start_bridge, fake_rasa: FakeRasa) -> None:
    server = await start_bridge(rasa_timeout_s=0.3)
    client, session = await customer(server)
    await client.send({"type": "message", "text": "lento"})
    apology = await client.wait_type("message", sender="system")
    assert "persona" in apology["text"]
    assert apology["buttons"] == [{"title": "Hablar con una persona", "payload": "/request_human"}]
    calls = len(fake_rasa.webhook_calls)
    await client.send({"type": "message", "text": "Hablar con una persona", "payload": "/request_human"})
    handoff = await client.wait_type("handoff", state="queued")
    assert handoff["position"] == 1
    assert len(fake_rasa.webhook_calls) == calls  # queued directly
    conversation = await server.bridge.storage.get_conversation(session["conversation_id"])
    assert conversation.reason == "rasa_down"


@pytest.mark.asyncio
async def test_rasa_down_health_503_and_agents_still_served(start_bridge, fake_rasa: FakeRasa) -> None:
    server = await start_bridge()
    status, body, kind = await asyncio.to_thread(http_get, server.port, "/health")
    assert (status, json.loads(body)) == (200, {"status": "ok", "rasa": "up", "database": "up"})
    fake_rasa.up = False
    status, body, _ = await asyncio.to_thread(http_get, server.port, "/health")
    assert status == 503 and json.loads(body) == {"status": "degraded", "rasa": "down", "database": "up"}

    down = await start_bridge(rasa_url="http://127.0.0.1:9")  # nothing listens there
    status, body, _ = await asyncio.to_thread(http_get, down.port, "/health")
    assert status == 503 and json.loads(body)["rasa"] == "down"
    client, _ = await customer(down)
    await client.send({"type": "message", "text": "hola"})
    apology = await client.wait_type("message", sender="system")
    assert apology["buttons"][0]["payload"] == "/request_human"
    await client.send({"type": "message", "text": "Hablar con una persona", "payload": "/request_human"})
    await client.wait_type("handoff", state="queued")


@pytest.mark.asyncio
async def test_http_routes_on_the_same_port(start_bridge) -> None:
    server = await start_bridge()
    client, _ = await customer(server)
    await client.send({"type": "message", "text": "hola"})
    await client.wait_type("message")
    for path, kind in (("/", "text/html"), ("/widget.js", "javascript"), ("/agent", "text/html")):
        status, body, content_type = await asyncio.to_thread(http_get, server.port, path)
        assert status == 200 and kind in content_type and body
    page = (await asyncio.to_thread(http_get, server.port, "/"))[1].decode()
    slots = server.bridge.policy.answer_slots()
    assert "{{" not in page  # every placeholder of the demo shop is a policy value
    assert f"a partir de {slots['free_shipping_threshold']}&nbsp;{slots['currency']}" in page  # never split
    assert "te ayuda al momento" in page  # the page speaks the store's voice (tú here)
    assert slots["support_hours_text"] in page
    status, body, content_type = await asyncio.to_thread(http_get, server.port, "/metrics")
    text = body.decode()
    assert status == 200 and "text/plain" in content_type
    assert 'handoff_messages_total{sender="customer"} 1.0' in text
    assert "handoff_rasa_latency_seconds_count 1.0" in text
    assert "handoff_queue_length 0.0" in text
    assert (await asyncio.to_thread(http_get, server.port, "/nada"))[0] == 404
    # every page asked for /favicon.ico and got 404 (a console error): an icon, named by the pages too
    for path in ("/favicon.ico", "/favicon.svg"):
        status, body, content_type = await asyncio.to_thread(http_get, server.port, path)
        assert status == 200 and content_type == "image/svg+xml" and body.startswith(b"<svg")
    assert 'rel="icon" href="/favicon.svg"' in page


@pytest.mark.asyncio
async def test_info_logs_are_json_without_text_or_email(start_bridge, caplog) -> None:
    from handoff.logs import JsonFormatter

    server = await start_bridge(now=CLOSED_TIME)
    with caplog.at_level("INFO"):
        client, _, _ = await queued_customer(server, "agente")
        await client.send({"type": "contact", "email": "secreto@example.com", "client_id": "e"})
        await client.wait_type("ack", client_id="e")
        await client.barrier()
    lines = [JsonFormatter().format(r) for r in caplog.records if r.name.startswith("handoff")]
    assert any(json.loads(line)["event"] == "handoff_queued" for line in lines)
    assert all("secreto@example.com" not in line and "agente" not in line for line in lines)


@pytest.mark.asyncio
async def test_a_message_stored_while_history_is_sent_comes_after_it(start_bridge) -> None:
    """A reply stored between reading the history and sending it: the widget
    gets it once, after the history (it used to arrive first, then be missing
    from the history, so a client that waits for the history skipped it)."""
    server = await start_bridge()
    first, session = await customer(server)
    await first.close()
    bridge = server.bridge
    names = bridge.storage.agent_names
    stored = []

    async def names_then_a_reply(ids):
        if not stored:  # the history has been read: an agent's reply lands now
            stored.append(await bridge.system_message(session["conversation_id"], "Mientras tanto"))
        return await names(ids)

    bridge.storage.agent_names = names_then_a_reply
    again, resumed = await customer(server, session["session_id"], after_id=0)
    assert resumed["resumed"] is True
    frames = [await again.next(), await again.next()]
    assert [f["type"] for f in frames] == ["history", "message"]
    assert "Mientras tanto" not in [m["text"] for m in frames[0]["messages"]]
    assert frames[1]["text"] == "Mientras tanto" and frames[1]["id"] == str(stored[0].id)
    assert [f["type"] for f in await again.barrier()] == []
