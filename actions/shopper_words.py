"""What a shopper already said that answers a form's question before it is
asked: the item(s) of the order they named, and why they return them.
Plain rules (no rasa, no rasa_sdk), used by the return form.

Why: "quiero devolver las zapatillas del pedido 100234 porque me quedan
pequeñas" must not be answered with "¿Qué artículos quieres devolver?" and
"¿Por qué lo devuelves?". An item is taken only when the words match the
order's items unambiguously (two pairs of "zapatillas" and no word telling
which: the question is asked).
"""
from __future__ import annotations

import re
from typing import Dict, Iterable, List, Optional, Sequence, Set

from actions.exchanges import COLOURS, fold
from core.goodbyes import GOODBYE

# Words of item names that tell nothing apart.
_FILLER = frozenset("de del la el los las con para y en sin talla pack outlet".split())
_BOTH = re.compile(r"\b(los dos|las dos|ambos|ambas|todos|todas|las tres|los tres)\b")
_ORDER_OR_EMAIL = re.compile(r"\S+@\S+|(?<!\d)\d{6,}(?!\d)")
_WORD = re.compile(r"[a-z0-9]+")


def _forms(word: str) -> Set[str]:
    """A word, its singulars and its colour: 'zapatillas' → zapatilla,
    'auriculares' → auricular, 'negras' → negro."""
    forms = {word}
    if word in COLOURS:
        forms.add(fold(COLOURS[word]))  # 'negra' is the item '(negro)'
    if word.endswith("es") and len(word) > 4:
        forms.add(word[:-2])
    if word.endswith("s") and len(word) > 3:
        forms.add(word[:-1])
    return forms


def _words(text: str) -> Set[str]:
    found: Set[str] = set()
    for word in _WORD.findall(fold(_ORDER_OR_EMAIL.sub(" ", text))):
        found |= _forms(word)
    return found


def _tokens(name: str) -> List[str]:
    return [w for w in _WORD.findall(fold(name)) if w not in _FILLER]


def items_mentioned(texts: Iterable[str], names: Sequence[str]) -> Optional[List[int]]:
    """Indexes of the items (by ``names``) the shopper named in ``texts``, or
    None when no item is named or the words fit several items of the same
    kind without telling which ("las zapatillas" of an order with two pairs;
    "las dos zapatillas" takes both)."""
    joined = " ".join(texts)
    said = _words(joined)
    groups: Dict[str, List[int]] = {}
    for index, name in enumerate(names):
        tokens = _tokens(name)
        if not tokens or len(tokens[0]) < 4 or not (_forms(tokens[0]) & said):
            continue
        head = min(_forms(tokens[0]), key=len)
        groups.setdefault(head, []).append(index)
    if not groups:
        return None
    chosen: List[int] = []
    for indexes in groups.values():
        if len(indexes) == 1:
            chosen += indexes
            continue
        token_sets = {i: {f for t in _tokens(names[i])[1:] for f in _forms(t)} for i in indexes}
        shared = set.intersection(*token_sets.values())
        told = [i for i in indexes if (token_sets[i] - shared) & said]
        if told:
            chosen += told
        elif _BOTH.search(fold(joined)):
            chosen += indexes
        else:
            return None
    return sorted(set(chosen))


# Kinds of product a shopper of this shop names («una camiseta», «las botas»),
# singular and folded: enough to tell that the words are about another item.
PRODUCT_KINDS = frozenset(
    "camiseta camisa blusa top pantalon vaquero short falda vestido mono sudadera jersey chaqueta cazadora abrigo "
    "parka chaleco zapatilla zapato bota botin sandalia chancla bolso mochila cartera cinturon gorra gorro bufanda "
    "guante calcetin pijama bikini banador funda cargador cable altavoz auricular reloj gafa lampara manta cojin "
    "toalla sabana taza tetera botella".split())


def names_another_kind(texts: Iterable[str], names: Sequence[str]) -> bool:
    """Whether the texts name a kind of product («una camiseta») that none of
    ``names`` is (an exchange asked right after a return may be of another
    item than the returned one)."""
    said = _words(" ".join(texts))
    named = {kind for name in names for token in _tokens(name) for kind in _forms(token) if kind in PRODUCT_KINDS}
    return bool((said & PRODUCT_KINDS) - named)


