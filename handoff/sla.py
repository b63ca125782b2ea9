"""The shopper's promise and the first-response SLA (pure: no I/O, no clock).

- The promise of a handoff episode is its SLA deadline,
  ``StorePolicy.first_response_due(queued_at)``: the policy's
  ``first_response_target_minutes`` of support time after the episode was
  queued. It depends on ``queued_at`` only, so it never moves when the queue
  changes, and a restart computes the same one.
- When it passes with no agent reply, the bridge apologises once and promises
  a new time (``StorePolicy.breach_new_promise``); that apology is a stored
  ``system`` message whose data holds ``{"sla": {"episode_id", "breach",
  "missed", "respond_by"}}`` (client id ``sla:<episode>:<n>``, so it is stored
  once even after a restart). The current promise is the latest of those, or
  the deadline.
- An episode with a first agent reply has kept (or missed) its promise: no
  promise any more (a conversation transferred back to the queue after an
  answer is not promised again).

``when_es`` says an instant as the shopper reads it, in the store's time
zone: "antes de las 10:30", "mañana antes de las 9:30", "el lunes 7 de
diciembre antes de las 9:30".
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Dict, Optional, Sequence
from zoneinfo import ZoneInfo

from core.formatting import date_es
from core.policy import StorePolicy

SLA_DATA_KEY = "sla"


def sla_client_id(episode_id: int, breach: int) -> str:
    """The stored apology's client id: one per episode and breach."""
    return f"sla:{episode_id}:{breach}"


@dataclass(frozen=True)
class Promise:
    episode_id: int
    due: dt.datetime          # the SLA deadline (first response)
    respond_by: dt.datetime   # what the shopper was last promised: ``due`` or the latest new time
    breaches: int             # apologies sent (promises missed)

    def breached(self, now: dt.datetime) -> bool:
        """The SLA deadline has passed (the first reply is still owed)."""
        return now > self.due

    def missed(self, now: dt.datetime) -> bool:
        """The current promise has passed: an apology with a new time is owed."""
        return now > self.respond_by


def promise_for(policy: StorePolicy, episode_id: int, queued_at: dt.datetime,
                apologies: Sequence[Dict[str, Any]] = ()) -> Promise:
    """The promise of an unanswered episode from its queueing time and the
    ``sla`` data of the apologies already sent (any order)."""
    due = policy.first_response_due(queued_at)
    respond_by, breaches = due, 0
    for data in apologies:
        try:
            breach = int(data["breach"])
            renewed = dt.datetime.fromisoformat(str(data["respond_by"]))
        except (KeyError, TypeError, ValueError):
            continue
        if breach > breaches:
            breaches, respond_by = breach, renewed
    return Promise(episode_id, due, respond_by, breaches)


def when_es(at: dt.datetime, now: dt.datetime, tz: ZoneInfo) -> str:
    """"antes de las 10:30" (today), "mañana antes de las 9:30", "ayer antes
    de las 19:30", "el lunes 7 de diciembre antes de las 9:30" (the year when
    it is not this one); "antes de la 1:15" for the one o'clock hour."""
    local = at.astimezone(tz)
    today = now.astimezone(tz).date()
    clock = f"antes de {'la' if local.hour == 1 else 'las'} {local.hour}:{local.minute:02d}"
    day = local.date()
    if day == today:
        return clock
    if day == today + dt.timedelta(days=1):
        return f"mañana {clock}"
    if day == today - dt.timedelta(days=1):
        return f"ayer {clock}"
    return f"el {date_es(day, today=today)} {clock}"


def iso(value: Optional[dt.datetime]) -> Optional[str]:
    """UTC ISO 8601, as every time in the frames."""
    return value.astimezone(dt.timezone.utc).isoformat() if value else None
