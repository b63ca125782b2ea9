"""The ``authenticated`` frame on /ws/agent says the agent's role, so the
console shows supervisors the reports view (docs/protocol.md)."""
from __future__ import annotations

import pytest

from handoff.agents import add_agent
from tests.handoff.conftest import connect


@pytest.mark.asyncio
@pytest.mark.parametrize("role", ["agent", "supervisor"])
async def test_the_authenticated_frame_carries_the_role(start_bridge, role: str) -> None:
    server = await start_bridge()
    agent, token = await add_agent(server.bridge.storage, "Sonia", role=role)
    client = await connect(server, "/ws/agent")
    try:
        await client.send({"type": "auth", "token": token})
        frame = await client.wait_type("authenticated")
        assert frame["agent"] == {"id": agent.id, "name": "Sonia", "role": role}
    finally:
        await client.close()
