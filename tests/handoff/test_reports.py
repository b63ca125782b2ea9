"""Reports (docs/reports.md, ../shared/design/reports.md): conversations with
known answers are built through the real bridge and storage on a fake clock,
then the HTTP API is read with a real client, on SQLite and PostgreSQL.

The story (UTC; Madrid is UTC+1 in these weeks, Mexico City UTC-6; support
Mon-Fri 09:00-20:00 and Sat 10:00-14:00 Madrid, 8 December a holiday; the
first-response target 30 support minutes; FCR window 7 days; now is
Wednesday 10 December 09:00):
- A1 web, customer cust-A, Mon 24 Nov 09:00: bot only (cust-A comes back on
  Telegram two days later: not FCR).
- A2 telegram, cust-A, Wed 26 09:00: handoff (order_overdue, verified order
  101490); Ana claims 09:01, writes a note 09:02, replies 09:05 (300 s),
  closes resolved 09:20; CSAT 5, NPS 10. FCR (no contact after).
- B web, Mon 24 18:30 (19:30 Madrid): handoff; Ana claims 18:40, transfers to
  Beto 18:45; Beto replies Tue 08:10 (49200 s; 2400 support seconds: 30 min
  before the close, 10 after the opening), SLA breached (due 19:00, the
  close); closes unresolved 08:30; CSAT 2 (Beto's), NPS 3.
- D web, Tue 25 10:00: handoff; Ana replies 10:02, closes resolved 10:10,
  CSAT 4, NPS 8; reopened 12:00 (second handoff, not FCR for the first);
  Beto replies 12:03, closes resolved 12:30, no rating.
- E web, Mon 8 Dec (holiday) 10:00: handoff; Ana replies Tue 9 08:05
  (79500 s; 300 support seconds), SLA met (due Tue 08:30); closes resolved
  08:10; CSAT 3, no NPS answer. Its FCR window is not over.
- F web, Wed 10 Dec 08:50: queued, unanswered: SLA pending.
- H web, Mon 24 23:30 (Tue 00:30 Madrid, Mon 17:30 Mexico): bot only.
- I web, Mon 24 05:30 (06:30 Madrid, Sun 23 23:30 Mexico): bot only.
Labels: "talla" on B and D, "envio" on A2.
"""
from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import inspect
import io
import subprocess
import sys
from typing import Any, AsyncIterator, Dict, List, Optional

import aiohttp
import pytest
import pytest_asyncio
import sqlalchemy as sa

from core.policy import load_policy
from core.store import create_store
from handoff import reports
from handoff.agents import add_agent
from handoff.bridge import Bridge
from handoff.server import BridgeServer
from handoff.settings import HandoffSettings
from tests.handoff.conftest import BRIDGE_SECRET, FakeRasa

UTC = dt.timezone.utc


def T(day: int, hour: int, minute: int = 0, month: int = 11) -> dt.datetime:
    return dt.datetime(2025, month, day, hour, minute, tzinfo=UTC)


NOW = T(10, 9, 0, month=12)


class Clock:
    def __init__(self, at: dt.datetime) -> None:
        self.at = at

    def __call__(self) -> dt.datetime:
        return self.at


@dataclasses.dataclass
class Story:
    server: BridgeServer
    clock: Clock
    ids: Dict[str, str]
    supervisor: str
    agent_token: str
    ana: Any
    beto: Any
    url: str


async def _customer(bridge: Bridge, clock: Clock, at: dt.datetime, text: str, channel: str = "web",
                    conversation_id: Optional[str] = None) -> str:
    clock.at = at
    if conversation_id is None:
        conversation, _ = await bridge.open_session(None, channel)
        conversation_id = conversation.id
    await bridge.customer_message(conversation_id, None, text, None, None)
    return conversation_id


