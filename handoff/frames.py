"""Checking incoming frames: size, JSON, type, fields; and the rate limit.

Why here: both endpoints refuse bad frames the same way, with an ``error``
frame (Spanish detail) while the connection stays usable.
Limits: types are checked shallowly (str/int/None), texts by length.
"""
from __future__ import annotations

import collections
import json
import re
import time
from typing import Any, Callable, Deque, Dict, Mapping, Optional, Tuple, Union

MAX_TEXT = 4000
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")

# type -> field -> (accepted types, required)
Schema = Mapping[str, Mapping[str, Tuple[Tuple[type, ...], bool]]]
_S = (str,)
_OPT_S = (str, type(None))

CUSTOMER_FRAMES: Schema = {
    "start": {"session_id": (_OPT_S, False), "locale": (_OPT_S, False), "after_id": ((int, type(None)), False)},
    "message": {"text": (_S, True), "client_id": (_OPT_S, False), "payload": (_OPT_S, False)},
    "typing": {},
    "csat": {"score": ((int,), True), "comment": (_OPT_S, False)},
    "contact": {"email": (_S, True), "client_id": (_OPT_S, False)},
}

AGENT_FRAMES: Schema = {
    "auth": {"token": (_S, True)},
    "claim": {"conversation_id": (_S, True)},
    "message": {"conversation_id": (_S, True), "text": (_S, True), "client_id": (_OPT_S, False)},
    "note": {"conversation_id": (_S, True), "text": (_S, True)},
    "transfer": {"conversation_id": (_S, True), "to": (_S, True)},
    "close": {"conversation_id": (_S, True), "resolution": (_OPT_S, False)},
    "typing": {"conversation_id": (_S, True)},
}


class FrameError(Exception):
    """A frame the bridge refuses; ``code`` and Spanish ``detail`` go to the client."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail

    def frame(self) -> Dict[str, Any]:
        return {"type": "error", "code": self.code, "detail": self.detail}


def parse(raw: Union[str, bytes], schema: Schema, max_bytes: int) -> Dict[str, Any]:
    """The frame as a dict, checked against ``schema``; FrameError otherwise."""
    if isinstance(raw, bytes):
        raise FrameError("not_text", "Solo se aceptan mensajes de texto JSON.")
    if len(raw.encode("utf-8")) > max_bytes:
        raise FrameError("frame_too_large", f"El mensaje es demasiado grande (máximo {max_bytes} bytes).")
    try:
        frame = json.loads(raw)
    except ValueError as exc:
        raise FrameError("invalid_json", "El mensaje no es JSON válido.") from exc
    if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
        raise FrameError("invalid_frame", "El mensaje debe ser un objeto JSON con un campo «type».")
    fields = schema.get(frame["type"])
    if fields is None:
        raise FrameError("unknown_type", f"Tipo de mensaje desconocido: «{frame['type'][:40]}».")
    for name, (types, required) in fields.items():
        if name not in frame:
            if required:
                raise FrameError("missing_field", f"Falta el campo «{name}».")
            continue
        value = frame[name]
        if not isinstance(value, types) or isinstance(value, bool):
            raise FrameError("invalid_field", f"El campo «{name}» no tiene un valor válido.")
        if isinstance(value, str) and len(value) > MAX_TEXT:
            raise FrameError("invalid_field", f"El campo «{name}» es demasiado largo.")
    if "text" in fields and not frame["text"].strip():
        raise FrameError("invalid_field", "El mensaje está vacío.")
    if frame["type"] == "csat" and not 1 <= frame["score"] <= 5:
        raise FrameError("invalid_field", "La valoración debe ser un número del 1 al 5.")
    if frame["type"] == "contact" and not EMAIL.match(frame["email"].strip()):
        raise FrameError("invalid_field", "Ese correo electrónico no parece válido.")
    return frame


class RateLimiter:
    """At most ``limit`` frames per sliding ``window_s`` seconds (per connection)."""

    def __init__(self, limit: int, window_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window_s = window_s
        self.clock = clock
        self._seen: Deque[float] = collections.deque()

    def check(self) -> None:
        now = self.clock()
        while self._seen and now - self._seen[0] >= self.window_s:
            self._seen.popleft()
        if len(self._seen) >= self.limit:
            raise FrameError("rate_limited", "Vas demasiado rápido: espera unos segundos antes de enviar más mensajes.")
        self._seen.append(now)


def error_frame(code: str, detail: str, **extra: Optional[str]) -> Dict[str, Any]:
    frame: Dict[str, Any] = {"type": "error", "code": code, "detail": detail}
    frame.update({k: v for k, v in extra.items() if v is not None})
    return frame
