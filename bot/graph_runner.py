"""Rasa's graph of a turn (NLU, policies) run by a plain depth-first walk
instead of dask's scheduler.

Why: Rasa 3.6's ``DaskGraphRunner.run`` hands each graph run to
``dask.get`` (its synchronous local scheduler), whose bookkeeping (task
ordering, state dicts, callbacks, a thread-pool-shaped loop) cost about a
seventh of a Rasa worker's CPU per reply, as much as the components it ran
(py-spy of a worker under load, 2026-12-06). Rasa's graphs are small (a few
dozen nodes) and every task has the same shape, so a memoised walk from the
targets does the same work.

Semantics kept from dask (what Rasa relies on): a task is a tuple whose
first item is callable, called with its other items, each item that names
another key of the graph replaced by that key's result and any other item
passed as it is (how Rasa's ``GraphNode`` learns that an input was not
provided); anything else in the graph (Rasa's inputs) is its own value;
each key is computed once per run, after everything it needs; the results
come back in the order of ``keys``.
Limit: only the graph shapes above (items that are strings, keys or not);
anything else (nested lists of keys, a non-string key) is left to
``dask.get``, so the answer never differs. Independent nodes may run in
another order than dask's (Rasa's components do not change their inputs).
"""
from __future__ import annotations

from typing import Any, Dict, List, Mapping, Sequence, Set, Tuple


def plain(graph: Mapping[Any, Any]) -> bool:
    """Whether ``evaluate`` handles ``graph`` exactly as dask would."""
    for key, task in graph.items():
        if not isinstance(key, str):
            return False
        if isinstance(task, tuple) and task and callable(task[0]):
            if not all(isinstance(item, str) for item in task[1:]):
                return False
    return True


def evaluate(graph: Mapping[str, Any], keys: Sequence[str]) -> Tuple[Any, ...]:
    """``dask.get(graph, keys)`` for a ``plain`` graph: each key's result, in
    order. Like dask, it runs every task of the graph, needed by ``keys`` or
    not (Rasa's graphs hold only what the targets need)."""
    done: Dict[str, Any] = {}
    for key in graph:
        if key not in done:
            _compute(graph, key, done)
    return tuple(done[key] for key in keys)


def _compute(graph: Mapping[str, Any], key: str, done: Dict[str, Any]) -> None:
    """Compute ``key`` and what it needs, depth first without recursion."""
    stack: List[str] = [key]
    expanded: Set[str] = set()  # waiting for what they need
    while stack:
        current = stack[-1]
        if current in done:
            stack.pop()
            continue
        task = graph[current]
        if not (isinstance(task, tuple) and task and callable(task[0])):
            done[current] = task
            stack.pop()
            continue
        missing = [item for item in task[1:] if item in graph and item not in done]
        if missing:
            if current in expanded or any(item in expanded for item in missing):
                raise RuntimeError(f"Cycle detected in the graph at {current!r}")
            expanded.add(current)
            stack.extend(reversed(missing))
            continue
        expanded.discard(current)
        done[current] = task[0](*(done[item] if item in graph else item for item in task[1:]))
        stack.pop()
