"""The outbox's pace (handoff/channels/telegram/pacing.py) on a clock the
test moves: never more than the overall rate, nor more than a burst and
then one a second in one chat."""
from __future__ import annotations

from typing import List

from handoff.channels.telegram.pacing import CHAT_BURST, Pacer


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_one_chat_gets_a_burst_then_one_a_second() -> None:
    clock = Clock()
    pacer = Pacer(30.0, 1.0, clock)
    sent = 0
    for _ in range(10):
        allowed, wait = pacer.take([7])
        sent += len(allowed)
    assert sent == CHAT_BURST
    assert 0.99 <= wait <= 1.0
    clock.now += 1.0
    assert pacer.take([7])[0] == [7]
    assert pacer.take([7])[0] == []


def test_many_chats_share_the_overall_rate() -> None:
    clock = Clock()
    pacer = Pacer(30.0, 1.0, clock)
    steps: List[int] = []
    sent: List[int] = []
    for _ in range(40):  # four seconds in steps of 0.1 s, 200 chats always due
        allowed, _ = pacer.take(range(200))
        steps.append(len(allowed))
        sent.extend(allowed)
        clock.now += 0.1
    windows = [sum(steps[i:i + 10]) for i in range(len(steps) - 9)]  # every second
    assert max(windows) <= 33 and min(windows) >= 25
    assert max(sent.count(c) for c in set(sent)) <= CHAT_BURST + 4  # a burst, then one a second
