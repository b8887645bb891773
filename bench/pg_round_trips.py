"""Round trips to PostgreSQL, counted on the wire: a TCP proxy in front of the server that reads the client's side of
the protocol and counts the messages after which a client waits for the server (``Sync`` closing an extended-protocol
exchange, a simple ``Query``). Each is one round trip, whatever sent it (asyncpg's prepared statements, SQLAlchemy's
path, ``BEGIN`` and ``COMMIT``). Used by tests/test_read_ahead.py and bench/round_trips.py (kept in bench/, so
that the bench's ``--code`` may name older code, whose tests/ lack it).
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
import threading
from collections.abc import Iterator

from sqlalchemy import make_url

_SSL_REQUEST = 80877103
_GSS_REQUEST = 80877104
_WAITS_FOR_SERVER = frozenset(b"SQ")  # Sync, Query


class _ClientStream:
    """The client's bytes as they arrive, cut into messages: untyped start-up messages first, typed ones after."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.started = False
        self.round_trips = 0

    def feed(self, data: bytes) -> None:
        self.buffer += data
        while True:
            if not self.started:
                if len(self.buffer) < 8:
                    return
                (length,) = struct.unpack("!i", self.buffer[:4])
                if len(self.buffer) < length:
                    return
                (code,) = struct.unpack("!i", self.buffer[4:8])
                del self.buffer[:length]
                # An SSL or GSS request is answered 'N' (no encryption, as the proxy's URL asks) and start-up goes on.
                self.started = code not in (_SSL_REQUEST, _GSS_REQUEST)
                continue
            if len(self.buffer) < 5:
                return
            kind = self.buffer[0]
            (length,) = struct.unpack("!i", self.buffer[1:5])
            if len(self.buffer) < 1 + length:
                return
            del self.buffer[: 1 + length]
            if kind in _WAITS_FOR_SERVER:
                self.round_trips += 1


class RoundTripCounter:
    """A proxy for the PostgreSQL server of ``url`` on a port of its own, in a thread of its own; :attr:`url` is the
    same database through it, :attr:`round_trips` the round trips of every connection made through it so far."""

    def __init__(self, url: str) -> None:
        parsed = make_url(url)
        self._upstream = (parsed.host or "127.0.0.1", parsed.port or 5432)
        self._parsed = parsed
        self._streams: list[_ClientStream] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.AbstractServer | None = None
        self.url = ""

    @property
    def round_trips(self) -> int:
        return sum(stream.round_trips for stream in list(self._streams))

    def start(self) -> None:
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._serve, "127.0.0.1", 0), self._loop
        ).result()
        port = self._server.sockets[0].getsockname()[1]
        # Unencrypted, so that the proxy can read the messages (asyncpg would otherwise ask for TLS first).
        through = self._parsed.set(host="127.0.0.1", port=port).update_query_dict({"ssl": "disable"})
        self.url = through.render_as_string(hide_password=False)

    def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    async def _serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        stream = _ClientStream()
        self._streams.append(stream)
        server_reader, server_writer = await asyncio.open_connection(*self._upstream)

        async def pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, count: bool) -> None:
            with contextlib.suppress(ConnectionError):
                while data := await reader.read(65536):
                    if count:
                        stream.feed(data)
                    writer.write(data)
                    await writer.drain()
            writer.close()

        await asyncio.gather(
            pump(client_reader, server_writer, count=True), pump(server_reader, client_writer, count=False)
        )


@contextlib.contextmanager
def counting_round_trips(url: str) -> Iterator[RoundTripCounter]:
    counter = RoundTripCounter(url)
    counter.start()
    try:
        yield counter
    finally:
        counter.stop()
