"""Support time ("business time"): the store's weekly support hours, less its
holidays, in the store's time zone.

Pure functions on a ``SupportSchedule``, no clock and no I/O, so the bridge
(the shopper's promise, the SLA sweep) and the reports (first response in
support hours) count the same seconds:

- ``support_intervals(schedule, start, end)``: the support intervals (UTC)
  that overlap [start, end);
- ``is_open(schedule, at)`` and ``next_opening(schedule, at)``;
- ``add_support_seconds(schedule, start, seconds)``: the instant at which
  ``seconds`` of support time have passed since ``start``;
- ``support_seconds_between(schedule, start, end)``: the support seconds in
  [start, end) (0 when end is not after start).

Rules:
- A day's intervals are local wall-clock times (``open_minute`` to
  ``close_minute``, minutes after midnight; a close of 1440 is midnight at the
  end of the day, "24:00"). Each local boundary becomes an instant with the
  zone's offset of that day, so durations are real elapsed time: a window
  01:00-04:00 on the night clocks go forward lasts 2 hours. A boundary in the
  hour that does not exist (02:30 on that night in Europe/Madrid) is read with
  the offset before the change (PEP 495, fold=0), i.e. one hour later on the
  wall clock; in the repeated hour it is the first occurrence.
- A holiday (a date, or a month-day every year) has no support at all.
- ``add_support_seconds`` with 0 seconds outside support hours is the next
  opening (the first moment someone can answer). Ending exactly at a close,
  it returns the close ("antes de las 14:00"), never the next opening.
- Intervals of one day may not overlap (the policy validates it); adjacent
  ones (a day ending at 24:00 and the next starting at 00:00) simply follow.

Limits: the search looks ``MAX_SEARCH_DAYS`` ahead; a schedule with no
support in that span raises ``NoSupportTime``.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import FrozenSet, Iterator, Optional, Sequence, Tuple
from zoneinfo import ZoneInfo

UTC = dt.timezone.utc
MAX_SEARCH_DAYS = 400
MINUTES_PER_DAY = 1440

Interval = Tuple[int, int]  # (open_minute, close_minute) of a local day, 0 <= open < close <= 1440


class NoSupportTime(ValueError):
    """The schedule has no support time in the searched span."""


@dataclass(frozen=True)
class SupportSchedule:
    """``weekly[d]``: the intervals of weekday ``d`` (0 = Monday), sorted."""

    tz: ZoneInfo
    weekly: Tuple[Tuple[Interval, ...], ...]
    holidays: FrozenSet[dt.date] = frozenset()
    yearly_holidays: FrozenSet[Tuple[int, int]] = frozenset()  # (month, day), every year

    def is_holiday(self, day: dt.date) -> bool:
        return day in self.holidays or (day.month, day.day) in self.yearly_holidays

    def day_intervals(self, day: dt.date) -> Iterator[Tuple[dt.datetime, dt.datetime]]:
        """The support intervals of the local date ``day``, as UTC instants."""
        if self.is_holiday(day):
            return
        for open_minute, close_minute in self.weekly[day.weekday()]:
            start = _local_instant(self.tz, day, open_minute)
            end = _local_instant(self.tz, day, close_minute)
            if end > start:
                yield start, end


def _local_instant(tz: ZoneInfo, day: dt.date, minute: int) -> dt.datetime:
    """Local ``day`` at ``minute`` (1440: the next midnight) as a UTC instant."""
    if minute >= MINUTES_PER_DAY:
        day, minute = day + dt.timedelta(days=1), minute - MINUTES_PER_DAY
    local = dt.datetime.combine(day, dt.time(minute // 60, minute % 60), tzinfo=tz)
    return local.astimezone(UTC)


def _aware(value: dt.datetime) -> dt.datetime:
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)


def support_intervals(
    schedule: SupportSchedule, start: dt.datetime, end: Optional[dt.datetime] = None,
) -> Iterator[Tuple[dt.datetime, dt.datetime]]:
    """Support intervals (UTC, clipped to [start, end)) from ``start`` on, in
    order; without ``end``, up to ``MAX_SEARCH_DAYS`` ahead."""
    start = _aware(start)
    end = _aware(end) if end is not None else None
    # the local day before too: its 24:00 close (or a DST shift) may reach past start
    day = start.astimezone(schedule.tz).date() - dt.timedelta(days=1)
    last = (end.astimezone(schedule.tz).date() if end is not None
            else day + dt.timedelta(days=MAX_SEARCH_DAYS))
    while day <= last:
        for a, b in schedule.day_intervals(day):
            a, b = max(a, start), (min(b, end) if end is not None else b)
            if b > a:
                yield a, b
        day += dt.timedelta(days=1)


def is_open(schedule: SupportSchedule, at: dt.datetime) -> bool:
    at = _aware(at)
    day = at.astimezone(schedule.tz).date()
    return any(a <= at < b for d in (day - dt.timedelta(days=1), day) for a, b in schedule.day_intervals(d))


def next_opening(schedule: SupportSchedule, at: dt.datetime) -> dt.datetime:
    """``at`` itself when support is open then, else the next opening (UTC)."""
    for a, _ in support_intervals(schedule, at):
        return a
    raise NoSupportTime(f"no support time in the {MAX_SEARCH_DAYS} days after {at.isoformat()}")


def add_support_seconds(schedule: SupportSchedule, start: dt.datetime, seconds: float) -> dt.datetime:
    """The instant (UTC) at which ``seconds`` of support time have passed since
    ``start`` (see the module's rules for 0 and for an end at a close)."""
    if seconds < 0:
        raise ValueError("seconds must not be negative")
    left = dt.timedelta(seconds=seconds)
    for a, b in support_intervals(schedule, start):
        if b - a >= left:
            return a + left
        left -= b - a
    raise NoSupportTime(f"not {seconds} s of support time in the {MAX_SEARCH_DAYS} days after {start.isoformat()}")


def support_seconds_between(schedule: SupportSchedule, start: dt.datetime, end: dt.datetime) -> float:
    """Seconds of support time in [start, end); 0 when ``end`` <= ``start``."""
    if _aware(end) <= _aware(start):
        return 0.0
    return sum((b - a).total_seconds() for a, b in support_intervals(schedule, start, end))


def build_weekly(windows: Sequence[Tuple[Sequence[int], int, int]]) -> Tuple[Tuple[Interval, ...], ...]:
    """``(days, open_minute, close_minute)`` entries → the sorted intervals of
    each weekday; ValueError naming the day when two overlap."""
    days = [[] for _ in range(7)]  # type: list
    for weekdays, open_minute, close_minute in windows:
        for d in weekdays:
            days[d].append((open_minute, close_minute))
    for d, intervals in enumerate(days):
        intervals.sort()
        for (a1, b1), (a2, b2) in zip(intervals, intervals[1:]):
            if a2 < b1:
                raise ValueError(f"support_hours overlap on day {d}: "
                                 f"{_hhmm(a1)}-{_hhmm(b1)} and {_hhmm(a2)}-{_hhmm(b2)}")
    return tuple(tuple(i) for i in days)


def _hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"
