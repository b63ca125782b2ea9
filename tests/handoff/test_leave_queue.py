"""A queued shopper goes back to the bot (issue: "ya no hace falta" got
nothing useful): the "Volver al asistente" button (payload ``/leave_queue``)
or a clear text leaves the queue, a word that may mean it ("cancelar") is
asked about, and once an agent has claimed the conversation it cannot be left.
The bridge's state machine decides; the agents' queue loses the entry; Rasa is
resumed with ``utter_queue_left`` (no rating: nobody attended the shopper); the
episode ends with outcome ``withdrawn``. Real WebSocket clients, stand-in Rasa."""
from __future__ import annotations

from typing import Any, Dict, List

import pytest

from handoff.queue_exit import ASK, LEAVE, queue_exit
from handoff.storage import Storage
from handoff.texts import texts_for
from tests.handoff.conftest import QUEUE_LEFT_LINE, FakeRasa, agent_client, customer, new_agent, queued_customer

TU = texts_for("tu")
LEAVE_PRESS = {"type": "message", "text": "Volver al asistente", "payload": "/leave_queue"}


def frames_of(frames: List[Dict[str, Any]], kind: str) -> List[Dict[str, Any]]:
    return [f for f in frames if f.get("type") == kind]


@pytest.mark.asyncio
async def test_the_button_takes_a_queued_shopper_back_to_the_bot(start_bridge, fake_rasa: FakeRasa) -> None:
    server = await start_bridge()
    _, token = await new_agent(server, "Ana")
    agent = await agent_client(server, token)
    client, session, _ = await queued_customer(server)
    cid = session["conversation_id"]
    await agent.wait_for(lambda f: f["type"] == "queue" and [c["conversation_id"] for c in f["conversations"]] == [cid])

    await client.send({**LEAVE_PRESS, "client_id": "l1"})
    await client.wait_type("ack", client_id="l1")
    ended = await client.wait_type("handoff")
    assert {k: ended[k] for k in ("type", "state", "outcome")} == {"type": "handoff", "state": "ended", "outcome": "withdrawn"}
    line = await client.wait_type("message", sender="bot")
    assert line["text"] == QUEUE_LEFT_LINE and line["buttons"][0]["payload"] == "/request_human"
    # the agents' queue updates at once
    await agent.wait_for(lambda f: f["type"] == "queue" and f["conversations"] == [])
    # Rasa resumed with the queue-left line, the press never reached it as a turn
    assert fake_rasa.api_calls[-1]["body"] == {"sender": cid, "action": "utter_queue_left"}
    assert "/leave_queue" not in [c["message"] for c in fake_rasa.webhook_calls]
    # back with the bot: no rating request, the next message is Rasa's again
    await client.send({"type": "message", "text": "hola otra vez"})
    assert (await client.wait_type("message", sender="bot"))["text"] == "Eco: hola otra vez"
    assert not frames_of(client.seen, "csat_request")
    await client.send({"type": "csat", "score": 5})
    assert (await client.wait_type("error"))["code"] == "no_csat_pending"
    # nobody can claim it any more
    await agent.send({"type": "claim", "conversation_id": cid})
    assert (await agent.wait_type("error"))["code"] == "already_claimed"

    # recorded for reports: the episode ended as withdrawn, never handled
    [episode] = await server.bridge.storage.episodes(cid)
    assert episode["outcome"] == "withdrawn" and episode["ended_at"] is not None
    assert episode["closed_at"] is None and episode["resolution"] is None and episode["assigned_at"] is None
    assert b'handoff_queue_left_total{how="button"} 1.0' in server.bridge.metrics.exposition()
    assert await server.bridge.storage.pending_turns(cid) == []
    # a resumed session shows the bot state (no queued frame)
    again, _ = await customer(server, session["session_id"])
    history = await again.wait_type("history")
    assert "Volver al asistente" in [m["text"] for m in history["messages"] if m["sender"] == "customer"]
    assert not [f for f in await again.barrier() if f.get("type") in ("handoff", "csat_request")]


