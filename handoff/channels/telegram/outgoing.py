"""Frames to Telegram messages: the customer sink (on every bridge), the
outbox (stored first; sent, retried and rate-limited by the leading
bridge), and the clearing of finished steps' keyboards.
"""
from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import warnings
from typing import Any, Dict, Optional, Sequence, Tuple

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
)
from telegram.constants import ChatAction
from telegram.error import BadRequest, Forbidden, InvalidToken, NetworkError, RetryAfter, TelegramError
from telegram.warnings import PTBDeprecationWarning

from handoff.bridge import Frame
from handoff.channels.telegram.base import ChannelBase
from handoff.channels.telegram.constants import (
    CSAT_PREFIX,
    LEAVE_CALLBACK,
    MAX_BACKOFF_S,
    NOT_TELEGRAM_KEPT,
    NPS_PER_ROW,
    NPS_PREFIX,
    OUTBOX_SIGNAL,
    TELEGRAM_TEXT_LIMIT,
)
from handoff.channels.telegram.texts import (
    _markup,
    _queued_text,
)
from handoff.storage import StorageError, utcnow
from handoff.texts import keep_amounts

logger = logging.getLogger(__name__)


def _retry_after_s(exc: RetryAfter) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, dt.timedelta) else float(value)




class Outgoing(ChannelBase):
    """The channel's outgoing side."""

    async def _clear_keyboards(self, chat_id: int, before_row: Optional[int] = None,
                               also: Optional[int] = None, leave: bool = False) -> None:
        """Remove the inline keyboards of finished steps (a button pressed, the
        customer wrote, or a newer message brought its own buttons): Telegram
        keeps showing them otherwise. With ``leave``: the "Volver al
        asistente" keyboards (the queue is over). Best effort: a keyboard that
        cannot be edited stays, and the bridge still refuses its presses; on a
        bridge that does not lead (no Bot API client there) nothing is cleared."""
        if not self.ready.is_set():
            return
        targets = await self.db.live_keyboards(chat_id, before_row, leave)
        if also is not None and also not in {m for _, m in targets}:
            targets.append((0, also))
        for row_id, message_id in targets:
            if await self._remove_keyboard(chat_id, message_id) and row_id:
                await self.db.keyboard_cleared(row_id)

    async def _remove_keyboard(self, chat_id: int, message_id: int) -> bool:
        """editMessageReplyMarkup without a markup; whether the keyboard is gone
        (best effort: False when Telegram could not be asked)."""
        try:
            await self.bot.edit_message_reply_markup(chat_id=chat_id, message_id=message_id, reply_markup=None)
        except BadRequest as exc:  # "message is not modified", "message to edit not found": nothing to clear
            logger.debug("telegram_keyboard_gone", extra={"error": str(exc)[:80]})
        except TelegramError as exc:
            logger.info("telegram_keyboard_not_cleared", extra={"error": type(exc).__name__})
            return False
        return True


    # -- outgoing ----------------------------------------------------------

    def _background(self, coroutine: Any) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _on_frame(self, conversation_id: str, frame: Frame) -> None:
        """The bridge's customer sink: frames of Telegram conversations become
        outbox rows (typing is a best-effort chat action)."""
        chat_id = await self._chat_for(conversation_id)
        if chat_id is None:
            return
        kind = frame.get("type")
        if kind == "message":
            text = keep_amounts(str(frame.get("text") or ""))  # "69,00 €" never splits on a phone
            if frame.get("sender") == "agent" and frame.get("agent_name"):
                text = f"{frame['agent_name']}: {text}"
            buttons = frame.get("buttons") or []
            inline = await self.db.add_buttons(conversation_id, buttons, str(frame.get("id"))) if buttons else []
            await self._send(chat_id, conversation_id, text, inline=inline, source_key=f"m:{frame.get('id')}")
        elif kind == "handoff":
            await self._on_handoff(chat_id, conversation_id, frame)
        elif kind == "csat_request":
            inline = [(str(n), f"{CSAT_PREFIX}{n}") for n in range(1, 6)]
            text = str(frame.get("text") or self.texts["csat_ask_team"])  # the bridge's words, as the widget's
            await self._send(chat_id, conversation_id, text, inline=inline, row=True)
        elif kind == "nps_request":
            inline = [(str(n), f"{NPS_PREFIX}{n}") for n in range(11)]
            text = str(frame.get("text") or self.texts["nps_ask"])
            await self._send(chat_id, conversation_id, text, inline=inline, row=True, per_row=NPS_PER_ROW)
        elif kind == "typing" and self.ready.is_set():
            self._background(self._typing(chat_id))

    async def _chat_for(self, conversation_id: str) -> Optional[int]:
        """The chat of a Telegram conversation. With other bridges, a chat the
        leader opened after this bridge attached is read from the database
        once; conversations of other channels are remembered as such."""
        chat_id = self._chat_of.get(conversation_id)
        if chat_id is not None or not self.bridge.cluster.shared or conversation_id in self._not_telegram:
            return chat_id
        chat_id = await self.db.chat_of(conversation_id)
        if chat_id is None:
            if len(self._not_telegram) > NOT_TELEGRAM_KEPT:
                self._not_telegram.clear()
            self._not_telegram.add(conversation_id)
        else:
            self._chat_of[conversation_id] = chat_id
        return chat_id

    async def _on_handoff(self, chat_id: int, conversation_id: str, frame: Frame) -> None:
        """Tell the customer when the handoff state changes (not every new
        wait estimate: the web widget shows those live, a chat would be spammed)."""
        state = str(frame.get("state"))
        before = await self.db.swap_announced(chat_id, state)
        if state == "queued" and before != "queued":
            # a way back to the bot while nobody has claimed it (not offered once claimed)
            await self._send(chat_id, conversation_id, _queued_text(frame, self.texts),
                             inline=[(self.texts["btn_leave_queue"], LEAVE_CALLBACK)], leave=True)
        elif state == "assigned":
            await self._clear_keyboards(chat_id, leave=True)
            await self._send(chat_id, conversation_id, self.texts.get(
                "tg_assigned", agent=frame.get("agent_name") or "Una persona del equipo"))
        elif state == "ended":
            await self._clear_keyboards(chat_id, leave=True)
            if frame.get("outcome") == "closed" and before != "ended":
                # the agent closed: the widget's divider, in the same words; leaving
                # the queue gets none (the bot's line that follows says it once)
                agent = frame.get("agent_name")
                await self._send(chat_id, conversation_id, self.texts.get("handoff_ended", agent=agent) if agent
                                 else self.texts["handoff_ended_team"])

    async def _typing(self, chat_id: int) -> None:
        try:
            await self.bot.send_chat_action(chat_id, ChatAction.TYPING)
        except TelegramError as exc:
            logger.debug("telegram_typing_failed", extra={"error": type(exc).__name__})

    async def _send(self, chat_id: int, conversation_id: Optional[str], text: str, *,
                    inline: Sequence[Tuple[str, str]] = (), row: bool = False, contact: bool = False,
                    remove_keyboard: bool = False, source_key: Optional[str] = None, leave: bool = False,
                    per_row: Optional[int] = None) -> None:
        """Queue a message in the outbox (stored first), then wake the sender.
        ``leave``: the keyboard is the queued notice's (see ``live_keyboards``)."""
        body: Dict[str, Any] = {"text": text[:TELEGRAM_TEXT_LIMIT] or "…"}
        if inline:
            body["inline"] = [list(b) for b in inline]
            body["row"] = row
            if per_row:
                body["per_row"] = per_row
            if leave:
                body["leave"] = True
        elif contact:
            body["contact"] = True
        elif remove_keyboard:
            body["remove_keyboard"] = True
        if await self.db.enqueue(chat_id, conversation_id, body, source_key):
            if self._leading:
                self._wake.set()
            else:  # the sender runs on the leading bridge
                await self.bridge.signal(OUTBOX_SIGNAL)

    async def _send_now(self, chat_id: int, text: str) -> None:
        """Outside the outbox (the database may be what failed); best effort."""
        try:
            await self.bot.send_message(chat_id, text)
        except TelegramError as exc:
            logger.warning("telegram_send_failed", extra={"error": type(exc).__name__})

    async def _outbox_loop(self) -> None:
        """Send due rows, the oldest first in each chat, as fast as the pacer
        allows (pacing.py: ~30/s overall, ~1/s per chat); sleep until the next
        due row, the pacer's next token or a new row. Storage errors pause the
        loop, never end it."""
        while True:
            self._wake.clear()
            wait = 30.0
            try:
                heads = await self.db.heads()
            except StorageError as exc:
                logger.error("telegram_outbox_unreadable", extra={"error": str(exc)})
                heads, wait = [], 5.0
            now = utcnow()
            due = {h["chat_id"]: h for h in heads if h["next_attempt_at"] <= now}
            allowed, paced_s = self.pacer.take(due)
            if allowed:
                await asyncio.gather(*(self._deliver(due[chat_id]) for chat_id in allowed))
                continue
            later = [h for h in heads if h["next_attempt_at"] > now]
            if later:
                wait = max(0.05, min((h["next_attempt_at"] - now).total_seconds() for h in later))
            if paced_s:
                wait = min(wait, max(0.01, paced_s))
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=wait)

    async def _deliver(self, row: Dict[str, Any]) -> None:
        body = json.loads(row["body"])
        markup = _markup(body)
        if body.get("row") and isinstance(markup, InlineKeyboardMarkup):
            buttons = [InlineKeyboardButton(t, callback_data=d) for t, d in body["inline"]]
            per = int(body.get("per_row") or len(buttons))
            markup = InlineKeyboardMarkup([buttons[i:i + per] for i in range(0, len(buttons), per)])
        attempts = int(row["attempts"]) + 1
        limit = self.settings.telegram_outbox_max_attempts
        if body.get("inline") and not body.get("row"):
            try:  # new buttons: the older ones' steps are over
                await self._clear_keyboards(row["chat_id"], before_row=row["id"])
            except StorageError as exc:
                logger.warning("telegram_keyboards_unread", extra={"error": str(exc)})
        try:
            sent = await self.bot.send_message(row["chat_id"], body["text"], reply_markup=markup)
        except RetryAfter as exc:
            delay = _retry_after_s(exc)
            logger.warning("telegram_rate_limited", extra={"outbox_id": row["id"], "retry_in_s": delay})
            await self._reschedule(row, attempts, delay, "RetryAfter", attempts >= limit)
        except (Forbidden, BadRequest, InvalidToken) as exc:  # blocked by the user, bad chat: retrying will not help
            logger.error("telegram_send_refused", extra={"outbox_id": row["id"], "error": type(exc).__name__})
            if isinstance(exc, Forbidden):  # "bot was blocked by the user": no more order updates (consent.py)
                await self._chat_forbidden(row["chat_id"])
            await self._reschedule(row, attempts, 0.0, f"{type(exc).__name__}: {exc}", True)
        except NetworkError as exc:
            delay = min(MAX_BACKOFF_S, 2.0 ** attempts)
            logger.warning("telegram_send_retry", extra={"outbox_id": row["id"], "error": type(exc).__name__,
                                                         "retry_in_s": delay})
            await self._reschedule(row, attempts, delay, type(exc).__name__, attempts >= limit)
        except TelegramError as exc:
            logger.error("telegram_send_failed", extra={"outbox_id": row["id"], "error": type(exc).__name__})
            await self._reschedule(row, attempts, 0.0, type(exc).__name__, True)
        else:
            try:
                await self.db.sent(row["id"], sent.message_id)
            except StorageError as exc:  # sent but not marked: a restart would send it again
                logger.error("telegram_outbox_mark_failed", extra={"outbox_id": row["id"], "error": str(exc)})
            key = row.get("source_key") or ""
            for listener in self.outbox_listeners:  # a notification's row: sent
                await listener(key, None)
            if key.startswith("m:") and row.get("conversation_id"):  # Telegram has it for the chat: "entregado"
                try:
                    await self.bridge.message_received(row["conversation_id"], key[2:])
                except StorageError as exc:
                    logger.warning("telegram_delivered_unmarked", extra={"outbox_id": row["id"], "error": str(exc)})

    async def _chat_forbidden(self, chat_id: int) -> None:
        try:
            await self.consent.blocked(chat_id)
        except StorageError as exc:
            logger.error("telegram_consent_unmarked", extra={"error": str(exc)})

    async def send_notice(self, chat_id: int, conversation_id: str, text: str, buttons: Sequence[Dict[str, str]],
                          message_id: str, source_key: str, extra: Sequence[Tuple[str, str]] = ()) -> None:
        """An order update (handoff/shop/notify.py) into the outbox, once per
        ``source_key``: ``buttons`` are the bridge's (pressed as the bot's, for
        message ``message_id``), ``extra`` the channel's own (title, callback)."""
        inline = await self.db.add_buttons(conversation_id, buttons, message_id) if buttons else []
        await self._send(chat_id, conversation_id, keep_amounts(text), inline=[*inline, *extra], source_key=source_key)

    async def _reschedule(self, row: Dict[str, Any], attempts: int, delay: float, error: str, give_up: bool) -> None:
        if give_up:
            for listener in self.outbox_listeners:  # given up: a notification's row says so
                await listener(row.get("source_key"), error)
            logger.error("telegram_message_dropped", extra={"outbox_id": row["id"], "attempts": attempts})
        try:
            await self.db.retry(row["id"], attempts, delay, error, give_up)
        except StorageError as exc:
            logger.error("telegram_outbox_mark_failed", extra={"outbox_id": row["id"], "error": str(exc)})
