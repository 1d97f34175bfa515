"""Counters and histograms the bridge exposes on /metrics (Prometheus text format).

Each process owns one :class:`Metrics` with its own registry, so tests never share counters.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class Metrics:
    """The bridge's metrics, registered in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.messages = Counter(
            "bridge_messages_total",
            "Messages handled, by platform, backend and outcome.",
            ["platform", "backend", "outcome"],
            registry=r,
        )
        self.upstream_messages = Counter(
            "bridge_upstream_messages_total",
            "Messages sent upstream (what a backend's plan counts), by backend and platform.",
            ["backend", "platform"],
            registry=r,
        )
        self.allowance_refusals = Counter(
            "bridge_allowance_refusals_total",
            "Messages not sent upstream because an allowance was used up, by its scope.",
            ["scope"],
            registry=r,
        )
        self.upstream_errors = Counter(
            "bridge_upstream_errors_total",
            "Upstream errors by backend and kind.",
            ["backend", "kind"],
            registry=r,
        )
        self.first_chunk_seconds = Histogram(
            "bridge_first_chunk_seconds",
            "From sending upstream to the first chunk.",
            ["backend"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.first_visible_seconds = Histogram(
            "bridge_first_visible_seconds",
            "From the message's arrival to the first visible text.",
            ["platform"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.edits = Counter(
            "bridge_edits_total",
            "Platform writes (sends and edits) made while streaming.",
            ["platform"],
            registry=r,
        )
        self.flood_waits = Counter(
            "bridge_flood_waits_total",
            "Times a platform asked a chat to slow down.",
            ["platform"],
            registry=r,
        )
        self.cooldowns = Gauge(
            "bridge_quota_cooldowns_active", "Backends paused after a quota error.", registry=r
        )
        self.in_flight = Gauge(
            "bridge_replies_in_flight", "Replies being streamed now.", registry=r
        )

    def watch_invalid_requests(self, count: Callable[[], float]) -> None:
        """Export the invalid-request guard's count, read from ``count`` at each scrape (only a
        process that runs Discord has one; the operator's page tells it from "none")."""
        gauge = Gauge(
            "bridge_discord_invalid_requests",
            "Discord's 401, 403 and 429 answers to the whole bot in the last 10 minutes.",
            registry=self.registry,
        )
        gauge.set_function(count)

    def exposition(self) -> bytes:
        """The registry in the Prometheus text format."""
        return generate_latest(self.registry)
