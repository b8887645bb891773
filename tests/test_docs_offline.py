"""``/docs`` and ``/docs/swagger`` work with no network but the server's: Debian's chromium, every request to any
other host aborted and recorded, against ``metadock serve``.

Scalar shows the operations; Swagger UI shows them, is authorized with an API key, and its "Try it out" on the
payload list gets a 200 from the server.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import playwright.sync_api as playwright_sync  # a pinned dev dependency: missing, the tests fail, never skip
import pytest

from tests.live import LiveServer, printed_api_key, start_server

expect = playwright_sync.expect

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking"]
LOOPBACK = {"127.0.0.1", "localhost", "[::1]", "::1"}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, str]]:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is required (apt-get install chromium)")
        pytest.skip(f"{CHROMIUM} is required (apt-get install chromium)")
    root = tmp_path_factory.mktemp("docs-offline")
    server = start_server(
        {
            "METADOCK_DATABASE_URL": f"sqlite:///{root / 'metadock.db'}",
            "METADOCK_STORE_URL": f"file://{root / 'payloads'}",
            "METADOCK_DATA_DIR": str(root),
        }
    )
    key = printed_api_key(server.output)
    assert key is not None
    httpx.post(
        f"{server.base_url}/api/v1/payload-metadata",
        params={"flow_run_id": 7, "flow_step_id": 1},
        content=b'{"order": 1}',
        headers={"Authorization": key, "Content-Type": "application/json"},
    ).raise_for_status()
    yield server, key
    server.stop()


@pytest.fixture
def page(served: tuple[LiveServer, str]) -> Iterator[tuple[object, list[str]]]:
    server, _key = served
    outside: list[str] = []

    def route(route: object) -> None:
        request = route.request  # type: ignore[attr-defined]
        host = urlsplit(request.url).hostname or ""
        if request.url.startswith(("data:", "blob:")) or host in LOOPBACK:
            route.continue_()  # type: ignore[attr-defined]
        else:
            outside.append(request.url)
            route.abort()  # type: ignore[attr-defined]

    with playwright_sync.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(base_url=server.base_url, viewport={"width": 1280, "height": 900})
        context.set_default_timeout(15_000)
        context.route("**/*", route)
        yield context.new_page(), outside
        context.close()
        browser.close()


def test_the_docs_pages_are_served_whole_by_metadock_with_a_strict_policy(served: tuple[LiveServer, str]) -> None:
    server, _key = served
    for path in ("/docs", "/docs/swagger"):
        response = httpx.get(server.base_url + path)
        assert response.status_code == 200
        policy = response.headers["content-security-policy"]
        assert "script-src 'self';" in policy
        assert "connect-src 'self'" in policy
        assert "http" not in response.text.replace(server.base_url, "")  # no absolute URL of another host
        for source in re.findall(r"(?:src|href)='([^']+)'", response.text):
            assert httpx.get(server.base_url + source).status_code == 200, source


def test_scalar_shows_the_operations_offline(page: tuple[object, list[str]]) -> None:
    browser_page, outside = page
    browser_page.goto("/docs")  # type: ignore[attr-defined]
    # The operations' groups (tags) in the sidebar, and an operation of the first, open group.
    expect(browser_page.get_by_text("Payload Metadata").first).to_be_visible()  # type: ignore[attr-defined]
    expect(browser_page.get_by_text("Metadata (DigitalState)").first).to_be_visible()  # type: ignore[attr-defined]
    expect(browser_page.get_by_text("The process is up").first).to_be_visible()  # type: ignore[attr-defined]
    assert outside == []


def test_swagger_ui_authorizes_with_an_api_key_and_tries_the_payload_list(
    page: tuple[object, list[str]], served: tuple[LiveServer, str]
) -> None:
    browser_page, outside = page
    _server, key = served
    p = browser_page
    p.goto("/docs/swagger")  # type: ignore[attr-defined]
    expect(p.get_by_text("List Payload Metadata").first).to_be_visible()  # type: ignore[attr-defined]
    p.get_by_role("button", name=re.compile("Authorize")).first.click()  # type: ignore[attr-defined]
    dialog = p.locator(".modal-ux")  # type: ignore[attr-defined]
    api_key_form = dialog.locator("form").filter(has_text="ApiKeyAuth")
    api_key_form.locator("input").first.fill(key)
    api_key_form.locator("button.authorize").click()  # labelled "Apply credentials"
    dialog.locator("button.btn-done").first.click()
    operation = p.locator("#operations-Payload_Metadata-listPayloadMetadata")  # type: ignore[attr-defined]
    operation.locator(".opblock-summary").click()
    operation.get_by_role("button", name="Try it out").click()
    operation.get_by_role("button", name="Execute").click()
    # Unauthorized, the list is a 401: the 200 proves the key was applied.
    expect(operation.locator(".live-responses-table tbody .response-col_status").first).to_have_text("200")
    assert outside == []
