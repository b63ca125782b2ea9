"""Whether a queued shopper's text asks to stop waiting for a person.

Why here, in the bridge and not in Rasa: while a conversation is queued the
bridge sends Rasa nothing (handoff/state.py), so the bridge itself must notice
"ya no hace falta" or "mejor sigo con el bot". Pure functions, no I/O.

Three answers:
- ``LEAVE``: a clear request to leave the queue ("ya no hace falta",
  "cancela la espera", "mejor sigo con el bot", "ya lo solucioné", "ya no
  importa"), or two brush-offs together ("olvídalo, ya está", "déjalo, no
  importa"), with nothing but politeness around it ("…, gracias");
- ``ASK``: a bare word that may mean the queue or something else ("cancelar"
  could be the order, "adiós" may be leaving the chat, "ya está", "no
  importa", "ya no" alone), a goodbye with only politeness around it
  ("gracias, nada más, chau", "ok, me voy"), or a leave phrase
  with more in a short message ("ya no hace falta el reembolso"): the bridge
  asks, with buttons, whether to stop waiting (the message reaches the agents
  all the same); a long message is for the agents only;
- ``None``: anything else, for the agent as before.

Limits: Spanish only, by phrase; a negation just before a phrase ("no, sí
hace falta") is not understood, hence the word limit and the ``ASK`` step for
the ambiguous words.
"""
from __future__ import annotations

import re
import unicodedata
from typing import Optional

from core.goodbyes import GOODBYE

LEAVE = "leave"
ASK = "ask"
MAX_WORDS = 10  # longer messages say more than "stop waiting": they go to the agent

_BOT = r"(?:el |la )?(?:bot|asistente(?: virtual)?|chatbot|robot|maquina)"
_LEAVE_PATTERNS = [
    r"\bya no (?:me )?(?:hace|hacen) falta\b",
    r"\bno hace falta ya\b",
    r"\bya no (?:lo |la )?necesito\b",
    r"\bya no quiero (?:hablar|esperar|que me atienda)",
    r"\bya (?:esta|lo he|lo tengo) (?:resuelto|solucionado|arreglado)\b",
    r"\bya lo (?:he )?(?:resuelto|solucionado|arreglado|encontrado|resolvi|solucione|encontre)\b",
    r"\bcancel(?:a|ar|o|e|ad|en)(?: usted| tu)? (?:la|mi|esta) espera\b",
    r"\bcancel(?:a|ar|o|e|ad|en)(?:me)? (?:la cola|de la cola)\b",
    r"\b(?:salir|salgo|sal|sacame|quitame|quiteme|saqueme) de (?:la|esta) cola\b",
    r"\b(?:dejo|dejar|abandono|abandonar) (?:la|esta) cola\b",
    r"\bno (?:quiero|puedo|voy a) esperar\b",
    r"\bprefiero no esperar\b",
    r"\b(?:mejor )?(?:sigo|seguir|continuo|continuar) con " + _BOT + r"\b",
    r"\b(?:vuelvo|volver|volvemos|regreso|regresar) (?:con|al|a la|a) " + _BOT + r"\b",
    r"\bprefiero (?:seguir con |hablar con )?" + _BOT + r"\b",
    r"\bme (?:apano|arreglo|vale) con " + _BOT + r"\b",
    r"\bno necesito (?:a )?(?:nadie|una persona|un agente|hablar con nadie)\b",
    r"\bya no (?:me )?importa\b",
    r"\bya (?:me )?da igual\b",
    r"\bya (?:me )?(?:he|lo he) apanado\b",
]
_LEAVE = re.compile("|".join(_LEAVE_PATTERNS))
# Brush-offs: alone each may mean the queue or something else ("cancela" the
# order? "ya está" the photo is sent?), so it is asked about; two together
# ("olvídalo, ya está", "déjalo, no importa") only mean "stop waiting".
_DISMISS = re.compile(
    r"\b(?:olvidalo|olvidelo|olvidadlo|dejalo|dejelo|dejadlo|cancela|cancelalo|cancelelo|cancelar|"
    r"no importa|da igual|ya esta|ya no|nada)\b")
# The whole message is one of these: it may mean the queue, or not.
_ASK = re.compile(
    r"^(?:cancel(?:a|ar|o|alo|adlo)|dejalo|dejelo|olvidalo|olvidelo|da igual|me voy|adios|"
    r"hasta luego|chao|salir|bot|asistente|nada|nada ya|ya nada)$"
)


def normalise(text: str) -> str:
    """Lower-case, accents and punctuation away, spaces squeezed."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(re.sub(r"[^a-z0-9ñ ]+", " ", plain).split())


# Words that may come with a request to leave without changing it ("ya no
# hace falta, gracias", "cancela la espera por favor").
_FILLER = frozenset(
    "gracias muchas mil vale ok okey bueno pues nada ya eh hola adios hasta luego pronto saludos "
    "perdon perdona perdone disculpa disculpe por favor de todas formas todos modos al final igualmente "
    "bien genial perfecto quiero prefiero mejor si la el esta lo he y".split())


def queue_exit(text: str) -> Optional[str]:
    """``LEAVE``, ``ASK`` or None for a text a queued shopper wrote. A leave
    phrase with more than politeness around it ("ya no hace falta el
    reembolso") is asked about, not acted on."""
    words = normalise(text)
    if not words:
        return None
    if _ASK.match(words):
        return ASK
    if len(words.split()) > MAX_WORDS:
        return None
    found = _LEAVE.search(words)
    if found is not None:
        rest = _DISMISS.sub(" ", words[:found.start()] + " " + words[found.end():]).split()
        return LEAVE if all(word in _FILLER for word in rest) else ASK
    dismissals = _DISMISS.findall(words)
    if dismissals and all(word in _FILLER for word in _DISMISS.sub(" ", GOODBYE.sub(" ", words)).split()):
        return LEAVE if len(set(dismissals)) >= 2 and not GOODBYE.search(words) else ASK
    if GOODBYE.search(words) and all(word in _FILLER for word in GOODBYE.sub(" ", words).split()):
        return ASK
    return None