@pytest.mark.asyncio
async def test_clear_text_leaves_a_doubtful_word_is_asked_and_the_rest_reaches_the_agent(
        start_bridge, fake_rasa: FakeRasa) -> None:
    server = await start_bridge()
    _, token = await new_agent(server, "Ana")
    agent = await agent_client(server, token)
    client, session, _ = await queued_customer(server)
    cid = session["conversation_id"]

    # a request for the agent, even with "cancelar" in it, stays a request for the agent
    await client.send({"type": "message", "text": "quiero cancelar el pedido 101490", "client_id": "t1"})
    await client.wait_type("ack", client_id="t1")
    await agent.wait_for(lambda f: f["type"] == "queue" and f["conversations"]
                         and f["conversations"][0]["preview"] == "quiero cancelar el pedido 101490")
    told = await client.wait_type("message", sender="system")  # passed to the team, and the place
    assert told["text"].startswith(TU.get("queue_ack", position=1))
    # "cancelar" alone may be the order or the wait: asked, with buttons, still queued
    await client.send({"type": "message", "text": "Cancelar", "client_id": "t2"})
    ask = await client.wait_type("message", sender="system")
    assert ask["text"] == TU["queue_exit_ask"]
    assert [b["payload"] for b in ask["buttons"]] == ["/leave_queue", "/keep_waiting"]
    await client.send({"type": "message", "text": "Seguir esperando", "payload": "/keep_waiting",
                       "reply_to": ask["id"], "client_id": "t3"})
    kept = await client.wait_type("message", sender="system")
    assert kept["text"] == TU["queue_kept"]
    assert (await client.wait_type("handoff"))["state"] == "queued"
    assert (await server.bridge.storage.get_conversation(cid)).state.value == "queued"

    await client.send({"type": "message", "text": "Ya no hace falta, gracias", "client_id": "t4"})
    assert (await client.wait_type("handoff"))["outcome"] == "withdrawn"
    await client.wait_type("message", sender="bot", text=QUEUE_LEFT_LINE)
    await agent.wait_for(lambda f: f["type"] == "queue" and f["conversations"] == [])
    assert b'handoff_queue_left_total{how="text"} 1.0' in server.bridge.metrics.exposition()
    # none of it went to Rasa
    assert [c["message"] for c in fake_rasa.webhook_calls] == ["agente"]


@pytest.mark.asyncio
async def test_once_an_agent_has_claimed_the_queue_cannot_be_left(start_bridge, fake_rasa: FakeRasa) -> None:
    server = await start_bridge()
    _, token = await new_agent(server, "Ana")
    agent = await agent_client(server, token)
    client, session, _ = await queued_customer(server)
    cid = session["conversation_id"]
    await agent.send({"type": "claim", "conversation_id": cid})
    await agent.wait_type("conversation")
    await client.wait_type("handoff", state="assigned")

    # a press that crossed the claim: the agent sees it, the shopper is told who attends them
    await client.send({**LEAVE_PRESS, "client_id": "l1"})
    line = await agent.wait_type("message", sender="customer")
    assert line["text"] == "Volver al asistente"
    told = await client.wait_type("message", sender="system")
    assert told["text"] == TU.get("queue_exit_too_late", agent="Ana")
    # a clear text is for the agent too: the agent ends it (close)
    await client.send({"type": "message", "text": "ya no hace falta", "client_id": "l2"})
    assert (await agent.wait_type("message", sender="customer"))["text"] == "ya no hace falta"
    conversation = await server.bridge.storage.get_conversation(cid)
    assert conversation.state.value == "agent"
    assert not [f for f in await client.barrier() if f.get("type") == "handoff"]
    [episode] = await server.bridge.storage.episodes(cid)
    assert episode["outcome"] is None
    assert fake_rasa.api_calls == []


@pytest.mark.asyncio
async def test_a_late_press_with_the_bot_never_reaches_rasa(start_bridge, fake_rasa: FakeRasa) -> None:
    server = await start_bridge()
    client, _ = await customer(server)
    await client.send({**LEAVE_PRESS, "client_id": "l1"})
    answer = await client.wait_type("message", sender="system")
    assert answer["text"] == TU["queue_not_queued"]
    await client.send({"type": "message", "text": "Seguir esperando", "payload": "/keep_waiting", "client_id": "l2"})
    assert (await client.wait_type("message", sender="system"))["text"] == TU["queue_not_queued"]
    assert fake_rasa.webhook_calls == []
    assert await server.bridge.storage.pending_turns() == []


@pytest.mark.asyncio
async def test_rasa_down_when_leaving_the_bridges_own_line_with_the_way_back(start_bridge, fake_rasa: FakeRasa) -> None:
    server = await start_bridge()
    client, _, _ = await queued_customer(server)
    fake_rasa.fail_resume = True
    await client.send({**LEAVE_PRESS, "client_id": "l1"})
    line = await client.wait_type("message", sender="system")
    assert line["text"] == TU["queue_left"]
    assert line["buttons"] == [{"title": "Hablar con una persona", "payload": "/request_human"}]
    # the way back works: queued again, a new episode
    fake_rasa.fail_resume = False
    await client.send({"type": "message", "text": "agente", "client_id": "a2"})
    assert (await client.wait_type("handoff"))["state"] == "queued"