async def _build(bridge: Bridge, clock: Clock, ana: Any, beto: Any, url: str) -> Dict[str, str]:
    ids: Dict[str, str] = {}

    async def at(moment: dt.datetime) -> None:
        clock.at = moment

    ids["A1"] = await _customer(bridge, clock, T(24, 9), "hola")
    ids["A2"] = await _customer(bridge, clock, T(26, 9), "verificado", channel="telegram")
    await at(T(26, 9, 1)); await bridge.claim(ana, ids["A2"])
    await at(T(26, 9, 2)); await bridge.note(ana, ids["A2"], "mirar el pedido")
    await at(T(26, 9, 5)); await bridge.agent_message(ana, ids["A2"], "Hola, soy Ana", None, None)
    await at(T(26, 9, 20)); await bridge.close(ana, ids["A2"], "resolved")
    await bridge.customer_csat(ids["A2"], 5, None)
    await bridge.customer_nps(ids["A2"], 10)

    ids["B"] = await _customer(bridge, clock, T(24, 18, 30), "agente")
    await at(T(24, 18, 40)); await bridge.claim(ana, ids["B"])
    await at(T(24, 18, 45)); await bridge.transfer(ana, ids["B"], beto.id)
    await at(T(25, 8, 10)); await bridge.agent_message(beto, ids["B"], "Buenos días", None, None)
    await at(T(25, 8, 30)); await bridge.close(beto, ids["B"], "unresolved")
    await bridge.customer_csat(ids["B"], 2, None)
    await bridge.customer_nps(ids["B"], 3)

    ids["D"] = await _customer(bridge, clock, T(25, 10), "agente")
    await at(T(25, 10, 1)); await bridge.claim(ana, ids["D"])
    await at(T(25, 10, 2)); await bridge.agent_message(ana, ids["D"], "Dime", None, None)
    await at(T(25, 10, 10)); await bridge.close(ana, ids["D"], "resolved")
    await bridge.customer_csat(ids["D"], 4, None)
    await bridge.customer_nps(ids["D"], 8)
    await _customer(bridge, clock, T(25, 12), "agente", conversation_id=ids["D"])
    await at(T(25, 12, 1)); await bridge.claim(beto, ids["D"])
    await at(T(25, 12, 3)); await bridge.agent_message(beto, ids["D"], "Otra vez aquí", None, None)
    await at(T(25, 12, 30)); await bridge.close(beto, ids["D"], "resolved")

    ids["E"] = await _customer(bridge, clock, T(8, 10, month=12), "agente")
    await at(T(9, 8, 0, month=12)); await bridge.claim(ana, ids["E"])
    await at(T(9, 8, 5, month=12)); await bridge.agent_message(ana, ids["E"], "Hola", None, None)
    await at(T(9, 8, 10, month=12)); await bridge.close(ana, ids["E"], "resolved")
    await bridge.customer_csat(ids["E"], 3, None)

    ids["F"] = await _customer(bridge, clock, T(10, 8, 50, month=12), "agente")
    ids["H"] = await _customer(bridge, clock, T(24, 23, 30), "hola")
    ids["I"] = await _customer(bridge, clock, T(24, 5, 30), "hola")
    clock.at = NOW
    # what the customer-linking work stores (a verified shopper), and labels
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE handoff_conversations SET customer_id = 'cust-A' WHERE id IN (:a, :b)"),
                         {"a": ids["A1"], "b": ids["A2"]})
            for conversation, label in ((ids["B"], "talla"), (ids["D"], "talla"), (ids["A2"], "envio")):
                conn.execute(sa.text("INSERT INTO handoff_labels (conversation_id, label, added_by, added_at)"
                                     " VALUES (:c, :l, NULL, :t)"), {"c": conversation, "l": label, "t": NOW})
    finally:
        engine.dispose()
    return ids


@pytest_asyncio.fixture
async def story(fake_rasa: FakeRasa, any_db_url: str) -> AsyncIterator[Story]:
    policy = dataclasses.replace(load_policy(), nps_share=1.0, first_response_target_minutes=30, fcr_window_days=7,
                                 timezone="Europe/Madrid")
    settings = HandoffSettings(host="127.0.0.1", port=0, rasa_url=fake_rasa.url, rasa_bridge_secret=BRIDGE_SECRET,
                               rasa_timeout_s=1.0, agent_grace_s=60.0, database_url=any_db_url,
                               queue_abandon_after_s=0)
    clock = Clock(T(24, 5))
    bridge = Bridge(settings, policy=policy, clock=clock)
    server = BridgeServer(settings, bridge)
    await server.start()
    try:
        ana, _ = await add_agent(bridge.storage, "Ana")
        beto, _ = await add_agent(bridge.storage, "Beto")
        _, agent_token = await add_agent(bridge.storage, "Carla")
        _, supervisor = await add_agent(bridge.storage, "Sonia", role="supervisor")
        ids = await _build(bridge, clock, ana, beto, any_db_url)
        yield Story(server, clock, ids, supervisor, agent_token, ana, beto, any_db_url)
    finally:
        await server.stop()


