"""The new address as it is being gathered: each answer of the shopper is
merged into what was already given (nothing given is asked again) and the
result checked: postal code against the town or region written, the
country of the order, and the shipping zone of the order."""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any, Dict, Optional

from core.addresses.parser import parse_address
from core.addresses.places import PlaceTable, load_places
from core.addresses.postcodes import postal_hint, shipping_zone
from core.errors import InvalidCity, InvalidStreet

MAX_STREET = 200
MAX_CITY = 80


# Small words of street names that stay in lower case ("Calle del Coso").
_PARTICLES = frozenset("de del la las los el y e a al en".split())


def _capitalise_name(name: str) -> str:
    """The words of a street's name with a capital first letter, particles
    (but the first word) and what the shopper wrote in capitals kept as they are."""
    words = name.split(" ")
    out = []
    for index, word in enumerate(words):
        if word and word[0].islower() and (index == 0 or word not in _PARTICLES):
            word = word[:1].upper() + word[1:]
        out.append(word)
    return " ".join(out)


def normalize_street(value: Any) -> str:
    """A street line with a name and a number (or 's/n'); ``InvalidStreet``
    otherwise. The name before the number is capitalised word by word ('calle
    del coso 45' → 'Calle del Coso 45'); floor and door after it are kept."""
    text = " ".join(str(value or "").split())[:MAX_STREET].strip(" ,;")
    has_number = bool(re.search(r"\d|s/n", text, re.I))
    if len(text) < 5 or not re.search(r"[^\W\d_]{2,}", text) or not has_number:
        raise InvalidStreet("street without name or number")
    number = re.search(r"\d|s/n", text, re.I)
    assert number is not None
    return _capitalise_name(text[:number.start()]) + text[number.start():]


def normalize_city(value: Any) -> str:
    """A town's name, capitalised; ``InvalidCity`` for digits or no letters."""
    text = " ".join(str(value or "").split())[:MAX_CITY]
    if len(text) < 2 or re.search(r"\d", text) or not re.search(r"[^\W\d_]{2,}", text):
        raise InvalidCity("not a city")
    return text[:1].upper() + text[1:]


@dataclass(frozen=True)
class AddressDraft:
    """The parts gathered so far (None = not given yet)."""

    street: Optional[str] = None
    postal_code: Optional[str] = None
    city: Optional[str] = None
    province: Optional[str] = None

    def as_slots(self) -> Dict[str, Optional[str]]:
        return {"new_street": self.street, "new_postal_code": self.postal_code,
                "new_city": self.city, "new_province": self.province}


@dataclass(frozen=True)
class Check:
    """The merged draft and, when something must be said before asking on,
    the problem: a domain.yml response and its variables."""

    draft: AddressDraft
    response: Optional[str] = None
    variables: Dict[str, Any] = field(default_factory=dict)


def merge_answer(
    draft: AddressDraft,
    text: str,
    expecting: str,
    country: str,
    current_postal_code: str = "",
    current_region: str = "",
    table: Optional[PlaceTable] = None,
) -> Check:
    """``text`` answers the question for ``expecting`` ('street',
    'postal_code', 'city') of an order shipped to ``country`` whose current
    postal code is ``current_postal_code``."""
    table = table or load_places()
    parsed = parse_address(text, country, table)
    if parsed.country and parsed.country != country:
        return Check(draft, "utter_address_other_country", {"country": country, "new_country": parsed.country})
    merged = draft
    if parsed.street:
        try:
            merged = replace(merged, street=normalize_street(parsed.street))
        except InvalidStreet:
            pass  # asked again below when the street was the question
    if parsed.postal_code:
        merged = replace(merged, postal_code=parsed.postal_code)
    if parsed.city:
        try:
            merged = replace(merged, city=normalize_city(parsed.city))
        except InvalidCity:
            pass
    elif parsed.region and expecting == "city":
        merged = replace(merged, city=parsed.region)
    checked = check_draft(merged, country, current_postal_code, current_region, parsed.region, table)
    if checked.response:
        return checked
    merged = checked.draft
    # the part asked for is still missing: say why, then ask it again
    if expecting == "street" and merged.street is None:
        kept = " ".join(part for part, new in ((merged.postal_code, parsed.postal_code), (merged.city, parsed.city))
                        if part and new)
        if kept:
            # "a huesca": the town is noted and said so; only the street is asked, no "de nuevo"
            return Check(merged, "utter_ask_street_after_place", {"place": kept})
        return Check(merged, "utter_invalid_street")
    # (a town given for the postal code, or the reverse, is kept and the other asked plainly)
    if expecting == "postal_code" and merged.postal_code is None and not (parsed.city and not re.search(r"\d", text)):
        return Check(merged, "utter_invalid_postal_code", {"country": country, "postal_code_hint": postal_hint(country)})
    if expecting == "city" and merged.city is None and not parsed.postal_code:
        return Check(merged, "utter_invalid_city")
    return Check(merged)


def check_draft(
    draft: AddressDraft,
    country: str,
    current_postal_code: str = "",
    current_region: str = "",
    stated_region: Optional[str] = None,
    table: Optional[PlaceTable] = None,
) -> Check:
    """The postal code against the town (and the region the shopper wrote),
    and the shipping zone against the order's; fills the province from the
    postal code. On a problem the postal code and town are dropped."""
    table = table or load_places()
    conflict = _conflict(draft, stated_region, country, table)
    if conflict is not None:
        return conflict
    if not draft.postal_code:
        return Check(draft)
    region = table.region_of(country, draft.postal_code)
    zone = shipping_zone(country, draft.postal_code, table)
    current_zone = shipping_zone(country, current_postal_code, table) if current_postal_code else zone
    if zone != current_zone:
        return Check(replace(draft, postal_code=None, city=None, province=None), "utter_address_zone_change", {
            "postal_code": draft.postal_code, "postal_region": region.name if region else draft.postal_code,
            "current_region": "la península" if current_zone == "mainland" else (current_region or country),
        })
    stated = table.place(country, stated_region) if stated_region else None
    province = region.name if region else (stated.region.name if stated else stated_region or draft.province)
    return Check(replace(draft, province=province))


def _conflict(merged: AddressDraft, stated_region: Optional[str], country: str, table: PlaceTable) -> Optional[Check]:
    """A postal code of one region with a town or region of another: both
    are dropped and the shopper is asked which is right."""
    if not merged.postal_code:
        return None
    region = table.region_of(country, merged.postal_code)
    if region is None:
        return None
    for name in (merged.city, stated_region):
        place = table.place(country, name) if name else None
        if place is not None and not place.region.owns(merged.postal_code):
            return Check(replace(merged, postal_code=None, city=None, province=None), "utter_address_postal_conflict", {
                "postal_code": merged.postal_code, "postal_region": region.name, "place": name,
            })
    return None
