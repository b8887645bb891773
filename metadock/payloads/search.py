"""Content search (``METADOCK_CONTENT_SEARCH=1``): the words of a captured text payload, indexed at capture so that
``filter[search]=<words>`` on the list (and the export) finds the tenant's payloads that contain them all.

What is indexed: a stored (not dropped) payload whose media type is text (``text/*``), JSON, XML or CSV (also the
``+json`` / ``+xml`` suffixes), of at most ``METADOCK_CONTENT_SEARCH_MAX_BYTES``, read from the same bounded head
the capture keeps for tag rules while the bytes stream (``payloads/capture.py``), decoded as UTF-8 (an invalid byte
reads as U+FFFD, a NUL as a space). Anything else is captured as always and simply not found by a search.

The query users get, on both databases: every word must appear somewhere in the payload, in any order,
case-insensitively; a word is a run of letters and digits (punctuation separates words: ``order-1234`` is the two
words ``order`` and ``1234``). There are no operators, phrases, prefixes or wildcards: whatever a client sends is
only words (SQLite: each word is quoted for FTS5, so FTS5 syntax is never interpreted; PostgreSQL:
``plainto_tsquery('simple', …)``, which reads no operators).

Where the index lives (``payloads/search_repository.py``): SQLite, an FTS5 table keyed by payload id (its rowid)
with the tenant id; PostgreSQL, a table of ``(payload_id, tenant_id, tsvector)`` with a GIN index. Entries are
written in the capture's transaction, after the record's insert (atomic with the record: no entry without its record,
and a record whose transaction commits has its entry), and an indexing error undoes only the entry (a savepoint on
PostgreSQL; SQLite's statement atomicity) and is logged, never failing the capture. They are removed with the
record's bytes (expiry, fsck) or the record itself (delete, record retention, a dropped partition).

Per tenant: ``METADOCK_CONTENT_SEARCH`` is the deployment's master switch; each tenant has its own
(``tenants.content_search``, on unless an operator switched it off: ``metadock tenants content-search <uuid> off``).
The tenant's switch is read with the caller's credential (``kit/principal.py``), so a capture pays no round trip for
it. A tenant with search off gets no entries and its ``filter[search]`` is a filter not allowed (400), as with the
deployment's switch off. Switching a tenant off removes its entries (:func:`forget_tenant`): after the switch
commits, no entry is written any more (the entry's insert reads the tenant's switch in the same statement), the
purge waits for the captures already past that read (PostgreSQL: every transaction running when the switch
committed; SQLite: none, one writer at a time) and then deletes the tenant's entries in short batches.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Sequence
from typing import Final

from metadock.kit.db import Connection, Database
from metadock.payloads.search_repository import (
    add_search_entry,
    finished_since,
    remove_search_of_tenant,
    transactions_in_progress,
)
from metadock.payloads.tags import media_type_essence

SEARCH_FILTER: Final = "search"  # filter[search] on the list and the export
MAX_QUERY_CHARS: Final = 1000
_TEXT_TYPES: Final = frozenset({"application/json", "application/xml", "application/csv"})
# A word as SQLite's unicode61 tokenizer cuts them (letters and digits; "_" separates).
WORD: Final = re.compile(r"[^\W_]+")

log = logging.getLogger(__name__)


def indexable(content_type: str) -> bool:
    essence = media_type_essence(content_type)
    return (
        essence in _TEXT_TYPES or essence.startswith("text/") or essence.endswith("+json") or essence.endswith("+xml")
    )


def text_of(head: Sequence[bytes]) -> str:
    # PostgreSQL text cannot hold NUL; a NUL separates words anyway.
    return b"".join(head).decode("utf-8", errors="replace").replace("\x00", " ")


def fts5_query(text: str) -> str:
    """The user's words as an FTS5 query: each one a quoted string (a ``"`` cannot occur in a word), all required.
    No word at all: ``""``, which matches nothing (as ``plainto_tsquery`` of no word does on PostgreSQL)."""
    words = WORD.findall(text)
    return " ".join(f'"{word}"' for word in words) if words else '""'


class CaptureSearch:
    """Decided before the bytes stream (how much of the head to keep: nothing when search is off or the type is
    not text), written after the record's insert in its transaction."""

    __slots__ = ("head_limit", "tenant_id")

    def __init__(self, tenant_id: int, content_type: str, max_bytes: int) -> None:
        self.tenant_id = tenant_id
        self.head_limit = max_bytes if max_bytes and indexable(content_type) else 0

    async def write(self, connection: Connection, payload_id: int, head: list[bytes] | None) -> None:
        if not head or not self.head_limit:  # not kept (too large, not text, search off) or empty
            return
        try:
            await add_search_entry(connection, self.tenant_id, payload_id, text_of(head))
        except Exception:
            # Only the entry was undone: the record commits unindexed (a search will not find it).
            log.warning("content search: payload %s not indexed", payload_id, exc_info=True)


async def forget_tenant(
    database: Database, tenant_id: int, *, batch_size: int = 500, wait_seconds: float = 60.0
) -> tuple[int, bool]:
    """Remove the index entries of a tenant whose content search was switched off (committed before this runs), in
    batches of ``batch_size``, each its own transaction. Returns (entries removed, whether every capture that read
    the switch as on had ended within ``wait_seconds``; if not, rerunning this later removes what they added)."""
    async with database.transaction() as connection:
        running = await transactions_in_progress(connection)
    deadline = time.monotonic() + wait_seconds
    settled = False
    while True:
        async with database.transaction() as connection:
            settled = await finished_since(connection, running)
        if settled or time.monotonic() >= deadline:
            break
        await asyncio.sleep(0.05)
    removed = 0
    while True:
        async with database.transaction() as connection:
            batch = await remove_search_of_tenant(connection, tenant_id, batch_size)
        removed += batch
        if batch < batch_size:
            return removed, settled
