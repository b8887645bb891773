"""OpenTelemetry tracing (kit/tracing.py): a server span per request under an incoming traceparent, a client span per
database statement on both of its paths and per store operation, the trace id in the access log, and nothing at all
when tracing is off. Spans are collected in-process by the SDK's in-memory exporter."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
from litestar.testing import TestClient
from opentelemetry import trace
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from metadock.app import create_app
from metadock.kit.context import STATE_KEY
from metadock.kit.logs import JsonFormatter
from metadock.kit.observability import ObservabilityMiddleware
from metadock.kit.tracing import TracingMiddleware, configured_endpoint
from metadock.payloads.traced_store import TracedPayloadStore
from metadock.settings import Settings
from tests.factories import PAYLOADS, TenantKeys, capture_payload

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_SPAN_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_SPAN_ID}-01"


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def traced_client(settings: Settings, exporter: InMemorySpanExporter) -> Iterator[TestClient[Any]]:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))  # exported as each span ends: nothing to flush
    with TestClient(create_app(settings, tracer=provider.get_tracer("test"))) as client:
        yield client


def _server_spans(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    return [span for span in exporter.get_finished_spans() if span.kind == SpanKind.SERVER]


def _children_of(exporter: InMemorySpanExporter, parent: ReadableSpan) -> list[ReadableSpan]:
    assert parent.context is not None
    return [
        span
        for span in exporter.get_finished_spans()
        if span.parent is not None and span.parent.span_id == parent.context.span_id
    ]


def test_an_incoming_traceparent_becomes_the_request_spans_parent(
    traced_client: TestClient[Any], tenant: TenantKeys, exporter: InMemorySpanExporter
) -> None:
    response = traced_client.get(PAYLOADS, headers={**tenant.headers(), "traceparent": TRACEPARENT})
    assert response.status_code == 200

    [server] = _server_spans(exporter)
    assert server.context is not None
    assert server.parent is not None
    assert format(server.context.trace_id, "032x") == TRACE_ID
    assert format(server.parent.span_id, "016x") == PARENT_SPAN_ID
    assert server.parent.is_remote
    assert server.name == "GET /api/v1/payload-metadata"
    assert server.attributes is not None
    assert server.attributes["http.route"] == "/api/v1/payload-metadata"
    assert server.attributes["http.response.status_code"] == 200


def test_without_a_traceparent_a_request_starts_its_own_trace(
    traced_client: TestClient[Any], exporter: InMemorySpanExporter
) -> None:
    assert traced_client.get("/healthz").status_code == 200
    [server] = _server_spans(exporter)
    assert server.parent is None


def test_database_statements_are_child_spans_on_sqlalchemys_path_and_on_the_plan(
    traced_client: TestClient[Any], tenant: TenantKeys, exporter: InMemorySpanExporter, database_url: str
) -> None:
    system = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    paths: list[set[str]] = []
    for _ in range(2):  # the first execution of a statement compiles it through SQLAlchemy, the next runs its plan
        exporter.clear()
        assert traced_client.get(PAYLOADS, headers=tenant.headers()).status_code == 200
        [server] = _server_spans(exporter)
        statements = [span for span in _children_of(exporter, server) if span.kind == SpanKind.CLIENT]
        assert statements, "a list request runs statements"
        for span in statements:
            assert span.attributes is not None
            assert span.attributes["db.system.name"] == system
            assert span.attributes["db.operation.name"] == "SELECT"
        paths.append({str((span.attributes or {})["metadock.db.path"]) for span in statements})
    assert "sqlalchemy" in paths[0]
    assert paths[1] == {"plan"}
    plan_span = next(span for span in exporter.get_finished_spans() if span.kind == SpanKind.CLIENT)
    assert "SELECT" in str((plan_span.attributes or {})["db.query.text"])


def test_store_writes_and_reads_are_child_spans(
    traced_client: TestClient[Any], tenant: TenantKeys, exporter: InMemorySpanExporter
) -> None:
    record = capture_payload(traced_client, tenant.headers("writer"), b'{"order": 7}')
    [capture] = _server_spans(exporter)
    [put] = [span for span in _children_of(exporter, capture) if span.name == "store put"]
    assert put.attributes is not None
    assert put.attributes["metadock.store.bytes"] == len(b'{"order": 7}')

    exporter.clear()
    download = traced_client.get(f"{PAYLOADS}/{record['id']}/download", headers=tenant.headers())
    assert download.status_code == 200, download.text
    [server] = _server_spans(exporter)
    names = {span.name for span in _children_of(exporter, server)}
    assert names & {"store open", "store stat"}, names


def test_the_access_log_line_carries_the_trace_id(
    traced_client: TestClient[Any], tenant: TenantKeys, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="metadock.access")
    traced_client.get(PAYLOADS, headers={**tenant.headers(), "traceparent": TRACEPARENT})
    formatter = JsonFormatter()
    [line] = [json.loads(formatter.format(r)) for r in caplog.records if r.name == "metadock.access"]
    assert line["trace_id"] == TRACE_ID


def test_with_tracing_off_there_is_no_span_no_wrapper_and_no_trace_id(
    client: TestClient[Any], tenant: TenantKeys, caplog: pytest.LogCaptureFixture
) -> None:
    app = client.app
    assert isinstance(app.asgi_handler, ObservabilityMiddleware)
    assert app.asgi_handler.trace_id_of is None
    assert not isinstance(app.asgi_handler.app, TracingMiddleware)
    context = app.state[STATE_KEY]
    assert context.database.tracer is None
    assert not isinstance(context.store, TracedPayloadStore)
    # Nor is a tracer set process-wide, which would make every library's own instrumentation start spans.
    assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)
    caplog.set_level(logging.INFO, logger="metadock.access")
    client.get(PAYLOADS, headers={**tenant.headers(), "traceparent": TRACEPARENT})
    formatter = JsonFormatter()
    [line] = [json.loads(formatter.format(r)) for r in caplog.records if r.name == "metadock.access"]
    assert "trace_id" not in line


@pytest.mark.parametrize(
    ("own", "environ", "expected"),
    [
        (None, {}, None),
        ("http://collector:4318", {}, "http://collector:4318/v1/traces"),
        (None, {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318/"}, "http://c:4318/v1/traces"),
        (None, {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/t"}, "http://c:4318/t"),
        ("http://collector:4318", {"OTEL_SDK_DISABLED": "true"}, None),
    ],
)
def test_tracing_is_on_only_when_an_endpoint_is_configured(
    own: str | None, environ: dict[str, str], expected: str | None
) -> None:
    assert configured_endpoint(own, environ) == expected


class _Receiver(BaseHTTPRequestHandler):
    """An OTLP/HTTP traces endpoint: keeps each export request it is sent, answers as a collector does."""

    received: list[ExportTraceServiceRequest]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        self.received.append(request)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass


@pytest.fixture
def otlp_receiver() -> Iterator[tuple[str, list[ExportTraceServiceRequest]]]:
    received: list[ExportTraceServiceRequest] = []
    handler = type("Receiver", (_Receiver,), {"received": received})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", received
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_metadock_otel_endpoint_sends_the_requests_spans_over_otlp_http(
    settings: Settings,
    tenant: TenantKeys,
    otlp_receiver: tuple[str, list[ExportTraceServiceRequest]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    endpoint, received = otlp_receiver
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")  # the collector is on loopback, whatever proxy the machine names
    configured = settings.model_copy(update={"otel_exporter_otlp_endpoint": endpoint})
    with TestClient(create_app(configured)) as client:
        assert client.get(PAYLOADS, headers={**tenant.headers(), "traceparent": TRACEPARENT}).status_code == 200
    # Leaving the client shut the app down, which sent the pending spans.
    spans = [
        span
        for request in received
        for resource_spans in request.resource_spans
        for scope_spans in resource_spans.scope_spans
        for span in scope_spans.spans
    ]
    assert {span.trace_id.hex() for span in spans} == {TRACE_ID}
    names = {span.name for span in spans}
    assert "GET /api/v1/payload-metadata" in names
    assert "SELECT" in names
    service = {
        attribute.value.string_value
        for request in received
        for resource_spans in request.resource_spans
        for attribute in resource_spans.resource.attributes
        if attribute.key == "service.name"
    }
    assert service == {"metadock"}
