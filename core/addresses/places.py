"""Town, region and country names as shoppers type them (any case, with or
without accents, small typos), looked up in the postal-region table
data/store/postal_regions.yml (its header documents the format)."""
from __future__ import annotations

import difflib
import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import yaml

TABLE_FILE = Path(__file__).resolve().parents[2] / "data" / "store" / "postal_regions.yml"
# A typo is forgiven only in names this long, and only this close (difflib ratio).
FUZZY_MIN_LENGTH = 5
FUZZY_CUTOFF = 0.82


def fold(text: str) -> str:
    """Lower case, no accents, no dots or apostrophes, hyphens as spaces:
    the form in which 'L'Hospitalet', 'lhospitalet' and 'L’HOSPITALET' meet."""
    text = unicodedata.normalize("NFKD", str(text)).encode("ascii", "ignore").decode()
    text = re.sub(r"[.'’`´]", "", text.lower())
    text = re.sub(r"[^a-z0-9]+", " ", text)
    return " ".join(text.split())


@dataclass(frozen=True)
class Region:
    """A province / state / department: postal codes start with a prefix."""

    country: str
    name: str
    prefixes: Tuple[str, ...]
    zone: str = "mainland"

    def owns(self, postal_code: str) -> bool:
        code = postal_code.upper()
        return any(code.startswith(prefix) for prefix in self.prefixes)


@dataclass(frozen=True)
class Place:
    """A known name: a town (``is_town``) or a region's own name."""

    name: str
    region: Region
    is_town: bool


@dataclass
class Country:
    name: str
    aliases: Tuple[str, ...]
    regions: List[Region] = field(default_factory=list)
    # folded name -> place; towns first, so "Valencia" is the town
    places: Dict[str, Place] = field(default_factory=dict)


class PlaceTable:
    """The table, indexed for look-ups by folded name."""

    def __init__(self, data: Dict[str, dict]) -> None:
        self.countries: Dict[str, Country] = {}
        self._country_names: Dict[str, str] = {}
        for name, spec in data.items():
            country = Country(name=name, aliases=tuple(spec.get("aliases") or ()))
            for alias in (name, *country.aliases):
                self._country_names[fold(alias)] = name
            for row in spec.get("regions") or ():
                region = Region(country=name, name=row["name"], prefixes=tuple(str(p).upper() for p in row["prefixes"]),
                                zone=row.get("zone", "mainland"))
                country.regions.append(region)
                for town in row.get("cities") or ():
                    country.places.setdefault(fold(town), Place(town, region, True))
            for region, row in zip(country.regions, spec.get("regions") or ()):
                for alias in (row["name"], *(row.get("aliases") or ())):
                    country.places.setdefault(fold(alias), Place(row["name"], region, False))
            self.countries[name] = country

    def country(self, text: str) -> Optional[str]:
        """The canonical country name ('mexico' -> 'México'), or None."""
        return self._country_names.get(fold(text))

    def country_names(self) -> Sequence[str]:
        return tuple(self._country_names)

    def place(self, country: str, text: str, fuzzy: bool = True) -> Optional[Place]:
        """A town or region of ``country`` called ``text``; a small typo is
        forgiven in longer names ('Sevila' -> Sevilla)."""
        known = self.countries.get(country)
        key = fold(text)
        if known is None or not key:
            return None
        if key in known.places:
            return known.places[key]
        if fuzzy and len(key) >= FUZZY_MIN_LENGTH:
            close = difflib.get_close_matches(key, list(known.places), n=1, cutoff=FUZZY_CUTOFF)
            if close:
                return known.places[close[0]]
        return None

    def region_of(self, country: str, postal_code: str) -> Optional[Region]:
        """The region whose (longest) prefix starts ``postal_code``."""
        known = self.countries.get(country)
        if known is None:
            return None
        owners = [r for r in known.regions if r.owns(postal_code)]
        return max(owners, key=lambda r: max(len(p) for p in r.prefixes if postal_code.upper().startswith(p)),
                   default=None)


@lru_cache(maxsize=4)
def load_places(path: Optional[str] = None) -> PlaceTable:
    """The table, read once per process (restart the action server after editing it)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: 10x faster
    with open(path or TABLE_FILE, encoding="utf-8") as handle:
        return PlaceTable(yaml.load(handle, Loader=loader))
