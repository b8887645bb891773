"""The console's webhooks pages (issue 16 item 6) on SQLite and PostgreSQL: an admin subscribes a URL (the signing
secret shown once), reads each webhook's delivery history after real deliveries to a receiver on loopback, pages
through it, deletes; other roles and other tenants get nothing."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from metadock.console.once import new_token
from metadock.settings import Settings
from metadock.webhooks import signing
from tests.console.conftest import login
from tests.console.helpers import People, create_people
from tests.factories import TenantKeys, capture_payload, metadata_body
from tests.test_webhooks import dispatch
from tests.webhook_receiver import Receiver, hooks, loopback_settings, receiver, running_receiver

__all__ = ["hooks", "receiver"]  # fixtures, imported for pytest

Client = TestClient[Any]
PAGE = "/console/admin/webhooks"
HOOKS = "/api/v1/webhooks"
_SECRET = re.compile(r"whsec_[A-Za-z0-9+/=]+")
_ROW = re.compile(r"<tr>\s*<th scope=\"row\">(\d+)</th>(.*?)</tr>", re.S)
_CELL = re.compile(r"<td[^>]*>(.*?)</td>", re.S)
COUNTS = r'<td data-label="Pending">{pending}</td>\s*<td data-label="Failed">{failed}</td>'
_COLUMNS = ("event", "status", "attempts", "answer", "occurred", "last_attempt", "next_attempt", "delivered")


@pytest.fixture
def hook_settings(database_url: str, tmp_path: Path) -> Settings:
    return loopback_settings(database_url, tmp_path)


@pytest.fixture
def people(database_url: str, tenant: TenantKeys) -> People:
    return create_people(database_url, tenant.uuid)


def _once(page: str) -> str:
    match = re.search(r'name="once" value="([^"]+)"', page)
    assert match, "the page has no single-use form"
    return match.group(1)


def _subscribe(client: Client, token: str, url: str, events: list[str]) -> tuple[Any, dict[str, Any]]:
    """Create through the console's form; the response and the form sent (to send it again)."""
    form = {"csrf_token": token, "once": _once(client.get(PAGE).text), "url": url, "events": events}
    return client.post(PAGE, data=form), form


def _api_hooks(client: Client, tenant: TenantKeys) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = client.get(HOOKS, headers=tenant.headers("admin")).json()["data"]
    return listed


def _history(client: Client, webhook_id: str, query: str = "") -> list[tuple[int, dict[str, str]]]:
    """(delivery id, its cells' text by column) of the history page, as shown."""
    response = client.get(f"{PAGE}/{webhook_id}{query}")
    assert response.status_code == 200, response.text
    rows = []
    for number, row in _ROW.findall(response.text):
        cells = [re.sub(r"<[^>]+>", "", cell).strip() for cell in _CELL.findall(row)]
        rows.append((int(number), dict(zip(_COLUMNS, cells, strict=True))))
    return rows


def test_an_admin_creates_a_webhook_whose_secret_is_shown_once_and_signs_its_deliveries(
    hooks: Client, hook_settings: Settings, tenant: TenantKeys, people: People, receiver: Receiver
) -> None:
    token = login(hooks, people.admin)
    page = hooks.get(PAGE)
    assert page.status_code == 200
    assert "No webhooks yet" in page.text
    assert 'href="/console/admin/webhooks" aria-current="page"' in page.text  # in the admin navigation

    created, form = _subscribe(hooks, token, receiver.url, ["metadata.created", "payload.captured"])
    assert created.status_code == 201
    assert "shown only this once" in created.text
    [secret] = set(_SECRET.findall(created.text))
    [webhook] = _api_hooks(hooks, tenant)
    assert (webhook["url"], webhook["events"]) == (receiver.url, ["payload.captured", "metadata.created"])
    assert f'href="{PAGE}/{webhook["id"]}"' in created.text

    again = hooks.post(PAGE, data=form, follow_redirects=False)  # the browser's reload of the result page
    assert (again.status_code, again.headers["location"]) == (303, f"{PAGE}?resent=1")
    resent = hooks.get(again.headers["location"]).text
    assert "nothing was created again" in resent
    listed = hooks.get(PAGE).text
    for later in (resent, listed, hooks.get(f"{PAGE}/{webhook['id']}").text):
        assert "whsec_" not in later
    assert receiver.url.replace("&", "&amp;") in listed
    assert len(_api_hooks(hooks, tenant)) == 1

    # The secret shown is the one deliveries are signed with.
    assert hooks.post("/metadatas", json=metadata_body(), headers=tenant.headers("writer")).status_code == 201
    assert dispatch(hook_settings) == 1
    [received] = receiver.wait_for(1)
    assert signing.verify(secret, received.headers, received.body)


