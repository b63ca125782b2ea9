"""Postal codes per destination country: the format, where a code sits in
a longer message, and the shipping zone it belongs to."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple

from core.addresses.places import PlaceTable, load_places
from core.errors import InvalidPostalCode

# Format per destination country: (pattern, hint for the shopper). The
# patterns see the code upper-cased, spaces removed (Portugal: "1000 205" is
# read as "1000-205").
POSTAL_CODES: Dict[str, Tuple[str, str]] = {
    "España": (r"(?:0[1-9]|[1-4]\d|5[0-2])\d{3}", "son 5 cifras y empiezan por 01 a 52, por ejemplo 28013"),
    "Portugal": (r"\d{4}-\d{3}", "tiene el formato 1000-205"),
    "Francia": (r"\d{5}", "son 5 cifras, por ejemplo 75001"),
    "Italia": (r"\d{5}", "son 5 cifras, por ejemplo 00184"),
    "Alemania": (r"\d{5}", "son 5 cifras, por ejemplo 10115"),
    "México": (r"\d{5}", "son 5 cifras, por ejemplo 06700"),
    "Argentina": (r"(?:[A-Z]\d{4}(?:[A-Z]{3})?|\d{4})", "tiene el formato C1425ABC o 4 cifras"),
    "Colombia": (r"\d{6}", "son 6 cifras, por ejemplo 110111"),
    "Chile": (r"\d{7}", "son 7 cifras, por ejemplo 8320000"),
    "Perú": (r"\d{5}", "son 5 cifras, por ejemplo 15074"),
}
DEFAULT_POSTAL = (r"[A-Z0-9][A-Z0-9-]{2,9}", "escríbelo tal como aparece en tu dirección")
# What shoppers put before a postal code.
CP_PREFIX = r"(?:c\.?\s*p\.?|c[oó]d(?:igo|\.)?\s+postal|cod\.?\s*postal|zip)\s*[:.\-]?\s*"
# Codes inside a message, per country (digits not glued to other digits).
IN_TEXT: Dict[str, str] = {
    "Portugal": r"(?<![\d-])\d{4}\s?-\s?\d{3}(?![\d-])|(?<![\d-])\d{4}\s\d{3}(?![\d-])",
    "Argentina": r"(?<![A-Za-z\d])[A-Za-z]\d{4}(?:[A-Za-z]{3})?(?![A-Za-z\d])|(?<![\d/#-])\d{4}(?![\d/-])",
    "Colombia": r"(?<![\d-])\d{6}(?![\d-])",
    "Chile": r"(?<![\d-])\d{7}(?![\d-])|(?<![\d-])\d{3}\s\d{4}(?![\d-])",
}
FIVE_DIGITS = r"(?<![\d/#-])\d{5}(?![\d/-])"


def postal_hint(country: str) -> str:
    return POSTAL_CODES.get(country, DEFAULT_POSTAL)[1]


def normalize_postal_code(value: Any, country: str) -> str:
    """The code in ``value`` written the country's way ('cp 08001' -> '08001',
    'c1425abc' -> 'C1425ABC', '1000 205' -> '1000-205');
    ``InvalidPostalCode`` (with the format hint) otherwise."""
    text = re.sub(rf"^\s*{CP_PREFIX}", "", str(value or "").strip(), flags=re.I)
    text = re.sub(r"[\s.]+$", "", text.upper().strip())
    pattern, hint = POSTAL_CODES.get(country, DEFAULT_POSTAL)
    if country == "Portugal":
        text = re.sub(r"^(\d{4})\s*-?\s*(\d{3})$", r"\1-\2", text)
    else:
        text = text.replace(" ", "")
    if not re.fullmatch(pattern, text):
        raise InvalidPostalCode("bad postal code", country=country, postal_code_hint=hint)
    return text


@dataclass(frozen=True)
class FoundCode:
    """A postal code found inside a message, and where."""

    code: str
    start: int
    end: int


def find_postal_code(text: str, country: str) -> Optional[FoundCode]:
    """The postal code written inside ``text`` (a whole address, "28013 Madrid",
    "cp 41001"), or None. A code after "CP" wins; otherwise the last
    candidate that is not the house number (the first number after the
    street's name, e.g. Argentina's 4-digit codes)."""
    explicit = re.search(rf"{CP_PREFIX}([A-Za-z]?\d[\dA-Za-z -]{{2,9}}\d|[A-Za-z]\d{{4}}[A-Za-z]{{3}})", text, re.I)
    if explicit:
        try:
            code = normalize_postal_code(explicit.group(1), country)
            return FoundCode(code, explicit.start(), explicit.end())
        except InvalidPostalCode:
            pass
    pattern = IN_TEXT.get(country, FIVE_DIGITS)
    candidates = []
    for match in re.finditer(pattern, text):
        try:
            candidates.append(FoundCode(normalize_postal_code(match.group(0), country), match.start(), match.end()))
        except InvalidPostalCode:
            continue
    if country == "Argentina":
        # a bare 4-digit number right after the street's name is its house number
        candidates = [c for c in candidates if not (
            c.code.isdigit() and re.search(r"[^\W\d_]{2,}\.?\s*$", text[:c.start]) and not re.search(r"[,\n]", text[:c.start])
        )]
    return candidates[-1] if candidates else None


def shipping_zone(country: str, postal_code: str, table: Optional[PlaceTable] = None) -> str:
    """'mainland', 'islands' (policy.yml islands_*: Baleares, Canarias, Ceuta
    and Melilla, the regions with ``zone: islands`` in postal_regions.yml) or
    'international': the zone whose shipping price and time apply."""
    if country != "España":
        return "international"
    region = (table or load_places()).region_of(country, postal_code)
    return region.zone if region is not None else "mainland"
