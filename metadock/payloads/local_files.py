"""Small file-store writes made on the calling thread (see ``store.INLINE_WRITE_BYTES`` for why)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def write_in_place(path: Path, data: bytes) -> None:
    """Write a small file-store object on this thread: into a staging file named as obstore names its own
    (``<name>#<n>``, so fsck and listings treat a leftover alike), then renamed over the key, so that no half object
    is ever visible. A failure removes the staging file and propagates."""
    staging = f"{path}#{os.getpid()}"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
    try:
        descriptor = os.open(staging, flags, 0o666)
    except FileNotFoundError:  # the key's first object in its two-level prefix
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(staging, flags, 0o666)
    try:
        try:
            with memoryview(data) as view:
                written = 0
                while written < len(view):
                    written += os.write(descriptor, view[written:])
        finally:
            os.close(descriptor)
        os.replace(staging, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(staging)
        raise
