"""Ids of API keys and users: generated as canonical uuid4 strings, so anything else in a path names nothing."""

from __future__ import annotations

import uuid


def is_generated_id(raw: str) -> bool:
    """Whether ``raw`` could be one of our ids. Checked before any SQL: PostgreSQL refuses text with NUL characters
    outright (a 500, not a miss), and a 10,000-character path segment has no business reaching the database."""
    try:
        return len(raw) == 36 and str(uuid.UUID(raw)) == raw
    except ValueError:
        return False