@pytest.mark.asyncio
async def test_a_bridge_that_died_after_storing_the_leave_finishes_it_at_start(
        start_bridge, fake_rasa: FakeRasa, db_url: str) -> None:
    """The withdraw turn is stored with the state change: the next process owes
    the bot's line and gives it once."""
    server = await start_bridge()
    client, session, _ = await queued_customer(server)
    cid = session["conversation_id"]
    storage = Storage(db_url)  # as the dead process would have: state changed, turn owed, nothing sent
    try:
        await storage.withdraw(cid, server.bridge.clock())
    finally:
        storage.dispose()
    assert [t.kind for t in await server.bridge.storage.pending_turns(cid)] == ["withdraw"]
    assert await server.bridge.recover() == 1
    await client.wait_type("message", sender="bot", text=QUEUE_LEFT_LINE)
    assert await server.bridge.recover() == 0
    assert not frames_of(client.seen, "csat_request")


@pytest.mark.parametrize("text", [
    "ya no hace falta", "Ya no hace falta, gracias!", "cancela la espera", "cancelar la espera por favor",
    "mejor sigo con el bot", "prefiero seguir con el asistente", "ya lo he solucionado", "no quiero esperar",
    "quiero volver al asistente", "sácame de la cola", "ya no lo necesito", "Volver al asistente",
    # two brush-offs together, or a plain "it's sorted" (the tester's "olvidalo, ya esta" got nothing)
    "olvidalo, ya esta", "Olvídalo, ya está.", "déjalo, no importa", "ya lo solucioné", "ya lo solucione, gracias",
    "ya no importa", "ya da igual", "nada, olvídalo", "ya no hace falta, olvídalo", "cancela, ya no hace falta",
])
def test_clear_requests_to_leave(text: str) -> None:
    assert queue_exit(text) == LEAVE


@pytest.mark.parametrize("text", ["cancelar", "Cancelar.", "cancela", "déjalo", "olvídalo", "adiós", "me voy",
                                  "ya no hace falta el reembolso", "ya no hace falta, lo he encontrado en mi correo",
                                  "ya está", "Ya está.", "ya no", "no importa", "cancela por favor", "déjalo, gracias",
                                  # goodbyes with politeness only (the walkthrough's "gracias, nada más, chau" got the
                                  # "sigues en la cola" line as if it were for the agent)
                                  "gracias, nada más, chau", "chau", "bueno chao gracias", "ok gracias, adiós",
                                  "me voy, gracias", "nada más, gracias", "bye!", "hasta luego",
                                  # the assistant's goodbyes (core/goodbyes.py): once missing here
                                  "agur", "vale, hasta otra", "ya está todo, gracias"])
def test_words_that_may_mean_leaving_are_asked(text: str) -> None:
    assert queue_exit(text) == ASK


@pytest.mark.parametrize("text", [
    "quiero cancelar el pedido 101490", "hola", "¿cuánto falta?", "mi pedido no llega",
    "ya no hace falta que me devolváis el dinero, prefiero cambiarlo por otra talla más grande", "no", "gracias",
    "hace falta que me llaméis", "necesito hablar con una persona YA", "ya está, te he mandado la foto",
    "cancelar el pedido ya", "no importa el color, quiero la talla M",
    "chau, el pedido 123456 sigue sin llegar", "nada más que decir: quiero mi dinero",
])
def test_anything_else_is_for_the_agent(text: str) -> None:
    assert queue_exit(text) is None


@pytest.mark.asyncio
async def test_an_episodes_table_from_before_gets_its_outcome_columns(start_bridge, any_db_url: str) -> None:
    """A deployment from before (no Alembic yet) whose handoff_episodes lacks
    ``outcome``/``ended_at``: the start's migration adds them, old rows keep
    NULL, and leaving records the outcome (SQLite and PostgreSQL)."""
    import sqlalchemy as sa

    engine = sa.create_engine(any_db_url)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE alembic_version"))
        # what refers to episodes came later than this old table: gone too
        for later in ("handoff_nps", "handoff_assignments", "handoff_csat", "handoff_episodes"):
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {later}"))
        key = "SERIAL PRIMARY KEY" if engine.dialect.name == "postgresql" else "INTEGER PRIMARY KEY"
        conn.execute(sa.text(
            f"CREATE TABLE handoff_episodes (id {key}, conversation_id VARCHAR(40) NOT NULL, "
            "reason VARCHAR(64) NOT NULL, offline BOOLEAN NOT NULL, queued_at TIMESTAMP NOT NULL, "
            "assigned_at TIMESTAMP, first_reply_at TIMESTAMP, closed_at TIMESTAMP, agent_id VARCHAR(32), "
            "resolution VARCHAR(20))"))
    try:
        server = await start_bridge(database_url=any_db_url)
        with engine.begin() as conn:
            columns = {c["name"] for c in sa.inspect(conn).get_columns("handoff_episodes")}
        assert {"outcome", "ended_at"} <= columns
        client, session, _ = await queued_customer(server)
        await client.send({**LEAVE_PRESS, "client_id": "l1"})
        await client.wait_type("handoff", state="ended")
        [episode] = await server.bridge.storage.episodes(session["conversation_id"])
        assert episode["outcome"] == "withdrawn" and episode["ended_at"] is not None
    finally:
        engine.dispose()


