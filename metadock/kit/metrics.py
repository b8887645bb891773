"""Prometheus metrics: per-route request counts and latencies, and ``GET /metrics`` to scrape them. Resources add
their own metrics to the app's registry (:func:`registry_of`), e.g. the capture's counts.

Each app owns its registry (not prometheus-client's global one) so that several apps in one process, as the tests
create, never collide on metric names. Under ``serve --workers N`` each worker process answers with its own counts;
a scraper that must see the sum scrapes through a load balancer and aggregates, as for any multi-process server.
"""

from __future__ import annotations

import hmac
from typing import Any, Final

from litestar import Litestar, Request, Response, get
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from metadock.kit.authentication import PUBLIC
from metadock.kit.context import runtime_of
from metadock.kit.errors import unauthenticated

METRICS_STATE_KEY: Final = "metadock.metrics"
# Latency buckets from a fast metadata read to a large streamed upload.
_LATENCY_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


def status_class(status: int) -> str:
    """``2xx``..``5xx``: the label stays low-cardinality however many distinct codes the app answers."""
    return f"{status // 100}xx"


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "metadock_http_requests",
            "HTTP requests answered, by route template and status class.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "metadock_http_request_duration_seconds",
            "Time from receiving a request to finishing its response.",
            ["method", "route", "status"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.database_connections = Gauge(
            "metadock_database_connections",
            "Database connections of this worker: in_use by a transaction, waiting (transactions queued for one), max.",
            ["state"],
            registry=self.registry,
        )

    def observe_database(self, in_use: int, waiting: int, maximum: int) -> None:
        self.database_connections.labels("in_use").set(in_use)
        self.database_connections.labels("waiting").set(waiting)
        self.database_connections.labels("max").set(maximum)

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        labels = (method, route, status_class(status))
        self.requests.labels(*labels).inc()
        self.latency.labels(*labels).observe(seconds)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


def registry_of(app: Litestar) -> CollectorRegistry:
    """The app's metrics registry, where a resource registers its own metrics."""
    metrics: Metrics = app.state[METRICS_STATE_KEY]
    return metrics.registry


def _authorised(request: Request[Any, Any, Any], token: str) -> bool:
    header = request.headers.get("authorization", "")
    scheme, _, presented = header.partition(" ")
    # Constant-time comparison so the token cannot be recovered byte by byte from response times.
    return scheme.lower() == "bearer" and hmac.compare_digest(presented.strip().encode(), token.encode())


# Public to the tenant authentication (a scraper has no tenant); protected by its own token when one is configured.
# Left out of the OpenAPI document: it is an operator's endpoint, not part of either client API.
@get("/metrics", opt={PUBLIC: True}, include_in_schema=False, sync_to_thread=False)
def metrics_endpoint(request: Request[Any, Any, Any]) -> Response[bytes]:
    context = runtime_of(request)
    token = context.settings.metrics_token
    if token is not None and not _authorised(request, token.get_secret_value()):
        raise unauthenticated("A valid metrics token is required.")
    metrics: Metrics = request.app.state[METRICS_STATE_KEY]
    database = context.database
    metrics.observe_database(database.in_use, database.waiting, database.max_connections)
    return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
