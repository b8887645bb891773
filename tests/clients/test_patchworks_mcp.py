"""Patchworks' own MCP server (``patchworks-mcp``, ``patchworks_client.py``), replayed against a live Metadock.

Of the Core API, the MCP server's tools touch payload metadata in one place: the ``download_payload`` tool. What
it does, and what this module reproduces (its behaviour, not its code):

- One ``requests`` session per token with ``Authorization`` set to the token exactly as given (the proxy in front of
  the MCP server passes ``Bearer <token>``; a configured ``PATCHWORKS_TOKEN`` may be a bare API key; unset, it is
  ``"1"``), plus ``Accept: application/json`` and ``Content-Type: application/json`` on every request.
- ``GET {PATCHWORKS_CORE_API}/payload-metadata/{id}/download`` with the id as a string, as the run logs give it;
  ``raise_for_status()``; on an error status the text of the body (first 1,000 characters, the token redacted)
  goes into the error; on success it keeps the ``Content-Type`` header (``application/octet-stream`` when absent)
  and the raw bytes, which the tool returns base64-encoded.

The ids come from the run's list (``filter[flow_run_id]``), standing in for the MCP's flow-run logs, which carry
``payload_metadata_id`` but which Metadock does not serve.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.clients.conftest import Metadock

JSON_HEADERS = {"Accept": "application/json", "Content-Type": "application/json"}


class McpDownloadReplay:
    def __init__(self, core_api: str, token: str) -> None:
        self.core_api = core_api.rstrip("/")
        self.token = token
        self.session = httpx.Client(headers={"Authorization": token, **JSON_HEADERS}, timeout=20)

    def close(self) -> None:
        self.session.close()

    def download_payload(self, payload_metadata_id: str) -> tuple[str, bytes]:
        response = self.session.get(f"{self.core_api}/payload-metadata/{payload_metadata_id}/download")
        if response.is_error:
            body = response.text[:1000]
            redacted = body.replace(self.token, "***REDACTED***") if self.token else body
            raise RuntimeError(f"Patchworks HTTP {response.status_code}: {redacted}")
        return response.headers.get("Content-Type", "application/octet-stream"), response.content

    def download_tool(self, payload_metadata_id: str) -> dict[str, str]:
        content_type, raw = self.download_payload(payload_metadata_id)
        return {"content_type": content_type, "bytes_base64": base64.b64encode(raw).decode("ascii")}


@pytest.fixture
def mcp_bearer(metadock: Metadock) -> Iterator[McpDownloadReplay]:
    """What the proxy sets up: the user's login token, as ``Bearer <token>``."""
    client = McpDownloadReplay(f"{metadock.base_url}/api/v1", f"Bearer {metadock.login_token()}")
    yield client
    client.close()


def _run_payloads(metadock: Metadock, run: int, payloads: list[tuple[bytes, str]]) -> list[dict[str, Any]]:
    headers = {"Authorization": metadock.api_key}
    for step, (body, content_type) in enumerate(payloads, start=1):
        response = httpx.post(
            f"{metadock.base_url}/api/v1/payload-metadata",
            params={"flow_run_id": run, "flow_step_id": step},
            content=body,
            headers={**headers, "Content-Type": content_type},
        )
        assert response.status_code == 201, response.text
    listed = httpx.get(
        f"{metadock.base_url}/api/v1/payload-metadata", params={"filter[flow_run_id]": run}, headers=headers
    )
    assert listed.status_code == 200, listed.text
    records: list[dict[str, Any]] = listed.json()["data"]
    return records


RUN_PAYLOADS = [
    (b'{"order": {"id": 1, "total": "9.99"}}', "application/json"),
    (b"<?xml version='1.0'?><order id='1'/>", "application/xml; charset=utf-8"),
    (b"sku,qty\nA-1,2\n", "text/csv"),
    (bytes(range(256)), "application/octet-stream"),
]


def test_the_download_tool_returns_every_payload_of_a_run_byte_exact_with_its_content_type(
    metadock: Metadock, mcp_bearer: McpDownloadReplay
) -> None:
    records = _run_payloads(metadock, 41, RUN_PAYLOADS)
    assert [record["flow_step_id"] for record in records] == [1, 2, 3, 4]

    for record, (body, content_type) in zip(records, RUN_PAYLOADS, strict=True):
        result = mcp_bearer.download_tool(str(record["id"]))
        assert result["content_type"] == content_type
        assert base64.b64decode(result["bytes_base64"]) == body


def test_a_configured_bare_api_key_works_as_the_token(metadock: Metadock) -> None:
    [record] = _run_payloads(metadock, 42, [(b'{"k": 1}', "application/json")])
    client = McpDownloadReplay(f"{metadock.base_url}/api/v1", metadock.api_key)
    try:
        assert client.download_payload(str(record["id"])) == ("application/json", b'{"k": 1}')
    finally:
        client.close()


def test_a_missing_payload_is_a_laravel_404_the_tool_reports_with_the_token_redacted(
    metadock: Metadock, mcp_bearer: McpDownloadReplay
) -> None:
    for missing in ("999999", "payload-123", "0"):
        with pytest.raises(RuntimeError) as raised:
            mcp_bearer.download_payload(missing)
        message = str(raised.value)
        assert message.startswith("Patchworks HTTP 404: {")
        assert '"message"' in message
        assert mcp_bearer.token.removeprefix("Bearer ") not in message


@pytest.mark.parametrize(("run", "token"), [(43, "1"), (44, "Bearer 1"), (45, "Bearer not-a-jwt"), (46, "")])
def test_the_default_or_a_bad_token_is_a_plain_401_never_a_server_error(
    metadock: Metadock, run: int, token: str
) -> None:
    [record] = _run_payloads(metadock, run, [(b"{}", "application/json")])
    client = McpDownloadReplay(f"{metadock.base_url}/api/v1", token)
    try:
        with pytest.raises(RuntimeError) as raised:
            client.download_payload(str(record["id"]))
    finally:
        client.close()
    assert str(raised.value) == 'Patchworks HTTP 401: {"message":"Unauthenticated."}'
