"""One message of a shopper split into address parts: a town alone
('sevilla', 'la ciudad es Madrid'), a postal code and town ('28013 Madrid'),
or the whole address ('C/ Mayor 5, 2ºB, 28013 Madrid, España')."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import List, Optional, Tuple

from core.addresses.places import PlaceTable, fold, load_places
from core.addresses.postcodes import find_postal_code

MAX_LENGTH = 300
# Words that start a street (Spain, Latin America, Portugal, France, Italy, Germany).
STREET_WORDS = re.compile(
    r"(?:^|[\s,(])(?:c/|c\.|calle|cl|cll|avda?\.?|avnda\.?|avenida|av\.?|paseo|p[º°]|pso|ps\.|plaza|pza\.?|plza\.?|pl\.?|"
    r"ronda|rda\.|camino|cmno\.?|cno\.|carretera|ctra\.?|crta\.?|traves[ií]a|trav\.?|trva\.|glorieta|gta\.|rambla|rbla\.?|"
    r"carrer|r[uú]a|rue|gran\s+v[ií]a|v[ií]a|viale|corso|piazza|jr\.?|jir[oó]n|pje\.|"
    r"carrera|cra\.?|kr|diagonal|transversal|boulevard|bulevar|blvd\.?|urbanizaci[oó]n|urb\.?|pasaje|"
    r"callej[oó]n|calzada|privada|cerrada|manzana|mz\.?|lote|sector|barrio|bº|colonia|col\.|"
    r"\w+(?:stra(?:ss|ß)e|str\.|weg|platz|allee))(?=[\s.,]|$)",
    re.I,
)
# Phrases before the answer itself: "la ciudad es ...", "es en ...", "vivo en ...".
LEAD_IN = re.compile(
    r"^(?:(?:pues|bueno|vale|ok|okey|s[ií]|no|ah|eh|mira|perdona?|perd[oó]n)\b[\s,.:]*)*"
    r"(?:(?:(?:la|mi|el|tu|su)\s+)?(?:nueva\s+)?(?:direcci[oó]n|calle|ciudad|localidad|poblaci[oó]n|municipio|pueblo|"
    r"c[oó]digo\s+postal|cp|domicilio)(?:\s+nuev[oa])?\s*(?:(?:es|ser[ií]a|ser[aá]|ahora\s+es|queda)\s+(?:en\s+|de\s+)?|[:=]\s*)"
    r"|(?:es|ser[ií]a)\s+(?:en\s+)?|en\s+)?",
    re.I,
)
LIVE_IN = re.compile(r"^(?:vivo|estoy|resido|me mud[eé]|me he mudado|me cambi[eé])\s+(?:en|a)\s+", re.I)
SEND_TO = re.compile(r"^(?:env[ií][ae]\w*|m[aá]nd\w*|ll[eé]v\w*|entr[eé]g\w*)\s+(?:\w+\s+)?(?:a|en)\s+", re.I)
# Words a town's name never has: an answer with them is something else.
NOT_A_PLACE = frozenset(fold(w) for w in """
    que qué quiero queria quería puedo puede pueden podria podría tienen tiene tengo tenes cuanto cuánto cuanta
    cuando cuándo como cómo donde dónde porque por para pedido pedidos envio envío envios gracias hola buenas
    buenos dias ayuda persona humano agente asesor no si vale ok okey me mi mis te tu tus su sus se le lo les
    un una unos unas es eres soy esta está estoy hay ya pero pues cual cuál cuales quien quién ahora
    calle avenida numero número codigo código postal direccion dirección piso puerta bajo izquierda derecha
    izq dcha escalera portal ático atico planta letra nada bien mal nunca siempre muy mas más menos
    cancelar cambiar devolver factura reembolso pago pagar precio coste costo entrega llega llego llegó
    favor hablar saber necesito ayudar ayudame ayúdame olvidalo olvídalo dejalo déjalo espera perdon perdón
