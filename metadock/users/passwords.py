"""Passwords: Argon2id (argon2-cffi's RFC 9106 low-memory profile), verified off the event loop."""

from __future__ import annotations

import asyncio
import functools
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_hasher = PasswordHasher()  # argon2id, t=3, m=64 MiB, p=4 (RFC 9106's second recommended option)


@functools.cache
def _dummy_hash() -> str:
    """Verified when the user does not exist, so an unknown user costs what a wrong password costs."""
    return _hasher.hash(secrets.token_urlsafe(32))


MIN_LENGTH = 12
MAX_LENGTH = 1024  # hashing cost is per byte of input too; nobody needs more


def password_problem(password: str) -> str | None:
    if len(password) < MIN_LENGTH:
        return f"The password field must be at least {MIN_LENGTH} characters."
    if len(password) > MAX_LENGTH:
        return f"The password field must not be greater than {MAX_LENGTH} characters."
    return None


def generate_password() -> str:
    return secrets.token_urlsafe(18)


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, password)


def _verify(stored_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash or _dummy_hash(), password) and stored_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


async def verify_password(stored_hash: str | None, password: str) -> bool:
    """Constant work whether or not the user exists (``stored_hash`` None verifies against a dummy hash)."""
    return await asyncio.to_thread(_verify, stored_hash, password[:MAX_LENGTH])
