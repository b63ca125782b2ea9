"""``/ws/chat``: the customer's web widget.

The handler only checks frames and calls the bridge; registration of the
socket is undone in ``finally`` so a dropped connection never leaks. No
frame closes the socket: a refused one gets an error frame, a storage
failure ``unavailable`` (the client may resend), and an unexpected fault is
logged with its traceback and answered with ``internal_error``.
"""
from __future__ import annotations

import base64
import binascii
import logging
from typing import Any, Dict, Optional, Set, Tuple

from websockets.exceptions import ConnectionClosed

from handoff.bridge import Bridge, Socket
from handoff.frames import CUSTOMER_FRAMES, MAX_TEXT, FrameError, RateLimiter, parse
from handoff.shop.identity import apply_identity
from handoff.storage import Conversation, StorageError

logger = logging.getLogger(__name__)
UNAVAILABLE = "No hemos podido guardar tu mensaje. Inténtalo de nuevo en un momento."
INTERNAL = "Algo ha fallado al procesar tu mensaje. Inténtalo de nuevo en un momento."


# error codes whose detail a shopper reads and the bridge words in the store's voice
VOICED_ERRORS = ("rate_limited", "message_too_long", "unavailable", "internal_error")


async def _refuse(bridge: Bridge, ws: Socket, error: FrameError) -> None:
    bridge.metrics.bad_frames.labels(error.code).inc()
    if error.code in VOICED_ERRORS:
        error.detail = bridge.texts.get(f"error_{error.code}", max=MAX_TEXT)
    await bridge.send(ws, error.frame())


async def _start(bridge: Bridge, ws: Socket, limiter: RateLimiter) -> Optional[Tuple[Conversation, bool, int, Any]]:
    """Wait for a valid ``start`` and open (or resume) its session: the
    conversation, whether it resumed, ``after_id`` and the shop's signed
    ``identity`` (unchecked; None without one); None if the socket
    closed first. A storage failure is answered with ``unavailable`` and the
    client may send ``start`` again."""
    async for raw in ws:
        try:
            limiter.check()
            frame = parse(raw, CUSTOMER_FRAMES, bridge.settings.max_frame_bytes)
            if frame["type"] != "start":
                raise FrameError("start_required", "Primero hay que enviar un mensaje «start».")
            conversation, resumed = await bridge.open_session(frame.get("session_id"))
        except FrameError as error:
            await _refuse(bridge, ws, error)
            continue
        except StorageError as exc:
            logger.error("storage_error", extra={"error": str(exc)})
            await _refuse(bridge, ws, FrameError("unavailable", UNAVAILABLE))
            continue
        except Exception:  # noqa: BLE001 - a fault must not close the socket
            logger.exception("chat_start_failed")
            await _refuse(bridge, ws, FrameError("internal_error", INTERNAL))
            continue
        return conversation, resumed, frame.get("after_id") or 0, frame.get("identity")
    return None


async def handle_chat(bridge: Bridge, ws: Socket) -> None:
    limiter = RateLimiter(bridge.settings.rate_limit, bridge.settings.rate_window_s)
    bridge.metrics.connections.labels("chat").inc()
    conversation_id: Optional[str] = None
    try:
        started = await _start(bridge, ws, limiter)
        if started is None:
            return
        conversation, resumed, after_id, identity = started
        conversation_id = conversation.id
        bridge.attach_customer(conversation_id, ws)
        sent: Set[str] = set()
        try:
            await bridge.send(ws, {"type": "session", "session_id": conversation.session_id,
                                   "conversation_id": conversation.id, "resumed": resumed,
                                   "voice": bridge.texts.voice})
            if resumed:
                sent = await bridge.resend_state(conversation_id, ws, after_id)
        finally:
            await bridge.release_customer(ws, sent)
        if identity is not None:  # before the first message is read: its turn knows the customer
            await apply_identity(bridge, conversation, identity)
        async for raw in ws:
            frame: Dict[str, Any] = {}
            try:
                frame = parse(raw, CUSTOMER_FRAMES, bridge.settings.max_frame_bytes)
                limiter.check()  # after parsing, so that rate_limited names the client_id to resend
                await _dispatch(bridge, ws, conversation_id, frame)
            except FrameError as error:
                if error.client_id is None:
                    error.client_id = frame.get("client_id")
                await _refuse(bridge, ws, error)
            except StorageError as exc:
                logger.error("storage_error", extra={"conversation_id": conversation_id, "error": str(exc)})
                await _refuse(bridge, ws, FrameError("unavailable", UNAVAILABLE, frame.get("client_id")))
            except ConnectionClosed:
                raise
            except Exception:  # noqa: BLE001 - a fault must not close the socket
                logger.exception("chat_frame_failed", extra={"conversation_id": conversation_id})
                await _refuse(bridge, ws, FrameError("internal_error", INTERNAL, frame.get("client_id")))
    except ConnectionClosed:
        logger.debug("chat_connection_closed")
    finally:
        if conversation_id is not None:
            bridge.detach_customer(conversation_id, ws)
        bridge.metrics.connections.labels("chat").dec()


