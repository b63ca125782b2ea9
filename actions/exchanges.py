"""Exchanges (another size or colour instead of a refund), as plain rules.

Why a module of its own without rasa: the same words decide whether a
return_request is an exchange and which size or colour is wanted, in the
form's validation and in its submit action, and they are tested alone.

Limits: sizes are shoe/jean numbers (30-50) and letter sizes XXS-XXL; colours
are the common ones; "una talla más/menos" is resolved only when the item's
name carries its current size, as the shop's names do ("… (talla 40)").
The shop has no stock data here, so nothing in this module promises stock.
"""
from __future__ import annotations

import re
import unicodedata
from typing import Iterable, List, Optional, Sequence, Tuple

LETTER_SIZES = ("XXS", "XS", "S", "M", "L", "XL", "XXL")
# Feminine and plural forms map to the colour's name.
COLOURS = {
    "negro": "negro", "negra": "negro", "negros": "negro", "negras": "negro",
    "blanco": "blanco", "blanca": "blanco", "blancos": "blanco", "blancas": "blanco",
    "azul marino": "azul marino", "azul": "azul", "azules": "azul", "celeste": "celeste",
    "gris": "gris", "grises": "gris", "beige": "beige", "verde": "verde", "verdes": "verde",
    "rojo": "rojo", "roja": "rojo", "rojos": "rojo", "rojas": "rojo",
    "rosa": "rosa", "rosado": "rosa", "rosada": "rosa", "amarillo": "amarillo", "amarilla": "amarillo",
    "marron": "marrón", "cafe": "marrón", "morado": "morado", "morada": "morado", "lila": "lila",
    "naranja": "naranja", "plateado": "plateado", "dorado": "dorado",
}
_COLOUR_WORDS = "|".join(sorted((re.escape(c) for c in COLOURS), key=len, reverse=True))

_EXCHANGE = re.compile(
    r"\b(cambi\w*|canje\w*|intercambi\w*|otra talla|otro (color|numero|tamano|modelo)|"
    r"un numero mas|un numero menos|una talla (mas|menos))\b"
)
# "la quiero en talla M", "¿me lo mandan en negro?"
_WANT_OTHER = re.compile(
    r"\b(la|lo|las|los|me\s+\w+)\s+(quiero|quisiera|prefiero|necesito|mandan|mandais|envian|enviais|podrian mandar|pueden mandar)\s+en\s+"
    r"(talla|color|el|la|una|un|\d{2}\b)"
)
# "no quiero cambio, quiero mi dinero", "devolverlas, no cambiarlas": a refund.
_NOT_EXCHANGE = re.compile(
    r"\bno\s+(quiero\s+|busco\s+)?(un\s+|el\s+|ningun\s+)?cambi\w*|\bsin\s+cambi\w*|"
    r"\bprefiero\s+(el\s+|un\s+)?reembolso|\bprefiero\s+que\s+me\s+devuelvan|\bquiero\s+(el|mi)\s+dinero\b"
)
# "cambié de opinión" is no exchange.
_CHANGED_MIND = re.compile(r"\bcambi\w*\s+de\s+(opinion|idea|parecer)\b")
_SIZE_WORD = re.compile(r"\b(?:talla|numero|num|n|tall)\.?\s*(xxs|xs|s|m|l|xl|xxl|\d{2}(?:[.,]5)?)\b")
_BARE_NUMBER = re.compile(r"\b(?:por|a)\s+(?:una|un|la|el)?\s*(\d{2}(?:[.,]5)?)\b|\b(?:una|un|la|el)\s+(\d{2}(?:[.,]5)?)\b")
_BARE_LETTER = re.compile(r"\b(?:por|a)\s+(?:una|un|la|el)?\s*(xxs|xs|s|m|l|xl|xxl)\b|\b(?:una|la)\s+(xxs|xs|xl|xxl|m|l)\b")
_COLOUR = re.compile(r"\b(" + _COLOUR_WORDS + r")\b")
_BIGGER = re.compile(r"\b(una talla mas|un numero mas|mas grande|una mas grande|talla superior|talla mayor)\b")
_SMALLER = re.compile(r"\b(una talla menos|un numero menos|mas pequen\w*|mas chic\w*|talla inferior|talla menor)\b")
_CURRENT = re.compile(r"\((talla [^)]+|[^)]+)\)\s*$")
_ORDER_OR_EMAIL = re.compile(r"\S+@\S+|(?<!\d)\d{6,}(?!\d)")

RELATIVE_BIGGER = "una talla más"
RELATIVE_SMALLER = "una talla menos"


def fold(text: str) -> str:
    """Lower case without accents: how shoppers type (and mistype) it."""
    decomposed = unicodedata.normalize("NFKD", text or "")
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).lower()


def wants_exchange(texts: Iterable[str]) -> bool:
    """Whether the shopper asked for another size or colour rather than the
    money back; the last message that says either way wins."""
    decision = False
    for text in texts:
        folded = _CHANGED_MIND.sub(" ", fold(text))
        if _NOT_EXCHANGE.search(folded):
            decision = False
        elif _EXCHANGE.search(folded) or _WANT_OTHER.search(folded):
            decision = True
    return decision


def _size(value: str) -> Optional[str]:
    value = value.replace(",", ".")
    if value.upper() in LETTER_SIZES:
        return f"talla {value.upper()}"
    try:
        number = float(value)
    except ValueError:
        return None
    if 16 <= number <= 52:
        return f"talla {value}"
    return None


