"""The benchmark's F1 and threshold arithmetic (the figures in
docs/benchmarks.md come from these functions)."""
from __future__ import annotations

import pytest

from bench.assistant import f1_per_intent, threshold_table

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


def test_traffic_scores_count_the_fallback_as_wrong_in_scope_and_honest_out_of_scope() -> None:
    from bench.assistant import traffic_scores

    labelled = [("order_status", "order_status"), ("faq/shipping_cost", "faq/shipping_time"),
                ("order_cancel", "nlu_fallback"), ("greet", "greet"),
                ("out_of_scope", "out_of_scope"), ("out_of_scope", "nlu_fallback"),
                ("out_of_scope", "complaint"), ("out_of_scope", "out_of_scope")]
    scores = traffic_scores(labelled)
    assert scores["in_scope_accuracy"] == pytest.approx(2 / 4)
    assert scores["oos_recall"] == pytest.approx(2 / 4)
    assert scores["oos_honest"] == pytest.approx(3 / 4)
    assert scores["in_scope_to_fallback"] == 1 and scores["oos_as_complaint"] == 1
    assert scores["confusions"][0][1] == 1


def test_a_faq_answer_is_labelled_by_the_response_selector() -> None:
    from bench.assistant import label_of

    faq = {"intent": {"name": "faq"}, "response_selector": {"faq": {"response": {
        "intent_response_key": "faq/return_policy"}}}}
    assert label_of(faq) == "faq/return_policy"
    assert label_of({"intent": {"name": "nlu_fallback"}}) == "nlu_fallback"
    assert label_of({"intent": None}) == "nlu_fallback"


def test_the_test_set_is_read_as_shoppers_wrote_it(tmp_path) -> None:
    from bench.assistant import load_traffic

    path = tmp_path / "t.yml"
    path.write_text('nlu:\n- intent: inform\n  examples: |\n    - es el [628401](order_id)\n    - y el correo?\n',
                    encoding="utf-8")
    assert load_traffic(path) == [("es el 628401", "inform"), ("y el correo?", "inform")]


def test_frustration_scores_count_apologies_and_escalations() -> None:
    from bench.assistant import frustration_scores, precision_recall

    assert precision_recall([(True, True), (False, True), (True, False)]) == (0.5, 0.5)
    scored = [("calm", 0.0), ("calm", 0.4), ("annoyed", 0.5), ("annoyed", 0.1), ("angry", 0.9), ("angry", 0.5)]
    result = frustration_scores(scored, apologise_at=0.3, escalate_at=0.65)
    assert result["apology_precision"] == 3 / 4 and result["apology_recall"] == 3 / 4
    assert result["escalation_precision"] == 1.0 and result["escalation_recall"] == 0.5
    assert result["calm_apologised"] == 1 and result["angry_not_escalated"] == 1
    assert result["by_level"] == {"calm": 2, "annoyed": 2, "angry": 2}


def test_an_undefined_share_is_a_dash_not_nan() -> None:
    from bench.assistant import share_text
    assert share_text(float("nan")) == "–"
    assert share_text(0.5) == "0.50"


def test_load_figures_give_percentiles_and_rate() -> None:
    from bench.assistant import load_figures

    figures = load_figures([0.01 * i for i in range(1, 101)], elapsed=2.0, senders=20)
    assert figures["replies"] == 100 and figures["per_s"] == 50.0
    assert figures["p50_ms"] == pytest.approx(505.0)
    assert figures["p99_ms"] == pytest.approx(1000.0)
    assert load_figures([], 0.0, 1)["per_s"] != load_figures([], 0.0, 1)["per_s"]  # NaN, not a crash


def test_worker_ratios_and_verdicts() -> None:
    from bench.workers import ratio, verdict

    assert ratio({"per_s": 90.0}, {"per_s": 60.0}) == pytest.approx(1.5)
    assert ratio({"per_s": 90.0}, {"per_s": 0.0}) != ratio({"per_s": 90.0}, {"per_s": 0.0})  # NaN
    assert verdict(1.5, 1.5) == "met"
    assert verdict(1.2, 1.5) == "not met: 1.20× against 1.5× (20% short)"
    assert verdict(float("nan"), 2.0) == "not measured"


def test_cases_alternate_their_order_between_passes() -> None:
    from bench.workers import pass_order

    assert pass_order(["a", "b", "c"], 3) == [["a", "b", "c"], ["c", "b", "a"], ["a", "b", "c"]]


def test_moodbot_conversations_are_what_rasa_init_understands() -> None:
    from bench.workers import moodbot_scripts

    first = moodbot_scripts()[0]
    assert first == ["hi", "I am sad", "yes", "great", "bye"]
    assert all(script and all(text.isascii() for text in script) for script in moodbot_scripts())


def test_a_process_tree_holds_the_process_and_its_children() -> None:
    import os
    import subprocess
    import sys

    from bench.workers import memory_mb, process_tree

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        tree = process_tree(os.getpid())
        assert tree[0] == os.getpid() and child.pid in tree
        rss, _ = memory_mb(child.pid)
        assert rss > 1
    finally:
        child.kill()
        child.wait()


def test_bot_texts_of_both_channels() -> None:
    from bench.workers import bot_texts

    assert bot_texts([{"recipient_id": "x", "text": "Hey!"}, {"image": "https://i.imgur.com/x.jpg"}]) == [
        "Hey!", "https://i.imgur.com/x.jpg"]
    assert bot_texts({"messages": [{"text": "¡Hola!"}], "replayed": False}) == ["¡Hola!"]
    assert bot_texts({"messages": []}) == [] and bot_texts([]) == []
