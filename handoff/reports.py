"""The supervisors' reports: ``/api/reports/summary`` (JSON) and
``/api/reports/conversations.csv`` (streamed), as ../shared/design/reports.md
fixes them; every definition is written in docs/reports.md.

One job, in four parts:
- ``parse_request``: the query string (``from``, ``to`` as local dates of
  ``tz``, default the store's time zone; ``channel``, ``agent``) into a
  ``ReportRequest`` with its UTC bounds; ``ReportRequestError`` (400) otherwise.
- reading (``read_summary_data``, ``read_csv_page``): a few SQL statements
  per report, each on an index (conversations by ``first_customer_at``,
  episodes by ``queued_at``); conversation counts are aggregated in SQL by
  channel and local day (the zone's offsets over the range in a CASE), so a
  90-day range reads a few thousand rows for them, not one per conversation;
  episodes are read one narrow row each.
- pure functions (``SupportClock``, ``stats``, ``summarise``...) that compute
  the figures from typed rows; no I/O, no clock (``now`` is passed).
- ``csv_chunks``: an async generator of CSV text, a page of conversations at a
  time (keyset pagination), so the rows are never all in memory.

Support-hours figures count with the policy's schedule
(core/support_time.py) through ``SupportClock``: the same intervals,
summed once into a cumulative table, so each episode costs two binary
searches instead of a walk over its days.
"""
from __future__ import annotations

import bisect
import csv
import datetime as dt
import functools
import io
import math
import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field
from typing import (
    Any,
    AsyncIterator,
    Awaitable,
    Callable,
    Dict,
    FrozenSet,
    Iterable,
    List,
    Mapping,
    Optional,
    Sequence,
    Set,
    Tuple,
    TypeVar,
)
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Integer, String, and_, case, cast, exists, func, literal_column, null, or_, select, type_coerce
from sqlalchemy.engine import Connection

from core import support_time
from core.policy import StorePolicy
from handoff.nps import nps_group
from handoff.storage import (
    agents_table,
    assignments_table,
    conversations_table,
    csat_table,
    episodes_table,
    labels_table,
    nps_table,
    profiles_table,
)
from handoff.vocabulary import label as vocabulary_label

UTC = dt.timezone.utc
EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()
MAX_RANGE_DAYS = 366
DEFAULT_RANGE_DAYS = 30
CSV_PAGE = 1000
CSV_COLUMNS = ("conversation_id", "channel", "started_at", "customer", "verified", "handed_off", "reasons",
               "agents", "labels", "first_response_s", "resolution_s", "csat", "resolved", "fcr",
               "first_response_business_s", "sla", "transfers", "nps")
COMPLAINT_REASONS = frozenset({"complaint", "frustration", "damaged_or_wrong_item"})
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
CHANNEL = re.compile(r"^[a-z][a-z0-9_]{0,19}$")
AGENT_ID = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")


class ReportRequestError(ValueError):
    """A bad query string: 400 with ``code`` and a Spanish ``detail`` (English in brackets)."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class ReportRequest:
    first_day: dt.date
    last_day: dt.date          # included
    tz_name: str
    channel: Optional[str] = None
    agent: Optional[str] = None

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.tz_name)

    @property
    def start(self) -> dt.datetime:
        """The first day's local midnight, in UTC."""
        return local_midnight(self.first_day, self.tz)

    @property
    def end(self) -> dt.datetime:
        """The local midnight after the last day, in UTC (excluded)."""
        return local_midnight(self.last_day + dt.timedelta(days=1), self.tz)

    def days(self) -> List[dt.date]:
        return [self.first_day + dt.timedelta(days=i) for i in range((self.last_day - self.first_day).days + 1)]

    def day_position(self, epoch: float) -> int:
        """Which day of the range (0 = ``first_day``) an instant falls on in
        the zone, clamped to the range, by binary search over its midnights."""
        bounds = _midnights(self)
        return max(0, min(len(bounds) - 2, bisect.bisect_right(bounds, epoch) - 1))

    def range_field(self) -> Dict[str, str]:
        return {"from": self.first_day.isoformat(), "to": self.last_day.isoformat(), "tz": self.tz_name}


@functools.lru_cache(maxsize=64)
def _midnights(request: ReportRequest) -> Tuple[float, ...]:
    """Each day's local midnight and the range's end (epoch seconds)."""
    return tuple(local_midnight(d, request.tz).timestamp() for d in request.days()) + (request.end.timestamp(),)


def local_midnight(day: dt.date, tz: ZoneInfo) -> dt.datetime:
    """The first instant of ``day`` in ``tz`` (UTC). Where midnight does not
    exist (a DST jump at 00:00), the first instant that does."""
    naive = dt.datetime.combine(day, dt.time())
    value = naive.replace(tzinfo=tz)
    back = value.astimezone(UTC).astimezone(tz).replace(tzinfo=None)
    if back != naive:  # skipped: the clocks jumped over midnight; the day starts when they land
        value = (value.astimezone(UTC) - (back - naive)).astimezone(tz)
    return value.astimezone(UTC)


def _one(params: Mapping[str, Sequence[str]], name: str) -> Optional[str]:
    values = params.get(name) or []
    value = values[-1].strip() if values else ""
    return value or None


def _date(value: str, name: str) -> dt.date:
    try:
        if not DATE.match(value):
            raise ValueError(value)
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise ReportRequestError(
            "invalid_date", f"«{name}» debe ser una fecha AAAA-MM-DD ({name} must be a date YYYY-MM-DD).") from exc


def parse_request(params: Mapping[str, Sequence[str]], default_tz: str, today_utc: dt.datetime) -> ReportRequest:
    """The query string (as ``urllib.parse.parse_qs`` gives it) read in the
    time zone asked (default ``default_tz``). Without ``to``: today; without
    ``from``: the 30 days that end on ``to``."""
    tz_name = _one(params, "tz") or default_tz
    try:
        if not re.match(r"^[A-Za-z0-9_+\-/]{1,64}$", tz_name) or tz_name.startswith("/") or ".." in tz_name:
            raise ValueError(tz_name)
        tz = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise ReportRequestError(
            "invalid_tz", "«tz» debe ser una zona horaria IANA, como Europe/Madrid "
                          "(tz must be an IANA time zone).") from exc
    raw_to, raw_from = _one(params, "to"), _one(params, "from")
    last = _date(raw_to, "to") if raw_to else today_utc.astimezone(tz).date()
    first = _date(raw_from, "from") if raw_from else last - dt.timedelta(days=DEFAULT_RANGE_DAYS - 1)
    if first > last:
        raise ReportRequestError("invalid_range", "«from» no puede ser posterior a «to» (from is after to).")
    if (last - first).days + 1 > MAX_RANGE_DAYS:
        raise ReportRequestError(
            "range_too_long", f"El periodo puede tener como mucho {MAX_RANGE_DAYS} días "
                              f"(at most {MAX_RANGE_DAYS} days).")
    channel = _one(params, "channel")
    if channel is not None and not CHANNEL.match(channel):
        raise ReportRequestError("invalid_channel", "«channel» no es un canal válido (invalid channel).")
    agent = _one(params, "agent")
    if agent is not None and not AGENT_ID.match(agent):
        raise ReportRequestError("invalid_agent", "«agent» no es un identificador de agente válido (invalid agent id).")
    return ReportRequest(first, last, tz_name, channel, agent)


# -- support time ----------------------------------------------------------------


