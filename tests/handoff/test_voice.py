"""The store's voice in everything the bridge itself writes (issue 9): with
``STORE_BRAND_VOICE=usted`` no text the bridge sends a shopper (system
messages, error details) uses tú, and the ``session`` frame names the voice
(the widget's own strings follow it). Rasa's answers are the bot's, checked in
the Rasa tests, and are left out here (the stand-in Rasa speaks tú)."""
from __future__ import annotations

import json
from typing import Any, Dict, List

import pytest

from core.policy import StorePolicy, load_policy
from handoff.frames import MAX_TEXT
from handoff.texts import TU_FORMS, VOICES, texts_for
from tests.handoff.conftest import CLOSED_TIME, VERIFIED_EMAIL, FakeRasa, agent_client, customer, new_agent


@pytest.fixture
def policy(usted_policy: StorePolicy) -> StorePolicy:
    """This module runs the bridge in usted."""
    return usted_policy


def shopper_texts(frames: List[Dict[str, Any]]) -> List[str]:
    """Every text the bridge wrote for the shopper: system messages and error details."""
    out = []
    for frame in frames:
        if frame.get("type") == "message" and frame.get("sender") == "system":
            out.append(frame["text"])
        elif frame.get("type") == "error":
            out.append(frame["detail"])
        elif frame.get("type") == "csat_request":
            out.append(frame["text"])
    return out


def assert_usted(texts: List[str]) -> None:
    assert texts
    tu = [(t, m.group()) for t in texts for m in [TU_FORMS.search(t)] if m]
    assert not tu, f"tú forms in usted texts: {tu}"


def test_every_usted_text_is_usted_and_every_tu_text_is_caught_by_the_check() -> None:
    usted, tu = texts_for("usted"), texts_for("tu")
    assert VOICES == ("tu", "usted")
    assert_usted([usted[k] for k in usted.keys()])
    # the check is able to fail: every text that differs by voice shows its tú form
    differing = [k for k in tu.keys() if tu[k] != usted[k]]
    assert len(differing) > 25
    assert [k for k in differing if not TU_FORMS.search(tu[k])] == []


@pytest.mark.asyncio
async def test_bridge_texts_in_usted_through_a_whole_handoff(start_bridge, fake_rasa: FakeRasa) -> None:
    server = await start_bridge(now=CLOSED_TIME, agent_grace_s=0.3)
    client, session = await customer(server)
    assert session["voice"] == "usted"
    cid = session["conversation_id"]

    fake_rasa.fail = True                                   # the apology
    await client.send({"type": "message", "text": "hola", "client_id": "m1"})
    await client.wait_type("message", sender="system")
    fake_rasa.fail = False
    await client.send({"type": "message", "text": "x" * (MAX_TEXT + 1), "client_id": "m2"})
    await client.wait_type("error", code="message_too_long")
    await client.send({"type": "message", "text": "botones", "client_id": "m3"})
    asked = await client.wait_for(lambda f: f.get("type") == "message" and f.get("buttons"))
    await client.send({"type": "message", "text": "otra cosa", "client_id": "m4"})
    await client.wait_type("message", text="Eco: otra cosa")
    button = asked["buttons"][0]                           # a finished step's button
    await client.send({"type": "message", "text": button["title"], "payload": button["payload"],
                       "reply_to": asked["id"], "client_id": "m5"})
    await client.wait_type("ack", client_id="m5")
    await client.wait_type("message", sender="system")

    await client.send({"type": "message", "text": "agente", "client_id": "m6"})  # out of hours: the opening
    queued = await client.wait_type("handoff", state="queued")  # queued first, then the opening
    opening = await client.wait_type("message", sender="system")
    assert "déjenos su correo" in opening["text"]
    assert queued["offline"] is True and queued["contact_known"] is False
    await client.send({"type": "contact", "email": "cliente@correo.example", "client_id": "e1"})
    await client.wait_type("message", sender="system")

    _, token = await new_agent(server, "Ana")
    agent = await agent_client(server, token)
    await agent.send({"type": "claim", "conversation_id": cid})
    await agent.wait_type("conversation")
    await client.wait_type("handoff", state="assigned")
    await agent.close()                                     # the agent's console goes: requeued after grace
    await client.wait_type("message", sender="system")
    agent = await agent_client(server, token)
    await agent.send({"type": "claim", "conversation_id": cid})
    await agent.wait_type("conversation")
    fake_rasa.fail_resume = True                            # the bridge's own "back with the bot" line
    await agent.send({"type": "close", "conversation_id": cid, "resolution": "resolved"})
    await client.wait_type("csat_request")
    await client.send({"type": "csat", "score": 5})
    await client.wait_type("message", sender="system")

    texts = shopper_texts(client.seen)
    usted = texts_for("usted")
    for key in ("apology", "step_over", "contact_thanks", "agent_lost", "resumed", "csat_thanks"):
        assert usted[key] in texts, key
    assert usted.get("error_message_too_long", max=MAX_TEXT) in texts
    assert_usted(texts)


