"""The store's policy values, read from the one policy file.

Why one file: the same numbers (return window, free-shipping threshold,
support hours...) decide the actions' business rules and fill the bot's FAQ
answers (as slots set at session start), so they can never disagree.

Path: ``STORE_POLICY_FILE`` or data/store/policy.yml of the checkout;
``STORE_BRAND_VOICE`` ("tu" or "usted") overrides the file's brand voice.
The file is read once per process; restart the action server after a change.
"""
from __future__ import annotations

import datetime as dt
import os
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple
from zoneinfo import ZoneInfo

import yaml

from core import support_time
from core.support_time import SupportSchedule

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_POLICY_FILE = ROOT / "data" / "store" / "policy.yml"
BRAND_VOICES = ("tu", "usted")
# The return_dropoff entry for the countries served without an entry of their own.
INTERNATIONAL_DROPOFF = "internacional"


class PolicyError(ValueError):
    """The policy file is missing a value or has a wrong one."""


def utc_now() -> dt.datetime:
    """The current moment; the one clock the actions read, so tests can set it
    (monkeypatch ``core.policy.utc_now``)."""
    return dt.datetime.now(dt.timezone.utc)


@dataclass(frozen=True)
class SupportWindow:
    """One interval of support on some weekdays (several per day are several
    windows). ``close`` "24:00" is midnight at the end of the day:
    ``close`` is then 00:00 and ``to_midnight`` True."""

    days: Tuple[int, ...]   # 0 = Monday
    open: dt.time
    close: dt.time
    to_midnight: bool = False

    @property
    def open_minute(self) -> int:
        return self.open.hour * 60 + self.open.minute

    @property
    def close_minute(self) -> int:
        return support_time.MINUTES_PER_DAY if self.to_midnight else self.close.hour * 60 + self.close.minute


