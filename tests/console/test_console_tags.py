"""The console's part of issue 16 on SQLite and PostgreSQL: the tag search box (runs and overview pages) and its
export, tags on the payload page, a run's ZIP under the console session, and the admin page for tag rules."""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import TestClient

from metadock.console.once import new_token
from metadock.payloads.tags import RULES
from tests.console.conftest import login
from tests.console.helpers import People, create_people
from tests.factories import PAYLOADS, TenantKeys, metadata_body

Client = TestClient[object]
_PAYLOAD_LINK = re.compile(r'href="/console/payloads/(\d+)"')


@pytest.fixture(autouse=True)
def _no_cached_rules() -> Iterator[None]:
    RULES.clear()  # tenant ids repeat across the tests' databases: no rule cached by one may apply in the next
    yield
    RULES.clear()


@pytest.fixture
def people(database_url: str, tenant: TenantKeys) -> People:
    return create_people(database_url, tenant.uuid)


def _capture(client: Client, tenant: TenantKeys, run: int, step: int = 1, body: bytes = b"{}", **tags: str) -> int:
    params: dict[str, Any] = {"flow_run_id": run, "flow_step_id": step, **{f"tag[{k}]": v for k, v in tags.items()}}
    headers = {**tenant.headers("writer"), "Content-Type": "application/json"}
    response = client.post(PAYLOADS, params=params, content=body, headers=headers)
    assert response.status_code == 201, response.text
    record_id: int = response.json()["data"]["id"]
    return record_id


def _found(client: Client, q: str) -> list[int]:
    response = client.get("/console/search", params={"q": q})
    assert response.status_code == 200, response.text
    return sorted(int(found) for found in _PAYLOAD_LINK.findall(response.text))


def test_the_tag_search_lists_the_tenants_matching_payloads(
    client: Client, tenant: TenantKeys, other_tenant: TenantKeys, people: People
) -> None:
    first = _capture(client, tenant, run=7, order_id="1234")
    second = _capture(client, tenant, run=8, step=2, order_id="1234", region="eu")
    other = _capture(client, tenant, run=8, order_id="999")
    _capture(client, tenant, run=9, customer="1234")  # the same value under another name
    _capture(client, other_tenant, run=7, order_id="1234")  # another tenant's
    login(client, people.reader)

    assert _found(client, "order_id=1234") == [first, second]
    assert _found(client, "  Order_ID = 1234 ") == [first, second]  # names are lower case; spaces around are typos
    assert _found(client, "order_id=1234,999") == [first, second, other]
    assert _found(client, "order_id=12") == []  # exact, as the API's filter
    page = client.get("/console/search", params={"q": "order_id=1234"}).text
    assert 'href="/console/runs/8"' in page
    assert "(2)" in page
    assert "No payload of this tenant has the tag" in client.get("/console/search?q=order_id%3D5").text


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("order_id", "name=value"),
        ("=1234", "a-z, 0-9 and _"),
        ("order-id=1", "a-z, 0-9 and _"),
        ("order_id=", "Give the value"),
        ("order_id=1,,2", "Give the value"),
        ("order_id=" + "x" * 201, "at most 200 characters"),
        ("order_id=a\x00b", "NUL"),
        ("order_id=" + "1," * 600 + "1", "at most 500 values"),
    ],
)
def test_a_bad_search_is_a_readable_400_on_the_page(client: Client, people: People, typed: str, message: str) -> None:
    login(client, people.reader)
    response = client.get("/console/search", params={"q": typed})
    assert response.status_code == 400
    assert 'role="alert"' in response.text
    assert message in response.text
    assert 'action="/console/search"' in response.text  # the box is there to correct what was typed
    assert client.get("/console/search", params={"q": "a=1", "page": "x"}).status_code == 400


def test_the_runs_and_overview_pages_have_the_search_box_with_its_syntax(client: Client, people: People) -> None:
    login(client, people.reader)
    for path in ("/console", "/console/runs"):
        page = client.get(path).text
        assert 'action="/console/search"' in page
        assert '<label for="tag-q">Find payloads by tag</label>' in page
        assert "<code>name=value</code>, e.g. <code>order_id=1234</code>" in page
    assert client.get("/console/search").status_code == 200  # an empty box: the page with the syntax, no error


