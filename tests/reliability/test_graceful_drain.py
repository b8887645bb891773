"""``metadock serve`` stops gracefully on SIGTERM: /readyz answers 503 at once, the node keeps serving for its drain
delay, then finishes the requests in flight and exits; a request that outlasts the shutdown timeout is cut off, so
that a stop is bounded."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

from tests.factories import PAYLOADS
from tests.reliability.servers import serve, server_env

DRAIN_DELAY = 2.0
# The supervisor sees SIGTERM between two steps of its own (a few ms, longer on a loaded machine): "at once" is within
# this bound, far below a load balancer's check interval.
READINESS_FLIP = 0.5
SHUTDOWN_TIMEOUT = 3


async def _body(parts: int, pause: float) -> AsyncIterator[bytes]:
    yield b'{"parts": ['
    for n in range(parts):
        await asyncio.sleep(pause)
        yield f"{n}, ".encode()
    yield b'"end"]}'


def test_sigterm_drains_finishes_requests_in_flight_and_stops_within_its_bounds(
    database_url: str, tmp_path: Path
) -> None:
    server = serve(
        server_env(database_url, tmp_path),
        tmp_path / "server.log",
        *("--workers", "2", "--drain-delay", str(DRAIN_DELAY), "--shutdown-timeout", str(SHUTDOWN_TIMEOUT)),
    )
    try:

        async def scenario() -> tuple[httpx.Response, BaseException | httpx.Response, list[int], int, float, float]:
            async with server.client() as client:
                params = {"flow_run_id": 1, "flow_step_id": 1}
                # One capture still streaming well after the drain delay, one that would outlast the timeout.
                finishing = asyncio.create_task(client.post(PAYLOADS, params=params, content=_body(8, 0.5)))
                endless = asyncio.create_task(client.post(PAYLOADS, params=params, content=_body(100, 1.0)))
                await asyncio.sleep(0.5)
                sent = time.monotonic()
                server.process.send_signal(signal.SIGTERM)
                ready = [(await client.get("/readyz")).status_code]
                while ready[-1] != 503 and time.monotonic() - sent < READINESS_FLIP:
                    ready.append((await client.get("/readyz")).status_code)
                flipped = time.monotonic() - sent
                readiness = [ready[-1], *[(await client.get("/readyz")).status_code for _ in range(2)]]
                during_drain = (await client.get(PAYLOADS)).status_code  # new work is still served meanwhile
                finished = await finishing
                cut = (await asyncio.gather(endless, return_exceptions=True))[0]
                code = await asyncio.to_thread(server.process.wait, DRAIN_DELAY + SHUTDOWN_TIMEOUT + 10)
                took = time.monotonic() - sent
                return finished, cut, [*readiness, during_drain], code, took, flipped

        finished, cut, statuses, code, took, flipped = asyncio.run(scenario())
    finally:
        server.stop()

    assert flipped <= READINESS_FLIP, flipped
    assert statuses == [503, 503, 503, 200]
    assert finished.status_code == 201, finished.text
    assert isinstance(cut, httpx.TransportError) or cut.status_code >= 400, cut
    assert code == 0
    assert took <= DRAIN_DELAY + SHUTDOWN_TIMEOUT + 3, took  # bounded, whatever the endless request wanted
