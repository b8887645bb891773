"""Checks of what a client and an operator rely on after a race, an outage or a crash: records against bytes,
list totals against the rows they page through."""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.factories import PAYLOADS

_KEY_FILE = re.compile(r"[0-9a-f]{32}")
_STAGING_FILE = re.compile(r"[0-9a-f]{32}#[0-9]+")


@dataclass
class StoreListing:
    """What a file store directory holds: completed objects by key (``ab/cd/<hex>``), and staging leftovers."""

    objects: dict[str, bytes]
    staging: list[Path]


def walk_file_store(root: Path) -> StoreListing:
    objects: dict[str, bytes] = {}
    staging: list[Path] = []
    for directory, _dirs, names in os.walk(root):
        for name in names:
            path = Path(directory) / name
            if _STAGING_FILE.fullmatch(name):
                staging.append(path)
            else:
                assert _KEY_FILE.fullmatch(name), f"a stranger in the store: {path}"
                objects[str(path.relative_to(root))] = path.read_bytes()
    return StoreListing(objects, staging)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def assert_records_match_bytes(rows: list[dict[str, Any]], listing: StoreListing) -> None:
    """Every live record has its bytes, whole; no bytes lack a live record; nothing half-written is left."""
    live = {row["store_key"]: row for row in rows if not row["dropped"]}
    for key, row in live.items():
        assert key in listing.objects, f"record {row['id']} has no bytes"
        data = listing.objects[key]
        assert (len(data), sha256(data)) == (row["size"], row["sha256"]), f"record {row['id']} has other bytes"
    orphans = set(listing.objects) - set(live)
    assert not orphans, f"bytes without a live record: {sorted(orphans)}"
    assert not listing.staging, f"staging leftovers: {listing.staging}"


async def page_through(client: httpx.AsyncClient, **filters: int) -> tuple[list[int], set[int]]:
    """Every page of the list, 100 at a time: the ids seen, and each page's ``meta.total``."""
    params: dict[str, str | int] = {f"filter[{name}]": value for name, value in filters.items()}
    ids: list[int] = []
    totals: set[int] = set()
    page = 1
    while True:
        response = await client.get(PAYLOADS, params={**params, "per_page": 100, "page": page})
        assert response.status_code == 200, response.text
        body = response.json()
        totals.add(body["meta"]["total"])
        ids.extend(record["id"] for record in body["data"])
        if page >= body["meta"]["last_page"]:
            return ids, totals
        page += 1


async def assert_totals_match_rows(client: httpx.AsyncClient, **filters: int) -> int:
    """``meta.total`` equals the number of rows paged through (each once); returns it."""
    ids, totals = await page_through(client, **filters)
    assert len(ids) == len(set(ids)), f"a row listed twice: {filters}"
    assert totals == {len(ids)}, f"meta.total {totals} but {len(ids)} rows paged through ({filters})"
    return len(ids)