class SupportClock:
    """The policy's support intervals between two instants, summed once:
    ``seconds(a, b)`` is ``support_time.support_seconds_between`` and ``due(q)``
    is ``StorePolicy.first_response_due`` (target of support time, rounded
    up to the minute), each by binary search (epoch seconds in and out).
    Outside the span it was built for, it asks the policy directly."""

    def __init__(self, policy: StorePolicy, start: dt.datetime, end: dt.datetime) -> None:
        self.policy = policy
        self.target_s = policy.first_response_target_minutes * 60.0
        self.lo = start.timestamp()
        self.hi = end.timestamp()
        self.starts: List[float] = []
        self.ends: List[float] = []
        self.before: List[float] = []   # support seconds before each interval
        self.upto: List[float] = []     # support seconds up to each interval's end
        total = 0.0
        for a, b in support_time.support_intervals(policy.schedule, start, end):
            self.starts.append(a.timestamp())
            self.ends.append(b.timestamp())
            self.before.append(total)
            total += (b - a).total_seconds()
            self.upto.append(total)

    def _cum(self, t: float) -> float:
        k = bisect.bisect_right(self.starts, t) - 1
        if k < 0:
            return 0.0
        return self.before[k] + min(t, self.ends[k]) - self.starts[k]

    def seconds(self, a: float, b: float) -> float:
        if b <= a:
            return 0.0
        if a < self.lo or b > self.hi:
            return self.policy.support_seconds_between(_dt(a), _dt(b))
        return self._cum(b) - self._cum(a)

    def due(self, queued: float) -> float:
        target = self._cum(queued) + self.target_s if queued >= self.lo else None
        k = bisect.bisect_left(self.upto, target) if target is not None else len(self.upto)
        if k >= len(self.upto):
            return self.policy.first_response_due(_dt(queued)).timestamp()
        exact = self.starts[k] + (target - self.before[k])  # type: ignore[operator]
        return math.ceil(round(exact, 6) / 60.0) * 60.0


def _dt(epoch: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, UTC)


def _epoch(value: Any) -> Optional[float]:
    """A stored time as epoch seconds: SQLite gives the text SQLAlchemy wrote
    (naive UTC), PostgreSQL an aware datetime."""
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


def _raw(column: Any) -> Any:
    """A column read without SQLAlchemy's per-row conversion (text on SQLite)."""
    return type_coerce(column, String)


# -- statistics -------------------------------------------------------------------


def percentile(ordered: Sequence[float], p: float) -> Optional[float]:
    """Linear interpolation between the closest ranks (numpy's default)."""
    if not ordered:
        return None
    k = (len(ordered) - 1) * p
    lo = math.floor(k)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def _r(value: Optional[float]) -> Optional[float]:
    return None if value is None else round(value, 3)


def stats(values: Iterable[float]) -> Dict[str, Any]:
    """``{"count","mean","median","p90"}`` (nulls when there is nothing)."""
    ordered = sorted(values)
    if not ordered:
        return {"count": 0, "mean": None, "median": None, "p90": None}
    return {"count": len(ordered), "mean": _r(sum(ordered) / len(ordered)),
            "median": _r(percentile(ordered, 0.5)), "p90": _r(percentile(ordered, 0.9))}


def rate(part: int, whole: int) -> Optional[float]:
    return None if whole == 0 else part / whole


# -- typed rows --------------------------------------------------------------------


@dataclass(slots=True)
class Episode:
    """One handoff episode queued in the range, with what the figures need."""

    id: int
    conversation_id: str
    channel: str
    customer_key: str                    # customer_id, or the conversation itself
    reason: str
    queued: float
    first_reply: Optional[float]
    closed: Optional[float]              # only for outcome "closed"
    ended: Optional[float]
    outcome: Optional[str]
    resolution: Optional[str]
    agent_id: Optional[str]              # the last holder (the closer once closed)
    verified_order: Optional[str]
    csat: Optional[int] = None
    nps: Optional[int] = None
    holders: List[str] = field(default_factory=list)     # in order, repeated if held twice
    described: Optional[str] = None      # a complaint's handoff ``details.description`` (the products it names)
    responder: Optional[str] = None      # who held it at the first reply
    transfers_to_agent: int = 0
    transfers_to_queue: int = 0
    lost: int = 0
    # computed once
    business_first: Optional[float] = None
    due: Optional[float] = None
    sla: Optional[str] = None            # met | breached | pending | None (ended before the promise, unanswered)
    fcr: Optional[bool] = None           # resolved and its window is over: no new contact?

    @property
    def closer(self) -> Optional[str]:
        return self.agent_id if self.outcome == "closed" else None

    @property
    def sla_agent(self) -> Optional[str]:
        return self.responder if self.first_reply is not None else (self.holders[-1] if self.holders else None)


Lines = List[Tuple[str, bool]]   # an order's lines: (product name, whether a return of the order holds it)


@dataclass
class ConversationCounts:
    """Conversations of one channel and local day (the SQL aggregate)."""

    channel: str
    day: int                  # index into the request's days
    handed_off: bool
    count: int


@dataclass
class SummaryData:
    """What ``read_summary_data`` reads for a span of days (every channel
    unless the request names one)."""

    counts: List[ConversationCounts]
    episodes: List[Episode]
    # bot-only conversations whose FCR window is over, per (channel, day index): [resolved first time, counted]
    bot_fcr: Dict[Tuple[str, int], List[int]]


@dataclass
class LabelData:
    """The labels the summary needs, read fresh on every request (agents
    change them at any time): each labelled conversation's labels, and
    (conversation, label, channel, handed off, in range) of the labelled
    conversations that are the range's or have an episode in it."""

    labels: Dict[str, List[str]]
    rows: List[Tuple[str, str, str, bool, bool]]


# -- reading ------------------------------------------------------------------------


def _epoch_expr(conn: Connection, column: Any) -> Any:
    """Epoch seconds (float) computed by the database: no per-row parsing in
    Python. SQLite's julianday is exact to ~50 µs; values are rounded to the
    millisecond when read (``_ms``)."""
    if conn.dialect.name == "sqlite":
        return (func.julianday(column) - 2440587.5) * 86400.0
    return cast(func.extract("epoch", column), sa_float())


def sa_float() -> Any:
    from sqlalchemy import Float
    return Float(precision=53)


def _ms(value: Any) -> Optional[float]:
    return None if value is None else round(float(value), 3)


def offset_changes(tz: ZoneInfo, start: dt.datetime, end: dt.datetime) -> List[Tuple[float, int]]:
    """[(from epoch, UTC offset in seconds)] of ``tz`` over [start, end): the
    offset in force from each instant on (the first from -inf)."""
    def offset(at: dt.datetime) -> int:
        return int(at.astimezone(tz).utcoffset().total_seconds())  # type: ignore[union-attr]

    changes = [(-math.inf, offset(start))]
    step = dt.timedelta(hours=1)
    at = start
    while at < end:
        nxt = at + step
        if offset(nxt) != changes[-1][1]:
            lo, hi = at, nxt                      # the change is in (lo, hi]: to the second
            while (hi - lo) > dt.timedelta(seconds=1):
                mid = lo + (hi - lo) / 2
                lo, hi = (mid, hi) if offset(mid) == changes[-1][1] else (lo, mid)
            changes.append((hi.timestamp(), offset(hi)))
        at = nxt
    return changes


def _local_day_expr(conn: Connection, column: Any, request: ReportRequest) -> Any:
    """The local day (days since 1970-01-01 in the request's zone) of a time,
    computed in SQL from the zone's offsets over the range (a CASE on the
    few DST changes)."""
    if conn.dialect.name == "sqlite":
        epoch = cast(func.strftime("%s", column), Integer)
    else:
        epoch = cast(func.floor(func.extract("epoch", column)), Integer)
    changes = offset_changes(request.tz, request.start, request.end)
    if all(offset % 3600 == 0 for _, offset in changes):
        return _utc_hour_expr(conn, column)  # whole-hour zones: grouped by UTC hour, days made in Python
    if len(changes) == 1:
        shifted = epoch + changes[0][1]
    else:
        whens = [(epoch < int(changes[i + 1][0]), epoch + changes[i][1]) for i in range(len(changes) - 1)]
        shifted = case(*whens, else_=epoch + changes[-1][1])
    if conn.dialect.name == "sqlite":
        return shifted / 86400
    return cast(func.floor(shifted / 86400.0), Integer)


