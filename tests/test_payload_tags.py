"""Business keys (tags): given at capture as ``tag[<name>]=<value>``, extracted by a tenant's rules (RFC 6901 JSON
pointers), shown in ``/meta``, found by ``filter[tag.<name>]``, removed with their record; tenant-scoped."""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile
from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import TestClient
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from sqlalchemy import select

from metadock.app import create_app
from metadock.kit.db import Connection
from metadock.kit.repository import ANCHORS
from metadock.payloads.tag_tables import payload_tags
from metadock.payloads.tags import RULES, extract, parse_pointer, resolve, tag_text
from metadock.settings import Settings
from tests.factories import (
    PAYLOADS,
    TenantKeys,
    backdate_payload,
    laravel_error,
    run_in_transaction,
)
from tests.test_record_retention import _prune_records

RULES_PATH = "/api/v1/tag-rules"
Client = TestClient[object]


@pytest.fixture(autouse=True)
def _no_cached_rules() -> Iterator[None]:
    # Each test's database starts with no rules, and tenant ids repeat across databases: no rule cached by one test
    # may apply in the next (here or in another module).
    RULES.clear()
    yield
    RULES.clear()


def _capture(client: Client, tenant: TenantKeys, body: bytes = b'{"order": 1}', **params: Any) -> dict[str, Any]:
    query = {"flow_run_id": 1, "flow_step_id": 1, **params}
    content_type = query.pop("content_type", "application/json")
    headers = {**tenant.headers("writer"), "Content-Type": content_type}
    response = client.post(PAYLOADS, params=query, content=body, headers=headers)
    assert response.status_code == 201, response.text
    record: dict[str, Any] = response.json()["data"]
    return record


def _tags(client: Client, tenant: TenantKeys, record_id: int) -> dict[str, str]:
    response = client.get(f"{PAYLOADS}/{record_id}/meta", headers=tenant.headers("reader"))
    assert response.status_code == 200, response.text
    tags: dict[str, str] = response.json()["data"]["tags"]
    return tags


def _listed(client: Client, tenant: TenantKeys, **params: str) -> tuple[list[int], int]:
    response = client.get(PAYLOADS, params=params, headers=tenant.headers("reader"))
    assert response.status_code == 200, response.text
    body = response.json()
    return [record["id"] for record in body["data"]], body["meta"]["total"]


def _rule(client: Client, tenant: TenantKeys, name: str, pointer: str, content_type: str = "application/json") -> Any:
    body = {"name": name, "content_type": content_type, "pointer": pointer}
    return client.post(RULES_PATH, json=body, headers=tenant.headers("admin"))


def _tag_rows(database_url: str) -> list[dict[str, Any]]:
    async def work(connection: Connection) -> list[dict[str, Any]]:
        return [dict(row) for row in await connection.fetch_all(select(payload_tags))]

    return run_in_transaction(database_url, work)


# Given at capture ---------------------------------------------------------------------------------------------------


def test_capture_tags_are_shown_in_meta_and_the_record_keeps_its_contract_shape(
    client: Client, tenant: TenantKeys
) -> None:
    record = _capture(client, tenant, **{"tag[order_id]": "1234", "tag[customer]": "ACME Ltd, Bristol"})
    assert "tags" not in record  # the contract's record is unchanged; tags are Metadock's, in /meta
    assert _tags(client, tenant, record["id"]) == {"customer": "ACME Ltd, Bristol", "order_id": "1234"}
    untagged = _capture(client, tenant)
    assert _tags(client, tenant, untagged["id"]) == {}


def test_too_many_tags_is_a_422_in_laravels_shape_and_nothing_is_captured(client: Client, tenant: TenantKeys) -> None:
    params: dict[str, Any] = {"flow_run_id": 1, "flow_step_id": 1}
    params.update({f"tag[t{n}]": str(n) for n in range(17)})
    response = client.post(PAYLOADS, params=params, content=b"{}", headers=tenant.headers("writer"))
    assert laravel_error(response, 422) == {
        "message": "The tag field must not have more than 16 items.",
        "errors": {"tag": ["The tag field must not have more than 16 items."]},
    }
    params = {"flow_run_id": 1, "flow_step_id": 1, **{f"tag[t{n}]": str(n) for n in range(16)}}
    assert client.post(PAYLOADS, params=params, content=b"{}", headers=tenant.headers("writer")).status_code == 201
    assert _listed(client, tenant)[1] == 1


