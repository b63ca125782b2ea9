"""Addresses as shoppers write them: a plain package (no rasa, no rasa_sdk)
used by the address-change form (actions/address.py).

- ``places``: the postal-region table (data/store/postal_regions.yml), town,
  region and country names however they are typed.
- ``postcodes``: postal-code formats per country, and the region and
  shipping zone a code belongs to.
- ``parser``: one message (a town, "28013 Madrid", a whole address) split
  into its parts.
- ``draft``: the parts gathered so far, merged with a new answer and checked
  (postal code against town/region, country, shipping zone).
"""
from core.addresses.draft import AddressDraft, Check, check_draft, merge_answer
from core.addresses.parser import ParsedAddress, looks_like_answer, parse_address
from core.addresses.places import PlaceTable, fold, load_places
from core.addresses.postcodes import find_postal_code, normalize_postal_code, postal_hint

__all__ = [
    "AddressDraft", "Check", "check_draft", "ParsedAddress", "PlaceTable", "find_postal_code", "fold",
    "load_places", "looks_like_answer", "merge_answer", "normalize_postal_code", "parse_address",
    "postal_hint",
]