async def _get(story: Story, path: str, token: Optional[str] = None, **headers: str) -> aiohttp.ClientResponse:
    async with aiohttp.ClientSession() as session:
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        async with session.get(f"http://127.0.0.1:{story.server.port}{path}", headers=headers) as response:
            response.body = await response.read()  # type: ignore[attr-defined]
            return response


async def _summary(story: Story, query: str = "from=2025-11-24&to=2025-12-10") -> Dict[str, Any]:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{story.server.port}/api/reports/summary?{query}",
                               headers={"Authorization": f"Bearer {story.supervisor}"}) as response:
            assert response.status == 200, await response.text()
            assert response.headers["Content-Type"].startswith("application/json")
            return await response.json()


def _by(rows: List[Dict[str, Any]], key: str) -> Dict[str, Dict[str, Any]]:
    return {row[key]: row for row in rows}


@pytest.mark.asyncio
async def test_every_figure_of_the_summary(story: Story) -> None:
    s = await _summary(story)
    assert s["range"] == {"from": "2025-11-24", "to": "2025-12-10", "tz": "Europe/Madrid"}
    assert (s["conversations"], s["handed_off"], s["bot_only"]) == (8, 5, 3)
    assert s["containment_rate"] == pytest.approx(3 / 8)
    assert s["handoffs"] == 6
    assert s["handoffs_by_reason"] == {"customer_request": 5, "order_overdue": 1}
    # first response from the queue to a person's first message (the note does not count)
    assert s["first_response_s"] == {"count": 5, "mean": 25860.0, "median": 300.0, "p90": 67380.0}
    assert s["first_response_business_s"] == {"count": 5, "mean": 660.0, "median": 300.0, "p90": 1560.0}
    assert s["resolution_s"] == {"count": 5, "mean": 26760.0, "median": 1800.0, "p90": 68040.0}
    assert s["csat"] == {"requests": 5, "responses": 4, "response_rate": 0.8, "average": 3.5, "score": 0.5,
                         "distribution": {"1": 0, "2": 1, "3": 1, "4": 1, "5": 1}}
    assert s["nps"] == {"responses": 3, "promoters": 1, "passives": 1, "detractors": 1, "score": 0.0}
    # FCR: A1 (cust-A came back on Telegram), H, I (bot only), A2, D1 (reopened), D2; E's window is open
    assert s["fcr_counted"] == 6
    assert s["fcr_rate"] == pytest.approx(4 / 6)
    assert s["sla"]["first_response_target_s"] == 1800
    assert {k: s["sla"][k] for k in ("met", "breached", "pending")} == {"met": 4, "breached": 1, "pending": 1}
    assert s["sla"]["met_rate"] == pytest.approx(0.8)
    assert s["transfers"] == {"to_agent": 1, "to_queue": 0, "agent_lost": 0}
    assert s["several_agents"] == 1


