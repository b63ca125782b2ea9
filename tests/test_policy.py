"""The store policy file: parsed, validated, and feeding the answers."""
from __future__ import annotations

import datetime as dt

import pytest
import yaml

from core.policy import DEFAULT_POLICY_FILE, PolicyError, load_policy, parse_policy

RAW = yaml.safe_load(DEFAULT_POLICY_FILE.read_text(encoding="utf-8"))


def test_answer_slots_carry_the_policy_values() -> None:
    slots = parse_policy(RAW).answer_slots()
    assert slots["return_window_days"] == str(RAW["return_window_days"])
    assert slots["free_shipping_threshold"] == str(RAW["free_shipping_threshold"])
    assert slots["standard_shipping_cost"] == f"{RAW['standard_shipping_cost']:.2f}".replace(".", ",")
    assert slots["support_hours_text"] == RAW["support_hours_text"]
    assert RAW["international_countries"][-1] in slots["international_countries"]
    assert slots["brand_voice"] in ("tu", "usted")
    assert slots["islands_shipping_cost"] == f"{RAW['islands_shipping_cost']:.2f}".replace(".", ",")
    assert slots["islands_delivery_days_max"] == str(RAW["islands_delivery_days_max"])


@pytest.mark.parametrize("key", ["islands_shipping_cost", "contact_phone"])
def test_a_value_that_answers_quote_must_be_in_the_file(key: str) -> None:
    with pytest.raises(PolicyError, match=key):
        parse_policy({k: v for k, v in RAW.items() if k != key})


def test_support_hours_open_closed_and_next_opening() -> None:
    policy = parse_policy(RAW)
    tz = policy.tz
    window = policy.support_hours[0]
    monday = dt.date(2026, 11, 23)  # a Monday
    day = monday + dt.timedelta(days=window.days[0])
    inside = dt.datetime.combine(day, window.open, tzinfo=tz) + dt.timedelta(minutes=5)
    before = dt.datetime.combine(day, window.open, tzinfo=tz) - dt.timedelta(minutes=5)
    assert policy.is_support_open(inside)
    assert not policy.is_support_open(before)
    assert policy.next_support_opening(before) == dt.datetime.combine(day, window.open, tzinfo=tz)
    sunday_night = dt.datetime.combine(monday - dt.timedelta(days=1), dt.time(23, 0), tzinfo=tz)
    assert policy.next_support_opening(sunday_night).date() == monday


