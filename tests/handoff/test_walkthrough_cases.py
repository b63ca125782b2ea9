"""The web widget's side of the Telegram walkthrough of a payment problem
(issue 11): the case keeps its specific reason when the shopper asks for a
person again, attachment wording follows the case, and out of hours the
queued notice comes before the out-of-hours line (live and in a history)."""
from __future__ import annotations

import pytest

from tests.handoff.conftest import CLOSED_TIME, FakeRasa, customer


@pytest.mark.asyncio
async def test_out_of_hours_the_queued_notice_comes_before_the_out_of_hours_line(
        start_bridge, fake_rasa: FakeRasa) -> None:
    server = await start_bridge(now=CLOSED_TIME)
    client, session = await customer(server)
    await client.send({"type": "message", "text": "agente", "client_id": "m1"})
    await client.wait_for(lambda f: f.get("type") == "message" and f.get("sender") == "system"
                          and f["text"].startswith("Ahora estamos fuera del horario de atención."))
    shown = [f for f in client.seen if f["type"] == "handoff" or (f["type"] == "message" and f["sender"] != "customer")]
    order = [(f["type"], f.get("sender") or f.get("state")) for f in shown]
    # «Te paso…», the queued notice (with the status), then why nobody answers yet
    assert order == [("message", "bot"), ("handoff", "queued"), ("message", "system")], order
    queued = next(f for f in shown if f["type"] == "handoff")
    assert queued["offline"] is True and queued["promise_text"] in shown[-1]["text"]
    await client.close()

    # a reload: the history's queued event is placed before the out-of-hours line, once
    back, _ = await customer(server, session["session_id"])
    history = await back.wait_type("history")
    [event] = history["events"]
    [line] = [m for m in history["messages"] if m["sender"] == "system"]
    assert int(event["id"]) < int(line["id"])
    assert event["text"] == server.bridge.texts["queued_notice"]  # the promise only in the line
    again = await back.wait_type("handoff", state="queued")
    assert again["event_id"] == event["id"]