def _utc_hour_expr(conn: Connection, column: Any) -> Any:
    """The UTC hour of a time as text 'YYYY-MM-DD HH' (SQLite: a prefix of
    the stored text, no parsing) or a timestamp (PostgreSQL)."""
    if conn.dialect.name == "sqlite":
        return func.substr(column, 1, 13)
    return func.date_trunc("hour", column)


def _hour_day(value: Any, request: ReportRequest) -> int:
    """The day of the range (0 = its first) of a UTC hour read by ``_utc_hour_expr``."""
    if isinstance(value, str):  # "YYYY-MM-DD HH", read without a datetime per row
        epoch = (dt.date(int(value[:4]), int(value[5:7]), int(value[8:10])).toordinal() - EPOCH_ORDINAL) * 86400 \
            + int(value[11:13]) * 3600
        return request.day_position(epoch)
    at = value if value.tzinfo else value.replace(tzinfo=UTC)
    return (at.astimezone(request.tz).date() - request.first_day).days


def _plus_window(conn: Connection, column: Any, days: int) -> Any:
    if conn.dialect.name == "sqlite":
        return func.strftime("%Y-%m-%d %H:%M:%f", column, f"+{days} days")
    return column + literal_column(f"interval '{int(days)} days'")


def _after(conn: Connection, later: Any, earlier: Any, days: int) -> Any:
    """``later`` in (earlier, earlier + days]."""
    if conn.dialect.name == "sqlite":
        # the stored text (SQLAlchemy's fixed "YYYY-MM-DD HH:MM:SS.ffffff", UTC) compares as the
        # times do; the window's end is to the millisecond ("%f" is SS.SSS)
        return and_(later > earlier, later <= _plus_window(conn, earlier, days))
    return and_(later > earlier, later <= _plus_window(conn, earlier, days))


def _repeat_contact(conn: Connection, customer: Any, conversation: Any, at: Any, days: int) -> Any:
    """SQL: the customer (``customer`` when linked, else the conversation
    itself) made a new contact in (at, at + days]: a conversation of the same
    customer started, or a handoff of the same customer or conversation was
    queued (docs/reports.md, FCR)."""
    c2, e2, c3 = conversations_table.alias("c2"), episodes_table.alias("e2"), conversations_table.alias("c3")
    own = exists().where(and_(e2.c.conversation_id == conversation, _after(conn, e2.c.queued_at, at, days)))
    other_conv = exists().where(and_(c2.c.customer_id == customer, c2.c.id != conversation,
                                     _after(conn, c2.c.first_customer_at, at, days)))
    e3 = episodes_table.alias("e3")
    other_ep = exists().select_from(e3.join(c3, c3.c.id == e3.c.conversation_id)).where(and_(
        c3.c.customer_id == customer, c3.c.id != conversation, _after(conn, e3.c.queued_at, at, days)))
    return or_(own, and_(customer.isnot(None), or_(other_conv, other_ep)))


def _agent_condition(agent: str) -> Any:
    """Conversations with an episode this agent held (an assignment, or the
    episode's own agent for rows older than assignments)."""
    e, a = episodes_table.alias("fe"), assignments_table.alias("fa")
    held = exists().where(and_(a.c.episode_id == e.c.id, a.c.agent_id == agent))
    return exists().where(and_(e.c.conversation_id == conversations_table.c.id,
                               or_(e.c.agent_id == agent, held)))


def _raw_rows(conn: Connection, query: Any) -> List[Tuple[Any, ...]]:
    """All rows as the driver gives them (no per-row SQLAlchemy processing:
    the columns read are plain numbers and text)."""
    result = conn.execute(query)
    try:
        return result.cursor.fetchall()
    finally:
        result.close()


def read_summary_data(conn: Connection, request: ReportRequest, policy: StorePolicy, now: dt.datetime) -> SummaryData:
    c, e = conversations_table, episodes_table
    start, end = request.start, request.end
    days_w = policy.fcr_window_days
    cutoff = now - dt.timedelta(days=days_w)  # contacts at or before this have their window over
    first_day = (request.first_day - dt.date(1970, 1, 1)).days
    in_range = and_(c.c.first_customer_at >= start, c.c.first_customer_at < end)
    scope = [in_range]
    if request.channel:
        scope.append(c.c.channel == request.channel)
    if request.agent:
        scope.append(_agent_condition(request.agent))
    # 1. conversations of the range by channel and local day
    day = _local_day_expr(conn, c.c.first_customer_at, request).label("day")
    handed = (c.c.first_handoff_at.isnot(None)).label("handed")
    by_hour = all(offset % 3600 == 0 for _, offset in offset_changes(request.tz, start, end))
    counts = [ConversationCounts(ch, _hour_day(d, request) if by_hour else int(d) - first_day,
                                 bool(h), int(n)) for ch, d, h, n in _raw_rows(
        conn, select(c.c.channel, day, handed, func.count()).where(and_(*scope)).group_by(c.c.channel, day, handed))]
    # 2. bot-only FCR per channel (an agent filter keeps only handed-off conversations: none)
    bot_fcr: Dict[Tuple[str, int], List[int]] = defaultdict(lambda: [0, 0])
    if not request.agent:
        repeat = _repeat_contact(conn, c.c.customer_id, c.c.id, c.c.first_customer_at, days_w)
        for ch, d, _linked, counted, repeats in _raw_rows(conn, select(
                c.c.channel, day, c.c.customer_id.isnot(None).label("linked"), func.count(),
                func.sum(sa_case(c.c.customer_id.isnot(None), repeat)))
                .where(and_(*scope, c.c.first_handoff_at.is_(None), c.c.first_customer_at <= cutoff))
                .group_by(c.c.channel, day, c.c.customer_id.isnot(None))):
            key = (ch, _hour_day(d, request) if by_hour else int(d) - first_day)
            bot_fcr[key][0] += int(counted) - int(repeats or 0)
            bot_fcr[key][1] += int(counted)
    # 3. episodes queued in the range, with FCR (closed resolved, window over) computed in SQL
    if conn.dialect.name == "sqlite":
        order_expr = func.json_extract(c.c.context, "$.customer.verified_order_id")
        described_expr = func.json_extract(c.c.context, "$.details.description")
    else:
        order_expr = literal_column("(handoff_conversations.context::json -> 'customer' ->> 'verified_order_id')")
        described_expr = literal_column("(handoff_conversations.context::json -> 'details' ->> 'description')")
    # the description only for complaints (what top_products reads), parsed only for them
    described_expr = case((e.c.reason.in_(sorted(COMPLAINT_REASONS)), type_coerce(described_expr, String)),
                          else_=null())
    a = assignments_table
    n_assign = select(func.count()).where(a.c.episode_id == e.c.id).scalar_subquery()
    fcr_case = sa_case(and_(e.c.outcome == "closed", e.c.resolution == "resolved", e.c.closed_at <= cutoff),
                       _repeat_contact(conn, c.c.customer_id, e.c.conversation_id, e.c.closed_at, days_w),
                       else_null=True)
    ep_scope = [e.c.queued_at >= start, e.c.queued_at < end]
    if request.channel:
        ep_scope.append(c.c.channel == request.channel)
    q = (select(e.c.id, e.c.conversation_id, e.c.reason, _epoch_expr(conn, e.c.queued_at),
                _epoch_expr(conn, e.c.first_reply_at), _epoch_expr(conn, e.c.closed_at),
                _epoch_expr(conn, e.c.ended_at), e.c.outcome, e.c.resolution, e.c.agent_id,
                c.c.channel, c.c.customer_id, type_coerce(order_expr, String),
                csat_table.c.score, nps_table.c.score, n_assign, fcr_case, described_expr)
         .select_from(e.join(c, c.c.id == e.c.conversation_id)
                      .outerjoin(csat_table, csat_table.c.episode_id == e.c.id)
                      .outerjoin(nps_table, nps_table.c.episode_id == e.c.id))
         .where(and_(*ep_scope)))
    episodes: Dict[int, Episode] = {}
    several: List[int] = []
    for (eid, conv, reason, queued, first_reply, closed, ended, outcome, resolution, agent_id, channel,
         customer_id, order_id, csat_score, nps_score, assigned, repeat, described) in _raw_rows(conn, q):
        ep = Episode(
            id=eid, conversation_id=conv, channel=channel, customer_key=customer_id or conv, reason=reason,
            queued=_ms(queued) or 0.0, first_reply=_ms(first_reply),
            closed=_ms(closed) if outcome == "closed" else None, ended=_ms(ended), outcome=outcome,
            resolution=resolution, agent_id=agent_id,
            verified_order=str(order_id) if order_id not in (None, "") else None, csat=csat_score, nps=nps_score,
            described=described if isinstance(described, str) and described and order_id not in (None, "") else None)
        ep.fcr = None if repeat is None else not bool(repeat)
        episodes[eid] = ep
        if assigned and int(assigned) > 1:
            several.append(eid)
        elif agent_id:  # one holder (or none recorded: rows older than assignments): the episode's agent
            ep.holders.append(agent_id)
            if ep.first_reply is not None:
                ep.responder = agent_id
    # 4. who held the episodes that passed between agents, oldest first
    for chunk_start in range(0, len(several), 500):
        chunk = several[chunk_start:chunk_start + 500]
        for eid, agent, started, ended_by in _raw_rows(conn, select(
                a.c.episode_id, a.c.agent_id, _epoch_expr(conn, a.c.started_at), a.c.ended_by)
                .where(a.c.episode_id.in_(chunk)).order_by(a.c.episode_id, a.c.id)):
            ep = episodes[eid]
            ep.holders.append(agent)
            if ep.first_reply is not None and (_ms(started) or 0.0) <= ep.first_reply:
                ep.responder = agent
            if ended_by == "transfer":
                ep.transfers_to_agent += 1
            elif ended_by == "requeue":
                ep.transfers_to_queue += 1
            elif ended_by == "lost":
                ep.lost += 1
    # the episodes with one assignment that ended in a requeue or a lost agent
    for eid, ended_by in _raw_rows(conn, select(a.c.episode_id, a.c.ended_by)
                                   .select_from(a.join(e, e.c.id == a.c.episode_id))
                                   .where(and_(e.c.queued_at >= start, e.c.queued_at < end,
                                               a.c.ended_by.in_(["requeue", "lost"])))):
        held = episodes.get(eid)
        if held is not None and eid not in several:
            if ended_by == "requeue":
                held.transfers_to_queue += 1
            else:
                held.lost += 1
    return SummaryData(counts, list(episodes.values()), dict(bot_fcr))


