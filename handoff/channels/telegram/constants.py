"""The channel's fixed names and limits."""
from __future__ import annotations

import datetime as dt

CHANNEL = "telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
ALLOWED_UPDATES = ["message", "callback_query"]
TELEGRAM_TEXT_LIMIT = 4096
CALLBACK_PREFIX = "b:"
CSAT_PREFIX = "csat:"
NPS_PREFIX = "nps:"
NPS_PER_ROW = 6  # 0-5 and 6-10: eleven buttons do not fit one row
LEAVE_CALLBACK = "q:leave"  # "Volver al asistente" under the queued notice
UPDATES_KEPT = dt.timedelta(days=7)
BUTTONS_KEPT = dt.timedelta(days=30)
MAX_BACKOFF_S = 300.0
WEBHOOK_BODY_LIMIT = 1024 * 1024
OUTBOX_SIGNAL = "telegram_outbox"  # any bridge stored outbox rows: the leader sends them
NOT_TELEGRAM_KEPT = 50_000
