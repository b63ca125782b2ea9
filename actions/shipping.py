"""Shipping questions that name where to: "¿cuánto cuesta el envío a Sevilla?",
"¿cuánto tarda a Tenerife?", "¿envían a Argentina?" get the price and time of
that destination's zone, said with its name, instead of the whole table.

The destination is looked up in data/store/postal_regions.yml (towns,
provinces and islands of Spain; the countries the store ships to), after a
preposition ("a", "para", "hasta", "hacia", "en"). A country the store does
not ship to (data/store/other_countries.yml) gets a plain "no" with the
countries served. Limits: a place neither file knows (a small village, a
country missing from the list) gets the general answer, which lists the
countries served.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import yaml

from core.addresses.parser import title_es
from core.addresses.places import PlaceTable, fold, load_places
from core.policy import join_es

HOME = "España"
OTHER_COUNTRIES_FILE = Path(__file__).resolve().parents[1] / "data" / "store" / "other_countries.yml"
# The general FAQ answers this module can replace with a destination's own.
SHIPPING_KEYS = ("faq/shipping_cost", "faq/shipping_time", "faq/international_shipping")
# Countries inside the EU customs union: no import duties on delivery.
EU_COUNTRIES = frozenset({"España", "Portugal", "Francia", "Italia", "Alemania"})
_PREPOSITIONS = frozenset({"a", "al", "para", "hasta", "hacia", "en"})
_CONNECTORS = frozenset({"y", "e", "o", "u", "ni"})
# Names of a zone that are no one province of the table ("Canarias" would be
# read as Cantabria by the typo tolerance).
_ARCHIPELAGOS = {"canarias": "Canarias", "islas canarias": "Canarias", "las canarias": "Canarias",
                 "las islas canarias": "Canarias"}
_ARTICLES = frozenset({"el", "la", "los", "las", "de", "del"})
_WORD = re.compile(r"[^\W\d_][\w'’-]*")
_NOT_A_DESTINATION = frozenset(fold(w) for w in (
    "casa", "domicilio", "mi", "tu", "su", "la", "el", "los", "las", "un", "una", "otro", "otra", "cuanto",
    "cuánto", "cuantos", "cuántos", "mano", "tienda", "punto", "recoger", "recogida", "total", "exprés",
    "express", "urgente", "península", "peninsula", "españa",
))


@dataclass(frozen=True)
class Destination:
    """Where the shopper asks to ship: ``name`` as the table writes it."""

    name: str
    country: str
    zone: str  # mainland | islands | international
    region: str = ""

    @property
    def customs_apply(self) -> bool:
        return self.zone == "international" and self.country not in EU_COUNTRIES

    @property
    def local_tax_applies(self) -> bool:
        """Canarias, Ceuta and Melilla: IGIC or IPSI may be charged on delivery."""
        return self.zone == "islands" and self.region != "Illes Balears"  # Canarias, Ceuta, Melilla


RESPONSES = {"mainland": "utter_shipping_to_mainland", "islands": "utter_shipping_to_islands",
             "international": "utter_shipping_to_country", "unserved": "utter_shipping_not_to_country"}


@lru_cache(maxsize=2)
def other_countries(path: Optional[str] = None) -> Dict[str, str]:
    """Folded spelling -> name, of the countries the store does not ship to
    (read once per process)."""
    with open(path or OTHER_COUNTRIES_FILE, encoding="utf-8") as handle:
        data = yaml.safe_load(handle) or {}
    names: Dict[str, str] = {}
    for name, aliases in (data.get("countries") or {}).items():
        for spelling in (name, *(aliases or ())):
            names[fold(str(spelling))] = str(name)
    return names


def destination_variables(destination: Destination, customs_text: str) -> dict:
    """The {placeholders} of a destination's answer besides the policy's slots."""
    extra = ""
    if destination.customs_apply:
        extra = f" {customs_text.rstrip('.')}."
    elif destination.local_tax_applies:
        extra = " En Canarias, Ceuta y Melilla la aduana puede cobrar el IGIC o el IPSI al recibir el paquete."
    return {"destination": destination.name, "destination_note": extra}


def destination_in(text: str, table: Optional[PlaceTable] = None) -> Optional[Destination]:
    """The places named after a preposition, and after "y"/"o" right behind
    one ("a Baleares y Canarias"), as one destination when they share a
    zone; None when there is none the table knows, or they are of different
    zones (the general answer covers both)."""
    table = table or load_places()
    words = _WORD.findall(text or "")
    found: List[Destination] = []
    start = 0
    after_place = False
    while start < len(words):
        word = words[start].lower()
        if word in _PREPOSITIONS or (after_place and word in _CONNECTORS):
            hit = _place_at(words, start + 1, table)
            if hit is not None:
                destination, size = hit
                country = _country_after(words, start + 1 + size, table)
                if country is not None and destination.country == HOME:
                    # "a Córdoba, Argentina": the country decides, not Spain's Córdoba
                    destination, size = country, size + 1
                found.append(destination)
                start += 1 + size
                after_place = True
                continue
        after_place = False
        start += 1
    if not found or len({d.zone for d in found}) > 1:
        return None
    if len(found) == 1:
        return found[0]
    names = [d.name for d in found]
    joined = join_es(names)
    local_tax = next((d for d in found if d.local_tax_applies), None)
    customs = next((d for d in found if d.customs_apply), None)
    first = local_tax or customs or found[0]
    return Destination(joined, first.country, first.zone, first.region)


def _served_country(phrase: str, table: PlaceTable) -> Optional[Destination]:
    """A country the store ships to, other than Spain (postal_regions.yml)."""
    country = table.country(phrase)
    return Destination(country, country, "international") if country and country != HOME else None


def _unserved_country(phrase: str) -> Optional[Destination]:
    """A country the store does not ship to (other_countries.yml)."""
    name = other_countries().get(fold(phrase))
    return Destination(name, name, "unserved") if name else None


def _country_after(words: List[str], at: int, table: PlaceTable) -> Optional[Destination]:
    """A country other than Spain written right after a town ("Córdoba Argentina")."""
    if at >= len(words):
        return None
    return _served_country(words[at], table) or _unserved_country(words[at])


def _place_at(words: List[str], at: int, table: PlaceTable) -> Optional[Tuple[Destination, int]]:
    """The longest known place starting at ``words[at]`` (up to 4 words, never
    ending in a connector or article), with its length in words."""
    for size in range(min(4, len(words) - at), 0, -1):
        chunk = words[at:at + size]
        if chunk[-1].lower() in _CONNECTORS | _ARTICLES:
            continue
        phrase = " ".join(chunk)
        key = fold(phrase)
        if key in _NOT_A_DESTINATION:
            continue
        if key in _ARCHIPELAGOS:  # two provinces, one shipping zone
            return Destination(_ARCHIPELAGOS[key], HOME, "islands", _ARCHIPELAGOS[key]), size
        served = _served_country(phrase, table)
        if served is not None:
            return served, size
        place = table.place(HOME, phrase, fuzzy=False)  # Puerto Rico (Gran Canaria) before the country
        unserved = _unserved_country(phrase) if place is None else None
        if unserved is not None:
            return unserved, size
        place = place or table.place(HOME, phrase, fuzzy=len(key) >= 5)
        if place is not None:
            # a town by its name; a province or island as the shopper wrote it ("Tenerife")
            name = place.name if place.is_town else title_es(phrase)
            return Destination(name, HOME, place.region.zone, place.region.name), size
    return None