def test_bad_tag_names_and_long_values_are_422_with_every_problem_at_once(client: Client, tenant: TenantKeys) -> None:
    params = {"flow_step_id": 1, "tag[Order]": "1", "tag[ok]": "x" * 201, "tag[fine]": "y" * 200}
    response = client.post(PAYLOADS, params=params, content=b"{}", headers=tenant.headers("writer"))
    body = laravel_error(response, 422)
    assert body["message"] == "The flow run id field is required. (and 2 more errors)"
    assert body["errors"] == {
        "flow_run_id": ["The flow run id field is required."],
        "tag.Order": ["A tag name must be 1 to 40 characters of a-z, 0-9 and _."],
        "tag.ok": ["The tag.ok field must not be greater than 200 characters."],
    }
    name = "n" * 41
    response = client.post(PAYLOADS, params={"flow_run_id": 1, "flow_step_id": 1, f"tag[{name}]": "1"},
                           content=b"{}", headers=tenant.headers("writer"))  # fmt: skip
    assert laravel_error(response, 422)["errors"] == {
        f"tag.{name}": ["A tag name must be 1 to 40 characters of a-z, 0-9 and _."]
    }
    assert _listed(client, tenant)[1] == 0


# Filter ---------------------------------------------------------------------------------------------------------------


def test_filter_by_tag_is_exact_any_of_and_combines_with_other_filters(client: Client, tenant: TenantKeys) -> None:
    a = _capture(client, tenant, flow_run_id=1, **{"tag[order_id]": "1234"})
    b = _capture(client, tenant, flow_run_id=2, **{"tag[order_id]": "1234", "tag[region]": "eu"})
    c = _capture(client, tenant, flow_run_id=2, **{"tag[order_id]": "12345"})
    _capture(client, tenant, flow_run_id=2, **{"tag[other]": "1234"})
    assert _listed(client, tenant, **{"filter[tag.order_id]": "1234"}) == ([a["id"], b["id"]], 2)
    assert _listed(client, tenant, **{"filter[tag.order_id]": "123"}) == ([], 0)
    assert _listed(client, tenant, **{"filter[tag.order_id]": "1234,12345"}) == ([a["id"], b["id"], c["id"]], 3)
    assert _listed(client, tenant, **{"filter[tag.order_id]": "1234", "filter[flow_run_id]": "2"}) == ([b["id"]], 1)
    both = {"filter[tag.order_id]": "1234", "filter[tag.region]": "eu"}
    assert _listed(client, tenant, **both) == ([b["id"]], 1)
    # The exact total on a page that does not hold the whole list (it is counted, not read off the page).
    assert _listed(client, tenant, **{"filter[tag.order_id]": "1234,12345", "per_page": "1", "page": "2"}) == (
        [b["id"]],
        3,
    )
    assert _listed(client, tenant, **{"filter[tag.order_id]": "1234", "sort": "-id"}) == ([b["id"], a["id"]], 2)


def test_the_export_takes_the_tag_filter_as_the_list_does(client: Client, tenant: TenantKeys) -> None:
    a = _capture(client, tenant, **{"tag[order_id]": "1234"})
    _capture(client, tenant, **{"tag[order_id]": "999"})
    c = _capture(client, tenant, **{"tag[order_id]": "12345"})
    response = client.get(
        f"{PAYLOADS}/export", params={"filter[tag.order_id]": "1234,12345"}, headers=tenant.headers("reader")
    )
    assert response.status_code == 200
    exported = [json.loads(line)["id"] for line in response.text.splitlines()]
    assert exported == [a["id"], c["id"]]


def test_a_tag_filter_with_a_name_no_tag_can_have_is_not_allowed(client: Client, tenant: TenantKeys) -> None:
    response = client.get(PAYLOADS, params={"filter[tag.Order]": "1"}, headers=tenant.headers("reader"))
    assert laravel_error(response, 400) == {
        "message": "Requested filter(s) `tag.Order` are not allowed. "
        "Allowed filter(s) are `id, flow_run_id, flow_step_id, flow_log_id, tag.*`."
    }


