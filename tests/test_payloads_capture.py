"""Capture: ``POST /api/v1/payload-metadata`` stores the bytes and answers the record, typed as the contract types it.

Record and bytes are one unit: a store failure leaves no record, a database failure leaves no bytes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import shutil
from collections.abc import AsyncIterable, AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from metadock.app import create_app
from metadock.kit.db import CommitOutcomeUnknown, Database, DatabaseUnavailable
from metadock.payloads.service import PayloadService
from metadock.payloads.store import PayloadStore, PutResult, StoreFull, StoreUnavailable
from metadock.settings import Settings
from tests.factories import (
    PAYLOADS,
    TenantKeys,
    capture_payload,
    laravel_error,
    payload_rows,
    payload_store,
    stored_bytes,
    stored_keys,
)

LARAVEL_TIME = re.compile(r"\A\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z\Z")
RECORD_FIELDS = {
    "id",
    "created_at",
    "updated_at",
    "flow_version_id",
    "flow_step_id",
    "flow_run_id",
    "payload_store_reference",
    "payload_size",
    "dropped",
    "flow_log_id",
}


def parse_laravel_time(value: str) -> dt.datetime:
    assert LARAVEL_TIME.fullmatch(value), value
    return dt.datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC)


@pytest.fixture
def small_limit_client(settings: Settings) -> Iterator[TestClient[object]]:
    """The app with METADOCK_MAX_PAYLOAD_BYTES = 64."""
    with TestClient(create_app(settings.model_copy(update={"max_payload_bytes": 64}))) as test_client:  # type: ignore[arg-type]
        yield test_client


# The record -----------------------------------------------------------------------------------------------------------


def test_capture_answers_201_with_every_contract_field_typed_as_the_contract(
    client: TestClient[object], tenant: TenantKeys
) -> None:
    body = b'{"order": 42, "lines": []}'
    before = dt.datetime.now(dt.UTC)
    response = client.post(
        PAYLOADS,
        params={"flow_run_id": 11, "flow_step_id": 22, "flow_log_id": 33},
        content=body,
        headers={**tenant.headers("writer"), "Content-Type": "application/json"},
    )
    after = dt.datetime.now(dt.UTC)

    assert response.status_code == 201, response.text
    assert response.headers["content-type"].startswith("application/json")
    envelope = response.json()
    assert set(envelope) == {"data"}
    record = envelope["data"]
    assert set(record) == RECORD_FIELDS
    assert type(record["id"]) is int
    assert record["id"] > 0
    assert (record["flow_run_id"], record["flow_step_id"], record["flow_log_id"]) == (11, 22, 33)
    assert all(type(record[name]) is int for name in ("flow_run_id", "flow_step_id", "flow_log_id"))
    assert record["flow_version_id"] is None
    assert record["payload_size"] == str(len(body))
    assert record["dropped"] == "0"
    assert isinstance(record["payload_store_reference"], str)
    assert record["payload_store_reference"]
    created_at = parse_laravel_time(record["created_at"])
    assert record["updated_at"] == record["created_at"]
    assert before - dt.timedelta(seconds=1) <= created_at <= after + dt.timedelta(seconds=1)

    # What the client was told is what is kept.
    fetched = client.get(f"{PAYLOADS}/{record['id']}", headers=tenant.headers("reader"))
    assert fetched.status_code == 200, fetched.text
    assert fetched.json() == {"data": record}


def test_capture_keeps_every_flow_id_given(client: TestClient[object], tenant: TenantKeys) -> None:
    record = capture_payload(
        client, tenant.headers(), flow_run_id=9_000_000_000, flow_step_id=2, flow_version_id=3, flow_log_id=4
    )
    assert (record["flow_run_id"], record["flow_step_id"], record["flow_version_id"], record["flow_log_id"]) == (
        9_000_000_000,
        2,
        3,
        4,
    )
    assert type(record["flow_version_id"]) is int


def test_the_largest_flow_id_the_document_allows_is_kept(client: TestClient[object], tenant: TenantKeys) -> None:
    """2**63 - 1 has 19 digits: read as the in-range integer it is, not refused as "not an integer"."""
    record = capture_payload(client, tenant.headers(), flow_run_id=2**63 - 1, flow_step_id=1)
    assert record["flow_run_id"] == 2**63 - 1


def test_flow_log_id_is_null_when_not_given(client: TestClient[object], tenant: TenantKeys) -> None:
    record = capture_payload(client, tenant.headers(), flow_run_id=1, flow_step_id=2)
    assert record["flow_log_id"] is None
    assert record["flow_version_id"] is None


def test_store_reference_is_an_opaque_key_never_steered_by_the_client(
    client: TestClient[object], tenant: TenantKeys, settings: Settings
) -> None:
    hostile = "../../../etc/passwd"
    records = [
        client.post(
            PAYLOADS,
            params={
                "flow_run_id": 1,
                "flow_step_id": 1,
                "payload_store_reference": hostile,
                "store_key": hostile,
                "key": hostile,
            },
            content=b"same bytes",
            headers={**tenant.headers(), "Content-Type": "text/plain", "Content-Disposition": f"filename={hostile}"},
        ).json()["data"]
        for _ in range(2)
    ]
    references = [record["payload_store_reference"] for record in records]
    root = str(Path(settings.resolved_store_url.removeprefix("file://")))

    assert references[0] != references[1], "identical input must not give identical keys"
    for reference in references:
        assert "passwd" not in reference
        assert ".." not in reference
        assert "\\" not in reference
        assert not reference.startswith("/")
        assert root not in reference
        assert "://" not in reference
        # Only the server's facts: the tenant's id, the UTC day the capture began, random hex.
        assert re.fullmatch(r"payloads/[1-9][0-9]*/[0-9]{4}/[0-9]{2}/[0-9]{2}/([0-9a-f]{2})/\1[0-9a-f]{30}", reference)
        # It names the bytes in the store, and nothing else.
        assert stored_bytes(settings, reference) == b"same bytes"


# Validation -----------------------------------------------------------------------------------------------------------


_NOT_AN_INTEGER = "The flow log id field must be an integer."


@pytest.mark.parametrize(
    ("params", "errors"),
    [
        (
            {},
            {
                "flow_run_id": ["The flow run id field is required."],
                "flow_step_id": ["The flow step id field is required."],
            },
        ),
        ({"flow_step_id": "1"}, {"flow_run_id": ["The flow run id field is required."]}),
        ({"flow_run_id": "1"}, {"flow_step_id": ["The flow step id field is required."]}),
        ({"flow_run_id": "", "flow_step_id": "1"}, {"flow_run_id": ["The flow run id field is required."]}),
        ({"flow_run_id": "abc", "flow_step_id": "1"}, {"flow_run_id": ["The flow run id field must be an integer."]}),
        ({"flow_run_id": "1.5", "flow_step_id": "1"}, {"flow_run_id": ["The flow run id field must be an integer."]}),
        ({"flow_run_id": "1", "flow_step_id": "0"}, {"flow_step_id": ["The flow step id field must be at least 1."]}),
        ({"flow_run_id": "-3", "flow_step_id": "1"}, {"flow_run_id": ["The flow run id field must be at least 1."]}),
        (
            {"flow_run_id": "1", "flow_step_id": "1", "flow_version_id": "v2"},
            {"flow_version_id": ["The flow version id field must be an integer."]},
        ),
        (
            {"flow_run_id": "1", "flow_step_id": "1", "flow_log_id": "0"},
            {"flow_log_id": ["The flow log id field must be at least 1."]},
        ),
        # An optional id is absent or an integer, as the OpenAPI document says: empty is not an integer.
        ({"flow_run_id": "1", "flow_step_id": "1", "flow_log_id": ""}, {"flow_log_id": [_NOT_AN_INTEGER]}),
        # Tags are tag[<name>]=<value>; a bare tag=… is not an object.
        ({"flow_run_id": "1", "flow_step_id": "1", "tag": ""}, {"tag": ["The tag field must be an array."]}),
        (
            {"flow_run_id": str(2**63), "flow_step_id": "1"},
            {"flow_run_id": [f"The flow run id field must not be greater than {2**63 - 1}."]},
        ),
    ],
)
def test_invalid_flow_ids_are_422_in_laravels_shape_and_store_nothing(
    client: TestClient[object],
    tenant: TenantKeys,
    settings: Settings,
    params: dict[str, str],
    errors: dict[str, list[str]],
) -> None:
    response = client.post(
        PAYLOADS, params=params, content=b"{}", headers={**tenant.headers(), "Content-Type": "application/json"}
    )

    body = laravel_error(response, 422)
    assert body["errors"] == errors
    first = next(iter(errors.values()))[0]
    assert body["message"] == (first if len(errors) == 1 else f"{first} (and {len(errors) - 1} more error)")
    assert payload_rows(settings.database_url) == []
    assert stored_keys(settings) == set()


@pytest.mark.parametrize("content_type", ["json", "text/", "/plain", "application json", "text/plain; charset"])
def test_an_invalid_content_type_is_422(
    client: TestClient[object], tenant: TenantKeys, settings: Settings, content_type: str
) -> None:
    response = client.post(
        PAYLOADS,
        params={"flow_run_id": 1, "flow_step_id": 1},
        content=b"x",
        headers={**tenant.headers(), "Content-Type": content_type},
    )

    body = laravel_error(response, 422)
    assert list(body["errors"]) == ["content_type"]
    assert payload_rows(settings.database_url) == []


def test_every_problem_is_reported_at_once(client: TestClient[object], tenant: TenantKeys) -> None:
    response = client.post(
        PAYLOADS, params={"flow_run_id": "x"}, content=b"x", headers={**tenant.headers(), "Content-Type": "bad"}
    )

    body = laravel_error(response, 422)
    assert set(body["errors"]) == {"flow_run_id", "flow_step_id", "content_type"}
    assert body["message"] == "The flow run id field must be an integer. (and 2 more errors)"


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/xml; charset=utf-8",
        "text/csv",
        'multipart/mixed; boundary="a b"',
        "application/vnd.patchworks+json",
    ],
)
def test_the_content_type_is_kept_as_sent(client: TestClient[object], tenant: TenantKeys, content_type: str) -> None:
    record = capture_payload(client, tenant.headers(), b"caf\xe9", content_type=content_type)

    meta = client.get(f"{PAYLOADS}/{record['id']}/meta", headers=tenant.headers()).json()["data"]
    assert meta["content_type"] == content_type
    download = client.get(f"{PAYLOADS}/{record['id']}/download", headers=tenant.headers())
    assert download.headers.get_list("content-type") == [content_type]
    assert download.content == b"caf\xe9"


def test_without_a_content_type_the_payload_is_octet_stream(client: TestClient[object], tenant: TenantKeys) -> None:
    record = capture_payload(client, tenant.headers(), b"\x00\x01", content_type=None)

    download = client.get(f"{PAYLOADS}/{record['id']}/download", headers=tenant.headers())
    assert download.headers["content-type"] == "application/octet-stream"
    assert download.content == b"\x00\x01"


# Who may capture ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["writer", "admin"])
def test_writers_and_admins_capture(client: TestClient[object], tenant: TenantKeys, role: str) -> None:
    record = capture_payload(client, tenant.headers(role))
    assert client.get(f"{PAYLOADS}/{record['id']}", headers=tenant.headers("reader")).status_code == 200


def test_a_reader_cannot_capture(client: TestClient[object], tenant: TenantKeys, settings: Settings) -> None:
    response = client.post(
        PAYLOADS,
        params={"flow_run_id": 1, "flow_step_id": 1},
        content=b"{}",
        headers={**tenant.headers("reader"), "Content-Type": "application/json"},
    )

    assert response.status_code == 403
    assert response.json() == {"message": "This action is unauthorized."}
    assert payload_rows(settings.database_url) == []
    assert stored_keys(settings) == set()


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": ""}, {"Authorization": "not-a-key"}, {"Authorization": "Bearer md_unknown_0000000000"}],
)
def test_capture_without_a_valid_key_is_401(
    client: TestClient[object], tenant: TenantKeys, settings: Settings, headers: dict[str, str]
) -> None:
    response = client.post(PAYLOADS, params={"flow_run_id": 1, "flow_step_id": 1}, content=b"{}", headers=headers)

    assert response.status_code == 401
    assert response.json() == {"message": "Unauthenticated."}
    assert payload_rows(settings.database_url) == []
    assert stored_keys(settings) == set()


# Too large ------------------------------------------------------------------------------------------------------------


def _chunks(data: bytes, size: int) -> Iterator[bytes]:
    """A body sent with chunked transfer encoding: no Content-Length for the server to trust."""
    for start in range(0, len(data), size):
        yield data[start : start + size]


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_a_payload_over_the_maximum_is_dropped_but_recorded(
    small_limit_client: TestClient[object], tenant: TenantKeys, settings: Settings, framing: str
) -> None:
    client = small_limit_client
    data = bytes(range(65))
    response = client.post(
        PAYLOADS,
        params={"flow_run_id": 5, "flow_step_id": 6},
        content=data if framing == "content-length" else _chunks(data, 10),
        headers={**tenant.headers(), "Content-Type": "application/octet-stream"},
    )

    assert response.status_code == 201, response.text
    record = response.json()["data"]
    assert record["dropped"] == "1"
    assert record["payload_size"] == "65"
    assert (record["flow_run_id"], record["flow_step_id"]) == (5, 6)
    meta = client.get(f"{PAYLOADS}/{record['id']}/meta", headers=tenant.headers()).json()["data"]
    assert meta["dropped"] is True
    assert meta["dropped_reason"] == "too_large"
    assert meta["size"] == 65
    assert meta["sha256"] is None
    assert meta["stored_at"] is None
    assert meta["expires_at"] is None
    download = client.get(f"{PAYLOADS}/{record['id']}/download", headers=tenant.headers())
    assert "maximum payload size" in laravel_error(download, 410)["message"]
    assert stored_keys(settings) == set()


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_a_payload_of_exactly_the_maximum_is_kept(
    small_limit_client: TestClient[object], tenant: TenantKeys, framing: str
) -> None:
    data = bytes(range(64))
    response = small_limit_client.post(
        PAYLOADS,
        params={"flow_run_id": 1, "flow_step_id": 1},
        content=data if framing == "content-length" else _chunks(data, 10),
        headers=tenant.headers(),
    )

    record = response.json()["data"]
    assert (record["dropped"], record["payload_size"]) == ("0", "64")
    download = small_limit_client.get(f"{PAYLOADS}/{record['id']}/download", headers=tenant.headers())
    assert download.content == data


def test_a_chunked_body_is_stored_whole(client: TestClient[object], tenant: TenantKeys, settings: Settings) -> None:
    data = bytes(range(256)) * 4096  # 1 MiB, in uneven pieces
    response = client.post(
        PAYLOADS, params={"flow_run_id": 1, "flow_step_id": 1}, content=_chunks(data, 65_537), headers=tenant.headers()
    )

    record = response.json()["data"]
    assert record["payload_size"] == str(len(data))
    assert stored_bytes(settings, record["payload_store_reference"]) == data


# Atomicity ------------------------------------------------------------------------------------------------------------


def test_a_missing_store_directory_is_503_and_records_nothing(
    client: TestClient[object], tenant: TenantKeys, settings: Settings
) -> None:
    # An unmounted volume: the store refuses to write rather than recreate the directory somewhere else.
    shutil.rmtree(settings.resolved_store_url.removeprefix("file://"))

    response = client.post(
        PAYLOADS, params={"flow_run_id": 1, "flow_step_id": 1}, content=b"x", headers=tenant.headers()
    )

    laravel_error(response, 503)
    assert payload_rows(settings.database_url) == []


@pytest.mark.parametrize(("error", "status"), [(StoreUnavailable, 503), (StoreFull, 507)])
def test_a_store_failure_during_capture_records_nothing(
    client: TestClient[object],
    tenant: TenantKeys,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    error: type[StoreUnavailable],
    status: int,
) -> None:
    store: PayloadStore = client.app.state["metadock"].store

    async def put_stream_fails(key: str, chunks: AsyncIterable[bytes], *, max_bytes: int | None) -> PutResult:
        async for _chunk in chunks:  # the failure comes mid-upload, as a backend's would
            break
        raise error("the payload store could not be written")

    monkeypatch.setattr(store, "put_stream", put_stream_fails)

    response = client.post(
        PAYLOADS, params={"flow_run_id": 1, "flow_step_id": 1}, content=b"x" * 1000, headers=tenant.headers()
    )

    body = laravel_error(response, status)
    assert "nothing was recorded" in body["message"]
    assert payload_rows(settings.database_url) == []
    listed = client.get(PAYLOADS, headers=tenant.headers()).json()
    assert listed["data"] == []
    assert listed["meta"]["total"] == 0


@pytest.mark.parametrize(
    ("failure", "status"),
    [(RuntimeError("the database went away"), 500), (DatabaseUnavailable("the database is unreachable"), 503)],
)
def test_a_database_failure_after_the_bytes_are_written_leaves_no_orphaned_bytes(
    store_client: TestClient[object],
    store_settings: Settings,
    tenant: TenantKeys,
    monkeypatch: pytest.MonkeyPatch,
    failure: Exception,
    status: int,
) -> None:
    written: list[str] = []

    async def record_fails(self: PayloadService, values: dict[str, Any]) -> Any:
        written.append(values["store_key"])
        # The bytes really are in the store when the record fails.
        assert (await payload_store(store_settings).stat(values["store_key"])).size == len(b"payload bytes")
        raise failure

    monkeypatch.setattr(PayloadService, "record", record_fails)

    response = store_client.post(
        PAYLOADS, params={"flow_run_id": 1, "flow_step_id": 1}, content=b"payload bytes", headers=tenant.headers()
    )

    laravel_error(response, status)
    assert len(written) == 1
    assert stored_keys(store_settings) == set()
    assert stored_bytes(store_settings, written[0]) is None
    assert payload_rows(store_settings.database_url) == []


# The S3 store too -----------------------------------------------------------------------------------------------------


def test_capture_on_each_store(store_client: TestClient[object], store_settings: Settings, tenant: TenantKeys) -> None:
    data = b"\x00\xff" * 1000
    record = capture_payload(store_client, tenant.headers(), data, content_type="application/octet-stream")

    assert record["dropped"] == "0"
    assert record["payload_size"] == str(len(data))
    assert stored_keys(store_settings) == {record["payload_store_reference"]}
    assert stored_bytes(store_settings, record["payload_store_reference"]) == data
    meta = store_client.get(f"{PAYLOADS}/{record['id']}/meta", headers=tenant.headers()).json()["data"]
    assert meta["store"] == ("s3" if store_settings.store_url.startswith("s3://") else "file")
    assert meta["sha256"] == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize(
    ("interruption", "message"),
    [
        # The connection lost under the COMMIT (here the server did commit, and its answer was what got lost): a 503
        # that says the outcome is unknown.
        (CommitOutcomeUnknown("the connection was lost during the commit"), "may or may not have been recorded"),
        # Something other than the database's refusal failing as the transaction ends (the connection given back,
        # the request cancelled: the cluster's PostgreSQL restart test once found a record whose bytes a capture had
        # deleted so).
        (ConnectionResetError("connection reset as it was given back"), None),
        (RuntimeError("cancelled as the commit ended"), None),
    ],
    ids=["answer-lost", "socket-error", "other-error"],
)
def test_a_capture_interrupted_after_its_commit_keeps_its_bytes(
    store_client: TestClient[object],
    store_settings: Settings,
    tenant: TenantKeys,
    monkeypatch: pytest.MonkeyPatch,
    interruption: Exception,
    message: str | None,
) -> None:
    """The COMMIT made, then the transaction's end fails: the record exists, so its bytes stay and download whole;
    never a record without its bytes."""
    recorded: list[str] = []
    real_record, real_transaction = PayloadService.record, Database.transaction

    async def record(self: PayloadService, values: dict[str, Any]) -> Any:
        recorded.append(values["store_key"])
        return await real_record(self, values)

    @asynccontextmanager
    async def commits_then_fails(self: Database) -> AsyncIterator[Any]:
        before = len(recorded)
        async with real_transaction(self) as connection:
            yield connection
        if len(recorded) > before:
            raise interruption

    monkeypatch.setattr(PayloadService, "record", record)
    monkeypatch.setattr(Database, "transaction", commits_then_fails)
    data = b"committed, then interrupted"

    response = store_client.post(
        PAYLOADS, params={"flow_run_id": 1, "flow_step_id": 1}, content=data, headers=tenant.headers()
    )

    if message is not None:
        assert message in laravel_error(response, 503)["message"]
    assert response.status_code >= 500, response.text
    (key,) = recorded
    assert [row["store_key"] for row in payload_rows(store_settings.database_url)] == [key]
    assert stored_bytes(store_settings, key) == data
    monkeypatch.undo()
    (row,) = store_client.get(PAYLOADS, headers=tenant.headers()).json()["data"]
    assert store_client.get(f"{PAYLOADS}/{row['id']}/download", headers=tenant.headers()).content == data