@dataclass(frozen=True)
class StorePolicy:
    raw: Mapping[str, Any]
    store_name: str
    brand_voice: str
    currency: str
    return_window_days: int
    refund_days: int
    free_shipping_threshold: float
    timezone: str
    support_hours: Tuple[SupportWindow, ...]
    support_hours_text: str
    invoice_base_url: str
    tracking_urls: Mapping[str, str]
    cancellable_statuses: Tuple[str, ...]
    address_change_statuses: Tuple[str, ...]
    overdue_grace_days: int
    return_dropoff: Mapping[str, str]
    online_only: bool = False  # no physical shop: the out-of-scope answer to "¿tienen tienda física?" says so
    # dates without support (support_hours do not apply); yearly ones as (month, day)
    holidays: Tuple[dt.date, ...] = ()
    yearly_holidays: Tuple[Tuple[int, int], ...] = ()
    # the first-response promise, counted in support time only (the SLA)
    first_response_target_minutes: int = 60
    # after a missed promise, the new one: this much support time from the apology
    breach_new_promise_minutes: int = 60
    # reports: a resolved contact counts as first-contact resolution when the
    # customer makes no new contact within this many days (docs/reports.md)
    fcr_window_days: int = 7
    # the share of customers (0..1) asked the NPS question after their rating
    nps_share: float = 0.0
    # order updates pushed to a phone (Telegram) wait out this window of the
    # store's day: (start, end) local times, the end on the next day when
    # earlier than the start; None: no quiet hours
    notification_quiet_hours: Optional[Tuple[dt.time, dt.time]] = None

    def quiet_until(self, now: dt.datetime) -> Optional[dt.datetime]:
        """The end of the quiet hours ``now`` falls in (UTC), or None when
        ``now`` is outside them (or there are none). Pushed order updates
        are held until then."""
        if self.notification_quiet_hours is None:
            return None
        start, end = self.notification_quiet_hours
        local = now.astimezone(self.tz)
        t = local.time().replace(tzinfo=None)
        if start <= end:
            inside = start <= t < end
            end_day = local.date()
        else:  # over midnight: 21:00-09:00
            inside = t >= start or t < end
            end_day = local.date() + dt.timedelta(days=1) if t >= start else local.date()
        if not inside:
            return None
        return dt.datetime.combine(end_day, end, tzinfo=self.tz).astimezone(dt.timezone.utc)

    @property
    def schedule(self) -> SupportSchedule:
        """Support hours less holidays, for the support-time functions
        (core/support_time.py); cached outside the instance, so its
        ``__dict__`` stays its fields (``StorePolicy(**policy.__dict__)``)."""
        return _schedule(self.timezone, self.support_hours, self.holidays, self.yearly_holidays)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def today(self, now: Optional[dt.datetime] = None) -> dt.date:
        """Today in the store's time zone (delivery and return windows count in it)."""
        now = now or utc_now()
        if now.tzinfo is None:
            now = now.replace(tzinfo=dt.timezone.utc)
        return now.astimezone(self.tz).date()

    def days_late(self, expected: dt.date, today: Optional[dt.date] = None) -> int:
        """Days since an expected delivery date (0 when it has not passed)."""
        return max(0, ((today or self.today()) - expected).days)

    def is_late(self, expected: dt.date, today: Optional[dt.date] = None) -> bool:
        """A date the store promised (a delivery, a refund) has passed: the bot
        no longer says it as a promise but that it is late (``days_late``)."""
        return self.days_late(expected, today) > 0

    def is_overdue(self, expected: dt.date, today: Optional[dt.date] = None) -> bool:
        """The one delivery-window rule: late by more than ``overdue_grace_days``.
        Order status and "my order has not arrived" both use it."""
        return self.days_late(expected, today) > self.overdue_grace_days

    def overdue_from(self, expected: dt.date) -> dt.date:
        """The first day ``is_overdue`` holds for an expected delivery date."""
        return expected + dt.timedelta(days=self.overdue_grace_days + 1)

    def return_deadline(self, delivered: dt.date) -> dt.date:
        """The last day a return or exchange of an order delivered on
        ``delivered`` (store day) may be handed in: the whole window counts
        from the delivery, not from the day the shopper asks. A window that
        ends on a Sunday or a holiday (``holidays``) runs to the next day
        that is neither: drop-off offices are closed then, and a deadline
        the shopper cannot meet is not a deadline."""
        deadline = delivered + dt.timedelta(days=self.return_window_days)
        while deadline.weekday() == 6 or self.is_holiday(deadline):
            deadline += dt.timedelta(days=1)
        return deadline

    def return_days_left(self, delivered: dt.date, today: Optional[dt.date] = None) -> int:
        """Days from today to ``return_deadline`` (0 on the last day; negative when past)."""
        return (self.return_deadline(delivered) - (today or self.today())).days

    def return_dropoff_for(self, country: str) -> str:
        """Where a return or exchange parcel is handed in, for an order shipped
        to ``country`` (policy ``return_dropoff``: one entry per country, the
        ``internacional`` entry for the other countries served)."""
        wanted = _fold(country or "España")
        for name, text in self.return_dropoff.items():
            if _fold(name) == wanted:
                return text
        return self.return_dropoff[INTERNATIONAL_DROPOFF]

    def is_holiday(self, day: dt.date) -> bool:
        """A date (in the store's time zone) on which support hours do not apply."""
        return self.schedule.is_holiday(day)

    def is_support_open(self, now: Optional[dt.datetime] = None) -> bool:
        """Whether people are answering now (the bridge uses this for offline queueing)."""
        return support_time.is_open(self.schedule, now or utc_now())

    def next_support_opening(self, now: Optional[dt.datetime] = None) -> dt.datetime:
        """The next moment support opens (now, if open), in the store's time zone."""
        now = now or utc_now()
        try:
            return support_time.next_opening(self.schedule, now).astimezone(self.tz)
        except support_time.NoSupportTime as exc:
            raise PolicyError(str(exc)) from exc

    def add_support_time(self, start: dt.datetime, minutes: float = 0, seconds: float = 0) -> dt.datetime:
        """``start`` plus that much support time (nights, weekends, holidays
        skipped), in the store's time zone; see core/support_time.py."""
        try:
            end = support_time.add_support_seconds(self.schedule, start, minutes * 60 + seconds)
        except support_time.NoSupportTime as exc:
            raise PolicyError(str(exc)) from exc
        return end.astimezone(self.tz)

    def support_seconds_between(self, start: dt.datetime, end: dt.datetime) -> float:
        """Seconds of support time from ``start`` to ``end`` (0 if not after)."""
        return support_time.support_seconds_between(self.schedule, start, end)

    def first_response_due(self, queued_at: dt.datetime) -> dt.datetime:
        """When a person must have answered a shopper queued at ``queued_at``:
        ``first_response_target_minutes`` of support time later, rounded up
        to the whole minute (the promise is said in minutes: "antes de las
        10:38" is never earlier than the deadline). The SLA and the shopper's
        promise; it depends on ``queued_at`` only, so a queue change never
        moves it."""
        return _ceil_minute(self.add_support_time(queued_at, minutes=self.first_response_target_minutes))

    def breach_new_promise(self, now: dt.datetime) -> dt.datetime:
        """The new promise said with the apology for a missed one
        (``breach_new_promise_minutes`` of support time, whole minute)."""
        return _ceil_minute(self.add_support_time(now, minutes=self.breach_new_promise_minutes))

    def tracking_url(self, carrier: str, tracking_number: str) -> str:
        template = self.tracking_urls.get(carrier)
        if not template:
            return ""
        return template.format(tracking=tracking_number)

    def invoice_url(self, invoice_number: str) -> str:
        return f"{self.invoice_base_url.rstrip('/')}/{invoice_number}.pdf"

    def payment_method_named(self, text: str) -> Optional[Tuple[str, List[str]]]:
        """The accepted payment method a question names, in the policy's
        spelling, and the other accepted ones: «¿puedo pagar con bizum?» →
        ("Bizum", ["tarjeta (…)", "PayPal", "transferencia bancaria"]), so
        the answer starts with a plain «sí». An entry "tarjeta (Visa,
        Mastercard)" is named by "tarjeta", "débito", "crédito" or one of
        its brands (then that brand is the spelling); "transferencia
        bancaria" by its first word too. None: no accepted method is named
        (a method the store does not take gets the whole list)."""
        folded = f" {' '.join(re.sub(r'[^a-z0-9 ]+', ' ', _fold(text)).split())} "
        methods = [str(m) for m in self.raw.get("payment_methods") or []]
        for method in methods:
            head, _, brands = method.partition("(")
            names = [head.strip()] + [b.strip() for b in brands.rstrip(")").split(",") if b.strip()]
            for name in names:
                words = _fold(name)
                spoken = {words, words.split()[0]} if words else set()
                if words.split()[:1] == ["tarjeta"]:
                    spoken |= {"credito", "debito"}
                if any(f" {word} " in folded for word in spoken if len(word) >= 4):
                    named = name if name != head.strip() or not brands else method
                    return named, [m for m in methods if m != method]
        return None

    def answer_slots(self) -> Dict[str, Any]:
        """Values the domain's answers use as {placeholders}, as slot values."""
        keys = (
            "store_name", "currency", "return_window_days", "free_shipping_threshold",
            "standard_shipping_cost", "express_shipping_cost", "delivery_days_min",
            "delivery_days_max", "express_delivery_days", "international_delivery_days_min",
            "international_delivery_days_max", "international_shipping_cost", "islands_shipping_cost",
            "islands_free_shipping_threshold", "islands_delivery_days_min", "islands_delivery_days_max", "refund_days",
            "warranty_years", "support_hours_text", "contact_email", "contact_phone",
            "contact_whatsapp", "discount_codes_text", "installments_text", "customs_text",
        )
        slots: Dict[str, Any] = {key: _display(self.raw[key]) for key in keys}
        slots["international_countries"] = join_es(self.raw["international_countries"])
        slots["payment_methods"] = join_es(self.raw["payment_methods"])
        slots["brand_voice"] = self.brand_voice
        return slots


