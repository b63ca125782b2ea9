"""The settled days the summary keeps (handoff/report_cache.py) and the
triggers of migration 0005 that tell it when an old day changed, on SQLite
and PostgreSQL: a kept day is reused while nothing changed, and every late
change (a rating, a resolution, a customer link, a new handoff on an old
conversation, written by the bridge or by any other connection) gives the
same summary as reading every day from the database.

The story is test_reports.py's (24 November to 10 December 2025, now 10
December 09:00, FCR window 7 days): days up to 1 December are settled.
"""
from __future__ import annotations

import datetime as dt
from typing import Any, Dict

import pytest
import sqlalchemy as sa

from handoff import reports
from handoff.report_cache import DayCache
from tests.handoff.test_reports import NOW, Story, T, story  # noqa: F401  (fixture used by name)

RANGE = reports.ReportRequest(dt.date(2025, 11, 20), dt.date(2025, 12, 10), "Europe/Madrid")
UNSETTLED_DAYS = 9    # 2 .. 10 December


async def _summary(story: Story, cache: DayCache, request: reports.ReportRequest = RANGE) -> Dict[str, Any]:
    bridge = story.server.bridge
    body = await reports.summary(bridge.storage.run_read, bridge.store, request, bridge.policy, NOW, cache)
    body.pop("generated_at")
    return body


async def _reference(story: Story, request: reports.ReportRequest = RANGE) -> Dict[str, Any]:
    return await _summary(story, DayCache(keep=False), request)


def _sql(story: Story, statement: str, **params: Any) -> None:
    """A write from another connection (another process, an operator)."""
    engine = sa.create_engine(story.url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(statement), params)
    finally:
        engine.dispose()


def _changes(story: Story) -> Dict[str, int]:
    engine = sa.create_engine(story.url)
    try:
        with engine.connect() as conn:
            return dict(conn.execute(sa.text("SELECT day, generation FROM handoff_report_changes")).all())
    finally:
        engine.dispose()


@pytest.mark.asyncio
async def test_settled_days_are_computed_once_and_give_the_same_summary(story: Story) -> None:
    cache = DayCache()
    first = await _summary(story, cache)
    assert cache.computed_days == len(RANGE.days()) and cache.reused_days == 0
    again = await _summary(story, cache)
    assert again == first == await _reference(story)
    assert cache.reused_days == len(RANGE.days()) - UNSETTLED_DAYS
    assert cache.computed_days == len(RANGE.days()) + UNSETTLED_DAYS
    # a shorter range and one channel come from the same days
    shorter = reports.ReportRequest(dt.date(2025, 11, 25), dt.date(2025, 12, 10), "Europe/Madrid", channel="web")
    assert await _summary(story, cache, shorter) == await _reference(story, shorter)
    assert first["handoffs"] == 6 and first["conversations"] == 8


@pytest.mark.asyncio
async def test_a_late_change_of_a_kept_day_is_seen(story: Story) -> None:
    cache = DayCache()
    kept = await _summary(story, cache)
    before = _changes(story)
    # D's second episode (25 November) was never rated: a rating arrives late, from another connection
    _sql(story, "INSERT INTO handoff_csat (conversation_id, episode_id, agent_id, reason, score, comment, created_at)"
                " SELECT conversation_id, id, agent_id, reason, 1, NULL, :t FROM handoff_episodes"
                " WHERE conversation_id = :c ORDER BY id DESC LIMIT 1", c=story.ids["D"], t=NOW)
    assert _changes(story)["2025-11-25"] > before.get("2025-11-25", 0)
    late = await _summary(story, cache)
    assert late == await _reference(story)
    assert late["csat"]["responses"] == kept["csat"]["responses"] + 1
    # B's close (24 November) is corrected to resolved
    _sql(story, "UPDATE handoff_episodes SET resolution = 'resolved' WHERE conversation_id = :c", c=story.ids["B"])
    corrected = await _summary(story, cache)
    assert corrected == await _reference(story)
    assert corrected["resolved"] == late["resolved"] + 1


@pytest.mark.asyncio
async def test_a_new_handoff_and_a_customer_link_on_old_conversations_are_seen(story: Story) -> None:
    cache = DayCache()
    kept = await _summary(story, cache)
    bridge = story.server.bridge
    # the bot-only conversation H of 24 November asks for a person again on 10 December (the bridge writes)
    await bridge.customer_message(story.ids["H"], None, "agente", None, None)
    after = await _summary(story, cache)
    assert after == await _reference(story)
    assert after["handed_off"] == kept["handed_off"] + 1
    # I (24 November, bot only) is linked to cust-A later: A1, the same morning, is now its repeat contact
    _sql(story, "UPDATE handoff_conversations SET customer_id = 'cust-A' WHERE id = :c", c=story.ids["I"])
    linked = await _summary(story, cache)
    assert linked == await _reference(story)
    assert linked["fcr_resolved_first_time"] != after["fcr_resolved_first_time"]


@pytest.mark.asyncio
async def test_writes_of_recent_data_log_nothing(story: Story) -> None:
    """Today's chats (the common case) never write to the changes table."""
    before = _changes(story)
    recent = dt.datetime.now(dt.timezone.utc)
    _sql(story, "UPDATE handoff_episodes SET queued_at = :t WHERE conversation_id = :c", t=recent, c=story.ids["F"])
    assert _changes(story) != before   # moving F's episode away from 10 December 2025 changed that old day...
    moved = _changes(story)
    _sql(story, "UPDATE handoff_episodes SET resolution = 'resolved', outcome = 'closed' WHERE conversation_id = :c",
         c=story.ids["F"])
    assert _changes(story) == moved    # ... but a change of the now recent episode logs nothing


@pytest.mark.asyncio
async def test_an_agent_filter_is_always_read_from_the_database(story: Story) -> None:
    cache = DayCache()
    request = reports.ReportRequest(RANGE.first_day, RANGE.last_day, RANGE.tz_name, agent=story.ana.id)
    assert await _summary(story, cache, request) == await _reference(story, request)
    assert cache.reused_days == 0


@pytest.mark.asyncio
async def test_the_bridge_reads_the_settled_days_once_after_it_starts(story: Story) -> None:
    """A supervisor's first report after a restart was the slow one (1.5 s on
    the 100,000-conversation bench, 240 ms after): the bridge now reads the
    last 90 days once in the background when it starts, so that first report
    only computes the days not yet settled."""
    from handoff.report_cache import DAY_CACHE

    server = story.server
    story.clock.at = NOW
    DAY_CACHE.clear()
    await server._warm_reports()
    before = DAY_CACHE.computed_days
    bridge = server.bridge
    body = await reports.summary(bridge.storage.run_read, bridge.store, RANGE, bridge.policy, NOW)
    body.pop("generated_at")
    assert DAY_CACHE.computed_days - before == UNSETTLED_DAYS
    assert body == await _reference(story)
