"""bot/graph_runner.py computes Rasa's graphs as dask.get does."""
from __future__ import annotations

from typing import Any, Dict, List

import dask
import pytest

from bot.graph_runner import evaluate, plain


def _graph(calls: List[str]) -> Dict[str, Any]:
    """Rasa's shape: (callable, names of what it needs...), inputs as (name, value)."""

    def node(name: str) -> Any:
        def run(*received: Any) -> Any:
            calls.append(name)
            return (name, [r if isinstance(r, str) else r[0] for r in received])

        return run

    return {
        "message": ("message", {"text": "hola"}),
        "tokenizer": (node("tokenizer"), "message"),
        "featurizer": (node("featurizer"), "tokenizer"),
        "classifier": (node("classifier"), "featurizer", "tokenizer"),
        "policy_a": (node("policy_a"), "classifier", "not_provided"),
        "policy_b": (node("policy_b"), "classifier"),
        "ensemble": (node("ensemble"), "policy_a", "policy_b", "classifier"),
        "unused": (node("unused"), "message"),
    }


@pytest.mark.parametrize("targets", [["ensemble"], ["classifier", "policy_b"], ["policy_a", "ensemble"], ["message"]])
def test_the_walk_gives_what_dask_gives(targets: List[str]) -> None:
    ours: List[str] = []
    theirs: List[str] = []
    graph = _graph(ours)
    assert plain(graph)
    assert evaluate(graph, targets) == dask.get(_graph(theirs), targets)
    assert sorted(ours) == sorted(theirs) and len(set(ours)) == len(ours), "each node once, the same nodes"


def test_a_node_runs_after_everything_it_needs() -> None:
    calls: List[str] = []
    evaluate(_graph(calls), ["ensemble"])
    for later, needs in (("featurizer", "tokenizer"), ("classifier", "featurizer"), ("ensemble", "policy_a"),
                         ("ensemble", "policy_b")):
        assert calls.index(needs) < calls.index(later)


def test_errors_and_other_shapes() -> None:
    def boom() -> None:
        raise ValueError("no")

    with pytest.raises(ValueError):
        evaluate({"a": (boom,)}, ["a"])
    with pytest.raises(RuntimeError):
        evaluate({"a": (lambda x: x, "b"), "b": (lambda x: x, "a")}, ["a"])
    assert not plain({"a": (len, ["b"]), "b": "x"})  # a list of keys: left to dask
