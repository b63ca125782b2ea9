"""Checking incoming frames: size, JSON, type, fields, text; and the rate limit.

Why here: every endpoint and channel refuses bad input the same way, with an
``error`` frame (code, Spanish detail, and the frame's ``client_id`` when it
had one) while the connection stays usable; and text is made safe once, here,
so storage, logs and sockets never meet a string they cannot encode.
Limits: types are checked shallowly (str/int/None); integers must fit in a
signed 64-bit column; texts are checked by length in code points.
"""
from __future__ import annotations

import collections
import json
import re
import time
from typing import Any, Callable, Deque, Dict, Mapping, Optional, Tuple, Union

MAX_TEXT = 4000
# The largest frame read at all (websockets' max_size): bigger ones close the
# socket with 1009, as RFC 6455 allows. Up to it, a frame over the configured
# HANDOFF_MAX_FRAME_BYTES is answered with an error frame and the socket stays.
HARD_MAX_FRAME_BYTES = 1024 * 1024
MAX_INT = 2**63 - 1
MESSAGE_ID = re.compile(r"^[0-9]{1,18}$")  # a stored message id, as sent in frames
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
# Lone surrogates (half an emoji, pasted) cannot be encoded as UTF-8: they
# become U+FFFD. Control characters but tab, newline and carriage return (NUL
# included, which PostgreSQL refuses in text) and the non-characters
# U+FFFE/U+FFFF are dropped: nobody types them.
_SURROGATE = re.compile("[\ud800-\udfff]")
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff]")

# Client ids the bridge stores its own messages under (a bot reply is
# "turn:<message id>:<n>", an agent's "agent:<agent id>:<id>", Telegram's
# "tg:<update id>"): a web client may not take them.
RESERVED_CLIENT_ID = re.compile(r"^(turn|resume|agent|tg):")

# Codes after which the same frame would be refused again (a client should not
# resend it as it is); the others (``rate_limited``, ``unavailable``) pass.
PERMANENT_CODES = frozenset({
    "not_text", "frame_too_large", "message_too_long", "invalid_json", "invalid_frame",
    "unknown_type", "missing_field", "invalid_field",
})

# type -> field -> (accepted types, required, longest text in code points).
# The lengths match the columns the values are stored in (PostgreSQL refuses
# what is longer, SQLite would not), so both databases see the same frames.
Field = Tuple[Tuple[type, ...], bool, int]
Schema = Mapping[str, Mapping[str, Field]]
_S = (str,)
_OPT_S = (str, type(None))
_OPT_I = (int, type(None))
_OPT_LIST = (list, type(None))   # items checked by the handler (handoff/labels.py)
_OPT_DICT = (dict, type(None))   # fields checked by the handler (handoff/shop/identity.py)
ID = 64          # session ids, client ids (handoff_messages.client_id is 64 wide)
AGENT_CLIENT_ID = 40  # stored as "agent:<agent id>:<client id>"

CUSTOMER_FRAMES: Schema = {
    # ``identity``: the shop's signed word for a logged-in shopper (handoff/shop/identity.py)
    "start": {"session_id": (_OPT_S, False, ID), "locale": (_OPT_S, False, 16), "after_id": (_OPT_I, False, 0),
              "identity": (_OPT_DICT, False, 0)},
    "message": {"text": (_S, True, MAX_TEXT), "client_id": (_OPT_S, False, ID), "payload": (_OPT_S, False, MAX_TEXT),
                "reply_to": (_OPT_S, False, 20)},
    "typing": {},
    "csat": {"score": ((int,), True, 0), "comment": (_OPT_S, False, 1000)},
    "nps": {"score": ((int,), True, 0)},
    "contact": {"email": (_S, True, 254), "client_id": (_OPT_S, False, ID)},
    "received": {"id": (_S, True, 20)},   # the widget has shown an agent's message
    # a photo or document, base64 in ``data`` (the widget shrinks photos first);
    # the only frame allowed past HANDOFF_MAX_FRAME_BYTES, up to HARD_MAX_FRAME_BYTES
    "attachment": {"name": (_S, True, 255), "content_type": (_S, True, 100), "data": (_S, True, HARD_MAX_FRAME_BYTES),
                   "caption": (_OPT_S, False, MAX_TEXT), "client_id": (_OPT_S, False, ID)},
}
# The frame types that may be larger than HANDOFF_MAX_FRAME_BYTES (websockets'
# max_size still bounds them to HARD_MAX_FRAME_BYTES).
LARGE_FRAMES = frozenset({"attachment"})

AGENT_FRAMES: Schema = {
    # "queue_updates": "changes": the queue once, then only queue_changed frames
    "auth": {"token": (_S, True, 256), "queue_updates": (_OPT_S, False, 20)},
    "claim": {"conversation_id": (_S, True, 40)},
    "message": {"conversation_id": (_S, True, 40), "text": (_S, True, MAX_TEXT),
                "client_id": (_OPT_S, False, AGENT_CLIENT_ID)},
    "note": {"conversation_id": (_S, True, 40), "text": (_S, True, MAX_TEXT)},
    "transfer": {"conversation_id": (_S, True, 40), "to": (_S, True, 32)},
    "close": {"conversation_id": (_S, True, 40), "resolution": (_OPT_S, False, 20)},
    "typing": {"conversation_id": (_S, True, 40)},
    # a read-only transcript of any conversation (the case card's earlier conversations)
    "transcript": {"conversation_id": (_S, True, 40)},
    # labels (../shared/design/reports.md): answered with a ``labels`` frame
    "label": {"conversation_id": (_S, True, 40), "add": (_OPT_LIST, False, 0), "remove": (_OPT_LIST, False, 0)},
}