@pytest.mark.asyncio
async def test_rate_limit_and_a_verified_shoppers_opening_in_usted(start_bridge, fake_rasa: FakeRasa) -> None:
    server = await start_bridge(now=CLOSED_TIME, rate_limit=3)
    client, _ = await customer(server)
    await client.send({"type": "message", "text": "verificado", "client_id": "v1"})
    queued = await client.wait_type("handoff", state="queued")  # queued first, then the opening
    opening = await client.wait_type("message", sender="system")
    # the verified shopper is told where the team will write, not asked for an e-mail
    assert queued["contact_known"] is True
    assert "correo" in opening["text"] and "déjenos" not in opening["text"]
    assert f"l***@{VERIFIED_EMAIL.split('@')[1]}" in opening["text"]
    for _n in range(4):
        await client.send({"type": "typing"})
    await client.wait_type("error", code="rate_limited")
    assert_usted(shopper_texts(client.seen))


@pytest.mark.asyncio
async def test_the_agents_canned_replies_speak_the_store_voice_and_quote_the_policy(
        start_bridge, policy: StorePolicy) -> None:
    """They go to the shopper as the agent's words: usted when the store says so,
    and the refund time the bot quotes (they said "entre 5 y 10 días hábiles")."""
    import asyncio
    import urllib.request

    server = await start_bridge()

    def fetch() -> bytes:  # in a thread: the bridge serves on this test's event loop
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/canned-replies.json", timeout=5) as response:
            return response.read()

    replies = json.loads((await asyncio.to_thread(fetch)).decode("utf-8"))["replies"]
    assert len(replies) >= 8
    for reply in replies:
        assert not TU_FORMS.search(reply["text"]), reply
        assert "{{" not in reply["text"] and "hábiles" not in reply["text"], reply
    refund = next(r["text"] for r in replies if r["title"] == "Reembolso en curso")
    assert f"{policy.refund_days} días" in refund


def test_the_canned_replies_in_tu() -> None:
    from handoff.server import _canned_replies

    values = {**load_policy().answer_slots(), "brand_voice": "tu"}
    _, _, body = _canned_replies(values)
    texts = [r["text"] for r in json.loads(body.decode("utf-8"))["replies"]]
    assert any(TU_FORMS.search(t) for t in texts) and not any("{{" in t for t in texts)


@pytest.mark.asyncio
async def test_the_demo_shop_page_speaks_usted_too(start_bridge) -> None:
    """The page that hosts the widget (`make run`'s shop) said "te ayuda... si lo
    prefieres" to a store in usted: every visible text of it follows the voice."""
    import asyncio
    import html
    import re
    import urllib.request

    server = await start_bridge()

    def fetch() -> str:  # in a thread: the bridge serves on this test's event loop
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/", timeout=5) as response:
            return response.read().decode("utf-8")

    page = await asyncio.to_thread(fetch)
    assert "{{" not in page
    body = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", page, flags=re.S)
    visible = [html.unescape(t).strip() for t in re.split(r"<[^>]+>", body)]
    assert_usted([t for t in visible if t])
    assert texts_for("usted")["page_help"] in html.unescape(page)