def test_the_history_shows_each_deliverys_real_outcome_newest_first(
    hooks: Client, hook_settings: Settings, tenant: TenantKeys, people: People, receiver: Receiver
) -> None:
    token = login(hooks, people.admin)
    assert _subscribe(hooks, token, receiver.url, ["payload.captured", "metadata.created"])[0].status_code == 201
    [webhook] = _api_hooks(hooks, tenant)
    assert _history(hooks, webhook["id"]) == []
    assert "No deliveries yet" in hooks.get(f"{PAGE}/{webhook['id']}").text

    receiver.statuses = [503]
    record = capture_payload(hooks, tenant.headers("writer"))
    assert dispatch(hook_settings) == 1
    [(first_id, first)] = _history(hooks, webhook["id"])
    assert first["event"] == f"payload.captured (#{record['id']})"
    assert (first["status"], first["attempts"], first["answer"]) == ("pending", "1", "HTTP 503")
    assert first["occurred"].endswith(" UTC")
    assert first["last_attempt"].endswith(" UTC")
    assert first["next_attempt"].endswith(" UTC")  # when it is tried again
    assert first["delivered"] == "—"
    page = hooks.get(PAGE).text
    assert re.search(COUNTS.format(pending=1, failed=0), page), "the list counts one pending delivery, none failed"

    time.sleep(0.2)  # past the test's backoff: the receiver answers 200 now
    assert hooks.post("/metadatas", json=metadata_body(), headers=tenant.headers("writer")).status_code == 201
    assert dispatch(hook_settings) == 2
    (newest_id, newest), (retried_id, retried) = _history(hooks, webhook["id"])
    assert newest_id > retried_id == first_id
    assert (newest["event"], newest["status"], newest["attempts"], newest["answer"]) == (
        "metadata.created",
        "delivered",
        "1",
        "HTTP 200",
    )
    assert (retried["status"], retried["attempts"], retried["answer"]) == ("delivered", "2", "HTTP 200")
    assert retried["next_attempt"] == "—"
    assert retried["delivered"].endswith(" UTC")
    assert re.search(COUNTS.format(pending=0, failed=0), hooks.get(PAGE).text)

    # A receiver that is gone: past the retry window its delivery is failed, with the connection's error.
    with running_receiver() as gone:
        gone_url = gone.url
    assert _subscribe(hooks, token, gone_url, ["payload.captured"])[0].status_code == 201
    [failing] = [item for item in _api_hooks(hooks, tenant) if item["url"] == gone_url]
    capture_payload(hooks, tenant.headers("writer"))
    assert dispatch(hook_settings, retry_for=0.0) == 2  # and the first webhook's, delivered
    [(_, failed)] = _history(hooks, failing["id"])
    assert (failed["status"], failed["attempts"], failed["next_attempt"]) == ("failed", "1", "—")
    assert "Connect" in failed["answer"]
    assert 'class="badge bad">1</span>' in hooks.get(PAGE).text


def test_the_history_pages_through_older_deliveries(
    hooks: Client, hook_settings: Settings, tenant: TenantKeys, people: People, receiver: Receiver
) -> None:
    token = login(hooks, people.admin)
    assert _subscribe(hooks, token, receiver.url, ["payload.captured"])[0].status_code == 201
    [webhook] = _api_hooks(hooks, tenant)
    records = [capture_payload(hooks, tenant.headers("writer"))["id"] for _ in range(53)]
    first = _history(hooks, webhook["id"])
    assert len(first) == 50
    page = hooks.get(f"{PAGE}/{webhook['id']}").text
    older = f"?before={first[-1][0]}"
    assert f'href="{PAGE}/{webhook["id"]}{older}" rel="next">Older' in page
    assert "← Newest" not in page
    second = _history(hooks, webhook["id"], older)
    assert len(second) == 3
    shown = [number for number, _ in first + second]
    assert shown == sorted(shown, reverse=True)
    assert len(set(shown)) == 53
    assert [row["event"] for _, row in first + second] == [f"payload.captured (#{record})" for record in records[::-1]]
    last = hooks.get(f"{PAGE}/{webhook['id']}{older}").text
    assert "Older" not in last
    assert "← Newest" in last
    assert "No older deliveries" in hooks.get(f"{PAGE}/{webhook['id']}?before=1").text
    assert hooks.get(f"{PAGE}/{webhook['id']}?before=x").status_code == 400


