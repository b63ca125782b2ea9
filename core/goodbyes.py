"""The words a shopper says goodbye with, one list for the assistant and the
bridge.

Why one list: inside a form the assistant ends the task on "ok gracias chao"
(actions/shopper_words.py), and in the queue the bridge asks whether "vale,
me voy" means leaving it (handoff/queue_exit.py); two lists drifted apart
("agur" left the form but not the queue, "me voy" the queue but not the form).

Limits: Spanish only, matched on text already lower-cased and without
accents (ñ as n); each caller decides what a goodbye means where it is.
"""
from __future__ import annotations

import re

GOODBYE = re.compile(
    r"\b(?:adios|agur|chao|chau|chaito|bye|hasta luego|hasta pronto|hasta otra|hasta manana|"
    r"nos vemos|me voy|nada mas|eso es todo|eso era todo|es todo|ya esta todo)\b"
)

__all__ = ["GOODBYE"]
