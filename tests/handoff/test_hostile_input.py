"""Frames that used to close a socket with 1011 or 1009, or to be stored on
one database and refused by the other: every one now gets an error frame (or
is made safe and stored), the socket stays open and the next message goes
through, the same on SQLite and PostgreSQL."""
from __future__ import annotations

import json
from typing import Any, Dict

import pytest

from handoff.frames import MAX_TEXT
from tests.handoff.conftest import FakeRasa, agent_client, connect, customer, new_agent, queued_customer

pytestmark = pytest.mark.asyncio

HALF_EMOJI = "mi pedido \ud83d roto"  # a lone surrogate, as a paste can produce


async def still_talks(client, text: str = "hola") -> None:
    """The socket is open and a normal message is answered."""
    await client.send({"type": "message", "text": text, "client_id": f"ok-{text}"})
    await client.wait_type("ack", client_id=f"ok-{text}")
    assert (await client.wait_type("message", sender="bot"))["text"] == f"Eco: {text}"


async def test_half_an_emoji_is_stored_replaced_and_answered(start_bridge, any_db_url: str, fake_rasa: FakeRasa) -> None:
    server = await start_bridge(database_url=any_db_url)
    client, session = await customer(server)
    # json.dumps escapes the lone surrogate as \ud83d, as a browser's JSON.stringify does
    await client.send(json.dumps({"type": "message", "text": HALF_EMOJI, "client_id": "s1"}))
    await client.wait_type("ack", client_id="s1")
    answer = await client.wait_type("message", sender="bot")
    assert answer["text"] == "Eco: mi pedido \ufffd roto"
    history = await server.bridge.storage.history(session["conversation_id"])
    assert history[0].text == "mi pedido \ufffd roto"
    await still_talks(client)


@pytest.mark.parametrize("field", ["text", "client_id", "payload"])
async def test_nul_and_control_characters_are_dropped_in_any_field(start_bridge, any_db_url: str, field: str) -> None:
    server = await start_bridge(database_url=any_db_url)
    client, session = await customer(server)
    frame: Dict[str, Any] = {"type": "message", "text": "hola", "client_id": "c1"}
    frame[field] = {"text": "ho\x00la\x07", "client_id": "c\x00\x1b1", "payload": "ho\x00la"}[field]
    await client.send(frame)
    await client.wait_type("ack", client_id="c1")
    assert (await client.wait_type("message", sender="bot"))["text"] == "Eco: hola"
    await still_talks(client, "sigo")


async def test_nul_in_session_ids_emails_and_agent_ids_is_harmless(start_bridge, any_db_url: str) -> None:
    server = await start_bridge(database_url=any_db_url)
    first, session = await customer(server, session_id="abc\x00def")
    assert session["resumed"] is False
    again, resumed = await customer(server, session_id=session["session_id"] + "\x00")
    assert resumed["resumed"] is True and resumed["conversation_id"] == session["conversation_id"]
    await again.send({"type": "contact", "email": "ana\x00@correo.es", "client_id": "e1"})
    await again.wait_type("ack", client_id="e1")
    conversation = await server.bridge.storage.get_conversation(session["conversation_id"])
    assert conversation.contact_email == "ana@correo.es"
    _, token = await new_agent(server, "Ana")
    agent = await agent_client(server, token)
    for kind in ("claim", "typing"):
        await agent.send({"type": kind, "conversation_id": "c_\x00nada"})
        assert (await agent.wait_type("error"))["code"] == "not_found"
    await agent.send({"type": "transfer", "conversation_id": "c_x", "to": "a_\x00"})
    assert (await agent.wait_type("error"))["code"] in ("not_found", "not_assigned")
    await still_talks(again)


@pytest.mark.parametrize("raw, code", [
    ("[" * 5000 + "]" * 5000, "invalid_json"),                       # under 64 KB, deeper than Python's stack
    ('{"type": "message", "text": ' + "[" * 3000 + "]" * 3000 + "}", "invalid_json"),
    ('{"type": "message", "text": "x", "n": ' + "9" * 5000 + "}", "invalid_json"),  # Python refuses 4,300+ digits
    (json.dumps({"type": "csat", "score": 2**70}), "invalid_field"),
    (json.dumps({"type": "message", "text": "x", "client_id": "y" * 65}), "invalid_field"),
    (json.dumps({"type": "contact", "email": "a@" + "b" * 300 + ".es"}), "invalid_field"),
    (json.dumps({"type": "message", "text": "\x00\x01\x02"}), "invalid_field"),  # nothing left: empty
    (json.dumps({"type": "\ud800"}), "unknown_type"),
    (json.dumps({"type": "message", "text": "x", "client_id": "turn:1:0"}), "invalid_field"),  # the bot's ids
])
async def test_malformed_frames_get_an_error_and_the_socket_stays(start_bridge, any_db_url: str, raw: str, code: str) -> None:
    server = await start_bridge(database_url=any_db_url)
    client, _ = await customer(server)
    await client.send(raw)
    error = await client.wait_type("error")
    assert error["code"] == code and error["detail"]
    await still_talks(client)


