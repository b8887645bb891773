"""What "the stored data is unchanged" means in a test: every row of every table, and every object in the store."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx
from sqlalchemy import select

from metadock.kit.db import Connection
from metadock.settings import Settings
from metadock.tables import metadata
from tests.factories import laravel_error, problem, run_in_transaction, stored_bytes, stored_keys

LARAVEL_PREFIXES = ("/api/", "/fabric/")


def database_rows(database_url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in a stable order (plain SELECTs, no service in between)."""

    async def work(connection: Connection) -> dict[str, list[tuple[Any, ...]]]:
        rows: dict[str, list[tuple[Any, ...]]] = {}
        for table in metadata.sorted_tables:
            result = await connection.execute(select(table))
            rows[table.name] = sorted((tuple(row) for row in result.all()), key=repr)
        return rows

    return run_in_transaction(database_url, work)


def store_contents(settings: Settings) -> dict[str, str]:
    """Every object in the store, by key, as the sha256 of its bytes."""
    contents: dict[str, str] = {}
    for key in stored_keys(settings):
        data = stored_bytes(settings, key)
        contents[key] = "" if data is None else hashlib.sha256(data).hexdigest()
    return contents


def everything(settings: Settings) -> tuple[dict[str, list[tuple[Any, ...]]], dict[str, str]]:
    return database_rows(settings.database_url), store_contents(settings)


def dialect_error(path: str, response: httpx.Response, status: int) -> dict[str, Any]:
    """Assert ``response`` is the error ``status`` in the shape of the dialect that owns ``path``."""
    if path.startswith(LARAVEL_PREFIXES):
        return laravel_error(response, status)
    return problem(response, status)
