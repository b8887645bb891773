"""Observability and response hardening: request ids, the JSON access log, security headers, CORS and /metrics."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from litestar import Litestar
from litestar.testing import TestClient
from pydantic import SecretStr

from metadock.app import create_app
from metadock.kit.db import Database
from metadock.kit.logs import JsonFormatter
from metadock.settings import Settings
from tests.factories import PAYLOADS, TenantKeys, capture_payload, metadata_body

Client = TestClient[Litestar]
METRICS_TOKEN = "scrape-me-" + "x" * 24
ORIGIN = "https://console.example.com"


@pytest.fixture
def configured_client(settings: Settings) -> Iterator[Client]:
    """The app with CORS for one origin and a metrics token."""
    configured = settings.model_copy(update={"cors_origins": ORIGIN, "metrics_token": SecretStr(METRICS_TOKEN)})
    with TestClient(create_app(configured)) as test_client:
        yield test_client


def access_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    """The access log as it is written: each record through the JSON formatter, parsed back."""
    formatter = JsonFormatter()
    lines: list[dict[str, Any]] = [
        json.loads(formatter.format(record)) for record in caplog.records if record.name == "metadock.access"
    ]
    return lines


# --- request id ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/metadatas", "/metadatas/" + str(uuid.UUID(int=1)), "/no-such-route"])
def test_a_request_id_is_generated_for_success_404_and_unknown_routes(
    client: Client, tenant: TenantKeys, path: str
) -> None:
    first = client.get(path, headers=tenant.headers())
    second = client.get(path, headers=tenant.headers())

    for response in (first, second):
        assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])
    assert first.headers["x-request-id"] != second.headers["x-request-id"]


def test_a_sane_incoming_request_id_is_echoed_on_success_and_on_401(client: Client, tenant: TenantKeys) -> None:
    ok = client.get("/metadatas", headers={**tenant.headers(), "X-Request-ID": "trace-1.2:abc_DEF"})
    unauthenticated = client.get("/metadatas", headers={"X-Request-ID": "caller-chosen-id"})

    assert ok.status_code == 200
    assert ok.headers.get_list("x-request-id") == ["trace-1.2:abc_DEF"]
    assert unauthenticated.status_code == 401
    assert unauthenticated.headers["x-request-id"] == "caller-chosen-id"


@pytest.mark.parametrize(
    "hostile",
    ["a" * 129, "has space", 'quote"d', "semi;colon", "x<script>", "ünïcode"],
)
def test_an_unsafe_incoming_request_id_is_replaced_not_echoed(client: Client, tenant: TenantKeys, hostile: str) -> None:
    response = client.get("/metadatas", headers=[("X-Request-ID", hostile.encode()), *tenant.headers().items()])

    assert response.status_code == 200
    assert response.headers["x-request-id"] != hostile
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])


# --- access log ----------------------------------------------------------------------------------------------------


def test_one_access_line_per_request_with_route_template_tenant_and_no_secrets(
    client: Client, tenant: TenantKeys, caplog: pytest.LogCaptureFixture
) -> None:
    created = client.post("/metadatas", json=metadata_body(), headers=tenant.headers()).json()
    caplog.clear()
    caplog.set_level(logging.INFO, logger="metadock.access")

    response = client.get(
        f"/metadatas/{created['uuid']}?secretquery=hunter2", headers={**tenant.headers(), "X-Request-ID": "req-42"}
    )

    assert response.status_code == 200
    [line] = access_lines(caplog)
    assert line["request_id"] == "req-42"
    assert line["method"] == "GET"
    assert line["route"] == "/metadatas/{uuid}"
    assert line["status"] == 200
    assert isinstance(line["duration_ms"], float | int)
    assert line["duration_ms"] >= 0
    assert line["tenant"] == tenant.uuid
    assert line["level"] == "INFO"
    assert line["logger"] == "metadock.access"
    text = json.dumps(line)
    for secret in (tenant.admin, "hunter2", "secretquery", created["uuid"]):
        assert secret not in text


def test_access_lines_for_401_and_unknown_routes_have_no_tenant_and_no_path(
    client: Client, tenant: TenantKeys, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="metadock.access")

    client.get("/metadatas", headers={"Authorization": "Bearer not-a-real-key-s3cr3t"})
    client.get("/nowhere/evil-path-segment", headers=tenant.headers())

    unauthenticated, unknown = access_lines(caplog)
    assert (unauthenticated["status"], unauthenticated["route"], unauthenticated["tenant"]) == (401, "/metadatas", None)
    assert (unknown["status"], unknown["route"], unknown["tenant"]) == (404, "unmatched", None)
    text = json.dumps([unauthenticated, unknown])
    assert "s3cr3t" not in text
    assert "evil-path-segment" not in text
    assert tenant.admin not in text


def test_the_access_line_of_a_capture_holds_no_payload_bytes(
    client: Client, tenant: TenantKeys, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="metadock.access")

    capture_payload(client, tenant.headers("writer"), b'{"card": "4111-PAYLOAD-MARKER"}')

    [line] = access_lines(caplog)
    assert (line["method"], line["route"], line["status"]) == ("POST", PAYLOADS, 201)
    assert "PAYLOAD-MARKER" not in json.dumps(line)


# --- security headers ----------------------------------------------------------------------------------------------


def _assert_security_headers(response: httpx.Response) -> None:
    assert response.headers.get_list("x-content-type-options") == ["nosniff"]
    assert response.headers.get_list("referrer-policy") == ["no-referrer"]
    assert response.headers.get_list("x-frame-options") == ["DENY"]


def test_security_headers_on_json_error_and_download_responses(client: Client, tenant: TenantKeys) -> None:
    record = capture_payload(client, tenant.headers("writer"), b"plain bytes", content_type="text/html")
    responses = [
        client.get("/metadatas", headers=tenant.headers()),
        client.get("/metadatas"),  # 401
        client.get("/metadatas/" + str(uuid.UUID(int=7)), headers=tenant.headers()),  # 404 problem
        client.get(f"{PAYLOADS}/999999", headers=tenant.headers()),  # 404 Laravel
        client.get("/healthz"),
        client.get(f"{PAYLOADS}/{record['id']}/download", headers=tenant.headers()),
    ]

    assert [response.status_code for response in responses] == [200, 401, 404, 404, 200, 200]
    assert responses[-1].content == b"plain bytes"
    for response in responses:
        _assert_security_headers(response)


# --- CORS ----------------------------------------------------------------------------------------------------------


def test_no_cors_headers_unless_origins_are_configured(client: Client, tenant: TenantKeys) -> None:
    simple = client.get("/metadatas", headers={**tenant.headers(), "Origin": ORIGIN})
    preflight = client.options("/metadatas", headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"})

    for response in (simple, preflight):
        assert not [name for name in response.headers if name.lower().startswith("access-control-")]


def test_cors_allows_a_configured_origin_only(configured_client: Client, tenant: TenantKeys) -> None:
    simple = configured_client.get("/metadatas", headers={**tenant.headers(), "Origin": ORIGIN})
    preflight = configured_client.options(
        "/metadatas",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    foreign = configured_client.get("/metadatas", headers={**tenant.headers(), "Origin": "https://evil.example"})

    assert simple.status_code == 200
    assert simple.headers["access-control-allow-origin"] == ORIGIN
    assert "x-request-id" in simple.headers["access-control-expose-headers"].lower()
    assert preflight.status_code in {200, 204}
    assert preflight.headers["access-control-allow-origin"] == ORIGIN
    assert "POST" in preflight.headers["access-control-allow-methods"]
    assert "access-control-allow-origin" not in foreign.headers


# --- metrics -------------------------------------------------------------------------------------------------------


def _sample(exposition: str, name: str, **labels: str) -> float:
    """The value of one sample, whatever order prometheus-client writes the labels in."""
    for line in exposition.splitlines():
        match = re.fullmatch(r"([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)", line)
        if not match or match[1] != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match[2] or ""))
        if found == labels:
            return float(match[3])
    return 0.0


def test_metrics_count_requests_per_route_with_latency_histogram(client: Client, tenant: TenantKeys) -> None:
    labels = {"method": "GET", "route": "/metadatas/{uuid}", "status": "4xx"}
    before = client.get("/metrics").text

    for _ in range(3):
        client.get("/metadatas/" + str(uuid.uuid4()), headers=tenant.headers())
    response = client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    after = response.text
    assert (
        _sample(after, "metadock_http_requests_total", **labels)
        == _sample(before, "metadock_http_requests_total", **labels) + 3
    )
    assert _sample(after, "metadock_http_request_duration_seconds_count", **labels) >= 3
    assert _sample(after, "metadock_http_request_duration_seconds_bucket", **labels, le="+Inf") >= 3
    assert "# TYPE metadock_http_request_duration_seconds histogram" in after


def test_metrics_count_captures_and_bytes_stored(client: Client, tenant: TenantKeys) -> None:
    capture_payload(client, tenant.headers("writer"), b"x" * 100)
    capture_payload(client, tenant.headers("writer"), b"y" * 23)

    exposition = client.get("/metrics").text

    assert _sample(exposition, "metadock_payload_captures_total", outcome="stored") == 2
    assert _sample(exposition, "metadock_payload_stored_bytes_total") == 123


def test_metrics_show_the_database_connections_in_use_waiting_and_the_maximum(
    client: Client, settings: Settings
) -> None:
    exposition = client.get("/metrics").text

    assert _sample(exposition, "metadock_database_connections", state="max") == settings.database_pool_size * 2
    assert _sample(exposition, "metadock_database_connections", state="in_use") == 0  # /metrics itself holds none
    assert _sample(exposition, "metadock_database_connections", state="waiting") == 0


def test_the_database_counts_what_it_lends_and_who_queues_for_it(database_url: str) -> None:
    async def run() -> tuple[list[tuple[int, int]], tuple[int, int, int, int]]:
        database = Database(database_url, pool_size=1)  # two connections at most
        seen: list[tuple[int, int]] = []
        release = asyncio.Event()

        async def hold() -> None:
            async with database.transaction():
                seen.append((database.in_use, database.waiting))
                await release.wait()

        try:
            holders = [asyncio.create_task(hold()) for _ in range(3)]
            for _ in range(20):  # let the first two take their connection and the third queue
                await asyncio.sleep(0.01)
            queued = (database.in_use, database.waiting)
            release.set()
            await asyncio.gather(*holders)
            return seen, (*queued, database.in_use, database.waiting)
        finally:
            await database.dispose()

    seen, counts = asyncio.run(run())
    assert counts == (2, 1, 0, 0)  # two lent and one waiting while held; nothing once all are done
    assert len(seen) == 3


def test_metrics_are_public_without_a_token_and_not_in_the_openapi(client: Client) -> None:
    assert client.get("/metrics").status_code == 200
    assert "/metrics" not in client.get("/openapi.json").json()["paths"]


def test_a_metrics_token_is_required_when_configured(configured_client: Client) -> None:
    missing = configured_client.get("/metrics")
    wrong = configured_client.get("/metrics", headers={"Authorization": "Bearer " + "x" * len(METRICS_TOKEN)})
    right = configured_client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})

    assert missing.status_code == 401
    assert wrong.status_code == 401
    assert METRICS_TOKEN not in missing.text + wrong.text
    assert right.status_code == 200
    assert "metadock_http_requests_total" in right.text
