"""Telegram updates into the bridge: texts, button presses, a shared
contact (verification), photos and documents; every update once, in
order per chat.
"""
from __future__ import annotations

import logging
from typing import Optional

from telegram import (
    Chat,
    Message,
    Update,
    User,
)
from telegram.error import BadRequest, NetworkError, TelegramError
from telegram.ext import ContextTypes

from core.store import StoreError
from handoff.bridge import LEAVE_QUEUE, customer_proof
from handoff.channels.telegram.base import AttachmentRefused
from handoff.channels.telegram.consent import SILENCE_COMMANDS, UPDATES_COMMANDS, UPDATES_OFF_CALLBACK
from handoff.channels.telegram.constants import (
    CALLBACK_PREFIX,
    CHANNEL,
    CSAT_PREFIX,
    LEAVE_CALLBACK,
    NPS_PREFIX,
)
from handoff.channels.telegram.outgoing import Outgoing
from handoff.frames import MAX_TEXT, FrameError, clean_text
from handoff.storage import Attachment, StorageError

logger = logging.getLogger(__name__)


class Incoming(Outgoing):
    """The channel's incoming side."""

    # -- incoming ----------------------------------------------------------

    async def _on_update(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Every update, once: per chat in order (a lock per chat), skipped if
        already processed, marked processed only when handled."""
        chat = update.effective_chat
        async with self._locks[chat.id if chat else 0]:
            if await self.db.seen(update.update_id):
                logger.info("telegram_update_skipped", extra={"update_id": update.update_id})
                return
            try:
                await self._dispatch(update, chat)
            except (StorageError, TelegramError) as exc:
                logger.error("telegram_update_failed", extra={"update_id": update.update_id,
                                                               "error": type(exc).__name__})
                if chat is not None and chat.type == Chat.PRIVATE:
                    self._background(self._send_now(chat.id, self.texts["tg_not_processed"]))
                return  # not marked: a redelivery (or the next start) tries again
            except Exception:  # noqa: BLE001 - an update that breaks the code is answered, not retried forever
                logger.exception("telegram_update_crashed", extra={"update_id": update.update_id})
                if chat is not None and chat.type == Chat.PRIVATE:
                    self._background(self._send_now(chat.id, self.texts["tg_not_processed"]))
            await self.db.mark(update.update_id)

    async def _dispatch(self, update: Update, chat: Optional[Chat]) -> None:
        if chat is None:
            return
        if chat.type != Chat.PRIVATE:
            await self._refuse_group(chat, update)
            return
        if update.callback_query is not None:
            await self._on_callback(update, chat)
            return
        message = update.message
        if message is None or message.from_user is None:
            return
        conversation_id = await self._conversation(chat, message.from_user)
        client_id = f"tg:{update.update_id}"
        if message.text:
            await self._on_text(conversation_id, chat.id, message.text, client_id)
        elif message.contact is not None:
            await self._on_contact(conversation_id, chat.id, message)
        elif message.animation is None and (message.photo or message.document is not None):
            await self._on_file(conversation_id, chat.id, message, client_id)
        else:
            await self._send(chat.id, conversation_id, self.texts["tg_unsupported"])

    async def _conversation(self, chat: Chat, user: User) -> str:
        """The bridge conversation of this chat, created (and persisted) on first contact."""
        known = self._conversation_of.get(chat.id)
        if known:
            return known
        found = await self.db.chat(chat.id)
        if found is not None and found[0]:
            conversation_id = found[0]
        else:
            conversation, _ = await self.bridge.open_session(None, channel=CHANNEL)
            conversation_id = conversation.id
            await self.bridge.storage.set_profile(conversation_id, display_name=clean_text(user.first_name or ""))
            await self.db.add_chat(chat.id, conversation_id, chat.type)
        self._conversation_of[chat.id] = conversation_id
        self._chat_of[conversation_id] = chat.id
        return conversation_id

    async def _refuse_group(self, chat: Chat, update: Update) -> None:
        """A polite note the first time, then nothing (no conversation is opened)."""
        if update.callback_query is not None:
            await self._answer(update.callback_query.id, None)
        if await self.db.chat(chat.id) is not None:
            return
        await self.db.add_chat(chat.id, None, chat.type)
        logger.info("telegram_group_refused", extra={"chat_type": chat.type})
        await self._send(chat.id, None, self.texts["tg_group"])

    async def _on_text(self, conversation_id: str, chat_id: int, raw: str, client_id: str) -> None:
        text = clean_text(raw).strip()[:MAX_TEXT]  # as every channel's text (handoff.frames)
        if not text:
            await self._send(chat_id, conversation_id, self.texts["tg_unsupported"])
            return
        await self._clear_keyboards(chat_id)  # the customer wrote instead of pressing: those steps are over
        command = text.split()[0].split("@")[0].lower() if text.startswith("/") else None
        if command == "/start":
            await self.consent.started(chat_id)  # a chat that started the bot takes order updates (consent.py)
            await self.bridge.customer_message(conversation_id, None, text, "/greet", client_id)
            await self._offer_contact(chat_id, conversation_id)
        elif command in SILENCE_COMMANDS or command in UPDATES_COMMANDS:
            await self._choose_updates(chat_id, conversation_id, command in UPDATES_COMMANDS)
        elif command in ("/ayuda", "/help"):
            await self.bridge.system_message(conversation_id, self._help())
            await self._offer_contact(chat_id, conversation_id)
        elif command == "/agente":
            await self.bridge.customer_message(conversation_id, None, text, "/request_human", client_id)
        elif command is not None:
            await self._send(chat_id, conversation_id, self.texts["tg_unknown_command"] + self._help())
        else:
            await self.bridge.customer_message(conversation_id, None, text, None, client_id)

    async def _choose_updates(self, chat_id: int, conversation_id: str, on: bool) -> None:
        """/avisos or /silencio (or its button): the chat's choice, said back."""
        await self.consent.choose(chat_id, on)
        logger.info("telegram_updates_chosen", extra={"conversation_id": conversation_id, "on": on})
        await self._send(chat_id, conversation_id, self.texts["tg_updates_on" if on else "tg_updates_off"])

    async def _offer_contact(self, chat_id: int, conversation_id: str) -> None:
        """The «Compartir mi teléfono» offer, only while the chat's customer is
        unknown: a chat verified (by its phone, or by an order and e-mail with
        the bot) is never asked to share the phone again."""
        conversation = await self.bridge.storage.get_conversation(conversation_id)
        if conversation.customer_id:
            return
        await self._send(chat_id, conversation_id, self.texts["tg_contact_prompt"], contact=True)

    async def _on_callback(self, update: Update, chat: Chat) -> None:
        query = update.callback_query
        assert query is not None
        conversation_id = await self._conversation(chat, query.from_user)
        data = clean_text(query.data or "")
        client_id = f"tg:{update.update_id}"
        if data == LEAVE_CALLBACK:
            # the bridge decides (queued: back to the bot; claimed meanwhile: the agent is told)
            await self._answer(query.id, None)
            await self._clear_keyboards(chat.id, leave=True)
            await self.bridge.customer_message(conversation_id, None, self.texts["btn_leave_queue"], LEAVE_QUEUE,
                                               client_id)
            return
        if data == UPDATES_OFF_CALLBACK:  # «No quiero avisos» under an order update
            await self._answer(query.id, None)
            await self._choose_updates(chat.id, conversation_id, False)
            return
        if data.startswith(CSAT_PREFIX) and data[len(CSAT_PREFIX):] in ("1", "2", "3", "4", "5"):
            rated = query.message.message_id if query.message is not None else None
            try:
                await self.bridge.customer_csat(conversation_id, int(data[len(CSAT_PREFIX):]), None)
            except FrameError:
                await self._answer(query.id, self.texts["tg_csat_not_pending"])
            else:
                await self._answer(query.id, None)  # the bridge's thanks in the chat is the one thank-you
            if rated is not None:  # rated (now or before): that 1-5 keyboard goes, the bot's stay
                await self._remove_keyboard(chat.id, rated)
            return
        if data.startswith(NPS_PREFIX) and data[len(NPS_PREFIX):] in [str(n) for n in range(11)]:
            try:
                await self.bridge.customer_nps(conversation_id, int(data[len(NPS_PREFIX):]))
            except FrameError:
                await self._answer(query.id, self.texts["tg_nps_not_pending"])
                return
            await self._answer(query.id, None)  # thanked once: by the bridge's line in the chat
            return
        found = await self.db.button(data[len(CALLBACK_PREFIX):]) if data.startswith(CALLBACK_PREFIX) else None
        if found is None or found[0] != conversation_id:
            await self._answer(query.id, self.texts["tg_button_gone"])
            return
        _, title, payload, reply_to = found
        # the bridge owns the rule (Bridge.button_live); asking first lets the
        # spinner stop at once with the right answer
        live = reply_to is None or await self.bridge.button_live(conversation_id, reply_to)
        await self._answer(query.id, None if live else self.texts["tg_step_over"])
        pressed = query.message.message_id if query.message is not None else None
        await self._clear_keyboards(chat.id, also=pressed)
        await self.bridge.customer_message(conversation_id, None, title, payload, client_id, reply_to)


    async def _answer(self, query_id: str, text: Optional[str]) -> None:
        """answerCallbackQuery (stops the button's spinner); best effort."""
        try:
            await self.bot.answer_callback_query(query_id, text=text)
        except TelegramError as exc:
            logger.info("telegram_answer_callback_failed", extra={"error": type(exc).__name__})

    async def _on_contact(self, conversation_id: str, chat_id: int, message: Message) -> None:
        """Only the customer's own contact (contact.user_id == sender) counts;
        a matching store customer becomes verified for this conversation."""
        contact = message.contact
        assert contact is not None and message.from_user is not None
        if contact.user_id is None or contact.user_id != message.from_user.id:
            logger.info("telegram_contact_not_own", extra={"conversation_id": conversation_id})
            await self._send(chat_id, conversation_id, self.texts["tg_contact_not_own"])
            return
        try:
            customer = await self.bridge.store.get_customer_by_phone(clean_text(contact.phone_number or ""))
        except StoreError as exc:
            logger.warning("telegram_contact_store_failed", extra={"error": type(exc).__name__})
            await self._send(chat_id, conversation_id, self.texts["tg_contact_store_down"], remove_keyboard=True)
            return
        if customer is None:
            logger.info("telegram_contact_unknown", extra={"conversation_id": conversation_id})
            await self._send(chat_id, conversation_id, self.texts["tg_contact_unknown"], remove_keyboard=True)
            return
        await self.bridge.verify_customer(conversation_id, *customer_proof(customer, "telegram_phone"))
        first_name = customer.name.split()[0] if customer.name else ""
        await self._send(chat_id, conversation_id, self.texts.get("tg_contact_verified", name=first_name),
                         remove_keyboard=True)

    async def _on_file(self, conversation_id: str, chat_id: int, message: Message, client_id: str) -> None:
        try:
            attachment = await self._download(conversation_id, message, client_id)
        except AttachmentRefused as refused:
            await self._send(chat_id, conversation_id, refused.text)
            return
        await self.bridge.customer_attachments(conversation_id, clean_text(message.caption or "")[:MAX_TEXT],
                                               [attachment], client_id)

    async def _download(self, conversation_id: str, message: Message, client_id: str) -> Attachment:
        """getFile + download, size-checked before and after (HANDOFF_MAX_ATTACHMENT_BYTES)."""
        limit = self.settings.max_attachment_bytes
        too_big = self.texts.get("tg_too_big", mb=max(1, limit // (1024 * 1024)))
        if message.photo:
            best = message.photo[-1]
            file_id, size = best.file_id, best.file_size
            kind, name, content_type = "photo", f"foto_{message.message_id}.jpg", "image/jpeg"
        else:
            document = message.document
            assert document is not None
            file_id, size = document.file_id, document.file_size
            kind, name = "document", clean_text(document.file_name or "") or f"documento_{message.message_id}"
            content_type = clean_text(document.mime_type or "") or "application/octet-stream"
        if size is not None and size > limit:
            raise AttachmentRefused(too_big)
        try:
            telegram_file = await self.bot.get_file(file_id)
            if telegram_file.file_size is not None and telegram_file.file_size > limit:
                raise AttachmentRefused(too_big)
            data = bytes(await telegram_file.download_as_bytearray())
        except BadRequest as exc:  # e.g. "file is too big" (the Bot API serves at most 20 MB)
            logger.info("telegram_file_refused", extra={"error": type(exc).__name__})
            raise AttachmentRefused(too_big) from exc
        except NetworkError as exc:
            logger.warning("telegram_file_download_failed", extra={"error": type(exc).__name__})
            raise AttachmentRefused(self.texts["tg_download_failed"]) from exc
        if len(data) > limit:
            raise AttachmentRefused(too_big)
        logger.info("telegram_attachment_stored", extra={"conversation_id": conversation_id, "kind": kind,
                                                         "size": len(data)})
        return await self.bridge.storage.add_attachment(conversation_id, kind, name, content_type, data, client_id)
