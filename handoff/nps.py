"""Who is asked the NPS question (pure): a share of the customers, chosen by
a hash of the conversation and its handoff, so the choice is the same after a
restart or on another bridge process, and ``nps_share`` 1.0 asks everyone
(0.0 nobody). Scores 0-6 are detractors, 7-8 passives, 9-10 promoters."""
from __future__ import annotations

import hashlib


def nps_selected(conversation_id: str, episode_id: int, share: float) -> bool:
    """Whether this closed handoff's customer gets the NPS question."""
    if share <= 0:
        return False
    if share >= 1:
        return True
    digest = hashlib.sha256(f"nps:{conversation_id}:{episode_id}".encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2 ** 64 < share


def nps_group(score: int) -> str:
    """promoter (9-10), passive (7-8) or detractor (0-6)."""
    if score >= 9:
        return "promoter"
    if score >= 7:
        return "passive"
    return "detractor"
