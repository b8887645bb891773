"""Reading one payload: ``GET {id}``, ``GET {id}/meta``, ``GET {id}/download`` and ``DELETE {id}``.

Downloads must give back exactly the bytes captured, on every store; every route is tenant-scoped and role-guarded.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
import re
import shutil
import time
from typing import Any

import pytest
from litestar.testing import TestClient

from metadock.app import create_app
from metadock.settings import Settings
from tests.factories import (
    PAYLOADS,
    TenantKeys,
    capture_payload,
    laravel_error,
    payload_rows,
    stored_bytes,
    stored_keys,
)

MIB = 1024 * 1024
FIVE_MIB = random.Random(5).randbytes(5 * MIB)
# Larger than one read chunk (256 KiB), so ranges cross chunk boundaries.
RANGED = random.Random(7).randbytes(300_000)
SAFE_ATTACHMENT = re.compile(r'\Aattachment; filename="payload-(\d+)\.[a-z]{2,4}"\Z')


def _download(client: TestClient[object], tenant: TenantKeys, record_id: int, **headers: str) -> Any:
    return client.get(f"{PAYLOADS}/{record_id}/download", headers={**tenant.headers("reader"), **headers})


def _wait_until_gone(settings: Settings, key: str, timeout: float = 5.0) -> bool:
    """The bytes of a deleted record are removed just after the response: poll a little."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if stored_bytes(settings, key) is None:
            return True
        time.sleep(0.05)
    return False


# Download: byte-exact on every store -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        pytest.param(b"", "application/json", id="empty"),
        pytest.param(b'{"order": 1, "name": "caf\xc3\xa9"}', "application/json; charset=utf-8", id="small"),
        pytest.param(FIVE_MIB, "application/octet-stream", id="5MiB-binary"),
        pytest.param(FIVE_MIB + b"\x00tail", "application/zip", id="5MiB-plus-5"),
    ],
)
def test_download_gives_back_exactly_the_captured_bytes(
    store_client: TestClient[object], store_settings: Settings, tenant: TenantKeys, data: bytes, content_type: str
) -> None:
    record = capture_payload(store_client, tenant.headers(), data, content_type=content_type)
    digest = hashlib.sha256(data).hexdigest()

    response = _download(store_client, tenant, record["id"])

    assert response.status_code == 200, response.text
    assert response.content == data
    assert hashlib.sha256(response.content).hexdigest() == digest
    assert response.headers["etag"] == f'"{digest}"'
    assert response.headers["content-length"] == str(len(data))
    assert response.headers.get_list("content-type") == [content_type]
    disposition = SAFE_ATTACHMENT.fullmatch(response.headers["content-disposition"])
    assert disposition is not None, response.headers["content-disposition"]
    assert int(disposition[1]) == record["id"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["accept-ranges"] == "bytes"
    assert record["payload_size"] == str(len(data))
    meta = store_client.get(f"{PAYLOADS}/{record['id']}/meta", headers=tenant.headers()).json()["data"]
    assert meta["sha256"] == digest
    assert meta["size"] == len(data)
    assert meta["store"] == ("s3" if store_settings.store_url.startswith("s3://") else "file")


@pytest.mark.parametrize(
    ("content_type", "extension"),
    [
        ("application/json", ".json"),
        ("text/csv", ".csv"),
        ("application/xml", ".xml"),
        ("application/octet-stream", ".bin"),
        ("application/x-msdownload", ".bin"),
        ("application/vnd.unheard-of", ".bin"),
    ],
)
def test_the_attachment_name_is_ours_with_a_harmless_extension(
    client: TestClient[object], tenant: TenantKeys, content_type: str, extension: str
) -> None:
    record = capture_payload(client, tenant.headers(), b"x", content_type=content_type)

    response = _download(client, tenant, record["id"])

    assert response.headers["content-disposition"] == f'attachment; filename="payload-{record["id"]}{extension}"'


# Ranges -----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        pytest.param("bytes=0-99", 0, 100, id="first-bytes"),
        pytest.param("bytes=0-0", 0, 1, id="first-byte"),
        pytest.param("bytes=200000-299999", 200_000, 300_000, id="middle-across-chunks"),
        pytest.param("bytes=12345-12444", 12_345, 12_445, id="middle"),
        pytest.param("bytes=-500", 299_500, 300_000, id="suffix"),
        pytest.param("bytes=-1000000", 0, 300_000, id="suffix-longer-than-payload"),
        pytest.param("bytes=299000-", 299_000, 300_000, id="open-ended"),
        pytest.param("bytes=299990-999999", 299_990, 300_000, id="end-past-size"),
        pytest.param("bytes=299999-299999", 299_999, 300_000, id="last-byte"),
    ],
)
def test_a_range_is_206_with_exactly_those_bytes(
    store_client: TestClient[object], tenant: TenantKeys, header: str, start: int, end: int
) -> None:
    record = capture_payload(store_client, tenant.headers(), RANGED, content_type="application/octet-stream")

    response = _download(store_client, tenant, record["id"], Range=header)

    assert response.status_code == 206, response.text
    assert response.content == RANGED[start:end]
    assert response.headers["content-range"] == f"bytes {start}-{end - 1}/{len(RANGED)}"
    assert response.headers["content-length"] == str(end - start)
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["etag"] == f'"{hashlib.sha256(RANGED).hexdigest()}"'