def test_tags_and_tag_filters_never_cross_tenants(client: Client, tenant: TenantKeys, other_tenant: TenantKeys) -> None:
    mine = _capture(client, tenant, **{"tag[order_id]": "1234"})
    theirs = _capture(client, other_tenant, **{"tag[order_id]": "1234"})
    assert _listed(client, tenant, **{"filter[tag.order_id]": "1234"}) == ([mine["id"]], 1)
    assert _listed(client, other_tenant, **{"filter[tag.order_id]": "1234"}) == ([theirs["id"]], 1)
    response = client.get(f"{PAYLOADS}/{theirs['id']}/meta", headers=tenant.headers("reader"))
    assert response.status_code == 404


def test_deleting_a_record_deletes_its_tags(client: Client, tenant: TenantKeys, settings: Settings) -> None:
    record = _capture(client, tenant, **{"tag[order_id]": "1234"})
    kept = _capture(client, tenant, **{"tag[order_id]": "1234"})
    assert client.delete(f"{PAYLOADS}/{record['id']}", headers=tenant.headers("writer")).status_code == 204
    assert [row["payload_id"] for row in _tag_rows(settings.database_url)] == [kept["id"]]
    assert _listed(client, tenant, **{"filter[tag.order_id]": "1234"}) == ([kept["id"]], 1)


def test_record_retention_deletes_the_pruned_records_tags(
    client: Client, tenant: TenantKeys, settings: Settings
) -> None:
    old = _capture(client, tenant, **{"tag[order_id]": "1"})
    young = _capture(client, tenant, **{"tag[order_id]": "2"})
    backdate_payload(settings.database_url, old["id"], dt.datetime.now(dt.UTC) - dt.timedelta(days=10))
    assert _prune_records(settings, older_than_days=5) == 1
    assert [row["payload_id"] for row in _tag_rows(settings.database_url)] == [young["id"]]


# Rules ----------------------------------------------------------------------------------------------------------------


def test_rules_are_created_listed_and_deleted_by_admins(client: Client, tenant: TenantKeys) -> None:
    response = _rule(client, tenant, "order_id", "/order/id", "Application/JSON")
    assert response.status_code == 201, response.text
    created = response.json()["data"]
    assert set(created) == {"id", "name", "content_type", "pointer", "created_at"}
    assert (created["name"], created["content_type"], created["pointer"]) == (
        "order_id",
        "application/json",
        "/order/id",
    )
    listed = client.get(RULES_PATH, headers=tenant.headers("admin"))
    assert listed.status_code == 200
    assert listed.json() == {"data": [created]}
    for role in ("reader", "writer"):
        assert client.get(RULES_PATH, headers=tenant.headers(role)).status_code == 403
        body = {"name": "x", "content_type": "application/json", "pointer": "/x"}
        assert client.post(RULES_PATH, json=body, headers=tenant.headers(role)).status_code == 403
        assert client.delete(f"{RULES_PATH}/{created['id']}", headers=tenant.headers(role)).status_code == 403
    assert client.delete(f"{RULES_PATH}/{created['id']}", headers=tenant.headers("admin")).status_code == 204
    missing = client.delete(f"{RULES_PATH}/{created['id']}", headers=tenant.headers("admin"))
    assert laravel_error(missing, 404)["message"] == f"No query results for tag rule '{created['id']}'."
    assert client.get(RULES_PATH, headers=tenant.headers("admin")).json() == {"data": []}


