"""berthd's Prometheus metrics, computed from the projections and the log.

Everything but the request histogram is read when scraped, so a scrape shows the store as
it is and nothing can drift: containers by state from the container view, events by type
from the log (counted incrementally: each scrape reads only the events stored since the
previous one), and two lags in events — the log head minus the position the projections
have applied, and minus the position the containers' reactor has saved as fully acted
on. `render()` blocks: call it in a thread.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from ..views.event_counts import EventCounts

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

    from ..service.engine import Engine

# Request latency buckets: API calls are milliseconds; waits, pulls and attaches run long.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"})
UNMATCHED_ROUTE = "unmatched"


class Metrics:
    """berthd's own registry (never the process-global one) and what feeds it."""

    def __init__(
        self, engine: Engine, reactor_position: Callable[[], int | None] | None = None
    ) -> None:
        self.engine = engine
        self.reactor_position = reactor_position or (lambda: None)
        self.registry = CollectorRegistry(auto_describe=True)
        self.request_duration = Histogram(
            "berth_api_request_duration_seconds",
            "Docker Engine API requests: time from the request's headers to the reply's end.",
            ["method", "route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.events = EventCounts(engine.store)
        self.registry.register(_StoreCollector(self))

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        """One API exchange; `route` is the route's template, never the raw path."""
        label = method if method in KNOWN_METHODS else "OTHER"
        self.request_duration.labels(label, route, str(status)).observe(seconds)

    def render(self) -> bytes:
        """The Prometheus text exposition (blocking: reads the databases)."""
        return generate_latest(self.registry)


class _StoreCollector(Collector):
    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def describe(self) -> list[Metric]:
        return []  # computed at scrape time; nothing to check at registration

    def collect(self) -> Iterator[Metric]:
        engine = self._metrics.engine
        head, by_type = self._metrics.events.advance()
        events = CounterMetricFamily(
            "berth_events", "Events stored in the log, by type.", labels=["type"]
        )
        for kind, count in sorted(by_type.items()):
            events.add_metric([kind], count)
        yield events

        by_state = engine.views.containers_by_state()
        containers = GaugeMetricFamily(
            "berth_containers", "Containers in the container view, by state.", labels=["state"]
        )
        for state, count in by_state.items():
            containers.add_metric([state], count)
        yield containers

        if engine.host_id:  # a fleet's store: every host's containers, labelled by host
            fleet = GaugeMetricFamily(
                "berth_fleet_containers",
                "Containers of every host of the fleet's store, by host and state.",
                labels=["host", "state"],
            )
            for (host, state), count in sorted(engine.views.fleet_containers_by_state().items()):
                fleet.add_metric([host, state], count)
            yield fleet

        yield GaugeMetricFamily("berth_log_position", "Position of the log's head.", value=head)
        projected = engine.views.position()
        yield GaugeMetricFamily(
            "berth_projection_lag_events",
            "Events in the log that the projections have not applied yet.",
            value=max(0, head - projected),
        )
        reactor = self._metrics.reactor_position()
        if reactor is not None:
            yield GaugeMetricFamily(
                "berth_reactor_lag_events",
                "Events in the log that the containers' reactor has not fully acted on yet.",
                value=max(0, head - reactor),
            )