# "la S porfa", "quiero la S": a lone letter size after "la" at the end of a
# clause (a bare "s" elsewhere is too often something else).
_LONE_LETTER = re.compile(r"\b(?:la|una)\s+(s)\b(?=\s*(?:$|[.,;!?]|porfa|por favor|please|gracias|y\b))")
# After a size, the words that make it the one the shopper has, not the one
# wanted: "la XS me queda chica", "la 38 me está justa", "la M es muy grande".
_HAS_IT = re.compile(r"^\s*(?:ya\s+)?(?:me|le|nos|te)\s+(?:queda|quedan|quedo|quedaron|esta|estan|va|van|viene|vienen)\b"
                     r"|^\s*(?:es|era|son|eran|resulto|salio)\s+(?:muy\s+|demasiado\s+)?"
                     r"(?:chic|pequen|grande|justa|justo|ancha|ancho|estrech|larg|cort)")
# Before a size, the words that make it the wanted one: "necesito la S", "por la 39".
_WANTS_IT = re.compile(r"(?:\b(?:quiero|quisiera|necesito|prefiero|dame|deme|mandame|mandeme|enviame|envieme|"
                       r"mandenme|envienme|pasame|mejor|por|a|en)\s+(?:una\s+|un\s+|la\s+|el\s+)?(?:talla\s+|numero\s+)?)$")


def _size_mentions(text: str) -> List[Tuple[int, int, str]]:
    """(start, end, size) of every size the text names, in order."""
    found: List[Tuple[int, int, str]] = []
    for pattern in (_SIZE_WORD, _BARE_NUMBER, _BARE_LETTER, _LONE_LETTER):
        for match in pattern.finditer(text):
            group = next(i for i, g in enumerate(match.groups(), 1) if g)
            size = _size(match.group(group))
            if size and not any(s <= match.start(group) < e for s, e, _ in found):
                found.append((match.start(group), match.end(group), size))
    return sorted(found)


def parse_variant(text: str) -> Optional[str]:
    """The size or colour wanted in ``text``: 'talla 41', 'talla M', 'color
    negro', or a relative 'una talla más' / 'una talla menos'; None if none.

    When the text names two sizes, the wanted one is the one asked for
    ("por la 39", "necesito la S", "quiero la M"), never the one the shopper
    says they have ("la XS me queda chica"); else the last one named."""
    folded = _ORDER_OR_EMAIL.sub(" ", fold(text))
    if _BIGGER.search(folded):
        return RELATIVE_BIGGER
    if _SMALLER.search(folded) and not _size_mentions(folded):
        return RELATIVE_SMALLER
    sizes = [(s, e, size) for s, e, size in _size_mentions(folded) if not _HAS_IT.search(folded[e:])]
    if sizes:
        asked = [size for s, _, size in sizes if _WANTS_IT.search(folded[:s])]
        return (asked or [size for _, _, size in sizes])[-1]
    if _SMALLER.search(folded):
        return RELATIVE_SMALLER
    colours = [m for m in _COLOUR.finditer(folded) if not _HAS_IT.search(folded[m.end():])]
    if colours:
        asked_colours = [m for m in colours if _WANTS_IT.search(folded[:m.start()])]
        return f"color {COLOURS[(asked_colours or colours)[-1].group(1)]}"
    return None


def current_variant(item_name: str) -> Optional[str]:
    """The variant an item's name carries: 'Zapatillas … (talla 40)' → 'talla 40',
    'Altavoz … (negro)' → 'color negro'."""
    match = _CURRENT.search(item_name or "")
    if not match:
        return None
    label = match.group(1).strip()
    if label.lower().startswith("talla "):
        return "talla " + label[6:].strip()
    folded = fold(label)
    return f"color {COLOURS[folded]}" if folded in COLOURS else None


def resolve_variant(wanted: str, item_names: Sequence[str]) -> Optional[str]:
    """A relative wish ('una talla más') made absolute from the items' current
    size ('talla 41'); an absolute one is returned as is. None when it cannot
    be resolved (no or different current sizes, or past the last size)."""
    if wanted not in (RELATIVE_BIGGER, RELATIVE_SMALLER):
        return wanted
    step = 1 if wanted == RELATIVE_BIGGER else -1
    resolved = set()
    for name in item_names:
        current = current_variant(name)
        if not current or not current.startswith("talla "):
            return None
        value = current[6:]
        if value.upper() in LETTER_SIZES:
            index = LETTER_SIZES.index(value.upper()) + step
            if not 0 <= index < len(LETTER_SIZES):
                return None
            resolved.add(f"talla {LETTER_SIZES[index]}")
        elif value.isdigit():
            # Trousers and belts go in even sizes (38, 40…), shoes one by one.
            even = re.search(r"vaquer|pantal|cintur", fold(name)) is not None
            resolved.add(f"talla {int(value) + step * (2 if even else 1)}")
        else:
            return None
    return resolved.pop() if len(resolved) == 1 else None


def same_as_current(wanted: str, item_names: Sequence[str]) -> bool:
    """Every chosen item already is the wanted size or colour."""
    currents = [current_variant(name) for name in item_names]
    return bool(currents) and all(c is not None and fold(c) == fold(wanted) for c in currents)


def with_article(variant: str) -> str:
    """'talla 41' → 'la talla 41', 'color negro' → 'el color negro'."""
    if variant.startswith("talla "):
        return "la " + variant
    if variant.startswith("color "):
        return "el " + variant
    return variant
