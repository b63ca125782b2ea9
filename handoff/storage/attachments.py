"""Customers' files (photos, documents): stored once per source, read back
with their bytes for the console's signed links."""
from __future__ import annotations

import secrets
from typing import Optional, Tuple

from sqlalchemy import and_, insert, select
from sqlalchemy.engine import Connection

from handoff.storage.engine import StorageEngine, threaded
from handoff.storage.records import Attachment, attachment_of, utcnow
from handoff.storage.tables import attachments_table


class AttachmentStorage(StorageEngine):
    """Storage's part for customers' files."""

    @threaded
    def add_attachment(
        self, conn: Connection, conversation_id: str, kind: str, name: str, content_type: str,
        data: bytes, source_key: Optional[str] = None,
    ) -> Attachment:
        """Store a file once per ``source_key`` (a re-processed update finds the first copy)."""
        if source_key is not None:
            row = conn.execute(select(*[c for c in attachments_table.c if c.name != "data"]).where(and_(
                attachments_table.c.conversation_id == conversation_id,
                attachments_table.c.source_key == source_key))).first()
            if row is not None:
                return attachment_of(row)
        attachment_id = "a_" + secrets.token_hex(12)
        conn.execute(insert(attachments_table).values(
            id=attachment_id, conversation_id=conversation_id, kind=kind, name=name[:255],
            content_type=content_type[:100], size=len(data), data=data, source_key=source_key,
            created_at=utcnow()))
        return Attachment(attachment_id, conversation_id, kind, name[:255], content_type[:100], len(data))

    @threaded
    def get_attachment(self, conn: Connection, attachment_id: str) -> Optional[Tuple[Attachment, bytes]]:
        row = conn.execute(select(attachments_table).where(attachments_table.c.id == attachment_id)).first()
        return (attachment_of(row), bytes(row.data)) if row else None