# Why an item goes back, in the return form's reason keys (formatting.RETURN_REASON_LABELS).
_REASONS = (
    ("talla", re.compile(
        r"\b(me|le|nos)\s+(queda|quedan|quedaba|quedaban|viene|vienen|va|van)\s+(muy\s+|un poco\s+|algo\s+|demasiado\s+)?"
        r"(pequen|grand|chic|estrech|apretad|ancho|ancha|holgad|larg|cort|justo|justa|mal)\w*"
        r"|\bno\s+(me|le)\s+(queda|quedan|vale|valen|entra|entran|cabe|caben)\b"
        r"|\b(no\s+(es|era)\s+mi\s+talla|talla\s+(equivocada|incorrecta|erronea|pequena|grande)|me\s+equivoque\s+de\s+talla)")),
    ("no_esperado", re.compile(
        r"\bno\s+(es|era|son|eran)\s+(lo\s+que|como)\s+(esperaba|pensaba|imaginaba|en\s+las\s+fotos|en\s+la\s+foto)"
        r"|\bno\s+me\s+(gusta|gustan|convence|convencen)\b|\bno\s+se\s+parece\b")),
    ("ya_no_lo_quiero", re.compile(
        r"\bya\s+no\s+(lo|la|los|las)\s+(quiero|necesito)\b|\bya\s+no\s+me\s+hace\s+falta\b"
        r"|\bcambie\s+de\s+(opinion|idea)\b|\bme\s+(he\s+)?arrepenti\w*")),
    ("tarde", re.compile(r"\b(llego|llegaron|ha\s+llegado|han\s+llegado)\s+(muy\s+|demasiado\s+)?(tarde|con\s+retraso)\b")),
)


def reason_in(texts: Iterable[str]) -> Optional[str]:
    """The return reason the shopper gave ('talla', 'no_esperado',
    'ya_no_lo_quiero', 'tarde'), the latest message first; None if none."""
    for text in reversed(list(texts)):
        folded = fold(text)
        for key, pattern in _REASONS:
            if pattern.search(folded):
                return key
    return None


# How many units of one line: numbers as shoppers write them.
_NUMBERS = {"un": 1, "una": 1, "uno": 1, "dos": 2, "tres": 3, "cuatro": 4, "cinco": 5, "seis": 6,
            "siete": 7, "ocho": 8, "nueve": 9, "diez": 10}
_NUMBER = r"(\d{1,2}|" + "|".join(_NUMBERS) + r")"
_ALL_UNITS = re.compile(r"\b(todas|todos|todo|all)\b")
_UNITS_WORD = re.compile(r"^(unidad|unidades|pieza|piezas|ud|uds)$")


def _number(word: str) -> Optional[int]:
    return int(word) if word.isdigit() else _NUMBERS.get(word)


def units_said(texts: Iterable[str], name: str, available: int) -> Optional[int]:
    """The units of the item ``name`` the shopper said, among ``available``:
    "devolver 2 camisetas", "una de las camisetas", "dos unidades", "las
    tres", "todas" (all of them). None when the words do not say it: "la
    camiseta" of a line of three is one, or three, and is asked; a number
    above ``available`` is asked too. Limits: one line at a time; for several
    lines of several units the words are read for each (a number next to its
    item's word)."""
    tokens = _tokens(name)
    heads = _forms(tokens[0]) if tokens else set()
    found: Optional[int] = None
    for text in texts:
        words = _WORD.findall(fold(_ORDER_OR_EMAIL.sub(" ", text)))
        for i, word in enumerate(words):
            n = _number(word)
            if n is None:
                continue
            rest = words[i + 1:i + 4]
            # "2 camisetas", "una de las camisetas", "dos unidades"
            noun = rest[2] if rest[:2] in (["de", "las"], ["de", "los"], ["de", "mis"]) and len(rest) > 2 else (
                rest[0] if rest else "")
            article = words[i - 1] if i else ""
            if noun and (_forms(noun) & heads or _UNITS_WORD.match(noun)):
                found = n
            elif article in ("las", "los") and n >= 2 and not (rest and rest[0] == "de"):
                found = n  # "las tres", "los dos"
        if _ALL_UNITS.search(" ".join(words)):
            found = available
    return found if found is not None and 1 <= found <= available else None


def units_answer(text: str, available: int) -> Optional[int]:
    """The answer to «¿Cuántas unidades…? Tienes 3.»: "1", "una", "dos
    unidades", "las dos", "todas" (all); None if it gives no number in 1..available."""
    folded = fold(text)
    if _ALL_UNITS.search(folded):
        return available
    numbers = [n for n in (_number(w) for w in _WORD.findall(folded)) if n is not None]
    if len(numbers) == 1 and 1 <= numbers[0] <= available:
        return numbers[0]
    return None


__all__ = ["items_mentioned", "reason_in", "units_answer", "units_said"]



# The whole message lets the task go ("déjalo", "olvídalo", "ya no hace falta").
_LET_GO = re.compile(
    r"^(?:(?:ok|vale|bueno|pues|no|nada|mejor|gracias|ya)\W+)*"
    r"(dejalo|dejelo|dejalo estar|olvidalo|olvidelo|olvidate|olvidese|da igual|no importa|"
    r"ya no hace falta|no hace falta|dejemoslo|lo dejamos|dejalo asi)"
    r"(?:\W+(?:gracias|vale|ok|pues|ya|mejor|de momento|por ahora|entonces))*\W*$"
)
_DATA = re.compile(r"\d|@")


