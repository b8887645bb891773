"""Streaming exports: ``GET /api/v1/payload-metadata/export`` and ``GET /metadatas/export``, NDJSON and CSV.

An export must give every record its list's filters select, once, in the list's order, across batch boundaries (the
batch size is 3 here), with exactly the fields of a list item; stay inside the caller's tenant; quote CSV as RFC 4180
says and defuse spreadsheet formulas; refuse an unknown format in each dialect's shape; and survive records deleted
while it runs. A client that goes away mid-stream is in ``test_export_live.py``.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import json
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest
from litestar.testing import TestClient

from metadock.app import create_app
from metadock.kit.db import Database
from metadock.kit.principal import Principal, Role
from metadock.metadatas.schemas import MetadataOut
from metadock.payloads.query import parse_list_query
from metadock.payloads.repository import PayloadRepository
from metadock.payloads.schemas import PayloadRecord
from metadock.payloads.service import PayloadService
from metadock.settings import Settings
from metadock.tenants.service import TenantService
from tests.factories import (
    PAYLOADS,
    TenantKeys,
    add_metadatas,
    add_payload_records,
    laravel_error,
    metadata_body,
    problem,
)

Client = TestClient[object]
BATCH = 3
EXPORT = f"{PAYLOADS}/export"
NDJSON = "application/x-ndjson"
CSV = "text/csv; charset=utf-8"


@pytest.fixture
def export_client(settings: Settings) -> Iterator[Client]:
    """The app with exports read 3 records per batch, so a dozen records cross several batch boundaries."""
    with TestClient(create_app(settings.model_copy(update={"export_batch_size": BATCH}))) as client:  # type: ignore[arg-type]
        yield client


def ndjson(response: Any, file_name: str) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == NDJSON
    assert response.headers["content-disposition"] == f'attachment; filename="{file_name}.ndjson"'
    assert response.text == "" or response.text.endswith("\n")
    return [json.loads(line) for line in response.text.splitlines()]


def csv_rows(response: Any, file_name: str) -> list[list[str]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == CSV
    assert response.headers["content-disposition"] == f'attachment; filename="{file_name}.csv"'
    return list(csv.reader(io.StringIO(response.content.decode("utf-8"), newline="")))


def as_csv(item: dict[str, Any]) -> list[str]:
    """A list item as its CSV row: null empty, nested values as JSON text, everything else as its text."""
    cells = []
    for value in item.values():
        if value is None:
            cells.append("")
        elif isinstance(value, dict | list):
            cells.append(json.dumps(value, separators=(",", ":"), ensure_ascii=False))
        else:
            cells.append(str(value))
    return cells


def listed(client: Client, path: str, headers: dict[str, str], params: dict[str, str]) -> list[dict[str, Any]]:
    """Every item of the list (one page of 100), as the export must repeat it."""
    is_payloads = path.startswith(PAYLOADS)
    response = client.get(path, params={**params, "per_page" if is_payloads else "limit": "100"}, headers=headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["data"] if is_payloads else response.json()
    return items


# --- payloads ---------------------------------------------------------------------------------------------------


def _seed_payloads(database_url: str, tenant: TenantKeys) -> list[dict[str, Any]]:
    # Several records share a capture time, so that created_at orders need the id to break ties inside a batch and
    # across batch boundaries.
    base = dt.datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=dt.UTC)
    specs = [
        {"flow_run_id": 7 + n % 3, "flow_step_id": n, "flow_log_id": n if n % 2 else None, "created_at": when}
        for n, when in enumerate(base + dt.timedelta(seconds=(n * 5) % 4) for n in range(11))
    ]
    return add_payload_records(database_url, tenant.uuid, specs)


@pytest.mark.parametrize("sort", ["", "id", "-id", "created_at", "-created_at", "-created_at,-id", "created_at,-id"])
def test_a_payload_export_has_every_record_once_in_the_lists_order_across_batches(
    export_client: Client, database_url: str, tenant: TenantKeys, sort: str
) -> None:
    _seed_payloads(database_url, tenant)
    headers = tenant.headers("reader")
    params = {"sort": sort} if sort else {}
    expected = listed(export_client, PAYLOADS, headers, params)
    assert len(expected) == 11

    exported = ndjson(export_client.get(EXPORT, params=params, headers=headers), "payload-metadata")
    assert exported == expected

    rows = csv_rows(export_client.get(EXPORT, params={**params, "format": "csv"}, headers=headers), "payload-metadata")
    assert rows[0] == list(PayloadRecord.__struct_fields__)
    assert rows[1:] == [as_csv(item) for item in expected]


def test_a_payload_export_honours_the_filters_and_shows_no_other_tenants_records(
    export_client: Client, database_url: str, tenant: TenantKeys, other_tenant: TenantKeys
) -> None:
    _seed_payloads(database_url, tenant)
    theirs = add_payload_records(database_url, other_tenant.uuid, [{"flow_run_id": 7}, {"flow_run_id": 8}])
    headers = tenant.headers("reader")
    params = {"filter[flow_run_id]": "7,8", "filter[flow_step_id]": "1,2,3,4,5,6,7,8,9", "sort": "-created_at"}
    expected = listed(export_client, PAYLOADS, headers, params)
    assert {item["flow_run_id"] for item in expected} == {7, 8}
    assert 0 < len(expected) < 11

    exported = ndjson(export_client.get(EXPORT, params=params, headers=headers), "payload-metadata")
    assert exported == expected
    assert not {item["id"] for item in exported} & {record["id"] for record in theirs}
    # Everything of theirs, none of ours.
    everything = ndjson(export_client.get(EXPORT, headers=other_tenant.headers("reader")), "payload-metadata")
    assert [item["id"] for item in everything] == [record["id"] for record in theirs]
    # A filter matching nothing: an empty export (a CSV of the header alone).
    nothing = export_client.get(EXPORT, params={"filter[flow_run_id]": "abc", "format": "csv"}, headers=headers)
    assert csv_rows(nothing, "payload-metadata") == [list(PayloadRecord.__struct_fields__)]


def test_a_payload_export_refuses_what_the_list_refuses_and_an_unknown_format_in_laravels_shape(
    export_client: Client, tenant: TenantKeys
) -> None:
    headers = tenant.headers("reader")
    unknown = export_client.get(EXPORT, params={"format": "xlsx"}, headers=headers)
    assert laravel_error(unknown, 422) == {
        "message": "The selected format is invalid.",
        "errors": {"format": ["The selected format is invalid."]},
    }
    not_allowed = export_client.get(EXPORT, params={"filter[payload]": "1"}, headers=headers)
    listed_too = export_client.get(PAYLOADS, params={"filter[payload]": "1"}, headers=headers)
    assert laravel_error(not_allowed, 400) == laravel_error(listed_too, 400)
    bad_sort = export_client.get(EXPORT, params={"sort": "size"}, headers=headers)
    assert laravel_error(bad_sort, 400)["message"].startswith("Requested sort(s) `size` is not allowed.")
    assert export_client.get(EXPORT).status_code == 401


def test_the_export_routes_do_not_shadow_the_item_routes(
    export_client: Client, database_url: str, tenant: TenantKeys
) -> None:
    headers = tenant.headers("reader")
    record = add_payload_records(database_url, tenant.uuid, [{}])[0]
    created = add_metadatas(database_url, tenant.uuid, [metadata_body()])[0]
    assert export_client.get(f"{PAYLOADS}/{record['id']}", headers=headers).json()["data"] == record
    assert export_client.get(f"/metadatas/{created['uuid']}", headers=headers).json() == created
    assert ndjson(export_client.get(EXPORT, headers=headers), "payload-metadata") == [record]
    assert ndjson(export_client.get("/metadatas/export", headers=headers), "metadatas") == [created]


def test_a_record_deleted_or_created_mid_export_neither_breaks_it_nor_repeats_a_record(
    database_url: str, tenant: TenantKeys
) -> None:
    """Between two batches (each its own transaction) a record of the next batch is deleted, one already sent too,
    and a new one is captured: the export goes on, the deleted one of the next batch is left out, nothing is sent
    twice, and the new record (after the export began) is not included."""
    records = add_payload_records(database_url, tenant.uuid, [{"flow_step_id": n} for n in range(10)])
    ids = [record["id"] for record in records]

    async def run() -> list[int]:
        database = Database(database_url, pool_size=2)
        try:
            async with database.transaction() as connection:
                found = await TenantService(connection).get_tenant(tenant.uuid)
                principal = Principal(found.id, found.uuid, Role.READER, "test")
                batches = await PayloadService(connection, principal, "file").export(
                    parse_list_query([]), database, BATCH
                )
            iterator = aiter(batches)
            seen = [record.id for record in await anext(iterator)]
            async with database.transaction() as connection:
                repository = PayloadRepository(connection, found.id)
                assert await repository.delete(ids[1]) is not None  # already sent
                assert await repository.delete(ids[4]) is not None  # in the next batch
            add_later = asyncio.to_thread(add_payload_records, database_url, tenant.uuid, [{"flow_step_id": 99}])
            await add_later
            async for batch in iterator:
                seen += [record.id for record in batch]
            return seen
        finally:
            await database.dispose()

    seen = asyncio.run(run())
    assert seen == [record_id for record_id in ids if record_id != ids[4]]


# --- metadatas --------------------------------------------------------------------------------------------------


def _seed_metadatas(database_url: str, tenant: TenantKeys) -> list[dict[str, Any]]:
    bodies = [
        metadata_body(
            slug=f"item-{n}",
            type="alpha" if n % 2 else "beta",
            owner=f"owner-{n % 3}",
            title={"en": f"Title {n % 4}", "de": f"Titel {n}"},
            data={"n": n},
        )
        for n in range(12)
    ]
    return add_metadatas(database_url, tenant.uuid, bodies)


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"order[id]": "desc"},
        {"order[title]": "desc"},
        {"order[owner]": "asc", "order[slug]": "desc"},
        {"type": "alpha", "order[createdAt]": "desc"},
        {"title": "title 1", "order[type]": "asc"},
        {"owner[]": "owner-1", "page": "abc", "limit": "0"},
    ],
)
def test_a_metadatas_export_has_every_resource_once_in_the_lists_order_across_batches(
    export_client: Client, database_url: str, tenant: TenantKeys, other_tenant: TenantKeys, params: dict[str, str]
) -> None:
    _seed_metadatas(database_url, tenant)
    theirs = _seed_metadatas(database_url, other_tenant)
    headers = tenant.headers("reader")
    listing = {name: value for name, value in params.items() if name not in ("page", "limit")}
    expected = listed(export_client, "/metadatas", headers, listing)
    assert expected

    exported = ndjson(export_client.get("/metadatas/export", params=params, headers=headers), "metadatas")
    assert exported == expected
    assert not {item["uuid"] for item in exported} & {item["uuid"] for item in theirs}

    response = export_client.get("/metadatas/export", params={**params, "format": "csv"}, headers=headers)
    rows = csv_rows(response, "metadatas")
    assert rows[0] == [field.encode_name for field in msgspec.structs.fields(MetadataOut)] == list(expected[0])
    assert rows[1:] == [as_csv(item) for item in expected]


def test_a_metadatas_export_refuses_an_unknown_format_and_bad_values_as_problem_details(
    export_client: Client, tenant: TenantKeys
) -> None:
    headers = tenant.headers("reader")
    unknown = export_client.get("/metadatas/export", params={"format": "xml"}, headers=headers)
    assert problem(unknown, 400) == {
        "type": "https://tools.ietf.org/html/rfc2616#section-10",
        "title": "An error occurred",
        "status": 400,
        "detail": "format: The selected format is invalid.",
        "violations": [{"propertyPath": "format", "message": "The selected format is invalid."}],
    }
    bad = export_client.get("/metadatas/export", params={"id": "x", "order[version]": "asc"}, headers=headers)
    assert {violation["propertyPath"] for violation in problem(bad, 400)["violations"]} == {"id", "order[version]"}
    assert problem(export_client.get("/metadatas/export"), 401)


def test_csv_quotes_as_rfc_4180_and_defuses_formulas(export_client: Client, tenant: TenantKeys) -> None:
    headers = tenant.headers("writer")
    tricky = metadata_body(
        owner='=HYPERLINK("http://x","click")',
        slug="-2+3",
        type="@SUM(A1:A9)",
        title={"en": 'He said "hi", then\nleft'},
        data={"cell": "=1+1", "list": [1, "two"]},
    )
    created = export_client.post("/metadatas", json=tricky, headers=headers)
    assert created.status_code == 201, created.text
    second = export_client.post(
        "/metadatas", json=metadata_body(owner="\rcarriage", slug="+plus", type="\ttab"), headers=headers
    )
    assert second.status_code == 201, second.text

    response = export_client.get("/metadatas/export", params={"format": "csv"}, headers=headers)
    raw = response.content.decode("utf-8")
    lines = raw.split("\r\n")
    assert lines[0] == "id,uuid,createdAt,updatedAt,owner,ownerUuid,title,slug,type,data,version,tenant"
    assert raw.endswith("\r\n")
    # The owner holds quotes: quoted, each quote doubled; the title's JSON holds a comma, quotes and a newline.
    assert '"\'=HYPERLINK(""http://x"",""click"")"' in raw
    assert '"{""en"":""He said \\""hi\\"", then\\nleft""}"' in raw
    rows = csv_rows(response, "metadatas")
    header, first, last = rows[0], dict(zip(rows[0], rows[1], strict=True)), dict(zip(rows[0], rows[2], strict=True))
    assert len(rows) == 3
    assert len(header) == 12
    assert first["owner"] == '\'=HYPERLINK("http://x","click")'
    assert first["slug"] == "'-2+3"
    assert first["type"] == "'@SUM(A1:A9)"
    assert json.loads(first["title"]) == {"en": 'He said "hi", then\nleft'}
    assert json.loads(first["data"]) == {"cell": "=1+1", "list": [1, "two"]}
    assert first["id"] == str(created.json()["id"])
    assert first["version"] == "1"
    assert (last["owner"], last["slug"], last["type"]) == ("'\rcarriage", "'+plus", "'\ttab")
    # NDJSON carries the text exactly: the guard is CSV's alone.
    exported = ndjson(export_client.get("/metadatas/export", headers=headers), "metadatas")
    assert [item["owner"] for item in exported] == [tricky["owner"], "\rcarriage"]