@lru_cache(maxsize=16)
def _schedule(timezone: str, windows: Tuple[SupportWindow, ...], holidays: Tuple[dt.date, ...],
              yearly: Tuple[Tuple[int, int], ...]) -> SupportSchedule:
    return SupportSchedule(
        tz=ZoneInfo(timezone),
        weekly=support_time.build_weekly([(w.days, w.open_minute, w.close_minute) for w in windows]),
        holidays=frozenset(holidays),
        yearly_holidays=frozenset(yearly),
    )


def _ceil_minute(value: dt.datetime) -> dt.datetime:
    whole = value.replace(second=0, microsecond=0)
    return whole if whole == value else whole + dt.timedelta(minutes=1)


def _fold(text: str) -> str:
    """Lower case without accents ('México' and 'mexico' are one country)."""
    decomposed = unicodedata.normalize("NFKD", str(text))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).strip().lower()


def _display(value: Any) -> str:
    """Numbers as a Spanish reader expects them: 4,95 and 50 (not 50.0)."""
    if isinstance(value, float):
        text = f"{value:.2f}".rstrip("0").rstrip(".") if value != int(value) else str(int(value))
        if "." in text:
            whole, frac = text.split(".")
            text = f"{whole},{frac.ljust(2, '0')}"
        return text
    return str(value)


