"""What a damaged/wrong-item or payment report already says, as plain rules.

Why: the shopper's first message ("me llegó roto el altavoz 😡") usually is
the description; the form keeps it instead of asking "¿qué ha pasado?", and
the apology names the problem ("Siento mucho que te haya llegado roto").

Limits: keyword rules on folded text (no accents, lower case); a message
that only asks for help ("tengo un problema con un pedido") is not taken as
a description, so the form still asks for one.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

from actions.exchanges import fold

_BROKEN_ADJ = re.compile(
    r"\b(rot[oa]s?|rompid[oa]s?|quebrad[oa]s?|partid[oa]s?|rajad[oa]s?|golpead[oa]s?|abollad[oa]s?|"
    r"danad[oa]s?|estropead[oa]s?|defectuos[oa]s?|aplastad[oa]s?|manchad[oa]s?|descosid[oa]s?|"
    r"pinchad[oa]s?|agrietad[oa]s?|doblad[oa]s?)\b"
)
_BROKEN_OTHER = re.compile(
    r"\b(no (funciona|funcionan|enciende|encienden|prende|prenden|carga|cargan|suena|suenan|va|anda|andan|sirve|sirven)|"
    r"se rompio|se rompieron|vino mal|llego mal|en mal estado|tiene un defecto|viene con un defecto|defecto|"
    r"esta usad[oa]|vino usad[oa]|llego usad[oa]|roto|rota|pantalla negra)\b"
)
_WRONG = re.compile(
    r"\b(equivocad[oa]s?|incorrect[oa]s?|erroneo|erronea|otr[oa] (talla|color|modelo|producto|articulo|cosa|numero)|"
    r"distint[oa]s?|diferente|no es (el|la|lo|los|las) que (pedi|compre|encargue)|no corresponde|"
    r"(mandaron|enviaron|llego|vino|llegaron|vinieron) (otr[oa]s?|un[oa]? \w+ que no)|no es mi pedido|"
    r"no es lo que pedi|cambiad[oa])\b"
)
_MISSING = re.compile(
    r"\b(falta|faltan|faltaba|faltaban|incomplet[oa]s?|no venia|no venian|no vino|no vinieron|no trae|no traia|"
    r"vino vaci[oa]|llego vaci[oa]|caja vacia|sin (el|la|los|las) \w+|solo (llego|vino|venia))\b"
)
_PAYMENT = re.compile(
    r"\b(cobr\w+|carg\w+ (dos|2|doble)|doble (cobro|cargo)|rechaz\w+|deneg\w+|declin\w+|no (pasa|pasaba|funciona) "
    r"(la|mi) tarjeta|pago|pague|bizum|paypal|tarjeta|transferencia|importe|dinero|cargo)\b"
)
_ORDER_OR_EMAIL = re.compile(r"\S+@\S+|(?<!\d)\d{6}(?!\d)")


@dataclass(frozen=True)
class Problem:
    """kind: broken | wrong | missing | payment | generic. ``adjective`` is the
    shopper's own word for the damage ("roto", "rotas"), to echo it."""

    kind: str
    adjective: Optional[str] = None
    described: bool = False


def read_problem(text: str, form: str = "damaged_form") -> Problem:
    """The kind of problem ``text`` reports and whether it describes it."""
    folded = _ORDER_OR_EMAIL.sub(" ", fold(text))
    if form == "payment_form":
        return Problem("payment", described=bool(_PAYMENT.search(folded)) and _words(folded) >= 3)
    adjective = _BROKEN_ADJ.search(folded)
    if adjective:
        return Problem("broken", adjective.group(1), described=True)
    if _BROKEN_OTHER.search(folded):
        return Problem("broken", described=True)
    if _WRONG.search(folded):
        return Problem("wrong", described=True)
    if _MISSING.search(folded):
        return Problem("missing", described=True)
    return Problem("generic")


def _words(folded: str) -> int:
    return len(re.findall(r"[a-z]{2,}", folded))
