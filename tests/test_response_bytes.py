"""The hot reads build their answers more cheaply (timestamps cut from the stored text, the paginator's links encoded
once), and clients must not see a single byte change. Each response is compared, byte for byte, with the one the
previous way builds: the row read through the table's own column types (aware datetimes), formatted as the service
and the paginator used to, and encoded as the app encodes. On both databases, in both dialects."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

import msgspec
from hypothesis import given
from hypothesis import strategies as st
from litestar.testing import TestClient
from sqlalchemy import select

from metadock.dialects.laravel.paginator import PageUrls, paginate
from metadock.kit.db import Connection
from metadock.metadatas.table import metadatas
from metadock.payloads.schemas import PayloadRecord, PayloadRecordEnvelope, PayloadRecordList
from metadock.payloads.table import payload_metadata
from tests.factories import (
    PAYLOADS,
    TenantKeys,
    add_metadatas,
    add_payload_records,
    backdate_payload,
    metadata_body,
    run_in_transaction,
    set_timestamps,
)

# A stored moment with a fraction and one without: the resources print seconds (DigitalState) or microseconds
# (Laravel), and the fraction must be cut, not rounded.
MOMENTS = (
    dt.datetime(2021, 3, 4, 5, 6, 7, 999999, tzinfo=dt.UTC),
    dt.datetime(2030, 12, 31, 23, 59, 59, tzinfo=dt.timezone(dt.timedelta(hours=-5))),
)


class PreviousPageUrls(PageUrls):
    """The paginator's links as they were built before: the whole query re-encoded for every link."""

    def __init__(self, path: str, params: Sequence[tuple[str, str]]) -> None:
        super().__init__(path, params)
        self.previous_params = list(params)

    def url(self, page: int) -> str:
        merged: list[tuple[str, str]] = []
        placed = False
        for key, value in self.previous_params:
            if key == "page":
                if not placed:
                    merged.append(("page", str(page)))
                    placed = True
                continue
            merged.append((key, value))
        if not placed:
            merged.append(("page", str(page)))
        return f"{self.path}?{urlencode(merged)}"


def _rows(database_url: str, table: Any) -> dict[Any, dict[str, Any]]:
    async def work(connection: Connection) -> dict[Any, dict[str, Any]]:
        result = await connection.execute(select(table).order_by(table.c.id))
        return {row["id"]: dict(row) for row in result.mappings()}

    return run_in_transaction(database_url, work)


def _previous_metadata(row: dict[str, Any], tenant_uuid: str) -> dict[str, Any]:
    # MetadataService._out before: the stored aware datetimes formatted with isoformat(timespec="seconds").
    def printed(moment: dt.datetime) -> str:
        return moment.astimezone(dt.UTC).isoformat(timespec="seconds")

    return {
        "id": row["id"],
        "uuid": row["uuid"],
        "createdAt": printed(row["created_at"]),
        "updatedAt": printed(row["updated_at"]),
        "owner": row["owner"],
        "ownerUuid": row["owner_uuid"],
        "title": row["title"],
        "slug": row["slug"],
        "type": row["type"],
        "data": row["data"],
        "version": row["version"],
        "tenant": tenant_uuid,
    }


def _previous_record(row: dict[str, Any]) -> PayloadRecord:
    # Laravel's text as the previous reading made it, from the aware datetime.
    def printed(moment: dt.datetime) -> str:
        return f"{moment.astimezone(dt.UTC).replace(tzinfo=None).isoformat(timespec='microseconds')}Z"

    return PayloadRecord(
        id=row["id"],
        created_at=printed(row["created_at"]),
        updated_at=printed(row["updated_at"]),
        flow_version_id=row["flow_version_id"],
        flow_step_id=row["flow_step_id"],
        flow_run_id=row["flow_run_id"],
        payload_store_reference=row["store_key"],
        payload_size=str(row["size"]),
        dropped="1" if row["dropped"] else "0",
        flow_log_id=row["flow_log_id"],
    )