@pytest.mark.asyncio
async def test_breakdowns_credit_the_agent_who_closed(story: Story) -> None:
    s = await _summary(story)
    channels = _by(s["by_channel"], "channel")
    assert (channels["web"]["conversations"], channels["web"]["handed_off"]) == (7, 4)
    assert (channels["telegram"]["conversations"], channels["telegram"]["handed_off"]) == (1, 1)
    assert channels["telegram"]["first_response_s"]["median"] == 300.0
    # telegram: A2 (FCR); web: A1 (not: came back on telegram), H, I, D1 (not), D2
    assert (channels["telegram"]["fcr_counted"], channels["telegram"]["fcr_rate"]) == (1, 1.0)
    assert channels["web"]["fcr_counted"] == 5 and channels["web"]["fcr_rate"] == pytest.approx(3 / 5)
    agents = _by(s["by_agent"], "agent_name")
    ana, beto = agents["Ana"], agents["Beto"]
    assert ana["agent_id"] == story.ana.id and beto["agent_id"] == story.beto.id
    assert ana["handoffs"] == 4 and beto["handoffs"] == 2          # B counts for both (several agents)
    assert ana["first_response_s"]["count"] == 3 and beto["first_response_s"]["count"] == 2
    assert ana["resolution_s"]["count"] == 3 and beto["resolution_s"]["count"] == 2
    assert (ana["csat"]["requests"], ana["csat"]["responses"], ana["csat"]["score"]) == (3, 3, pytest.approx(2 / 3))
    assert (beto["csat"]["requests"], beto["csat"]["responses"], beto["csat"]["score"]) == (2, 1, 0.0)
    assert beto["csat"]["distribution"]["2"] == 1                  # B's rating is the closer's
    assert (ana["sla"]["met"], ana["sla"]["breached"]) == (3, 0)
    assert (beto["sla"]["met"], beto["sla"]["breached"]) == (1, 1)
    assert ana["transfers"]["to_agent"] == 1
    reasons = _by(s["by_reason"], "reason")
    assert reasons["order_overdue"]["handoffs"] == 1 and reasons["customer_request"]["handoffs"] == 5
    assert reasons["order_overdue"]["reason_text"] == "Pedido retrasado"  # the case card's words
    labels = _by(s["by_label"], "label")
    assert (labels["talla"]["conversations"], labels["talla"]["handoffs"]) == (2, 3)
    assert (labels["envio"]["conversations"], labels["envio"]["handoffs"]) == (1, 1)
    # the agent filter: Ana's credit only
    only_ana = await _summary(story, f"from=2025-11-24&to=2025-12-10&agent={story.ana.id}")
    assert only_ana["handoffs"] == 4 and only_ana["resolution_s"]["count"] == 3
    assert only_ana["conversations"] == 4 and only_ana["bot_only"] == 0
    assert only_ana["csat"]["responses"] == 3
    web = await _summary(story, "from=2025-11-24&to=2025-12-10&channel=web")
    assert (web["conversations"], web["handoffs"]) == (7, 5)


@pytest.mark.asyncio
async def test_days_are_read_in_the_time_zone_asked(story: Story) -> None:
    madrid = _by((await _summary(story))["by_day"], "date")
    assert len(madrid) == 17 and madrid["2025-11-27"]["conversations"] == 0   # empty days too
    assert (madrid["2025-11-24"]["conversations"], madrid["2025-11-25"]["conversations"]) == (3, 2)
    assert madrid["2025-11-24"]["handed_off"] == 1 and madrid["2025-11-24"]["containment_rate"] == pytest.approx(2 / 3)
    assert madrid["2025-11-26"]["csat_score"] == 1.0
    assert madrid["2025-11-26"]["first_response_median_s"] == 300.0
    assert madrid["2025-11-28"]["csat_score"] is None
    mexico = await _summary(story, "from=2025-11-24&to=2025-12-10&tz=America/Mexico_City")
    assert mexico["range"]["tz"] == "America/Mexico_City"
    assert mexico["conversations"] == 7                                # I was Sunday evening in Mexico
    days = _by(mexico["by_day"], "date")
    assert (days["2025-11-24"]["conversations"], days["2025-11-25"]["conversations"]) == (3, 1)
    # a zone whose offset is not whole hours (counted with the offsets in SQL): B (18:30 UTC) is
    # Tuesday 00:00 there, H Tuesday 05:00
    kolkata = await _summary(story, "from=2025-11-24&to=2025-12-10&tz=Asia/Kolkata")
    days = _by(kolkata["by_day"], "date")
    assert kolkata["conversations"] == 8
    assert (days["2025-11-24"]["conversations"], days["2025-11-25"]["conversations"]) == (2, 3)


def test_offset_changes_find_the_dst_switch() -> None:
    from zoneinfo import ZoneInfo

    changes = reports.offset_changes(ZoneInfo("Europe/Madrid"), T(20, 0, month=10), T(1, 0, month=11))
    assert changes[1:] == [(T(26, 1, month=10).timestamp(), 3600)] and changes[0][1] == 7200


