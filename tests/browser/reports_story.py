"""The reports story of tests/handoff/test_reports.py (known answers) built
through a real bridge on its own thread, for the console's "Informes" view."""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Dict

from core.policy import load_policy
from core.store.seed import seed_store
from handoff.agents import add_agent
from handoff.bridge import Bridge
from handoff.server import BridgeServer
from handoff.settings import HandoffSettings
from tests.browser.test_widget_offline import ThreadedBridge
from tests.handoff.conftest import BRIDGE_SECRET
from tests.handoff.test_reports import NOW, T, _build


class _Clock:
    """``_build``'s clock (``.at``) moving the threaded bridge's ``now``."""

    def __init__(self, bridge: ThreadedBridge) -> None:
        self._bridge = bridge

    @property
    def at(self) -> Any:
        return self._bridge.now

    @at.setter
    def at(self, moment: Any) -> None:
        self._bridge.now = moment


class ReportsBridge(ThreadedBridge):
    tokens: Dict[str, str]
    ids: Dict[str, str]
    agents: Dict[str, str]

    async def _start(self) -> str:
        rasa = self.rasa = await self.rasa_class().serve()
        settings = HandoffSettings(host="127.0.0.1", port=0, rasa_url=rasa.url, rasa_bridge_secret=BRIDGE_SECRET,
                                   rasa_timeout_s=1.0, agent_grace_s=60.0, database_url=self.database_url,
                                   queue_abandon_after_s=0)
        self.server = BridgeServer(settings, Bridge(settings, policy=self.policy, clock=lambda: self.now))
        port = await self.server.start()
        return f"http://127.0.0.1:{port}"

    async def _story(self) -> None:
        assert self.server is not None
        storage = self.server.bridge.storage
        ana, _ = await add_agent(storage, "Ana")
        beto, _ = await add_agent(storage, "Beto")
        _, agent_token = await add_agent(storage, "Carla")
        _, supervisor = await add_agent(storage, "Sonia", role="supervisor")
        self.ids = await _build(self.server.bridge, _Clock(self), ana, beto, self.database_url)
        self.tokens = {"agent": agent_token, "supervisor": supervisor}
        self.agents = {"Ana": ana.id, "Beto": beto.id}


def start_reports_bridge(tmp_path: Path) -> ReportsBridge:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    seed_store(url)
    policy = dataclasses.replace(load_policy(), nps_share=1.0, first_response_target_minutes=30, fcr_window_days=7,
                                 timezone="Europe/Madrid")
    bridge = ReportsBridge(url, T(24, 5), policy=policy)
    bridge.base_url = bridge.start()  # type: ignore[attr-defined]
    bridge.run(bridge._story())
    bridge.now = NOW
    return bridge