@pytest.mark.parametrize("header", ["bytes=300000-", "bytes=300000-300010", "bytes=999999-", "bytes=-0"])
def test_a_range_past_the_end_is_416(client: TestClient[object], tenant: TenantKeys, header: str) -> None:
    record = capture_payload(client, tenant.headers(), RANGED)

    response = _download(client, tenant, record["id"], Range=header)

    laravel_error(response, 416)
    assert response.headers["content-range"] == f"bytes */{len(RANGED)}"


def test_any_range_of_an_empty_payload_is_416(client: TestClient[object], tenant: TenantKeys) -> None:
    record = capture_payload(client, tenant.headers(), b"")

    for header in ("bytes=0-", "bytes=0-0", "bytes=-1"):
        response = _download(client, tenant, record["id"], Range=header)
        laravel_error(response, 416)
        assert response.headers["content-range"] == "bytes */0"


@pytest.mark.parametrize("header", ["bytes=0-1,5-6", "items=0-5", "bytes=5-2", "bytes=abc", "bytes=-"])
def test_a_range_we_do_not_serve_is_ignored_and_the_whole_payload_sent(
    client: TestClient[object], tenant: TenantKeys, header: str
) -> None:
    data = b"0123456789" * 10
    record = capture_payload(client, tenant.headers(), data)

    response = _download(client, tenant, record["id"], Range=header)

    assert response.status_code == 200
    assert response.content == data
    assert "content-range" not in response.headers


# Conditional requests -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["exact", "weak", "in-a-list", "star"])
def test_if_none_match_with_the_etag_is_304_without_a_body(
    client: TestClient[object], tenant: TenantKeys, form: str
) -> None:
    record = capture_payload(client, tenant.headers(), b"cached payload")
    etag = _download(client, tenant, record["id"]).headers["etag"]
    header = {"exact": etag, "weak": f"W/{etag}", "in-a-list": f'"other", {etag}', "star": "*"}[form]

    response = _download(client, tenant, record["id"], **{"If-None-Match": header})

    assert response.status_code == 304
    assert response.content == b""
    assert response.headers["etag"] == etag


def test_if_none_match_with_another_etag_sends_the_payload(client: TestClient[object], tenant: TenantKeys) -> None:
    record = capture_payload(client, tenant.headers(), b"fresh payload")

    response = _download(client, tenant, record["id"], **{"If-None-Match": '"0123abcd"'})

    assert response.status_code == 200
    assert response.content == b"fresh payload"


# Get and meta -------------------------------------------------------------------------------------------------------


def test_get_answers_the_record_in_a_data_envelope(client: TestClient[object], tenant: TenantKeys) -> None:
    record = capture_payload(client, tenant.headers(), b"abc", flow_run_id=7, flow_step_id=8, flow_version_id=9)

    response = client.get(f"{PAYLOADS}/{record['id']}", headers=tenant.headers("reader"))

    assert response.status_code == 200
    assert response.json() == {"data": record}


