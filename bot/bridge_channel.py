"""The handoff bridge's way into Rasa: an input channel that takes work only
from the stack.

Why not Rasa's REST channel: it takes any sender id without authentication,
so anyone who can reach Rasa could act inside a shopper's verified session
(agents see every conversation id). This channel checks a shared secret
(``Authorization: Bearer <RASA_BRIDGE_SECRET>``, compared in constant time)
on every route but ``GET /``, and credentials.yml enables no other channel.

Routes (under ``/webhooks/bridge``), JSON in and out:
- ``POST /webhook`` ``{"sender", "message", "message_id"?, "retry"?, "metadata"?}``:
  one turn; answers ``{"messages": [...], "replayed": bool}`` (messages as
  the REST channel gives them). With ``"retry": true``, a ``message_id``
  Rasa has already processed is not processed again: the bot messages that
  followed it are returned (``replayed``), so a bridge that died mid-turn can
  finish the turn exactly once (the check holds Rasa's lock for the
  conversation, behind any turn of it still running).
- ``POST /resume`` ``{"sender", "action"}``: after an agent closes, run the
  action (the bot's "I'm back" line) and add ``action_listen``, so the
  shopper's next message is predicted like any other.
- ``POST /slots`` ``{"sender", "slots": {name: value}}``: set slots (a
  customer a channel verified).
A processing error answers 500 (never an empty 200), so the bridge can
apologise instead of staying silent.

Who talks is the bridge's decision (its state machine), not Rasa's: a turn
that came back empty from a paused tracker (older data, ``rasa shell``) is
resumed and run again.
Limits: one Rasa process's lock store orders turns; several workers need
Rasa's RedisLockStore. The secret is read from the environment only.
"""
from __future__ import annotations

import hmac
import logging
import os
from typing import Any, Awaitable, Callable, Coroutine, Dict, List, Optional, Text

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from rasa.shared.core.constants import ACTION_LISTEN_NAME
from rasa.shared.core.events import ActionExecuted, BotUttered, ConversationResumed, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

logger = logging.getLogger(__name__)

SECRET_ENV = "RASA_BRIDGE_SECRET"
MAX_SENDER = 64
MAX_MESSAGE = 100_000  # the bridge sends at most 4,000 characters; Rasa copes with empty text
# Keys of a bot utterance's data that the REST format carries, as Rasa's
# CollectingOutputChannel writes them.
BOT_DATA_KEYS = ("buttons", "image", "custom", "attachment", "elements", "quick_replies")


class BadRequest(ValueError):
    """The body is not what the route needs."""


def replies_after(tracker: DialogueStateTracker, message_id: str) -> Optional[List[Dict[str, Any]]]:
    """The bot messages that followed the user message ``message_id``, in
    the REST channel's format; None if the tracker has no such message."""
    found = False
    replies: List[Dict[str, Any]] = []
    for event in tracker.events:
        if isinstance(event, UserUttered):
            if found:
                break
            found = event.message_id == message_id
        elif found and isinstance(event, BotUttered):
            reply: Dict[str, Any] = {"recipient_id": tracker.sender_id}
            if event.text:
                reply["text"] = event.text
            for key in BOT_DATA_KEYS:
                if (event.data or {}).get(key) is not None:
                    reply[key] = event.data[key]
            replies.append(reply)
    return replies if found else None


def _optional_field(body: Any, name: str, longest: int) -> Optional[str]:
    """An optional string field: None when absent, else checked as ``_field``."""
    return None if not isinstance(body, dict) or body.get(name) is None else _field(body, name, longest)


def _field(body: Any, name: str, longest: int, blank: bool = False) -> str:
    """A required string field of the request (BadRequest otherwise)."""
    value = body.get(name) if isinstance(body, dict) else None
    if not isinstance(value, str) or (not blank and not value.strip()) or len(value) > longest:
        raise BadRequest(f"'{name}' must be a {'' if blank else 'non-empty '}string of at most {longest} characters")
    return value


