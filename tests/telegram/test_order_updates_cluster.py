"""Two bridge processes of one cluster (HANDOFF_CLUSTER=redis, PostgreSQL)
against the stand-in Bot API: shop events posted to either bridge are told
to the verified chat once each; only the leader plans and sends (the
unique keys hold if leadership moves mid-way)."""
from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import AsyncIterator, Dict, List

import pytest
import pytest_asyncio
import yaml

from bot.processes import free_port
from core.policy import policy_path
from core.store import create_store
from handoff.channels.telegram import CONTACT_PROMPT
from handoff.texts import TU
from tests.handoff.bridge_process import BridgeProcess, wait_until
from tests.handoff.conftest import FakeRasa
from tests.handoff.order_updates import SECRET, SHOPPER_EMAIL, post_event
from tests.telegram.conftest import TOKEN, FakeBotApi, message_update, user

pytestmark = [pytest.mark.postgres, pytest.mark.asyncio]
ME = user(902, "Julia")


@pytest_asyncio.fixture
async def two_bridges(fresh_postgres_url: str, fake_rasa: FakeRasa, bot_api: FakeBotApi,
                      tmp_path: Path, redis_prefix: str) -> AsyncIterator[List[BridgeProcess]]:
    policy = yaml.safe_load(policy_path().read_text(encoding="utf-8"))
    policy["notification_quiet_hours"] = None  # real clocks here: the night must not hold the updates
    policy_file = tmp_path / "policy.yml"
    policy_file.write_text(yaml.safe_dump(policy, allow_unicode=True), encoding="utf-8")
    env: Dict[str, str] = {
        "HANDOFF_CLUSTER": "redis", "HANDOFF_CLUSTER_PREFIX": redis_prefix,
        "HANDOFF_LEADER_TTL_S": "2", "HANDOFF_PRESENCE_TTL_S": "3", "SHOP_WEBHOOK_SECRET": SECRET,
        "STORE_POLICY_FILE": str(policy_file), "TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_BASE_URL": bot_api.url,
        "TELEGRAM_POLL_TIMEOUT_S": "1", "TELEGRAM_TIMEOUT_S": "3"}
    started: List[BridgeProcess] = []
    try:
        for name in ("first", "second"):
            process = BridgeProcess(fresh_postgres_url, fake_rasa.url, free_port(), tmp_path / f"{name}.log")
            started.append(await process.start(HANDOFF_BRIDGE_ID=name, **env))
        yield started
    finally:
        for process in started:
            await process.kill()


async def test_events_posted_to_either_bridge_are_told_once(two_bridges: List[BridgeProcess], bot_api: FakeBotApi,
                                                            fresh_postgres_url: str) -> None:
    first, second = two_bridges
    store = create_store(fresh_postgres_url)
    try:
        found = await store.get_customer_by_email(SHOPPER_EMAIL)
        assert found is not None
        order = next(o for o in await store.orders_for_customer(found.id) if o.status == "shipped")
    finally:
        store.dispose()  # type: ignore[attr-defined]
    await bot_api.push(message_update(sender=ME, text="/start"))
    await bot_api.wait_text(CONTACT_PROMPT, timeout=30)
    digits = "".join(ch for ch in found.phone if ch.isdigit())
    await bot_api.push(message_update(sender=ME, contact={"phone_number": digits, "first_name": "Julia",
                                                          "user_id": ME["id"]}))
    await bot_api.wait_text(TU.get("tg_contact_verified", name=found.name.split()[0]), timeout=30)

    today = dt.date.today()
    dates = [today + dt.timedelta(days=n) for n in range(3, 9)]
    for n, day in enumerate(dates):  # six new dates, three through each bridge, each sent twice (the shop's retry)
        bridge = (first, second)[n % 2]
        for target in (bridge, (second, first)[n % 2]):
            status, _ = await post_event(target.port, f"delay-{n}", "order.delayed",
                                         {"order_id": order.order_id, "expected_delivery": day.isoformat()},
                                         ts=int(time.time()))
            assert status == 200

    def told(day: dt.date) -> int:
        return sum(1 for m in bot_api.sent if m["chat_id"] == ME["id"] and "se retrasa" in m["text"]
                   and f" {day.day} de " in m["text"])

    async def all_told() -> bool:
        return all(told(day) >= 1 for day in dates)

    await wait_until(all_told, "every delay told", timeout=30)
    await bot_api.push(message_update(sender=ME, text="fin"))
    await bot_api.wait_text("Eco: fin", timeout=30)   # the outbox is in order per chat: all sent before
    assert [told(day) for day in dates] == [1] * len(dates)
