"""``POST /api/shop/events`` on a real bridge (handoff/shop/events.py), on
SQLite and PostgreSQL: the signature, the timestamp and the headers are
checked before anything else; a valid event changes the store; a repeated
event id (again, after a restart, or from two bridges at once) is answered
200 and applied once; the sample command a shop developer runs is accepted."""
from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import sys
from pathlib import Path
from typing import Any, AsyncIterator, Dict, Optional, Tuple

import aiohttp
import pytest
import pytest_asyncio
from sqlalchemy import func, select

from bot.processes import free_port
from bot.settings import ROOT
from core.shop_signing import body_signature
from core.store.models import ShopEventRow
from core.store.seed import load_demo_data
from core.store.sql import SqlStore
from handoff.server import BridgeServer
from tests.handoff.bridge_process import BridgeProcess
from tests.handoff.conftest import OPEN_TIME, BridgeFactory, FakeRasa

pytestmark = pytest.mark.asyncio
SECRET = "shop-secret-for-tests"
NOW = int(OPEN_TIME.timestamp())  # the bridges' clock in these tests
PATH = "/api/shop/events"


def order_with(status: str) -> Dict[str, Any]:
    return next(o for o in load_demo_data()["orders"] if o["status"] == status)


def body_of(topic: str, order: Dict[str, Any], **extra: Any) -> bytes:
    return json.dumps({"topic": topic, "order": order, **extra}).encode("utf-8")


def signed(body: bytes, event_id: str = "evt-1", ts: int = NOW, secret: str = SECRET) -> Dict[str, str]:
    return {"Content-Type": "application/json", "X-Shop-Hmac-Sha256": body_signature(secret, body),
            "X-Shop-Event-Id": event_id, "X-Shop-Timestamp": str(ts)}


async def post(port: int, body: Any, headers: Dict[str, str], method: str = "POST") -> Tuple[int, Dict[str, Any]]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as session:
        async with session.request(method, f"http://127.0.0.1:{port}{PATH}", data=body, headers=headers) as response:
            return response.status, await response.json(content_type=None)


async def events_recorded(database_url: str) -> int:
    store = SqlStore(database_url)
    try:
        return store.run_in_transaction(lambda s: s.execute(select(func.count()).select_from(ShopEventRow)).scalar_one())
    finally:
        store.dispose()


@pytest_asyncio.fixture
async def shop_bridge(any_db_url: str, start_bridge: BridgeFactory) -> AsyncIterator[BridgeServer]:
    yield await start_bridge(database_url=any_db_url, shop_webhook_secret=SECRET, shop_events_max_bytes=4096)


SHIPPED = {"carrier": "SEUR", "tracking_number": "SEUR0001234567", "expected_delivery": "2025-11-28"}


async def test_a_signed_event_updates_the_store(shop_bridge: BridgeServer) -> None:
    order = order_with("processing")
    body = body_of("order.shipped", {"order_id": order["order_id"], "status": "shipped", **SHIPPED})
    status, answer = await post(shop_bridge.port, body, signed(body))
    assert (status, answer) == (200, {"status": "applied", "event_id": "evt-1", "order_id": order["order_id"],
                                      "order_status": "shipped"})
    stored = await shop_bridge.bridge.store.get_order(order["order_id"])
    assert stored is not None and stored.status == "shipped" and stored.expected_delivery == dt.date(2025, 11, 28)
    assert stored.shipment is not None
    assert (stored.shipment.carrier, stored.shipment.tracking_number) == ("SEUR", "SEUR0001234567")


async def test_a_repeated_event_id_gets_200_and_is_applied_once(shop_bridge: BridgeServer, any_db_url: str) -> None:
    order = order_with("shipped")
    out = body_of("order.out_for_delivery", {"order_id": order["order_id"]})
    assert (await post(shop_bridge.port, out, signed(out, "out-1")))[1]["status"] == "applied"
    delivered = body_of("order.delivered", {"order_id": order["order_id"]})
    assert (await post(shop_bridge.port, delivered, signed(delivered, "delivered-1")))[1]["status"] == "applied"
    status, answer = await post(shop_bridge.port, out, signed(out, "out-1"))  # the shop's retry of the first
    assert (status, answer) == (200, {"status": "duplicate", "event_id": "out-1"})
    stored = await shop_bridge.bridge.store.get_order(order["order_id"])
    assert stored is not None and stored.status == "delivered"  # the repeat did not set it back
    assert await events_recorded(any_db_url) == 2
    metrics = shop_bridge.bridge.metrics.exposition().decode()
    assert 'handoff_shop_events_total{result="applied"} 2.0' in metrics
    assert 'handoff_shop_events_total{result="duplicate"} 1.0' in metrics


@pytest.mark.parametrize("case", ["wrong_secret", "tampered_body", "no_signature", "stale", "ahead", "no_timestamp",
                                  "bad_timestamp"])