def test_meta_describes_the_stored_bytes(client: TestClient[object], tenant: TenantKeys) -> None:
    data = b"<order id='1'/>"
    record = capture_payload(client, tenant.headers(), data, content_type="application/xml")

    response = client.get(f"{PAYLOADS}/{record['id']}/meta", headers=tenant.headers("reader"))

    assert response.status_code == 200
    meta = response.json()["data"]
    assert set(meta) == {
        "id",
        "content_type",
        "size",
        "sha256",
        "dropped",
        "dropped_reason",
        "stored_at",
        "expires_at",
        "store",
        "tags",
    }
    assert meta["tags"] == {}  # captured without tags, and the tenant has no rules
    assert meta["id"] == record["id"]
    assert meta["content_type"] == "application/xml"
    assert meta["size"] == len(data)
    assert type(meta["size"]) is int
    assert meta["sha256"] == hashlib.sha256(data).hexdigest()
    assert meta["dropped"] is False
    assert meta["dropped_reason"] is None
    assert meta["store"] == "file"
    assert meta["stored_at"] == record["created_at"]
    stored_at = dt.datetime.strptime(meta["stored_at"], "%Y-%m-%dT%H:%M:%S.%fZ")
    expires_at = dt.datetime.strptime(meta["expires_at"], "%Y-%m-%dT%H:%M:%S.%fZ")
    assert expires_at - stored_at == dt.timedelta(days=30)  # the default retention


def test_with_retention_zero_nothing_expires(settings: Settings, tenant: TenantKeys) -> None:
    with TestClient(create_app(settings.model_copy(update={"payload_retention_days": 0}))) as client:  # type: ignore[arg-type]
        record = capture_payload(client, tenant.headers(), b"kept forever")
        meta = client.get(f"{PAYLOADS}/{record['id']}/meta", headers=tenant.headers()).json()["data"]

    assert meta["expires_at"] is None
    assert meta["stored_at"] is not None


# Not found, tenants, roles ------------------------------------------------------------------------------------------

ROUTES = [("GET", ""), ("GET", "/meta"), ("GET", "/download"), ("DELETE", "")]


@pytest.mark.parametrize(("method", "suffix"), ROUTES)
@pytest.mark.parametrize(
    "raw_id", ["999999", "abc", "1.5", "-1", "0", "1e3", "99999999999999999999999", "²", "１", " 1", "0x1"]
)
def test_an_id_that_names_no_record_is_404(
    client: TestClient[object], tenant: TenantKeys, method: str, suffix: str, raw_id: str
) -> None:
    capture_payload(client, tenant.headers())  # record 1 exists

    response = client.request(method, f"{PAYLOADS}/{raw_id}{suffix}", headers=tenant.headers())

    laravel_error(response, 404)


@pytest.mark.parametrize(("method", "suffix"), ROUTES)
def test_another_tenants_record_is_404_on_every_route(
    client: TestClient[object],
    settings: Settings,
    tenant: TenantKeys,
    other_tenant: TenantKeys,
    method: str,
    suffix: str,
) -> None:
    theirs = capture_payload(client, other_tenant.headers(), b"their bytes")

    response = client.request(method, f"{PAYLOADS}/{theirs['id']}{suffix}", headers=tenant.headers("admin"))

    laravel_error(response, 404)
    # Still theirs, untouched.
    assert client.get(f"{PAYLOADS}/{theirs['id']}", headers=other_tenant.headers()).json() == {"data": theirs}
    assert _download(client, other_tenant, theirs["id"]).content == b"their bytes"
    assert stored_bytes(settings, theirs["payload_store_reference"]) == b"their bytes"


def test_a_tenant_lists_only_its_own_records(
    client: TestClient[object], tenant: TenantKeys, other_tenant: TenantKeys
) -> None:
    mine = capture_payload(client, tenant.headers(), flow_run_id=1)
    capture_payload(client, other_tenant.headers(), flow_run_id=1)

    for params in ({}, {"filter[flow_run_id]": "1"}, {"filter[id]": "1,2"}):
        listed = client.get(PAYLOADS, params=params, headers=tenant.headers()).json()
        assert [record["id"] for record in listed["data"]] == [mine["id"]]
        assert listed["meta"]["total"] == 1


