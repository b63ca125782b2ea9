"""A Telegram customer's message is answered exactly once when the bridge
process is killed in the middle of its turn (HANDOFF_CRASH_AT, as kill -9):
the update was never confirmed, so the next process gets it again from
getUpdates, finds the stored message and its owed turn, and finishes it;
Rasa (the stand-in, which replays a retried message id as the real bridge
channel does) ran the turn once. On SQLite and PostgreSQL."""
from __future__ import annotations

from pathlib import Path

import pytest

from bot.processes import free_port
from handoff.storage import Storage
from tests.handoff.test_crash_recovery import BridgeProcess
from tests.telegram.conftest import TOKEN, FakeBotApi, message_update

pytestmark = pytest.mark.asyncio


@pytest.mark.parametrize("step", ["turn_stored", "turn_rasa_answered", "turn_replied"])
async def test_killed_mid_turn_a_telegram_message_is_answered_once(step: str, bot_api: FakeBotApi, fake_rasa,
                                                                   any_db_url: str, tmp_path: Path) -> None:
    bridge = BridgeProcess(any_db_url, fake_rasa.url, free_port(), tmp_path / "bridge.log")
    telegram = {"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_BASE_URL": bot_api.url, "TELEGRAM_POLL_TIMEOUT_S": "1"}
    await bridge.start(crash_at=step, **telegram)
    try:
        await bot_api.push(message_update(text="¿cuánto tarda el envío?"))
        await bridge.crashed()
        await bridge.start(**telegram)
        await bot_api.wait_text("Eco: ¿cuánto tarda el envío?", timeout=30)
        await bot_api.push(message_update(text="gracias"))
        await bot_api.wait_text("Eco: gracias", timeout=30)
        assert [m["text"] for m in bot_api.sent].count("Eco: ¿cuánto tarda el envío?") == 1
        assert fake_rasa.processed.count("¿cuánto tarda el envío?") == 1
        storage = Storage(any_db_url)
        try:
            assert await storage.pending_turns() == []
        finally:
            storage.dispose()
    finally:
        await bridge.stop()