@pytest.mark.asyncio
async def test_the_csv_streams_one_row_per_conversation(story: Story, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reports, "CSV_PAGE", 3)
    assert inspect.isasyncgenfunction(reports.csv_chunks)
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{story.server.port}/api/reports/conversations.csv"
                               "?from=2025-11-24&to=2025-12-10",
                               headers={"Authorization": f"Bearer {story.supervisor}"}) as response:
            assert response.status == 200
            assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
            assert response.headers["Transfer-Encoding"] == "chunked"
            chunks = [chunk async for chunk, _ in response.content.iter_chunks()]
    body = b"".join(chunks).decode("utf-8")
    assert len(chunks) >= 3
    rows = list(csv.DictReader(io.StringIO(body)))
    assert list(rows[0]) [:14] == ["conversation_id", "channel", "started_at", "customer", "verified", "handed_off",
                                   "reasons", "agents", "labels", "first_response_s", "resolution_s", "csat",
                                   "resolved", "fcr"]
    by_id = {row["conversation_id"]: row for row in rows}
    assert set(by_id) == {story.ids[k] for k in ("A1", "A2", "B", "D", "E", "F", "H", "I")}
    b = by_id[story.ids["B"]]
    assert (b["agents"], b["labels"], b["first_response_s"], b["resolution_s"], b["csat"], b["resolved"]) == (
        "Ana;Beto", "talla", "49200", "50400", "2", "false")
    assert b["started_at"] == "2025-11-24T19:30:00+01:00" and b["handed_off"] == "true"
    a2 = by_id[story.ids["A2"]]
    assert (a2["channel"], a2["verified"], a2["customer"], a2["fcr"], a2["reasons"]) == (
        "telegram", "true", "Luis Prieto", "true", "order_overdue")
    assert by_id[story.ids["A1"]]["fcr"] == "false" and by_id[story.ids["H"]]["fcr"] == "true"
    assert by_id[story.ids["E"]]["fcr"] == ""                          # its window is not over
    assert "@" not in body and "Hola, soy Ana" not in body           # no email, no message text


@pytest.mark.asyncio
async def test_only_a_supervisor_token_in_the_header_reads_reports(story: Story) -> None:
    for path in ("/api/reports/summary", "/api/reports/conversations.csv"):
        assert (await _get(story, path)).status == 401
        assert (await _get(story, path, token="a_000000000000.wrong")).status == 401
        assert (await _get(story, path, token=story.agent_token)).status == 403
        assert (await _get(story, f"{path}?token={story.supervisor}")).status == 401   # never from the URL
        assert (await _get(story, path, token=story.supervisor)).status == 200


@pytest.mark.asyncio
@pytest.mark.parametrize("query, code", [
    ("from=2025-13-01&to=2025-12-10", "invalid_date"), ("from=24-11-2025", "invalid_date"),
    ("from=2025-12-10&to=2025-11-24", "invalid_range"), ("tz=Mars/Olympus", "invalid_tz"),
    ("tz=../../etc/passwd", "invalid_tz"), ("from=2020-01-01&to=2025-01-01", "range_too_long"),
])
async def test_bad_dates_and_zones_get_400_in_spanish(story: Story, query: str, code: str) -> None:
    response = await _get(story, f"/api/reports/summary?{query}", token=story.supervisor)
    assert response.status == 400
    body = __import__("json").loads(response.body)  # type: ignore[attr-defined]
    assert body["error"] == code and "(" in body["detail"]


@pytest.mark.asyncio
async def test_assignments_record_who_held_each_handoff(story: Story) -> None:
    storage = story.server.bridge.storage
    episodes = {e["conversation_id"]: e for e in await storage.episodes(story.ids["B"])}
    rows = await storage.assignments(episodes[story.ids["B"]]["id"])
    assert [(r["agent_id"], r["started_by"], r["ended_by"]) for r in rows] == [
        (story.ana.id, "claim", "transfer"), (story.beto.id, "transfer", "close")]
    assert rows[0]["ended_at"] is not None and rows[1]["ended_at"] is not None


@pytest.mark.asyncio
async def test_top_products_come_from_the_verified_orders(story: Story) -> None:
    s = await _summary(story)
    store = create_store(story.url)
    try:
        order = await store.get_order("101490")
    finally:
        getattr(store, "dispose", lambda: None)()
    assert order is not None
    names = {i.name for i in order.items}
    assert {p["product"] for p in s["top_products"]} == names
    for product in s["top_products"]:
        assert product["contacts"] == 1 and product["complaints"] == 0
        assert product["returns"] == (1 if order.returns else 0)


