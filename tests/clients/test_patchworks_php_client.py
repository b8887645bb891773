"""The public PHP client library for the Patchworks Core API (``patchworks-api``: ``src/CoreClient.php``,
``src/AbstractClient.php``, ``src/Interceptor/Authorization.php``), replayed in Python against a live Metadock.

What that client does, and what this module reproduces (its behaviour, not its code):

- Every request carries ``Content-Type: application/json`` and ``Accept: application/json`` (two request-header
  interceptors on the client), GETs and downloads included, and ``Authorization: Bearer <token>``.
- It logs in with ``POST /fabric/api/v1/login`` ``{"username", "password"}`` (JSON, the same two headers) and reads
  ``token`` from a 200; anything else is a failure.
- On a 401 it logs in again and retries the request once; any other status goes back to the caller.
- A list is walked page by page: the query is ``per_page=250``, then the caller's filters, then ``page=N``
  (``http_build_query`` order); after each page it takes ``meta.last_page`` and ``meta.current_page`` and stops
  when the current page reaches the last (or 50 pages). It yields ``data`` items and expects exactly 200.
- ``getPayloadMetadata(run, step)`` lists with ``filter[flow_run_id]`` and ``filter[flow_step_id]``;
  ``getPayload(id)`` GETs ``payload-metadata/{id}/download`` and keeps the raw body; single reads unwrap ``data``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from tests.clients.conftest import ADMIN_EMAIL, Metadock, expired
from tests.factories import add_payload_records

JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}
PER_PAGE = 250  # the client's page size, sent on every list request
MAX_PAGES = 50


class PhpClientReplay:
    def __init__(self, base_url: str, username: str, password: str, token: str = "") -> None:
        self.base_url = base_url
        self.credentials = {"username": username, "password": password}
        self.token = token
        self.sent: list[tuple[str, str, int]] = []  # (method, path?query, status) of every request, logins too
        self.http = httpx.Client(timeout=30, event_hooks={"response": [self._record]})

    def _record(self, response: httpx.Response) -> None:
        url = response.request.url
        target = url.path + (f"?{url.query.decode()}" if url.query else "")
        self.sent.append((response.request.method, target, response.status_code))

    def close(self) -> None:
        self.http.close()

    def _login(self) -> None:
        response = self.http.post(f"{self.base_url}/fabric/api/v1/login", json=self.credentials, headers=JSON_HEADERS)
        if response.status_code != 200:
            raise RuntimeError(f"Could not authenticate: {response.status_code}")
        self.token = response.json()["token"]

    def request(self, method: str, endpoint: str, query: str = "") -> httpx.Response:
        url = f"{self.base_url}/api/v1/{endpoint}" + (f"?{query}" if query else "")
        if self.token:
            response = self.http.request(method, url, headers={**JSON_HEADERS, **self._bearer()})
            if response.status_code != 401:
                return response
        self._login()
        return self.http.request(method, url, headers={**JSON_HEADERS, **self._bearer()})

    def _bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def items(self, endpoint: str, query: dict[str, str]) -> Iterator[dict[str, Any]]:
        current = 0
        while True:
            current += 1
            response = self.request("GET", endpoint, urlencode({"per_page": PER_PAGE, **query, "page": current}))
            if response.status_code != 200:
                raise RuntimeError(f"Unexpected response code {response.status_code}")
            page = response.json()
            last, current = int(page["meta"]["last_page"]), int(page["meta"]["current_page"])
            yield from page["data"]
            if current >= min(last, MAX_PAGES):
                return

    def get_payload_metadata(self, run: int, step: int) -> list[dict[str, Any]]:
        return list(
            self.items("payload-metadata", {"filter[flow_run_id]": str(run), "filter[flow_step_id]": str(step)})
        )

    def query(self, endpoint: str) -> Any:
        response = self.request("GET", endpoint)
        if response.status_code != 200:
            raise RuntimeError(f"Unexpected response code {response.status_code}")
        return response.json()["data"]

    def get_payload(self, payload_id: int) -> bytes:
        response = self.request("GET", f"payload-metadata/{payload_id}/download")
        if response.status_code != 200:
            raise RuntimeError(f"Unexpected response code {response.status_code}")
        return response.content


@pytest.fixture
def php(metadock: Metadock) -> Iterator[PhpClientReplay]:
    client = PhpClientReplay(metadock.base_url, ADMIN_EMAIL, metadock.password)
    yield client
    client.close()


def _capture(metadock: Metadock, body: bytes, content_type: str, run: int, step: int) -> dict[str, Any]:
    response = httpx.post(
        f"{metadock.base_url}/api/v1/payload-metadata",
        params={"flow_run_id": run, "flow_step_id": step},
        content=body,
        headers={"Authorization": metadock.api_key, "Content-Type": content_type},
    )
    assert response.status_code == 201, response.text
    record: dict[str, Any] = response.json()["data"]
    return record


def test_lists_every_payload_of_a_step_exactly_once_with_per_page_250(metadock: Metadock, php: PhpClientReplay) -> None:
    specs = [{"flow_run_id": 7, "flow_step_id": 3} for _ in range(230)]
    specs += [{"flow_run_id": 7, "flow_step_id": 4}, {"flow_run_id": 8, "flow_step_id": 3}]  # not this step's
    records = add_payload_records(metadock.database_url, metadock.tenant_uuid, specs)
    wanted = [record["id"] for record in records[:230]]

    listed = php.get_payload_metadata(7, 3)

    assert [item["id"] for item in listed] == wanted
    assert all((item["flow_run_id"], item["flow_step_id"]) == (7, 3) for item in listed)
    # First the login (no token yet), then three pages of 100, each asked for with per_page=250.
    assert [(method, status) for method, _target, status in php.sent] == [("POST", 200)] + [("GET", 200)] * 3
    pages = [target for method, target, _status in php.sent if method == "GET"]
    assert all(
        target.startswith("/api/v1/payload-metadata?per_page=250&filter%5Bflow_run_id%5D=7&") for target in pages
    )
    assert [target.rsplit("page=", 1)[1] for target in pages] == ["1", "2", "3"]


def test_an_empty_list_is_one_page(metadock: Metadock, php: PhpClientReplay) -> None:
    assert php.get_payload_metadata(404, 1) == []
    assert [method for method, _target, _status in php.sent] == ["POST", "GET"]


def test_reads_one_record_its_meta_and_downloads_exact_bytes_with_json_request_headers(
    metadock: Metadock, php: PhpClientReplay
) -> None:
    payloads = [
        (b'{"order": 1, "lines": [1, 2]}', "application/json"),
        (b"sku;qty\nA-1;2\n", "text/csv"),
        (b"<order id='1'/>", "application/xml"),
        (bytes(range(256)) * 4, "application/octet-stream"),
    ]
    for body, content_type in payloads:
        record = _capture(metadock, body, content_type, run=11, step=1)

        one = php.query(f"payload-metadata/{record['id']}")
        assert one == record
        meta = php.query(f"payload-metadata/{record['id']}/meta")
        assert (meta["id"], meta["content_type"], meta["size"]) == (record["id"], content_type, len(body))
        # The request said Content-Type and Accept application/json; the answer is the bytes with their own type.
        response = php.request("GET", f"payload-metadata/{record['id']}/download")
        assert response.status_code == 200
        assert response.content == body
        assert response.headers.get_list("content-type") == [content_type]
        assert php.get_payload(record["id"]) == body


@pytest.mark.parametrize("stale", ["expired", "garbage", "revoked-shape"])
def test_a_401_on_a_stale_token_makes_the_client_log_in_again_and_retry_once(
    metadock: Metadock, php: PhpClientReplay, stale: str
) -> None:
    record = _capture(metadock, b'{"a": 1}', "application/json", run=12, step=1)
    fresh = metadock.login_token()
    php.token = {"expired": expired(fresh), "garbage": "not-a-jwt", "revoked-shape": fresh[:-4] + "AAAA"}[stale]

    assert php.get_payload(record["id"]) == b'{"a": 1}'

    download = f"/api/v1/payload-metadata/{record['id']}/download"
    assert php.sent == [("GET", download, 401), ("POST", "/fabric/api/v1/login", 200), ("GET", download, 200)]


def test_the_401_a_stale_token_gets_is_laravels_plain_unauthenticated(metadock: Metadock) -> None:
    stale = expired(metadock.login_token())
    for target in ("payload-metadata", "payload-metadata/1", "payload-metadata/1/meta", "payload-metadata/1/download"):
        for token in (stale, "garbage"):
            response = httpx.get(
                f"{metadock.base_url}/api/v1/{target}", headers={**JSON_HEADERS, "Authorization": f"Bearer {token}"}
            )
            assert response.status_code == 401, (target, response.text)
            assert response.headers["content-type"].startswith("application/json")
            assert response.json() == {"message": "Unauthenticated."}


def test_wrong_credentials_stop_the_client_instead_of_looping(metadock: Metadock) -> None:
    client = PhpClientReplay(metadock.base_url, ADMIN_EMAIL, "not the password", token="garbage")
    try:
        with pytest.raises(RuntimeError, match="Could not authenticate"):
            client.get_payload_metadata(1, 1)
        assert [status for _method, _target, status in client.sent] == [401, 401]
    finally:
        client.close()
