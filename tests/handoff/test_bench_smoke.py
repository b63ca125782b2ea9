"""The bridge benchmark (bench/bridge.py) runs end to end with a handful of
sessions, so it cannot rot: relay and memory parts only (the Rasa-overhead
part needs a trained model and is left to ``make bench``)."""
from __future__ import annotations

import math
from pathlib import Path

from bench import bridge as bench

SESSIONS = 5


def test_relay_and_memory_with_a_few_sessions(tmp_path: Path) -> None:
    result = bench.run_relay(tmp_path, sessions=SESSIONS, agents=2, messages=2, rates=[20.0],
                             duration_s=1.0, log=lambda _: None)

    assert result["sessions"] == SESSIONS and result["agents"] == 2
    assert result["errors"] == {}
    assert result["rasa_calls"] == SESSIONS  # one handoff request each, nothing else reached Rasa
    paced, saturated = result["loads"]
    assert paced["rate"] == 20.0 and saturated["rate"] is None
    assert saturated["to_agent"]["n"] == saturated["to_customer"]["n"] == SESSIONS * 2
    for load in (paced, saturated):
        assert load["timeouts"] == 0
        assert load["to_agent"]["n"] == load["to_customer"]["n"] > 0
        for direction in ("to_agent", "to_customer"):
            stats = load[direction]
            assert 0 < stats["p50_ms"] <= stats["p99_ms"] < 30_000
        assert load["per_s"] > 0 and load["relayed"] == 2 * load["to_agent"]["n"]
    memory = result["memory"]
    assert all(10 < memory[k] < 2000 for k in ("started", "idle", "assigned", "after_relay"))
    assert math.isfinite(result["idle_per_session_kb"])

    markdown = bench.render(None, result, "0.00 0.00 0.00")
    assert markdown.startswith("## Handoff bridge — measured ")
    assert "| load | direction | messages | p50 (ms) | p99 (ms) |" in markdown
    assert "| load | relayed messages | seconds | messages/s | bridge CPU (cores) | timeouts |" in markdown
    assert "| state | RSS (MB) |" in markdown
    assert "| target | measured | result |" in markdown
    assert f"{SESSIONS} idle sessions in ≤ 150 MB" in markdown


def test_write_docs_keeps_the_other_sections(tmp_path: Path) -> None:
    docs = tmp_path / "benchmarks.md"
    docs.write_text("# Benchmarks\n\n<!-- assistant-bench:begin -->\nRasa figures\n<!-- assistant-bench:end -->\n",
                    encoding="utf-8")
    bench.write_docs("first", docs)
    bench.write_docs("second", docs)
    text = docs.read_text(encoding="utf-8")
    assert "Rasa figures" in text
    assert text.count(bench.MARK_BEGIN) == 1 and "second" in text and "first" not in text
    bench.write_docs("two bridges", docs, bridges=2)  # make bench's run of two bridges keeps the single one's
    text = docs.read_text(encoding="utf-8")
    assert "second" in text and "two bridges" in text and text.count(bench.BRIDGES_BEGIN) == 1


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert bench.percentile(values, 50) == 50.0
    assert bench.percentile(values, 99) == 99.0
    assert bench.percentile([3.0], 99) == 3.0
    assert math.isnan(bench.percentile([], 50))


def test_queue_and_claim_only_with_its_cpu(tmp_path: Path) -> None:
    result = bench.run_relay(tmp_path, sessions=SESSIONS, agents=2, messages=0, rates=[20.0], duration_s=1.0,
                             log=lambda _: None, queue_claim_only=True)
    assert result["errors"] == {} and "loads" not in result
    assert result["queue_s"] > 0 and result["claim_s"] > 0
    for phase in ("queue_cpu", "claim_cpu"):
        assert result[phase]["bridges"] > 0 and result[phase]["client"] > 0


def test_the_order_updates_bench_runs_with_a_few_updates() -> None:
    """bench/notifications.py end to end with 20 updates (both cases)."""
    import argparse
    import asyncio

    from bench import notifications

    results = asyncio.run(notifications.main_async(argparse.Namespace(updates=20)))
    assert [r["case"] for r in results] == ["paced", "unpaced"]
    for r in results:
        assert r["sent"] == r["notifications"] == 20 and r["chats"] == 64
        assert r["same_text_twice"] == r["outbox_rows_twice"] == 0
        assert r["most_to_a_chat_in_a_second"] <= 3
    assert notifications.section(results, (0.0,), (0.0,)).startswith("## Order updates to Telegram — measured ")