def test_invalid_and_duplicate_rules_are_422_in_laravels_shape(client: Client, tenant: TenantKeys) -> None:
    body = laravel_error(_rule(client, tenant, "Order", "order/id", "json"), 422)
    assert body["errors"] == {
        "name": ["The name field must be 1 to 40 characters of a-z, 0-9 and _."],
        "content_type": ["The content type field must be a media type without parameters."],
        "pointer": [
            "The pointer field must be a JSON pointer (RFC 6901). A JSON pointer must be empty or start with /."
        ],
    }
    assert laravel_error(_rule(client, tenant, "a", "/x~2"), 422)["errors"] == {
        "pointer": [
            "The pointer field must be a JSON pointer (RFC 6901). In a JSON pointer, ~ must be followed by 0 or 1."
        ]
    }
    assert _rule(client, tenant, "a", "/x").status_code == 201
    assert laravel_error(_rule(client, tenant, "a", "/y"), 422)["errors"] == {
        "name": ["The name has already been taken."]
    }
    assert _rule(client, tenant, "a", "/y", "application/vnd.api+json").status_code == 201
    missing = client.post(RULES_PATH, json={"name": "b"}, headers=tenant.headers("admin"))
    assert laravel_error(missing, 422)["errors"].keys() == {"content_type"}


def test_rules_extract_tags_from_json_payloads_at_capture(client: Client, tenant: TenantKeys) -> None:
    for name, pointer in [
        ("order_id", "/order/id"),
        ("first_sku", "/order/lines/0/sku"),
        ("slashed", "/a~1b"),
        ("tilded", "/m~0n"),
        ("total", "/order/total"),
        ("paid", "/order/paid"),
        ("lines", "/order/lines"),
        ("nothing", "/order/none"),
        ("absent", "/order/lines/7/sku"),
        ("given", "/order/id"),
    ]:
        assert _rule(client, tenant, name, pointer).status_code == 201
    payload = (
        b'{"order": {"id": 1234, "total": 19.5, "paid": true, "none": null,'
        b' "lines": [{"sku": "A-1"}, {"sku": "B-2"}]}, "a/b": "slash", "m~n": "tilde"}'
    )
    record = _capture(client, tenant, payload, content_type="application/json; charset=utf-8", **{"tag[given]": "mine"})
    assert _tags(client, tenant, record["id"]) == {
        "order_id": "1234",
        "first_sku": "A-1",
        "slashed": "slash",
        "tilded": "tilde",
        "total": "19.5",
        "paid": "true",
        "given": "mine",  # the client's own tag wins over a rule's
        # "lines" (an array), "nothing" (null) and "absent" (no such member) give no tag
    }
    assert _listed(client, tenant, **{"filter[tag.order_id]": "1234"}) == ([record["id"]], 1)


def test_a_payload_rules_cannot_parse_is_captured_without_extracted_tags(
    settings: Settings, tenant: TenantKeys
) -> None:
    small = settings.model_copy(update={"tag_extract_max_bytes": 64})
    with TestClient(create_app(small)) as client:  # type: ignore[arg-type]
        assert _rule(client, tenant, "order_id", "/order/id").status_code == 201
        malformed = _capture(client, tenant, b'{"order": {"id": 12', **{"tag[kept]": "yes"})
        assert _tags(client, tenant, malformed["id"]) == {"kept": "yes"}
        large_body = b'{"order": {"id": 77}, "padding": "' + b"x" * 100 + b'"}'
        large = _capture(client, tenant, large_body)
        assert _tags(client, tenant, large["id"]) == {}
        assert client.get(f"{PAYLOADS}/{large['id']}/download", headers=tenant.headers()).content == large_body
        xml = _capture(client, tenant, b"<order><id>5</id></order>", content_type="application/xml")
        assert _tags(client, tenant, xml["id"]) == {}
        fits = _capture(client, tenant, b'{"order": {"id": "77"}}')
        assert _tags(client, tenant, fits["id"]) == {"order_id": "77"}


def test_rules_belong_to_their_tenant(client: Client, tenant: TenantKeys, other_tenant: TenantKeys) -> None:
    created = _rule(client, tenant, "order_id", "/order/id").json()["data"]
    assert client.get(RULES_PATH, headers=other_tenant.headers("admin")).json() == {"data": []}
    assert client.delete(f"{RULES_PATH}/{created['id']}", headers=other_tenant.headers("admin")).status_code == 404
    theirs = _capture(client, other_tenant, b'{"order": {"id": 1}}')
    assert _tags(client, other_tenant, theirs["id"]) == {}
    mine = _capture(client, tenant, b'{"order": {"id": 1}}')
    assert _tags(client, tenant, mine["id"]) == {"order_id": "1"}


