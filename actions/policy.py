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
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple
from zoneinfo import ZoneInfo

import yaml

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_POLICY_FILE = ROOT / "data" / "store" / "policy.yml"
BRAND_VOICES = ("tu", "usted")
# The return_dropoff entry for the countries served without an entry of their own.
INTERNATIONAL_DROPOFF = "internacional"


class PolicyError(ValueError):
    """The policy file is missing a value or has a wrong one."""


def utc_now() -> dt.datetime:
    """The current moment; the one clock the actions read, so tests can set it
    (monkeypatch ``actions.policy.utc_now``)."""
    return dt.datetime.now(dt.timezone.utc)


@dataclass(frozen=True)
class SupportWindow:
    days: Tuple[int, ...]   # 0 = Monday
    open: dt.time
    close: dt.time


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
        from the delivery, not from the day the shopper asks."""
        return delivered + dt.timedelta(days=self.return_window_days)

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

    def is_support_open(self, now: Optional[dt.datetime] = None) -> bool:
        """Whether people are answering now (the bridge uses this for offline queueing)."""
        now = (now or dt.datetime.now(dt.timezone.utc)).astimezone(self.tz)
        return any(
            now.weekday() in w.days and w.open <= now.time() < w.close
            for w in self.support_hours
        )

    def next_support_opening(self, now: Optional[dt.datetime] = None) -> dt.datetime:
        """The next moment support opens (now, if open); searched over 8 days."""
        now = (now or dt.datetime.now(dt.timezone.utc)).astimezone(self.tz)
        if self.is_support_open(now):
            return now
        for offset in range(0, 8):
            day = now.date() + dt.timedelta(days=offset)
            openings = sorted(
                dt.datetime.combine(day, w.open, tzinfo=self.tz)
                for w in self.support_hours
                if day.weekday() in w.days
            )
            for opening in openings:
                if opening > now:
                    return opening
        raise PolicyError("support_hours has no opening in the next week")

    def tracking_url(self, carrier: str, tracking_number: str) -> str:
        template = self.tracking_urls.get(carrier)
        if not template:
            return ""
        return template.format(tracking=tracking_number)

    def invoice_url(self, invoice_number: str) -> str:
        return f"{self.invoice_base_url.rstrip('/')}/{invoice_number}.pdf"

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
        slots["international_countries"] = _join_es(self.raw["international_countries"])
        slots["payment_methods"] = _join_es(self.raw["payment_methods"])
        slots["brand_voice"] = self.brand_voice
        return slots


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


def _join_es(items: List[str]) -> str:
    items = [str(i) for i in items]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " y " + items[-1]


def _parse_time(value: str) -> dt.time:
    try:
        return dt.time.fromisoformat(str(value))
    except ValueError as exc:
        raise PolicyError(f"support_hours: {value!r} is not HH:MM") from exc


def parse_policy(raw: Mapping[str, Any], brand_voice: Optional[str] = None) -> StorePolicy:
    """Validate the raw YAML mapping and build the typed policy."""
    try:
        voice = (brand_voice or str(raw["brand_voice"])).strip().lower().replace("ú", "u")
        if voice not in BRAND_VOICES:
            raise PolicyError(f"brand_voice must be one of {BRAND_VOICES}, not {voice!r}")
        windows = tuple(
            SupportWindow(tuple(int(d) for d in w["days"]), _parse_time(w["open"]), _parse_time(w["close"]))
            for w in raw["support_hours"]
        )
        ZoneInfo(str(raw["timezone"]))
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
        )
        for needed in ("España", INTERNATIONAL_DROPOFF):
            if not any(_fold(k) == _fold(needed) for k in policy.return_dropoff):
                raise PolicyError(f"return_dropoff lacks {needed!r}")
        policy.answer_slots()  # every value an answer quotes is there (else KeyError below)
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
