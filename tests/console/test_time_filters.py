"""The runs page's from/to filter: typed in the browser's time zone (named in ``tz``), UTC or an explicit offset
from links."""

from __future__ import annotations

import datetime as dt
import html
import re
import zoneinfo

from litestar.testing import TestClient

from tests.console.conftest import login
from tests.console.helpers import People
from tests.factories import TenantKeys, capture_payload

TOKYO = zoneinfo.ZoneInfo("Asia/Tokyo")  # 9 hours ahead of UTC, no summer time


def _listed(page: str) -> bool:
    return 'href="/console/runs/41"' in page


def _wall(moment: dt.datetime, zone: dt.tzinfo) -> str:
    return moment.astimezone(zone).strftime("%Y-%m-%dT%H:%M:%S")


def test_from_and_to_are_read_in_the_zone_they_were_typed_in(
    app_client: TestClient[object], people: People, acme: TenantKeys
) -> None:
    capture_payload(app_client, acme.headers("writer"), flow_run_id=41)
    login(app_client, people.reader)
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=10)

    def runs(**query: str) -> str:
        response = app_client.get("/console/runs", params=query)
        assert response.status_code == 200, response.text
        return response.text

    # "Before ten minutes from now" typed on a Tokyo clock: the run captured just now is in.
    in_tokyo = runs(until=_wall(soon, TOKYO), tz="Asia/Tokyo")
    assert _listed(in_tokyo)
    # The same digits read on a Tokyo clock are nine hours earlier as UTC: the run is out.
    assert not _listed(runs(until=_wall(soon, dt.UTC), tz="Asia/Tokyo"))
    assert _listed(runs(until=_wall(soon, dt.UTC)))  # without tz (no script): UTC, as before
    # A link's explicit offset wins over the zone field.
    assert _listed(runs(until=soon.strftime("%Y-%m-%dT%H:%M:%SZ"), tz="Asia/Tokyo"))
    assert _listed(runs(until=_wall(soon, TOKYO) + "+09:00"))
    # The page shows the time back on the Tokyo clock it was typed on, and in UTC for console.js and the links.
    field = re.search(r'<input id="f-until"[^>]*>', in_tokyo)
    assert field
    assert f'value="{_wall(soon, TOKYO)}"' in field.group(0)
    assert f'data-utc="{soon.strftime("%Y-%m-%dT%H:%M:%SZ")}"' in field.group(0)
    assert 'name="tz" value="Asia/Tokyo"' in in_tokyo
    assert "(Asia/Tokyo)" in in_tokyo


def test_an_unknown_zone_or_a_malformed_time_is_a_plain_400(
    app_client: TestClient[object], people: People, acme: TenantKeys
) -> None:
    login(app_client, people.reader)
    unknown = app_client.get("/console/runs", params={"until": "2026-11-29T10:00", "tz": "Mars/Olympus_Mons"})
    assert unknown.status_code == 400
    assert "Unknown time zone 'Mars/Olympus_Mons'" in html.unescape(unknown.text)
    malformed = app_client.get("/console/runs", params={"since": "yesterday", "tz": "Asia/Tokyo"})
    assert malformed.status_code == 400
    assert "The from time must look like 2026-11-29T17:30" in malformed.text
