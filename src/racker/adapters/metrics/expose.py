"""The exposition of racker's metrics: one registry per listener, rendered at each scrape."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from racker.adapters.metrics.rack import RackCollector, RackFigures

Exposition = Callable[[], tuple[bytes, str]]
"""The metrics page now: its body and its content type."""


def exposition(figures: Callable[[], RackFigures]) -> Exposition:
    """The text exposition format of racker's metrics over `figures` (no process metrics: the
    rack's Prometheus watches the host with node_exporter)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(RackCollector(figures))

    def render() -> tuple[bytes, str]:
        return generate_latest(registry), CONTENT_TYPE_LATEST

    return render