def test_support_clock_agrees_with_the_policy() -> None:
    """The cumulative table gives the policy's own answers (holidays, closes, DST)."""
    policy = dataclasses.replace(load_policy(), first_response_target_minutes=30)
    clock = reports.SupportClock(policy, T(20, 0, month=10), T(15, 0, month=12))
    for start in [T(24, 18, 30), T(8, 10, month=12), T(25, 23, 59, month=10), T(26, 1, 30, month=10),
                  T(29, 13, 45), T(24, 8, 59)]:
        for hours in (0.5, 3, 30, 80):
            end = start + dt.timedelta(hours=hours)
            assert clock.seconds(start.timestamp(), end.timestamp()) == pytest.approx(
                policy.support_seconds_between(start, end))
        assert clock.due(start.timestamp()) == policy.first_response_due(start).timestamp()


def test_stats_and_percentiles() -> None:
    assert reports.stats([]) == {"count": 0, "mean": None, "median": None, "p90": None}
    assert reports.stats([10.0]) == {"count": 1, "mean": 10.0, "median": 10.0, "p90": 10.0}
    assert reports.stats([1, 2, 3, 4]) == {"count": 4, "mean": 2.5, "median": 2.5, "p90": 3.7}


def test_nps_share_is_deterministic() -> None:
    from handoff.nps import nps_selected

    picks = [nps_selected(f"c_{i}", i, 0.3) for i in range(2000)]
    assert picks == [nps_selected(f"c_{i}", i, 0.3) for i in range(2000)]
    assert 0.25 < sum(picks) / len(picks) < 0.35
    assert all(nps_selected("c", 1, 1.0) for _ in range(3)) and not nps_selected("c", 1, 0.0)


