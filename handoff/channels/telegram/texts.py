"""What Telegram customers read (Spanish, in the store's voice) and how
messages and their buttons are drawn.
"""
from __future__ import annotations

import logging
from typing import Any, Dict

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)

from handoff.bridge import Frame
from handoff.texts import TU, Texts, wait_text

logger = logging.getLogger(__name__)


# -- what customers read (Spanish) ----------------------------------------

# The tú texts under their old names; what is sent follows the store's voice
# (handoff/texts.py, ``TelegramChannel.texts``).
CONTACT_PROMPT = TU["tg_contact_prompt"]
CONTACT_BUTTON = "📱 Compartir mi teléfono"
CONTACT_NOT_OWN = TU["tg_contact_not_own"]
CONTACT_VERIFIED = TU["tg_contact_verified"]
CONTACT_UNKNOWN = TU["tg_contact_unknown"]
CONTACT_STORE_DOWN = TU["tg_contact_store_down"]
GROUP_TEXT = TU["tg_group"]
UNSUPPORTED_TEXT = TU["tg_unsupported"]
TOO_BIG = TU["tg_too_big"]
DOWNLOAD_FAILED = TU["tg_download_failed"]
NOT_PROCESSED = TU["tg_not_processed"]
BUTTON_GONE = TU["tg_button_gone"]
STEP_OVER = TU["tg_step_over"]
CSAT_TEXT = TU["csat_ask_team"]  # the bridge's csat_request names the agent: TU.get("csat_ask", agent=...)
CSAT_NOT_PENDING = TU["tg_csat_not_pending"]
QUEUED_TEXT = TU["tg_queued"]
QUEUED_WAIT = TU["tg_queued_wait"]
ASSIGNED_TEXT = TU["tg_assigned"]



def help_text(texts: Texts, store: str) -> str:
    """The channel's help (/ayuda, /start's second line) in ``texts``' voice."""
    return texts.get("tg_help", store=store)


def _markup(body: Dict[str, Any]) -> Any:
    """The reply markup described in an outbox body."""
    if body.get("inline"):
        return InlineKeyboardMarkup([[InlineKeyboardButton(title, callback_data=data)]
                                     for title, data in body["inline"]])
    if body.get("contact"):
        return ReplyKeyboardMarkup([[KeyboardButton(CONTACT_BUTTON, request_contact=True)]],
                                   resize_keyboard=True, one_time_keyboard=True)
    if body.get("remove_keyboard"):
        return ReplyKeyboardRemove()
    return None


def _queued_text(frame: Frame, texts: Texts = TU) -> str:
    ahead = max(0, int(frame.get("position") or 1) - 1)
    if ahead == 0:
        text = texts["tg_queued_next"]
    else:
        text = texts.get("tg_queued", ahead="a 1 persona" if ahead == 1 else f"a {ahead} personas")
    wait = frame.get("wait_text") or wait_text(frame.get("estimated_wait_s"))  # "unos 5 minutos", as the widget
    if wait and not frame.get("offline"):
        text += texts.get("tg_queued_wait", wait=wait)
    # "Te respondemos antes de las 10:30." (the bridge's words, as the widget's); out of
    # hours the bridge's out-of-hours line says it, once
    if frame.get("promise_text") and not frame.get("offline"):
        text += " " + str(frame["promise_text"])
    return text