""".split())
COUNTRY_SPLIT = re.compile(r"\s*[,;\n()/]+\s*")


@dataclass
class ParsedAddress:
    """What one message said; None = not said. ``city_known`` when the town
    is in the table (its region can then be checked)."""

    street: Optional[str] = None
    postal_code: Optional[str] = None
    city: Optional[str] = None
    region: Optional[str] = None
    country: Optional[str] = None
    city_known: bool = False

    def empty(self) -> bool:
        return not (self.street or self.postal_code or self.city or self.region or self.country)


def clean(text: str) -> str:
    """One line, no emojis or trailing punctuation, at most MAX_LENGTH."""
    text = re.sub(r"[^\w\s,.;:/'’ºª°#()\-&]", " ", str(text or ""))
    text = " ".join(text.replace("\n", ", ").split())[:MAX_LENGTH]
    return text.strip(" ,.;:-")


def strip_lead_in(text: str, table: PlaceTable, country: str) -> str:
    """'la ciudad es Madrid' -> 'Madrid'; a known name is never cut
    ('A Coruña' keeps its 'A')."""
    if table.place(country, text, fuzzy=False):
        return text
    for pattern in (LIVE_IN, SEND_TO, LEAD_IN):
        stripped = pattern.sub("", text, count=1).strip(" ,.;:-")
        if stripped and stripped != text:
            text = stripped
            if table.place(country, text, fuzzy=False):
                break
    return text


def title_es(text: str) -> str:
    """'san sebastian de los reyes' -> 'San Sebastian de los Reyes'."""
    small = {"de", "del", "la", "las", "los", "el", "y", "i", "da", "do", "dos", "das", "e", "en"}
    words = text.split()
    out = []
    for i, word in enumerate(words):
        low = word.lower()
        if i > 0 and low in small:
            out.append(low)
        elif word.isupper() and len(word) <= 4:
            out.append(word)  # CABA, CDMX, DF
        else:
            out.append("-".join(part[:1].upper() + part[1:].lower() for part in word.split("-")))
    return " ".join(out)


def is_place_shaped(text: str) -> bool:
    """Could be a town's name: letters, at most 6 words, no question, none of
    the words a town never has."""
    if not text or re.search(r"\d|[?¿@]", text) or len(text) > 60:
        return False
    words = fold(text).split()
    return 0 < len(words) <= 6 and not any(w in NOT_A_PLACE for w in words) and bool(re.search(r"[^\W\d_]{2,}", text))


def detect_country(text: str, table: PlaceTable, home: str) -> Tuple[str, Optional[str]]:
    """The text without a trailing country name, and that country (None if
    not written). 'Ciudad de México' stays a town."""
    parts = [p for p in COUNTRY_SPLIT.split(text) if p]
    if len(parts) > 1 and table.country(parts[-1]):
        country = table.country(parts[-1])
        return text[: text.rfind(parts[-1])].rstrip(" ,;()/-"), country
    words = text.split()
    for size in (3, 2, 1):
        if len(words) <= size:
            continue
        tail = " ".join(words[-size:])
        country = table.country(tail)
        if country and len(fold(tail)) > 2 and words[-size - 1].lower() not in ("de", "del") \
                and not table.place(home, " ".join(words[-size - 1:]), fuzzy=False):
            return " ".join(words[:-size]).rstrip(" ,;()/-"), country
    return text, None


def _place_parts(text: str, table: PlaceTable, country: str) -> Tuple[Optional[str], Optional[str], bool]:
    """'Getafe, Madrid' / 'Sevilla (Sevilla)' / 'Ciudad de México CDMX' ->
    (town, region, town known)."""
    parts = [p.strip() for p in re.split(r"\s*[,;()/]+\s*|\s+-\s+", text) if p.strip()]
    if not parts:
        return None, None, False
    region = None
    if len(parts) > 1:
        last = table.place(country, parts[-1])
        if last is not None:
            region = last.region.name
            parts = parts[:-1]
    town_text = " ".join(parts)
    place = table.place(country, town_text)
    if place is None and region is None:
        # "Ciudad de México CDMX", "Sevilla Sevilla": a region written after the town without a comma
        words = town_text.split()
        for size in (3, 2, 1):
            if len(words) > size:
                tail = table.place(country, " ".join(words[-size:]), fuzzy=False)
                head = table.place(country, " ".join(words[:-size]))
                if tail is not None and head is not None:
                    return head.name if head.is_town else title_es(" ".join(words[:-size])), tail.region.name, True
    if place is not None:
        name = place.name if place.is_town else title_es(town_text) if fold(town_text) != fold(place.name) else place.name
        return name, region, True
    if not is_place_shaped(town_text):
        return None, region, False
    return title_es(town_text), region, False


def _town_at_end(text: str, table: PlaceTable, country: str) -> Tuple[str, Optional[str]]:
    """'Calle Alcalá 100 2ºA Madrid' -> ('Calle Alcalá 100 2ºA', 'Madrid'):
    only a known town or region is cut off a line without commas."""
    words = text.split()
    for size in (5, 4, 3, 2, 1):
        if len(words) <= size:
            continue
        tail = " ".join(words[-size:])
        if table.place(country, tail, fuzzy=False) and re.search(r"\d|s/n", " ".join(words[:-size]), re.I):
            return " ".join(words[:-size]).rstrip(" ,"), tail
    return text, None


def looks_like_street(text: str) -> bool:
    """A street with its number: a street word or a name and then a number."""
    return bool(re.search(r"[^\W\d_]{2,}", text) and re.search(r"\d|\bs/?n\b", text, re.I)
                and (STREET_WORDS.search(text) or re.search(r"[^\W\d_]{3,}\.?\s+(?:n[º°o.]?\s*)?\d", text)))


def parse_address(text: str, country: str, table: Optional[PlaceTable] = None) -> ParsedAddress:
    """The parts written in ``text``; ``country`` is the order's destination
    (its postal-code format), unless the text names another country."""
    table = table or load_places()
    text = clean(text)
    if not text:
        return ParsedAddress()
    text = strip_lead_in(text, table, country)
    if table.country(text) and not table.place(country, text, fuzzy=False):
        return ParsedAddress(country=table.country(text))  # "España" alone is no town
    text, named_country = detect_country(text, table, country)
    parsed = ParsedAddress(country=named_country)
    home = named_country or country
    found = find_postal_code(text, home)
    street_text = text
    if found:
        parsed.postal_code = found.code
        before = text[: found.start].strip(" ,;-")
        after = text[found.end:].strip(" ,;-")
        # "28013 Madrid" / "..., 28013 Madrid (Madrid)"
        if after:
            parsed.city, parsed.region, parsed.city_known = _place_parts(after, table, home)
            street_text = before
        else:
            # "Calle Mayor 5, Madrid 28013": the town is the last part before the code
            parts = [p for p in re.split(r"\s*,\s*", before) if p]
            if parts and not re.search(r"\d", parts[-1]) and len(parts) > 1 or (len(parts) == 1 and not looks_like_street(parts[0])):
                city, region, known = _place_parts(parts[-1], table, home)
                if city:
                    parsed.city, parsed.region, parsed.city_known = city, region, known
                    parts = parts[:-1]
            if parsed.city is None and parts:
                rest, town = _town_at_end(parts[-1], table, home)
                if town:
                    parsed.city, parsed.region, parsed.city_known = _place_parts(town, table, home)
                    parts[-1] = rest
            street_text = ", ".join(parts)
    else:
        parts = [p for p in re.split(r"\s*,\s*", text) if p]
        # trailing parts without digits that name a place: town [, region]
        tail: List[str] = []
        while len(parts) > 1 and not re.search(r"\d", parts[-1]) and table.place(home, parts[-1]):
            tail.insert(0, parts.pop())
            if len(tail) == 2:
                break
        if tail:
            parsed.city, parsed.region, parsed.city_known = _place_parts(", ".join(tail), table, home)
        elif len(parts) == 1 and not looks_like_street(parts[0]):
            parsed.city, parsed.region, parsed.city_known = _place_parts(parts[0], table, home)
            if parsed.city or parsed.region:
                parts = []
        else:
            rest, town = _town_at_end(parts[-1], table, home)
            if town:
                parsed.city, parsed.region, parsed.city_known = _place_parts(town, table, home)
                parts[-1] = rest
        street_text = ", ".join(parts)
    street_text = re.sub(r"\s*,\s*$", "", street_text.strip(" ,;-"))
    if street_text and looks_like_street(street_text):
        parsed.street = street_text
    elif street_text and parsed.postal_code is None and parsed.city is None:
        parsed.street = street_text  # judged by the street check, which explains what is missing
    return parsed


def looks_like_answer(text: str, expecting: str, country: str, table: Optional[PlaceTable] = None) -> bool:
    """Whether ``text`` answers an address question (``expecting``: 'street',
    'postal_code' or 'city') whatever the NLU made of it: a postal code, a
    known town or region, a street with a number, or, when a town is asked
    for, something shaped like a town's name."""
    table = table or load_places()
    cleaned = clean(text)
    if not cleaned:
        return False
    parsed = parse_address(cleaned, country, table)
    if parsed.postal_code or parsed.city_known or parsed.country:
        return True
    if parsed.street and STREET_WORDS.search(parsed.street):
        return True
    if expecting == "city":
        return is_place_shaped(strip_lead_in(cleaned, table, country))
    return False