def join_es(items: Sequence[Any], conjunction: str = "y") -> str:
    """["Visa", "PayPal", "Bizum"] → "Visa, PayPal y Bizum" (``conjunction`` "o": "… o Bizum")."""
    items = [str(i) for i in items]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + f" {conjunction} " + items[-1]


_HHMM = re.compile(r"^([01]?\d|2[0-4]):([0-5]\d)$")
_INTERVAL = re.compile(r"^\s*(\d{1,2}:\d{2})\s*-\s*(\d{1,2}:\d{2})\s*$")
_MONTH_DAY = re.compile(r"^(\d{2})-(\d{2})$")


def _parse_time(value: Any, closing: bool = False) -> Tuple[dt.time, bool]:
    """"HH:MM" → (time, to_midnight); "24:00" only as a closing time."""
    match = _HHMM.match(str(value).strip())
    if not match or (match[1] == "24" and (match[2] != "00" or not closing)):
        raise PolicyError(f"support_hours: {value!r} is not a time HH:MM" + (" (or 24:00)" if closing else ""))
    if match[1] == "24":
        return dt.time(0, 0), True
    return dt.time(int(match[1]), int(match[2])), False


def _parse_support_hours(raw: Any) -> Tuple[SupportWindow, ...]:
    """Entries ``{days, open, close}`` or ``{days, hours: ["09:00-14:00",
    "16:00-19:00"]}`` (several intervals a day); days 0 (Monday) to 6; each
    interval opens before it closes; intervals of one day may not overlap."""
    if not isinstance(raw, list) or not raw:
        raise PolicyError("support_hours must be a non-empty list of {days, open, close} or {days, hours}")
    windows: List[SupportWindow] = []
    for n, entry in enumerate(raw, 1):
        if not isinstance(entry, Mapping) or "days" not in entry:
            raise PolicyError(f"support_hours entry {n} needs days and open/close or hours")
        days = entry["days"]
        if not isinstance(days, list) or not days or any(
                isinstance(d, bool) or not isinstance(d, int) or not 0 <= d <= 6 for d in days):
            raise PolicyError(f"support_hours entry {n}: days must be a list of 0 (Monday) to 6 (Sunday), not {days!r}")
        if "hours" in entry:
            if not isinstance(entry["hours"], list) or not entry["hours"]:
                raise PolicyError(f"support_hours entry {n}: hours must be a list like [\"09:00-14:00\", \"16:00-19:00\"]")
            pairs = []
            for interval in entry["hours"]:
                match = _INTERVAL.match(str(interval))
                if not match:
                    raise PolicyError(f"support_hours entry {n}: {interval!r} is not an interval HH:MM-HH:MM")
                pairs.append((match[1], match[2]))
        elif "open" in entry and "close" in entry:
            pairs = [(entry["open"], entry["close"])]
        else:
            raise PolicyError(f"support_hours entry {n} needs open and close, or hours")
        for opening, closing in pairs:
            open_time, _ = _parse_time(opening)
            close_time, to_midnight = _parse_time(closing, closing=True)
            window = SupportWindow(tuple(days), open_time, close_time, to_midnight)
            if window.close_minute <= window.open_minute:
                raise PolicyError(f"support_hours entry {n}: {opening}-{closing} does not open before it closes "
                                  "(an interval past midnight is two: ...-24:00 and 00:00-...)")
            windows.append(window)
    try:
        support_time.build_weekly([(w.days, w.open_minute, w.close_minute) for w in windows])
    except ValueError as exc:
        raise PolicyError(str(exc)) from exc
    return tuple(windows)