async def test_a_bad_signature_or_timestamp_gets_401_and_changes_nothing(
        shop_bridge: BridgeServer, any_db_url: str, case: str) -> None:
    order = order_with("processing")
    body = body_of("order.shipped", {"order_id": order["order_id"], **SHIPPED})
    headers = signed(body)
    expected = {"wrong_secret": "bad_signature", "tampered_body": "bad_signature", "no_signature": "missing_signature",
                "stale": "stale_timestamp", "ahead": "stale_timestamp", "no_timestamp": "bad_timestamp",
                "bad_timestamp": "bad_timestamp"}[case]
    if case == "wrong_secret":
        headers = signed(body, secret="not-the-shop-secret")
    elif case == "tampered_body":
        body = body.replace(b"SEUR0001234567", b"SEUR0009999999")
    elif case == "no_signature":
        del headers["X-Shop-Hmac-Sha256"]
    elif case == "stale":
        headers = signed(body, ts=NOW - 301)
    elif case == "ahead":
        headers = signed(body, ts=NOW + 301)
    elif case == "no_timestamp":
        del headers["X-Shop-Timestamp"]
    else:
        headers["X-Shop-Timestamp"] = "ayer"
    status, answer = await post(shop_bridge.port, body, headers)
    assert (status, answer["error"]) == (401, expected)
    stored = await shop_bridge.bridge.store.get_order(order["order_id"])
    assert stored is not None and stored.status == "processing"
    assert await events_recorded(any_db_url) == 0


async def test_a_timestamp_within_300_s_is_taken(shop_bridge: BridgeServer) -> None:
    body = body_of("order.delayed", {"order_id": order_with("shipped")["order_id"], "expected_delivery": "2025-12-01"})
    assert (await post(shop_bridge.port, body, signed(body, ts=NOW - 300)))[0] == 200


@pytest.mark.parametrize("body,event_id,code", [
    (b"{not json", "e", "invalid_json"),
    (b'["a list"]', "e", "invalid_json"),
    (b'{"topic": "order.lost", "order": {"order_id": "123456"}}', "e", "unknown_topic"),
    (b'{"topic": "order.shipped", "order": {"order_id": "12"}}', "e", "invalid_field"),
    (b'{"topic": "order.shipped", "order": {"order_id": "123456", "status": "enviado"}}', "e", "invalid_field"),
    (b'{"topic": "order.delayed", "order": {"order_id": "123456"}}', "e", "invalid_field"),
    (b'{"topic": "refund.issued", "order": {"order_id": "123456", "refund": {"amount": "-1"}}}', "e", "invalid_field"),
    (b'{"event_id": "other", "topic": "order.shipped", "order": {"order_id": "123456"}}', "e", "event_id_mismatch"),
    (b'{"topic": "order.shipped", "order": {"order_id": "123456"}}', "", "invalid_event_id"),
    (b'{"topic": "order.shipped", "order": {"order_id": "123456"}}', "tiene espacios", "invalid_event_id"),
])
async def test_a_malformed_signed_body_gets_400_naming_what(
        shop_bridge: BridgeServer, body: bytes, event_id: str, code: str) -> None:
    headers = signed(body, event_id)
    if not event_id:
        del headers["X-Shop-Event-Id"]
    status, answer = await post(shop_bridge.port, body, headers)
    assert (status, answer["error"]) == (400, code)
    assert answer["detail"]


async def test_an_unknown_order_gets_404_and_is_not_recorded(shop_bridge: BridgeServer, any_db_url: str) -> None:
    body = body_of("order.shipped", {"order_id": "999999", **SHIPPED})
    status, answer = await post(shop_bridge.port, body, signed(body, "for-later"))
    assert (status, answer["error"]) == (404, "unknown_order")
    assert await events_recorded(any_db_url) == 0  # so the shop's retry applies once the order exists
    incomplete = body_of("order.shipped", {"order_id": order_with("processing")["order_id"]})
    status, answer = await post(shop_bridge.port, incomplete, signed(incomplete, "no-carrier"))
    assert (status, answer["error"]) == (422, "incomplete_event")


async def test_size_length_and_method_are_checked(shop_bridge: BridgeServer) -> None:
    big = body_of("order.shipped", {"order_id": "123456", "note": "x" * 5000})
    status, answer = await post(shop_bridge.port, big, signed(big))
    assert (status, answer["error"]) == (413, "too_large")

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"topic": "order.shipped"}'

    status, answer = await post(shop_bridge.port, chunks(), {"X-Shop-Hmac-Sha256": "x"})
    assert (status, answer["error"]) == (411, "length_required")
    status, answer = await post(shop_bridge.port, None, {}, method="GET")
    assert (status, answer["error"]) == (405, "method_not_allowed")
    # the other routes are served as before, and other methods elsewhere are refused
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{shop_bridge.port}/health/live") as response:
            assert response.status == 200
        async with session.post(f"http://127.0.0.1:{shop_bridge.port}/health", data=b"{}") as response:
            assert response.status == 400


async def test_without_the_secret_the_endpoint_is_off(start_bridge: BridgeFactory) -> None:
    server = await start_bridge()
    body = body_of("order.shipped", {"order_id": "123456", **SHIPPED})
    status, answer = await post(server.port, body, signed(body))
    assert (status, answer["error"]) == (503, "shop_events_off")
    assert "SHOP_WEBHOOK_SECRET" in answer["detail"]