def read_labels(conn: Connection, request: ReportRequest) -> LabelData:
    """The labels of the range's conversations and of the conversations with
    an episode in the range (filters are applied by ``summarise``)."""
    c, e = conversations_table, episodes_table
    start, end = request.start, request.end
    in_range = and_(c.c.first_customer_at >= start, c.c.first_customer_at < end)
    lab_scope = or_(in_range, exists().where(and_(e.c.conversation_id == labels_table.c.conversation_id,
                                                  e.c.queued_at >= start, e.c.queued_at < end)))
    labels: Dict[str, List[str]] = defaultdict(list)
    rows: List[Tuple[str, str, str, bool, bool]] = []
    for conv, label, channel, handed_off, inside in _raw_rows(conn, select(
            labels_table.c.conversation_id, labels_table.c.label, c.c.channel,
            c.c.first_handoff_at.isnot(None), in_range)
            .select_from(labels_table.join(c, c.c.id == labels_table.c.conversation_id))
            .where(lab_scope).order_by(labels_table.c.label)):
        labels[conv].append(label)
        rows.append((conv, label, channel, bool(handed_off), bool(inside)))
    return LabelData(dict(labels), rows)


def read_agent_names(conn: Connection) -> Dict[str, str]:
    return {aid: name for aid, name in _raw_rows(conn, select(agents_table.c.id, agents_table.c.name))}


def sa_case(condition: Any, value: Any, else_null: bool = False) -> Any:
    """CASE WHEN condition THEN (value as 1/0) ELSE 0 (or NULL) END."""
    return case((condition, case((value, 1), else_=0)), else_=null() if else_null else 0)


# -- the figures (pure) ----------------------------------------------------------------


def next_contact_within(contacts: Mapping[str, Sequence[float]], key: str, after: float, window_s: float) -> bool:
    """Whether ``key`` made a contact in (after, after + window]."""
    times = contacts.get(key) or ()
    k = bisect.bisect_right(times, after)
    return k < len(times) and times[k] <= after + window_s


def prepare_episodes(episodes: Iterable[Episode], clock: SupportClock,
                     contacts: Optional[Mapping[str, Sequence[float]]], window_s: float, now: float) -> None:
    """Business first response, the SLA state and (with ``contacts``; the
    summary reads it from SQL) FCR of each episode, in place."""
    for ep in episodes:
        ep.due = clock.due(ep.queued)
        if ep.first_reply is not None:
            ep.business_first = clock.seconds(ep.queued, ep.first_reply)
            ep.sla = "met" if ep.first_reply <= ep.due else "breached"
        elif ep.ended is not None:
            ep.sla = "breached" if ep.ended > ep.due else None
        else:
            ep.sla = "breached" if now > ep.due else "pending"
        if contacts is not None and ep.closed is not None and ep.resolution == "resolved" \
                and ep.closed + window_s <= now:
            ep.fcr = not next_contact_within(contacts, ep.customer_key, ep.closed, window_s)


@dataclass
class Credit:
    """Which episodes a figure counts: all (``agent`` None) or those credited
    to one agent: held, first reply, closed, SLA (``Tally.add`` applies it;
    docs/reports.md, "Who gets the credit")."""

    agent: Optional[str] = None