@pytest.mark.asyncio
async def test_a_queued_shopper_who_writes_is_told_once_that_the_team_has_it(
        start_bridge, fake_rasa: FakeRasa) -> None:
    """Tester: "necesito hablar con una persona YA" while queued got silence.
    The first message gets a short acknowledgement with the place in the
    queue; more messages get none until the interval passes or the place
    changes."""
    import datetime as dt

    server = await start_bridge()
    client, _, _ = await queued_customer(server)
    await client.send({"type": "message", "text": "necesito hablar con una persona YA", "client_id": "w1"})
    ack = await client.wait_type("message", sender="system")
    assert ack["text"].startswith(TU.get("queue_ack", position=1))
    assert "Espera estimada: " in ack["text"]
    for n in range(2, 5):
        await client.send({"type": "message", "text": f"hola?? {n}", "client_id": f"w{n}"})
        await client.wait_type("ack", client_id=f"w{n}")
    assert not [f for f in await client.barrier() if f.get("type") == "message"]
    # after the interval: told again
    later = server.bridge.clock() + dt.timedelta(seconds=server.bridge.settings.queue_ack_interval_s + 1)
    server.bridge.clock = lambda: later
    await client.send({"type": "message", "text": "sigo aquí", "client_id": "w9"})
    again = await client.wait_type("message", sender="system")
    assert again["text"].startswith(TU.get("queue_ack", position=1))


@pytest.mark.asyncio
async def test_the_queued_acknowledgement_follows_the_voice(start_bridge, fake_rasa: FakeRasa, usted_policy) -> None:
    server = await start_bridge()
    server.bridge.policy = usted_policy
    client, _, _ = await queued_customer(server)
    await client.send({"type": "message", "text": "¿hay alguien?", "client_id": "w1"})
    ack = await client.wait_type("message", sender="system")
    usted = texts_for("usted")
    assert ack["text"].startswith(usted.get("queue_ack", position=1))
    assert not usted.get("queue_ack", position=1).startswith(TU.get("queue_ack", position=1))


@pytest.mark.asyncio
async def test_a_web_shopper_gone_too_long_leaves_the_queue_as_abandoned(
        start_bridge, fake_rasa: FakeRasa) -> None:
    """Tester: chats whose shopper left stayed queued forever, and new shoppers
    saw "posición 6". Positions count only shoppers still there; after
    HANDOFF_QUEUE_ABANDON_AFTER_S without a socket the conversation leaves the
    queue (outcome ``abandoned``), and a returning shopper reads that the wait
    ended and can ask for a person again."""
    import datetime as dt

    from handoff.bridge import LIVE_GRACE_S

    server = await start_bridge()
    bridge = server.bridge
    start = bridge.clock()
    _, token = await new_agent(server, "Ana")
    agent = await agent_client(server, token)
    gone, gone_session, _ = await queued_customer(server)
    waiting, waiting_session, handoff = await queued_customer(server)
    assert handoff["position"] == 2
    gid = gone_session["conversation_id"]
    await gone.close()
    await agent.wait_for(lambda f: f["type"] == "queue" and len(f["conversations"]) == 2)

    # a minute without a socket: no longer ahead of anyone
    bridge.clock = lambda: start + dt.timedelta(seconds=LIVE_GRACE_S + 1)
    assert await bridge.abandon_idle() == 0
    assert (await waiting.wait_type("handoff", state="queued"))["position"] == 1

    # past the limit: out of the queue, as abandoned
    bridge.clock = lambda: start + dt.timedelta(seconds=bridge.settings.queue_abandon_after_s + 1)
    assert await bridge.abandon_idle() == 1
    await agent.wait_for(lambda f: f["type"] == "queue" and [c["conversation_id"] for c in f["conversations"]]
                         == [waiting_session["conversation_id"]])
    [episode] = await bridge.storage.episodes(gid)
    assert episode["outcome"] == "abandoned" and episode["ended_at"] is not None and episode["closed_at"] is None
    assert (await bridge.storage.get_conversation(gid)).state.value == "bot"
    assert b'handoff_queue_left_total{how="abandoned"} 1.0' in bridge.metrics.exposition()
    assert await bridge.abandon_idle() == 0

    # the shopper comes back: told, not queued, and a person is one press away
    back, _ = await customer(server, gone_session["session_id"])
    history = await back.wait_type("history")
    told = [m for m in history["messages"] if m["sender"] == "system"][-1]
    assert told["text"] == TU["queue_abandoned"]
    assert [b["payload"] for b in told["buttons"]] == ["/request_human"]
    assert not [f for f in await back.barrier() if f.get("type") == "handoff"]
    await back.send({"type": "message", "text": "Hablar con una persona", "payload": "/request_human",
                     "reply_to": told["id"], "client_id": "again"})
    assert (await back.wait_type("handoff", state="queued"))["position"] == 2


