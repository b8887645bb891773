"""Security promises not proven elsewhere, on SQLite and PostgreSQL: captured bytes are served so that a browser
never runs them, and a server error tells the client nothing about the server's insides, in either dialect.

(Constant-time key and password checks, secrets kept out of logs, and the security headers on every response are in
``tests/test_auth.py``, ``tests/test_secrets.py`` and ``tests/test_observability.py``.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar.testing import TestClient
from sqlalchemy import text

from metadock.kit.query import ListQuery
from metadock.metadatas.repository import MetadataRepository
from metadock.payloads.repository import PayloadRepository
from tests.factories import PAYLOADS, TenantKeys, capture_payload, laravel_error, metadata_body, problem

Client = TestClient[object]
ACTIVE_CONTENT = b"<html><script>document.title='pwned'</script></html>"
SANDBOX = "default-src 'none'; sandbox"


def assert_served_inert(response: httpx.Response, content_type: str, record_id: int, extension: str) -> None:
    """What keeps a browser from running captured bytes: no sniffing, an attachment (never shown in place), and a
    sandboxing CSP with no source allowed, in case a browser renders it anyway."""
    assert response.headers.get_list("x-content-type-options") == ["nosniff"]
    assert response.headers.get_list("content-security-policy") == [SANDBOX]
    assert response.headers["content-disposition"] == f'attachment; filename="payload-{record_id}{extension}"'
    assert response.headers["content-type"] == content_type  # exactly as captured: nothing added or guessed


@pytest.mark.parametrize(
    ("content_type", "extension"),
    [
        ("text/html", ".html"),
        ("text/html; charset=utf-8", ".html"),
        ("image/svg+xml", ".bin"),
        ("application/xhtml+xml", ".bin"),
        ("text/javascript", ".bin"),
        ("application/octet-stream", ".bin"),
    ],
)
def test_active_content_is_served_as_an_inert_attachment(
    client: Client, tenant: TenantKeys, content_type: str, extension: str
) -> None:
    record = capture_payload(client, tenant.headers("writer"), ACTIVE_CONTENT, content_type=content_type)
    url = f"{PAYLOADS}/{record['id']}/download"

    whole = client.get(url, headers=tenant.headers("reader"))
    part = client.get(url, headers={**tenant.headers("reader"), "Range": "bytes=0-5"})
    unchanged = client.get(url, headers={**tenant.headers("reader"), "If-None-Match": whole.headers["etag"]})

    assert (whole.status_code, whole.content) == (200, ACTIVE_CONTENT)
    assert (part.status_code, part.content) == (206, ACTIVE_CONTENT[:6])
    assert_served_inert(whole, content_type, record["id"], extension)
    assert_served_inert(part, content_type, record["id"], extension)
    assert unchanged.status_code == 304
    assert unchanged.headers.get_list("content-security-policy") == [SANDBOX]


# --- forced server errors ------------------------------------------------------------------------------------------

# The checkout's own directory, wherever it was cloned, stands for any server-side path a traceback would reveal.
CHECKOUT = str(Path(__file__).resolve().parents[2])
INTERNALS = ("Traceback", "SELECT", "no_such_column", "sqlite", "asyncpg", "psycopg", ".py", CHECKOUT, "Error:")


async def _broken_query(self: Any, query: ListQuery) -> Any:
    """A repository whose statement the database itself rejects: the error message holds SQL and driver names."""
    await self.connection.execute(text(f"SELECT no_such_column FROM {self.table.name}"))
    raise AssertionError("the statement above should have failed")


async def _crash(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError("boom at /srv/metadock/secret.py line 42: SELECT key_hash FROM api_keys")


@pytest.mark.parametrize("fault", [_broken_query, _crash], ids=["database-error", "exception"])
def test_a_server_error_says_nothing_about_the_server_in_either_dialect(
    client: Client, tenant: TenantKeys, monkeypatch: pytest.MonkeyPatch, fault: Any
) -> None:
    monkeypatch.setattr(MetadataRepository, "list_page", fault)
    monkeypatch.setattr(PayloadRepository, "list_page", fault)
    monkeypatch.setattr(MetadataRepository, "insert", _crash)

    responses = {
        "problem": [
            client.get("/metadatas", headers=tenant.headers()),
            client.post("/metadatas", json=metadata_body(), headers=tenant.headers()),
        ],
        "laravel": [client.get(PAYLOADS, headers=tenant.headers())],
    }

    for response in responses["problem"]:
        body: dict[str, Any] = problem(response, 500)
        assert body["detail"] == "An internal error occurred."
    for response in responses["laravel"]:
        assert laravel_error(response, 500) == {"message": "Server Error"}
    for response in responses["problem"] + responses["laravel"]:
        leaked = [word for word in INTERNALS if word in response.text]
        assert not leaked, (leaked, response.text)
        assert response.headers.get("x-request-id")  # what a client quotes to an operator instead
