"""The benchmark's F1 and threshold arithmetic (the figures in
docs/benchmarks.md come from these functions)."""
from __future__ import annotations

import pytest

from bot.bench import f1_per_intent, threshold_table

PREDICTIONS = [("a", "a", 0.9), ("a", "b", 0.4), ("b", "b", 0.8), ("b", "b", 0.45), ("c", "a", 0.35)]


def test_low_confidence_predictions_count_as_fallback() -> None:
    plain = f1_per_intent(PREDICTIONS, 0.0)
    strict = f1_per_intent(PREDICTIONS, 0.5)
    # a: P=1/2 R=1/2 without threshold; with it the wrong "a" for c is dropped: P=1 R=1/2
    assert plain["a"] == pytest.approx(0.5)
    assert strict["a"] == pytest.approx(2 / 3)
    assert strict["b"] == pytest.approx(2 / 3)  # one right "b" lost to the fallback
    assert strict["macro avg"] == pytest.approx((2 / 3 + 2 / 3 + 0) / 3)


def test_best_threshold_catches_more_wrong_than_it_loses_right() -> None:
    table, best = threshold_table(PREDICTIONS)
    assert best == 0.4
    assert "| 0.4 | 0.0% | 50.0% |" in table
