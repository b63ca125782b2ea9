"""``/ws/agent``: the agent console.

The first frame must be ``auth``; a wrong (or malformed) one gets
``unauthorized`` and the socket is closed with 4401; a throttled login
``too_many_attempts`` + 4429 or ``busy`` + 1013; a database that cannot be
read ``unavailable`` + 1013. After that no frame closes the socket: a bad one
gets an error frame. Registration is undone in ``finally``.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Dict, Tuple

from websockets.exceptions import ConnectionClosed

from handoff.agents import LoginRefused
from handoff.bridge import Bridge, Socket
from handoff.frames import AGENT_FRAMES, FrameError, RateLimiter, parse
from handoff.storage import Agent, StorageError

logger = logging.getLogger(__name__)
AUTH_TIMEOUT_S = 30.0


async def _authenticate(bridge: Bridge, ws: Socket) -> Tuple[Agent, bool] | None:
    """One attempt per socket: the first frame must be ``auth``. A wrong token
    gets ``unauthorized`` and 4401; a throttled address ``too_many_attempts``
    and 4429, a saturated bridge ``busy`` and 1013, without checking the token
    (handoff/agents.py, ``LoginThrottle``)."""
    try:
        raw = await asyncio.wait_for(ws.recv(), AUTH_TIMEOUT_S)
        frame = parse(raw, AGENT_FRAMES, bridge.settings.max_frame_bytes)
        if frame["type"] != "auth":
            raise FrameError("unauthorized", "Primero hay que autenticarse (auth required).")
    except (FrameError, asyncio.TimeoutError):
        frame = {"token": ""}
    agent = None
    if frame["token"]:
        peer = ws.remote_address
        try:
            agent = await bridge.authenticate(frame["token"], peer[0] if peer else None)
        except LoginRefused as refused:  # throttled: nothing was checked
            bridge.metrics.bad_frames.labels(refused.code).inc()
            logger.debug("agent_auth_refused", extra={"code": refused.code})
            await bridge.send(ws, refused.frame())
            await ws.close(refused.close_code, refused.code)
            return None
        except StorageError as exc:
            logger.error("storage_error", extra={"error": str(exc)})
            await bridge.send(ws, {"type": "error", "code": "unavailable",
                                   "detail": "Base de datos no disponible; vuelve a intentarlo en unos segundos "
                                             "(database unavailable)."})
            await ws.close(1013, "unavailable")
            return None
    if agent is None:
        bridge.metrics.bad_frames.labels("unauthorized").inc()
        logger.info("agent_auth_failed")
        await bridge.send(ws, {"type": "error", "code": "unauthorized",
                               "detail": "Token no válido (invalid token)."})
        await ws.close(4401, "unauthorized")
        return None
    return agent, frame.get("queue_updates") == "changes"


async def handle_agent(bridge: Bridge, ws: Socket) -> None:
    bridge.metrics.connections.labels("agent").inc()
    agent: Agent | None = None
    try:
        authenticated = await _authenticate(bridge, ws)
        if authenticated is None:
            return
        agent, wants_changes = authenticated
        await bridge.agent_connected(agent, ws, queue_changes=wants_changes)
        limiter = RateLimiter(bridge.settings.rate_limit, bridge.settings.rate_window_s)
        async for raw in ws:
            frame: Dict[str, Any] = {}
            try:
                limiter.check()
                frame = parse(raw, AGENT_FRAMES, bridge.settings.max_frame_bytes)
                await _dispatch(bridge, ws, agent, frame)
            except FrameError as error:
                bridge.metrics.bad_frames.labels(error.code).inc()
                answer = error.frame()
                if frame.get("conversation_id"):
                    answer["conversation_id"] = frame["conversation_id"]
                await bridge.send(ws, answer)
            except StorageError as exc:
                logger.error("storage_error", extra={"agent_id": agent.id, "error": str(exc)})
                await bridge.send(ws, {"type": "error", "code": "unavailable",
                                       "detail": "Base de datos no disponible (database unavailable)."})
            except ConnectionClosed:
                raise
            except Exception:  # noqa: BLE001 - a fault must not close the socket
                logger.exception("agent_frame_failed", extra={"agent_id": agent.id})
                await bridge.send(ws, {"type": "error", "code": "internal_error",
                                       "detail": "Error interno al procesar el mensaje (internal error)."})
    except ConnectionClosed:
        logger.debug("agent_connection_closed")
    finally:
        if agent is not None:
            await bridge.agent_disconnected(agent, ws)
        bridge.metrics.connections.labels("agent").dec()


async def _dispatch(bridge: Bridge, ws: Socket, agent: Agent, frame: Dict[str, Any]) -> None:
    kind = frame["type"]
    conversation_id = frame.get("conversation_id", "")
    if kind == "claim":
        await bridge.claim(agent, conversation_id)
    elif kind == "message":
        await bridge.agent_message(agent, conversation_id, frame["text"], frame.get("client_id"), ws)
    elif kind == "note":
        await bridge.note(agent, conversation_id, frame["text"])
    elif kind == "transfer":
        await bridge.transfer(agent, conversation_id, frame["to"])
    elif kind == "close":
        await bridge.close(agent, conversation_id, frame.get("resolution"))
    elif kind == "typing":
        await bridge.agent_typing(agent, conversation_id)
    elif kind == "transcript":
        await bridge.transcript(agent, conversation_id, ws)
    elif kind == "label":
        await bridge.change_labels(agent, conversation_id, frame.get("add"), frame.get("remove"))
    elif kind == "auth":
        raise FrameError("already_authenticated", "Ya estás autenticado (already authenticated).")
