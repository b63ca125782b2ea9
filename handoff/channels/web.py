"""``/ws/chat``: the customer's web widget.

The handler only checks frames and calls the bridge; registration of the
socket is undone in ``finally`` so a dropped connection never leaks.
"""
from __future__ import annotations

import logging
from typing import Any, Dict, Optional

from websockets.exceptions import ConnectionClosed

from handoff.bridge import Bridge, Socket
from handoff.frames import CUSTOMER_FRAMES, FrameError, RateLimiter, parse
from handoff.storage import StorageError

logger = logging.getLogger(__name__)


async def _refuse(bridge: Bridge, ws: Socket, error: FrameError) -> None:
    bridge.metrics.bad_frames.labels(error.code).inc()
    await bridge.send(ws, error.frame())


async def _wait_start(bridge: Bridge, ws: Socket, limiter: RateLimiter) -> Optional[Dict[str, Any]]:
    async for raw in ws:
        try:
            limiter.check()
            frame = parse(raw, CUSTOMER_FRAMES, bridge.settings.max_frame_bytes)
            if frame["type"] != "start":
                raise FrameError("start_required", "Primero hay que enviar un mensaje «start».")
            return frame
        except FrameError as error:
            await _refuse(bridge, ws, error)
    return None


async def handle_chat(bridge: Bridge, ws: Socket) -> None:
    limiter = RateLimiter(bridge.settings.rate_limit, bridge.settings.rate_window_s)
    bridge.metrics.connections.labels("chat").inc()
    conversation_id: Optional[str] = None
    try:
        start = await _wait_start(bridge, ws, limiter)
        if start is None:
            return
        conversation, resumed = await bridge.open_session(start.get("session_id"))
        conversation_id = conversation.id
        bridge.attach_customer(conversation_id, ws)
        await bridge.send(ws, {"type": "session", "session_id": conversation.session_id,
                               "conversation_id": conversation.id, "resumed": resumed})
        if resumed:
            await bridge.resend_state(conversation_id, ws, start.get("after_id") or 0)
        async for raw in ws:
            try:
                limiter.check()
                frame = parse(raw, CUSTOMER_FRAMES, bridge.settings.max_frame_bytes)
                await _dispatch(bridge, ws, conversation_id, frame)
            except FrameError as error:
                await _refuse(bridge, ws, error)
            except StorageError as exc:
                logger.error("storage_error", extra={"conversation_id": conversation_id, "error": str(exc)})
                await bridge.send(ws, {"type": "error", "code": "unavailable",
                                       "detail": "No hemos podido guardar tu mensaje. Inténtalo de nuevo en un momento."})
    except ConnectionClosed:
        logger.debug("chat_connection_closed")
    finally:
        if conversation_id is not None:
            bridge.detach_customer(conversation_id, ws)
        bridge.metrics.connections.labels("chat").dec()


async def _dispatch(bridge: Bridge, ws: Socket, conversation_id: str, frame: Dict[str, Any]) -> None:
    kind = frame["type"]
    if kind == "message":
        await bridge.customer_message(conversation_id, ws, frame["text"], frame.get("payload"), frame.get("client_id"))
    elif kind == "typing":
        await bridge.customer_typing(conversation_id)
    elif kind == "csat":
        await bridge.customer_csat(conversation_id, frame["score"], frame.get("comment"))
    elif kind == "contact":
        await bridge.customer_contact(conversation_id, ws, frame["email"], frame.get("client_id"))
    elif kind == "start":
        raise FrameError("already_started", "La conversación ya está iniciada.")
