"""The store policy file: parsed, validated, and feeding the answers."""
from __future__ import annotations

import datetime as dt

import pytest
import yaml

from actions.policy import DEFAULT_POLICY_FILE, PolicyError, load_policy, parse_policy

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


@pytest.mark.parametrize("module", ["actions.policy", "actions.promises", "actions.shopper_words"])
def test_the_core_rules_import_neither_rasa_nor_rasa_sdk(module: str) -> None:
    import subprocess
    import sys

    code = (f"import sys, {module}; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('rasa', 'rasa_sdk')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == "[]"