# The pointer itself -------------------------------------------------------------------------------------------------


def test_json_pointer_follows_rfc_6901() -> None:
    # RFC 6901 section 5's document and pointers.
    document = {"foo": ["bar", "baz"], "": 0, "a/b": 1, "c%d": 2, "e^f": 3, "g|h": 4, "i\\j": 5, "k\"l": 6,
                " ": 7, "m~n": 8}  # fmt: skip
    cases = {"": document, "/foo": ["bar", "baz"], "/foo/0": "bar", "/": 0, "/a~1b": 1, "/c%d": 2, "/e^f": 3,
             "/g|h": 4, "/i\\j": 5, "/k\"l": 6, "/ ": 7, "/m~0n": 8}  # fmt: skip
    for pointer, value in cases.items():
        assert resolve(document, parse_pointer(pointer)) == value, pointer
    assert parse_pointer("/~01") == ("~1",)  # ~1 is decoded after ~0 would be wrong: "~01" is "~1", not "/"
    for missing in ("/foo/2", "/foo/01", "/foo/-", "/foo/bar", "/nope", "/foo/0/x"):
        assert tag_text(resolve(document, parse_pointer(missing))) is None, missing
    assert tag_text("x" * 201) is None
    assert tag_text(10**20) == "100000000000000000000"
    assert tag_text(False) == "false"


def test_extract_applies_only_rules_of_the_payloads_media_type() -> None:
    from metadock.payloads.tags import Rule

    rules = [Rule("a", "application/json", ("a",)), Rule("b", "application/vnd.x+json", ("a",))]
    assert extract(rules, "application/json", [b'{"a": ', b'"1"}']) == {"a": "1"}
    assert extract(rules, "Application/Vnd.X+Json; charset=utf-8", [b'{"a": 2}']) == {"b": "2"}
    assert extract(rules, "text/plain", [b'{"a": 2}']) == {}
    assert extract(rules, "application/json", [b"[1, 2"]) == {}


# The trace id -------------------------------------------------------------------------------------------------------

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


def test_a_traced_capture_stores_its_trace_id_as_a_tag_that_finds_it(settings: Settings, tenant: TenantKeys) -> None:
    provider = TracerProvider()
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with TestClient(create_app(settings, tracer=provider.get_tracer("test"))) as client:
        traceparent = {"traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01"}
        headers = {**tenant.headers("writer"), **traceparent}
        # The trace id wins over a client's own tag of that name: it is what a trace back end searches by.
        params = {"flow_run_id": 1, "flow_step_id": 1, "tag[trace_id]": "forged", "tag[order_id]": "9"}
        response = client.post(PAYLOADS, params=params, content=b"{}", headers=headers)
        assert response.status_code == 201, response.text
        record = response.json()["data"]
        untraced_request = _capture(client, tenant)  # a span of its own: another trace id
        assert _tags(client, tenant, record["id"]) == {"order_id": "9", "trace_id": TRACE_ID}
        assert _listed(client, tenant, **{"filter[tag.trace_id]": TRACE_ID}) == ([record["id"]], 1)
        # A caller's unsampled trace (flags 00) reaches no back end: nothing to find it by.
        unsampled = {**tenant.headers("writer"), "traceparent": f"00-{'1' * 32}-00f067aa0ba902b7-00"}
        response = client.post(PAYLOADS, params={"flow_run_id": 1, "flow_step_id": 1}, content=b"{}", headers=unsampled)
        assert _tags(client, tenant, response.json()["data"]["id"]) == {}
        other = _tags(client, tenant, untraced_request["id"])["trace_id"]
        assert len(other) == 32
        assert other != TRACE_ID
        server = next(span for span in exporter.get_finished_spans() if span.kind == SpanKind.SERVER)
        assert server.context is not None
        assert format(server.context.trace_id, "032x") == TRACE_ID


def test_without_tracing_a_capture_has_no_trace_id_tag(client: Client, tenant: TenantKeys) -> None:
    headers = {**tenant.headers("writer"), "traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01"}
    response = client.post(PAYLOADS, params={"flow_run_id": 1, "flow_step_id": 1}, content=b"{}", headers=headers)
    assert _tags(client, tenant, response.json()["data"]["id"]) == {}