@dataclass(slots=True)
class Tally:
    """The episode figures of one group (a day, channel, agent or reason),
    kept additive so that days can be summed: counts, and the values whose
    median and p90 are taken (sorted only when the figures are made). One
    ``add`` per episode and credit; ``merge`` sums two groups exactly."""

    handoffs: int = 0
    reasons: Dict[str, int] = field(default_factory=lambda: defaultdict(int))
    first_response: List[float] = field(default_factory=list)
    business: List[float] = field(default_factory=list)
    resolution: List[float] = field(default_factory=list)
    resolved: int = 0
    unresolved: int = 0
    withdrawn: int = 0
    abandoned: int = 0
    csat_requests: int = 0
    csat: Dict[int, int] = field(default_factory=lambda: defaultdict(int))            # score -> ratings
    nps: Dict[str, int] = field(default_factory=lambda: defaultdict(int))             # promoter | passive | detractor
    sla: Dict[Optional[str], int] = field(default_factory=lambda: defaultdict(int))   # met | breached | pending | None
    to_agent: int = 0
    to_queue: int = 0
    lost: int = 0
    several: int = 0
    fcr_ok: int = 0
    fcr_counted: int = 0
    conversations: Set[str] = field(default_factory=set)   # of the episodes held

    def add(self, ep: Episode, credit: Credit) -> None:
        agent = credit.agent   # held: a holder; replied: the responder; closed: the closer; SLA: ``sla_agent``
        if agent is None or agent in ep.holders:
            self.handoffs += 1
            self.reasons[ep.reason] += 1
            self.withdrawn += ep.outcome == "withdrawn"
            self.abandoned += ep.outcome == "abandoned"
            self.to_agent += ep.transfers_to_agent
            self.to_queue += ep.transfers_to_queue
            self.lost += ep.lost
            self.several += len(ep.holders) >= 2 and len(set(ep.holders)) >= 2
            self.conversations.add(ep.conversation_id)
        if ep.first_reply is not None and (agent is None or ep.responder == agent):
            self.first_response.append(ep.first_reply - ep.queued)
            if ep.business_first is not None:
                self.business.append(ep.business_first)
        if agent is None or ep.closer == agent:
            if ep.closed is not None:
                self.resolution.append(ep.closed - ep.queued)
                self.resolved += ep.resolution == "resolved"
                self.unresolved += ep.resolution == "unresolved"
                self.csat_requests += ep.outcome == "closed"
                if ep.csat is not None:
                    self.csat[ep.csat] += 1
                if ep.nps is not None:
                    self.nps[nps_group(ep.nps)] += 1
            if ep.fcr is not None:
                self.fcr_counted += 1
                self.fcr_ok += bool(ep.fcr)
        if agent is None or ep.sla_agent == agent:
            self.sla[ep.sla] += 1

    def merge(self, other: "Tally") -> "Tally":
        self.handoffs += other.handoffs
        self.resolved += other.resolved
        self.unresolved += other.unresolved
        self.withdrawn += other.withdrawn
        self.abandoned += other.abandoned
        self.csat_requests += other.csat_requests
        self.to_agent += other.to_agent
        self.to_queue += other.to_queue
        self.lost += other.lost
        self.several += other.several
        self.fcr_ok += other.fcr_ok
        self.fcr_counted += other.fcr_counted
        pairs: Tuple[Tuple[Dict[Any, int], Dict[Any, int]], ...] = (
            (self.reasons, other.reasons), (self.csat, other.csat), (self.nps, other.nps), (self.sla, other.sla))
        for mine, theirs in pairs:
            for key, n in theirs.items():
                mine[key] += n
        self.first_response.extend(other.first_response)
        self.business.extend(other.business)
        self.resolution.extend(other.resolution)
        self.conversations |= other.conversations
        return self

    def sort(self) -> None:
        """The values in order: a sum of sorted tallies then sorts in near-linear time (sorted runs)."""
        self.first_response.sort()
        self.business.sort()
        self.resolution.sort()

    def csat_score(self) -> Optional[float]:
        return rate(sum(n for score, n in self.csat.items() if score >= 4), sum(self.csat.values()))

    def figures(self, target_s: float) -> Dict[str, Any]:
        """The episode figures of the summary (docs/reports.md, "Figures")."""
        responses = sum(self.csat.values())
        distribution = {str(n): 0 for n in range(1, 6)}
        for score, n in sorted(self.csat.items()):
            distribution[str(score)] = distribution.get(str(score), 0) + n
        answers = sum(self.nps.values())
        decided = self.sla["met"] + self.sla["breached"]
        return {
            "handoffs": self.handoffs,
            "handoffs_by_reason": dict(sorted(self.reasons.items())),
            "first_response_s": stats(self.first_response),
            "first_response_business_s": stats(self.business),
            "resolution_s": stats(self.resolution),
            "resolved": self.resolved, "unresolved": self.unresolved,
            "withdrawn": self.withdrawn, "abandoned": self.abandoned,
            "csat": {"requests": self.csat_requests, "responses": responses,
                     "response_rate": rate(responses, self.csat_requests),
                     "average": _r(sum(s * n for s, n in self.csat.items()) / responses) if responses else None,
                     "score": self.csat_score(), "distribution": distribution},
            "nps": {"responses": answers, "promoters": self.nps["promoter"], "passives": self.nps["passive"],
                    "detractors": self.nps["detractor"],
                    "score": _r(100.0 * (self.nps["promoter"] - self.nps["detractor"]) / answers)
                    if answers else None},
            "sla": {"first_response_target_s": target_s, "met": self.sla["met"], "breached": self.sla["breached"],
                    "pending": self.sla["pending"], "met_rate": rate(self.sla["met"], decided),
                    "not_applicable": self.sla[None]},
            "transfers": {"to_agent": self.to_agent, "to_queue": self.to_queue, "agent_lost": self.lost},
            "several_agents": self.several,
            "_fcr": (self.fcr_ok, self.fcr_counted),
        }


def episode_figures(episodes: Sequence[Episode], target_s: float, credit: Credit = Credit()) -> Dict[str, Any]:
    """The episode figures of the summary over ``episodes``, credited as
    ``credit`` says (docs/reports.md, "Who gets the credit")."""
    tally = Tally()
    for ep in episodes:
        tally.add(ep, credit)
    return tally.figures(target_s)


# A group of a day's figures: (channel, agent credited or None for all, reason or None for all).
GroupKey = Tuple[str, Optional[str], Optional[str]]


