"""Signed, expiring links to customers' files for agents, and the agent
frames that carry them (no agent ever gets a file's bytes in a frame).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import time
from typing import List

from handoff.bridge.base import (
    BridgeBase,
    Frame,
    _attachment_infos,
    _iso,
)
from handoff.storage import (
    StoredMessage,
)

logger = logging.getLogger("handoff.bridge")


class AttachmentLinks(BridgeBase):
    """Signed attachment links and the agent frames that carry them."""

    def _signature(self, attachment_id: str, expires: int) -> str:
        digest = hmac.new(self._attachment_key, f"{attachment_id}:{expires}".encode("utf-8"), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")

    def attachment_url(self, attachment_id: str) -> str:
        """A relative URL valid for HANDOFF_ATTACHMENT_URL_TTL_S, bound to this
        attachment (the console is a browser page: it cannot add headers to <img>)."""
        expires = int(time.time()) + self.settings.attachment_url_ttl_s
        return f"/attachments/{attachment_id}?exp={expires}&sig={self._signature(attachment_id, expires)}"

    def attachment_url_valid(self, attachment_id: str, expires: str, signature: str) -> bool:
        try:
            when = int(expires)
        except ValueError:
            return False
        if when < time.time():
            return False
        return hmac.compare_digest(self._signature(attachment_id, when), signature)

    def _attachment_frames(self, message: StoredMessage) -> List[Frame]:
        return [{"id": a["id"], "kind": a.get("kind", "document"), "name": a.get("name", ""),
                 "content_type": a.get("content_type", "application/octet-stream"),
                 "url": self.attachment_url(a["id"])}
                for a in _attachment_infos(message.data.get("attachments"))]

    def _agent_message_frame(self, message: StoredMessage) -> Frame:
        frame: Frame = {"type": "message", "conversation_id": message.conversation_id, "id": str(message.id),
                        "sender": "customer", "text": message.text, "at": _iso(message.created_at)}
        attachments = self._attachment_frames(message)
        if attachments:
            frame["attachments"] = attachments
        return frame