# Deep pages ---------------------------------------------------------------------------------------------------------


def test_deep_pages_of_a_tag_filter_from_anchors_stay_exact_after_deletions(
    client: Client, tenant: TenantKeys, spaced_anchors: None
) -> None:
    records = []
    for n in range(60):
        tags = {"tag[color]": "red" if n % 3 else "blue"}
        records.append((_capture(client, tenant, flow_run_id=1 + n % 2, **tags)["id"], tags["tag[color]"], 1 + n % 2))

    def check(params: dict[str, str], wanted: set[str], run: int | None = None) -> None:
        expected = [rid for rid, color, flow_run in records if color in wanted and run in (None, flow_run)]
        for page in range(1, len(expected) // 4 + 2):
            got = _listed(client, tenant, **params, per_page="4", page=str(page))
            assert got == (expected[(page - 1) * 4 : page * 4], len(expected)), (params, page)

    red, either = {"filter[tag.color]": "red"}, {"filter[tag.color]": "red,blue"}
    check(red, {"red"})
    check(either, {"red", "blue"})
    check({**red, "filter[flow_run_id]": "2"}, {"red"}, run=2)
    assert ANCHORS.count() > 0  # the deep pages started from anchors
    for rid, _color, _run in records[5:40:6]:
        assert client.delete(f"{PAYLOADS}/{rid}", headers=tenant.headers("writer")).status_code == 204
    records = [record for record in records if record[0] not in {r[0] for r in records[5:40:6]}]
    records.append((_capture(client, tenant, **{"tag[color]": "red"})["id"], "red", 1))
    check(red, {"red"})
    check(either, {"red", "blue"})


def test_a_run_archives_manifest_shows_each_records_tags_as_meta_does(client: Client, tenant: TenantKeys) -> None:
    tagged = _capture(client, tenant, flow_run_id=77, **{"tag[order_id]": "1234"})
    plain = _capture(client, tenant, flow_run_id=77)
    response = client.get("/api/v1/flow-runs/77/payloads.zip", headers=tenant.headers("reader"))
    assert response.status_code == 200
    manifest = json.loads(zipfile.ZipFile(io.BytesIO(response.content)).read("manifest.json"))
    metas = {entry["record"]["id"]: entry["meta"] for entry in manifest["records"]}
    for record in (tagged, plain):
        meta = client.get(f"{PAYLOADS}/{record['id']}/meta", headers=tenant.headers("reader")).json()["data"]
        assert metas[record["id"]] == meta
    assert metas[tagged["id"]]["tags"] == {"order_id": "1234"}


def test_nul_in_a_tag_is_refused_in_laravels_shape(client: Client, tenant: TenantKeys) -> None:
    params = {"flow_run_id": 1, "flow_step_id": 1, "tag[order_id]": "a\x00b"}
    response = client.post(PAYLOADS, params=params, content=b"{}", headers=tenant.headers("writer"))
    assert laravel_error(response, 422)["errors"] == {
        "tag.order_id": ["The tag.order_id field must not contain NUL characters."]
    }
    response = client.get(PAYLOADS, params={"filter[tag.order_id]": "a\x00b"}, headers=tenant.headers("reader"))
    assert laravel_error(response, 400) == {
        "message": "Requested filter `tag.order_id` must not contain NUL characters."
    }


def test_a_tag_of_invalid_utf8_is_kept_as_decoded_or_refused_never_a_server_error(
    client: Client, tenant: TenantKeys
) -> None:
    response = client.post(
        f"{PAYLOADS}?flow_run_id=1&flow_step_id=1&tag%5Bx%5D=%FF%FE", content=b"{}", headers=tenant.headers("writer")
    )
    assert response.status_code in (201, 422), response.text
    listed = client.get(f"{PAYLOADS}?filter%5Btag.x%5D=%FF%FE", headers=tenant.headers("reader"))
    assert listed.status_code == 200
    assert listed.json()["meta"]["total"] == (1 if response.status_code == 201 else 0)
