"""Shared by the browser tests (test_browser*.py): Debian's chromium driven by Playwright against `metadock serve`.

A module's own server (``serve_site``), one browser for the module, a browser context a test (its own cookies),
logging in, and the checks every page gets at a screen size: no sideways scrolling, no serious axe-core finding, a
screenshot in var/screenshots/ (git-ignored).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import playwright.sync_api as playwright_sync  # a pinned dev dependency: missing, the tests fail, never skip
import pytest

from tests.live import LiveServer, printed_api_key, start_server

Browser = playwright_sync.Browser
BrowserContext = playwright_sync.BrowserContext
Page = playwright_sync.Page
expect = playwright_sync.expect

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
IN_CI = os.environ.get("CI") == "true"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LOGIN_URL = re.compile(r".*/console/login(\?.*)?$")
ADMIN = "admin@localhost"
SIZES = {"wide": {"width": 1366, "height": 900}, "narrow": {"width": 390, "height": 844}}


class Site:
    def __init__(self, server: LiveServer, admin_password: str, api_key: str) -> None:
        self.server = server
        self.url = server.base_url
        self.admin_password = admin_password
        self.api = httpx.Client(base_url=server.base_url, headers={"Authorization": api_key}, timeout=10)

    def capture(self, body: bytes, content_type: str, run: int, step: int) -> int:
        response = self.api.post(
            "/api/v1/payload-metadata",
            params={"flow_run_id": run, "flow_step_id": step},
            content=body,
            headers={"Content-Type": content_type},
        )
        assert response.status_code == 201, response.text
        record_id: int = response.json()["data"]["id"]
        return record_id


@contextmanager
def serve_site(
    tmp_path_factory: pytest.TempPathFactory, name: str, extra_env: Mapping[str, str] | None = None, **start: Any
) -> Iterator[Site]:
    """`metadock serve` on a SQLite database of its own, with the admin's password and the API key it printed; the
    browser tests fail under CI (and skip elsewhere) without Debian's chromium."""
    if not Path(CHROMIUM).exists():
        message = f"{CHROMIUM} is required for the browser tests (apt-get install chromium)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    root = tmp_path_factory.mktemp(name)
    env = {
        "METADOCK_DATABASE_URL": f"sqlite:///{root / 'metadock.db'}",
        "METADOCK_STORE_URL": f"file://{root / 'payloads'}",
        "METADOCK_DATA_DIR": str(root),
        "METADOCK_ENV": "development",
        **(extra_env or {}),
    }
    server = start_server(env, **start)
    try:
        passwords = [line.split("Password: ", 1)[1].strip() for line in server.output if "Password: " in line]
        api_key = printed_api_key(server.output)
        assert passwords, server.output
        assert api_key, server.output
        yield Site(server, passwords[0], api_key)
    finally:
        server.stop()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The module's server, on a database of its own."""
    with serve_site(tmp_path_factory, "console-live") as served:
        yield served


@pytest.fixture(scope="module")
def browser(site: Site) -> Iterator[Browser]:  # the server first: its failure is the clearer one
    with playwright_sync.sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def context(browser: Browser, site: Site) -> Iterator[BrowserContext]:
    instance = browser.new_context(base_url=site.url, accept_downloads=True, viewport={"width": 1280, "height": 900})
    instance.set_default_timeout(10_000)
    yield instance
    instance.close()


def shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def log_in(page: Page, email: str, password: str) -> None:
    page.goto("/console")
    expect(page).to_have_url(LOGIN_URL)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()


def admin_page(context: BrowserContext, site: Site) -> Page:
    """A new page of ``context``, logged in as the admin the server printed."""
    page = context.new_page()
    log_in(page, ADMIN, site.admin_password)
    return page


@contextmanager
def admin_in_new_context(browser: Browser, site: Site, **options: Any) -> Iterator[Page]:
    """A page logged in as the admin, in a browser context of its own (``options``: a viewport, a time zone...),
    closed afterwards."""
    instance = browser.new_context(base_url=site.url, **options)
    try:
        yield admin_page(instance, site)
    finally:
        instance.close()


def assert_fits_and_passes_axe(page: Page, axe: Any, name: str, path: str, size: str) -> None:
    """The page shown (``path``) fits the width of ``SIZES[size]`` and axe-core finds nothing serious in it; a
    screenshot of it as ``<name>-<size>``."""
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


def assert_pages_fit_and_pass_axe(page: Page, pages: Mapping[str, str], size: str) -> None:
    """Each of ``pages`` (name: path) opened in turn and checked as ``assert_fits_and_passes_axe`` does."""
    from axe_playwright_python.sync_playwright import Axe

    axe = Axe()
    for name, path in pages.items():
        page.goto(path)
        assert_fits_and_passes_axe(page, axe, name, path, size)
