"""Prometheus metrics of one bridge, in its own registry (so tests can run
several bridges in one process without clashing)."""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["Metrics", "CONTENT_TYPE_LATEST"]


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.conversations = Counter("handoff_conversations", "Conversations started", registry=r)
        self.messages = Counter("handoff_messages", "Messages stored, by sender", ["sender"], registry=r)
        self.handoffs = Counter("handoff_handoffs", "Conversations queued for a person, by reason", ["reason"], registry=r)
        self.queue_length = Gauge("handoff_queue_length", "Conversations waiting for an agent", registry=r)
        self.agents_online = Gauge("handoff_agents_online", "Agents with a console connected", registry=r)
        self.connections = Gauge("handoff_connections", "Open WebSocket connections", ["endpoint"], registry=r)
        self.first_reply = Histogram(
            "handoff_time_to_first_agent_reply_seconds", "From queueing to the agent's first message",
            buckets=(10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200), registry=r)
        self.rasa_latency = Histogram(
            "handoff_rasa_latency_seconds", "Rasa REST webhook latency",
            buckets=(0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10), registry=r)
        self.rasa_errors = Counter("handoff_rasa_errors", "Failed or timed-out Rasa calls", registry=r)
        self.csat = Histogram("handoff_csat_score", "Customer satisfaction (1-5)", buckets=(1, 2, 3, 4, 5), registry=r)
        self.queue_left = Counter("handoff_queue_left", "Handoffs the customer left before a claim, by how",
                                  ["how"], registry=r)
        self.sla_breaches = Counter(
            "handoff_sla_breaches", "Handoff episodes whose first-response promise passed without an agent reply "
            "(counted once per episode, when the shopper is told)", registry=r)
        self.sla_breached_waiting = Gauge(
            "handoff_sla_breached_waiting", "Conversations still unanswered past their first-response promise "
            "(queued or claimed), as of the latest SLA sweep", registry=r)
        self.queue_wait = Histogram(
            "handoff_queue_wait_seconds", "From queueing to the first claim, or to leaving the queue unclaimed, "
            "by outcome", ["outcome"],
            buckets=(30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 43200, 86400, 259200), registry=r)
        self.shop_events = Counter("handoff_shop_events", "Shop order events received, by result (applied, "
                                   "duplicate, or the refusal's error code)", ["result"], registry=r)
        self.shop_identities = Counter("handoff_shop_identities", "Signed shop identities in start frames, by "
                                       "result (verified, or why ignored)", ["result"], registry=r)
        self.bad_frames = Counter("handoff_bad_frames", "Frames refused, by error code", ["code"], registry=r)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