@pytest.mark.asyncio
async def test_telegram_chats_are_never_abandoned(start_bridge, fake_rasa: FakeRasa) -> None:
    """A Telegram shopper gets the reply in the chat whenever it comes: no socket to lose."""
    import datetime as dt

    from handoff.bridge import RASA_DOWN_CONTEXT

    server = await start_bridge()
    bridge = server.bridge
    conversation, _ = await bridge.open_session(None, "telegram")
    async with bridge.lock(conversation.id):
        await bridge._enqueue(conversation, "customer_request", RASA_DOWN_CONTEXT, "hola")
    later = bridge.clock() + dt.timedelta(seconds=bridge.settings.queue_abandon_after_s * 10)
    assert await bridge.abandon_idle() == 0
    bridge.clock = lambda: later
    assert await bridge.abandon_idle() == 0
    assert [c.id for c in await bridge.storage.queue()] == [conversation.id]


@pytest.mark.asyncio
async def test_leaving_twice_gets_the_bots_line_twice(start_bridge, fake_rasa: FakeRasa) -> None:
    """Found with the real bot: the second time a shopper left the queue the
    bot's line never came (the finished turn's id was given to the new turn,
    and its line was taken for one already stored)."""
    server = await start_bridge()
    client, _, _ = await queued_customer(server)
    await client.send({**LEAVE_PRESS, "client_id": "l1"})
    first = await client.wait_type("message", sender="bot", text=QUEUE_LEFT_LINE)
    await client.send({"type": "message", "text": "agente", "client_id": "a2"})
    await client.wait_type("handoff", state="queued")
    await client.send({**LEAVE_PRESS, "client_id": "l2"})
    second = await client.wait_type("message", sender="bot", text=QUEUE_LEFT_LINE)
    assert second["id"] != first["id"]


@pytest.mark.asyncio
async def test_the_agents_queue_says_which_shoppers_have_closed_the_chat(start_bridge) -> None:
    """Walkthrough: a shopper who closed the tab looked like everyone else in
    the queue until abandoned. Past the grace, the queue frame marks them
    (``present: false``, ``gone_since``); back again, present."""
    import datetime as dt

    from handoff.bridge import LIVE_GRACE_S

    server = await start_bridge()
    bridge = server.bridge
    start = bridge.clock()
    _, token = await new_agent(server, "Ana")
    agent = await agent_client(server, token)
    gone, gone_session, _ = await queued_customer(server)
    _, waiting_session, _ = await queued_customer(server)
    gid, wid = gone_session["conversation_id"], waiting_session["conversation_id"]
    await gone.close()
    first = await agent.wait_for(lambda f: f["type"] == "queue" and len(f["conversations"]) == 2)
    assert all(c["present"] for c in first["conversations"])  # a reload is not leaving

    bridge.clock = lambda: start + dt.timedelta(seconds=LIVE_GRACE_S + 1)
    await bridge.abandon_idle()
    marked = await agent.wait_for(lambda f: f["type"] == "queue" and any(not c["present"] for c in f["conversations"]))
    entries = {c["conversation_id"]: c for c in marked["conversations"]}
    assert entries[gid]["present"] is False and entries[gid]["gone_since"]
    assert entries[wid]["present"] is True and "gone_since" not in entries[wid]

    await customer(server, gone_session["session_id"])
    await agent.wait_for(lambda f: f["type"] == "queue" and all(c["present"] for c in f["conversations"]))
