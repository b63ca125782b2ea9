"""Walkthrough: a Telegram rating was thanked twice (a "¡Gracias!" pop-up on
the button press and the bridge's "¡Gracias por tu valoración!" in the chat);
the NPS answer too. One thank-you each: the chat's line; the press only stops
the button's spinner."""
from __future__ import annotations

import dataclasses
from typing import List

import pytest

from tests.handoff.conftest import FakeRasa, agent_client, new_agent
from tests.telegram.conftest import FakeBotApi, callback_update, inline_buttons, message_update


def thanks(bot_api: FakeBotApi) -> List[str]:
    """Every thank-you the shopper saw: chat messages and button pop-ups."""
    toasts = [str(c["params"].get("text") or "") for c in bot_api.calls if c["method"] == "answerCallbackQuery"]
    return [t for t in bot_api.texts() + toasts if "gracias" in t.lower()]


@pytest.mark.asyncio
async def test_a_rating_and_the_nps_answer_are_thanked_once_each(start_telegram, bot_api: FakeBotApi,
                                                                fake_rasa: FakeRasa) -> None:
    server = await start_telegram()
    bridge = server.bridge
    bridge.policy = dataclasses.replace(bridge.policy, nps_share=1.0)  # every customer gets the NPS question
    _, token = await new_agent(server, "Ana")
    agent = await agent_client(server, token)
    await bot_api.push(message_update(text="/agente"))
    await bot_api.wait_sent(lambda m: m["text"].startswith("Te hemos puesto en la cola"))
    cid = fake_rasa.webhook_calls[-1]["sender"]
    await agent.send({"type": "claim", "conversation_id": cid})
    await agent.wait_type("conversation")
    await agent.send({"type": "close", "conversation_id": cid, "resolution": "resolved"})
    csat = await bot_api.wait_text(bridge.texts.get("csat_ask", agent="Ana"))

    await bot_api.push(callback_update(inline_buttons(csat)[4]["callback_data"], message_id=csat["message_id"]))
    nps = await bot_api.wait_text(bridge.texts["nps_ask"])  # sent after the thanks
    await bot_api.wait_calls(lambda c: c["method"] == "answerCallbackQuery")
    assert thanks(bot_api) == [bridge.texts["csat_thanks"]]

    await bot_api.push(callback_update(inline_buttons(nps)[9]["callback_data"], message_id=nps["message_id"]))
    await bot_api.wait_text(bridge.texts["nps_thanks"])
    await bot_api.wait_calls(lambda c: c["method"] == "answerCallbackQuery", count=2)
    assert thanks(bot_api) == [bridge.texts["csat_thanks"], bridge.texts["nps_thanks"]]
