"""What kind of question the bot cannot answer, so its honest "no lo sé"
fits the question (plain rules, no Rasa).

Why: one generic answer ("…si es sobre un producto, una persona te lo
mira") read oddly after "¿tenéis tienda física en Madrid?" or "¿cómo
contacto con Movistar?", and offered a person where none can help (the
weather). Each kind has its own answer in the domain:
- ``physical_store``: the store's own fact (``online_only`` in the policy);
- ``product``: sizes, stock, materials, compatibility: a person can look;
- ``other_company``: another company's order or account: ask them;
- ``business``: jobs, suppliers, wholesale, collaborations: the contact email;
- ``laughter``: "jajaja", "xD": no question at all, so no "no lo sé";
- ``general``: anything else, without the offer of a person.
Limits: keyword rules on the accent-folded text, checked in that order; a
question mixing kinds gets the first. The classifier already decided that
the message is out of scope; this only picks the wording.
"""
from __future__ import annotations

import re
import unicodedata
from typing import Sequence

PHYSICAL_STORE = "physical_store"
PRODUCT = "product"
OTHER_COMPANY = "other_company"
BUSINESS = "business"
GENERAL = "general"
LAUGHTER = "laughter"
_LAUGHTER = re.compile(r"^\W*(?:(?:ja|je|ji|jo|ha|he|ah|aj|ej)+[jah]*|x+d+|lol|lmao|😂|🤣|😅|😆|😄|😁|\s|[!.¡])+\W*$")

_PHYSICAL = re.compile(
    r"\b(tiendas? fisicas?|locale?s? fisicos?|puntos? de venta|showroom|exposicion al publico|"
    r"tienen tienda|teneis tienda|tienes tienda|hay (alguna )?tienda|(una|alguna) tienda en|"
    r"ir a (ver|probar)|probarme|pasar(me)? por (la|su|vuestra) tienda|"
    r"recog\w* (\w+ ){0,3}en (la |una |su |vuestra )?tienda|recogida en tienda|click (and|&) collect|"
    r"pasar(me)? a (buscar|recoger)|ir (yo )?a (buscar|recoger)|recogerlo yo|"
    r"oficinas?\b|\bsede\b|(su|vuestro) almacen|ubicad[oa]s|ubicacion de (la|su|vuestra) tienda|"
    r"(donde|en que calle) (queda|esta|estan|tienen) (la |su |vuestra |sus )?(tienda|local|oficina|sede))")
_BUSINESS = re.compile(
    r"\b(trabaj(o|ar) (con|en|para) (ustedes|vosotros|la tienda)|busc(o|a|an|ais|ando) (trabajo|personal|gente|empleados)|"
    r"ofertas? de trabajo|empleo|vacante|curriculum|cv\b|contrat|becari|"
    r"practicas|proveedor|distribuidor|mayorista|al por mayor|franquicia|afiliad|colabora|patrocin|influencer|"
    r"prensa|periodista|inversor|socio)")
_PRODUCT = re.compile(
    r"\b(talla|tallan|tallaje|calzo|stock|agotad|repon|quedan?\b|material|tela|algodon|medidas?|mide|pesa|"
    r"color(es)?|compatible|funciona con|sirve para|bateria|garantiza que|lavadora|encoge|destine|"
    r"recomiend|que me compro|regalar|mas vendido|popular|precio de|cuanto cuesta (el|la|los|las) (?!envio)|"
    r"catalogo|modelo|marca)")


def fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def off_topic_kind(text: str, companies: Sequence[str] = ()) -> str:
    """The kind of an out-of-scope question (see the module docstring)."""
    folded = fold(text)
    if _LAUGHTER.match(folded):
        return LAUGHTER
    if _PHYSICAL.search(folded):
        return PHYSICAL_STORE
    if companies:
        return OTHER_COMPANY
    if _BUSINESS.search(folded):
        return BUSINESS
    if _PRODUCT.search(folded):
        return PRODUCT
    return GENERAL


__all__ = ["BUSINESS", "GENERAL", "LAUGHTER", "OTHER_COMPANY", "PHYSICAL_STORE", "PRODUCT", "off_topic_kind"]