async def test_two_bridges_racing_one_event_id_apply_it_once(
        any_db_url: str, start_bridge: BridgeFactory) -> None:
    first = await start_bridge(database_url=any_db_url, shop_webhook_secret=SECRET)
    second = await start_bridge(database_url=any_db_url, shop_webhook_secret=SECRET)
    order = order_with("delivered")
    before = await first.bridge.store.get_order(order["order_id"])
    assert before is not None
    body = body_of("refund.issued", {"order_id": order["order_id"], "refund": {"amount": "15.00"}})
    answers = await asyncio.gather(*(post(s.port, body, signed(body, "refund-race")) for s in (first, second) * 3))
    assert sorted(a["status"] for _, a in answers) == ["applied"] + ["duplicate"] * 5
    after = await first.bridge.store.get_order(order["order_id"])
    assert after is not None and len(after.refunds) == len(before.refunds) + 1


async def test_a_repeat_after_a_restart_is_applied_once(
        any_db_url: str, fake_rasa: FakeRasa, tmp_path: Path) -> None:
    """The shop retries (it got no answer) while the bridge is killed and
    restarted: the retry is answered 200 and nothing is applied twice."""
    bridge = BridgeProcess(any_db_url, fake_rasa.url, free_port(), tmp_path / "bridge.log")
    now = int(dt.datetime.now(dt.timezone.utc).timestamp())
    order = order_with("delivered")
    body = body_of("refund.issued", {"order_id": order["order_id"], "refund": {"amount": "20.00"}})
    try:
        await bridge.start(SHOP_WEBHOOK_SECRET=SECRET)
        assert (await post(bridge.port, body, signed(body, "refund-restart", now)))[1]["status"] == "applied"
        await bridge.kill()
        await bridge.start(SHOP_WEBHOOK_SECRET=SECRET)
        status, answer = await post(bridge.port, body, signed(body, "refund-restart", now))
        assert (status, answer["status"]) == (200, "duplicate")
    finally:
        await bridge.kill()
    store = SqlStore(any_db_url)
    try:
        stored = await store.get_order(order["order_id"])
    finally:
        store.dispose()
    assert stored is not None
    assert [r.amount for r in stored.refunds if r.status == "completed"].count(20) == 1
    assert await events_recorded(any_db_url) == 1


async def run_cli(*args: str, secret: Optional[str] = SECRET) -> Tuple[int, str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("SHOP_WEBHOOK_SECRET", None)
    if secret is not None:
        env["SHOP_WEBHOOK_SECRET"] = secret
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "handoff", "shop-event", *args, cwd=str(ROOT), env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(process.communicate(), 60)
    return process.returncode or 0, out.decode()


async def test_the_sample_command_sends_an_event_the_bridge_takes(start_bridge: BridgeFactory) -> None:
    server = await start_bridge(now=dt.datetime.now(dt.timezone.utc), shop_webhook_secret=SECRET)
    order = order_with("processing")
    url = f"http://127.0.0.1:{server.port}{PATH}"
    code, out = await run_cli("order.shipped", order["order_id"], "--event-id", "cli-1", "--url", url)
    assert code == 0 and '"status": "applied"' in out, out
    stored = await server.bridge.store.get_order(order["order_id"])
    assert stored is not None and stored.status == "shipped" and stored.shipment is not None
    assert stored.shipment.carrier == "SEUR"
    code, out = await run_cli("order.shipped", order["order_id"], "--event-id", "cli-1", "--url", url)
    assert code == 0 and '"status": "duplicate"' in out, out
    code, out = await run_cli("order.shipped", "999999", "--url", url)
    assert code == 1 and "unknown_order" in out
    code, out = await run_cli("order.shipped", order["order_id"], "--url", url, secret=None)
    assert code == 2 and "SHOP_WEBHOOK_SECRET" in out


async def raw_request(port: int, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), 20)
    finally:
        writer.close()


@pytest.mark.parametrize("header,status", [
    (b"X-Shop-Hmac-Sha256: \xff\xfe\r\nX-Shop-Timestamp: 1\r\n", b"401"),
    ("X-Shop-Hmac-Sha256: x\r\nX-Shop-Timestamp: ²\r\n".encode(), b"401"),
    ("Content-Length: ²\r\n".encode(), b"411"),
])
async def test_hostile_headers_get_an_answer_not_a_fault(
        start_bridge: BridgeFactory, header: bytes, status: bytes, caplog: pytest.LogCaptureFixture) -> None:
    server = await start_bridge(shop_webhook_secret=SECRET)
    length = b"" if b"Content-Length" in header else b"Content-Length: 2\r\n"
    answer = await raw_request(server.port, b"POST /api/shop/events HTTP/1.1\r\nHost: x\r\n" + length + header
                               + b"\r\n{}")
    assert answer.startswith(b"HTTP/1.1 " + status), answer[:200]
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
