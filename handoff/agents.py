"""Agent accounts and their tokens.

A token is ``<agent id>.<secret>``; only a salted scrypt hash of the secret is
stored, compared with ``hmac.compare_digest``. The id part lets the bridge find
the row without scanning every hash.
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from typing import Optional, Tuple

from handoff.storage import Agent, Storage

_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}


class AgentError(Exception):
    """Agent administration failed."""


def hash_secret(secret: str, salt: bytes) -> bytes:
    return hashlib.scrypt(secret.encode("utf-8"), salt=salt, **_SCRYPT)


async def add_agent(storage: Storage, name: str) -> Tuple[Agent, str]:
    """Create an agent; the token is returned once and never stored in clear."""
    name = name.strip()
    if not name or len(name) > 100:
        raise AgentError("the agent name must have 1 to 100 characters")
    agent_id = "a_" + secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    salt = secrets.token_bytes(16)
    digest = await asyncio.to_thread(hash_secret, secret, salt)
    agent = await storage.insert_agent(agent_id, name, salt, digest)
    return agent, f"{agent_id}.{secret}"


async def authenticate(storage: Storage, token: str) -> Optional[Agent]:
    """The agent whose token this is, or None."""
    agent_id, _, secret = token.partition(".")
    if not agent_id or not secret:
        return None
    found = await storage.agent_secret(agent_id)
    if found is None:
        await asyncio.to_thread(hash_secret, secret, b"0" * 16)  # same work: no hint about ids
        return None
    agent, salt, stored = found
    digest = await asyncio.to_thread(hash_secret, secret, salt)
    return agent if hmac.compare_digest(digest, stored) else None
