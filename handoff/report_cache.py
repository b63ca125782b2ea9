"""The summary's figures of settled days, kept in memory between requests, so
a 90-day summary reads and computes only its last days (docs/reports.md,
"Speed").

A local day is **settled** when nothing the summary shows for it can change
by time passing alone: it ended more than the FCR window plus a day and
an hour ago, no promise of its episodes is still running and every resolved close of
it has its FCR window over. A settled day is computed once (``DayFigures``,
every channel) and kept with a snapshot of ``handoff_report_changes``
(migration 0005: database triggers count up a UTC day whenever its report
data changes after it was a day old, whichever process writes). A kept
day is used while the generations of the UTC days it depends on (the day
itself and the FCR window after it, where a new contact would change its
FCR) are the ones it was computed with; otherwise it is computed again.

Limits: labels, agent names and products are read fresh each time (agents
change labels at any moment); a summary with an ``agent`` filter is always
computed from the database (its conversation counts depend on episodes of
other days); a database without migration 0005's table keeps nothing. The
memory is one process's: each bridge keeps its own days. A change the
triggers do not see (rows written with the triggers dropped, or a clock set
back by days) is not noticed until the process restarts.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Set, Tuple

from sqlalchemy import and_, inspect, select
from sqlalchemy.engine import Connection

from core.policy import StorePolicy
from handoff.reports import Block, DayFigures, ReportRequest, build_days, local_midnight, merge_days, read_summary_data
from handoff.storage import report_changes_table

# Days changed less than this long ago are never logged by the triggers (0005).
TRIGGER_AGE = dt.timedelta(days=1)
SETTLE_MARGIN = dt.timedelta(hours=1)   # clocks of the database and the bridge may differ a little
MAX_KEYS = 4          # (database, zone, policy) combinations kept
MAX_DAYS = 800        # days kept per combination
MAX_BLOCKS = 8        # summed ranges kept


@dataclass
class KeptDay:
    figures: DayFigures
    deps: Tuple[Optional[int], ...]    # generations of the UTC days it depends on
    serial: int                        # unique per computation: a block names the days it summed by it


def _policy_key(policy: StorePolicy) -> str:
    """What of the policy the figures depend on (support hours, holidays,
    the promise, the FCR window)."""
    wanted = {"hours": repr(policy.support_hours), "holidays": repr(policy.holidays),
              "yearly": repr(policy.yearly_holidays), "tz": policy.timezone,
              "target": policy.first_response_target_minutes, "fcr": policy.fcr_window_days}
    return hashlib.sha256(json.dumps(wanted, sort_keys=True, default=str).encode()).hexdigest()[:16]


class DayCache:
    """Settled days' ``DayFigures`` per (database, zone, policy). ``days``
    runs on the reading thread (inside one read transaction); a lock keeps
    the memory consistent between threads."""

    def __init__(self, keep: bool = True) -> None:
        self.keep = keep           # False: every day from the database (the reference the tests compare with)
        self._lock = threading.Lock()
        self._kept: "OrderedDict[Tuple[str, str, str], Dict[dt.date, KeptDay]]" = OrderedDict()
        self.computed_days = 0     # days computed from the database (for tests and the bench)
        self.reused_days = 0
        self._tracked: Set[str] = set()     # databases seen with the changes table
        # the kept days of a recent range summed (keyed by the kept objects: a day computed again is another)
        self._serial = itertools.count()
        self._blocks: "OrderedDict[Tuple[Any, ...], Block]" = OrderedDict()

    def clear(self) -> None:
        with self._lock:
            self._kept.clear()
            self._blocks.clear()

    def days(self, conn: Connection, request: ReportRequest, policy: StorePolicy,
             now: dt.datetime) -> Tuple[Dict[dt.date, DayFigures], List[Block]]:
        """The ``DayFigures`` of every day of the request (any channel), and
        the kept ones summed as one block (kept too, for the same days)."""
        whole = ReportRequest(request.first_day, request.last_day, request.tz_name, None, request.agent)
        if request.agent is not None or not self.keep:
            return self._compute(conn, whole, policy, now), []
        url = conn.engine.url.render_as_string(hide_password=True)
        generations = self._generations(conn, url, request, policy)
        if generations is None:
            return self._compute(conn, whole, policy, now), []
        settled_before = now - dt.timedelta(days=policy.fcr_window_days) - TRIGGER_AGE - SETTLE_MARGIN
        key = (url, request.tz_name, _policy_key(policy))
        window = policy.fcr_window_days
        out: Dict[dt.date, DayFigures] = {}
        from_memory: Dict[dt.date, int] = {}     # the kept days of this answer, by serial
        missing: List[dt.date] = []
        fresh: List[dt.date] = []
        with self._lock:
            kept = self._kept.get(key, {})
            for day in request.days():
                if local_midnight(day + dt.timedelta(days=1), request.tz) > settled_before:
                    fresh.append(day)
                    continue
                found = kept.get(day)
                if found is not None and found.deps == _deps(generations, day, window):
                    out[day] = found.figures
                    from_memory[day] = found.serial
                    self.reused_days += 1
                else:
                    missing.append(day)
        for first, last in _spans(missing) + _spans(fresh):
            out.update(self._compute(conn, ReportRequest(first, last, request.tz_name), policy, now))
        with self._lock:
            kept = self._kept.setdefault(key, {})
            self._kept.move_to_end(key)
            for day in missing:
                if _decided(out[day]):
                    kept[day] = KeptDay(out[day], _deps(generations, day, window), next(self._serial))
                    from_memory[day] = kept[day].serial
            while len(kept) > MAX_DAYS:
                kept.pop(min(kept))
            while len(self._kept) > MAX_KEYS:
                self._kept.popitem(last=False)
            used = tuple(sorted(from_memory.items()))
            block = self._blocks.get((key, used))
        if len(used) < 2:
            return out, []
        if block is None:
            block = (frozenset(from_memory), merge_days(out[day] for day, _ in used))
            with self._lock:
                self._blocks[(key, used)] = block
                while len(self._blocks) > MAX_BLOCKS:
                    self._blocks.popitem(last=False)
        return out, [block]

    def _compute(self, conn: Connection, request: ReportRequest, policy: StorePolicy,
                 now: dt.datetime) -> Dict[dt.date, DayFigures]:
        data = read_summary_data(conn, request, policy, now)
        with self._lock:
            self.computed_days += len(request.days())
        return build_days(data, request, policy, now)

    def _generations(self, conn: Connection, url: str, request: ReportRequest,
                     policy: StorePolicy) -> Optional[Dict[str, int]]:
        """The logged UTC days from the day before the range to the FCR
        window after it; None without the table (no migration 0005)."""
        if url not in self._tracked:
            if not inspect(conn).has_table(report_changes_table.name):
                return None
            self._tracked.add(url)
        t = report_changes_table
        first = (request.first_day - dt.timedelta(days=2)).isoformat()
        last = (request.last_day + dt.timedelta(days=policy.fcr_window_days + 2)).isoformat()
        rows = conn.execute(select(t.c.day, t.c.generation).where(and_(t.c.day >= first, t.c.day <= last)))
        return {day: generation for day, generation in rows}


def _decided(figures: DayFigures) -> bool:
    """Nothing of the day waits on the clock: no promise still running (SLA
    pending) and no resolved close whose FCR window is still open. An episode
    still open long after its promise is decided too: only a write can change
    it, and the triggers log that write."""
    return all(ep.sla != "pending" and not (ep.closed is not None and ep.resolution == "resolved" and ep.fcr is None)
               for ep in figures.episodes)


def _deps(generations: Mapping[str, int], day: dt.date, window: int) -> Tuple[Optional[int], ...]:
    """The generations of the UTC days a local day's figures depend on: the
    day before (zones ahead of UTC) to the FCR window and a day after."""
    return tuple(generations.get((day + dt.timedelta(days=i)).isoformat()) for i in range(-1, window + 2))


def _spans(days: List[dt.date]) -> List[Tuple[dt.date, dt.date]]:
    """Runs of consecutive days as (first, last)."""
    spans: List[Tuple[dt.date, dt.date]] = []
    for day in sorted(days):
        if spans and (day - spans[-1][1]).days == 1:
            spans[-1] = (spans[-1][0], day)
        else:
            spans.append((day, day))
    return spans


DAY_CACHE = DayCache()