def says_goodbye(text: str, intent: Optional[str]) -> bool:
    """The shopper leaves: a goodbye, or thanks with a goodbye ("ok gracias
    chao"). Plain thanks ("gracias") is no goodbye, and a message that also
    gives a number or an email is an answer."""
    folded = " ".join(fold(text).split())
    if _DATA.search(folded):
        return False
    return intent == "goodbye" or (
        intent in ("thank", "affirm", "deny", "nlu_fallback") and bool(GOODBYE.search(folded))
    )


def lets_it_go(text: str) -> bool:
    """The whole message drops what was being asked: 'déjalo', 'olvídalo,
    gracias', 'ya no hace falta'."""
    return bool(_LET_GO.match(" ".join(fold(text).split())))


# The shopper drops the change being confirmed: "no quiero cambiarla", "déjala
# como está", "mejor no" (a plain "no" to a read-back asks what to correct).
_DROP_CHANGE = re.compile(
    r"^(?:(?:no|vale|bueno|pues|gracias|ya)\W+)*(?:"
    r"(?:ya\s+)?no\s+(?:lo\s+|la\s+)?quiero(?:\s+(?:cambiar\w*|modificar\w*|nada|hacerlo|el\s+cambio))?(?:\s+nada)?"
    r"|no\s+(?:la|lo)\s+cambi\w+|no\s+cambi(?:es|e|eis|en)\s+nada|mejor\s+no|mejor\s+lo\s+dejamos"
    r"|dej\w*\s+(?:la|lo)?\s*(?:como\s+est[aá]|asi)|mant\w*\s+la\s+(?:direccion\s+)?(?:original|de\s+antes|actual)"
    r")(?:\W+(?:gracias|vale|ok|pues|ya|mejor|de momento|por ahora|entonces))*\W*$"
)


def drops_the_change(text: str) -> bool:
    """The whole message ends the change asked about: 'déjalo', 'olvídalo',
    'no quiero cambiarla', 'mejor no', 'déjala como está'."""
    folded = " ".join(fold(text).split())
    return lets_it_go(text) or bool(_DROP_CHANGE.match(folded))


# The shopper cannot give the order number: "no sé el número", "no lo tengo",
# "no lo encuentro", "no me acuerdo del número de pedido", "ni idea".
_NO_NUMBER = re.compile(
    r"^(?:(?:pues|es que|uf+|ay|la verdad|perdona|lo siento|no)\W+)*(?:"
    r"no\s+(?:lo\s+|la\s+)?(?:se|sabria|tengo|encuentro|localizo|recuerdo|veo)"
    r"|no\s+me\s+(?:acuerdo|lo\s+se|sale|llego|llega)"
    r"|ni\s+idea|no\s+tengo\s+ni\s+idea|lo\s+he\s+perdido|lo\s+borre|no\s+tengo\s+(?:el\s+)?(?:correo|email|mail))"
    r"(?:\W+.*)?$"
)
_NO_IDEA = re.compile(r"^(?:pues\W+)?no\s+(?:lo\s+)?se\W*$")  # a bare "no sé" to the number question


def lacks_order_number(text: str) -> bool:
    """The whole message says the shopper does not have or know the order
    number ("no sé el número", "no lo encuentro", "ni idea"); a message with
    digits or an email is an answer."""
    folded = " ".join(fold(text).split())
    if _DATA.search(folded) or len(folded) > 120:
        return False
    return bool(_NO_NUMBER.match(folded) or _NO_IDEA.match(folded))


# The shopper points at the order already spoken of: "ese pedido", "el mismo",
# "el de antes", "este pedido", "el que te dije".
_SAME_ORDER = re.compile(
    r"\b(?:(?:ese|este)\s+(?:mismo\s+)?pedido|ese\s+mismo|d?el\s+mismo(?:\s+pedido)?|d?el\s+(?:pedido\s+)?de\s+antes"
    r"|d?el\s+(?:pedido\s+)?que\s+(?:te\s+)?(?:he\s+)?(?:dije|dicho|di|pase|mencione|consulte)|ese\s+que\s+te)"
)


def names_the_same_order(text: str) -> bool:
    return bool(_SAME_ORDER.search(" ".join(fold(text).split())))


# "ok", "vale", "perfecto, gracias": the shopper took an answer in (not a "sí" to a step).
_ACKNOWLEDGEMENT = re.compile(
    r"^\W*(?:ok+(?:ay|ey|is)?|vale|perfecto|genial|entendido|de acuerdo|bien|listo|dale|ah+|ya|okk?)"
    r"(?:\W+(?:ok+|vale|gracias|perfecto|genial|entendido))*[\W\s]*$", re.I)


def acknowledges(text: str) -> bool:
    """The whole message only takes an answer in: «ok», «vale, gracias», «ok 👍»."""
    return bool(_ACKNOWLEDGEMENT.match(text or ""))
