"""Shipping questions that name where to: "¿cuánto cuesta el envío a Sevilla?",
"¿cuánto tarda a Tenerife?", "¿envían a Argentina?" get the price and time of
that destination's zone, said with its name, instead of the whole table.

The destination is looked up in data/store/postal_regions.yml (towns,
provinces and islands of Spain; the countries the store ships to), after a
preposition ("a", "para", "hasta", "hacia", "en"). Limits: a place the table
does not know (a small village, a country the store does not ship to) gets the
general answer, which lists the countries served.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

from actions.addresses.places import PlaceTable, fold, load_places

HOME = "España"
# The general FAQ answers this module can replace with a destination's own.
SHIPPING_KEYS = ("faq/shipping_cost", "faq/shipping_time", "faq/international_shipping")
# Countries inside the EU customs union: no import duties on delivery.
EU_COUNTRIES = frozenset({"España", "Portugal", "Francia", "Italia", "Alemania"})
_PREPOSITIONS = frozenset({"a", "al", "para", "hasta", "hacia", "en"})
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
        return self.zone == "islands" and self.region != "Illes Balears"


RESPONSES = {"mainland": "utter_shipping_to_mainland", "islands": "utter_shipping_to_islands",
             "international": "utter_shipping_to_country"}


def destination_variables(destination: Destination, customs_text: str) -> dict:
    """The {placeholders} of a destination's answer besides the policy's slots."""
    extra = ""
    if destination.customs_apply:
        extra = f" {customs_text.rstrip('.')}."
    elif destination.local_tax_applies:
        extra = " Allí la aduana puede cobrar el IGIC o el IPSI al recibir el paquete."
    return {"destination": destination.name, "destination_note": extra}


def destination_in(text: str, table: Optional[PlaceTable] = None) -> Optional[Destination]:
    """The first town, province, island or served country named after a
    preposition; None when there is none the table knows."""
    table = table or load_places()
    words = _WORD.findall(text or "")
    for start, word in enumerate(words):
        if word.lower() not in _PREPOSITIONS:
            continue
        for size in range(min(4, len(words) - start - 1), 0, -1):
            phrase = " ".join(words[start + 1:start + 1 + size])
            if fold(phrase) in _NOT_A_DESTINATION:
                continue
            country = table.country(phrase)
            if country and country != HOME:
                return Destination(country, country, "international")
            place = table.place(HOME, phrase, fuzzy=len(fold(phrase)) >= 5)
            if place is not None:
                # a town by its name; a province or island as the shopper wrote it ("Tenerife")
                name = place.name if place.is_town else _title(phrase)
                return Destination(name, HOME, place.region.zone, place.region.name)
    return None


def _title(phrase: str) -> str:
    small = {"de", "del", "la", "las", "los", "el", "y"}
    return " ".join(w if w.lower() in small and i else w[:1].upper() + w[1:] for i, w in enumerate(phrase.split()))