async def _dispatch(bridge: Bridge, ws: Socket, conversation_id: str, frame: Dict[str, Any]) -> None:
    kind = frame["type"]
    if kind == "message":
        await bridge.customer_message(conversation_id, ws, frame["text"], frame.get("payload"), frame.get("client_id"),
                                      frame.get("reply_to"))
    elif kind == "typing":
        await bridge.customer_typing(conversation_id)
    elif kind == "csat":
        await bridge.customer_csat(conversation_id, frame["score"], frame.get("comment"))
    elif kind == "nps":
        await bridge.customer_nps(conversation_id, frame["score"])
    elif kind == "received":
        await bridge.message_received(conversation_id, frame["id"])
    elif kind == "contact":
        await bridge.customer_contact(conversation_id, ws, frame["email"], frame.get("client_id"))
    elif kind == "attachment":
        await _attachment(bridge, ws, conversation_id, frame)
    elif kind == "start":
        raise FrameError("already_started", "La conversación ya está iniciada.")


# What the widget may send, by content type: the kind stored and the first
# bytes every such file starts with (a type the bytes do not bear out is refused).
WEB_FILE_TYPES: Dict[str, Tuple[str, Tuple[bytes, ...]]] = {
    "image/jpeg": ("photo", (b"\xff\xd8\xff",)),
    "image/png": ("photo", (b"\x89PNG\r\n\x1a\n",)),
    "image/webp": ("photo", (b"RIFF",)),
    "application/pdf": ("document", (b"%PDF-",)),
}


def read_web_file(bridge: Bridge, frame: Dict[str, Any]) -> Tuple[str, str, bytes]:
    """The kind, content type and bytes of an ``attachment`` frame's file, or FrameError
    (in the store's voice): base64 that decodes, a known type its bytes bear
    out, at most HANDOFF_MAX_ATTACHMENT_BYTES."""
    client_id = frame.get("client_id")
    content_type = frame["content_type"].strip().lower()
    known = WEB_FILE_TYPES.get(content_type)
    if known is None:
        raise FrameError("invalid_attachment", bridge.texts["web_attachment_type"], client_id)
    kind, signatures = known
    try:
        data = base64.b64decode(frame["data"], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise FrameError("invalid_attachment", bridge.texts["web_attachment_unreadable"], client_id) from exc
    limit = bridge.settings.max_attachment_bytes
    if len(data) > limit:
        raise FrameError("invalid_attachment", bridge.texts.get("tg_too_big", mb=max(1, limit // (1024 * 1024))),
                         client_id)
    if not data or not any(data.startswith(signature) for signature in signatures):
        raise FrameError("invalid_attachment", bridge.texts["web_attachment_type"], client_id)
    return kind, content_type, data


async def _attachment(bridge: Bridge, ws: Socket, conversation_id: str, frame: Dict[str, Any]) -> None:
    """A shopper's photo or document: stored once per client_id, acknowledged,
    then handled as Telegram's files are (Bridge.customer_attachments)."""
    kind, content_type, data = read_web_file(bridge, frame)
    client_id = frame.get("client_id")
    name = frame["name"].strip() or ("foto" if kind == "photo" else "documento")
    stored = await bridge.storage.add_attachment(conversation_id, kind, name, content_type, data,
                                                 f"web:{client_id}" if client_id else None)
    await bridge.customer_attachments(conversation_id, (frame.get("caption") or "")[:MAX_TEXT], [stored],
                                      client_id, ws=ws)