def test_an_admin_deletes_a_webhook_with_the_forms_token(
    hooks: Client, tenant: TenantKeys, people: People, receiver: Receiver
) -> None:
    token = login(hooks, people.admin)
    assert _subscribe(hooks, token, receiver.url, ["payload.captured"])[0].status_code == 201
    [webhook] = _api_hooks(hooks, tenant)
    delete = f"{PAGE}/{webhook['id']}/delete"
    assert f'action="{delete}"' in hooks.get(PAGE).text
    assert f'action="{delete}"' in hooks.get(f"{PAGE}/{webhook['id']}").text

    assert hooks.post(delete, data={"csrf_token": "0" * 64}).status_code == 403  # forged: nothing deleted
    assert len(_api_hooks(hooks, tenant)) == 1
    deleted = hooks.post(delete, data={"csrf_token": token}, follow_redirects=False)
    assert (deleted.status_code, deleted.headers["location"]) == (303, PAGE)
    assert "No webhooks yet" in hooks.get(PAGE).text
    assert _api_hooks(hooks, tenant) == []
    assert hooks.post(delete, data={"csrf_token": token}).status_code == 404
    gone = hooks.get(f"{PAGE}/{webhook['id']}")
    assert gone.status_code == 404
    assert "No such webhook" in gone.text


@pytest.mark.parametrize(
    ("url", "events", "message"),
    [
        ("http://127.0.0.1:9/hooks", ["payload.captured"], "must not resolve to a loopback, private"),
        ("http://169.254.169.254/latest/meta-data/", ["payload.captured"], "must not resolve to a loopback, private"),
        ("ftp://example.com/x", ["payload.captured"], "must be an http or https URL"),
        ("https://93.184.215.14/" + "a" * 2100, ["payload.captured"], "at most 2048 characters"),  # never cut short
        ("https://93.184.215.14/in", [], "The events field must have at least 1 item."),  # a public address
        ("https://93.184.215.14/in", ["payload.exploded"], "The selected events.0 is invalid."),
    ],
)
def test_a_refused_url_or_events_are_shown_on_the_form(
    client: Client, tenant: TenantKeys, people: People, url: str, events: list[str], message: str
) -> None:
    """On the default settings: private targets are refused (SSRF), as the API refuses them."""
    token = login(client, people.admin)
    refused, _ = _subscribe(client, token, url, events)
    assert refused.status_code == 422
    assert 'role="alert"' in refused.text
    assert message in refused.text
    assert f'value="{url}"' in refused.text  # what was typed, to correct
    for event in events:
        if event == "payload.captured":
            assert 'value="payload.captured" checked' in refused.text
    assert "whsec_" not in refused.text
    assert _api_hooks(client, tenant) == []


def test_webhooks_pages_are_for_admins_only(
    hooks: Client, tenant: TenantKeys, people: People, receiver: Receiver
) -> None:
    webhook = hooks.post(
        HOOKS, json={"url": receiver.url, "events": ["payload.captured"]}, headers=tenant.headers("admin")
    ).json()["data"]
    for person in (people.writer, people.reader):
        hooks.cookies.clear()
        token = login(hooks, person)
        assert 'href="/console/admin/webhooks"' not in hooks.get("/console").text
        assert hooks.get(PAGE).status_code == 403
        assert hooks.get(f"{PAGE}/{webhook['id']}").status_code == 403
        form = {"csrf_token": token, "once": new_token(), "url": receiver.url, "events": ["payload.captured"]}
        assert hooks.post(PAGE, data=form).status_code == 403
        assert hooks.post(f"{PAGE}/{webhook['id']}/delete", data={"csrf_token": token}).status_code == 403
    assert [item["id"] for item in _api_hooks(hooks, tenant)] == [webhook["id"]]
    hooks.cookies.clear()
    login(hooks, people.admin)
    assert 'href="/console/admin/webhooks"' in hooks.get("/console").text
    hooks.cookies.clear()
    anonymous = hooks.get(PAGE, follow_redirects=False)
    assert anonymous.status_code == 303
    assert anonymous.headers["location"] == f"/console/login?next={PAGE}"


def test_another_tenants_webhook_is_not_found(
    hooks: Client, tenant: TenantKeys, other_tenant: TenantKeys, people: People, receiver: Receiver
) -> None:
    theirs = hooks.post(
        HOOKS, json={"url": receiver.url, "events": ["payload.captured"]}, headers=other_tenant.headers("admin")
    ).json()["data"]
    capture_payload(hooks, other_tenant.headers("writer"))
    token = login(hooks, people.admin)
    assert "No webhooks yet" in hooks.get(PAGE).text
    for path in (f"{PAGE}/{theirs['id']}", f"{PAGE}/{theirs['id']}?before=999", f"{PAGE}/not-an-id"):
        response = hooks.get(path)
        assert response.status_code == 404, path
        assert "No such webhook" in response.text
    assert hooks.post(f"{PAGE}/{theirs['id']}/delete", data={"csrf_token": token}).status_code == 404
    assert [item["id"] for item in _api_hooks(hooks, other_tenant)] == [theirs["id"]]