def _parse_holidays(raw: Any) -> Tuple[Tuple[dt.date, ...], Tuple[Tuple[int, int], ...]]:
    """``holidays``: dates ``YYYY-MM-DD`` (one day) or ``MM-DD`` (every year),
    or ``{date, name}`` mappings; no support on them."""
    if raw is None:
        return (), ()
    if not isinstance(raw, list):
        raise PolicyError("holidays must be a list of dates (YYYY-MM-DD, or MM-DD for every year)")
    dates: List[dt.date] = []
    yearly: List[Tuple[int, int]] = []
    for item in raw:
        value = item.get("date") if isinstance(item, Mapping) else item
        if isinstance(value, dt.datetime) or not isinstance(value, (dt.date, str)):
            raise PolicyError(f"holidays: {value!r} is not a date (YYYY-MM-DD, or MM-DD for every year)")
        if isinstance(value, dt.date):
            dates.append(value)
            continue
        text = value.strip()
        try:
            match = _MONTH_DAY.match(text)
            if match:
                dt.date(2000, int(match[1]), int(match[2]))  # a leap year: 02-29 is valid
                yearly.append((int(match[1]), int(match[2])))
            else:
                dates.append(dt.date.fromisoformat(text))
        except ValueError as exc:
            raise PolicyError(f"holidays: {value!r} is not a date (YYYY-MM-DD, or MM-DD for every year)") from exc
    return tuple(sorted(set(dates))), tuple(sorted(set(yearly)))


def _positive_minutes(raw: Mapping[str, Any], key: str, default: Optional[int] = None) -> int:
    value = raw.get(key, default)
    if value is None:
        raise PolicyError(f"the policy file lacks {key!r}")
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 7 * 24 * 60:
        raise PolicyError(f"{key} must be a whole number of minutes from 1 to 10080, not {value!r}")
    return value