@pytest.mark.parametrize(
    ("method", "template"),
    [
        ("GET", PAYLOADS),
        ("POST", PAYLOADS + "?flow_run_id=1&flow_step_id=1"),
        ("GET", PAYLOADS + "/{id}"),
        ("GET", PAYLOADS + "/{id}/meta"),
        ("GET", PAYLOADS + "/{id}/download"),
        ("DELETE", PAYLOADS + "/{id}"),
    ],
)
@pytest.mark.parametrize("authorization", [None, "", "nonsense", "Bearer nonsense"])
def test_every_route_needs_a_valid_key(
    client: TestClient[object], tenant: TenantKeys, method: str, template: str, authorization: str | None
) -> None:
    record = capture_payload(client, tenant.headers(), b"guarded")
    headers = {} if authorization is None else {"Authorization": authorization}

    response = client.request(method, template.format(id=record["id"]), headers=headers, content=b"x")

    assert response.status_code == 401
    assert response.json() == {"message": "Unauthenticated."}
    assert _download(client, tenant, record["id"]).content == b"guarded"
    assert client.get(PAYLOADS, headers=tenant.headers()).json()["meta"]["total"] == 1


def test_a_reader_reads_everything_but_cannot_delete(
    client: TestClient[object], settings: Settings, tenant: TenantKeys
) -> None:
    record = capture_payload(client, tenant.headers(), b"read me")
    reader = tenant.headers("reader")

    assert client.get(PAYLOADS, headers=reader).status_code == 200
    assert client.get(f"{PAYLOADS}/{record['id']}", headers=reader).status_code == 200
    assert client.get(f"{PAYLOADS}/{record['id']}/meta", headers=reader).status_code == 200
    assert _download(client, tenant, record["id"]).content == b"read me"

    response = client.delete(f"{PAYLOADS}/{record['id']}", headers=reader)

    assert response.status_code == 403
    assert response.json() == {"message": "This action is unauthorized."}
    assert client.get(f"{PAYLOADS}/{record['id']}", headers=reader).status_code == 200
    assert stored_bytes(settings, record["payload_store_reference"]) == b"read me"


# Delete -------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["writer", "admin"])
def test_delete_removes_the_record_and_its_bytes(
    store_client: TestClient[object], store_settings: Settings, tenant: TenantKeys, role: str
) -> None:
    doomed = capture_payload(store_client, tenant.headers(), b"delete me" * 1000)
    kept = capture_payload(store_client, tenant.headers(), b"keep me")
    assert stored_bytes(store_settings, doomed["payload_store_reference"]) == b"delete me" * 1000

    response = store_client.delete(f"{PAYLOADS}/{doomed['id']}", headers=tenant.headers(role))

    assert response.status_code == 204
    assert response.content == b""
    for suffix in ("", "/meta", "/download"):
        laravel_error(store_client.get(f"{PAYLOADS}/{doomed['id']}{suffix}", headers=tenant.headers()), 404)
    laravel_error(store_client.delete(f"{PAYLOADS}/{doomed['id']}", headers=tenant.headers()), 404)
    assert _wait_until_gone(store_settings, doomed["payload_store_reference"])
    listed = store_client.get(PAYLOADS, headers=tenant.headers()).json()
    assert [record["id"] for record in listed["data"]] == [kept["id"]]
    assert stored_keys(store_settings) == {kept["payload_store_reference"]}
    assert _download(store_client, tenant, kept["id"]).content == b"keep me"


def test_delete_of_a_dropped_payload_removes_the_record(settings: Settings, tenant: TenantKeys) -> None:
    with TestClient(create_app(settings.model_copy(update={"max_payload_bytes": 4}))) as client:  # type: ignore[arg-type]
        record = capture_payload(client, tenant.headers(), b"too large")
        assert record["dropped"] == "1"

        response = client.delete(f"{PAYLOADS}/{record['id']}", headers=tenant.headers())

        assert response.status_code == 204
        laravel_error(client.get(f"{PAYLOADS}/{record['id']}", headers=tenant.headers()), 404)
    assert payload_rows(settings.database_url) == []


def test_a_store_outage_during_download_is_503(
    client: TestClient[object], settings: Settings, tenant: TenantKeys
) -> None:
    record = capture_payload(client, tenant.headers(), b"unreachable")
    shutil.rmtree(settings.resolved_store_url.removeprefix("file://"))  # an unmounted volume

    response = _download(client, tenant, record["id"])

    laravel_error(response, 503)
    assert response.headers["retry-after"]
    # The record is not the problem: it stays as it was.
    assert client.get(f"{PAYLOADS}/{record['id']}", headers=tenant.headers()).json() == {"data": record}
