"""OpenTelemetry tracing, off unless an OTLP endpoint is configured.

Off costs nothing on the hot path: no middleware is added, connections are not wrapped and the store is the plain
one; every decision is taken once, when the app or the database is built. On, a request gets a server span (the
parent an incoming W3C ``traceparent`` names, if any), every database statement a client span under it, whichever
path runs it (SQLAlchemy's, or the plan a connection runs on its driver, ``kit/prepared.py``), and the access-log
line carries the trace id.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Final

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from sqlalchemy.engine import Result
from sqlalchemy.sql.base import Executable

from metadock.kit import prepared
from metadock.kit.connection import Connection, Params

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

# After ours (METADOCK_OTEL_EXPORTER_OTLP_ENDPOINT, in the settings), the SDK's own variables: a deployment already
# configured for OpenTelemetry needs nothing more.
ENDPOINT_VARIABLES: Final = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
INSTRUMENTATION_NAME: Final = "metadock"
_propagator = TraceContextTextMapPropagator()


def configured_endpoint(own: str | None, environ: Mapping[str, str] | None = None) -> str | None:
    """The OTLP/HTTP traces URL that ``own`` (our setting, a base endpoint) or the environment names, or None:
    tracing stays off. ``OTEL_SDK_DISABLED=true`` turns it off whatever else is set, as for every OpenTelemetry SDK.
    """
    environ = os.environ if environ is None else environ
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    if own and own.strip():
        return own.strip().rstrip("/") + "/v1/traces"
    for name in ENDPOINT_VARIABLES:
        if value := environ.get(name, "").strip():
            # A base endpoint gets the signal's path, as the SDK does for OTEL_EXPORTER_OTLP_ENDPOINT.
            return value if name == "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT" else value.rstrip("/") + "/v1/traces"
    return None


def otlp_tracer_provider(endpoint: str) -> TracerProvider:
    """Spans batched and sent over OTLP/HTTP from a thread of the SDK's, never from the request."""
    # Imported here: the SDK and the exporter (protobuf, requests) are loaded only by a process that traces.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    # OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES still apply: Resource.create reads them over this default.
    provider = TracerProvider(resource=Resource.create({"service.name": "metadock"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    return provider


def tracer_from_environment(own_endpoint: str | None) -> tuple[Tracer, Callable[[], object]] | None:
    """A tracer exporting to the configured endpoint and what sends its pending spans at shutdown, or None."""
    endpoint = configured_endpoint(own_endpoint)
    if endpoint is None:
        return None
    provider = otlp_tracer_provider(endpoint)
    # Bounded: a collector that is down must not hold a stopping worker for the exporter's 30 s default.
    return provider.get_tracer(INSTRUMENTATION_NAME), lambda: provider.force_flush(timeout_millis=2000)


def current_trace_id() -> str | None:
    """The current span's trace id as 32 hex digits (what tracing back ends search by), or None outside a span."""
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


def sampled_trace_id() -> str | None:
    """The current span's trace id if the span is sampled (its trace reaches the back end), else None: what is worth
    storing to find data by its trace later."""
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid and context.trace_flags.sampled else None


class _HeaderGetter:
    """Reads W3C trace context headers straight from an ASGI scope's (bytes, bytes) pairs."""

    def get(self, carrier: Any, key: str) -> list[str] | None:
        wanted = key.encode("latin-1")
        values = [value.decode("latin-1") for name, value in carrier if name == wanted]
        return values or None

    def keys(self, carrier: Any) -> list[str]:
        return [name.decode("latin-1") for name, _ in carrier]


_getter = _HeaderGetter()


class TracingMiddleware:
    """A server span per HTTP request, outermost so the access log (inside it) sees its trace id."""

    def __init__(self, app: Any, tracer: Tracer) -> None:
        self.app = app
        self.tracer = tracer

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        parent: Context = _propagator.extract(scope.get("headers", ()), getter=_getter)  # type: ignore[arg-type]
        method: str = scope["method"]
        status = 500  # what the client gets if the app raises before starting a response

        async def send_and_note_status(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        with self.tracer.start_as_current_span(
            method,
            context=parent,
            kind=SpanKind.SERVER,
            attributes={"http.request.method": method, "url.scheme": scope.get("scheme", "http")},
        ) as span:
            try:
                await self.app(scope, receive, send_and_note_status)
            finally:
                # Named for the route template once routing has found it; never the raw path (ids, client input).
                template = scope.get("path_template")
                if isinstance(template, str) and template:
                    span.update_name(f"{method} {template}")
                    span.set_attribute("http.route", template)
                span.set_attribute("http.response.status_code", status)
                if status >= 500:
                    span.set_status(Status(StatusCode.ERROR))


def _operation_of(statement: Executable) -> str:
    for flag, name in (("is_select", "SELECT"), ("is_insert", "INSERT"), ("is_update", "UPDATE")):
        if getattr(statement, flag, False):
            return name
    return "DELETE" if getattr(statement, "is_delete", False) else "SQL"


class TracedConnection(Connection):
    """A connection whose every statement is a client span; the dialect's connection inside still picks the path.

    Wrapping the seam's two primitives (:meth:`execute`, SQLAlchemy's path, and :meth:`_run_plan`, the driver's)
    covers every statement a repository runs, whichever of ``fetch_one`` … ``write`` it calls.
    """

    __slots__ = ("_answer", "_inner", "_system", "_tracer")

    def __init__(self, inner: Connection, tracer: Tracer) -> None:
        self._answer = None  # an answer read ahead is kept here, where the repositories' statements arrive
        self._inner = inner
        self._tracer = tracer
        self._system = inner.dialect_name

    @property
    def dialect_name(self) -> str:
        return self._inner.dialect_name

    @property
    def reads_ahead(self) -> bool:  # type: ignore[override]
        return self._inner.reads_ahead

    def __getattr__(self, name: str) -> Any:
        # What a dialect's connection offers beyond the seam (PostgreSQL's commit, rollback, reusable).
        return getattr(self._inner, name)

    async def execute(self, statement: Executable, parameters: Params = None) -> Result[Any]:
        self._answer = None
        with self._span(statement, "sqlalchemy"):
            return await self._inner.execute(statement, parameters)

    def _plan(self, statement: Executable, parameters: Params) -> prepared.Plan | None:
        return self._inner._plan(statement, parameters)

    async def _run_plan(self, plan: prepared.Plan, parameters: Params, *, first_only: bool) -> tuple[list[Any], int]:
        with self._span(plan.statement, "plan", plan.sql):  # parameters are bound separately: the text holds no values
            return await self._inner._run_plan(plan, parameters, first_only=first_only)

    def _span(self, statement: Executable, path: str, sql: str | None = None) -> AbstractContextManager[Span]:
        """The client span of one statement, named by its operation; ``path``: which of the two primitives runs it."""
        operation = _operation_of(statement)
        attributes = {"db.system.name": self._system, "db.operation.name": operation}
        if sql is not None:
            attributes["db.query.text"] = sql
        attributes["metadock.db.path"] = path
        return self._tracer.start_as_current_span(operation, kind=SpanKind.CLIENT, attributes=attributes)