def _fcr_window_days(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 90:
        raise PolicyError(f"fcr_window_days must be a whole number of days from 1 to 90, not {value!r}")
    return value


def _share(value: Any, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise PolicyError(f"{key} must be a number from 0 to 1, not {value!r}")
    return float(value)


def _quiet_hours(value: Any) -> Optional[Tuple[dt.time, dt.time]]:
    """``"21:00-09:00"`` (store time; over midnight when the end is
    earlier), or null/absent for none."""
    if value is None or value == "":
        return None
    match = re.fullmatch(r"\s*(\d{1,2}:\d{2})\s*-\s*(\d{1,2}:\d{2})\s*", str(value))
    if not match:
        raise PolicyError(f"notification_quiet_hours must look like \"21:00-09:00\", not {value!r}")
    start, _ = _parse_time(match[1])
    end, _ = _parse_time(match[2])
    if start == end:
        raise PolicyError("notification_quiet_hours: the start and the end are the same time")
    return start, end


def parse_policy(raw: Mapping[str, Any], brand_voice: Optional[str] = None) -> StorePolicy:
    """Validate the raw YAML mapping and build the typed policy."""
    try:
        voice = (brand_voice or str(raw["brand_voice"])).strip().lower().replace("ú", "u")
        if voice not in BRAND_VOICES:
            raise PolicyError(f"brand_voice must be one of {BRAND_VOICES}, not {voice!r}")
        windows = _parse_support_hours(raw["support_hours"])
        tz_name = str(raw["timezone"])
        try:
            ZoneInfo(tz_name)
        except (KeyError, ValueError) as exc:  # ZoneInfoNotFoundError is a KeyError
            raise PolicyError(f"timezone: {tz_name!r} is not an IANA time zone (e.g. Europe/Madrid)") from exc
        holidays, yearly_holidays = _parse_holidays(raw.get("holidays"))
        target = _positive_minutes(raw, "first_response_target_minutes")
        policy = StorePolicy(
            raw=dict(raw),
            store_name=str(raw["store_name"]),
            brand_voice=voice,
            currency=str(raw["currency"]),
            return_window_days=int(raw["return_window_days"]),
            refund_days=int(raw["refund_days"]),
            free_shipping_threshold=float(raw["free_shipping_threshold"]),
            timezone=str(raw["timezone"]),
            support_hours=windows,
            support_hours_text=str(raw["support_hours_text"]),
            invoice_base_url=str(raw["invoice_base_url"]),
            tracking_urls=dict(raw["tracking_urls"]),
            cancellable_statuses=tuple(raw["cancellable_statuses"]),
            address_change_statuses=tuple(raw["address_change_statuses"]),
            overdue_grace_days=int(raw["overdue_grace_days"]),
            return_dropoff={str(k): str(v) for k, v in dict(raw["return_dropoff"]).items()},
            online_only=bool(raw.get("online_only", False)),
            holidays=holidays,
            yearly_holidays=yearly_holidays,
            first_response_target_minutes=target,
            breach_new_promise_minutes=_positive_minutes(raw, "breach_new_promise_minutes", target),
            fcr_window_days=_fcr_window_days(raw.get("fcr_window_days", 7)),
            nps_share=_share(raw.get("nps_share", 0.0), "nps_share"),
            notification_quiet_hours=_quiet_hours(raw.get("notification_quiet_hours")),
        )
        for needed in ("España", INTERNATIONAL_DROPOFF):
            if not any(_fold(k) == _fold(needed) for k in policy.return_dropoff):
                raise PolicyError(f"return_dropoff lacks {needed!r}")
        policy.answer_slots()  # every value an answer quotes is there (else KeyError below)
        try:  # some support time in the coming year (holidays cannot cover every day)
            support_time.next_opening(policy.schedule, utc_now())
        except support_time.NoSupportTime as exc:
            raise PolicyError(f"support_hours and holidays leave no support time: {exc}") from exc
        return policy
    except KeyError as exc:
        raise PolicyError(f"the policy file lacks {exc.args[0]!r}") from exc
    except (TypeError, ValueError) as exc:
        if isinstance(exc, PolicyError):
            raise
        raise PolicyError(f"the policy file has a wrong value: {exc}") from exc


def policy_path() -> Path:
    return Path(os.environ.get("STORE_POLICY_FILE") or DEFAULT_POLICY_FILE)


@lru_cache(maxsize=1)
def load_policy() -> StorePolicy:
    """The process-wide policy (cached; tests call ``load_policy.cache_clear()``)."""
    path = policy_path()
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PolicyError(f"cannot read the policy file {path}: {exc}") from exc
    return parse_policy(raw, os.environ.get("STORE_BRAND_VOICE") or None)