class BridgeInput(InputChannel):
    """``bot.bridge_channel.BridgeInput`` in credentials.yml."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        if not secret:
            logger.error("%s is not set: the bridge channel refuses every request", SECRET_ENV)

    @classmethod
    def name(cls) -> Text:
        return "bridge"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "InputChannel":
        return cls(os.environ.get(SECRET_ENV, "").strip())

    def _authorised(self, request: Request) -> bool:
        header = request.headers.get("Authorization", "")
        if not self.secret or not header.startswith("Bearer "):
            return False
        return hmac.compare_digest(header[len("Bearer "):].strip().encode("utf-8"), self.secret.encode("utf-8"))

    @staticmethod
    async def _turn(on_new_message: Callable[[UserMessage], Awaitable[Any]], message: UserMessage) -> List[Dict[str, Any]]:
        collector = CollectingOutputChannel()
        message.output_channel = collector
        await on_new_message(message)
        return collector.messages

    @staticmethod
    async def _resumed(agent: Any, sender: str) -> bool:
        """Resume a paused tracker (older data, ``rasa shell``): the bridge, not
        Rasa, decides who talks. Whether it was paused."""
        async with agent.lock_store.lock(sender):
            tracker = await agent.tracker_store.retrieve(sender)
            if tracker is None or not tracker.is_paused():
                return False
            tracker.update(ConversationResumed())
            await agent.tracker_store.save(tracker)
        logger.warning("bridge_resumed_paused_tracker")
        return True

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        bridge = Blueprint("bridge_webhook", __name__)

        def guarded(handler: Callable[[Request, Any], Awaitable[HTTPResponse]]) -> Callable[[Request], Coroutine[Any, Any, HTTPResponse]]:
            async def route(request: Request) -> HTTPResponse:
                if not self._authorised(request):
                    return response.json({"error": "unauthorized"}, status=401)
                try:
                    body = request.json
                except Exception:  # noqa: BLE001 - Sanic raises its own InvalidUsage for bad JSON
                    return response.json({"error": "invalid_json"}, status=400)
                try:
                    return await handler(request, body)
                except BadRequest as exc:
                    return response.json({"error": "bad_request", "detail": str(exc)}, status=400)
                except Exception:  # noqa: BLE001 - answered 500 so the bridge apologises
                    logger.exception("bridge_channel_failed")
                    return response.json({"error": "processing_failed"}, status=500)
            route.__name__ = handler.__name__
            return route

        @bridge.route("/", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        async def receive(request: Request, body: Any) -> HTTPResponse:
            sender = _field(body, "sender", MAX_SENDER)
            text = _field(body, "message", MAX_MESSAGE, blank=True)
            message_id = _optional_field(body, "message_id", MAX_SENDER)
            metadata = body.get("metadata") if isinstance(body.get("metadata"), dict) else None
            agent = request.app.ctx.agent
            if body.get("retry") is True and message_id is not None:
                # Only a retry can name a processed message: the first try
                # skips this read of the tracker (it costs a deserialisation).
                async with agent.lock_store.lock(sender):
                    tracker = await agent.tracker_store.retrieve(sender)
                    replayed = replies_after(tracker, message_id) if tracker is not None else None
                if replayed is not None:
                    logger.info("bridge_turn_replayed")
                    return response.json({"messages": replayed, "replayed": True})
            message = UserMessage(text, None, sender, input_channel=self.name(), message_id=message_id,
                                  metadata=metadata)
            messages = await self._turn(on_new_message, message)
            if not messages and await self._resumed(agent, sender):
                messages = await self._turn(on_new_message, message)  # a paused tracker kept it silent
            return response.json({"messages": messages, "replayed": False})

        async def resume(request: Request, body: Any) -> HTTPResponse:
            sender = _field(body, "sender", MAX_SENDER)
            action = _field(body, "action", 100)
            agent = request.app.ctx.agent
            collector = CollectingOutputChannel()
            async with agent.lock_store.lock(sender):
                tracker = await agent.processor.fetch_tracker_and_update_session(sender, collector)
                if tracker.is_paused():
                    tracker.update(ConversationResumed())
                    await agent.tracker_store.save(tracker)
                await agent.execute_action(sender, action, collector, None, None)
                tracker = await agent.tracker_store.retrieve(sender)
                tracker.update(ActionExecuted(ACTION_LISTEN_NAME))
                await agent.tracker_store.save(tracker)
            return response.json({"messages": collector.messages})

        async def slots(request: Request, body: Any) -> HTTPResponse:
            sender = _field(body, "sender", MAX_SENDER)
            values = body.get("slots")
            if not isinstance(values, dict) or not all(isinstance(k, str) for k in values):
                raise BadRequest("'slots' must be an object of slot names")
            agent = request.app.ctx.agent
            async with agent.lock_store.lock(sender):
                tracker = await agent.processor.fetch_tracker_and_update_session(sender)
                for name, value in values.items():
                    tracker.update(SlotSet(name, value))
                await agent.tracker_store.save(tracker)
            return response.json({"status": "ok"})

        bridge.add_route(guarded(receive), "/webhook", methods=["POST"])
        bridge.add_route(guarded(resume), "/resume", methods=["POST"])
        bridge.add_route(guarded(slots), "/slots", methods=["POST"])
        return bridge
