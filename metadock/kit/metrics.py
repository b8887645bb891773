"""Prometheus metrics: per-route request counts and latencies, and ``GET /metrics`` to scrape them. Resources add
their own metrics to the app's registry (:func:`registry_of`), e.g. the capture's counts.

Each app owns its registry (not prometheus-client's global one) so that several apps in one process, as the tests
create, never collide on metric names. Under ``metadock serve`` (any number of workers) the node's workers share
their values through prometheus-client's multiprocess mode: ``serve`` points ``PROMETHEUS_MULTIPROC_DIR`` at a fresh
private directory before the workers start, each worker writes its values to files there, and whichever worker
answers ``/metrics`` sums them all, so one scrape sees the whole node.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

from litestar import Litestar, Request, Response, get
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest, values
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

from metadock.kit.authentication import PUBLIC
from metadock.kit.context import STATE_KEY, RuntimeContext, runtime_of
from metadock.kit.db import Database
from metadock.kit.errors import unauthenticated

METRICS_STATE_KEY: Final = "metadock.metrics"
# prometheus-client's own variable: set, every metric made in the process writes its values to files in that directory.
MULTIPROCESS_DIR_ENV: Final = "PROMETHEUS_MULTIPROC_DIR"
# How often each worker writes its database pool's gauges for a scrape that another worker answers.
DATABASE_SAMPLE_SECONDS: Final = 1.0
# Latency buckets from a fast metadata read to a large streamed upload.
_LATENCY_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


def status_class(status: int) -> str:
    """``2xx``..``5xx``: the label stays low-cardinality however many distinct codes the app answers."""
    return f"{status // 100}xx"


_DIRECTORY_PREFIX: Final = "metadock-metrics-"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def _remove_orphaned_directories(temp: Path) -> None:
    """Directories left by a node killed before it could remove its own (named after the ``serve`` process, so a live
    node's, on this machine too, is never touched)."""
    for directory in temp.glob(f"{_DIRECTORY_PREFIX}*-*"):
        owner = directory.name.removeprefix(_DIRECTORY_PREFIX).split("-", 1)[0]
        if owner.isdigit() and not _alive(int(owner)):
            shutil.rmtree(directory, ignore_errors=True)


@contextlib.contextmanager
def node_metrics_directory() -> Iterator[Path]:
    """For ``serve``, around its workers: a fresh private directory (0700, under the temp directory) for the workers'
    shared values, so that no count of an earlier run or another node is summed in; removed on exit, and at the next
    start if this process was killed first."""
    temp = Path(tempfile.gettempdir())
    _remove_orphaned_directories(temp)
    directory = Path(tempfile.mkdtemp(prefix=f"{_DIRECTORY_PREFIX}{os.getpid()}-", dir=temp))
    os.environ[MULTIPROCESS_DIR_ENV] = str(directory)
    try:
        yield directory
    finally:
        os.environ.pop(MULTIPROCESS_DIR_ENV, None)
        shutil.rmtree(directory, ignore_errors=True)


def _shared_directory() -> str | None:
    """The node's shared metrics directory when the process is one of ``serve``'s workers; None in-process."""
    directory = os.environ.get(MULTIPROCESS_DIR_ENV) or None
    if directory is not None and values.ValueClass is values.MutexValue:
        # prometheus-client picks its value class when first imported: imported before the variable was set, the
        # metrics made from here on must still write to the shared files.
        values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]  # untyped upstream
    return directory


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.shared_directory = _shared_directory()
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
            "Database connections of the node's live workers: in_use by a transaction, waiting (transactions queued "
            "for one), max (the sum of their pools' limits).",
            ["state"],
            registry=self.registry,
            # Summed over the live workers: the node's connections, queue and budget against max_connections.
            multiprocess_mode="livesum",
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
        if self.shared_directory is None:
            return generate_latest(self.registry)
        # Every worker's files, the answering one's included: counters and histograms summed, gauges by their mode.
        node = CollectorRegistry()
        MultiProcessCollector(node, path=self.shared_directory)  # type: ignore[no-untyped-call]  # untyped upstream
        return generate_latest(node)

    async def sample_database(self, database: Database) -> None:
        """Write this worker's pool gauges every second, until cancelled: a scrape answered by another worker sums
        them (this worker only refreshes its own at a scrape it answers)."""
        while True:
            self.observe_database(database.in_use, database.waiting, database.max_connections)
            await asyncio.sleep(DATABASE_SAMPLE_SECONDS)

    def worker_stopped(self) -> None:
        """Drop this worker's live gauges from the node's sums (its counters stay: they are the node's history)."""
        if self.shared_directory is not None:
            with contextlib.suppress(FileNotFoundError):
                mark_process_dead(os.getpid(), self.shared_directory)  # type: ignore[no-untyped-call]  # untyped upstream


def share_with_the_node(app: Litestar) -> None:
    """For ``serve``'s workers: while the worker runs, keep its pool gauges current in the node's shared files, and
    take them out of the node's sums when it stops. Nothing to do in-process (no shared directory)."""
    metrics: Metrics = app.state[METRICS_STATE_KEY]
    if metrics.shared_directory is None:
        return
    sampling: list[asyncio.Task[None]] = []

    async def start() -> None:
        context: RuntimeContext = app.state[STATE_KEY]  # the lifespan made it before the start-up hooks run
        sampling.append(asyncio.get_running_loop().create_task(metrics.sample_database(context.database)))

    async def stop() -> None:
        for task in sampling:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        metrics.worker_stopped()

    app.on_startup.append(start)
    app.on_shutdown.append(stop)


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
