"""Agents' labels on conversations (../shared/design/reports.md, "Labels").

A label is one lower-case word of at most 32 characters: letters (Spanish
ones included: ñ, á, é, í, ó, ú, ü), digits, and hyphens between them
("talla", "envio-urgente", "2x1"). Nothing is lower-cased or trimmed for the
agent: a label that is not already in that form is refused (``invalid_label``
with a Spanish detail naming it) and nothing of that frame is stored, so
reports never split one label into two spellings. The console lower-cases as
the agent types.

Pure: no I/O.
"""
from __future__ import annotations

import re
from typing import Any, List, Tuple

from handoff.frames import FrameError

MAX_LABEL = 32
MAX_LABELS = 20            # per conversation
MAX_PER_FRAME = 20         # in ``add`` plus ``remove``
LABEL_SUGGESTIONS = 20     # the most used labels offered to the console
LABEL = re.compile(r"^[a-z0-9ñáéíóúü]+(?:-[a-z0-9ñáéíóúü]+)*$")


def _invalid(detail: str) -> FrameError:
    return FrameError("invalid_label", detail)


def check_label(value: Any) -> str:
    if not isinstance(value, str):
        raise _invalid("Cada etiqueta debe ser un texto (labels must be strings).")
    shown = value[:40]
    if not value:
        raise _invalid("La etiqueta está vacía (empty label).")
    if len(value) > MAX_LABEL:
        raise _invalid(f"La etiqueta «{shown}…» es demasiado larga: como mucho {MAX_LABEL} caracteres "
                       "(label too long).")
    if not LABEL.match(value):
        raise _invalid(f"La etiqueta «{shown}» no vale: usa una sola palabra en minúsculas, sin espacios "
                       "(letras, números y guiones) (invalid label).")
    return value


def check_labels(add: Any, remove: Any) -> Tuple[List[str], List[str]]:
    """The ``add`` and ``remove`` lists of a ``label`` frame, checked (None is
    an empty list); FrameError ``invalid_label`` for the first bad one."""
    lists: List[List[str]] = []
    for name, value in (("add", add), ("remove", remove)):
        if value is None:
            lists.append([])
            continue
        if not isinstance(value, list):
            raise _invalid(f"El campo «{name}» debe ser una lista de etiquetas (must be a list).")
        lists.append([check_label(v) for v in value])
    adding, removing = lists
    if len(adding) + len(removing) > MAX_PER_FRAME:
        raise _invalid(f"Como mucho {MAX_PER_FRAME} etiquetas por cambio (too many labels in one frame).")
    if set(adding) & set(removing):
        raise _invalid("La misma etiqueta no se puede añadir y quitar a la vez (label both added and removed).")
    return list(dict.fromkeys(adding)), list(dict.fromkeys(removing))
