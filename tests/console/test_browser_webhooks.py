"""The webhooks pages in Chromium against `metadock serve` (its own dispatcher delivering to a receiver on loopback):
an admin subscribes, copies the secret shown once, sees the delivery's outcome in the history, deletes; both pages at
1366 and 390 px with axe-core.

Uses the browser and helpers of chromium.py, with a server of its own that may reach loopback.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from metadock.webhooks import signing
from tests.console.chromium import (
    SIZES,
    Browser,
    BrowserContext,
    Site,
    admin_in_new_context,
    admin_page,
    assert_pages_fit_and_pass_axe,
    browser,
    context,
    expect,
    serve_site,
    shot,
)
from tests.webhook_receiver import Receiver, running_receiver

__all__ = ["browser", "context"]  # fixtures, imported for pytest


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    loopback = {"METADOCK_WEBHOOKS_ALLOW_PRIVATE": "1"}  # the receiver is on loopback
    with serve_site(tmp_path_factory, "console-webhooks", loopback, timeout=60.0) as served:
        yield served


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


def test_an_admin_subscribes_and_reads_the_delivery_history(
    context: BrowserContext, site: Site, receiver: Receiver
) -> None:
    page = admin_page(context, site)
    page.get_by_role("link", name="Webhooks").click()
    expect(page.get_by_role("heading", name="Webhooks", level=1)).to_be_visible()
    page.get_by_label("URL").fill(receiver.url)
    for event in ("payload.dropped", "metadata.created", "metadata.updated", "metadata.deleted"):
        page.get_by_label(event).uncheck()  # payload.captured only
    page.get_by_role("button", name="Add webhook").click()
    secret = page.locator("#new-secret-value").inner_text()
    assert secret.startswith("whsec_")
    shot(page, "webhooks-created-wide")

    site.capture(b'{"order": 1}', "application/json", run=1701, step=1)
    [received] = receiver.wait_for(1)  # the server's own dispatcher
    assert signing.verify(secret, received.headers, received.body)
    page.goto("/console/admin/webhooks")
    expect(page.locator("#new-secret-value")).to_have_count(0)
    page.get_by_role("link", name=receiver.url).click()
    row = page.locator("table tbody tr").first
    expect(row).to_contain_text("payload.captured")
    expect(row).to_contain_text("delivered")
    expect(row).to_contain_text("HTTP 200")

    page.get_by_role("button", name="Delete this webhook").click()
    expect(page.get_by_text("No webhooks yet")).to_be_visible()


@pytest.mark.parametrize("size", list(SIZES))
def test_the_webhooks_pages_fit_and_pass_axe(browser: Browser, site: Site, receiver: Receiver, size: str) -> None:
    long_url = receiver.url + "&tenant=" + "x" * 300  # wraps, never widens the page
    created = site.api.post("/api/v1/webhooks", json={"url": long_url, "events": ["payload.captured"]})
    assert created.status_code == 201, created.text
    webhook_id = created.json()["data"]["id"]
    receiver.statuses = [503]  # a pending delivery: every column of the history filled
    before = len(receiver.received)
    site.capture(b"{}", "application/json", run=1702, step=1)
    receiver.wait_for(before + 1)
    pages = {"webhooks": "/console/admin/webhooks", "webhook": f"/console/admin/webhooks/{webhook_id}"}
    try:
        with admin_in_new_context(browser, site, viewport=SIZES[size]) as page:
            assert_pages_fit_and_pass_axe(page, pages, size)
    finally:
        assert site.api.delete(f"/api/v1/webhooks/{webhook_id}").status_code == 204
