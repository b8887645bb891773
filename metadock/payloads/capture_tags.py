"""A capture's tags, from the request to the rows written with its record (the rules: payloads/tags.py)."""

from __future__ import annotations

from metadock.kit.db import Connection
from metadock.kit.tracing import sampled_trace_id
from metadock.payloads.tag_repository import TagRepository
from metadock.payloads.tags import RULES, TRACE_TAG, extract


class CaptureTags:
    """Decided before the bytes stream (whether to keep the payload's head for the tenant's rules), written in the
    record's transaction. A capture with no tags, no rules and tracing off reads no rules within the cache's TTL
    and writes nothing."""

    __slots__ = ("given", "head_limit", "tenant_id", "trace_id")

    def __init__(self, given: dict[str, str], tenant_id: int, extract_max_bytes: int) -> None:
        self.given = given
        self.tenant_id = tenant_id
        # The request's span is current here (not in a later task); an unsampled trace is in no back end to search.
        self.trace_id = sampled_trace_id()
        # A tenant known (from the cache) to have no rules needs no head kept.
        self.head_limit = 0 if RULES.fresh(tenant_id) == () else extract_max_bytes

    async def write(self, connection: Connection, payload_id: int, content_type: str, head: list[bytes] | None) -> None:
        repository = TagRepository(connection, self.tenant_id)
        tags: dict[str, str] = {}
        if head is not None:  # stored, and small enough to parse
            rules = RULES.fresh(self.tenant_id)
            if rules is None:
                rules = await repository.rules()
                RULES.put(self.tenant_id, rules)
            if rules:
                tags = extract(rules, content_type, head)
        tags.update(self.given)
        if self.trace_id is not None:
            tags[TRACE_TAG] = self.trace_id
        if tags:
            await repository.add(payload_id, tags)