class FrameError(Exception):
    """A frame the bridge refuses; ``code`` and Spanish ``detail`` go to the
    client, with the refused frame's ``client_id`` when it had a usable one."""

    def __init__(self, code: str, detail: str, client_id: Optional[str] = None) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail
        self.client_id = client_id

    def frame(self) -> Dict[str, Any]:
        answer: Dict[str, Any] = {"type": "error", "code": self.code, "detail": self.detail}
        if self.client_id is not None:
            answer["client_id"] = self.client_id
        return answer


def clean_text(value: str) -> str:
    """``value`` safe to store, log and send: lone surrogates become U+FFFD,
    control characters (but tab and line breaks) are dropped. Every string a
    customer or agent sends goes through this, on every channel."""
    if value.isascii() and value.isprintable():
        return value  # the common case, without a regex pass
    return _CONTROL.sub("", _SURROGATE.sub("\ufffd", value))


def _client_id(frame: Any) -> Optional[str]:
    """The frame's client_id if it is a usable string (to tie an error to it)."""
    if isinstance(frame, dict):
        value = frame.get("client_id")
        if isinstance(value, str) and 0 < len(value) <= ID:
            cleaned = clean_text(value)
            return cleaned or None
    return None


def _loads(raw: str) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:  # RecursionError: nested thousands deep
        raise FrameError("invalid_json", "El mensaje no es JSON válido.") from exc


def parse(raw: Union[str, bytes], schema: Schema, max_bytes: int) -> Dict[str, Any]:
    """The frame as a dict of ``type`` and the schema's fields, checked and
    their strings cleaned (``clean_text``); fields the schema does not name
    are dropped. FrameError otherwise; never raises anything else."""
    if isinstance(raw, bytes):
        raise FrameError("not_text", "Solo se aceptan mensajes de texto JSON.")
    if len(raw) > max_bytes // 4 and len(raw.encode("utf-8", "surrogatepass")) > max_bytes:
        frame = _too_large(raw, max_bytes, schema)
    else:
        frame = _loads(raw)
    if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
        raise FrameError("invalid_frame", "El mensaje debe ser un objeto JSON con un campo «type».")
    client_id = _client_id(frame)
    fields = schema.get(frame["type"])
    if fields is None:
        raise FrameError("unknown_type", f"Tipo de mensaje desconocido: «{clean_text(frame['type'][:40])}».", client_id)
    for name, (types, required, longest) in fields.items():
        if name not in frame:
            if required:
                raise FrameError("missing_field", f"Falta el campo «{name}».", client_id)
            continue
        value = frame[name]
        if not isinstance(value, types) or isinstance(value, bool):
            raise FrameError("invalid_field", f"El campo «{name}» no tiene un valor válido.", client_id)
        if isinstance(value, int) and not -MAX_INT - 1 <= value <= MAX_INT:
            raise FrameError("invalid_field", f"El campo «{name}» no tiene un valor válido.", client_id)
        if isinstance(value, str):
            value = frame[name] = clean_text(value)
            if len(value) > longest:
                if name == "text":
                    raise FrameError("message_too_long", _too_long_detail(), client_id)
                raise FrameError("invalid_field", f"El campo «{name}» es demasiado largo.", client_id)
    if schema is CUSTOMER_FRAMES and client_id is not None and RESERVED_CLIENT_ID.match(client_id):
        raise FrameError("invalid_field", "El campo «client_id» no tiene un valor válido.")
    if "text" in fields and not frame["text"].strip():
        raise FrameError("invalid_field", "El mensaje está vacío.", client_id)
    if frame["type"] == "start" and (frame.get("after_id") or 0) < 0:
        raise FrameError("invalid_field", "El campo «after_id» no tiene un valor válido.")
    if frame["type"] == "message" and frame.get("reply_to") is not None and not MESSAGE_ID.match(frame["reply_to"]):
        raise FrameError("invalid_field", "El campo «reply_to» no tiene un valor válido.", client_id)
    if frame["type"] == "received" and not MESSAGE_ID.match(frame["id"]):
        raise FrameError("invalid_field", "El campo «id» no tiene un valor válido.")
    if frame["type"] == "csat" and not 1 <= frame["score"] <= 5:
        raise FrameError("invalid_field", "La valoración debe ser un número del 1 al 5.")
    if frame["type"] == "nps" and not 0 <= frame["score"] <= 10:
        raise FrameError("invalid_field", "La respuesta debe ser un número del 0 al 10.")
    if frame["type"] == "contact" and not EMAIL.match(frame["email"].strip()):
        raise FrameError("invalid_field", "Ese correo electrónico no parece válido.", client_id)
    # Only the fields the schema names (checked and cleaned) go on.
    return {"type": frame["type"], **{name: frame[name] for name in fields if name in frame}}


def _too_long_detail() -> str:
    return (f"Tu mensaje es demasiado largo (máximo {MAX_TEXT} caracteres). "
            "Acórtalo o envíalo en varias partes.")


def _too_large(raw: str, max_bytes: int, schema: Schema) -> Any:
    """A frame over ``max_bytes``: the frame itself if it is of a type allowed
    to be larger (``LARGE_FRAMES`` of this schema); else ``message_too_long``
    (with its client_id) if it is a message, ``frame_too_large`` otherwise."""
    try:
        frame = json.loads(raw)
    except (ValueError, RecursionError):
        frame = None
    if isinstance(frame, dict) and frame.get("type") in LARGE_FRAMES and frame.get("type") in schema:
        return frame
    if isinstance(frame, dict) and frame.get("type") == "message":
        raise FrameError("message_too_long", _too_long_detail(), _client_id(frame))
    raise FrameError("frame_too_large", f"El mensaje es demasiado grande (máximo {max_bytes} bytes).",
                     _client_id(frame))


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