@dataclass
class DayFigures:
    """One local day of the summary, for every channel: conversation counts,
    bot-only FCR, a ``Tally`` per group and the day's episodes (prepared;
    labels and products are matched to them on each request). Days are
    summed into any range and filtered by channel; what the cache keeps."""

    conversations: Dict[str, List[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    bot_fcr: Dict[str, List[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    tallies: Dict[GroupKey, Tally] = field(default_factory=dict)
    episodes: List[Episode] = field(default_factory=list)

    def tally(self, key: GroupKey) -> Tally:
        found = self.tallies.get(key)
        if found is None:
            found = self.tallies[key] = Tally()
        return found


def build_days(data: SummaryData, request: ReportRequest, policy: StorePolicy,
               now: dt.datetime) -> Dict[dt.date, DayFigures]:
    """The ``DayFigures`` of every day of ``request`` from what was read for
    it (episodes prepared: business time, SLA). Per agent and reason only
    with an ``agent`` filter (the one summary that shows them)."""
    days = request.days()
    out = {day: DayFigures() for day in days}
    clock = SupportClock(policy, request.start - dt.timedelta(days=1), max(request.end, now) + dt.timedelta(days=30))
    prepare_episodes(data.episodes, clock, None, policy.fcr_window_days * 86400.0, now.timestamp())
    for row in data.counts:
        if 0 <= row.day < len(days):
            counts = out[days[row.day]].conversations[row.channel]
            counts[0] += row.count
            counts[1] += row.count if row.handed_off else 0
    for (channel, index), (ok, counted) in data.bot_fcr.items():
        if 0 <= index < len(days):
            fcr = out[days[index]].bot_fcr[channel]
            fcr[0] += ok
            fcr[1] += counted
    everyone = Credit()
    for ep in data.episodes:
        day = out[days[request.day_position(ep.queued)]]
        day.episodes.append(ep)
        day.tally((ep.channel, None, None)).add(ep, everyone)
        day.tally((ep.channel, None, ep.reason)).add(ep, everyone)
        for agent in dict.fromkeys(ep.holders):
            credit = Credit(agent)
            day.tally((ep.channel, agent, None)).add(ep, credit)
            if request.agent is not None:  # an agent's reasons: only that agent's summary shows them
                day.tally((ep.channel, agent, ep.reason)).add(ep, credit)
    for day in out.values():
        for tally in day.tallies.values():
            tally.sort()
    return out


def merge_days(figures: Iterable[DayFigures]) -> DayFigures:
    """Several days summed into one ``DayFigures`` (new tallies: the days are
    left as they were). The range-wide figures of a block of kept days."""
    out = DayFigures()
    for day in figures:
        for ch, (n, handed) in day.conversations.items():
            counts = out.conversations[ch]
            counts[0] += n
            counts[1] += handed
        for ch, (ok, counted) in day.bot_fcr.items():
            fcr = out.bot_fcr[ch]
            fcr[0] += ok
            fcr[1] += counted
        for key, tally in day.tallies.items():
            out.tally(key).merge(tally)
        out.episodes.extend(day.episodes)
    for tally in out.tallies.values():
        tally.sort()
    return out


Block = Tuple[FrozenSet[dt.date], DayFigures]


def _conversation_figures(conversations: int, handed_off: int) -> Dict[str, Any]:
    bot_only = conversations - handed_off
    return {"conversations": conversations, "handed_off": handed_off, "bot_only": bot_only,
            "containment_rate": bot_only / conversations if conversations else 0.0}


def _fcr_fields(fcr_ok: int, counted: int) -> Dict[str, Any]:
    return {"fcr_rate": rate(fcr_ok, counted), "fcr_counted": counted, "fcr_resolved_first_time": fcr_ok}


def _row(key: Dict[str, Any], conversations: int, handed: int, figures: Dict[str, Any],
         bot_fcr: Sequence[int] = (0, 0)) -> Dict[str, Any]:
    ep_ok, ep_counted = figures.pop("_fcr")
    return {**key, **_conversation_figures(conversations, handed), **figures,
            **_fcr_fields(ep_ok + bot_fcr[0], ep_counted + bot_fcr[1])}


K = TypeVar("K")


def _into(groups: Dict[K, Tally], key: K) -> Tally:
    found = groups.get(key)
    if found is None:
        found = groups[key] = Tally()
    return found


def summarise(days: Mapping[dt.date, DayFigures], labels: LabelData, agent_names: Mapping[str, str],
              request: ReportRequest, policy: StorePolicy, now: dt.datetime,
              products: Optional[Dict[str, Lines]] = None,
              blocks: Sequence[Block] = ()) -> Dict[str, Any]:
    """The summary's JSON from the range's days (pure). ``blocks``: days
    already summed (``merge_days``), used for the range-wide figures instead
    of those days (``by_day`` still reads each day). With an ``agent``
    filter the days must have been read with it (their counts are that
    agent's conversations)."""
    target_s = policy.first_response_target_minutes * 60.0
    covered: Set[dt.date] = set()
    wanted_days: List[DayFigures] = []
    for dates, block in blocks:
        wanted_days.append(block)
        covered |= dates
    wanted_days += [days[d] for d in request.days() if d in days and d not in covered]
    channel_ok = (lambda ch: True) if not request.channel else (lambda ch: ch == request.channel)
    agent = request.agent
    credit = Credit(agent)

    # conversations (and bot-only FCR) by channel
    conv_by_channel: Dict[str, List[int]] = defaultdict(lambda: [0, 0])
    bot_fcr_by_channel: Dict[str, List[int]] = defaultdict(lambda: [0, 0])
    for kept_day in wanted_days:
        for ch, (n, handed_n) in kept_day.conversations.items():
            if channel_ok(ch):
                conv_by_channel[ch][0] += n
                conv_by_channel[ch][1] += handed_n
        for ch, (ok, counted) in kept_day.bot_fcr.items():
            if channel_ok(ch) and agent is None:
                bot_fcr_by_channel[ch][0] += ok
                bot_fcr_by_channel[ch][1] += counted
    # one pass over the tallies: per channel, reason and agent
    by_channel: Dict[str, Tally] = {}
    by_reason: Dict[str, Tally] = {}
    by_agent: Dict[str, Tally] = {}
    for figures in wanted_days:
        for (ch, holder, reason), tally in figures.tallies.items():
            if not channel_ok(ch):
                continue
            if holder == agent:
                _into(by_channel if reason is None else by_reason, ch if reason is None else reason).merge(tally)
            if agent is None and holder is not None and reason is None:
                _into(by_agent, holder).merge(tally)
    by_day: Dict[dt.date, Tally] = {}
    for date in request.days():
        kept = days.get(date)
        for (ch, holder, reason), tally in (kept.tallies.items() if kept is not None else ()):
            if holder == agent and reason is None and channel_ok(ch):
                _into(by_day, date).merge(tally)
    overall = Tally()
    for tally in by_channel.values():
        overall.merge(tally)
    if agent is not None:  # the whole summary is that agent's: its one agent row is the overall figures
        by_agent = {agent: overall}
    summary: Dict[str, Any] = {"range": request.range_field(), "filters": {"channel": request.channel,
                                                                          "agent": agent}}
    summary.update(_row({}, sum(v[0] for v in conv_by_channel.values()), sum(v[1] for v in conv_by_channel.values()),
                        overall.figures(target_s), (sum(v[0] for v in bot_fcr_by_channel.values()),
                                                    sum(v[1] for v in bot_fcr_by_channel.values()))))
    summary["by_channel"] = [
        _row({"channel": ch}, conv_by_channel[ch][0] if ch in conv_by_channel else 0,
             conv_by_channel[ch][1] if ch in conv_by_channel else 0,
             by_channel.get(ch, Tally()).figures(target_s),
             bot_fcr_by_channel[ch] if ch in bot_fcr_by_channel else (0, 0))
        for ch in sorted(set(conv_by_channel) | set(by_channel))]
    # by agent: every agent who held an episode of the range
    summary["by_agent"] = []
    for holder in sorted(by_agent, key=lambda a: (agent_names.get(a, a), a)):
        tally = by_agent[holder]
        convs = len(tally.conversations)
        summary["by_agent"].append(_row({"agent_id": holder, "agent_name": agent_names.get(holder, holder)},
                                        convs, convs, tally.figures(target_s)))
    # by reason (episodes); conversations = distinct conversations of those episodes
    summary["by_reason"] = []
    for reason in sorted(by_reason):
        tally = by_reason[reason]
        convs = len(tally.conversations)
        summary["by_reason"].append(_row({"reason": reason, "reason_text": vocabulary_label("reason", reason)},
                                         convs, convs, tally.figures(target_s)))
    # the range's episodes (filtered): labels and products are matched to them
    episodes = [ep for kept_day in wanted_days for ep in kept_day.episodes
                if (request.channel is None or ep.channel == request.channel)
                and (agent is None or agent in ep.holders)]
    held_by_agent = {ep.conversation_id for ep in episodes} if agent else None
    label_conv: Dict[str, List[int]] = defaultdict(lambda: [0, 0])
    for conv, label, channel, handed, inside in labels.rows:
        if inside and channel_ok(channel) and (held_by_agent is None or conv in held_by_agent):
            label_conv[label][0] += 1
            label_conv[label][1] += 1 if handed else 0
    by_label: Dict[str, Tally] = {}
    for ep in episodes:
        for label in labels.labels.get(ep.conversation_id, ()):
            _into(by_label, label).add(ep, credit)
    summary["by_label"] = [
        _row({"label": label}, label_conv[label][0] if label in label_conv else 0,
             label_conv[label][1] if label in label_conv else 0,
             by_label.get(label, Tally()).figures(target_s))
        for label in sorted(set(label_conv) | set(by_label))]
    # by day
    summary["by_day"] = []
    for day in request.days():
        kept = days.get(day)
        day_conv = day_handed = 0
        mine = Tally()
        if kept is not None:
            for ch, (n, h) in kept.conversations.items():
                if channel_ok(ch):
                    day_conv, day_handed = day_conv + n, day_handed + h
            mine = by_day.get(day, mine)
        summary["by_day"].append({
            "date": day.isoformat(), **_conversation_figures(day_conv, day_handed),
            "handoffs": mine.handoffs,
            "csat_score": mine.csat_score(),
            "first_response_median_s": _r(percentile(sorted(mine.first_response), 0.5)),
            "first_response_business_median_s": _r(percentile(sorted(mine.business), 0.5))})
    summary["top_products"] = top_products(episodes, products or {})
    summary["generated_at"] = now.astimezone(UTC).isoformat()
    return summary


def top_products(episodes: Sequence[Episode], products: Mapping[str, Lines],
                 limit: int = 20) -> List[Dict[str, Any]]:
    """Products of the verified orders of the range's contacts (a handoff
    episode whose conversation's handoff names a verified order), most
    contacts first. ``returns``: contacts whose order has a return holding
    THAT product; ``complaints``: contacts handed off as a complaint, for
    frustration or a damaged or wrong item, counted for the products of the
    order the handoff's description names (``named_products``), else for
    every product of the order."""
    contacts: Dict[str, Set[int]] = defaultdict(set)
    returns: Dict[str, Set[int]] = defaultdict(set)
    complaints: Dict[str, Set[int]] = defaultdict(set)
    orders = {order: (tuple(dict.fromkeys(name for name, _ in lines)),
                      tuple(dict.fromkeys(name for name, returned in lines if returned)))
              for order, lines in products.items()}
    for ep in episodes:
        if not ep.verified_order or ep.verified_order not in orders:
            continue
        names, returned = orders[ep.verified_order]
        for name in names:
            contacts[name].add(ep.id)
        for name in returned:
            returns[name].add(ep.id)
        if ep.reason in COMPLAINT_REASONS:
            for name in (named_products(ep.described, names) if ep.described else ()) or names:
                complaints[name].add(ep.id)
    ranked = sorted(contacts, key=lambda n: (-len(contacts[n]), n))[:limit]
    return [{"product": name, "contacts": len(contacts[name]), "returns": len(returns[name]),
             "complaints": len(complaints[name])} for name in ranked]


_NAME_FILLER = frozenset({"de", "del", "con", "sin", "para", "por", "el", "la", "los", "las", "un", "una", "y",
                          "a", "al", "en"})


def _words(text: str) -> List[str]:
    """Folded (lower case, no accents), singular words: "Altavoces" → "altavoz"."""
    decomposed = unicodedata.normalize("NFKD", text or "")
    folded = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).lower()
    words = []
    for word in re.findall(r"[a-z0-9]+", folded):
        if len(word) > 4 and word.endswith("ces"):
            word = word[:-3] + "z"
        elif len(word) > 4 and word.endswith("es") and word[-3] in "lrndj":
            word = word[:-2]
        elif len(word) > 3 and word.endswith("s"):
            word = word[:-1]
        words.append(word)
    return words


@functools.lru_cache(maxsize=4096)
def _name_words(name: str) -> Tuple[str, ...]:
    """A product name's words that tell it apart, head noun first; the
    variant in brackets ("(talla M)", "(gris)") is left out."""
    return tuple(w for w in _words(name.split("(")[0]) if w not in _NAME_FILLER)


def named_products(description: Optional[str], names: Sequence[str]) -> Set[str]:
    """The products among ``names`` (an order's) that the shopper's own
    description names: its head noun ("las zapatillas rotas" → the
    "Zapatillas urbanas de piel"); of products sharing a head noun, those
    with the most of their words in it ("los auriculares de diadema").
    Empty when it names none (the caller then counts every product)."""
    said = set(_words(description or ""))
    if not said:
        return set()
    best: Dict[str, Tuple[int, Set[str]]] = {}
    for name in names:
        words = _name_words(name)
        if not words or words[0] not in said:
            continue
        score = sum(1 for w in set(words) if w in said)
        top, found = best.get(words[0], (0, set()))
        if score > top:
            best[words[0]] = (score, {name})
        elif score == top:
            found.add(name)
    return {name for _, found in best.values() for name in found}


def order_ids(days: Mapping[dt.date, DayFigures], request: ReportRequest) -> List[str]:
    return sorted({ep.verified_order for d in request.days() if d in days
                   for ep in days[d].episodes if ep.verified_order})


# -- CSV ---------------------------------------------------------------------------------


@dataclass
class CsvConversation:
    id: str
    channel: str
    started: float
    customer_id: Optional[str]
    display_name: Optional[str]
    context_name: Optional[str]
    verified: bool


def read_csv_page(conn: Connection, request: ReportRequest, policy: StorePolicy, now: dt.datetime,
                  after: Optional[Tuple[Any, str]], size: int = CSV_PAGE
                  ) -> Tuple[List[CsvConversation], Dict[str, List[Episode]], Dict[str, List[str]],
                             Dict[str, List[float]], Optional[Tuple[Any, str]]]:
    """One page of the CSV's conversations (ordered by first customer message,
    then id; ``after`` is the last key of the page before), with their
    episodes, labels and the contacts FCR needs."""
    c, e = conversations_table, episodes_table
    start, end = request.start, request.end
    if conn.dialect.name == "sqlite":
        name_expr = func.json_extract(c.c.context, "$.customer.name")
    else:
        name_expr = literal_column("(handoff_conversations.context::json -> 'customer' ->> 'name')")
    query = (select(c.c.id, c.c.channel, c.c.first_customer_at, _raw(c.c.first_customer_at).label("raw_at"),
                    c.c.customer_id, profiles_table.c.display_name, type_coerce(name_expr, String).label("cname"),
                    profiles_table.c.verified_customer.isnot(None).label("pverified"))
             .select_from(c.outerjoin(profiles_table, profiles_table.c.conversation_id == c.c.id))
             .where(and_(c.c.first_customer_at >= start, c.c.first_customer_at < end))
             .order_by(c.c.first_customer_at, c.c.id).limit(size))
    if request.channel:
        query = query.where(c.c.channel == request.channel)
    if request.agent:
        query = query.where(_agent_condition(request.agent))
    if after is not None:
        query = query.where(or_(c.c.first_customer_at > after[0],
                                and_(c.c.first_customer_at == after[0], c.c.id > after[1])))
    page: List[CsvConversation] = []
    last: Optional[Tuple[Any, str]] = None
    for r in conn.execute(query):
        page.append(CsvConversation(r.id, r.channel, _epoch(r.raw_at) or 0.0, r.customer_id, r.display_name,
                                    r.cname, bool(r.customer_id or r.pverified or r.cname)))
        last = (r.first_customer_at, r.id)
    if not page:
        return [], {}, {}, {}, None
    ids = [conv.id for conv in page]
    episodes: Dict[str, List[Episode]] = defaultdict(list)
    by_id: Dict[int, Episode] = {}
    # the times as the summary reads them (the database's epoch, to the millisecond), so both
    # give the same durations
    for r in conn.execute(select(e.c.id, e.c.conversation_id, e.c.reason,
                                 _epoch_expr(conn, e.c.queued_at).label("queued_at"),
                                 _epoch_expr(conn, e.c.first_reply_at).label("first_reply_at"),
                                 _epoch_expr(conn, e.c.closed_at).label("closed_at"),
                                 _epoch_expr(conn, e.c.ended_at).label("ended_at"),
                                 e.c.outcome, e.c.resolution, e.c.agent_id, c.c.channel, c.c.customer_id,
                                 csat_table.c.score.label("csat"), nps_table.c.score.label("nps"))
                          .select_from(e.join(c, c.c.id == e.c.conversation_id)
                                       .outerjoin(csat_table, csat_table.c.episode_id == e.c.id)
                                       .outerjoin(nps_table, nps_table.c.episode_id == e.c.id))
                          .where(e.c.conversation_id.in_(ids)).order_by(e.c.id)):
        ep = Episode(id=r.id, conversation_id=r.conversation_id, channel=r.channel,
                     customer_key=r.customer_id or r.conversation_id, reason=r.reason,
                     queued=_ms(r.queued_at) or 0.0, first_reply=_ms(r.first_reply_at),
                     closed=_ms(r.closed_at) if r.outcome == "closed" else None, ended=_ms(r.ended_at),
                     outcome=r.outcome, resolution=r.resolution, agent_id=r.agent_id, verified_order=None,
                     csat=r.csat, nps=r.nps)
        episodes[r.conversation_id].append(ep)
        by_id[ep.id] = ep
    if by_id:
        a = assignments_table
        for r in conn.execute(select(a.c.episode_id, a.c.agent_id,
                                     _epoch_expr(conn, a.c.started_at).label("started_at"),
                                     a.c.ended_by).where(a.c.episode_id.in_(list(by_id))).order_by(a.c.id)):
            ep = by_id[r.episode_id]
            ep.holders.append(r.agent_id)
            if ep.first_reply is not None and (_ms(r.started_at) or 0.0) <= ep.first_reply:
                ep.responder = r.agent_id
            ep.transfers_to_agent += r.ended_by == "transfer"
            ep.transfers_to_queue += r.ended_by == "requeue"
        for ep in by_id.values():
            if not ep.holders and ep.agent_id:
                ep.holders.append(ep.agent_id)
    labels: Dict[str, List[str]] = defaultdict(list)
    for r in conn.execute(select(labels_table.c.conversation_id, labels_table.c.label)
                          .where(labels_table.c.conversation_id.in_(ids)).order_by(labels_table.c.label)):
        labels[r.conversation_id].append(r.label)
    # contacts of this page's customers after its first conversation (FCR)
    contacts: Dict[str, List[float]] = defaultdict(list)
    customers = sorted({conv.customer_id for conv in page if conv.customer_id})
    first_at = _dt(min(conv.started for conv in page))
    for r in conn.execute(select(e.c.conversation_id, _raw(e.c.queued_at).label("queued_at"))
                          .where(and_(e.c.conversation_id.in_(ids), e.c.queued_at >= first_at))):
        contacts[r.conversation_id].append(_epoch(r.queued_at) or 0.0)
    if customers:
        for r in conn.execute(select(c.c.id, c.c.customer_id, _raw(c.c.first_customer_at).label("at"))
                              .where(and_(c.c.customer_id.in_(customers), c.c.first_customer_at >= first_at))):
            contacts[r.customer_id].append(_epoch(r.at) or 0.0)
        for r in conn.execute(select(c.c.customer_id, _raw(e.c.queued_at).label("queued_at"))
                              .select_from(e.join(c, c.c.id == e.c.conversation_id))
                              .where(and_(c.c.customer_id.in_(customers), e.c.queued_at >= first_at))):
            contacts[r.customer_id].append(_epoch(r.queued_at) or 0.0)
    for times in contacts.values():
        times.sort()
    return page, dict(episodes), dict(labels), dict(contacts), last


def csv_row(conv: CsvConversation, episodes: Sequence[Episode], labels: Sequence[str],
            contacts: Mapping[str, Sequence[float]], clock: SupportClock, agent_names: Mapping[str, str],
            tz: ZoneInfo, window_s: float, now: float) -> List[str]:
    """One conversation's CSV line (docs/reports.md, "CSV"). No message text,
    no email: the customer is the display name, else the customer id."""
    key_of = conv.customer_id or conv.id
    for ep in episodes:
        ep.customer_key = key_of
    prepare_episodes(episodes, clock, contacts, window_s, now)
    # the first response of the conversation: of its first answered episode (a handoff withdrawn before
    # anyone answered is not its first response), else of its first episode (pending, breached or n/a)
    first = next((ep for ep in episodes if ep.first_reply is not None), episodes[0] if episodes else None)
    closed = [ep for ep in episodes if ep.closed is not None]
    last_closed = closed[-1] if closed else None
    rated = [ep.csat for ep in episodes if ep.csat is not None]
    answered = [ep.nps for ep in episodes if ep.nps is not None]
    agents: List[str] = []
    for ep in episodes:
        for agent in ep.holders:
            name = agent_names.get(agent, agent)
            if name not in agents:
                agents.append(name)
    if not episodes:   # bot only: resolved by the bot; FCR once its window is over
        resolved = "true"
        fcr: Optional[bool] = (None if conv.started + window_s > now
                               else not next_contact_within(contacts, key_of, conv.started, window_s))
    else:
        resolved = (last_closed.resolution or "") == "resolved" if last_closed else None  # type: ignore[assignment]
        resolved = "" if resolved is None else ("true" if resolved else "false")
        fcr = last_closed.fcr if last_closed else None
    customer = conv.context_name or conv.display_name or conv.customer_id or ""

    def num(value: Optional[float]) -> str:
        return "" if value is None else f"{round(value, 3):g}" if abs(value) < 1e15 else str(value)

    return [
        conv.id, conv.channel, _dt(conv.started).astimezone(tz).isoformat(), customer,
        "true" if conv.verified else "false", "true" if episodes else "false",
        ";".join(dict.fromkeys(ep.reason for ep in episodes)), ";".join(agents), ";".join(labels),
        num(first.first_reply - first.queued) if first and first.first_reply is not None else "",
        num(last_closed.closed - last_closed.queued) if last_closed else "",  # type: ignore[operator]
        str(rated[-1]) if rated else "", resolved, "" if fcr is None else ("true" if fcr else "false"),
        num(first.business_first) if first and first.business_first is not None else "",
        (first.sla or "not_applicable") if first else "",
        str(sum(ep.transfers_to_agent + ep.transfers_to_queue for ep in episodes)),
        str(answered[-1]) if answered else "",
    ]


def _line(values: Sequence[str]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow([_safe_cell(v) for v in values])
    return out.getvalue()


def _safe_cell(value: str) -> str:
    """No spreadsheet formulas: a cell starting with = + - @ gets a quote first."""
    return "'" + value if value[:1] in ("=", "+", "-", "@") and not re.match(r"^-?\d", value) else value


Runner = Callable[[Callable[[Connection], Any]], Awaitable[Any]]


async def csv_chunks(run: Runner, request: ReportRequest, policy: StorePolicy, now: dt.datetime,
                     page_size: Optional[int] = None) -> AsyncIterator[bytes]:
    """The CSV, header first, a page of conversations per chunk (each page read
    in its own transaction by ``run``, e.g. ``Storage.run``)."""
    page_size = page_size or CSV_PAGE
    yield _line(CSV_COLUMNS).encode("utf-8")
    names = await run(lambda conn: {r.id: r.name for r in conn.execute(select(agents_table.c.id, agents_table.c.name))})
    clock = SupportClock(policy, request.start - dt.timedelta(days=1), max(request.end, now) + dt.timedelta(days=30))
    window_s = policy.fcr_window_days * 86400.0
    tz = request.tz
    after: Optional[Tuple[Any, str]] = None
    while True:
        page, episodes, labels, contacts, last = await run(
            lambda conn: read_csv_page(conn, request, policy, now, after, page_size))  # noqa: B023 (awaited here)
        if not page:
            return
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        for conv in page:
            writer.writerow([_safe_cell(v) for v in csv_row(
                conv, episodes.get(conv.id, []), labels.get(conv.id, []), contacts, clock, names, tz,
                window_s, now.timestamp())])
        yield out.getvalue().encode("utf-8")
        if len(page) < page_size:
            return
        after = last


async def summary(run: Runner, store: Any, request: ReportRequest, policy: StorePolicy,
                  now: dt.datetime, cache: Optional[Any] = None) -> Dict[str, Any]:
    """Read (one transaction: the days, settled ones from ``cache``,
    default handoff/report_cache.py's ``DAY_CACHE``; the labels; the agents'
    names), look the verified orders' products up in the store, compute."""
    from handoff.report_cache import DAY_CACHE

    days_of = (cache or DAY_CACHE).days

    def read(conn: Connection) -> Tuple[Tuple[Dict[dt.date, DayFigures], List[Block]], LabelData, Dict[str, str]]:
        return days_of(conn, request, policy, now), read_labels(conn, request), read_agent_names(conn)

    (days, blocks), labels, names = await run(read)
    products: Dict[str, Lines] = {}
    wanted = order_ids(days, request)
    if wanted and store is not None:
        bulk = getattr(store, "order_products", None)
        try:
            if bulk is not None:
                products = await bulk(wanted)
            else:  # any Store: one order at a time
                for order_id in wanted:
                    order = await store.get_order(order_id)
                    if order is not None:
                        held = {i for r in order.returns for i in r.item_ids}
                        products[order_id] = [(i.name, i.id in held) for i in order.items]
        except Exception:  # noqa: BLE001 - the store is optional for a report: no products then
            products = {}
    return summarise(days, labels, names, request, policy, now, products, blocks)
