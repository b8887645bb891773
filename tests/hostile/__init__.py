"""Hostile callers: cross-tenant probes, malformed and oversized input, forced failures."""