ORDER_REFERENCE = re.compile(r"(?:\b(?:del?\s+)?(?:mi\s+)?(?:pedido|orden|compra)\s*)?(?:n[º°o]\.?\s*)?#?(?<![\d.,])\d{6}(?![\d.,]?\d)", re.I)
EMAIL = re.compile(r"[\w.%+-]+@[\w-]+(?:\.[\w-]+)+")


# What introduces the address in a request without a street word ("… del
# pedido 845216 a Alcalá 100, 28009 Madrid", "… es 28013 Madrid").
ADDRESS_LEAD = re.compile(r"(?:\s(?:a|en|es|por|hacia)\s+|:\s*)(?=\S)", re.I)
# A sentence after the address that is no part of it ("… 28013 Madrid. Mi email es …").
TRAILING_CLAUSE = re.compile(
    r"[.!?;]\s+(?:mi|mis|su|sus|tu|tus|el|gracias|muchas|por\s+favor|un\s+saludo|saludos|email|correo|porque|pero|"
    r"ya|os|les|me|te|y\s+mi|es\s+urgente)\b.*$|(?:\s*,\s*|\s+)(?:por favor|porfa|gracias|es urgente|urgente)\b.*$",
    re.I,
)


def address_in_request(text: str) -> Optional[str]:
    """The address inside a request ('cambiad la dirección del pedido
    845216 a calle Sol 3, 29001 Málaga'): from the street's first word on (or,
    without one, from what introduces it: 'a Alcalá 100, 28009 Madrid',
    'a 28013 Madrid'), without the order number, an email or a sentence after
    it; None when it holds no street with its number and no postal code."""
    text = clean(EMAIL.sub(" ", ORDER_REFERENCE.sub(" ", str(text or ""))))
    text = re.sub(r"(?:\s*,\s*)+(?=,|$)", "", text)
    match = STREET_WORDS.search(text)
    if match:
        found = text[match.start():]
    else:
        leads = list(ADDRESS_LEAD.finditer(text))
        with_digits = [m for m in leads if re.search(r"\d", text[m.end():])]
        if not with_digits:
            return None
        found = text[with_digits[-1].end():]
    found = TRAILING_CLAUSE.sub("", found.strip(" ,;:")).strip(" ,;:.")
    if match:
        return found if looks_like_street(found) else None
    # without a street word only with a postal code ("me mudo el día 5" is no address)
    if not re.search(r"(?<![\d.,])[A-Za-z]?\d{4,7}[A-Za-z]{0,3}\b", found) or not re.search(r"[^\W\d_]{3,}", found):
        return None
    return found  # a street with its number, or a postal code and a town (the street is asked)


