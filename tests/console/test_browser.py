"""The console end to end in a real browser: Debian's chromium driven by Playwright against `metadock serve`.

One server and one browser for the module; each test has its own browser context (its own cookies). Screenshots of
the main pages go to var/screenshots/ (git-ignored).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx

from tests.console.chromium import (
    ADMIN,
    LOGIN_URL,
    Browser,
    BrowserContext,
    Site,
    admin_in_new_context,
    admin_page,
    browser,
    context,
    expect,
    log_in,
    shot,
    site,
)

__all__ = ["browser", "context", "site"]  # fixtures, imported for pytest

READER_PASSWORD = "reader password 123"


def test_a_newcomer_finds_compares_and_downloads_a_payload(context: BrowserContext, site: Site) -> None:
    order = json.dumps({"order": 42, "items": [{"sku": "A-1", "qty": 2}], "note": "<script>alert(1)</script>"})
    invoice = json.dumps({"order": 42, "items": [{"sku": "A-1", "qty": 3}], "total": 19.5})
    first = site.capture(order.encode(), "application/json", run=501, step=1)
    second = site.capture(invoice.encode(), "application/json", run=501, step=2)
    site.capture(b"<orders><order id='42'/></orders>", "application/xml", run=502, step=1)
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))

    log_in(page, ADMIN, site.admin_password)
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    expect(page.locator("figure.chart svg title").first).to_contain_text("Captures and bytes per hour")
    shot(page, "overview")

    page.get_by_role("link", name="Runs", exact=True).click()
    page.get_by_role("link", name="Run 501").click()
    expect(page.get_by_role("heading", name="Step 1")).to_be_visible()
    expect(page.get_by_role("heading", name="Step 2")).to_be_visible()
    shot(page, "run")

    page.get_by_role("link", name=f"#{first}", exact=True).click()
    expect(page.get_by_role("heading", name=f"Payload #{first}")).to_be_visible()
    code = page.locator(".code")
    expect(code).to_contain_text('"sku": "A-1"')  # pretty-printed
    expect(code).to_contain_text("<script>alert(1)</script>")  # shown as text, never run
    assert page.locator(".code span.nt").count() > 0  # highlighted
    shot(page, "payload")

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download").click()
    download = download_info.value
    assert Path(download.path()).read_bytes() == order.encode()
    assert download.suggested_filename == f"payload-{first}.json"

    page.get_by_label("Compare with another payload of this run").select_option(str(second))
    page.get_by_role("button", name="Compare").click()
    expect(page.get_by_role("heading", name=f"Payload #{first} and #{second}")).to_be_visible()
    expect(page.locator("table.diff tr.changed").first).to_be_visible()
    expect(page.locator("table.diff")).to_contain_text('"qty": 3')
    shot(page, "compare")
    assert dialogs == []  # the hostile payload ran nowhere


def test_metadata_create_edit_and_a_stale_edit(context: BrowserContext, site: Site) -> None:
    page = admin_page(context, site)
    page.get_by_role("link", name="Metadata", exact=True).click()
    page.get_by_role("link", name="New metadata").click()
    page.get_by_label("Owner", exact=True).fill("BusinessUnit")
    page.get_by_label("Slug").fill("oauth-providers")
    page.get_by_label("Type").fill("authentication")
    page.get_by_label("Title").fill('{"en": "OAuth Providers"}')
    page.get_by_label("Data").fill('["Github", ')  # invalid: shown again, nothing stored
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_role("alert")).to_contain_text("The data is not valid JSON")
    assert site.api.get("/metadatas").json() == []
    page.get_by_label("Data").fill('["Github", "Google"]')
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_role("status")).to_contain_text("Saved. This is version 1.")
    shot(page, "metadata")
    (stored,) = site.api.get("/metadatas").json()
    assert stored["data"] == ["Github", "Google"]

    # Two tabs open the edit form of version 1; the first saves, the second is told it is stale.
    page.get_by_role("link", name="Edit").click()
    other = context.new_page()
    other.goto(page.url)
    page.get_by_label("Data").fill('["Github", "Google", "Twitter"]')
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_contain_text("version 2")
    other.get_by_label("Data").fill('["Gitlab"]')
    other.get_by_role("button", name="Save").click()
    expect(other.get_by_role("alert")).to_contain_text("Someone else changed this metadata")
    expect(other.get_by_label("Data")).to_have_value('["Gitlab"]')  # the user's text is kept
    shot(other, "stale-edit")
    assert site.api.get(f"/metadatas/{stored['uuid']}").json()["data"] == ["Github", "Google", "Twitter"]
    other.get_by_role("link", name="reload the current version").click()
    expect(other.get_by_label("Data")).to_contain_text("Twitter")
    assert other.locator("input[name=version]").input_value() == "2"


def test_admin_creates_a_reader_who_cannot_edit(browser: Browser, context: BrowserContext, site: Site) -> None:
    created = site.api.post(
        "/metadatas",
        json={"owner": "o", "title": {"en": "Readonly"}, "slug": "readonly", "type": "t", "data": {}, "version": 1},
    ).json()
    page = admin_page(context, site)
    page.get_by_role("link", name="Users").click()
    page.get_by_label("Email").fill("reader@example.test")
    page.get_by_label("Password").fill(READER_PASSWORD)
    page.get_by_label("Role").select_option("reader")
    page.get_by_role("button", name="Create user").click()
    expect(page.get_by_role("rowheader", name="reader@example.test")).to_be_visible()
    shot(page, "users")

    page.get_by_role("link", name="API keys").click()
    page.get_by_label("Name").fill("flow runner")
    page.get_by_role("button", name="Create key").click()
    key = page.locator("#new-key-value").inner_text()
    assert key.startswith("mdk_")
    assert httpx.get(f"{site.url}/metadatas", headers={"Authorization": key}).status_code == 200
    shot(page, "api-keys")
    page.get_by_role("link", name="API keys").click()  # shown once: the list does not show it again
    expect(page.locator("#new-key-value")).to_have_count(0)
    page.get_by_role("link", name=re.compile(r"^Revoke key flow runner \(mdk_")).click()
    expect(page.get_by_role("heading", name="Revoke key “flow runner”?")).to_be_visible()  # asked first
    assert httpx.get(f"{site.url}/metadatas", headers={"Authorization": key}).status_code == 200
    page.get_by_role("button", name="Revoke flow runner").click()
    assert httpx.get(f"{site.url}/metadatas", headers={"Authorization": key}).status_code == 401

    reader_context = browser.new_context(base_url=site.url)
    try:
        reader = reader_context.new_page()
        log_in(reader, "reader@example.test", READER_PASSWORD)
        reader.goto(f"/console/metadatas/{created['uuid']}")
        expect(reader.get_by_role("heading", name="Readonly")).to_be_visible()
        expect(reader.get_by_role("link", name="Edit")).to_have_count(0)
        expect(reader.get_by_role("link", name="API keys")).to_have_count(0)
        token = reader.locator("input[name=csrf_token]").first.input_value()
        forged = reader.request.post(
            f"/console/metadatas/{created['uuid']}/edit",
            form={"csrf_token": token, "version": "1", "owner": "x", "slug": "x", "type": "x", "data": "1"},
        )
        assert forged.status == 403
        assert site.api.get(f"/metadatas/{created['uuid']}").json()["version"] == 1
        assert reader.goto("/console/admin/users").status == 403  # type: ignore[union-attr]
    finally:
        reader_context.close()


def test_a_form_with_a_bad_csrf_token_is_refused_and_logout_ends_the_session(
    context: BrowserContext, site: Site
) -> None:
    page = admin_page(context, site)
    page.goto("/console/metadatas/new")
    page.get_by_label("Owner", exact=True).fill("o")
    page.get_by_label("Slug").fill("forged-slug")
    page.get_by_label("Type").fill("t")
    page.get_by_label("Title").fill('{"en": "Forged"}')
    page.locator("#main input[name=csrf_token]").evaluate("input => { input.value = 'forged'; }")
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_role("alert")).to_contain_text("did not come from this console")
    assert all(item["slug"] != "forged-slug" for item in site.api.get("/metadatas").json())
    # Without the session cookie's token binding, a request from elsewhere carries no token at all.
    assert page.request.post("/console/metadatas/new", form={"slug": "x"}).status == 403

    page.goto("/console")
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Log in to Metadock")).to_be_visible()
    page.goto("/console/runs")
    expect(page).to_have_url(LOGIN_URL)


def test_the_console_fits_a_narrow_screen(browser: Browser, site: Site) -> None:
    with admin_in_new_context(browser, site, viewport={"width": 390, "height": 844}) as page:
        page.goto("/console/runs")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the page scrolls sideways ({width}px)"
        page.keyboard.press("Tab")  # the skip link comes first, for keyboard users
        expect(page.locator(".skip")).to_be_focused()
        shot(page, "runs-narrow")
