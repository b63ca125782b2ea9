"""The summary and the CSV give the same durations to the millisecond
(docs/reports.md, "CSV"): times stored with microseconds are read the same
way by both (the database's epoch, rounded to the millisecond), so a
supervisor who takes the median of the CSV's column gets the summary's.

Found by the end-to-end check of the Informes view: queued at
…24.487387, first reply at …52.018781 gave 87.532 s in the summary and
87.531 s in the CSV. On SQLite and PostgreSQL."""
from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
from typing import AsyncIterator, Dict, List

import aiohttp
import pytest
import pytest_asyncio

from core.policy import load_policy
from handoff.agents import add_agent
from handoff.bridge import Bridge
from handoff.server import BridgeServer
from handoff.settings import HandoffSettings
from tests.handoff.conftest import BRIDGE_SECRET, FakeRasa

UTC = dt.timezone.utc
# Monday 24 November 2025, support open in Madrid
QUEUED = dt.datetime(2025, 11, 24, 10, 37, 24, 487387, tzinfo=UTC)
CLAIMED = dt.datetime(2025, 11, 24, 10, 38, 10, 100000, tzinfo=UTC)
REPLIED = dt.datetime(2025, 11, 24, 10, 38, 52, 18781, tzinfo=UTC)
CLOSED = dt.datetime(2025, 11, 24, 10, 38, 52, 23784, tzinfo=UTC)
NOW = dt.datetime(2025, 11, 24, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self, at: dt.datetime) -> None:
        self.at = at

    def __call__(self) -> dt.datetime:
        return self.at


@dataclasses.dataclass
class Case:
    server: BridgeServer
    supervisor: str


@pytest_asyncio.fixture
async def case(fake_rasa: FakeRasa, any_db_url: str) -> AsyncIterator[Case]:
    policy = dataclasses.replace(load_policy(), timezone="Europe/Madrid", nps_share=0.0)
    settings = HandoffSettings(host="127.0.0.1", port=0, rasa_url=fake_rasa.url, rasa_bridge_secret=BRIDGE_SECRET,
                               rasa_timeout_s=1.0, agent_grace_s=60.0, database_url=any_db_url,
                               queue_abandon_after_s=0)
    clock = Clock(QUEUED)
    bridge = Bridge(settings, policy=policy, clock=clock)
    server = BridgeServer(settings, bridge)
    await server.start()
    try:
        ana, _ = await add_agent(bridge.storage, "Ana")
        _, supervisor = await add_agent(bridge.storage, "Sonia", role="supervisor")
        conversation, _ = await bridge.open_session(None, "web")
        await bridge.customer_message(conversation.id, None, "agente", None, None)
        clock.at = CLAIMED
        await bridge.claim(ana, conversation.id)
        clock.at = REPLIED
        await bridge.agent_message(ana, conversation.id, "Hola, soy Ana", None, None)
        clock.at = CLOSED
        await bridge.close(ana, conversation.id, "resolved")
        clock.at = NOW
        yield Case(server, supervisor)
    finally:
        await server.stop()


async def _get(case: Case, path: str) -> bytes:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{case.server.port}{path}?from=2025-11-24&to=2025-11-24",
                               headers={"Authorization": f"Bearer {case.supervisor}"}) as response:
            assert response.status == 200, await response.text()
            return await response.read()


@pytest.mark.asyncio
async def test_the_csv_and_the_summary_agree_to_the_millisecond(case: Case) -> None:
    import json

    summary = json.loads(await _get(case, "/api/reports/summary"))
    rows: List[Dict[str, str]] = list(csv.DictReader(io.StringIO((await _get(case, "/api/reports/conversations.csv"))
                                                                 .decode("utf-8"))))
    assert len(rows) == 1 and summary["first_response_s"]["count"] == 1
    assert float(rows[0]["first_response_s"]) == summary["first_response_s"]["median"]
    assert float(rows[0]["resolution_s"]) == summary["resolution_s"]["median"]
    assert float(rows[0]["first_response_business_s"]) == summary["first_response_business_s"]["median"]
    # both are the stored times to the millisecond: 52.019 - 24.487
    assert summary["first_response_s"]["median"] == pytest.approx(87.532, abs=1e-9)
