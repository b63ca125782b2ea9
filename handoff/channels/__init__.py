"""WebSocket endpoints: ``web`` (customers, /ws/chat) and ``console`` (agents, /ws/agent)."""
