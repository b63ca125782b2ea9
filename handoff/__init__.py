"""The handoff bridge: web chat and agent console in front of Rasa.

The bridge owns channels, sessions, handoff state, the agent queue,
transcripts, CSAT and metrics (see docs/protocol.md for the wire contract).
Start it with ``python -m handoff``; nothing connects at import time.
"""