def test_the_cli_makes_supervisors(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    env = {"DATABASE_URL": url, "PATH": "/usr/bin:/bin"}
    made = subprocess.run([sys.executable, "-m", "handoff", "agent", "add", "Sonia", "--role", "supervisor"],
                          capture_output=True, text=True, env=env, timeout=120, check=True)
    token = made.stdout.strip().splitlines()[-1]
    assert token.startswith("a_") and "." in token
    plain = subprocess.run([sys.executable, "-m", "handoff", "agent", "add", "Ana"],
                           capture_output=True, text=True, env=env, timeout=120, check=True)
    bad = subprocess.run([sys.executable, "-m", "handoff", "agent", "add", "X", "--role", "boss"],
                         capture_output=True, text=True, env=env, timeout=120)
    assert bad.returncode != 0
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            roles = dict(conn.execute(sa.text("SELECT name, role FROM handoff_agents")).all())
    finally:
        engine.dispose()
    assert roles == {"Sonia": "supervisor", "Ana": "agent"}
    assert plain.stdout.strip().splitlines()[-1].startswith("a_")


@pytest.mark.asyncio
@pytest.mark.parametrize("share, asked", [(1.0, True), (0.0, False)])
async def test_the_nps_question_follows_the_rating_on_the_widget(fake_rasa: FakeRasa, db_url: str,
                                                                share: float, asked: bool) -> None:
    from tests.handoff.conftest import agent_client, new_agent, queued_customer

    policy = dataclasses.replace(load_policy(), nps_share=share)
    settings = HandoffSettings(host="127.0.0.1", port=0, rasa_url=fake_rasa.url, rasa_bridge_secret=BRIDGE_SECRET,
                               rasa_timeout_s=1.0, agent_grace_s=60.0, database_url=db_url)
    server = BridgeServer(settings, Bridge(settings, policy=policy, clock=Clock(T(24, 11))))
    await server.start()
    try:
        _, token = await new_agent(server, "Ana")
        agent = await agent_client(server, token)
        client, session, _ = await queued_customer(server)
        conversation_id = session["conversation_id"]
        await agent.send({"type": "claim", "conversation_id": conversation_id})
        await agent.wait_type("conversation")
        await agent.send({"type": "close", "conversation_id": conversation_id, "resolution": "resolved"})
        await client.wait_type("csat_request")
        await client.send({"type": "csat", "score": 5})
        await client.wait_for(lambda f: f.get("type") == "message" and f.get("csat_score") == 5)
        if not asked:
            await client.send({"type": "nps", "score": 9})
            error = await client.wait_type("error")
            assert error["code"] == "no_nps_pending"
            return
        request = await client.wait_type("nps_request")
        assert "recomendarías" in request["text"] and (request["min"], request["max"]) == (0, 10)
        await client.send({"type": "nps", "score": 11})
        assert (await client.wait_type("error"))["code"] == "invalid_field"
        await client.send({"type": "nps", "score": 9})
        thanks = await client.wait_for(lambda f: f.get("type") == "message" and f.get("nps_score") == 9)
        assert thanks["sender"] == "system"
        await client.send({"type": "nps", "score": 3})               # once per handoff
        assert (await client.wait_type("error"))["code"] == "no_nps_pending"
        engine = sa.create_engine(db_url)
        try:
            with engine.connect() as conn:
                assert conn.execute(sa.text("SELECT score FROM handoff_nps")).scalars().all() == [9]
        finally:
            engine.dispose()
    finally:
        await server.stop()


@pytest.mark.asyncio
async def test_a_report_read_never_holds_up_the_chats(start_bridge) -> None:
    """On SQLite the bridge runs its transactions one at a time in one thread;
    a 3-second report read there stalled every chat. Reports read on a
    thread and connection of their own (WAL snapshot): a customer's message
    is stored and answered while a report read is still open."""
    import asyncio
    import threading

    from tests.handoff.conftest import customer

    server = await start_bridge()
    storage = server.bridge.storage
    release = threading.Event()

    def slow_read(conn: Any) -> int:
        conn.execute(sa.text("SELECT COUNT(*) FROM handoff_messages")).scalar()
        release.wait(10)  # the report is still reading
        return int(conn.execute(sa.text("SELECT COUNT(*) FROM handoff_conversations")).scalar())

    reading = asyncio.ensure_future(storage.run_read(slow_read))
    try:
        shopper, _ = await customer(server)
        await shopper.send({"type": "message", "text": "hola", "client_id": "c1"})
        await asyncio.wait_for(shopper.wait_type("ack", client_id="c1"), 5)
    finally:
        release.set()
    assert await reading >= 0


def test_a_csv_row_takes_the_first_answered_episode_and_the_verified_name() -> None:
    """The walkthrough: a handoff withdrawn before anyone answered, then one
    Marta answered after 148 s, gave an empty first response and SLA; and a
    Telegram display name hid the verified customer's name."""
    policy = dataclasses.replace(load_policy(), first_response_target_minutes=30, timezone="Europe/Madrid")
    start = T(25, 9)   # a Tuesday, 10:00 in Madrid: support hours
    conv = reports.CsvConversation("c1", "telegram", start.timestamp(), "7", "Lucía", "Miguel Santos Rubio", True)
    withdrawn = reports.Episode(id=1, conversation_id="c1", channel="telegram", customer_key="7", reason="order_overdue",
                                queued=start.timestamp() + 60, first_reply=None, closed=None,
                                ended=start.timestamp() + 120, outcome="withdrawn", resolution=None, agent_id=None,
                                verified_order=None)
    answered = reports.Episode(id=2, conversation_id="c1", channel="telegram", customer_key="7",
                               reason="customer_request", queued=start.timestamp() + 600,
                               first_reply=start.timestamp() + 748, closed=start.timestamp() + 900,
                               ended=start.timestamp() + 900, outcome="closed", resolution="resolved",
                               agent_id="a_marta", verified_order=None, holders=["a_marta"], responder="a_marta")
    clock = reports.SupportClock(policy, start - dt.timedelta(days=1), start + dt.timedelta(days=30))
    row = dict(zip(reports.CSV_COLUMNS, reports.csv_row(
        conv, [withdrawn, answered], [], {}, clock, {"a_marta": "Marta"}, policy.tz, 7 * 86400.0, NOW.timestamp())))
    assert (row["first_response_s"], row["first_response_business_s"], row["sla"]) == ("148", "148", "met")
    assert row["customer"] == "Miguel Santos Rubio"
    only_withdrawn = dict(zip(reports.CSV_COLUMNS, reports.csv_row(
        conv, [withdrawn], [], {}, clock, {}, policy.tz, 7 * 86400.0, NOW.timestamp())))
    assert (only_withdrawn["first_response_s"], only_withdrawn["sla"]) == ("", "not_applicable")
