"""Streaming export: a resource's records as NDJSON or CSV, encoded a batch at a time as the client reads them.

Generic: a resource hands over its records as an async iterator of batches of msgspec structs (the same structs its
list shows, so a line or a row has exactly the fields of a list item) and the struct type (for the CSV header). No
batch is read before the client has taken the one before (the response is a stream), so memory holds one batch
whatever the export's size, and :func:`keyset_batches` reads each batch in a transaction of its own that ends before
the batch is sent: nothing holds a connection or a snapshot while a slow client reads.

- **NDJSON** (``application/x-ndjson``): one JSON object per line, ``\\n``-terminated, UTF-8.
- **CSV** (``text/csv; charset=utf-8``, RFC 4180): a header row of the field names, then one row per record; fields
  holding a comma, a double quote, CR or LF are quoted, a quote doubled; lines end in CRLF; UTF-8, no byte-order mark.
  Nested values (a JSON object or array) are written as their JSON text, null as an empty field.
  **Formula injection**: a text field that begins with ``=``, ``+``, ``-``, ``@``, a tab or a CR would be run as a
  formula by a spreadsheet opening the file; such a field gets a leading ``'`` (OWASP's advice), so it is shown as
  text. Numbers (integers, booleans) are written as they are. A consumer that needs the exact text removes one
  leading ``'`` from fields that begin with ``'`` followed by one of those characters.
"""

from __future__ import annotations

import asyncio
import csv
import enum
import io
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol, TypeVar

import msgspec
from litestar.response import Stream

from metadock.kit.db import Connection, Database
from metadock.kit.errors import Violation, validation_failed

FORMAT_PARAMETER: Final = "format"
INVALID_FORMAT: Final = "The selected format is invalid."  # Laravel's `in` rule, worded as Laravel words it
# What a spreadsheet reads as the start of a formula (OWASP, CSV injection).
FORMULA_STARTS: Final = ("=", "+", "-", "@", "\t", "\r")


class ExportFormat(enum.Enum):
    NDJSON = "ndjson"
    CSV = "csv"

    @property
    def media_type(self) -> str:
        # Litestar appends "; charset=utf-8" to a text/* type itself.
        return "application/x-ndjson" if self is ExportFormat.NDJSON else "text/csv"


def parse_export_format(params: Iterable[tuple[str, str]]) -> ExportFormat:
    """``format`` (the last one given), NDJSON when absent; any other value is a validation error, which each dialect
    renders in its shape (Laravel: 422 ``{message, errors: {format: [...]}}``; problem details: 400)."""
    raw: str | None = None
    for name, value in params:
        if name == FORMAT_PARAMETER:
            raw = value
    if raw is None:
        return ExportFormat.NDJSON
    try:
        return ExportFormat(raw.strip().lower())
    except ValueError:
        raise validation_failed([Violation(FORMAT_PARAMETER, INVALID_FORMAT)]) from None


def guard_formula(text: str) -> str:
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _cell(value: Any) -> Any:
    if isinstance(value, str):
        return guard_formula(value)
    if value is None:
        return ""
    if isinstance(value, dict | list):
        # JSON text of an object or array begins with '{' or '[': never read as a formula.
        return msgspec.json.encode(value).decode()
    return value


def _row(item: msgspec.Struct) -> list[Any]:
    # Field order is the header's (msgspec.structs.fields); the values as the struct holds them (no dict built).
    return [_cell(value) for value in msgspec.structs.astuple(item)]


def header_of(struct_type: type[msgspec.Struct]) -> list[str]:
    """The field names as the API spells them (a struct's renamed fields included)."""
    return [field.encode_name for field in msgspec.structs.fields(struct_type)]


async def ndjson_chunks(batches: AsyncIterator[Sequence[msgspec.Struct]]) -> AsyncIterator[bytes]:
    encoder = msgspec.json.Encoder()
    async for batch in batches:
        if batch:
            yield encoder.encode_lines(batch)


async def csv_chunks(
    batches: AsyncIterator[Sequence[msgspec.Struct]], struct_type: type[msgspec.Struct]
) -> AsyncIterator[bytes]:
    header = header_of(struct_type)
    buffer = io.StringIO()
    # QUOTE_MINIMAL with CRLF is RFC 4180: quoted only where a comma, quote, CR or LF needs it, quotes doubled.
    writer = csv.writer(buffer, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(header)
    yield buffer.getvalue().encode()
    async for batch in batches:
        buffer.seek(0)
        buffer.truncate()
        writer.writerows(_row(item) for item in batch)
        yield buffer.getvalue().encode()


def export_response(
    export_format: ExportFormat,
    batches: AsyncIterator[Sequence[msgspec.Struct]],
    struct_type: type[msgspec.Struct],
    file_stem: str,
) -> Stream:
    """The streamed answer; ``file_stem`` is the server's own text (never the client's), so it needs no quoting."""
    extension = export_format.value
    headers = {
        "Content-Disposition": f'attachment; filename="{file_stem}.{extension}"',
        "X-Content-Type-Options": "nosniff",
    }
    chunks = ndjson_chunks(batches) if export_format is ExportFormat.NDJSON else csv_chunks(batches, struct_type)
    return Stream(chunks, media_type=export_format.media_type, headers=headers)


@dataclass(frozen=True, slots=True)
class ScanBatch:
    """One batch of a keyset scan: its rows, and where the next batch starts (None: this was the last one)."""

    rows: list[Any]
    after: tuple[Any, ...] | None


async def keyset_batches(
    database: Database,
    first: ScanBatch,
    read_next: Callable[[Connection, tuple[Any, ...]], Awaitable[ScanBatch]],
) -> AsyncIterator[list[Any]]:
    """``first`` (read by the caller, in the request's transaction, so that a failure there is still a clean error),
    then each next batch in a transaction of its own, ended before the batch is handed on: a batch is one short read,
    and a client that stops reading (or goes away) leaves no transaction open."""
    batch = first
    while True:
        if batch.rows:
            yield batch.rows
        if batch.after is None:
            return
        # Let the event loop run between batches. On SQLite nothing below suspends (its driver is synchronous), and
        # granian's send to a client that has gone returns at once (logging a transport error each time): without
        # this pause an abandoned export ran to its end, the server never hearing of the disconnect, and held up
        # every other request of its worker meanwhile (test_export_live.py).
        await asyncio.sleep(0)
        async with database.transaction() as connection:
            batch = await read_next(connection, batch.after)


class ExportedRepository(Protocol):
    async def scan_bound(self) -> int | None: ...

    async def export_batch(
        self, query: Any, *, after: tuple[Any, ...] | None, through: int, limit: int
    ) -> ScanBatch: ...


R = TypeVar("R", bound=ExportedRepository)


async def export_rows(
    repository: R, reopen: Callable[[Connection], R], query: Any, database: Database, batch_size: int
) -> AsyncIterator[list[Any]]:
    """Every row ``query`` selects, in its order, a batch at a time, up to the tenant's newest row when the export
    begins: the first batch now, through ``repository`` (the request's transaction), each next one through
    ``reopen(connection)`` in a short transaction of its own as the client reads (``keyset_batches``)."""
    through = await repository.scan_bound()
    if through is None:
        first = ScanBatch([], None)
    else:
        first = await repository.export_batch(query, after=None, through=through, limit=batch_size)

    async def read_next(connection: Connection, after: tuple[Any, ...]) -> ScanBatch:
        return await reopen(connection).export_batch(query, after=after, through=through or 0, limit=batch_size)

    return keyset_batches(database, first, read_next)
