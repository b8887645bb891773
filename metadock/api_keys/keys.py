"""API keys: a recognisable prefix plus 256 random bits; only their sha256 is stored."""

from __future__ import annotations

import hashlib
import hmac
import secrets

KEY_PREFIX = "mdk_"


def generate_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def looks_like_key(token: str) -> bool:
    return token.startswith(KEY_PREFIX) and 16 < len(token) < 128


def hashes_match(stored_hash: str, presented_key: str) -> bool:
    return hmac.compare_digest(stored_hash.encode(), hash_key(presented_key).encode())


def display_prefix(key: str) -> str:
    """Enough of a key to recognise it in a list, far too little to use it."""
    return key[: len(KEY_PREFIX) + 6]
