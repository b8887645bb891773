"""JSON log lines on stdout, written in batches by a thread of their own.

Two constraints shape this. Serving must never wait on stdout: when nobody reads the pipe (a stalled log shipper, a
parent that stopped reading) a blocking write would freeze every request, so lines are handed to a writer thread
and dropped once too many are pending. And the hand-over must cost the request nothing measurable: waking the
writer for every line (a queue with a condition variable) made the two threads trade the GIL on every request,
which the benchmark measured at a quarter of a read's cost. So the request only appends to a deque, and the writer
wakes on a timer, writing everything pending in one call.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import datetime as dt
import logging
import sys
import threading
from contextvars import ContextVar
from typing import Any, Final, TextIO

import msgspec

# The current request's id, so that any log line written while serving it (not only the access line) carries it.
current_request_id: ContextVar[str | None] = ContextVar("metadock_request_id", default=None)

_MAX_PENDING_LINES: Final = 10_000
_FLUSH_INTERVAL_SECONDS: Final = 0.05
_encoder = msgspec.json.Encoder(enc_hook=str)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: what log shippers parse without a grok pattern."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
        }
        access = getattr(record, "access", None)
        if isinstance(access, dict):
            line.update(access)  # the access fields at the top level, not as an escaped string
        else:
            line["message"] = record.getMessage()
            if (request_id := current_request_id.get()) is not None:
                line["request_id"] = request_id
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return _encoder.encode(line).decode()


class BatchingHandler(logging.Handler):
    """Formats in the caller (where the request id is known) and leaves the line for the writer thread.

    Its class also marks the handler we installed, so building the app again (tests, workers) adds no second one.
    """

    def __init__(self, stream: TextIO) -> None:
        super().__init__()
        self._stream = stream
        self._pending: collections.deque[str] = collections.deque()
        self._stopped = threading.Event()
        self._writer = threading.Thread(target=self._write_periodically, name="metadock-log-writer", daemon=True)
        self._writer.start()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:  # noqa: BLE001 - a line that cannot be formatted must not fail the request
            self.handleError(record)
            return
        # Deliberately silent when full: reporting the drop would write to a stream that is just as stuck.
        if len(self._pending) < _MAX_PENDING_LINES:
            self._pending.append(line)  # deque.append is atomic: no lock, no wake-up

    def _write_pending(self) -> None:
        lines: list[str] = []
        while self._pending:
            lines.append(self._pending.popleft())
        if lines:
            self._stream.write("\n".join(lines) + "\n")
            self._stream.flush()

    def _write_periodically(self) -> None:
        while not self._stopped.wait(_FLUSH_INTERVAL_SECONDS):
            try:
                self._write_pending()
            except (OSError, ValueError):  # a closed or broken stdout: nothing to write to any more
                return

    def close_at_exit(self) -> None:
        # Bounded wait: the lines pending at exit get out unless stdout itself is stuck.
        self._stopped.set()
        self._writer.join(timeout=2.0)
        if not self._writer.is_alive():
            with contextlib.suppress(OSError, ValueError):
                self._write_pending()


def configure_logging() -> None:
    """JSON lines on stdout for the ``metadock`` loggers.

    The handler goes on the ``metadock`` logger, not the root: the root's handlers belong to whoever runs us
    (pytest's caplog, an embedding application), and ``propagate`` stays on so they still see every record.
    """
    logger = logging.getLogger("metadock")
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.INFO)
    if any(isinstance(handler, BatchingHandler) for handler in logger.handlers):
        return
    handler = BatchingHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    atexit.register(handler.close_at_exit)
    logger.addHandler(handler)
