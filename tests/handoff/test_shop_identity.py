"""The shop's signed identity in the widget's ``start`` frame
(handoff/shop/identity.py), on a real bridge with the stand-in Rasa: a valid,
fresh one verifies the conversation for that store customer the way a
Telegram phone does (the link, the case card, the Rasa slots); a bad, stale,
malformed or unsigned one is ignored, with no error frame, and logged
without the e-mail. ``GET /demo/identity`` signs only when the demo setting
is on."""
from __future__ import annotations

import asyncio
import json
import secrets
import urllib.error
import urllib.request
from typing import Any, Dict, Tuple

import pytest

from core.shop_signing import identity_signature
from handoff.logs import JsonFormatter
from handoff.server import BridgeServer
from tests.handoff.conftest import OPEN_TIME, VERIFIED_EMAIL, BridgeFactory, FakeRasa, customer

pytestmark = pytest.mark.asyncio
SECRET = "shop-secret-for-tests"
NOW = int(OPEN_TIME.timestamp())
DAY = 24 * 3600


def identity(email: str = VERIFIED_EMAIL, ts: int = NOW, secret: str = SECRET, **changes: Any) -> Dict[str, Any]:
    signed = {"email": email, "name": "Luis", "ts": ts, "signature": identity_signature(secret, email, ts)}
    return {**signed, **changes}


def slot_calls(rasa: FakeRasa) -> list:
    return [c for c in rasa.api_calls if c["path"].endswith("/slots")]


async def started(server: BridgeServer, ident: Any, session_id: Any = None) -> Tuple[Any, Dict[str, Any]]:
    """A shopper who started with ``ident`` and whose first message got its
    answer (so whatever the identity did is done)."""
    client, session = await customer(server, session_id, identity=ident)
    await client.send({"type": "message", "text": "hola", "client_id": secrets.token_hex(4)})
    await client.wait_type("message", sender="bot")
    return client, session


@pytest.mark.parametrize("db", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def test_a_valid_identity_verifies_the_conversation(
        request: pytest.FixtureRequest, db: str, fake_rasa: FakeRasa, start_bridge: BridgeFactory) -> None:
    url = request.getfixturevalue("fresh_postgres_url") if db == "postgresql" else request.getfixturevalue("db_url")
    server = await start_bridge(database_url=url, shop_webhook_secret=SECRET)
    found = await server.bridge.store.get_customer_by_email(VERIFIED_EMAIL)
    assert found is not None
    client, session = await started(server, identity(ts=NOW - DAY + 60))  # 23 h 59 min old: still good
    (call,) = slot_calls(fake_rasa)
    assert call["body"]["sender"] == session["conversation_id"]
    assert call["body"]["slots"] == {"email": VERIFIED_EMAIL, "verified_email": VERIFIED_EMAIL,
                                     "customer_id": str(found.id), "customer_name": found.name}
    conversation = await server.bridge.storage.get_conversation(session["conversation_id"])
    assert (conversation.customer_id, conversation.customer_linked_by) == (str(found.id), "shop_identity")
    assert not any(f["type"] == "error" for f in client.seen)
    # a reconnection with the same identity is not verified again
    await client.close()
    again, _ = await started(server, identity(), session["session_id"])
    assert len(slot_calls(fake_rasa)) == 1
    assert 'handoff_shop_identities_total{result="verified"} 1.0' in server.bridge.metrics.exposition().decode()
    await again.close()


@pytest.mark.parametrize("case,reason", [
    ("wrong_secret", "bad_signature"), ("other_email", "bad_signature"), ("stale", "stale"),
    ("from_the_future", "stale"), ("malformed", "malformed"), ("half_an_emoji", "malformed"), ("nul", "malformed"),
    ("not_hex", "malformed"), ("unknown_customer", "unknown_customer"),
    ("no_secret", "off"),
])
async def test_an_invalid_identity_is_ignored_and_logged_without_the_email(
        start_bridge: BridgeFactory, fake_rasa: FakeRasa, caplog: pytest.LogCaptureFixture, case: str,
        reason: str) -> None:
    server = await start_bridge(shop_webhook_secret="" if case == "no_secret" else SECRET)
    given = {
        "wrong_secret": identity(secret="not-the-shop-secret"),
        "other_email": identity(signature=identity(email="otra@correo.example")["signature"]),
        "stale": identity(ts=NOW - DAY - 1),
        "from_the_future": identity(ts=NOW + 3600),
        "malformed": identity(ts="ayer"),
        "half_an_emoji": dict(identity(), email="luis\ud800@correo.example"),
        "nul": dict(identity(), email="luis\x00@correo.example"),
        "not_hex": identity(signature="é" * 64),
        "unknown_customer": identity(email="nadie@correo.example"),
        "no_secret": identity(),
    }[case]
    with caplog.at_level("INFO"):
        client, session = await started(server, given)
    assert slot_calls(fake_rasa) == []
    conversation = await server.bridge.storage.get_conversation(session["conversation_id"])
    assert conversation.customer_id is None
    assert not any(f["type"] == "error" for f in client.seen)  # nothing tells the page whether it worked
    lines = [json.loads(JsonFormatter().format(r)) for r in caplog.records if r.name.startswith("handoff")]
    assert {"event": "shop_identity_ignored", "reason": reason}.items() <= next(
        line for line in lines if line["event"] == "shop_identity_ignored").items()
    assert not any(given["email"] in json.dumps(line) for line in lines)
    assert f'handoff_shop_identities_total{{result="{reason}"}} 1.0' in server.bridge.metrics.exposition().decode()


async def test_an_identity_of_another_customer_leaves_a_linked_conversation_as_it_is(
        start_bridge: BridgeFactory, fake_rasa: FakeRasa) -> None:
    server = await start_bridge(shop_webhook_secret=SECRET)
    first, session = await started(server, identity())
    await first.close()
    other = next(c for c in (await server.bridge.store.orders_for_customer(2))[:1]).customer
    again, _ = await started(server, identity(email=other.email), session["session_id"])
    conversation = await server.bridge.storage.get_conversation(session["conversation_id"])
    assert conversation.customer_id != str(other.id) and len(slot_calls(fake_rasa)) == 1
    await again.close()


def http_get(port: int, path: str) -> Tuple[int, Dict[str, Any]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


async def test_the_demo_signer_answers_only_when_the_demo_setting_is_on(
        start_bridge: BridgeFactory, fake_rasa: FakeRasa) -> None:
    off = await start_bridge(shop_webhook_secret=SECRET)
    status, answer = await asyncio.to_thread(http_get, off.port, f"/demo/identity?email={VERIFIED_EMAIL}")
    assert (status, answer["error"]) == (404, "not_found")
    unsigned = await start_bridge(demo_identity=True)
    assert (await asyncio.to_thread(http_get, unsigned.port, "/demo/identity"))[0] == 503

    demo = await start_bridge(shop_webhook_secret=SECRET, demo_identity=True)
    assert await asyncio.to_thread(http_get, demo.port, "/demo/identity") == (200, {"enabled": True})
    assert (await asyncio.to_thread(http_get, demo.port, "/demo/identity?email=no-es-un-correo"))[0] == 400
    status, signed = await asyncio.to_thread(http_get, demo.port, f"/demo/identity?email={VERIFIED_EMAIL}")
    assert status == 200 and signed == identity(name="")
    await started(demo, signed)
    assert len(slot_calls(fake_rasa)) == 1
