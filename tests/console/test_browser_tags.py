"""Issue 16's console pages in Chromium: finding a payload by its tag from the runs page, its tags, the run's ZIP,
the tag rules page; the new pages at 1366 and 390 px with axe-core.

Uses the server, browser and helpers of chromium.py (its own server: module-scoped fixtures).
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest

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
    shot,
    site,
)

__all__ = ["browser", "context", "site"]  # fixtures, imported for pytest


def _capture(site: Site, body: bytes, run: int, step: int, **tags: str) -> int:
    params = {"flow_run_id": run, "flow_step_id": step, **{f"tag[{name}]": value for name, value in tags.items()}}
    response = site.api.post(
        "/api/v1/payload-metadata", params=params, content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 201, response.text
    record_id: int = response.json()["data"]["id"]
    return record_id


@pytest.fixture(scope="module")
def seeded(site: Site) -> dict[str, int]:
    return {
        "order": _capture(site, json.dumps({"order": {"id": 1234}}).encode(), 1601, 1, order_id="1234", region="eu"),
        "invoice": _capture(site, b'{"invoice": 7}', 1601, 2, order_id="1234"),
        "other": _capture(site, b'{"order": {"id": 99}}', 1602, 1, order_id="99"),
    }


def test_an_operator_finds_a_payload_by_its_order_id_and_takes_the_run_away(
    context: BrowserContext, site: Site, seeded: dict[str, int]
) -> None:
    page = admin_page(context, site)
    page.goto("/console/runs")
    page.get_by_label("Find payloads by tag").fill("order_id=1234")
    page.get_by_label("Find payloads by tag").press("Enter")
    expect(page.get_by_role("heading", level=2)).to_contain_text("order_id=1234")
    results = page.locator("table tbody tr")
    expect(results).to_have_count(2)
    shot(page, "tag-search-wide")
    page.get_by_role("link", name=f"#{seeded['order']}", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Payload #{seeded['order']}")
    tags = page.get_by_role("list", name="Tags of this payload")
    expect(tags).to_contain_text("order_id=1234")
    expect(tags).to_contain_text("region=eu")

    page.get_by_role("link", name="1601", exact=True).click()  # the run, from the details panel
    with page.expect_download() as pending:
        page.get_by_role("link", name="Download all payloads (ZIP)").click()
    download = pending.value
    assert download.suggested_filename == "flow-run-1601-payloads.zip"
    archive = zipfile.ZipFile(io.BytesIO(Path(download.path()).read_bytes()))
    assert sorted(archive.namelist()) == sorted(
        [f"step-1/payload-{seeded['order']}.json", f"step-2/payload-{seeded['invoice']}.json", "manifest.json"]
    )

    page.goto("/console")
    page.get_by_label("Find payloads by tag").fill("order id = 1234")
    page.get_by_role("button", name="Find").click()
    expect(page.get_by_role("alert")).to_contain_text("a-z, 0-9 and _")
    expect(page.get_by_label("Find payloads by tag")).to_have_value("order id = 1234")


def test_an_admin_adds_and_deletes_a_tag_rule(context: BrowserContext, site: Site) -> None:
    page = admin_page(context, site)
    page.get_by_role("link", name="Tag rules").click()
    expect(page.get_by_role("heading", name="Tag rules", level=1)).to_be_visible()
    page.get_by_label("Tag name").fill("customer_id")
    page.get_by_label("JSON pointer").fill("/customer/id")
    page.get_by_role("button", name="Add rule").click()
    row = page.locator("table tbody tr", has_text="customer_id")
    expect(row).to_contain_text("/customer/id")
    _capture(site, b'{"customer": {"id": "c-77"}}', 1603, 1)
    page.goto("/console/search?q=customer_id%3Dc-77")
    expect(page.locator("table tbody tr")).to_have_count(1)
    page.goto("/console/admin/tag-rules")
    page.get_by_role("button", name="Delete rule customer_id").click()
    expect(page.get_by_text("No tag rules yet")).to_be_visible()


@pytest.mark.parametrize("size", list(SIZES))
def test_the_new_pages_fit_and_pass_axe(browser: Browser, site: Site, seeded: dict[str, int], size: str) -> None:
    pages = {
        "tag-search": "/console/search?q=order_id%3D1234",
        "tag-search-error": "/console/search?q=order_id",
        "tag-rules": "/console/admin/tag-rules",
        "run-zip": "/console/runs/1601",
        "payload-tags": f"/console/payloads/{seeded['order']}",
    }
    with admin_in_new_context(browser, site, viewport=SIZES[size]) as page:
        assert_pages_fit_and_pass_axe(page, pages, size)
