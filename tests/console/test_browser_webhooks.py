"""The webhooks pages in Chromium against `metadock serve` (its own dispatcher delivering to a receiver on loopback):
an admin subscribes, copies the secret shown once, sees the delivery's outcome in the history, deletes; both pages at
1366 and 390 px with axe-core.

Uses the browser and helpers of test_browser.py, with a server of its own that may reach loopback.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from metadock.webhooks import signing
from tests.console.test_browser import (
    CHROMIUM,
    IN_CI,
    Browser,
    BrowserContext,
    Site,
    browser,
    context,
    expect,
    log_in,
    shot,
)
from tests.live import printed_api_key, start_server
from tests.webhook_receiver import Receiver, running_receiver

__all__ = ["browser", "context"]  # fixtures, imported for pytest

SIZES = {"wide": {"width": 1366, "height": 900}, "narrow": {"width": 390, "height": 844}}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    if not Path(CHROMIUM).exists():
        message = f"{CHROMIUM} is required for the browser tests (apt-get install chromium)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    root = tmp_path_factory.mktemp("console-webhooks")
    env = {
        "METADOCK_DATABASE_URL": f"sqlite:///{root / 'metadock.db'}",
        "METADOCK_STORE_URL": f"file://{root / 'payloads'}",
        "METADOCK_DATA_DIR": str(root),
        "METADOCK_ENV": "development",
        "METADOCK_WEBHOOKS_ALLOW_PRIVATE": "1",  # the receiver is on loopback
    }
    server = start_server(env, timeout=60.0)
    try:
        passwords = [line.split("Password: ", 1)[1].strip() for line in server.output if "Password: " in line]
        api_key = printed_api_key(server.output)
        assert passwords, server.output
        assert api_key, server.output
        yield Site(server, passwords[0], api_key)
    finally:
        server.stop()


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


def test_an_admin_subscribes_and_reads_the_delivery_history(
    context: BrowserContext, site: Site, receiver: Receiver
) -> None:
    page = context.new_page()
    log_in(page, "admin@localhost", site.admin_password)
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
    from axe_playwright_python.sync_playwright import Axe

    long_url = receiver.url + "&tenant=" + "x" * 300  # wraps, never widens the page
    created = site.api.post("/api/v1/webhooks", json={"url": long_url, "events": ["payload.captured"]})
    assert created.status_code == 201, created.text
    webhook_id = created.json()["data"]["id"]
    receiver.statuses = [503]  # a pending delivery: every column of the history filled
    before = len(receiver.received)
    site.capture(b"{}", "application/json", run=1702, step=1)
    receiver.wait_for(before + 1)
    pages = {"webhooks": "/console/admin/webhooks", "webhook": f"/console/admin/webhooks/{webhook_id}"}
    context = browser.new_context(base_url=site.url, viewport=SIZES[size])  # type: ignore[arg-type]
    try:
        page = context.new_page()
        log_in(page, "admin@localhost", site.admin_password)
        axe = Axe()
        for name, path in pages.items():
            page.goto(path)
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= SIZES[size]["width"], f"{path} scrolls sideways at {size} ({width}px)"
            results = axe.run(page)
            serious = [
                f"{violation['id']}: {violation['help']}"
                for violation in results.response["violations"]
                if violation.get("impact") in ("serious", "critical")
            ]
            assert serious == [], f"{path} ({size}): {serious}"
            shot(page, f"{name}-{size}")
    finally:
        context.close()
        assert site.api.delete(f"/api/v1/webhooks/{webhook_id}").status_code == 204