def test_the_search_exports_its_records_as_csv_and_ndjson(client: Client, tenant: TenantKeys, people: People) -> None:
    ids = [_capture(client, tenant, run=3, order_id="77") for _ in range(3)]
    _capture(client, tenant, run=3, order_id="78")
    login(client, people.reader)
    page = client.get("/console/search", params={"q": "order_id=77"}).text
    assert 'href="/console/search/export?q=order_id%3D77&amp;format=csv"' in page

    response = client.get("/console/search/export", params={"q": "order_id=77", "format": "csv"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert sorted(int(row["id"]) for row in rows) == ids
    ndjson = client.get("/console/search/export", params={"q": "order_id=77", "format": "ndjson"})
    assert sorted(json.loads(line)["id"] for line in ndjson.text.splitlines()) == ids
    assert client.get("/console/search/export", params={"q": "order_id=77", "format": "xls"}).status_code == 400
    assert client.get("/console/search/export", params={"q": "order_id"}).status_code == 400


def test_the_metadata_list_exports_every_record_its_filters_select(
    client: Client, tenant: TenantKeys, people: People
) -> None:
    for number in range(25):  # more than a page of the list (20)
        body = metadata_body(slug=f"s-{number}", type="wanted" if number % 5 else "other")
        assert client.post("/metadatas", json=body, headers=tenant.headers("writer")).status_code == 201
    login(client, people.reader)
    page = client.get("/console/metadatas", params={"type": "wanted"}).text
    assert 'href="/console/metadatas/export?type=wanted&amp;owner=&amp;slug=&amp;title=&amp;format=csv"' in page

    exported = client.get("/console/metadatas/export", params={"type": "wanted", "format": "csv"})
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert sorted(row["slug"] for row in rows) == sorted(f"s-{n}" for n in range(25) if n % 5)
    ndjson = client.get("/console/metadatas/export", params={"title": "OAuth"}).text.splitlines()
    assert len(ndjson) == 25
    assert json.loads(ndjson[0])["title"] == {"en": "OAuth Providers"}
    assert client.get("/console/metadatas/export", params={"format": "pdf"}).status_code == 400


def test_the_payload_page_shows_its_tags_linking_to_the_search(
    client: Client, tenant: TenantKeys, people: People
) -> None:
    tagged = _capture(client, tenant, run=1, order_id="1234", region="<eu>")
    untagged = _capture(client, tenant, run=1)
    login(client, people.reader)
    page = client.get(f"/console/payloads/{tagged}").text
    assert '<a href="/console/search?q=order_id%3D1234"' in page
    assert "<code>order_id=1234</code>" in page
    assert "<code>region=&lt;eu&gt;</code>" in page  # escaped like every other value of the client's
    assert "<dt>Tags</dt><dd>none</dd>" in client.get(f"/console/payloads/{untagged}").text


def test_the_run_page_downloads_the_runs_zip_with_the_console_session(
    client: Client, tenant: TenantKeys, other_tenant: TenantKeys, people: People
) -> None:
    first = _capture(client, tenant, run=5, step=1, body=b'{"a": 1}', order_id="1")
    second = _capture(client, tenant, run=5, step=2, body=b'{"b": 2}')
    _capture(client, other_tenant, run=6)
    login(client, people.reader)
    assert 'href="/console/runs/5/payloads.zip"' in client.get("/console/runs/5").text

    response = client.get("/console/runs/5/payloads.zip")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/zip"
    assert response.headers["content-disposition"] == 'attachment; filename="flow-run-5-payloads.zip"'
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert archive.read(f"step-1/payload-{first}.json") == b'{"a": 1}'
    assert archive.read(f"step-2/payload-{second}.json") == b'{"b": 2}'
    manifest = json.loads(archive.read("manifest.json"))
    assert [entry["meta"]["tags"] for entry in manifest["records"]] == [{"order_id": "1"}, {}]
    # The API's archive is the same one.
    api = client.get("/api/v1/flow-runs/5/payloads.zip", headers=tenant.headers("reader"))
    assert zipfile.ZipFile(io.BytesIO(api.content)).namelist() == archive.namelist()

    missing = client.get("/console/runs/6/payloads.zip")  # another tenant's run is no run of this one
    assert missing.status_code == 404
    assert "No payloads for flow run" in missing.text
    client.cookies.clear()
    anonymous = client.get("/console/runs/5/payloads.zip", headers=tenant.headers("admin"), follow_redirects=False)
    assert anonymous.status_code == 303  # to the login form: the console never takes an API key
    assert anonymous.headers["location"].startswith("/console/login")


def _once(page: str) -> str:
    match = re.search(r'name="once" value="([^"]+)"', page)
    assert match, "the page has no single-use form"
    return match.group(1)


def test_admins_add_and_delete_tag_rules_that_captures_then_follow(
    client: Client, tenant: TenantKeys, people: People
) -> None:
    token = login(client, people.admin)
    page = client.get("/console/admin/tag-rules")
    assert page.status_code == 200
    assert "No tag rules yet" in page.text
    assert '<label for="r-pointer">JSON pointer</label>' in page.text
    form = {"csrf_token": token, "once": _once(page.text), "name": "order_id", "content_type": "application/json"}
    created = client.post("/console/admin/tag-rules", data={**form, "pointer": "/order/id"}, follow_redirects=False)
    assert created.status_code == 303
    assert created.headers["location"] == "/console/admin/tag-rules"
    again = client.post("/console/admin/tag-rules", data={**form, "pointer": "/order/id"}, follow_redirects=False)
    assert again.headers["location"] == "/console/admin/tag-rules?resent=1"  # a reload creates nothing
    rules = client.get("/api/v1/tag-rules", headers=tenant.headers("admin")).json()["data"]
    assert [(rule["name"], rule["pointer"]) for rule in rules] == [("order_id", "/order/id")]

    record = _capture(client, tenant, run=2, body=b'{"order": {"id": 42}}')
    assert _found(client, "order_id=42") == [record]

    refused = client.post(
        "/console/admin/tag-rules",
        data={**form, "once": new_token(), "name": "sku", "pointer": "items/0/sku"},
    )
    assert refused.status_code == 422
    assert "must be a JSON pointer" in refused.text
    assert 'value="items/0/sku"' in refused.text

    rule_id = rules[0]["id"]
    deleted = client.post(f"/console/admin/tag-rules/{rule_id}/delete", data={"csrf_token": token})
    assert deleted.status_code == 200
    assert "No tag rules yet" in deleted.text
    assert client.get("/api/v1/tag-rules", headers=tenant.headers("admin")).json()["data"] == []
    assert _found(client, "order_id=42") == [record]  # extracted tags stay
    gone = client.post(f"/console/admin/tag-rules/{rule_id}/delete", data={"csrf_token": token})
    assert gone.status_code == 404


def test_tag_rules_are_for_admins_and_need_the_forms_tokens(client: Client, tenant: TenantKeys, people: People) -> None:
    rule = {"name": "order_id", "content_type": "application/json", "pointer": "/order/id"}
    created = client.post("/api/v1/tag-rules", json=rule, headers=tenant.headers("admin"))
    rule_id = created.json()["data"]["id"]
    token = login(client, people.admin)
    forged = client.post(f"/console/admin/tag-rules/{rule_id}/delete", data={"csrf_token": "0" * 64})
    assert forged.status_code == 403
    stale = client.post("/console/admin/tag-rules", data={"csrf_token": token, **rule, "name": "sku"})
    assert stale.status_code == 400  # no single-use token: an old page's form
    client.post("/console/logout", data={"csrf_token": token})
    for person in (people.writer, people.reader):
        client.cookies.clear()
        token = login(client, person)
        assert client.get("/console/admin/tag-rules").status_code == 403
        assert 'href="/console/admin/tag-rules"' not in client.get("/console").text
        refused = client.post(f"/console/admin/tag-rules/{rule_id}/delete", data={"csrf_token": token})
        assert refused.status_code == 403
    assert len(client.get("/api/v1/tag-rules", headers=tenant.headers("admin")).json()["data"]) == 1
