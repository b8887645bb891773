"""Issue 17 in Chromium: an operator debugging a failed run, at 1366 and 390 px, light and dark, with axe-core.

Uses the server, browser and helpers of chromium.py (its own server: module-scoped fixtures).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import zoneinfo

import pytest

from tests.console.chromium import (
    ADMIN,
    SIZES,
    Browser,
    BrowserContext,
    Site,
    admin_in_new_context,
    admin_page,
    assert_fits_and_passes_axe,
    browser,
    context,
    expect,
    log_in,
    shot,
    site,
)

__all__ = ["browser", "context", "site"]  # fixtures, imported for pytest

TREE_CHUNK = 500  # console.js builds this many children of a tree node at a time


def _seed(site: Site) -> dict[str, int]:
    """A failed run as an operator meets it: JSON in and out, a big minified JSON, XML, CSV, binary, one dropped."""
    order = json.dumps({"order": 42, "items": [{"sku": "A-1", "qty": 2}], "note": "first"}).encode()
    invoice = json.dumps({"order": 42, "items": [{"sku": "A-1", "qty": 3}], "note": "second"}).encode()
    big = json.dumps([{"id": i, "name": f"item {i}", "tags": ["x", "y"]} for i in range(30_000)], separators=(",", ":"))
    ids = {
        "order": site.capture(order, "application/json", run=901, step=1),
        "invoice": site.capture(invoice, "application/json", run=901, step=2),
        "big": site.capture(big.encode(), "application/json", run=901, step=3),
        "xml": site.capture(b"<orders><order id='42'><total>19.5</total></order></orders>", "application/xml", 901, 4),
        "csv": site.capture(b"sku,qty\nA-1,2\nB-2,5\n", "text/csv", run=901, step=4),
        "binary": site.capture(bytes(range(256)) * 8, "application/octet-stream", run=901, step=5),
    }
    return ids


@pytest.fixture(scope="module")
def seeded(site: Site) -> dict[str, int]:
    return _seed(site)


def _pages(ids: dict[str, int]) -> dict[str, str]:
    return {
        "overview": "/console",
        "runs": "/console/runs",
        "run": "/console/runs/901",
        "payload-json": f"/console/payloads/{ids['order']}",
        "payload-big": f"/console/payloads/{ids['big']}",
        "payload-xml": f"/console/payloads/{ids['xml']}",
        "payload-csv": f"/console/payloads/{ids['csv']}",
        "payload-hex": f"/console/payloads/{ids['binary']}",
        "compare": f"/console/compare?left={ids['order']}&right={ids['invoice']}",
        "metadata": "/console/metadatas",
        "metadata-new": "/console/metadatas/new",
        "api-keys": "/console/admin/keys",
        "users": "/console/admin/users",
    }


@pytest.mark.parametrize("size", list(SIZES))
def test_every_main_page_fits_loads_small_and_passes_axe(
    browser: Browser, site: Site, seeded: dict[str, int], size: str
) -> None:
    from axe_playwright_python.sync_playwright import Axe

    context = browser.new_context(base_url=site.url, viewport=SIZES[size])  # type: ignore[arg-type]
    try:
        page = context.new_page()
        missing: list[str] = []
        page.on("response", lambda response: missing.append(response.url) if response.status == 404 else None)
        log_in(page, ADMIN, site.admin_password)
        axe = Axe()
        for name, path in _pages(seeded).items():
            response = page.goto(path)
            assert response is not None
            assert response.ok, f"{path}: {response.status}"
            assert len(response.body()) < 1_000_000, f"{path} is {len(response.body())} bytes of HTML"
            assert_fits_and_passes_axe(page, axe, name, path, size)
        assert missing == [], f"404s while browsing: {missing}"  # the favicon among them, before
    finally:
        context.close()


def test_a_run_reads_as_a_timeline_in_the_browsers_time_zone(
    browser: Browser, site: Site, seeded: dict[str, int]
) -> None:
    with admin_in_new_context(browser, site, timezone_id="Asia/Tokyo", viewport=SIZES["wide"]) as page:
        page.goto("/console/runs/901")
        timeline = page.locator("figure.timeline svg")
        expect(timeline).to_be_visible()
        assert timeline.locator("circle.mark").count() >= 5
        assert re.search(r"\+\d+(\.\d+)? (ms|s)", timeline.text_content() or "")
        first = page.locator("dl.summary time").first
        utc_text = first.get_attribute("title") or ""
        assert utc_text.endswith("(shown in Asia/Tokyo)")
        shown, utc = first.inner_text(), utc_text.split(" UTC")[0]
        assert shown != utc  # converted: Tokyo is 9 hours ahead
        assert int(shown[11:13]) == (int(utc[11:13]) + 9) % 24
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}", shown)  # to the millisecond


def test_show_more_copy_keys_and_compare_views(context: BrowserContext, site: Site, seeded: dict[str, int]) -> None:
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    page = admin_page(context, site)
    page.goto(f"/console/payloads/{seeded['big']}")
    code = page.locator("#slices .code")
    expect(code.first).to_contain_text('"name": "item 0"')
    before = page.locator("#slices .code").count()
    page.get_by_role("link", name="Show more").first.click()
    expect(page.locator("#slices .code")).to_have_count(before + 1)  # appended in place, no new page
    assert page.url.endswith(f"/console/payloads/{seeded['big']}")
    # The collapsible tree: the whole 30,000-item document, built a level at a time.
    page.get_by_role("button", name="Show as a collapsible tree").click()
    tree = page.locator("#json-tree")
    expect(tree.locator("summary").first).to_contain_text("[30000 items]")
    assert tree.locator("details").count() == TREE_CHUNK + 1  # only the opened level exists, 500 items of it
    tree.locator("details details").nth(2).locator("summary").click()
    expect(tree.locator("details details").nth(2)).to_contain_text('"item 2"')
    page.get_by_role("button", name="Show 500 more of 29500").click()
    assert page.locator("#json-tree > details > details").count() == 2 * TREE_CHUNK
    page.get_by_role("button", name="Copy", exact=True).first.click()
    assert page.evaluate("navigator.clipboard.readText()") == str(seeded["big"])
    page.get_by_role("button", name="Copy curl command").click()
    assert page.evaluate("navigator.clipboard.readText()").startswith("curl -fOJ")
    # j / k: the next and previous payload of the run.
    page.goto(f"/console/payloads/{seeded['invoice']}")
    page.keyboard.press("j")
    expect(page).to_have_url(re.compile(rf"/console/payloads/{seeded['big']}$"))
    page.keyboard.press("k")
    expect(page).to_have_url(re.compile(rf"/console/payloads/{seeded['invoice']}$"))
    page.goto("/console/runs")
    page.keyboard.press("/")
    expect(page.get_by_label("Run id")).to_be_focused()
    # Compare: changes only, with the changed word marked; JSON-aware when asked.
    page.goto(f"/console/compare?left={seeded['order']}&right={seeded['invoice']}")
    expect(page.locator("table.diff ins").first).to_have_text("3")
    page.get_by_label("JSON (keys sorted)").check()
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("#diff-summary")).to_contain_text("lines differ")
    shot(page, "compare-json")


def test_new_captures_are_announced_on_the_runs_page(
    context: BrowserContext, site: Site, seeded: dict[str, int]
) -> None:
    page = admin_page(context, site)
    page.goto("/console/runs")
    indicator = page.locator("#new-captures")
    expect(indicator).to_be_hidden()
    site.capture(b'{"late": true}', "application/json", run=902, step=1)
    page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")  # as when the operator comes back
    expect(indicator).to_be_visible()
    indicator.get_by_role("link", name="Show them").click()
    expect(page.get_by_role("link", name="Run 902")).to_be_visible()


def test_dark_mode_follows_the_system(browser: Browser, site: Site, seeded: dict[str, int]) -> None:
    with admin_in_new_context(browser, site, color_scheme="dark") as page:
        page.goto(f"/console/payloads/{seeded['order']}")
        background = page.evaluate("getComputedStyle(document.body).backgroundColor")
        channels = [int(value) for value in re.findall(r"\d+", background)[:3]]
        assert max(channels) < 60, background
        shot(page, "payload-dark")


def test_the_time_filter_is_typed_in_the_browsers_time_zone(
    browser: Browser, site: Site, seeded: dict[str, int]
) -> None:
    # Seconds that are not zero: Chromium writes a datetime-local value of :00 seconds without them.
    soon = (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=10)).replace(second=17, microsecond=0)
    tokyo = zoneinfo.ZoneInfo("Asia/Tokyo")
    with admin_in_new_context(browser, site, timezone_id="Asia/Tokyo", viewport=SIZES["wide"]) as page:
        page.goto("/console/runs")
        expect(page.locator("label[for=f-until]")).to_contain_text("(Asia/Tokyo)")
        # "Until ten minutes from now", read off a Tokyo clock: run 901, captured just now, is in.
        wall = soon.astimezone(tokyo).strftime("%Y-%m-%dT%H:%M:%S")
        page.fill("#f-until", wall)
        page.get_by_role("button", name="Filter").click()
        expect(page.get_by_role("link", name="Run 901")).to_be_visible()
        assert "tz=Asia%2FTokyo" in page.url
        expect(page.locator("#f-until")).to_have_value(wall)  # shown back on the clock it was typed on
        # The same digits as UTC's clock are nine hours earlier in Tokyo: before the run.
        page.fill("#f-until", soon.strftime("%Y-%m-%dT%H:%M:%S"))
        page.get_by_role("button", name="Filter").click()
        expect(page.get_by_text("No run matches these filters")).to_be_visible()
        # A link in UTC (as the pager and the server write them) opens showing Tokyo's clock.
        page.goto(f"/console/runs?until={soon.strftime('%Y-%m-%dT%H:%M:%SZ')}")
        expect(page.get_by_role("link", name="Run 901")).to_be_visible()
        expect(page.locator("#f-until")).to_have_value(wall)


def test_a_large_csv_shows_more_rows_in_place(context: BrowserContext, site: Site) -> None:
    table = "sku,qty\n" + "".join(f"S-{n},{n}\n" for n in range(2_000))
    record = site.capture(table.encode(), "text/csv", run=903, step=1)
    page = admin_page(context, site)
    page.goto(f"/console/payloads/{record}")
    rows = page.locator("#slices table.csv tr")
    expect(rows).to_have_count(500)  # the header and 499 rows
    expect(page.get_by_role("cell", name="S-499", exact=True)).to_have_count(0)
    page.get_by_role("link", name="Show more").click()
    expect(page.get_by_role("cell", name="S-499", exact=True)).to_be_visible()  # the next row, appended
    expect(rows).to_have_count(1000)
    assert "at=" not in page.url  # the same page, not the next slice's own
