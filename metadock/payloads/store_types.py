"""The payload store's vocabulary: its errors and result types (re-exported by :mod:`metadock.payloads.store`)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import NamedTuple

from metadock.kit.errors import OutOfSpace, Unavailable


class StoreError(Exception):
    """Base of the store's errors. Messages never carry paths, URLs or credentials: they may reach clients."""


class StoreUnavailable(StoreError, Unavailable):
    """The backend is unreachable, unwritable or failing (the service answers 503)."""

    service = "The payload store"


class StoreFull(StoreUnavailable, OutOfSpace):
    """The backend is out of space (the service answers 507)."""


class ObjectTooLarge(StoreError):
    """The stream went past ``max_bytes``; what had been written of it is gone."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(f"the payload exceeds {max_bytes} bytes")
        self.max_bytes = max_bytes


class ObjectNotFound(StoreError):
    def __init__(self) -> None:
        super().__init__("no such payload object")


class RangeNotSatisfiable(StoreError):
    """A read started past the end of the object."""

    def __init__(self, size: int) -> None:
        super().__init__("the requested range starts past the end of the payload")
        self.size = size


class InvalidKey(StoreError, ValueError):
    """A key not of the generated shape: a programming error, never a client's choice."""


@dataclass(frozen=True, slots=True)
class PutResult:
    key: str
    size: int
    sha256: str  # hex


class ObjectInfo(NamedTuple):
    size: int
    last_modified: dt.datetime