def test_metadatas_item_list_and_writes_answer_the_same_bytes(
    client: TestClient[object], tenant: TenantKeys, database_url: str
) -> None:
    bodies = [
        metadata_body(slug="plain"),
        metadata_body(
            slug="unicode", title={"fr": "Édition « été »", "ja": "日本語"}, data={"x": [1.5, None, "\u2028"]}
        ),
        metadata_body(slug="deep", title={"en": "Deep"}, data={"a": {"b": {"c": [True, False, -0.0, 1e300]}}}),
    ]
    created = add_metadatas(database_url, tenant.uuid, bodies)
    set_timestamps(database_url, created[0]["uuid"], MOMENTS[0], MOMENTS[1])
    set_timestamps(database_url, created[1]["uuid"], MOMENTS[1], MOMENTS[0])
    headers = tenant.headers("reader")

    stored = _rows(database_url, metadatas)
    previous = [_previous_metadata(stored[item["id"]], tenant.uuid) for item in created]
    for item, expected in zip(created, previous, strict=True):
        response = client.get(f"/metadatas/{item['uuid']}", headers=headers)
        assert response.status_code == 200
        assert response.content == msgspec.json.encode(expected)
    listed = client.get("/metadatas", params={"order[id]": "asc"}, headers=headers)
    assert listed.content == msgspec.json.encode(previous)

    posted = client.post("/metadatas", json=metadata_body(slug="new", title={"de": "Neu"}), headers=tenant.headers())
    assert posted.status_code == 201
    new_row = _rows(database_url, metadatas)[posted.json()["id"]]
    assert posted.content == msgspec.json.encode(_previous_metadata(new_row, tenant.uuid))

    put = client.put(
        f"/metadatas/{created[2]['uuid']}", json={"version": 1, "data": {"changed": "ü"}}, headers=tenant.headers()
    )
    assert put.status_code == 200
    updated_row = _rows(database_url, metadatas)[created[2]["id"]]
    assert put.content == msgspec.json.encode(_previous_metadata(updated_row, tenant.uuid))


def test_payload_records_and_pages_answer_the_same_bytes(
    client: TestClient[object], tenant: TenantKeys, database_url: str
) -> None:
    records = add_payload_records(database_url, tenant.uuid, [{"flow_run_id": 7, "flow_log_id": n} for n in range(25)])
    backdate_payload(database_url, records[3]["id"], MOMENTS[0])
    backdate_payload(database_url, records[4]["id"], MOMENTS[1])
    stored = _rows(database_url, payload_metadata)
    headers = tenant.headers("reader")

    for record in records[:6]:
        response = client.get(f"{PAYLOADS}/{record['id']}", headers=headers)
        assert response.status_code == 200
        assert response.content == msgspec.json.encode(PayloadRecordEnvelope(_previous_record(stored[record["id"]])))

    # `page` in the middle and characters that need encoding: the links keep every other parameter where it was.
    params = [("filter[flow_run_id]", "7"), ("page", "2"), ("per_page", "4"), ("sort", "id")]
    response = client.get(PAYLOADS, params=params, headers=headers)
    assert response.status_code == 200
    page = sorted(stored.values(), key=lambda row: row["id"])[4:8]
    urls = PreviousPageUrls("http://testserver.local" + PAYLOADS, params)
    links, meta = paginate(urls, page=2, per_page=4, total=25, count=4)
    expected = PayloadRecordList(data=[_previous_record(row) for row in page], links=links, meta=meta)
    assert response.content == msgspec.json.encode(expected)


_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=8)


@given(
    params=st.lists(st.tuples(st.sampled_from(["page", "per_page", "filter[id]", "sort", "päge"]) | _TEXT, _TEXT)),
    page=st.integers(min_value=1, max_value=10**9),
)
def test_page_links_are_the_links_encoded_per_page(params: list[tuple[str, str]], page: int) -> None:
    path = "http://testserver.local/api/v1/payload-metadata"
    assert PageUrls(path, params).url(page) == PreviousPageUrls(path, params).url(page)