# A floor, door or staircase after the street's number ("1ºA", "2º izquierda", "bajo B", "puerta 3").
_FLOOR = (r"(?:\d{1,2}\s*[ºª°](?:\s*[a-z]\b)?|\d{1,2}\s*[a-z]\b|bajo(?:\s+[a-z]\b)?|entresuelo|[aá]tico|"
          r"izq(?:uierda|da)?\.?|dcha\.?|derecha|centro|"
          r"(?:piso|puerta|pta\.?|esc(?:alera)?\.?|portal|bloque|planta|casa|depto\.?|dpto\.?|letra)\s*\w{1,3}\b)")
_STREET_SPAN = re.compile(
    STREET_WORDS.pattern + r"[\s.,]*[^\d!?¡¿\n]{0,60}?(?:\d+[a-zºª°]?\b|\bs/?n\b)(?:\s*[,-]?\s*" + _FLOOR + r")*",
    re.I,
)
_POSTAL_PART = re.compile(r"^(?:c\.?\s?p\.?:?\s*)?[a-z]?\d{4,5}(?:-\d{3})?[a-z]{0,3}\b(.*)$", re.I)
_FLOOR_PART = re.compile(r"^(?:" + _FLOOR + r"\s*)+$", re.I)


def without_address(text: str, country: str = "España", table: Optional[PlaceTable] = None) -> str:
    """``text`` without the address written in it: each street with its
    number and floor ("Avda. de la Constitución 5, 1ºA"), a postal code with
    its town ("41004 Sevilla"), a floor or a known place alone. What is left
    is what the shopper said besides the address (read for frustration, so
    "Calle de la Paciencia 4" or "AVDA. …" in capitals is no sign of it)."""
    text = str(text or "")
    masked = _STREET_SPAN.sub(" , ", text)
    found = masked != text
    parts = re.split(r"([,;\n])", masked)
    kept: List[str] = []
    for part in parts:
        stripped = part.strip(" .")
        postal = _POSTAL_PART.match(stripped)
        if postal and (not postal.group(1).strip() or is_place_shaped(postal.group(1).strip(" ,.()"))):
            found = True
            continue
        if stripped and _FLOOR_PART.match(stripped) and found:
            continue
        kept.append(part)
    if not found:
        return text
    table = table or load_places()
    rest = []
    for part in kept:
        stripped = part.strip(" .()")
        if stripped and (table.place(country, stripped, fuzzy=False) or table.country(stripped)):
            continue
        rest.append(part)
    return re.sub(r"(?:\s*[,;]\s*)+", ", ", "".join(rest)).strip(" ,;")