async def test_after_id_past_64_bits_on_start_is_refused_and_start_can_be_sent_again(start_bridge, any_db_url: str) -> None:
    server = await start_bridge(database_url=any_db_url)
    client, session = await customer(server)
    await client.close()
    again = await connect(server, "/ws/chat")
    await again.send({"type": "start", "session_id": session["session_id"], "after_id": 2**63})
    assert (await again.wait_type("error"))["code"] == "invalid_field"
    await again.send({"type": "start", "session_id": session["session_id"], "after_id": -1})
    assert (await again.wait_type("error"))["code"] == "invalid_field"
    await again.send({"type": "start", "session_id": session["session_id"], "after_id": 2**63 - 1})
    assert (await again.wait_type("session"))["resumed"] is True
    assert (await again.wait_type("history"))["messages"] == []
    await still_talks(again)


@pytest.mark.parametrize("size", [200_000, 1_000_000])
async def test_big_message_frames_get_message_too_long_with_their_client_id(start_bridge, size: int) -> None:
    server = await start_bridge()
    client, _ = await customer(server)
    await client.send(json.dumps({"type": "message", "text": "x" * size, "client_id": "big"}))
    error = await client.wait_type("error")
    assert error["code"] == "message_too_long" and error["client_id"] == "big"
    assert str(MAX_TEXT) in error["detail"]
    await still_talks(client)


async def test_a_message_over_the_text_limit_but_under_the_frame_limit(start_bridge) -> None:
    server = await start_bridge()
    client, _ = await customer(server)
    await client.send({"type": "message", "text": "ñ" * (MAX_TEXT + 1), "client_id": "t1"})
    assert await client.wait_type("error") == {
        "type": "error", "code": "message_too_long", "client_id": "t1",
        "detail": "Tu mensaje es demasiado largo (máximo 4000 caracteres). Acórtalo o envíalo en varias partes."}
    await client.send({"type": "message", "text": "😀" * MAX_TEXT, "client_id": "t2"})  # 4,000 emoji fit
    await client.wait_type("ack", client_id="t2")


async def test_rate_limited_names_the_message_to_resend(start_bridge) -> None:
    server = await start_bridge(rate_limit=3, rate_window_s=60)
    client, _ = await customer(server)  # the start frame counts too
    for n in range(3):
        await client.send({"type": "message", "text": f"m{n}", "client_id": f"r{n}"})
    error = await client.wait_type("error")
    assert error["code"] == "rate_limited" and error["client_id"] == "r2"


@pytest.mark.parametrize("raw", [
    "[" * 5000 + "]" * 5000,
    json.dumps({"type": "auth", "token": "a\x00b.c\ud800"}),
    json.dumps({"type": "auth", "token": "x" * 300}),
])
async def test_an_agents_malformed_first_frame_is_unauthorized(start_bridge, raw: str) -> None:
    server = await start_bridge()
    agent = await connect(server, "/ws/agent")
    await agent.send(raw)
    assert (await agent.wait_type("error"))["code"] == "unauthorized"
    await agent.ws.wait_closed()
    assert agent.ws.close_code == 4401


async def test_malformed_agent_frames_keep_the_console_open(start_bridge, any_db_url: str) -> None:
    server = await start_bridge(database_url=any_db_url)
    waiting, session, _ = await queued_customer(server)
    _, token = await new_agent(server, "Ana")
    agent = await agent_client(server, token)
    for raw in ("{" * 4000, json.dumps({"type": "claim", "conversation_id": 2**64}),
                json.dumps({"type": "message", "conversation_id": session["conversation_id"], "text": "x" * 5000})):
        await agent.send(raw)
        assert (await agent.wait_type("error"))["code"] in ("invalid_json", "invalid_field", "message_too_long")
    await agent.send({"type": "claim", "conversation_id": session["conversation_id"]})
    await agent.wait_type("conversation")
    await agent.send({"type": "message", "conversation_id": session["conversation_id"], "text": "Hola \ud83d, soy Ana\x00"})
    assert (await waiting.wait_type("message", sender="agent"))["text"] == "Hola \ufffd, soy Ana"


async def test_an_agent_login_while_the_database_fails_is_answered_not_crashed(start_bridge, monkeypatch) -> None:
    from handoff.storage import StorageUnavailable

    server = await start_bridge()
    _, token = await new_agent(server, "Ana")

    async def down(*_: Any) -> None:
        raise StorageUnavailable("database unavailable (OperationalError)")

    monkeypatch.setattr(server.bridge.storage, "agent_secret", down)
    agent = await connect(server, "/ws/agent")
    await agent.send({"type": "auth", "token": token})
    assert (await agent.wait_type("error"))["code"] == "unavailable"
    await agent.ws.wait_closed()
    assert agent.ws.close_code == 1013  # try again later, not 1011
    monkeypatch.undo()
    await agent_client(server, token)  # the database is back: in


async def test_an_attachment_while_the_database_fails_is_503_not_a_crash(start_bridge, monkeypatch) -> None:
    import asyncio

    from handoff.storage import StorageUnavailable
    from tests.handoff.test_chat import http_get

    server = await start_bridge()
    _, session = await customer(server)
    stored = await server.bridge.storage.add_attachment(session["conversation_id"], "photo", "foto.jpg",
                                                         "image/jpeg", b"\xff\xd8 jpeg")
    url = server.bridge.attachment_url(stored.id)
    assert (await asyncio.to_thread(http_get, server.port, url))[0] == 200

    async def down(*_: Any) -> None:
        raise StorageUnavailable("database unavailable (OperationalError)")

    monkeypatch.setattr(server.bridge.storage, "get_attachment", down)
    status, body, _ = await asyncio.to_thread(http_get, server.port, url)
    assert status == 503 and "no disponible" in body.decode("utf-8")