def test_brand_voice_override_and_bad_values(monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse_policy(RAW, "usted").brand_voice == "usted"
    assert parse_policy(RAW, "tú").brand_voice == "tu"
    with pytest.raises(PolicyError):
        parse_policy(RAW, "vos")
    broken = dict(RAW)
    del broken["return_window_days"]
    with pytest.raises(PolicyError, match="return_window_days"):
        parse_policy(broken)
    monkeypatch.setenv("STORE_BRAND_VOICE", "usted")
    load_policy.cache_clear()
    try:
        assert load_policy().answer_slots()["brand_voice"] == "usted"
    finally:
        load_policy.cache_clear()


def test_return_dropoff_per_country_with_a_default_for_the_others() -> None:
    policy = parse_policy(RAW)
    assert "Correos" in policy.return_dropoff_for("España")
    assert policy.return_dropoff_for("mexico") == policy.return_dropoff_for("México") == RAW["return_dropoff"]["internacional"]
    assert policy.return_dropoff_for("Portugal") == RAW["return_dropoff"]["Portugal"]
    for country in RAW["international_countries"]:
        assert "Correos" not in policy.return_dropoff_for(country) or "Portugal" in policy.return_dropoff_for(country)
    broken = dict(RAW, return_dropoff={"España": "cualquier oficina de Correos"})
    with pytest.raises(PolicyError, match="internacional"):
        parse_policy(broken)


@pytest.mark.parametrize("module", ["core.policy", "core.promises", "actions.shopper_words"])
def test_the_core_rules_import_neither_rasa_nor_rasa_sdk(module: str) -> None:
    import subprocess
    import sys

    code = (f"import sys, {module}; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('rasa', 'rasa_sdk')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == "[]"


# -- support time (core/support_time.py) and the policy's hours ------------

from core import support_time  # noqa: E402
from core.support_time import SupportSchedule, add_support_seconds, support_seconds_between  # noqa: E402

MADRID = "Europe/Madrid"


def _policy(**changes) -> "object":
    raw = dict(RAW)
    raw.update(changes)
    return parse_policy(raw)


def _split_hours_policy(**changes):
    """Mon-Fri 9:00-14:00 and 16:00-19:00, Saturday 10:00-14:00, in Madrid."""
    return _policy(support_hours=[
        {"days": [0, 1, 2, 3, 4], "hours": ["09:00-14:00", "16:00-19:00"]},
        {"days": [5], "open": "10:00", "close": "14:00"},
    ], holidays=["2025-12-08", "12-25"], **changes)


def _madrid(*args: int) -> dt.datetime:
    from zoneinfo import ZoneInfo
    return dt.datetime(*args, tzinfo=ZoneInfo(MADRID))


def test_the_store_policy_has_the_target_and_holidays() -> None:
    policy = load_policy()
    assert policy.first_response_target_minutes == RAW["first_response_target_minutes"] > 0
    assert policy.is_holiday(dt.date(2030, 12, 25))       # MM-DD: every year
    assert policy.is_holiday(dt.date(2026, 4, 3))          # one date
    assert not policy.is_holiday(dt.date(2026, 4, 2))


def test_several_intervals_a_day_open_and_closed() -> None:
    policy = _split_hours_policy()
    monday = (2025, 11, 24)
    assert policy.is_support_open(_madrid(*monday, 9, 0))
    assert policy.is_support_open(_madrid(*monday, 13, 59))
    assert not policy.is_support_open(_madrid(*monday, 14, 0))      # closes at 14:00 sharp
    assert not policy.is_support_open(_madrid(*monday, 15, 30))     # the lunch gap
    assert policy.is_support_open(_madrid(*monday, 16, 0))
    assert not policy.is_support_open(_madrid(*monday, 19, 0))
    assert policy.next_support_opening(_madrid(*monday, 14, 30)) == _madrid(*monday, 16, 0)
    assert policy.next_support_opening(_madrid(*monday, 10, 0)) == _madrid(*monday, 10, 0)  # open: now


def test_adding_support_time_across_the_gap_the_night_and_the_weekend() -> None:
    policy = _split_hours_policy()
    # inside one interval
    assert policy.add_support_time(_madrid(2025, 11, 24, 10, 0), minutes=30) == _madrid(2025, 11, 24, 10, 30)
    # across the lunch gap: 13:50 + 30 min = 16:20
    assert policy.add_support_time(_madrid(2025, 11, 24, 13, 50), minutes=30) == _madrid(2025, 11, 24, 16, 20)
    # across the night: Monday 18:50 + 30 min = Tuesday 9:20
    assert policy.add_support_time(_madrid(2025, 11, 24, 18, 50), minutes=30) == _madrid(2025, 11, 25, 9, 20)
    # across the weekend: Saturday 13:45 + 30 min = Monday 9:15 (no Sunday hours)
    assert policy.add_support_time(_madrid(2025, 11, 29, 13, 45), minutes=30) == _madrid(2025, 12, 1, 9, 15)
    # from a closed moment: the time counts from the opening
    assert policy.add_support_time(_madrid(2025, 11, 30, 12, 0), minutes=30) == _madrid(2025, 12, 1, 9, 30)
    # exactly to a close: the close, not the next opening
    assert policy.add_support_time(_madrid(2025, 11, 24, 13, 30), minutes=30) == _madrid(2025, 11, 24, 14, 0)
    # zero: now when open, else the next opening
    assert policy.add_support_time(_madrid(2025, 11, 24, 10, 0)) == _madrid(2025, 11, 24, 10, 0)
    assert policy.add_support_time(_madrid(2025, 11, 24, 15, 0)) == _madrid(2025, 11, 24, 16, 0)
    # several days of support time: 8 h a weekday, 4 h Saturday
    assert policy.add_support_time(_madrid(2025, 11, 24, 9, 0), minutes=60 * 44) == _madrid(2025, 11, 29, 14, 0)
    assert policy.add_support_time(_madrid(2025, 11, 24, 9, 0), minutes=60 * 44 + 1) == _madrid(2025, 12, 1, 9, 1)


def test_holidays_have_no_support_time() -> None:
    policy = _split_hours_policy()
    # Friday 5 December 18:45 + 30 min: Saturday 6th 10:15 (6 December is not in this test policy)
    assert policy.add_support_time(_madrid(2025, 12, 5, 18, 45), minutes=30) == _madrid(2025, 12, 6, 10, 15)
    # Saturday 13:50 + 30 min: Monday 8 December is a holiday → Tuesday 9:20
    assert policy.add_support_time(_madrid(2025, 12, 6, 13, 50), minutes=30) == _madrid(2025, 12, 9, 9, 20)
    assert not policy.is_support_open(_madrid(2025, 12, 8, 10, 0))
    assert policy.next_support_opening(_madrid(2025, 12, 8, 10, 0)) == _madrid(2025, 12, 9, 9, 0)
    # a yearly holiday, another year
    assert not policy.is_support_open(_madrid(2026, 12, 25, 10, 0))
    assert policy.support_seconds_between(_madrid(2025, 12, 8, 0, 0), _madrid(2025, 12, 9, 0, 0)) == 0


def test_support_seconds_between_two_instants() -> None:
    policy = _split_hours_policy()
    monday = (2025, 11, 24)
    assert policy.support_seconds_between(_madrid(*monday, 10, 0), _madrid(*monday, 10, 45)) == 45 * 60
    assert policy.support_seconds_between(_madrid(*monday, 13, 0), _madrid(*monday, 17, 0)) == 2 * 3600  # 1 h + 1 h
    assert policy.support_seconds_between(_madrid(*monday, 18, 30), _madrid(2025, 11, 25, 9, 30)) == 3600
    assert policy.support_seconds_between(_madrid(*monday, 10, 0), _madrid(*monday, 9, 0)) == 0  # end before start
    # a whole week: 5 × 8 h + 4 h
    assert policy.support_seconds_between(_madrid(*monday, 0, 0), _madrid(2025, 12, 1, 0, 0)) == 44 * 3600
    # the two functions agree: adding what was counted lands on the end (inside support time)
    start = _madrid(2025, 11, 26, 11, 17)
    for minutes in (1, 59, 180, 600, 2000):
        end = policy.add_support_time(start, minutes=minutes)
        assert policy.support_seconds_between(start, end) == minutes * 60


def test_daylight_saving_time_changes_count_real_time() -> None:
    # a 24/7 desk in Madrid: the night clocks go forward (30 March 2025) has 23 hours
    policy = _policy(support_hours=[{"days": list(range(7)), "open": "00:00", "close": "24:00"}], holidays=[])
    spring = policy.support_seconds_between(_madrid(2025, 3, 30, 0, 0), _madrid(2025, 3, 31, 0, 0))
    autumn = policy.support_seconds_between(_madrid(2025, 10, 26, 0, 0), _madrid(2025, 10, 27, 0, 0))
    assert (spring, autumn) == (23 * 3600, 25 * 3600)
    # 01:30 + 60 min on the spring night is 03:30 on the wall clock (02:00-03:00 does not exist)
    assert policy.add_support_time(_madrid(2025, 3, 30, 1, 30), minutes=60) == _madrid(2025, 3, 30, 3, 30)
    # a day desk: the promise keeps wall-clock hours across the change (Saturday 13:50 CET + 30 min → Monday 9:20 CEST)
    day = _split_hours_policy()
    due = day.add_support_time(_madrid(2025, 3, 29, 13, 50), minutes=30)
    assert due == _madrid(2025, 3, 31, 9, 20) and due.utcoffset() == dt.timedelta(hours=2)


def test_a_non_utc_time_zone_far_from_madrid() -> None:
    # Mexico City (UTC-6, no DST): Monday 9:00-18:00 there is 15:00-24:00 UTC
    policy = _policy(timezone="America/Mexico_City", holidays=[],
                     support_hours=[{"days": [0, 1, 2, 3, 4], "hours": ["09:00-18:00"]}])
    utc = dt.timezone.utc
    assert not policy.is_support_open(dt.datetime(2025, 11, 24, 12, 0, tzinfo=utc))   # 6:00 there
    assert policy.is_support_open(dt.datetime(2025, 11, 24, 23, 30, tzinfo=utc))      # 17:30 there
    due = policy.add_support_time(dt.datetime(2025, 11, 24, 23, 45, tzinfo=utc), minutes=30)
    assert due == dt.datetime(2025, 11, 25, 15, 15, tzinfo=utc)                       # Tuesday 9:15 there
    assert due.tzinfo is not None and due.utcoffset() == dt.timedelta(hours=-6)
    # naive datetimes are read as UTC
    assert policy.support_seconds_between(dt.datetime(2025, 11, 24, 15, 0), dt.datetime(2025, 11, 24, 16, 0)) == 3600


def test_the_pure_functions_need_no_policy() -> None:
    from zoneinfo import ZoneInfo
    schedule = SupportSchedule(tz=ZoneInfo("Asia/Tokyo"), weekly=support_time.build_weekly([([0], 9 * 60, 10 * 60)]))
    monday_9_tokyo = dt.datetime(2025, 11, 24, 0, 0, tzinfo=dt.timezone.utc)
    assert add_support_seconds(schedule, monday_9_tokyo, 1800) == monday_9_tokyo + dt.timedelta(minutes=30)
    assert add_support_seconds(schedule, monday_9_tokyo, 3600 + 60) == monday_9_tokyo + dt.timedelta(days=7, minutes=1)
    assert support_seconds_between(schedule, monday_9_tokyo, monday_9_tokyo + dt.timedelta(days=14)) == 2 * 3600
    with pytest.raises(ValueError):
        add_support_seconds(schedule, monday_9_tokyo, -1)
    with pytest.raises(support_time.NoSupportTime):
        support_time.next_opening(SupportSchedule(tz=ZoneInfo("UTC"), weekly=((),) * 7), monday_9_tokyo)


@pytest.mark.parametrize("change, message", [
    ({"support_hours": [{"days": [0], "open": "14:00", "close": "09:00"}]}, "does not open before it closes"),
    ({"support_hours": [{"days": [0], "hours": ["09:00-14:00", "13:00-19:00"]}]}, "overlap on day 0"),
    ({"support_hours": [{"days": [0], "open": "9h", "close": "14:00"}]}, "is not a time HH:MM"),
    ({"support_hours": [{"days": [0], "open": "24:00", "close": "24:00"}]}, "is not a time HH:MM"),
    ({"support_hours": [{"days": [7], "open": "09:00", "close": "14:00"}]}, "days must be a list of 0"),
    ({"support_hours": [{"days": [0], "hours": ["9 a 14"]}]}, "is not an interval HH:MM-HH:MM"),
    ({"support_hours": [{"days": [0]}]}, "needs open and close, or hours"),
    ({"support_hours": []}, "non-empty list"),
    ({"holidays": ["2025-02-30"]}, "holidays: '2025-02-30' is not a date"),
    ({"holidays": ["13-01"]}, "holidays: '13-01' is not a date"),
    ({"holidays": "2025-12-25"}, "holidays must be a list"),
    ({"first_response_target_minutes": 0}, "first_response_target_minutes must be a whole number"),
    ({"first_response_target_minutes": "30"}, "first_response_target_minutes must be a whole number"),
    ({"breach_new_promise_minutes": -5}, "breach_new_promise_minutes must be a whole number"),
    ({"timezone": "Europe/Madird"}, "not an IANA time zone"),
])
def test_bad_hours_holidays_and_targets_are_refused_at_load(change, message) -> None:
    with pytest.raises(PolicyError, match=message):
        _policy(**change)


def test_the_target_must_be_in_the_file() -> None:
    with pytest.raises(PolicyError, match="first_response_target_minutes"):
        parse_policy({k: v for k, v in RAW.items() if k != "first_response_target_minutes"})
    default = parse_policy({k: v for k, v in RAW.items() if k != "breach_new_promise_minutes"})
    assert default.breach_new_promise_minutes == RAW["first_response_target_minutes"]


def test_the_first_response_due_is_whole_minutes_of_support_time() -> None:
    policy = _split_hours_policy(first_response_target_minutes=30, breach_new_promise_minutes=15)
    assert policy.first_response_due(_madrid(2025, 11, 24, 10, 7, 23)) == _madrid(2025, 11, 24, 10, 38)
    assert policy.first_response_due(_madrid(2025, 11, 24, 10, 7)) == _madrid(2025, 11, 24, 10, 37)
    assert policy.first_response_due(_madrid(2025, 11, 24, 18, 50)) == _madrid(2025, 11, 25, 9, 20)
    assert policy.breach_new_promise(_madrid(2025, 11, 24, 13, 55, 1)) == _madrid(2025, 11, 24, 16, 11)


def test_the_quiet_hours_hold_pushed_updates_until_they_end() -> None:
    """notification_quiet_hours "22:00-09:00" (store time, over midnight)."""
    import datetime as dt

    from core.policy import PolicyError, load_policy, parse_policy

    base = dict(load_policy().raw)
    policy = parse_policy({**base, "notification_quiet_hours": "22:00-09:00"})
    utc = dt.timezone.utc
    assert policy.quiet_until(dt.datetime(2025, 11, 24, 11, 0, tzinfo=utc)) is None          # 12:00 Madrid
    assert policy.quiet_until(dt.datetime(2025, 11, 24, 22, 30, tzinfo=utc)) == dt.datetime(2025, 11, 25, 8, 0, tzinfo=utc)
    assert policy.quiet_until(dt.datetime(2025, 11, 25, 5, 0, tzinfo=utc)) == dt.datetime(2025, 11, 25, 8, 0, tzinfo=utc)
    assert policy.quiet_until(dt.datetime(2025, 11, 25, 8, 0, tzinfo=utc)) is None           # 09:00: over
    day = parse_policy({**base, "notification_quiet_hours": "14:00-16:00"})
    assert day.quiet_until(dt.datetime(2025, 11, 24, 14, 0, tzinfo=utc)) == dt.datetime(2025, 11, 24, 15, 0, tzinfo=utc)
    assert parse_policy({**base, "notification_quiet_hours": None}).quiet_until(
        dt.datetime(2025, 11, 24, 22, 30, tzinfo=utc)) is None
    for wrong in ("22:00", "25:00-09:00", "09:00-09:00"):
        try:
            parse_policy({**base, "notification_quiet_hours": wrong})
        except PolicyError:
            continue
        raise AssertionError(f"{wrong!r} was taken")
